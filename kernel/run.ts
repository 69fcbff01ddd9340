/**
 * `npm start`: run notebooks headlessly and write executed copies and HTML.
 *
 * ```
 * npm start                                             # every notebook under notebooks/
 * npm start -- 01-backprop                              # one chapter
 * npm start -- 01-chain-rule                            # one notebook by name (or by path)
 * npm start -- --out /tmp/site --timeout 60 01-backprop
 * npm start -- --size medium 02-optim                   # bigger experiments (GRADLAB_SIZE)
 * npm start -- --check                                  # readiness report before a lecture
 * ```
 *
 * Exit status: 0 all ran, 1 a notebook failed, 2 bad usage.
 */
import * as fs from 'fs';
import * as path from 'path';
import { currentSize, SizeError, SIZES, type Size } from '../src/size';
import { shortPath } from './errors';
import { listNotebooks } from './notebook';
import { notebookTarget, printedBackend, runAll, type RunFailure, type RunSummary } from './runner';

export { listNotebooks };

const REPO = path.resolve(__dirname, '..', '..');

/** The `--help` text. */
export const USAGE = `Usage: npm start -- [target ...] [--size small|medium|large] [--out <dir>] [--timeout <s>] [--root <dir>]
       npm start -- --check [target ...] [--backends default,webgpu]
       node dist/kernel/run.js [same arguments]

Runs notebooks top to bottom, each in a fresh gradlab kernel started in the
notebook's folder, and writes <out>/<chapter>/<name>.ipynb, .html, a timing
table <name>.<size>.timing.md, and the course map <out>/index.html (every
notebook's status, time at each size and exercises; results are kept in
<out>/runs.json). A failing cell stops its notebook; the others still run.

Targets (default: every notebook under the root):
  01-backprop                                 a chapter (a folder under the root)
  01-chain-rule, 01-chain-rule.ipynb          a notebook by name
  notebooks/01-backprop/01-chain-rule.ipynb   a path to a notebook or a folder

Options:
  --size <size>    small (default: a laptop CPU in minutes), medium, or large (fills
                   a GPU): sets GRADLAB_SIZE, which each notebook reads in its first cell
  --check          readiness check before a lecture: run the targets at size small on
                   each backend of --backends and print a one-screen report (backend,
                   device, failing cells and their fix); outputs in <out>/check/<backend>/
  --backends <b,…> backends for --check (default: default,webgpu; "default" is what
                   gl.init() picks here, or GRADLAB_BACKEND when set)
  --out <dir>      output folder (default: out/ in the gradlab checkout)
  --timeout <s>    per-cell time limit in seconds (default: 300)
  --root <dir>     where chapters live (default: notebooks/ in the gradlab checkout)
  -h, --help       show this help

Exit status: 0 every notebook ran, 1 a notebook failed, 2 bad usage.`;

/** A command-line mistake; main() prints it with a hint and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Notebook files for the command-line targets (all under `root` when none); throws UsageError. */
export function resolveTargets(targets: string[], root: string): string[] {
  const all = listNotebooks(root);
  if (!targets.length) {
    if (!all.length) throw new UsageError(`no notebooks under ${root}`);
    return all;
  }
  const files: string[] = [];
  for (const t of targets) {
    const asPath = [t, path.join(root, t)].flatMap((p) => [p, `${p}.ipynb`]).find((p) => fs.existsSync(p));
    let found: string[];
    if (asPath && fs.statSync(asPath).isDirectory()) found = listNotebooks(asPath);
    else if (asPath) found = asPath.endsWith('.ipynb') ? [path.resolve(asPath)] : [];
    else {
      const name = t.replace(/\.ipynb$/, '');
      found = all.filter((f) => path.basename(path.dirname(f)) === name || path.basename(f, '.ipynb') === name);
    }
    if (!found.length) {
      const chapters = [...new Set(all.map((f) => path.relative(root, path.dirname(f))))];
      throw new UsageError(
        `unknown target "${t}": no such notebook, chapter or path.\n` +
          `Chapters under ${path.relative(process.cwd(), root) || root}: ${chapters.join(', ') || '(none)'}\n` +
          `Notebooks: ${all.map((f) => path.relative(root, f)).join(', ') || '(none)'}`,
      );
    }
    files.push(...found.map((f) => path.resolve(f)));
  }
  return [...new Set(files)];
}

interface Args extends CommonArgs {
  size?: Size;
  check: boolean;
  backends: string[];
}

