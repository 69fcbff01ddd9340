/**
 * `npm run doctor [-- --json] [-- --skip=backends,kernel]` (kernel/doctor-start.cjs): what stands between
 * this checkout and a working notebook, each problem with the command that fixes it.
 *
 * It answers the two questions learners ask most about a TypeScript kernel:
 *
 * - **"The kernel does not show up."** Where the gradlab kernelspec is
 *   installed (every Jupyter data folder is scanned), whether its command
 *   line points at this checkout's build and a Node that exists, and whether
 *   each Jupyter on PATH (`jupyter`, `jupyter-lab`, `jupyter-notebook`) would
 *   list it (asked through that Jupyter's own Python and `jupyter kernelspec
 *   list --json`).
 * - **"It picked the wrong Python."** Which Python each Jupyter on PATH runs,
 *   which Python `npm run kernel:install` would register with, and when they
 *   differ, the `--python=` that makes them agree. (Cells never run in Python:
 *   Python's Jupyter only finds the kernel; cells run in the Node of kernel.json.)
 *
 * Also: the Node version, whether dist/ is built and newer than the sources,
 * a real kernel started outside the checkout importing `gradlab`, and every
 * backend that `gl.init()` can choose (each loaded in its own process),
 * with the reason the others do not load.
 *
 * Exit status: 0 when nothing is broken (✓ and ! only), 1 when something is (✗).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { argvParts, KERNEL_NAME } from './spec';

/** ✓ works, ✗ broken (exit 1), ! works but worth knowing, - not applicable here. */
export type Mark = 'ok' | 'fail' | 'warn' | 'skip';
const SYMBOL: Record<Mark, string> = { ok: '✓', fail: '✗', warn: '!', skip: '-' };

/** One line of the checklist. */
export interface Check {
  section: string;
  mark: Mark;
  title: string;
  /** Further lines: where, why. */
  detail?: string[];
  /** The exact command (or step) that fixes it. */
  fix?: string;
}

/** What the doctor found. */
export interface DoctorReport {
  checks: Check[];
  /** No ✗. */
  ok: boolean;
  summary: string;
}

/** Options of {@link runDoctor}. */
export interface DoctorOptions {
  /** The gradlab checkout (default: the one this file was built in). */
  root?: string;
  /** The environment to judge (PATH, HOME, JUPYTER_PATH ...); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Parts to leave out: 'backends' (about 10 s), 'kernel' (starting a kernel, about 5 s). */
  skip?: ReadonlySet<string>;
}

const ROOT = path.resolve(__dirname, '..', '..');
/** The backends in `gl.init()`'s auto order, as the doctor names them. */
export const BACKEND_STEPS = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'] as const;
/** One backend as the doctor probes it (`tensorflow-gpu` is tfjs-node-gpu, `tensorflow` tfjs-node on CPU). */
export type BackendStep = (typeof BACKEND_STEPS)[number];

// ---------------------------------------------------------------- helpers

/** The first `name` on `PATH` that is an executable file, or null. */
export function which(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  if (name.includes('/')) return isExecutable(name) ? name : null;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    if (isExecutable(p)) return p;
  }
  return null;
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The interpreter a script's `#!` line names (`#!/usr/bin/env python3` resolved on PATH), or null. */
export function shebangInterpreter(file: string, env: NodeJS.ProcessEnv = process.env): string | null {
  let first: string;
  try {
    const fd = fs.openSync(file, 'r');
    const buf = Buffer.alloc(512);
    const n = fs.readSync(fd, buf, 0, 512, 0);
    fs.closeSync(fd);
    first = buf.subarray(0, n).toString('utf8').split('\n')[0] ?? '';
  } catch {
    return null;
  }
  if (!first.startsWith('#!')) return null;
  const words = first.slice(2).trim().split(/\s+/);
  if (path.basename(words[0] ?? '') === 'env') {
    const prog = words.slice(1).find((w) => !w.startsWith('-'));
    return prog ? which(prog, env) : null;
  }
  return words[0] || null;
}

function nodeMajor(version: string): number {
  return Number(/^v?(\d+)/.exec(version.trim())?.[1] ?? NaN);
}

/** The minimum Node major version package.json's `engines.node` asks for (default 20). */
function requiredNodeMajor(root: string): number {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { engines?: { node?: string } };
    return Number(/(\d+)/.exec(pkg.engines?.node ?? '')?.[1] ?? 20);
  } catch {
    return 20;
  }
}

