/**
 * Pipeline parallelism on real ranks (src/dist/pipeline.ts): a 4-layer MLP cut
 * into p = 2, 3, 4 stages, GPipe and 1F1B, m = 1..8 micro-batches (sizes not all
 * equal), against gradlab's unsplit model on the full batch in this process (loss
 * and every gradient within 1e-5); the recorded timeline respects every
 * dependency and follows the schedule's order; the measured peak of in-flight
 * micro-batches equals pipelineSchedule's; tf.memory().numTensors is constant
 * per step in every rank.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';
import * as nn from '../src/nn';
import { ROOT } from './helpers/child';
import { useBackend } from './helpers/backend';
import { assertClose } from './helpers/close';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const dist = require(path.join(ROOT, 'dist', 'src', 'dist')) as typeof import('../src/dist');

const wave = (n: number, a: number, b: number, s: number) => Array.from({ length: n }, (_, i) => Math.sin(a * i + b) * s);
const WIDTHS = [6, 8, 7, 8, 3];
const B = 8;
const MODEL = WIDTHS.slice(1).map((w, l) => ({ W: wave(WIDTHS[l]! * w, 0.41 + 0.1 * l, 0.3 * l, 0.5), b: wave(w, 1.3, l, 0.1), shape: [WIDTHS[l]!, w] }));
const X = wave(B * WIDTHS[0]!, 0.37, 0.2, 1);
const T = wave(B * WIDTHS[4]!, 0.91, 1.1, 0.5);
const RUNS = (['gpipe', '1f1b'] as const).flatMap((schedule) => [1, 2, 3, 4, 5, 6, 7, 8].map((m) => ({ schedule, m })));

interface Run {
  schedule: 'gpipe' | '1f1b';
  m: number;
  loss: number | null;
  grads: number[][];
  timeline: import('../src/dist').PipelineEvent[];
  peak: number;
  peakBytes: number;
  counts: number[];
}

/** Run in every rank: one pipeline step per (schedule, m), twice each for the leak check. */
async function rankBody(pg: import('../src/dist').ProcessGroup, gl: typeof import('../src'), args: [typeof MODEL, number[], number[], number, typeof RUNS]) {
  const tf = gl.tf;
  const [model, x, t, B, runs] = args;
  const dense = model.map((l) => ({ weight: tf.tensor(l.W, l.shape), bias: tf.tensor(l.b) }));
  const stage = new gl.dist.PipelineStage(pg, dense);
  for (const l of dense) (l.weight.dispose(), l.bias.dispose());
  const last = pg.rank === pg.worldSize - 1;
  const input = pg.rank === 0 ? tf.tensor(x, [B, model[0]!.shape[0]!]) : undefined;
  const target = last ? tf.tensor(t, [B, model[model.length - 1]!.shape[1]!]) : undefined;
  const out: Run[] = [];
  for (const { schedule, m } of runs) {
    const counts: number[] = [];
    let rec: Run | null = null;
    for (let step = 0; step < 2; step++) {
      counts.push(tf.memory().numTensors);
      const res = await gl.dist.runPipeline(stage, { microBatches: m, schedule, batchSize: B, input, target });
      if (step === 0) {
        const grads = await Promise.all(stage.parameters().map(async (p) => Array.from(await p.grad!.data())));
        rec = { schedule, m, loss: res.loss, grads, timeline: res.timeline, peak: res.peakActivations, peakBytes: res.peakActivationBytes, counts };
      }
      gl.ag.zeroGrad(stage.parameters());
    }
    counts.push(tf.memory().numTensors);
    out.push(rec!);
  }
  input?.dispose();
  target?.dispose();
  stage.dispose();
  return { firstLayer: stage.firstLayer, layers: stage.layers.length, runs: out };
}

/** The unsplit model on the full batch, in this process. */
function dense() {
  const ps = MODEL.map((l) => ({ W: ag.param(tf.tensor(l.W, l.shape)), b: ag.param(tf.tensor(l.b)) }));
  const x = ag.tensor(tf.tensor(X, [B, WIDTHS[0]!]));
  let h: ag.Tensor = x;
  ps.forEach((p, l) => {
    h = nn.linear(h, p.W, p.b);
    if (l < ps.length - 1) h = nn.gelu(h);
  });
  const loss = nn.mse(h, tf.tensor(T, [B, WIDTHS[4]!]));
  const lv = loss.data.dataSync()[0]!;
  loss.backward();
  const grads = ps.flatMap((p) => [Array.from(p.W.grad!.dataSync()), Array.from(p.b.grad!.dataSync())]);
  loss.dispose();
  x.dispose();
  for (const p of ps) (p.W.dispose(), p.b.dispose());
  return { loss: lv, grads };
}

const close = assertClose;

