/**
 * The gradlab kernelspec: how Jupyter (and gradlab's own runner) starts the
 * gradlab kernel. One definition, used by `npm run kernel:install`, the
 * headless runner and the tests.
 */
import * as fs from 'fs';
import * as path from 'path';

/** The kernelspec name (`jupyter kernelspec list` shows it). */
export const KERNEL_NAME = 'gradlab';
/** What Jupyter shows in its launcher and kernel menu. */
export const DISPLAY_NAME = 'gradlab (TypeScript)';

/** Absolute path of the compiled kernel entry point (dist/kernel/kernel.js). */
export function kernelEntry(): string {
  return path.join(__dirname, 'kernel.js');
}

/**
 * The kernel's shell launcher (kernel/launch.sh, in the checkout beside dist/): on Linux and macOS
 * kernel.json runs it, and it starts Node once, from the startup snapshot where the kernel's last
 * start found that faster (kernel/snapshot.ts writeLaunchFile). Undefined on Windows, or where the
 * file is missing (a copy of dist/ alone): kernel.json then runs kernel.js, which decides itself.
 */
export function launchScript(): string | undefined {
  if (process.platform === 'win32') return undefined;
  const file = path.join(__dirname, '..', '..', 'kernel', 'launch.sh');
  return fs.existsSync(file) && fs.existsSync('/bin/sh') ? file : undefined;
}

/**
 * Command line that starts a kernel for `connectionFile`: `/bin/sh launch.sh NODE kernel.js
 * --config-path FILE` where the launcher is there ({@link launchScript}) and `viaLauncher`, else
 * `NODE kernel.js --config-path FILE`.
 */
export function kernelArgv(connectionFile: string, viaLauncher = true): string[] {
  const sh = viaLauncher ? launchScript() : undefined;
  return [...(sh ? ['/bin/sh', sh] : []), process.execPath, kernelEntry(), '--config-path', connectionFile];
}

/** The parts of a gradlab kernelspec's argv, in either shape {@link kernelArgv} writes (undefined parts when it is neither). */
export function argvParts(argv: string[]): { launcher?: string; node?: string; entry?: string } {
  if (argv.length >= 4 && path.basename(argv[1]!) === 'launch.sh') return { launcher: argv[1], node: argv[2], entry: argv[3] };
  return { node: argv[0], entry: argv[1] };
}

/** The kernel.json content; `{connection_file}` is filled in by Jupyter. */
export function kernelSpec(): Record<string, unknown> {
  return {
    argv: kernelArgv('{connection_file}'),
    display_name: DISPLAY_NAME,
    language: 'typescript',
    interrupt_mode: 'signal',
    metadata: { gradlab: { root: path.resolve(__dirname, '..', '..') } },
  };
}

/** Write `<folder>/kernel.json` (what `jupyter kernelspec install` copies); returns the file. */
export function writeKernelJson(folder: string): string {
  fs.mkdirSync(folder, { recursive: true });
  const file = path.join(folder, 'kernel.json');
  fs.writeFileSync(file, JSON.stringify(kernelSpec(), null, 2) + '\n');
  return file;
}

/**
 * Make `dir` a Jupyter data folder holding only the gradlab kernelspec
 * (`<dir>/kernels/gradlab/kernel.json`) and return it: put it on `JUPYTER_PATH`
 * to use the kernel without installing it (tests, CI).
 */
export function jupyterPathWithKernel(dir: string): string {
  writeKernelJson(path.join(dir, 'kernels', KERNEL_NAME));
  return dir;
}