/** Quote a word for a POSIX shell when it needs it. */
function sh(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

// ---------------------------------------------------------------- Node and the build

/** This Node against package.json's `engines.node`. */
export function checkNode(root: string): Check {
  const need = requiredNodeMajor(root);
  const have = nodeMajor(process.version);
  return have >= need
    ? { section: 'Node', mark: 'ok', title: `Node ${process.version} (${process.execPath}); gradlab needs ${need} or newer` }
    : {
        section: 'Node', mark: 'fail', title: `Node ${process.version} is too old; gradlab needs ${need} or newer`,
        fix: `install Node ${need}+ (nvm install ${need}, or https://nodejs.org), then: npm run build && npm run kernel:install`,
      };
}

/** Sources (src/, kernel/) whose compiled .js in dist/ is missing or older. */
export function staleOutputs(root: string): string[] {
  const stale: string[] = [];
  const walk = (dir: string) => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        const out = path.join(root, 'dist', path.relative(root, p)).replace(/\.ts$/, '.js');
        if (!fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(p).mtimeMs) stale.push(path.relative(root, p));
      }
    }
  };
  walk(path.join(root, 'src'));
  walk(path.join(root, 'kernel'));
  return stale;
}

/** dist/ present and newer than src/ and kernel/ ({@link staleOutputs}); the npm packages the kernel needs. */
export function checkBuild(root: string): Check[] {
  const out: Check[] = [];
  const needed = ['dist/kernel/kernel.js', 'dist/src/index.js', 'dist/src/index.d.ts'];
  const missing = needed.filter((f) => !fs.existsSync(path.join(root, f)));
  if (missing.length) {
    out.push({ section: 'Build', mark: 'fail', title: `dist/ is not built: ${missing.join(', ')} missing`, fix: 'npm run build' });
  } else {
    const stale = staleOutputs(root);
    out.push(stale.length
      ? {
          section: 'Build', mark: 'fail',
          title: `dist/ is older than ${stale.length} source file(s): Jupyter runs the old kernel and library`,
          detail: [stale.slice(0, 5).join(', ') + (stale.length > 5 ? `, ... (${stale.length - 5} more)` : '')],
          fix: 'npm run build',
        }
      : { section: 'Build', mark: 'ok', title: `dist/ is built and newer than every source in src/ and kernel/` });
  }
  const deps = ['tslab', 'zeromq', '@tensorflow/tfjs'];
  const absent = deps.filter((d) => {
    try {
      require.resolve(`${d}/package.json`, { paths: [root] });
      return false;
    } catch {
      return true;
    }
  });
  out.push(absent.length
    ? { section: 'Build', mark: 'fail', title: `npm packages missing: ${absent.join(', ')}`, fix: 'npm install' }
    : { section: 'Build', mark: 'ok', title: `npm packages present (${deps.join(', ')})` });
  return out;
}

// ---------------------------------------------------------------- Python and Jupyter

/** What a Python's Jupyter says about kernels. */
export interface JupyterPython {
  python: string;
  executable: string | null;
  version: string | null;
  prefix: string | null;
  hasJupyter: boolean;
  /** Where this Jupyter looks for kernels, in order. */
  kernelDirs: string[];
  /** The user's Jupyter data folder (where `--user` installs). */
  dataDir: string | null;
  /** Kernel name -> folder, as this Jupyter lists them. */
  specs: Record<string, string>;
  error?: string;
}

const PY_PROBE = `
import sys, json
out = {"executable": sys.executable, "version": sys.version.split()[0], "prefix": sys.prefix,
       "hasJupyter": False, "kernelDirs": [], "dataDir": None, "specs": {}}
try:
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_core.paths import jupyter_data_dir
    m = KernelSpecManager()
    out.update(hasJupyter=True, kernelDirs=list(m.kernel_dirs), dataDir=jupyter_data_dir(), specs=m.find_kernel_specs())
except Exception as e:
    out["error"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out))
`;

/** Ask `python` where its Jupyter looks for kernels and which it finds. */
export function probeJupyterPython(python: string, env: NodeJS.ProcessEnv = process.env): JupyterPython {
  const r = spawnSync(python, ['-c', PY_PROBE], { encoding: 'utf8', timeout: 60_000, env });
  try {
    if (r.status === 0 && r.stdout) return { python, ...(JSON.parse(r.stdout.trim()) as Omit<JupyterPython, 'python'>) };
  } catch {
    /* fall through */
  }
  return {
    python, executable: null, version: null, prefix: null, hasJupyter: false, kernelDirs: [], dataDir: null, specs: {},
    error: (r.error?.message ?? r.stderr?.trim().split('\n').pop()) || `exit ${r.status}`,
  };
}