describe('dist/pipeline: GPipe and 1F1B on real ranks', function () {
  this.timeout(60_000);
  before(() => useBackend('cpu'));

  it('timelineViolations finds a forward that starts before its input exists', () => {
    const ok = dist.pipelineSchedule({ stages: 2, microBatches: 2, schedule: 'gpipe' }).ops;
    assert.deepEqual(dist.timelineViolations(ok, 2, 2), []);
    const bad = ok.map((e) => (e.stage === 1 && e.op === 'F' && e.microBatch === 0 ? { ...e, start: 0.5 } : e));
    assert.match(dist.timelineViolations(bad, 2, 2).join('\n'), /F0 on stage 1 starts \(0\.500\) before it ends on stage 0/);
    assert.match(dist.timelineViolations(ok.slice(1), 2, 2).join('\n'), /stage 0 misses F of micro-batch 0/);
    // runPipeline's ranks share one clock: by default 2 µs early is a violation; a tolerance for unshared clocks allows it
    const near = ok.map((e) => (e.stage === 1 && e.op === 'F' && e.microBatch === 0 ? { ...e, start: ok.find((x) => x.stage === 0 && x.op === 'F' && x.microBatch === 0)!.end - 0.002 } : e));
    assert.match(dist.timelineViolations(near, 2, 2).join('\n'), /F0 on stage 1 starts \(0\.998\) before it ends on stage 0 \(1\.000\)/, '2 µs early, exact by default');
    assert.deepEqual(dist.timelineViolations(near, 2, 2, 0.05), [], '2 µs early: within a 0.05 ms tolerance');
    for (const bad of [-1, NaN, Infinity]) assert.throws(() => dist.timelineViolations(ok, 2, 2, bad), /clockSkewMs must be a finite number of ms ≥ 0/);
  });

  for (const p of [2, 3, 4]) {
    it(`p = ${p}: loss and every gradient equal the unsplit model for GPipe and 1F1B, m = 1..8; timeline, peaks, no leaks`, async () => {
      const ref = dense();
      const ranks = await dist.spawnRanks({ nproc: p, fn: rankBody, args: [MODEL, X, T, B, RUNS], backend: 'cpu', timeoutMs: 40_000 });
      const res = ranks.map((r) => r.result as { firstLayer: number; layers: number; runs: Run[] });
      RUNS.forEach(({ schedule, m }, k) => {
        const what = `p=${p} ${schedule} m=${m}`;
        const plan = dist.pipelineSchedule({ stages: p, microBatches: m, schedule });
        close([res[p - 1]!.runs[k]!.loss!], [ref.loss], `${what}: loss`);
        const grads = res.flatMap((q) => q.runs[k]!.grads);
        assert.equal(grads.length, ref.grads.length, `${what}: every layer on exactly one stage`);
        grads.forEach((g, i) => close(g, ref.grads[i]!, `${what}: gradient ${i} (${i % 2 ? 'b' : 'W'}${i >> 1})`));
        const timeline = res.flatMap((q) => q.runs[k]!.timeline);
        assert.deepEqual(dist.timelineViolations(timeline, p, m), [], what);
        res.forEach((q, r) => {
          const run = q.runs[k]!;
          // the stage ran its ops in the schedule's order, and held as many micro-batches as the schedule says
          assert.deepEqual(run.timeline.map((e) => `${e.op}${e.microBatch}`), plan.ops.filter((o) => o.stage === r).map((o) => `${o.op}${o.microBatch}`), `${what} rank ${r}: order`);
          assert.equal(run.peak, plan.peakActivations[r], `${what} rank ${r}: peak in-flight micro-batches`);
          assert.equal(run.peak, schedule === 'gpipe' ? m : Math.min(m, p - r), `${what} rank ${r}: m for GPipe, min(m, p − r) for 1F1B`);
          assert.ok(run.peakBytes > 0, `${what} rank ${r}: peak bytes`);
          assert.ok(run.counts.every((n) => n === run.counts[0]), `${what} rank ${r}: tf.memory().numTensors per step ${run.counts.join(', ')}`);
        });
      });
      // 1F1B never holds more activation bytes than GPipe, and strictly less on stage 0 once m > p
      res.forEach((q, r) => {
        for (let m = 1; m <= 8; m++) {
          const g = q.runs[m - 1]!.peakBytes, f = q.runs[8 + m - 1]!.peakBytes;
          assert.ok(f <= g, `p=${p} m=${m} rank ${r}: 1F1B ${f} B vs GPipe ${g} B`);
          if (r === 0 && m > p) assert.ok(f < g, `p=${p} m=${m} stage 0: 1F1B ${f} B should be < GPipe ${g} B`);
        }
      });
    });
  }

  it('clear errors: fewer layers than stages, bad micro-batch counts', async () => {
    const ranks = await dist.spawnRanks({
      nproc: 2,
      backend: 'cpu',
      fn: async (pg: import('../src/dist').ProcessGroup, gl: typeof import('../src')) => {
        const tf = gl.tf;
        const msgs: string[] = [];
        const w = tf.zeros([2, 2]), b = tf.zeros([2]);
        try {
          new gl.dist.PipelineStage(pg, [{ weight: w, bias: b }]);
        } catch (e) {
          msgs.push((e as Error).message);
        }
        const st = new gl.dist.PipelineStage(pg, [{ weight: w, bias: b }, { weight: w, bias: b }]);
        try {
          await gl.dist.runPipeline(st, { microBatches: 5, batchSize: 4, input: tf.zeros([4, 2]), target: tf.zeros([4, 2]) });
        } catch (e) {
          msgs.push((e as Error).message);
        }
        st.dispose();
        return msgs;
      },
    });
    for (const r of ranks) {
      const [a, b] = r.result as string[];
      assert.match(a!, /1 layers cannot fill 2 stages .*use at most 1 ranks or more layers/);
      assert.match(b!, /microBatches must be an integer in 1\.\.4 \(the batch size\), got 5/);
    }
  });
});
