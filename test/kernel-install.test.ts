import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { argvParts, kernelSpec, KERNEL_NAME, DISPLAY_NAME } from '../kernel/spec';
import { parseInstallArgs } from '../kernel/install';
import { probePython } from '../kernel/python';
import { tslabSink } from '../kernel/kernel';
import { ROOT } from './helpers/child';

const INSTALL = path.join(ROOT, 'dist', 'kernel', 'install.js');
const SYSTEM_PY = '/usr/bin/python3';

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A python3 that runs but cannot see site-packages, i.e. a Python without Jupyter. */
function pythonWithoutJupyter(): string {
  const dir = tmp('gradlab-nojupyter-');
  const file = path.join(dir, 'python3');
  fs.writeFileSync(file, `#!/bin/sh\nexec ${SYSTEM_PY} -S -I "$@"\n`, { mode: 0o755 });
  return file;
}

describe('kernelspec', () => {
  it('starts the compiled gradlab kernel with this Node and names it "gradlab (TypeScript)"', () => {
    const spec = kernelSpec() as { argv: string[]; display_name: string; language: string };
    assert.equal(KERNEL_NAME, 'gradlab');
    assert.equal(spec.display_name, DISPLAY_NAME);
    assert.equal(spec.display_name, 'gradlab (TypeScript)');
    assert.equal(spec.language, 'typescript');
    // On Linux and macOS through the shell launcher (kernel/launch.sh), which runs this Node.
    const sh = process.platform === 'win32' ? [] : ['/bin/sh', path.join(ROOT, 'kernel', 'launch.sh')];
    assert.deepEqual(spec.argv.slice(0, sh.length), sh);
    const parts = argvParts(spec.argv);
    assert.equal(parts.launcher, sh[1]);
    assert.equal(parts.node, process.execPath);
    assert.equal(parts.entry, path.join(ROOT, 'dist', 'kernel', 'kernel.js'));
    assert.ok(fs.existsSync(parts.entry!), 'kernel entry is built');
    assert.deepEqual(spec.argv.slice(sh.length + 2), ['--config-path', '{connection_file}']);
    assert.deepEqual(argvParts([process.execPath, parts.entry!, '--config-path', 'f']), { node: process.execPath, entry: parts.entry });
  });

  it('parses --user, --sys-prefix, --prefix and --python, and rejects unknown options', () => {
    assert.deepEqual(parseInstallArgs([]), { scope: 'user' });
    assert.deepEqual(parseInstallArgs(['--sys-prefix']), { scope: 'sys-prefix' });
    assert.deepEqual(parseInstallArgs(['--prefix=/opt/x', '--python', '/usr/bin/python3']), {
      scope: 'prefix',
      prefix: '/opt/x',
      python: '/usr/bin/python3',
    });
    assert.throws(() => parseInstallArgs(['--global']), /unknown option --global; use --user, --sys-prefix/);
    assert.throws(() => parseInstallArgs(['--prefix']), /--prefix needs a value/);
  });
});

describe('npm run kernel:install', () => {
  const hasJupyter = probePython(SYSTEM_PY).hasJupyter;

  it('installs the kernelspec under --prefix with Jupyter and says how to open the notebooks', function () {
    if (!hasJupyter) {
      if (process.env.CI === 'true') assert.fail(`${SYSTEM_PY} has no Jupyter in CI: .ci/run must install jupyter-notebook`);
      this.skip();
    }
    const prefix = tmp('gradlab-prefix-');
    const r = spawnSync(process.execPath, [INSTALL, `--prefix=${prefix}`, `--python=${SYSTEM_PY}`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const file = path.join(prefix, 'share', 'jupyter', 'kernels', 'gradlab', 'kernel.json');
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), kernelSpec());
    assert.match(r.stdout, /Installed the Jupyter kernel "gradlab \(TypeScript\)"/);
    assert.match(r.stdout, /npm run lab/);
    assert.match(r.stdout, /JUPYTER_PATH includes/);
    // Jupyter itself finds it there.
    const list = spawnSync(SYSTEM_PY, ['-m', 'jupyter_client.kernelspecapp', 'list', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, JUPYTER_PATH: path.join(prefix, 'share', 'jupyter') },
    });
    const specs = (JSON.parse(list.stdout) as { kernelspecs: Record<string, { resource_dir: string }> }).kernelspecs;
    assert.equal(specs.gradlab?.resource_dir, path.dirname(file));
  });

  it('says when the named Python has no Jupyter and names the fix (--python)', function () {
    if (!fs.existsSync(SYSTEM_PY)) this.skip();
    const r = spawnSync(process.execPath, [INSTALL, `--python=${pythonWithoutJupyter()}`], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /has no Jupyter: jupyter_client is not importable/);
    assert.match(r.stderr, /--python=/);
  });

  it('says when the named Python does not run', () => {
    const r = spawnSync(process.execPath, [INSTALL, '--python=/nonexistent/python3'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--python=\/nonexistent\/python3: this Python does not run/);
  });
});

describe('npm run lab', () => {
  it('with no Jupyter, says how to get one and points to npm start', function () {
    if (!fs.existsSync(SYSTEM_PY)) this.skip();
    const LAB = path.join(ROOT, 'dist', 'kernel', 'lab.js');
    const r = spawnSync(process.execPath, [LAB, `--python=${pythonWithoutJupyter()}`], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /gradlab lab: .* has no Jupyter/);
    assert.match(r.stderr, /pip install jupyterlab/);
    assert.match(r.stderr, /npm start/);
  });
});

describe('the kernel display sink', () => {
  it('sends a whole bundle as one display_data, then updates by display_id', () => {
    const sent: { msg: { data: unknown; metadata: unknown; transient: unknown }; update: boolean }[] = [];
    const jupyter = { lastWriteDisplayData: (msg: (typeof sent)[0]['msg'], update: boolean) => sent.push({ msg, update }) };
    const sink = tslabSink(jupyter);
    const data = { 'text/plain': 'chart', 'image/svg+xml': '<svg/>', 'application/vnd.vegalite.v5+json': { mark: 'line' } };
    sink({ data }, { update: false });
    sink({ data }, { displayId: 'abc', update: true });
    assert.equal(sent.length, 2);
    assert.deepEqual(sent[0], { msg: { data, metadata: {}, transient: {} }, update: false });
    assert.deepEqual(sent[1], { msg: { data, metadata: {}, transient: { display_id: 'abc' } }, update: true });
  });

  it('refuses to display before any cell has run, with a message saying so', () => {
    const sink = tslabSink({ lastWriteDisplayData: null });
    assert.throws(() => sink({ data: { 'text/plain': 'x' } }, { update: false }), /display called before any cell ran/);
  });
});
