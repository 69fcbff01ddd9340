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
import { formatFailure, runNotebook, type NotebookRun } from '../kernel/runner';
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

/**
 * Notebooks run this many at a time (GRADLAB_WEBGPU_JOBS, default 2). On a software
 * adapter a notebook's process keeps about one core busy (the cells' JS and Dawn's GL
 * calls are one thread; llvmpipe's compute threads mostly wait on tiny dispatches), so
 * two at once on a 2-core machine take about half the wall time; each test still
 * reports its own notebook, in order.
 */
const JOBS = Math.max(1, Math.floor(Number(process.env.GRADLAB_WEBGPU_JOBS ?? 2)) || 1);
const runs = new Map<string, Promise<NotebookRun>>();
let running = 0;
const queue: (() => void)[] = [];
/** The run of `file`: started now, or queued until fewer than JOBS notebooks run. */
function runOf(file: string): Promise<NotebookRun> {
  let p = runs.get(file);
  if (!p) {
    p = new Promise<void>((ok) => (running < JOBS ? (running++, ok()) : queue.push(() => ok())))
      .then(() => runNotebook(file, { timeoutMs: NOTEBOOK_MS, env: ENV }))
      .finally(() => {
        const next = queue.shift();
        if (next) next();
        else running--;
      });
    runs.set(file, p);
  }
  return p;
}

describe('the chapter notebooks on forced webgpu (GRADLAB_BACKEND=webgpu)', function () {
  const times: string[] = [];
  let total = 0;

  before(function () {
    needWebgpu(this);
    for (const file of notebooks) void runOf(file).catch(() => undefined);
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
      // Waiting in the queue counts towards mocha's limit, not the notebook's own (timeoutMs).
      this.timeout(notebooks.length * NOTEBOOK_MS);
      const r = await runOf(file);
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
