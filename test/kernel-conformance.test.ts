/**
 * Jupyter's kernel conformance suite (Debian python3-jupyter-kernel-test,
 * `jupyter_kernel_test.KernelTests`) against the gradlab kernel, through
 * test/conformance/test_gradlab_kernel.py: every test must pass, none may be
 * skipped.
 */
import { strict as assert } from 'assert';
import { execFile, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { jupyterPathWithKernel } from '../kernel/spec';
import { ROOT } from './helpers/child';

const PYTHON = '/usr/bin/python3';
const SUITE = path.join(ROOT, 'test', 'conformance', 'test_gradlab_kernel.py');
/** The tests of jupyter_kernel_test 0.4.5; each is enabled by a sample in the suite file. */
const EXPECTED = ['test_clear_output', 'test_completion', 'test_display_data', 'test_error', 'test_execute_result',
  'test_execute_stderr', 'test_execute_stdout', 'test_history', 'test_inspect', 'test_is_complete',
  'test_kernel_info', 'test_pager'];

interface SuiteRecord {
  id: string;
  outcome: 'passed' | 'failed' | 'error' | 'skipped';
  detail: string;
}

describe('the Jupyter kernel conformance suite (jupyter_kernel_test)', function () {
  this.timeout(240_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-conformance-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('passes every test against the gradlab kernel, with none skipped', async function () {
    const probe = spawnSync(PYTHON, ['-c', 'import jupyter_kernel_test, jupyter_client'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      const why = `the kernel conformance suite is not installed for ${PYTHON} (apt install python3-jupyter-kernel-test): ` +
        (probe.error?.message ?? probe.stderr.trim().split('\n').pop());
      if (process.env.CI === 'true') assert.fail(why);
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    const jupyter = jupyterPathWithKernel(path.join(tmp, 'jupyter'));
    const json = path.join(tmp, 'results.json');
    const env = { ...process.env, JUPYTER_PATH: jupyter, JUPYTER_RUNTIME_DIR: path.join(tmp, 'runtime'), JUPYTER_PLATFORM_DIRS: '1',
      PYTHONDONTWRITEBYTECODE: '1' };
    const out = await new Promise<string>((resolve) => {
      execFile(PYTHON, [SUITE, '--json', json], { cwd: ROOT, env, timeout: 200_000, maxBuffer: 16 << 20 },
        (_err, stdout, stderr) => resolve(stdout + stderr));
    });
    assert.ok(fs.existsSync(json), `the suite did not finish:\n${out.slice(-4000)}`);
    const { testsRun, records } = JSON.parse(fs.readFileSync(json, 'utf8')) as { testsRun: number; records: SuiteRecord[] };
    const bad = records.filter((r) => r.outcome === 'failed' || r.outcome === 'error');
    assert.deepEqual(bad.map((r) => `${r.id}: ${r.outcome}\n${r.detail}`), [], `conformance failures:\n${out.slice(-4000)}`);
    const skipped = records.filter((r) => r.outcome === 'skipped');
    assert.deepEqual(skipped.map((r) => `${r.id}: ${r.detail}`), [], 'skipped tests (a feature the kernel could offer is missing)');
    const passed = records.filter((r) => r.outcome === 'passed').map((r) => r.id.split('.').pop());
    assert.deepEqual(EXPECTED.filter((t) => !passed.includes(t)), [], 'tests that did not pass');
    assert.equal(testsRun, passed.length);
  });
});
