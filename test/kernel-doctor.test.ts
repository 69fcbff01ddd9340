/**
 * `npm run doctor` against made-up machines: a temporary HOME, JUPYTER_PATH
 * and PATH (only the Jupyter and Python put there), with the kernelspec
 * missing, installed, pointing at a deleted checkout or a missing Node, and
 * registered with one Python while the Jupyter on PATH runs another. Where
 * the doctor prints a fix, the test runs that fix and the doctor must then
 * report the problem gone.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { DoctorReport } from '../kernel/doctor';
import { checkBackends, checkBuild, probeBackend, shebangInterpreter, staleOutputs, type BackendProbe } from '../kernel/doctor';
import { probePython } from '../kernel/python';
import { argvParts, jupyterPathWithKernel } from '../kernel/spec';
import { ROOT } from './helpers/child';

const DOCTOR = path.join(ROOT, 'dist', 'kernel', 'doctor.js');
const INSTALL = path.join(ROOT, 'dist', 'kernel', 'install.js');

/** A Python with Jupyter on this machine (the test's fake PATH points at it), or undefined. */
const JUPYTER_PY = ['/usr/bin/python3', 'python3'].map(probePython).find((p) => p.hasJupyter)?.executable ?? undefined;
/** Data folders jupyter_core always searches; a gradlab kernelspec there would spoil the "not installed" case. */
const SYSTEM_SPECS = ['/usr/local/share/jupyter/kernels/gradlab', '/usr/share/jupyter/kernels/gradlab'].filter((d) => fs.existsSync(d));

interface Machine {
  dir: string;
  home: string;
  /** A JUPYTER_PATH entry that is a prefix's share/jupyter. */
  jupyterPath: string;
  bin: string;
  env: NodeJS.ProcessEnv;
}

/** A temporary HOME, JUPYTER_PATH and PATH; `jupyter` on PATH runs `jupyterPython` when given. */
function machine(jupyterPython?: string, pathFirst: string[] = []): Machine {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-doctor-test-')));
  const home = path.join(dir, 'home');
  const jupyterPath = path.join(dir, 'prefix', 'share', 'jupyter');
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(home, { recursive: true });
  fs.mkdirSync(bin, { recursive: true });
  if (jupyterPython) {
    fs.writeFileSync(path.join(bin, 'jupyter'), `#!${jupyterPython}\nimport sys\nfrom jupyter_core.command import main\nsys.exit(main())\n`, { mode: 0o755 });
  }
  if (JUPYTER_PY) fs.symlinkSync(JUPYTER_PY, path.join(bin, 'python3'));
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, JUPYTER_PATH: jupyterPath, PATH: [...pathFirst, bin].join(path.delimiter) };
  for (const k of ['JUPYTER_DATA_DIR', 'JUPYTER_CONFIG_DIR', 'XDG_DATA_HOME', 'GRADLAB_PYTHON', 'CONDA_PREFIX', 'GRADLAB_BACKEND', 'JUPYTER_PREFER_ENV_PATH']) delete env[k];
  return { dir, home, jupyterPath, bin, env };
}

