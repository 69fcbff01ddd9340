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

/** Command line that starts a kernel for `connectionFile`. */
export function kernelArgv(connectionFile: string): string[] {
  return [process.execPath, kernelEntry(), '--config-path', connectionFile];
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
