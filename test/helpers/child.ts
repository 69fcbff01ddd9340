/** Run a snippet of JavaScript in a fresh Node process (for code that changes process-wide state). */
import { spawnSync } from 'child_process';
import * as path from 'path';

/** The repository root (dist/test/helpers -> ../../..). */
export const ROOT = path.resolve(__dirname, '..', '..', '..');

export interface ChildResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run `code` with `node -e` in the repository root; `gl` is require('gradlab') inside. */
export function runGradlab(code: string, env: Record<string, string | undefined> = {}, timeoutMs = 120_000): ChildResult {
  const script = `const gl = require(${JSON.stringify(path.join(ROOT, 'dist', 'src'))});\n(async () => {\n${code}\n})().then(() => process.exit(0), (e) => { console.error('FAILED', e && e.name, e && e.message); process.exit(3); });`;
  const r = spawnSync(process.execPath, ['-e', script], {
    cwd: ROOT,
    env: { ...process.env, GRADLAB_BACKEND: undefined, ...env },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Whether process `pid` is still alive (signal 0 probes without killing). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
