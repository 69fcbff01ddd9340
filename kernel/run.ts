/**
 * `npm start`: run notebooks headlessly and write executed copies and HTML.
 *
 * ```
 * npm start                                             # every notebook under notebooks/
 * npm start -- 01-backprop                              # one chapter
 * npm start -- 01-chain-rule                            # one notebook by name (or by path)
 * npm start -- --out /tmp/site --timeout 60 01-backprop
 * ```
 *
 * Exit status: 0 all ran, 1 a notebook failed, 2 bad usage.
 */
import * as fs from 'fs';
import * as path from 'path';
import { notebookTarget, runAll } from './runner';

const REPO = path.resolve(__dirname, '..', '..');

/** The `--help` text. */
export const USAGE = `Usage: npm start -- [target ...] [--out <dir>] [--timeout <s>] [--root <dir>]
       node dist/kernel/run.js [same arguments]

Runs notebooks top to bottom, each in a fresh gradlab kernel started in the
notebook's folder, and writes <out>/<chapter>/<name>.ipynb, .html and
<out>/index.html. A failing cell stops its notebook; the others still run.

Targets (default: every notebook under the root):
  01-backprop                                 a chapter (a folder under the root)
  01-chain-rule, 01-chain-rule.ipynb          a notebook by name
  notebooks/01-backprop/01-chain-rule.ipynb   a path to a notebook or a folder

Options:
  --out <dir>      output folder (default: out/ in the gradlab checkout)
  --timeout <s>    per-cell time limit in seconds (default: 300)
  --root <dir>     where chapters live (default: notebooks/ in the gradlab checkout)
  -h, --help       show this help

Exit status: 0 every notebook ran, 1 a notebook failed, 2 bad usage.`;

/** A command-line mistake; main() prints it with a hint and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Every .ipynb under `dir` sorted by path (chapter folders, then files); skips checkpoints and hidden folders. */
export function listNotebooks(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith('.ipynb')) out.push(p);
    }
  };
  if (fs.existsSync(dir) && fs.statSync(dir).isDirectory()) walk(dir);
  const key = (p: string) => path.relative(dir, p).split(path.sep);
  return out.sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      const c = x[i].localeCompare(y[i], 'en', { numeric: true });
      if (c) return c;
    }
    return x.length - y.length;
  });
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

interface Args {
  targets: string[];
  out: string;
  root: string;
  timeoutMs: number;
  help: boolean;
}

/** Parse argv (without node and script); throws UsageError. */
export function parseArgs(argv: string[]): Args {
  const args: Args = { targets: [], out: path.join(REPO, 'out'), root: path.join(REPO, 'notebooks'), timeoutMs: 300_000, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === '-h' || a === '--help') args.help = true;
    else if (a === '--out') args.out = path.resolve(value());
    else if (a === '--root') args.root = path.resolve(value());
    else if (a === '--timeout') {
      const s = Number(value());
      if (!(s > 0)) throw new UsageError(`--timeout needs a positive number of seconds, got "${argv[i]}"`);
      args.timeoutMs = s * 1000;
    } else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else args.targets.push(a);
  }
  return args;
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
  const summary = await runAll(files.map(notebookTarget), { outDir: args.out, timeoutMs: args.timeoutMs });
  return summary.ok ? 0 : 1;
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
