/**
 * `npm run lab [-- jupyter options]`: register the gradlab kernel (user
 * level) and open the notebooks in JupyterLab, or in the classic Notebook
 * when that is what the Python with Jupyter has. Extra options go to Jupyter
 * (e.g. `npm run lab -- --no-browser --port=8899`); `--python=<path>` picks
 * the Python. The server listens on 127.0.0.1 unless you pass `--ip`.
 */
import * as path from 'path';
import { spawn } from 'child_process';
import { findJupyterPython } from './python';
import { installKernel } from './install';

function main(): void {
  const args = process.argv.slice(2);
  const pyArg = args.find((a) => a.startsWith('--python='));
  const rest = args.filter((a) => a !== pyArg);
  const notebooks = path.resolve(__dirname, '..', '..', 'notebooks');
  let py;
  try {
    py = findJupyterPython(pyArg?.slice('--python='.length));
  } catch (e) {
    console.error(`gradlab lab: ${(e as Error).message}`);
    process.exit(2);
  }
  const where = installKernel(py, { scope: 'user' });
  console.log(`gradlab kernel registered in ${where}`);
  const app = py.jupyterlab ? 'jupyterlab' : py.notebook ? 'notebook' : null;
  if (!app) {
    console.error(
      `gradlab lab: ${py.executable} has jupyter_client but neither JupyterLab nor Notebook.\n` +
        `Install one: \`${py.python} -m pip install jupyterlab\` (or \`sudo apt-get install jupyter-notebook\` on Debian/Ubuntu).\n` +
        'Or run the notebooks headless with `npm start` (HTML in out/).',
    );
    process.exit(2);
  }
  const ip = rest.some((a) => a.startsWith('--ip')) ? [] : ['--ip=127.0.0.1'];
  // Jupyter refuses to run as root without --allow-root (containers, CI boxes).
  const root = process.getuid?.() === 0 && !rest.includes('--allow-root') ? ['--allow-root'] : [];
  const argv = ['-m', app, `--notebook-dir=${notebooks}`, ...ip, ...root, ...rest];
  console.log(`starting ${app === 'jupyterlab' ? 'JupyterLab' : 'Jupyter Notebook'}: ${py.python} ${argv.join(' ')}`);
  const child = spawn(py.python, argv, { stdio: 'inherit' });
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

if (require.main === module) main();