function doctor(m: Machine, ...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [DOCTOR, '--skip=backends,kernel', ...args], { env: m.env, encoding: 'utf8', timeout: 150_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

/** Run a printed `npm run kernel:install -- <args>` fix as the script does after building. */
function runInstallFix(fix: string, m: Machine): void {
  const match = /^npm run kernel:install(?: -- (.*))?$/.exec(fix.trim());
  assert.ok(match, `not a kernel:install fix: ${fix}`);
  const args = (match[1] ?? '').split(' ').filter(Boolean);
  const r = spawnSync(process.execPath, [INSTALL, ...args], { env: m.env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
}

/** The fix printed under the ✗ line that matches `title`. */
function fixUnder(out: string, title: RegExp): string {
  const lines = out.split('\n');
  const i = lines.findIndex((l) => l.includes('✗') && title.test(l));
  assert.ok(i >= 0, `no ✗ line matching ${title} in:\n${out}`);
  const fix = lines.slice(i + 1).find((l) => /^\s+fix: /.test(l) || /^\s+[✓✗!-] /.test(l));
  assert.ok(fix && /fix: /.test(fix), `no fix under ${lines[i]}`);
  return fix.replace(/^\s+fix: /, '');
}

describe('npm run doctor', function () {
  this.timeout(180_000);
  const made: string[] = [];
  const make = (py?: string, first: string[] = []) => {
    const m = machine(py, first);
    made.push(m.dir);
    return m;
  };
  after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it('reports a missing kernelspec with ✗ and the install command, and exits 1', function () {
    if (SYSTEM_SPECS.length) this.skip(); // a system-wide gradlab kernelspec: "not installed" cannot be staged here
    const m = make(JUPYTER_PY);
    const r = doctor(m);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /✗ the gradlab kernel is not installed: no kernels\/gradlab\/kernel\.json in any Jupyter data folder/);
    assert.ok(r.out.includes(`looked in: ${path.join(m.jupyterPath, 'kernels')}`), r.out);
    if (JUPYTER_PY) {
      assert.equal(fixUnder(r.out, /not installed/), 'npm run kernel:install');
      assert.ok(r.out.includes(`✗ jupyter (${path.join(m.bin, 'jupyter')}) runs Python`), r.out);
      assert.match(r.out, /and does NOT list the gradlab kernel/);
      assert.match(r.out, /✗ \d+ problem\(s\) to fix/);
    } else {
      assert.match(fixUnder(r.out, /not installed/), /pip install jupyterlab/);
    }
    // --json says the same.
    const j = doctor(m, '--json');
    assert.equal(j.code, 1);
    const report = JSON.parse(j.out) as DoctorReport;
    assert.equal(report.ok, false);
    const miss = report.checks.find((c) => c.mark === 'fail' && /not installed/.test(c.title));
    assert.ok(miss?.fix, j.out);
  });

  it('reports an installed kernelspec with ✓, starts the kernel and exits 0', function () {
    const m = make(JUPYTER_PY);
    jupyterPathWithKernel(m.jupyterPath);
    const r = spawnSync(process.execPath, [DOCTOR, '--skip=backends'], { env: m.env, encoding: 'utf8', timeout: 150_000 });
    const out = r.stdout + r.stderr;
    assert.equal(r.status, 0, out);
    assert.ok(out.includes(`✓ kernelspec "gradlab" in ${path.join(m.jupyterPath, 'kernels', 'gradlab')}`), out);
    const launcher = process.platform === 'win32' ? '' : `/bin/sh ${path.join(ROOT, 'kernel', 'launch.sh')} `;
    assert.ok(out.includes(`runs: ${launcher}${process.execPath} ${DOCTOR.replace(/doctor\.js$/, 'kernel.js')} --config-path {connection_file}`), out);
    assert.match(out, /✓ the kernel starts and imports gradlab in a folder outside the checkout \(gradlab \d/);
    if (JUPYTER_PY) assert.match(out, /✓ jupyter \(.*\) runs Python [\d.]+ \(.*\) and lists the gradlab kernel/);
    assert.match(out, /\n✓ nothing is broken/);
    assert.doesNotMatch(out, /✗/);
  });

  /** A kernelspec with one part of its argv (kernelArgv's launcher, Node or kernel.js) pointing at a missing file; the doctor must call it broken. */
  const brokenPart = (part: 'launcher' | 'node' | 'entry', gone: (m: ReturnType<typeof make>) => string, says: string) => {
    const m = make(JUPYTER_PY);
    const file = path.join(jupyterPathWithKernel(m.jupyterPath), 'kernels', 'gradlab', 'kernel.json');
    const spec = JSON.parse(fs.readFileSync(file, 'utf8'));
    const missing = gone(m);
    spec.argv[spec.argv.indexOf(argvParts(spec.argv)[part])] = missing;
    fs.writeFileSync(file, JSON.stringify(spec));
    const r = doctor(m);
    assert.equal(r.code, 1, r.out);
    assert.ok(r.out.includes(`is broken: ${says}, ${missing}, does not exist`), r.out);
    return { m, r, fix: fixUnder(r.out, /is broken/) };
  };

  it('reports a kernelspec whose kernel.js is gone, prints a fix that works', function () {
    const { m, r, fix } = brokenPart('entry', (m) => path.join(m.dir, 'old-checkout', 'dist', 'kernel', 'kernel.js'), 'the kernel it runs');
    if (!JUPYTER_PY) return;
    assert.equal(fix, `npm run kernel:install -- --prefix=${path.join(m.dir, 'prefix')} --python=${JUPYTER_PY}`);
    assert.match(r.out, /✗ jupyter .* lists the BROKEN kernelspec/);
    runInstallFix(fix, m);
    const again = doctor(m);
    assert.equal(again.code, 0, again.out);
    assert.ok(again.out.includes(`✓ kernelspec "gradlab" in ${path.join(m.jupyterPath, 'kernels', 'gradlab')}`), again.out);
  });

  it('reports a kernelspec whose launcher (kernel/launch.sh) is missing', function () {
    if (process.platform === 'win32') this.skip();
    brokenPart('launcher', (m) => path.join(m.dir, 'old-checkout', 'kernel', 'launch.sh'), 'the launcher it runs');
  });

  it('reports a kernelspec whose Node is missing', () => {
    brokenPart('node', (m) => path.join(m.dir, 'nvm', 'v18', 'bin', 'node'), 'the Node it runs');
  });

  it('"it picked the wrong Python": the kernel is in one environment, the Jupyter on PATH runs another', function () {
    if (!JUPYTER_PY) this.skip(); // needs a Python with Jupyter to make two environments from
    const base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-doctor-venvs-')));
    made.push(base);
    const venv = (name: string) => {
      const dir = path.join(base, name);
      const r = spawnSync(JUPYTER_PY, ['-m', 'venv', '--without-pip', '--system-site-packages', dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return path.join(dir, 'bin', 'python3');
    };
    const [a, b] = [venv('env-a'), venv('env-b')];
    // python3 on PATH is env-a's (what kernel:install picks); `jupyter` on PATH runs env-b.
    const m = make(b, [path.dirname(a)]);
    fs.rmSync(path.join(m.bin, 'python3'));
    assert.equal(shebangInterpreter(path.join(m.bin, 'jupyter')), b);
    // Registered into env-a only (what `npm run kernel:install -- --sys-prefix` does there).
    const inA = path.join(base, 'env-a', 'share', 'jupyter');
    jupyterPathWithKernel(inA);
    const r = doctor(m);
    assert.equal(r.code, 1, r.out);
    assert.ok(r.out.includes(`✓ kernelspec "gradlab" in ${path.join(inA, 'kernels', 'gradlab')}`), r.out);
    assert.ok(r.out.includes(`runs Python`) && r.out.includes(`(${b}) and does NOT list the gradlab kernel`), r.out);
    assert.ok(r.out.includes(`! npm run kernel:install registers with Python`) && r.out.includes(`but the Jupyter on PATH runs ${b}`), r.out);
    const fix = fixUnder(r.out, /does NOT list/);
    assert.equal(fix, `npm run kernel:install -- --python=${b}`);
    runInstallFix(fix, m);
    const again = doctor(m);
    assert.equal(again.code, 0, again.out);
    assert.ok(again.out.includes(`(${b}) and lists the gradlab kernel (${path.join(m.home, '.local', 'share', 'jupyter', 'kernels', 'gradlab')})`), again.out);
  });

  it('says how to build when dist/ is missing (npm run doctor starts from plain JavaScript)', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts.doctor, 'node kernel/doctor-start.cjs');
    // A checkout with the starter and no dist/.
    const bare = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-nodist-'));
    made.push(bare);
    fs.mkdirSync(path.join(bare, 'kernel'));
    fs.copyFileSync(path.join(ROOT, 'kernel', 'doctor-start.cjs'), path.join(bare, 'kernel', 'doctor-start.cjs'));
    const r = spawnSync(process.execPath, [path.join(bare, 'kernel', 'doctor-start.cjs')], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stdout, /✗ dist\/ is not built[\s\S]*fix: npm run build/);
    // In this checkout it runs the doctor, passing the options on.
    const ok = spawnSync(process.execPath, [path.join(ROOT, 'kernel', 'doctor-start.cjs'), '--help'], { encoding: 'utf8' });
    assert.equal(ok.status, 0);
    assert.match(ok.stdout, /^Usage: npm run doctor/);
    assert.equal(spawnSync(process.execPath, [path.join(ROOT, 'kernel', 'doctor-start.cjs'), '--bogus'], { encoding: 'utf8' }).status, 2);
  });
});

describe('doctor checks (units)', () => {
  it('flags a dist/ older than its sources, and a missing one, with `npm run build`', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-stale-'));
    try {
      assert.deepEqual(checkBuild(root)[0], { section: 'Build', mark: 'fail', title: 'dist/ is not built: dist/kernel/kernel.js, dist/src/index.js, dist/src/index.d.ts missing', fix: 'npm run build' });
      for (const f of ['dist/kernel/kernel.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/a.js', 'src/a.ts', 'src/index.ts', 'kernel/kernel.ts']) {
        fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
        fs.writeFileSync(path.join(root, f), '');
      }
      const [old, now] = [new Date(Date.now() - 60_000), new Date()];
      for (const f of ['src/a.ts', 'src/index.ts', 'kernel/kernel.ts', 'dist/src/a.js']) fs.utimesSync(path.join(root, f), old, old);
      for (const f of ['dist/kernel/kernel.js', 'dist/src/index.js']) fs.utimesSync(path.join(root, f), now, now);
      assert.deepEqual(staleOutputs(root), []);
      // One source edited after the build.
      fs.utimesSync(path.join(root, 'src/a.ts'), now, now);
      assert.deepEqual(staleOutputs(root), ['src/a.ts']);
      const c = checkBuild(root)[0]!;
      assert.equal(c.mark, 'fail');
      assert.equal(c.title, 'dist/ is older than 1 source file(s): Jupyter runs the old kernel and library');
      assert.deepEqual(c.detail, ['src/a.ts']);
      assert.equal(c.fix, 'npm run build');
      fs.rmSync(path.join(root, 'dist/src/a.js'));
      assert.deepEqual(staleOutputs(root), ['src/a.ts']);
      fs.writeFileSync(path.join(root, 'dist/src/a.js'), '');
      assert.equal(checkBuild(root)[0]!.mark, 'ok');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('loads the cpu backend in a child process and reports what gl.init() would pick', () => {
    const cpu = probeBackend('cpu', process.env);
    assert.equal(cpu.ok, true, JSON.stringify(cpu));
    const none = (step: BackendProbe['step']): BackendProbe => ({ step, ok: false, error: `${step} is not here`, summary: `${step} is not here` });
    const probes = [none('tensorflow-gpu'), { step: 'webgpu' as const, ok: true, device: 'llvmpipe', software: true }, none('tensorflow'), none('wasm'), cpu];
    const checks = checkBackends(probes, {});
    assert.equal(checks.at(-1)!.title, 'gl.init() picks cpu'); // a software webgpu is not auto's pick
    assert.equal(checks.find((c) => c.title.startsWith('wasm'))!.mark, 'fail');
    assert.equal(checks.find((c) => c.title.startsWith('wasm'))!.fix, 'npm install');
    // A forced backend that does not load breaks every notebook.
    const forced = checkBackends(probes, { GRADLAB_BACKEND: 'wasm' }).find((c) => /GRADLAB_BACKEND/.test(c.title))!;
    assert.equal(forced.mark, 'fail');
    assert.equal(forced.fix, 'unset GRADLAB_BACKEND');
    assert.equal(checkBackends(probes, { GRADLAB_BACKEND: 'gpu' }).find((c) => /GRADLAB_BACKEND/.test(c.title))!.mark, 'fail');
    assert.equal(checkBackends(probes.map((p) => ({ ...p, ok: false })), {}).at(-1)!.title, 'no backend loads: gl.init() fails');
  });
});
