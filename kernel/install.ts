/**
 * `npm run kernel:install [-- options]`: register the "gradlab (TypeScript)"
 * kernel with Jupyter.
 *
 *   --user            the user's own kernels folder (default)
 *   --sys-prefix      the Python environment's prefix (venv / conda)
 *   --prefix=<dir>    <dir>/share/jupyter/kernels/gradlab
 *   --python=<path>   the Python whose Jupyter to register with
 *                     (default: the first of python3, python, /usr/bin/python3 that has Jupyter)
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { DISPLAY_NAME, KERNEL_NAME, kernelSpec, writeKernelJson } from './spec';
import { findJupyterPython, type PythonProbe } from './python';

/** Parsed command-line options. */
export interface InstallOptions {
  scope: 'user' | 'sys-prefix' | 'prefix';
  prefix?: string;
  python?: string;
}

/** Parse `--user | --sys-prefix | --prefix=<dir> | --python=<path>`; throws on anything else. */
export function parseInstallArgs(argv: string[]): InstallOptions {
  const o: InstallOptions = { scope: 'user' };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (!v) throw new Error(`${flag} needs a value, e.g. ${flag}=/path`);
      return v;
    };
    if (flag === '--user') o.scope = 'user';
    else if (flag === '--sys-prefix') o.scope = 'sys-prefix';
    else if (flag === '--prefix') (o.scope = 'prefix'), (o.prefix = path.resolve(value()));
    else if (flag === '--python') o.python = value();
    else throw new Error(`kernel:install: unknown option ${argv[i]}; use --user, --sys-prefix, --prefix=<dir> or --python=<path>`);
  }
  return o;
}

/** Write kernel.json into a fresh temporary folder (what `jupyter kernelspec install` copies). */
export function writeSpecDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-kernelspec-'));
  writeKernelJson(dir);
  return dir;
}

/** Register the kernelspec with `py`'s Jupyter; returns the folder it was installed into. */
export function installKernel(py: PythonProbe, o: InstallOptions): string {
  const src = writeSpecDir();
  const args = ['-m', 'jupyter_client.kernelspecapp', 'install', src, `--name=${KERNEL_NAME}`, '--replace'];
  if (o.scope === 'user') args.push('--user');
  if (o.scope === 'sys-prefix') args.push('--sys-prefix');
  if (o.scope === 'prefix') args.push(`--prefix=${o.prefix}`);
  const r = spawnSync(py.python, args, { encoding: 'utf8' });
  fs.rmSync(src, { recursive: true, force: true });
  if (r.status !== 0) {
    throw new Error(`jupyter kernelspec install failed (${py.python} ${args.join(' ')}):\n${r.stderr.trim()}`);
  }
  const m = /Installed kernelspec \S+ in (.+)/.exec(r.stderr + r.stdout);
  return m?.[1]?.trim() ?? '(see above)';
}

function main(): void {
  let o: InstallOptions;
  let py: PythonProbe;
  try {
    o = parseInstallArgs(process.argv.slice(2));
    py = findJupyterPython(o.python);
  } catch (e) {
    console.error(`gradlab kernel:install: ${(e as Error).message}`);
    process.exit(2);
  }
  try {
    const where = installKernel(py, o);
    const notebooks = path.resolve(__dirname, '..', '..', 'notebooks');
    console.log(`Installed the Jupyter kernel "${DISPLAY_NAME}" (name: ${KERNEL_NAME})`);
    console.log(`  into:     ${where}`);
    console.log(`  for:      ${py.executable} (Python ${py.version})`);
    console.log(`  runs:     ${(kernelSpec().argv as string[]).join(' ')}`);
    if (o.scope === 'prefix') {
      console.log(`  note:     Jupyter finds it there when JUPYTER_PATH includes ${path.join(o.prefix!, 'share', 'jupyter')}`);
    }
    console.log('Open the notebooks:');
    console.log(`  npm run lab                    (JupyterLab, or Notebook where that is what is installed)`);
    console.log(`  jupyter lab ${notebooks}`);
    console.log('  VS Code: open a notebook and pick the kernel "gradlab (TypeScript)" (Jupyter extension).');
    console.log('  No Jupyter? `npm start` runs every notebook with Node alone and writes HTML to out/.');
  } catch (e) {
    console.error(`gradlab kernel:install: ${(e as Error).message}`);
    process.exit(1);
  }
}

if (require.main === module) main();