/** The options `npm start` and `npm run slides` share. */
export interface CommonArgs {
  targets: string[];
  out: string;
  root: string;
  timeoutMs: number;
  help: boolean;
}

/**
 * Parse what both command lines share: targets, `-h`/`--help`, `--out`, `--root` and
 * `--timeout`. Any other option goes to `extra` with a function that takes its value;
 * `extra` returns false for an option it does not know. Throws UsageError.
 */
export function parseCommonArgs(argv: string[], extra: (option: string, value: () => string) => boolean = () => false): CommonArgs {
  const args: CommonArgs = { targets: [], out: path.join(REPO, 'out'), root: path.join(REPO, 'notebooks'), timeoutMs: 300_000, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === '-h' || a === '--help') args.help = true;
    else if (a === '--out') args.out = path.resolve(value());
    else if (a === '--root') args.root = path.resolve(value());
    else if (a === '--timeout') {
      const v = value();
      const s = Number(v);
      if (!(s > 0)) throw new UsageError(`--timeout needs a positive number of seconds, got "${v}"`);
      args.timeoutMs = s * 1000;
    } else if (a.startsWith('-')) {
      if (!extra(a, value)) throw new UsageError(`unknown option ${a}`);
    } else args.targets.push(a);
  }
  return args;
}

/** Parse argv (without node and script); throws UsageError. */
export function parseArgs(argv: string[]): Args {
  const own: Pick<Args, 'size' | 'check' | 'backends'> = { check: false, backends: ['default', 'webgpu'] };
  const common = parseCommonArgs(argv, (a, value) => {
    if (a === '--check') own.check = true;
    else if (a === '--size') {
      const v = value();
      try {
        own.size = currentSize({ GRADLAB_SIZE: v });
      } catch (e) {
        if (!(e instanceof SizeError)) throw e;
        throw new UsageError(`--size needs one of ${SIZES.join(', ')}, got "${v}"`);
      }
    } else if (a === '--backends') {
      const v = value();
      own.backends = v.split(',').map((b) => b.trim()).filter((b) => b);
      if (!own.backends.length || own.backends.some((b) => !BACKENDS.includes(b))) {
        throw new UsageError(`--backends takes a comma-separated list of ${BACKENDS.join(', ')}; got "${v}"`);
      }
    } else return false;
    return true;
  });
  return { ...common, ...own };
}

/** The CLI; resolves with the exit status. */
export async function main(argv: string[]): Promise<number> {
  let args: Args;
  let files: string[];
  try {
    args = parseArgs(argv);
    if (args.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    files = resolveTargets(args.targets, args.root);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`gradlab: ${e.message}\n(npm start -- --help for usage)\n`);
    return 2;
  }
  if (args.check) return check(files, args);
  if (args.size) process.env.GRADLAB_SIZE = args.size;
  const summary = await runAll(files.map(notebookTarget), { outDir: args.out, timeoutMs: args.timeoutMs, root: args.root });
  return summary.ok ? 0 : 1;
}

/** Backends `--backends` accepts: "default" (what gl.init() picks, or GRADLAB_BACKEND) and the named ones. */
const BACKENDS = ['default', 'auto', 'webgpu', 'wasm', 'cpu', 'tensorflow'];

/** What to do about a failure, one line (the readiness report's "fix"). */
export function fixFor(f: RunFailure, backend: string, timeoutS: number, notebook = '<notebook>'): string {
  const text = `${f.ename}: ${f.evalue}`;
  if (f.ename === 'BackendError' || /backend '\w+' (cannot load|failed to initialise)|only a software adapter/.test(text)) {
    return backend === 'default'
      ? 'the backend did not start: npm run doctor says why'
      : `${backend} cannot start on this machine (the error says what to install); npm run doctor checks it, and the lecture can use the default backend`;
  }
  if (f.kind === 'timeout') return `the cell ran past the ${timeoutS} s limit: raise --timeout, keep --size small, or check what else uses the CPU`;
  if (f.kind === 'died') return 'the kernel process died (out of memory?): close other programs and rerun; npm run doctor checks the setup';
  if (f.kind === 'start') return 'the kernel did not start: npm run doctor checks Node, the build and the kernel';
  if (f.kind === 'invalid') return 'the notebook file is damaged: git checkout it (or git diff to see what changed)';
  if (/Cannot find module|MODULE_NOT_FOUND/.test(text)) return 'a dependency is missing: run npm install';
  if (/python3?|torch|numpy/i.test(text) && /not found|ENOENT|No module named/i.test(text)) {
    return 'the Python reference is missing: apt install python3-torch python3-numpy (or set GRADLAB_PYTHON)';
  }
  return `read the error at the failing cell (below); rerun the notebook alone with npm start -- ${notebook}`;
}

