/**
 * Module resolution for notebooks anywhere: a notebook in any folder (a
 * learner's own, outside this checkout) can `import * as gl from 'gradlab'`,
 * type-checked, and the packages installed beside it still win.
 *
 * The rule, in one sentence: **a package is looked up the way Node looks it
 * up from the notebook's folder (`node_modules` there, then in every folder
 * above); only when that finds nothing, and only for the packages in
 * {@link FALLBACK_PACKAGES}, does the kernel use its own copy.**
 *
 * Two resolvers have to agree, and both get the same fallback:
 *
 * - **Type checking** (tslab's converter, TypeScript's `node10` resolution):
 *   TypeScript walks from the notebook's folder up to the file-system root,
 *   probing `<dir>/node_modules/<name>` in each. The last folder it probes is
 *   the root's `/node_modules`; {@link installTypeFallback} makes
 *   `/node_modules/<name>` (when no real one exists) read as the kernel's own
 *   package, through TypeScript's `sys` (the file system the compiler sees).
 *   That is how tslab itself makes `import 'tslab'` work from any folder.
 * - **Running** (tslab's executor, Node's `require`): {@link installRuntimeFallback}
 *   wraps Node's resolver; a `MODULE_NOT_FOUND` for a fallback package that
 *   no `node_modules` on the notebook's path holds is resolved again from the
 *   kernel's checkout. Nested requires (a learner's own module importing
 *   `gradlab`) go through the same resolver.
 *
 * Why `@tensorflow/tfjs` too: gradlab's tensors are that package's tensors,
 * and a notebook that imports tfjs next to gradlab must get the SAME instance
 * (one engine, one backend registry), which the kernel's copy is. A notebook
 * folder with its own `@tensorflow/tfjs` gets its own (its precedence wins),
 * which is a second TensorFlow.js engine; such a notebook should use
 * `gl.tf` (gradlab's instance) for tensors it hands to gradlab.
 */
import * as fs from 'fs';
import Module from 'module';
import * as path from 'path';
import type * as TS from 'typescript';

/** The packages a notebook gets from the kernel when its own folder has none. */
export const FALLBACK_PACKAGES: readonly string[] = ['gradlab', '@tensorflow/tfjs', '@tensorflow/tfjs-core'];

/** The gradlab checkout this kernel runs from (dist/kernel/ is two levels below). */
export function kernelRoot(): string {
  return path.resolve(__dirname, '..', '..');
}

/** The package a bare request names: `gradlab/x` -> `gradlab`, `@a/b/c` -> `@a/b`; undefined for relative or absolute paths. */
export function packageName(request: string): string | undefined {
  if (!request || request.startsWith('.') || path.isAbsolute(request) || request.startsWith('node:')) return undefined;
  const parts = request.split('/');
  if (request.startsWith('@')) return parts.length >= 2 && parts[1] ? `${parts[0]}/${parts[1]}` : undefined;
  return parts[0];
}

/** The folder of package `pkg` as the kernel itself resolves it from `root` (symlinks resolved); undefined when it has none. */
export function kernelPackageDir(pkg: string, root: string = kernelRoot()): string | undefined {
  try {
    return path.dirname(fs.realpathSync(require.resolve(`${pkg}/package.json`, { paths: [root] })));
  } catch {
    return undefined;
  }
}

/** Whether `<dir>/node_modules/<pkg>` exists in `from` or any folder above it. */
export function installedAbove(pkg: string, from: string): boolean {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'node_modules', pkg))) return true;
    if (path.dirname(dir) === dir) return false;
  }
}

type ResolveFilename = (request: string, parent: unknown, isMain: boolean, options?: unknown) => string;
const RUNTIME_KEY = Symbol.for('gradlab.kernel.runtimeFallback');

/**
 * Make Node's `require` fall back to the kernel's copy of {@link FALLBACK_PACKAGES}
 * (from `root`) when the requiring module's own `node_modules` chain has none.
 * Idempotent; returns a function that removes the hook.
 */
