/**
 * Every chapter notebook runs top to bottom on forced webgpu (GRADLAB_BACKEND=webgpu),
 * in gradlab's own Node runner, as test/notebooks.test.ts runs them on the default
 * backend: the notebooks are meant for a learner's GPU, read tensors back only with
 * `await t.data()`, and use the asynchronous checking tools (gradcheckAsync).
 *
 * Here webgpu is Dawn on Mesa's software renderer (llvmpipe): correct, slow. Where
 * Dawn cannot load, the tests skip and say why, except under CI=true (CI installs
 * Mesa), where they fail. Each notebook must say, in its banner, that it ran on webgpu.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { listNotebooks } from '../kernel/run';
import { formatFailure, runNotebook } from '../kernel/runner';
import { needWebgpu } from './helpers/backend';
import { ROOT } from './helpers/child';

const NOTEBOOKS = path.join(ROOT, 'notebooks');
/** Per notebook: 05-checkpointing takes about 5.5 minutes on llvmpipe; the limit leaves room for a slower CI machine. */
const NOTEBOOK_MS = 20 * 60_000;
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-notebooks-webgpu-'));
const ENV: NodeJS.ProcessEnv = {
  ...process.env,
  GRADLAB_BACKEND: 'webgpu',
  JUPYTER_RUNTIME_DIR: path.join(TMP, 'runtime'),
  JUPYTER_PLATFORM_DIRS: '1',
};

const notebooks = listNotebooks(NOTEBOOKS);

describe('the chapter notebooks on forced webgpu (GRADLAB_BACKEND=webgpu)', function () {
  const times: string[] = [];
  let total = 0;

  before(function () {
    needWebgpu(this);
  });

  after(() => {
    fs.rmSync(TMP, { recursive: true, force: true });
    if (times.length > 0) console.log(`      webgpu notebook times: ${times.join(', ')}; total ${total.toFixed(0)} s`);
  });

  it('exist: notebooks/ holds at least one notebook', () => {
    assert.ok(notebooks.length > 0, `no .ipynb files under ${NOTEBOOKS}`);
  });

  for (const file of notebooks) {
    const rel = path.relative(ROOT, file);
    it(`${rel} runs top to bottom in the Node runner on webgpu`, async function () {
      this.timeout(NOTEBOOK_MS + 60_000);
      const r = await runNotebook(file, { timeoutMs: NOTEBOOK_MS, env: ENV });
      times.push(`${path.basename(file, '.ipynb')} ${r.seconds.toFixed(0)} s`);
      total += r.seconds;
      assert.ok(r.ok, r.failure && formatFailure(rel, r.failure));
      // The banner (gl.describe()) says which backend ran the cells: it must be webgpu.
      const text = (r.notebook?.cells ?? [])
        .flatMap((c) => (c as { outputs?: { text?: string | string[] }[] }).outputs ?? [])
        .map((o) => (Array.isArray(o.text) ? o.text.join('') : (o.text ?? '')))
        .join('\n');
      const banners = [...text.matchAll(/gradlab \S+ \| backend (\S+)/g)].map((m) => m[1]);
      assert.ok(banners.length > 0, `${rel} printed no gl.describe() banner, so its backend is unknown`);
      assert.deepEqual([...new Set(banners)], ['webgpu'], `${rel} ran on ${banners.join(', ')}`);
    });
  }
});