/** `--check`: every target at size small (or --size) on each backend; prints the readiness report. */
async function check(files: string[], args: Args): Promise<number> {
  const size = args.size ?? 'small';
  const t0 = Date.now();
  const results: { backend: string; summary: RunSummary; seconds: number }[] = [];
  for (const backend of args.backends) {
    const env: NodeJS.ProcessEnv = { ...process.env, GRADLAB_SIZE: size };
    if (backend !== 'default') env.GRADLAB_BACKEND = backend;
    const outDir = path.join(args.out, 'check', backend);
    process.stdout.write(`gradlab check: ${files.length} notebook(s) on backend ${backend}${backend === 'default' && process.env.GRADLAB_BACKEND ? ` (GRADLAB_BACKEND=${process.env.GRADLAB_BACKEND})` : ''}, size ${size}\n`);
    const t = Date.now();
    const summary = await runAll(files.map(notebookTarget), {
      outDir, timeoutMs: args.timeoutMs, root: args.root, env,
      log: (l) => { if (/^\[\d+\/\d+\]|^ {2}(ok|FAILED) /.test(l)) process.stdout.write(`  ${l.trim()}\n`); },
      logError: () => {},
    });
    results.push({ backend, summary, seconds: (Date.now() - t) / 1000 });
  }
  process.stdout.write('\n' + readinessReport(results, size, args.timeoutMs / 1000, shortPath, (Date.now() - t0) / 1000) + '\n');
  return results.every((r) => r.summary.ok) ? 0 : 1;
}

/** The one-screen report of `--check`: one block per backend, failing notebooks with cell, error and fix. */
export function readinessReport(
  results: { backend: string; summary: RunSummary; seconds: number }[], size: string, timeoutS: number,
  rel: (p: string) => string = (p) => p, seconds = results.reduce((a, r) => a + r.seconds, 0),
): string {
  const lines = [`gradlab readiness check · size ${size} · ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · ${(seconds / 60).toFixed(1)} min`, ''];
  for (const { backend, summary, seconds } of results) {
    const runs = summary.runs;
    const bad = runs.filter((r) => !r.ok);
    const device = runs.map((r) => printedBackend(r.notebook)).find((d) => d) ?? 'no notebook printed its backend';
    lines.push(`${bad.length ? '✗' : '✓'} ${backend.padEnd(8)} ${device}`);
    lines.push(`  ${runs.length - bad.length}/${runs.length} notebooks ok in ${(seconds / 60).toFixed(1)} min · course map ${rel(summary.index)}`);
    for (const r of bad.slice(0, 6)) {
      const f = r.failure!;
      const c = f.cell ? ` cell ${f.cell.number}/${f.cell.total}` : '';
      lines.push(`  ✗ ${r.chapter}/${r.name}${c}: ${`${f.ename}: ${f.evalue.split('\n')[0]}`.slice(0, 160)}`);
      lines.push(`    fix: ${fixFor(f, backend, timeoutS, r.name)}`);
      if (r.html) lines.push(`    see: ${rel(r.html)}${f.cell ? `#cell-${f.cell.index}` : ''}`);
    }
    if (bad.length > 6) lines.push(`  … and ${bad.length - 6} more failing notebooks (see the course map)`);
  }
  const ready = results.filter((r) => r.summary.ok).map((r) => r.backend);
  lines.push('');
  lines.push(ready.length === results.length
    ? `READY: every notebook runs on ${ready.join(' and ')}.`
    : ready.length
      ? `READY on ${ready.join(', ')} only: lecture on that backend (GRADLAB_BACKEND), or fix the failures above.`
      : 'NOT READY: fix the failures above (npm run doctor checks the setup).');
  return lines.join('\n');
}

if (require.main === module) {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    // Exiting runs the client's exit hook, which kills every kernel we started.
    process.once(sig, () => {
      process.stderr.write(`\ngradlab: ${sig}, stopping kernels\n`);
      process.exit(130);
    });
  }
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e) => {
      process.stderr.write(`gradlab: ${(e as Error).stack ?? e}\n`);
      process.exitCode = 1;
    },
  );
}
