/**
 * The kernel as a notebook meets it: `import * as gl from 'gradlab'` from any
 * folder under notebooks/, and no kernel outliving the process that started it.
 */
import { strict as assert } from 'assert';
import { spawn, execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { KernelClient } from '../kernel/client';
import { ROOT } from './helpers/child';

describe('the gradlab kernel in the notebooks tree', () => {
  const deep = path.join(ROOT, 'notebooks', `.test-resolve-${process.pid}`, 'a', 'b');
  before(() => fs.mkdirSync(deep, { recursive: true }));
  after(() => fs.rmSync(path.join(ROOT, 'notebooks', `.test-resolve-${process.pid}`), { recursive: true, force: true }));

  it("imports 'gradlab' by name, type-checked, from a folder two levels below a chapter", async () => {
    const k = await KernelClient.start({ cwd: deep });
    try {
      const r = await k.execute(
        "import * as gl from 'gradlab';\nconst n: string = gl.describe();\nconsole.log(typeof gl.init, n.startsWith('gradlab '));",
      );
      assert.equal(r.status, 'ok', JSON.stringify(r.outputs.map((m) => m.content)));
      assert.equal(r.outputs.map((m) => m.content.text).join(''), 'function true\n');
      // The type checker knows the package's types: a wrong use is a type error.
      const bad = await k.execute("import * as gl2 from 'gradlab';\nconst x: number = gl2.describe();");
      assert.equal(bad.status, 'error');
    } finally {
      await k.shutdown();
    }
  });

  it('exits by itself when the process that started it is killed', async () => {
    // A parent process starts a kernel, prints its pid, then is SIGKILLed.
    const runtime = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-orphan-'));
    const script = `
      const { KernelClient } = require(${JSON.stringify(path.join(ROOT, 'dist', 'kernel', 'client'))});
      KernelClient.start({ cwd: ${JSON.stringify(ROOT)}, runtimeDir: ${JSON.stringify(runtime)} })
        .then((k) => console.log('kernel', k.child.pid));`;
    const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise<number>((resolve, reject) => {
      let out = '';
      parent.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /kernel (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      parent.on('exit', () => reject(new Error(`parent exited first: ${out}`)));
    });
    parent.kill('SIGKILL');
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 200));
    if (alive()) {
      const ps = execFileSync('ps', ['-o', 'pid,args', '-p', String(pid)], { encoding: 'utf8' }).trim();
      process.kill(pid, 'SIGKILL');
      assert.fail(`kernel ${pid} outlived its parent:\n${ps}`);
    }
  });
});