export function installRuntimeFallback(root: string = kernelRoot(), packages: readonly string[] = FALLBACK_PACKAGES): () => void {
  const M = Module as unknown as { _resolveFilename: ResolveFilename & { [RUNTIME_KEY]?: ResolveFilename } };
  const current = M._resolveFilename;
  if (current[RUNTIME_KEY]) return () => undefined;
  const original = current;
  const wrapped = function (this: unknown, request: string, parent: unknown, isMain: boolean, options?: unknown): string {
    try {
      return original.call(this, request, parent, isMain, options);
    } catch (e) {
      const pkg = packageName(request);
      if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND' || !pkg || !packages.includes(pkg)) throw e;
      // A package that IS installed beside the requiring module but fails to load keeps its own error.
      const from = (parent as { filename?: string } | undefined)?.filename;
      if (from && installedAbove(pkg, path.dirname(from))) throw e;
      return original.call(this, request, parent, isMain, { paths: [root] });
    }
  } as ResolveFilename & { [RUNTIME_KEY]?: ResolveFilename };
  wrapped[RUNTIME_KEY] = original;
  M._resolveFilename = wrapped;
  return () => {
    if (M._resolveFilename === wrapped) M._resolveFilename = original;
  };
}

/** The TypeScript that tslab's converter compiles cells with (tslab bundles its own). */
export function tslabTypeScript(): typeof TS {
  const tslabDir = path.dirname(require.resolve('tslab/package.json'));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(require.resolve('@tslab/typescript-for-tslab', { paths: [tslabDir] })) as typeof TS;
}

/**
 * Map a path under the file-system root's `node_modules` to the kernel's copy:
 * `/node_modules/gradlab/dist/x.d.ts` -> `<checkout>/dist/x.d.ts`, only for
 * fallback packages that have no real `/node_modules/<pkg>`. Other paths come back unchanged.
 */
export function typeFallbackPath(p: string, dirs: ReadonlyMap<string, string>, fsRoot: string = path.parse(process.cwd()).root): string {
  const base = path.join(fsRoot, 'node_modules');
  const rel = path.relative(base, p);
  if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) return p;
  const pkg = packageName(rel.split(path.sep).join('/'));
  const dir = pkg && dirs.get(pkg);
  if (!dir || fs.existsSync(path.join(base, pkg))) return p;
  return path.join(dir, path.relative(path.join(base, pkg), p));
}

const TYPE_KEY = Symbol.for('gradlab.kernel.typeFallback');

/**
 * Let the type checker see the kernel's copy of {@link FALLBACK_PACKAGES} as
 * `/node_modules/<pkg>`, the last folder TypeScript's node10 resolution
 * probes, so any real `node_modules` nearer the notebook wins. Patches `sys`
 * (default: the `ts.sys` of tslab's TypeScript) in place: call it before the
 * converter is created (TypeScript binds some of these functions then). Idempotent.
 */
export function installTypeFallback(
  sys: TS.System = tslabTypeScript().sys,
  root: string = kernelRoot(),
  packages: readonly string[] = FALLBACK_PACKAGES,
): void {
  const s = sys as TS.System & { [TYPE_KEY]?: boolean };
  if (s[TYPE_KEY]) return;
  const dirs = new Map<string, string>();
  for (const pkg of packages) {
    const dir = kernelPackageDir(pkg, root);
    if (dir) dirs.set(pkg, dir);
  }
  if (!dirs.size) return;
  const fsRoot = path.parse(process.cwd()).root;
  const base = path.join(fsRoot, 'node_modules');
  // Folders that exist virtually: /node_modules and the scopes of scoped fallback packages.
  const virtualDirs = new Set([base, ...[...dirs.keys()].filter((p) => p.startsWith('@')).map((p) => path.join(base, p.split('/')[0]!))]);
  const map = (p: string) => typeFallbackPath(p, dirs, fsRoot);
  const { fileExists, directoryExists, readFile, realpath, getDirectories, readDirectory } = sys;
  s.fileExists = (p) => fileExists.call(sys, map(p));
  s.directoryExists = (p) => directoryExists.call(sys, map(p)) || virtualDirs.has(path.normalize(p));
  s.readFile = (p, encoding) => readFile.call(sys, map(p), encoding);
  if (realpath) s.realpath = (p) => realpath.call(sys, map(p));
  s.getDirectories = (p) => getDirectories.call(sys, map(p));
  s.readDirectory = (p, ...rest) => readDirectory.call(sys, map(p), ...rest);
  s[TYPE_KEY] = true;
}

/** Both fallbacks, as the kernel installs them before it builds its type checker. */
export function installFallbacks(root: string = kernelRoot()): void {
  installRuntimeFallback(root);
  installTypeFallback(undefined, root);
}