/** A Jupyter front end found on PATH and the Python that runs it. */
export interface JupyterCommand {
  name: string;
  path: string;
  python: string | null;
}

/** `jupyter`, `jupyter-lab`, `jupyter-notebook` as PATH finds them, each with the Python its `#!` line names. */
export function jupyterCommands(env: NodeJS.ProcessEnv): JupyterCommand[] {
  const out: JupyterCommand[] = [];
  for (const name of ['jupyter', 'jupyter-lab', 'jupyter-notebook']) {
    const p = which(name, env);
    if (p) out.push({ name, path: p, python: shebangInterpreter(fs.realpathSync(p), env) });
  }
  return out;
}

/** Same environment: the same sys.prefix (a symlink to a Python is that Python; a venv is not its base). */
function sameEnvironment(a: JupyterPython, b: JupyterPython): boolean {
  return (a.prefix ?? a.executable) === (b.prefix ?? b.executable);
}

/** The Pythons `npm run kernel:install` tries, in its order (kernel/python.ts). */
function installCandidates(env: NodeJS.ProcessEnv): string[] {
  const list = [env.GRADLAB_PYTHON, 'python3', 'python', '/usr/bin/python3'];
  if (env.CONDA_PREFIX) list.push(`${env.CONDA_PREFIX}/bin/python`);
  return [...new Set(list.filter((p): p is string => Boolean(p)))];
}

/** Jupyter data folders when no Python can tell (jupyter_core's defaults on Linux and macOS). */
function defaultKernelDirs(env: NodeJS.ProcessEnv): string[] {
  const home = env.HOME ?? os.homedir();
  const data = env.JUPYTER_DATA_DIR ?? (process.platform === 'darwin' ? path.join(home, 'Library', 'Jupyter') : path.join(env.XDG_DATA_HOME ?? path.join(home, '.local', 'share'), 'jupyter'));
  const fromEnv = (env.JUPYTER_PATH ?? '').split(path.delimiter).filter(Boolean);
  return [...fromEnv, data, '/usr/local/share/jupyter', '/usr/share/jupyter'].map((d) => path.join(d, 'kernels'));
}

// ---------------------------------------------------------------- kernelspecs

/** A gradlab kernelspec found on disk. */
export interface FoundSpec {
  dir: string;
  name: string;
  argv: string[];
  problems: string[];
  /** Runs this checkout's kernel. */
  thisCheckout: boolean;
}

/** Every kernel.json under `kernelDirs` that runs a gradlab kernel (name gradlab, or gradlab metadata). */
export function findGradlabSpecs(kernelDirs: string[], root: string, env: NodeJS.ProcessEnv): FoundSpec[] {
  const out: FoundSpec[] = [];
  const seen = new Set<string>();
  for (const kdir of kernelDirs) {
    let names: string[];
    try {
      names = fs.readdirSync(kdir);
    } catch {
      continue;
    }
    for (const name of names) {
      const dir = path.join(kdir, name);
      const file = path.join(dir, 'kernel.json');
      if (seen.has(dir) || !fs.existsSync(file)) continue;
      let spec: { argv?: unknown; metadata?: { gradlab?: unknown } };
      try {
        spec = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch (e) {
        if (name === KERNEL_NAME) {
          seen.add(dir);
          out.push({ dir, name, argv: [], problems: [`${file} is not valid JSON (${(e as Error).message})`], thisCheckout: false });
        }
        continue;
      }
      const argv = Array.isArray(spec.argv) ? spec.argv.map(String) : [];
      if (name !== KERNEL_NAME && !spec.metadata?.gradlab) continue;
      seen.add(dir);
      out.push({ dir, name, argv, ...judgeArgv(argv, root, env) });
    }
  }
  return out;
}

function judgeArgv(argv: string[], root: string, env: NodeJS.ProcessEnv): { problems: string[]; thisCheckout: boolean } {
  const problems: string[] = [];
  const { launcher, node, entry } = argvParts(argv);
  const entryHere = path.join(root, 'dist', 'kernel', 'kernel.js');
  if (!node || !entry) return { problems: ['its argv is not [node, kernel.js, --config-path, {connection_file}] (or /bin/sh launch.sh before them)'], thisCheckout: false };
  if (launcher && !fs.existsSync(launcher)) problems.push(`the launcher it runs, ${launcher}, does not exist (a moved or deleted checkout)`);
  const nodePath = which(node, env);
  if (!nodePath) problems.push(`the Node it runs, ${node}, does not exist`);
  else {
    const v = spawnSync(nodePath, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    const need = requiredNodeMajor(root);
    if (v.status !== 0) problems.push(`the Node it runs, ${node}, does not start`);
    else if (nodeMajor(v.stdout) < need) problems.push(`the Node it runs, ${node}, is ${v.stdout.trim()}; gradlab needs ${need} or newer`);
  }
  if (!fs.existsSync(entry)) problems.push(`the kernel it runs, ${entry}, does not exist (a moved or deleted checkout, or dist/ not built)`);
  if (!argv.includes('{connection_file}')) problems.push('its argv lacks {connection_file}');
  return { problems, thisCheckout: path.resolve(entry) === entryHere };
}

/** The command that (re)writes the gradlab kernelspec in the data folder above `specDir`. */
export function reinstallCommand(specDir: string, pythons: JupyterPython[]): string {
  const data = path.dirname(path.dirname(specDir));
  const user = pythons.find((p) => p.dataDir && path.resolve(p.dataDir) === data);
  if (user) return 'npm run kernel:install -- --user' + (user.executable ? ` --python=${sh(user.executable)}` : '');
  const env = pythons.find((p) => p.prefix && path.join(p.prefix, 'share', 'jupyter') === data);
  if (env) return `npm run kernel:install -- --sys-prefix --python=${sh(env.executable ?? env.python)}`;
  const withJupyter = pythons.find((p) => p.hasJupyter);
  if (data.endsWith(path.join('share', 'jupyter')) && withJupyter) {
    const prefix = path.dirname(path.dirname(data));
    let writable = true;
    try {
      fs.accessSync(fs.existsSync(specDir) ? specDir : data, fs.constants.W_OK);
    } catch {
      writable = false;
    }
    return `${writable ? '' : 'sudo '}npm run kernel:install -- --prefix=${sh(prefix)} --python=${sh(withJupyter.executable ?? withJupyter.python)}`;
  }
  // Any other folder (a JUPYTER_PATH entry): write kernel.json there directly.
  return `node -e "require('${path.join(ROOT, 'dist', 'kernel', 'spec')}').jupyterPathWithKernel('${data}')"`;
}

// ---------------------------------------------------------------- the kernel registration checks

/**
 * The kernel registration: every gradlab kernelspec any Jupyter here would find (and whether it
 * runs), each Jupyter on PATH with its Python and whether it lists the kernel, and the Python
 * `npm run kernel:install` would pick against the one the Jupyter on PATH runs.
 */
export function checkKernel(root: string, env: NodeJS.ProcessEnv): Check[] {
  const S = 'Kernel registration';
  const out: Check[] = [];
  const commands = jupyterCommands(env);
  // Every Python worth asking: those running the Jupyter commands on PATH, then kernel:install's candidates.
  const asked = [...new Set([...commands.map((c) => c.python).filter((p): p is string => Boolean(p)), ...installCandidates(env)])];
  const byExe = new Map<string, JupyterPython>();
  const probes: JupyterPython[] = [];
  for (const py of asked) {
    const p = probeJupyterPython(py, env);
    probes.push(p);
    if (p.executable && !byExe.has(p.executable)) byExe.set(p.executable, p);
  }
  const pythons = [...byExe.values()];
  const jupyters = pythons.filter((p) => p.hasJupyter);

  // 1. The kernelspecs on disk, wherever any Jupyter (or the defaults) would look.
  const dirs = [...new Set([...jupyters.flatMap((p) => p.kernelDirs), ...defaultKernelDirs(env)].map((d) => path.resolve(d)))];
  const specs = findGradlabSpecs(dirs, root, env);
  // kernel:install's own choice: the first of its candidates, in its order, that has Jupyter.
  const candidates = installCandidates(env).map((c) => probes.find((p) => p.python === c)!);
  const installPick = candidates.find((p) => p.hasJupyter);
  const pathJupyter = commands.map((c) => c.python && probes.find((p) => p.python === c.python)).find((p) => p && p.hasJupyter) || undefined;
  const freshInstall = `npm run kernel:install` + (pathJupyter && installPick && !sameEnvironment(pathJupyter, installPick)
    ? ` -- --python=${sh(pathJupyter.executable!)}` : '');
  if (!specs.length) {
    out.push({
      section: S, mark: 'fail', title: `the gradlab kernel is not installed: no kernels/${KERNEL_NAME}/kernel.json in any Jupyter data folder`,
      detail: [`looked in: ${dirs.join(', ')}`],
      fix: jupyters.length ? freshInstall : 'python3 -m pip install jupyterlab   (then: npm run kernel:install)',
    });
  }
  for (const s of specs) {
    const title = `kernelspec "${s.name}" in ${s.dir}`;
    const runs = `runs: ${s.argv.join(' ')}`;
    if (s.problems.length) {
      out.push({ section: S, mark: 'fail', title: `${title} is broken: ${s.problems[0]}`, detail: [...s.problems.slice(1), runs], fix: reinstallCommand(s.dir, pythons) });
    } else if (!s.thisCheckout) {
      out.push({
        section: S, mark: 'warn', title: `${title} runs another gradlab checkout (${path.resolve(argvParts(s.argv).entry!, '..', '..', '..')})`,
        detail: [runs, `this checkout is ${root}`], fix: reinstallCommand(s.dir, pythons),
      });
    } else {
      out.push({ section: S, mark: 'ok', title, detail: [runs] });
    }
  }

  // 2. The Jupyter commands on PATH: which Python runs each, and does it list the kernel?
  if (!commands.length) {
    out.push({
      section: S, mark: 'warn', title: 'no Jupyter on PATH (jupyter, jupyter-lab, jupyter-notebook): nothing here can show the kernel',
      detail: ['VS Code finds installed kernelspecs by itself; `npm start` runs notebooks with Node alone.'],
      fix: 'python3 -m pip install jupyterlab   (or: conda install jupyterlab; Debian/Ubuntu: sudo apt-get install jupyter-notebook)',
    });
  }
  const broken = new Set(specs.filter((s) => s.problems.length).map((s) => s.dir));
  const groups = new Map<string, JupyterCommand[]>();
  for (const c of commands) groups.set(c.python ?? c.path, [...(groups.get(c.python ?? c.path) ?? []), c]);
  for (const group of groups.values()) {
    const c = group[0]!;
    const p = c.python ? probes.find((x) => x.python === c.python) : undefined;
    const who = group.map((g) => `${g.name} (${g.path})`).join(', ') + (group.length > 1 ? ' run' : ' runs');
    const [does, lists] = group.length > 1 ? ['do', 'list'] : ['does', 'lists'];
    if (!p || !p.hasJupyter) {
      out.push({
        section: S, mark: 'fail', title: `${who} Python ${c.python ?? '(unknown: no #! line)'}, which cannot import jupyter_client`,
        detail: p?.error ? [p.error] : undefined,
        fix: `${c.python ?? 'python3'} -m pip install jupyterlab   (or take it off PATH)`,
      });
      continue;
    }
    const py = `Python ${p.version} (${p.executable})`;
    const seen = p.specs[KERNEL_NAME];
    if (!seen) {
      out.push({
        section: S, mark: 'fail', title: `${who} ${py} and ${does} NOT list the gradlab kernel`,
        detail: [`it looks in: ${p.kernelDirs.join(', ')}`],
        fix: installPick && sameEnvironment(p, installPick) ? 'npm run kernel:install' : `npm run kernel:install -- --python=${sh(p.executable!)}`,
      });
    } else if (broken.has(path.resolve(seen))) {
      out.push({ section: S, mark: 'fail', title: `${who} ${py} and ${lists} the BROKEN kernelspec in ${seen}`, fix: reinstallCommand(seen, pythons) });
    } else {
      out.push({ section: S, mark: 'ok', title: `${who} ${py} and ${lists} the gradlab kernel (${seen})` });
    }
  }
  // `jupyter kernelspec list --json`, the command a learner would type, when it exists.
  const jup = commands.find((c) => c.name === 'jupyter');
  if (jup) {
    const r = spawnSync(jup.path, ['kernelspec', 'list', '--json'], { encoding: 'utf8', timeout: 60_000, env });
    let names: string[] | null = null;
    try {
      names = Object.keys((JSON.parse(r.stdout) as { kernelspecs: Record<string, unknown> }).kernelspecs);
    } catch {
      names = null;
    }
    if (names) {
      out.push(names.includes(KERNEL_NAME)
        ? { section: S, mark: 'ok', title: `jupyter kernelspec list --json: ${names.join(', ')}` }
        : { section: S, mark: 'fail', title: `jupyter kernelspec list --json: ${names.join(', ') || '(none)'}, no ${KERNEL_NAME}`, fix: freshInstall });
    } else {
      out.push({
        section: S, mark: 'skip', title: '`jupyter kernelspec` is not available here (Debian ships it separately); asked jupyter_client directly instead',
      });
    }
  }

  // 3. "It picked the wrong Python": the Python kernel:install would use, against the Jupyter on PATH.
  if (installPick) {
    const pick = `Python ${installPick.version} (${installPick.executable}, found as \`${installPick.python}\`)`;
    const passed = candidates.slice(0, candidates.indexOf(installPick));
    const why = passed.map((p) => `\`${p.python}\` ${p.executable ? `is ${p.executable}, Python ${p.version}, without Jupyter` : 'does not run'}`);
    if (pathJupyter && !sameEnvironment(pathJupyter, installPick)) {
      out.push({
        section: S, mark: 'warn', title: `npm run kernel:install registers with ${pick}, but the Jupyter on PATH runs ${pathJupyter.executable}`,
        detail: why, fix: `npm run kernel:install -- --python=${sh(pathJupyter.executable!)}`,
      });
    } else {
      out.push({ section: S, mark: 'ok', title: `npm run kernel:install registers with ${pick}` + (pathJupyter ? ', the same Python as the Jupyter on PATH' : ''), detail: why.length ? why : undefined });
    }
  } else if (!jupyters.length) {
    out.push({
      section: S, mark: 'fail', title: `no Python with Jupyter found (tried ${asked.join(', ')})`,
      fix: 'python3 -m pip install jupyterlab   (then: npm run kernel:install)',
    });
  }
  out.push({ section: S, mark: 'skip', title: 'cells never run in Python: Jupyter\'s Python only finds kernel.json; cells run in the Node that kernel.json names' });
  return out;
}

// ---------------------------------------------------------------- a real kernel

/** Start this checkout's kernel in a temporary folder outside it and import gradlab there (kernel/resolve.ts). */
export async function checkKernelRuns(env: NodeJS.ProcessEnv): Promise<Check> {
  const S = 'Kernel';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-doctor-'));
  const t0 = Date.now();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { KernelClient } = require('./client') as typeof import('./client');
  let k: import('./client').KernelClient | undefined;
  try {
    k = await KernelClient.start({ cwd: dir, env, log: () => undefined });
    const r = await k.execute("import * as gl from 'gradlab';\nconst v: string = gl.describe();\nconsole.log(v.split(' | ')[0]);", { timeoutMs: 120_000 });
    const text = r.outputs.map((m) => String(m.content.text ?? `${m.content.ename}: ${m.content.evalue}`)).join('').trim();
    if (r.status !== 'ok') {
      return { section: S, mark: 'fail', title: `the kernel started, but importing gradlab failed in a folder outside the checkout`, detail: [text], fix: 'npm run build' };
    }
    return { section: S, mark: 'ok', title: `the kernel starts and imports gradlab in a folder outside the checkout (${text}, ${((Date.now() - t0) / 1000).toFixed(1)} s)` };
  } catch (e) {
    return { section: S, mark: 'fail', title: 'the kernel does not start', detail: String((e as Error).message).split('\n').slice(0, 12), fix: 'npm install && npm run build' };
  } finally {
    await k?.shutdown().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- backends

/** What one backend probe (a child process) reported. */
export interface BackendProbe {
  step: BackendStep;
  ok: boolean;
  device?: string;
  software?: boolean;
  /** The loader's full explanation when it failed. */
  error?: string;
  /** Its one-line reason (what `gl.init()` lists as skipped). */
  summary?: string;
}

/** Load one backend in this process and compute 1 + 2 on it (run in a child by {@link probeBackend}). */
export async function loadStep(step: BackendStep): Promise<BackendProbe> {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { tf } = require('../src/backend/tf') as typeof import('../src/backend/tf');
  const { loadTensorflow } = require('../src/backend/tensorflow') as typeof import('../src/backend/tensorflow');
  const { loadWasm, loadCpu } = require('../src/backend/wasm') as typeof import('../src/backend/wasm');
  const { loadWebGPU } = require('../src/backend/webgpu') as typeof import('../src/backend/webgpu');
  const { BackendError } = require('../src/backend/types') as typeof import('../src/backend/types');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const load = {
    'tensorflow-gpu': () => loadTensorflow('gpu'),
    webgpu: () => loadWebGPU(true),
    tensorflow: () => loadTensorflow('cpu'),
    wasm: loadWasm,
    cpu: loadCpu,
  }[step];
  try {
    const info = await load();
    const t = tf.add(tf.scalar(1), tf.scalar(2));
    const v = (await t.data())[0];
    t.dispose();
    if (v !== 3) return { step, ok: false, error: `loads, but computes 1 + 2 = ${v}`, summary: `computes 1 + 2 = ${v}` };
    return { step, ok: true, device: info.device, software: info.software };
  } catch (e) {
    const msg = (e as Error).message;
    return { step, ok: false, error: msg, summary: e instanceof BackendError ? e.summary : msg.split('\n')[0] };
  }
}

/** Load `step` in a fresh Node process (a native crash or hang cannot take the doctor down). */
export function probeBackend(step: BackendStep, env: NodeJS.ProcessEnv, timeoutMs = 120_000): BackendProbe {
  const childEnv = { ...env };
  delete childEnv.GRADLAB_BACKEND;
  const r = spawnSync(process.execPath, [__filename, '--probe-backend', step], { encoding: 'utf8', timeout: timeoutMs, env: childEnv });
  const line = r.stdout?.split('\n').find((l) => l.startsWith('{"step"'));
  if (line) return JSON.parse(line) as BackendProbe;
  const why = r.error ? (r.signal === 'SIGTERM' ? `did not load within ${timeoutMs / 1000} s` : r.error.message)
    : `the probe process exited (code ${r.status}, signal ${r.signal}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' ')}`;
  return { step, ok: false, error: why, summary: why };
}

/** The fix for a backend that does not load, or undefined when there is nothing to fix. */
function backendFix(p: BackendProbe): { mark: Mark; fix?: string } {
  const e = p.error ?? '';
  switch (p.step) {
    case 'tensorflow-gpu':
      if (/no NVIDIA GPU visible/.test(e)) return { mark: 'skip' };
      if (/not installed/.test(e)) return { mark: 'warn', fix: 'npm install @tensorflow/tfjs-node-gpu   (needs CUDA 11.2 and cuDNN 8.1 on the library path)' };
      return { mark: 'warn', fix: 'put CUDA 11.2 and cuDNN 8.1 on LD_LIBRARY_PATH, then: npm rebuild @tensorflow/tfjs-node-gpu' };
    case 'webgpu':
      if (/software/.test(e)) return { mark: 'skip' };
      return { mark: 'warn', fix: /npm install/.test(e) ? 'npm install' : 'sudo apt-get install libvulkan1 mesa-vulkan-drivers   (or your GPU vendor\'s Vulkan driver)' };
    case 'tensorflow':
      return { mark: 'skip', fix: /not installed/.test(e) ? 'optional, faster on CPU: npm install @tensorflow/tfjs-node' : 'npm rebuild @tensorflow/tfjs-node' };
    default:
      return { mark: 'fail', fix: 'npm install' };
  }
}

/** One line per probed backend, what `gl.init()` picks (auto order, hardware GPUs only), and a `GRADLAB_BACKEND` that overrides it. */
export function checkBackends(probes: BackendProbe[], env: NodeJS.ProcessEnv): Check[] {
  const S = 'Backends';
  const out: Check[] = [];
  for (const p of probes) {
    if (p.ok) {
      out.push(p.step === 'webgpu' && p.software
        ? { section: S, mark: 'warn', title: `webgpu loads on a SOFTWARE adapter (${p.device}): correct but slow; gl.init() skips it unless forced`, fix: 'for a real GPU: its Vulkan driver (libvulkan1 and mesa-vulkan-drivers, or NVIDIA\'s)' }
        : { section: S, mark: 'ok', title: `${p.step}: ${p.device}` });
    } else {
      const { mark, fix } = backendFix(p);
      out.push({ section: S, mark, title: `${p.step}: ${p.summary}`, detail: mark === 'fail' && p.error ? p.error.split('\n') : undefined, fix });
    }
  }
  // What gl.init() picks: the auto order, hardware GPUs only.
  const pick = probes.find((p) => p.ok && !(p.step === 'webgpu' && p.software));
  const forced = env.GRADLAB_BACKEND?.trim().toLowerCase();
  if (forced && forced !== 'auto') {
    const step = forced === 'tensorflow' ? probes.find((p) => p.step.startsWith('tensorflow') && p.ok) : probes.find((p) => p.step === forced);
    if (!['tensorflow', 'webgpu', 'wasm', 'cpu'].includes(forced)) {
      out.push({ section: S, mark: 'fail', title: `GRADLAB_BACKEND=${env.GRADLAB_BACKEND} is not a backend (auto, tensorflow, webgpu, wasm, cpu)`, fix: 'unset GRADLAB_BACKEND' });
    } else if (!step?.ok) {
      out.push({ section: S, mark: 'fail', title: `GRADLAB_BACKEND=${forced} forces a backend that does not load here: every notebook fails at gl.init()`, fix: 'unset GRADLAB_BACKEND' });
    } else {
      out.push({ section: S, mark: 'warn', title: `GRADLAB_BACKEND=${forced} overrides gl.init(): notebooks run on ${forced}` });
    }
  } else if (pick) {
    out.push({ section: S, mark: 'ok', title: `gl.init() picks ${pick.step === 'tensorflow-gpu' ? 'tensorflow (GPU)' : pick.step}` });
  }
  if (!probes.some((p) => p.ok)) out.push({ section: S, mark: 'fail', title: 'no backend loads: gl.init() fails', fix: 'npm install' });
  return out;
}

// ---------------------------------------------------------------- report

/** Run every check. */
export async function runDoctor(o: DoctorOptions = {}): Promise<DoctorReport> {
  const root = o.root ?? ROOT;
  const env = o.env ?? process.env;
  const skip = o.skip ?? new Set<string>();
  const checks: Check[] = [checkNode(root), ...checkBuild(root), ...checkKernel(root, env)];
  if (!skip.has('kernel')) checks.push(await checkKernelRuns(env));
  if (!skip.has('backends')) checks.push(...checkBackends(BACKEND_STEPS.map((s) => probeBackend(s, env)), env));
  const fails = checks.filter((c) => c.mark === 'fail').length;
  const warns = checks.filter((c) => c.mark === 'warn').length;
  const oks = checks.filter((c) => c.mark === 'ok').length;
  const summary = fails
    ? `✗ ${fails} problem(s) to fix, ${warns} warning(s), ${oks} ok: run the "fix:" command under each ✗, then npm run doctor again`
    : `✓ nothing is broken (${oks} ok, ${warns} warning(s))`;
  return { checks, ok: fails === 0, summary };
}

/** The checklist as text. */
export function formatReport(r: DoctorReport): string {
  const lines: string[] = [];
  let section = '';
  for (const c of r.checks) {
    if (c.section !== section) {
      section = c.section;
      lines.push(`${lines.length ? '\n' : ''}${section}`);
    }
    lines.push(`  ${SYMBOL[c.mark]} ${c.title}`);
    for (const d of c.detail ?? []) lines.push(`      ${d}`);
    if (c.fix) lines.push(`      fix: ${c.fix}`);
  }
  lines.push('', r.summary);
  return lines.join('\n') + '\n';
}

/** The `--help` text. */
export const USAGE = `Usage: npm run doctor [-- --json] [-- --skip=backends,kernel]

Checks Node, the build, the kernel registration (where, for which Jupyter and
Python), a kernel started outside the checkout, and every backend, and prints
the command that fixes each problem.
  --json                  machine-readable output
  --skip=backends,kernel  leave out the backend probes and/or starting a kernel
Exit status: 0 nothing is broken, 1 something is (a ✗ line), 2 bad usage.`;

/** The command line; resolves with the exit status (kernel/doctor-start.cjs calls it). */
export async function main(argv: string[]): Promise<number> {
  const i = argv.indexOf('--probe-backend');
  if (i >= 0) {
    process.stdout.write(JSON.stringify(await loadStep(argv[i + 1] as BackendStep)) + '\n');
    return 0;
  }
  let json = false;
  const skip = new Set<string>();
  for (const a of argv) {
    if (a === '--json') json = true;
    else if (a.startsWith('--skip=')) a.slice(7).split(',').filter(Boolean).forEach((s) => skip.add(s));
    else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE + '\n');
      return 0;
    } else {
      process.stderr.write(`doctor: unknown option ${a}\n${USAGE}\n`);
      return 2;
    }
  }
  const bad = [...skip].filter((s) => s !== 'backends' && s !== 'kernel');
  if (bad.length) {
    process.stderr.write(`doctor: --skip takes backends and/or kernel, not ${bad.join(', ')}\n`);
    return 2;
  }
  const report = await runDoctor({ skip });
  process.stdout.write(json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
  return report.ok ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`doctor: ${(e as Error).stack ?? e}\n`);
      process.exit(1);
    },
  );
}
