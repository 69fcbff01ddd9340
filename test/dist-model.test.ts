/**
 * The pure parts of distributed training on paper: the α–β cost model and
 * nccl-tests' bandwidths (src/dist/cost.ts), ZeRO and DP × TP × PP memory and the
 * planner (src/dist/plan.ts), and the GPipe / 1F1B schedules
 * (src/dist/pipeline-schedule.ts), against the papers' closed forms and figures
 * and against numbers worked by hand.
 */
import { strict as assert } from 'assert';
import { algbw, busbw, busbwFactor, costCoefficients, fitAlphaBeta, predictRows, predictTime, type CollectiveRow } from '../src/dist/cost';
import { layerActivationBytes, proposePlan, rankMemory, zeroBytes, zeroCommunication, zeroMemoryRows } from '../src/dist/plan';
import { bubbleFraction, bubbleRatio, pipelineSchedule } from '../src/dist/pipeline-schedule';
import { llamaLike7B, transformerParams } from '../src/probes/memory';

const close = (a: number, b: number, rel = 1e-12, what = '') => assert.ok(Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b)), `${what}: ${a} vs ${b}`);
const MiB = 2 ** 20;

describe('dist/cost: α–β model', () => {
  const ab = { alpha: 50e-6, beta: 1 / 1.2e9 };
  it('predicts the closed forms', () => {
    const S = 64 * MiB;
    close(predictTime('all-reduce', S, 4, ab), 6 * 50e-6 + 1.5 * S / 1.2e9);
    close(predictTime('all-reduce', S, 4, ab, 'halving-doubling'), 4 * 50e-6 + 1.5 * S / 1.2e9);
    close(predictTime('all-reduce', S, 4, ab, 'naive'), 6 * (50e-6 + S / 1.2e9));
    close(predictTime('reduce-scatter', S, 4, ab), 3 * 50e-6 + 0.75 * S / 1.2e9);
    close(predictTime('all-gather', S, 8, ab), 7 * 50e-6 + (7 / 8) * S / 1.2e9);
    // naive all-gather through rank 0: 3 blocks of S/4 in, 3 whole outputs S out
    close(predictTime('all-gather', S, 4, ab, 'naive'), 6 * 50e-6 + (3 * S / 4 + 3 * S) / 1.2e9);
    close(predictTime('reduce-scatter', S, 4, ab, 'naive'), 6 * 50e-6 + (3 * S + 3 * S / 4) / 1.2e9);
    close(predictTime('broadcast', S, 8, ab), 3 * (50e-6 + S / 1.2e9));
    close(predictTime('p2p', S, 2, ab), 50e-6 + S / 1.2e9);
    assert.equal(predictTime('all-reduce', S, 1, ab), 0);
    // ring all-reduce = ring reduce-scatter + ring all-gather
    close(predictTime('all-reduce', S, 5, ab), predictTime('reduce-scatter', S, 5, ab) + predictTime('all-gather', S, 5, ab));
  });
  it('busbw by nccl-tests’ formulas, worked by hand', () => {
    // 64 MiB all-reduce in 0.1 s on 4 ranks: algbw 671.09 MB/s, busbw × 1.5 = 1006.63 MB/s
    close(algbw(64 * MiB, 0.1), 671088640);
    close(busbw('all-reduce', 64 * MiB, 0.1, 4), 1006632960);
    close(busbw('reduce-scatter', 64 * MiB, 0.1, 4), 503316480);
    close(busbw('all-gather', 64 * MiB, 0.1, 2), 335544320);
    close(busbw('broadcast', 64 * MiB, 0.1, 8), 671088640);
    assert.equal(busbwFactor('all-reduce', 2), 1);
  });
  it('busbw of the ring model tends to 1/β for large messages', () => {
    for (const n of [2, 3, 4, 8]) {
      const rows = predictRows('all-reduce', [2 ** 34], [n], ab);
      close(rows[0]!.busbw, 1.2e9, 1e-4, `n=${n}`);
    }
  });
  it('the fit recovers α and β exactly from synthetic data', () => {
    const truth = { alpha: 37e-6, beta: 1 / 0.9e9 };
    const rows: CollectiveRow[] = [];
    for (const n of [2, 4]) for (let s = 1024; s <= 256 * MiB; s *= 4) rows.push({ collective: 'all-reduce', n, bytes: s, seconds: predictTime('all-reduce', s, n, truth) });
    rows.push({ collective: 'p2p', n: 2, bytes: MiB, seconds: predictTime('p2p', MiB, 2, truth) });
    rows.push({ collective: 'all-reduce', n: 4, bytes: MiB, algorithm: 'halving-doubling', seconds: predictTime('all-reduce', MiB, 4, truth, 'halving-doubling') });
    const fit = fitAlphaBeta(rows);
    close(fit.alpha, truth.alpha, 1e-9, 'alpha');
    close(fit.beta, truth.beta, 1e-9, 'beta');
    assert.ok(fit.rmsRelativeError < 1e-9);
    // and a wrong model is detected: naive times at n = 2 and 4 fitted as ring leave large residuals
    const naive = rows.slice(0, 20).map((r) => ({ ...r, seconds: predictTime('all-reduce', r.bytes, r.n, truth, 'naive') }));
    assert.ok(fitAlphaBeta(naive).rmsRelativeError > 0.05);
  });
  it('clear errors on bad input', () => {
    assert.throws(() => predictTime('all-reduce', 1024, 3, ab, 'halving-doubling'), /power of two, got n = 3/);
    assert.throws(() => predictTime('broadcast', 1024, 3, ab, 'ring'), /broadcast has no 'ring'/);
    assert.throws(() => predictTime('all-reduce', -1, 3, ab), /bytes must be/);
    assert.throws(() => predictTime('all-reduce', 1, 2.5, ab), /n must be a finite integer/);
    assert.throws(() => costCoefficients('gather' as never, 1, 2), /unknown collective 'gather'/);
    assert.throws(() => algbw(1, 0), /seconds must be/);
    assert.throws(() => fitAlphaBeta([{ collective: 'all-reduce', n: 2, bytes: 1024, seconds: 1e-3 }]), /at least two rows/);
    assert.throws(() => fitAlphaBeta([1, 2].map(() => ({ collective: 'all-reduce' as const, n: 2, bytes: 1024, seconds: 1e-3 }))), /cannot separate α from β/);
    assert.throws(() => fitAlphaBeta([{ collective: 'all-reduce', n: 2, bytes: 1, seconds: 1 }, { collective: 'all-reduce', n: 1, bytes: 9, seconds: 1 }]), /row 1 has n = 1/);
  });
});

describe('dist/plan: ZeRO and DP × TP × PP memory', () => {
  it('reproduces ZeRO’s Figure 1: 7.5B parameters, N_d = 64', () => {
    const gbOf = (s: 0 | 1 | 2 | 3) => zeroBytes(7.5e9, s, 64).total / 1e9;
    assert.equal(gbOf(0), 120);
    assert.equal(gbOf(1).toFixed(1), '31.4');
    assert.equal(gbOf(2).toFixed(1), '16.6');
    assert.equal(gbOf(3).toFixed(1), '1.9');
    close(gbOf(1), 30 + 90 / 64);
    close(gbOf(2), 15 + 105 / 64);
    close(gbOf(3), 120 / 64);
    const z2 = zeroBytes(7.5e9, 2, 64);
    close(z2.parameters, 15e9);
    close(z2.gradients, 15e9 / 64);
  });
  it('rows for plots: 3 blocks × stages × N_d, summing to zeroBytes', () => {
    const rows = zeroMemoryRows(7e9, [8, 64, 1024]);
    assert.equal(rows.length, 4 * 3 * 3);
    const z3 = rows.filter((r) => r.stage === 3 && r.dataParallel === 1024).reduce((a, r) => a + r.gb, 0);
    close(z3, (16 * 7) / 1024);
    assert.throws(() => zeroMemoryRows(7e9, []), /non-empty array/);
  });
  it('communication: 2Ψ for stages 0–2, 3Ψ for stage 3', () => {
    for (const s of [0, 1, 2] as const) assert.equal(zeroCommunication(1e9, s, 8).elements, 2e9);
    assert.equal(zeroCommunication(1e9, 3, 8).elements, 3e9);
    close(zeroCommunication(1e9, 1, 8).exact, 1.75e9);
  });
  it('activations split by tensor parallelism as Korthikanti et al. 2022 eqs. 2–3', () => {
    const shape = { seq: 2048, batch: 1, hidden: 12288, heads: 96 };
    const [s, b, h, a, t] = [2048, 1, 12288, 96, 8];
    close(layerActivationBytes(shape, { tp: t, sequenceParallel: false, recompute: 'none' }), s * b * h * (10 + 24 / t + (5 * a * s) / (h * t)));
    close(layerActivationBytes(shape, { tp: t, sequenceParallel: true, recompute: 'none' }), ((s * b * h) / t) * (34 + (5 * a * s) / h));
    close(layerActivationBytes(shape, { tp: t, recompute: 'selective' }), (34 * s * b * h) / t);
  });
  it('divides states by TP·PP and holds min(m, p) micro-batches on the first stage', () => {
    const model = { params: 16e9, layers: 32, hidden: 4096, heads: 32, seq: 2048 };
    const m = rankMemory(model, { tp: 4, pp: 4, dp: 2, zero: 1, microBatches: 16 });
    close(m.parameters, 2e9);
    close(m.optimizer, (12 * 1e9) / 2);
    close(m.activations, 4 * 8 * ((34 * 2048 * 4096) / 4));
    close(m.total, m.parameters + m.gradients + m.optimizer + m.activations);
  });
  it('plans: 125M on one 80 GB GPU → DP', () => {
    const p = proposePlan({ params: 125e6, layers: 12, hidden: 768, heads: 12, seq: 2048 }, 80e9, 1);
    assert.equal(p.kind, 'DP');
    assert.deepEqual([p.dp, p.tp, p.pp, p.zero], [1, 1, 1, 0]);
    assert.ok(p.fits && p.reasons.some((r) => /fits one GPU/.test(r)));
  });
  it('plans: LLaMA-7B on 8 × 80 GB → ZeRO', () => {
    const spec = llamaLike7B;
    const p = proposePlan({ params: transformerParams(spec), layers: spec.layers, hidden: spec.hidden, heads: spec.heads, seq: spec.seq }, 80e9, 8);
    assert.match(p.kind, /^ZeRO/);
    assert.equal(p.dp, 8);
    assert.equal(p.tp * p.pp, 1);
    assert.ok(p.memory.total <= 0.9 * 80e9 && p.fits);
    assert.ok(p.reasons.some((r) => /does not fit one GPU/.test(r)), p.reasons.join('\n'));
  });
  it('plans: 70B on 64 × 80 GB → TP 8 × DP 8 with ZeRO-1 (before any pipeline: ZeRO-1 costs no communication)', () => {
    const m = { params: 70e9, layers: 80, hidden: 8192, heads: 64, seq: 4096 };
    const p = proposePlan(m, 80e9, 64);
    assert.equal(p.kind, 'TP 8 × DP 8 (ZeRO-1)');
    assert.deepEqual([p.tp, p.pp, p.dp, p.zero], [8, 1, 8, 1]);
    assert.ok(rankMemory(m, { tp: 8, dp: 8 }).total > p.budget, 'without ZeRO-1 it should not fit');
    assert.ok(p.fits && p.memory.total <= p.budget);
    assert.ok(p.reasons.some((r) => /even ZeRO-3/.test(r)) && p.reasons.some((r) => /with ZeRO-1 over the 8 data-parallel ranks/.test(r)), p.reasons.join('\n'));
  });
  it('plans: 175B on 64 × 80 GB → TP 8 × PP 4 × DP 2 with ZeRO-1 (no ZeRO-2 with a pipeline)', () => {
    const m = { params: 175e9, layers: 96, hidden: 12288, heads: 96, seq: 2048 };
    const p = proposePlan(m, 80e9, 64);
    assert.equal(p.kind, 'TP 8 × PP 4 × DP 2 (ZeRO-1)');
    assert.equal(p.tp * p.pp * p.dp, 64);
    assert.equal(p.microBatches, 4 * p.pp);
    close(p.bubble, (p.pp - 1) / (p.microBatches + p.pp - 1));
    assert.ok(rankMemory(m, { tp: 8, dp: 8, zero: 2 }).total > p.budget, 'TP 8 × DP 8 with ZeRO-2 should not fit');
    assert.ok(rankMemory(m, { tp: 8, pp: 4, dp: 2, microBatches: 16 }).total > p.budget, 'the pipeline without ZeRO-1 should not fit');
    assert.ok(p.fits && p.memory.total <= p.budget);
    assert.ok(p.reasons.some((r) => /pipeline/.test(r)), p.reasons.join('\n'));
  });
  it('plans: LLaMA-7B on 8 × 24 GB → TP 4 × DP 2 with ZeRO-1 (ZeRO-3 alone cannot shard the activations)', () => {
    const spec = llamaLike7B;
    const p = proposePlan({ params: transformerParams(spec), layers: spec.layers, hidden: spec.hidden, heads: spec.heads, seq: spec.seq }, 24e9, 8);
    assert.equal(p.kind, 'TP 4 × DP 2 (ZeRO-1)');
    assert.deepEqual([p.dp, p.tp, p.pp, p.zero], [2, 4, 1, 1]);
    assert.ok(p.fits && p.reasons.some((r) => /activations .* are not sharded by ZeRO/.test(r)), p.reasons.join('\n'));
  });
  it('says when nothing fits', () => {
    const p = proposePlan({ params: 70e9, layers: 80, hidden: 8192, heads: 64, seq: 4096 }, 24e9, 2);
    assert.equal(p.fits, false);
    assert.match(p.reasons.at(-1)!, /no layout of 2 GPU\(s\) fits/);
  });
  it('clear errors on bad input', () => {
    const model = { params: 1e9, layers: 24, hidden: 2048, heads: 16, seq: 2048 };
    assert.throws(() => zeroBytes(1e9, 4 as never, 8), /ZeRO stage must be 0, 1, 2 or 3, got 4/);
    assert.throws(() => zeroBytes(-1, 1, 8), /numParams must be/);
    assert.throws(() => proposePlan({ ...model, heads: 15 }, 80e9, 8), /multiple of model.heads/);
    assert.throws(() => proposePlan(model, 80e9, 0), /gpus must be a finite integer ≥ 1, got 0/);
    assert.throws(() => proposePlan(model, 0, 8), /gpuMemoryBytes must be/);
    assert.throws(() => proposePlan(model, 80e9, 8, { usable: 1.5 }), /usable must be in/);
    assert.throws(() => rankMemory(model, { pp: 25 }), /more stages than layers/);
  });
});

describe('dist/pipeline-schedule: GPipe and 1F1B', () => {
  const cases: Array<[number, number]> = [[1, 1], [1, 4], [2, 1], [2, 4], [4, 4], [4, 8], [4, 2], [8, 16], [3, 7]];
  for (const schedule of ['gpipe', '1f1b'] as const) {
    for (const [p, m] of cases) {
      it(`${schedule} p=${p} m=${m}: makespan (m+p−1)(tf+tb), bubble, peak activations, dependencies`, () => {
        const r = pipelineSchedule({ stages: p, microBatches: m, schedule });
        assert.equal(r.ops.length, 2 * p * m);
        close(r.makespan, (m + p - 1) * 3);
        close(r.bubble + 1, bubbleFraction(p, m) + 1, 1e-12, 'bubble');
        close(r.bubbleRatio, (p - 1) / m);
        assert.deepEqual(r.peakActivations, Array.from({ length: p }, (_, s) => (schedule === 'gpipe' ? m : Math.min(m, p - s))));
        const end = (s: number, op: 'F' | 'B', j: number) => r.ops.find((o) => o.stage === s && o.op === op && o.microBatch === j)!;
        for (const o of r.ops) {
          close(o.end - o.start, o.op === 'F' ? 1 : 2);
          if (o.op === 'F' && o.stage > 0) assert.ok(o.start >= end(o.stage - 1, 'F', o.microBatch).end);
          if (o.op === 'B') assert.ok(o.start >= end(o.stage, 'F', o.microBatch).end);
          if (o.op === 'B' && o.stage < p - 1) assert.ok(o.start >= end(o.stage + 1, 'B', o.microBatch).end);
        }
        for (let s = 0; s < p; s++) {
          const mine = r.ops.filter((o) => o.stage === s).sort((x, y) => x.start - y.start);
          for (let i = 1; i < mine.length; i++) assert.ok(mine[i]!.start >= mine[i - 1]!.end, 'a stage runs one op at a time');
        }
      });
    }
  }
  it('1F1B alternates after the warm-up; tf, tb configurable', () => {
    const r = pipelineSchedule({ stages: 4, microBatches: 6, schedule: '1f1b', tf: 1, tb: 1 });
    const s0 = r.ops.filter((o) => o.stage === 0).map((o) => `${o.op}${o.microBatch}`);
    assert.deepEqual(s0, ['F0', 'F1', 'F2', 'F3', 'B0', 'F4', 'B1', 'F5', 'B2', 'B3', 'B4', 'B5']);
    close(r.makespan, (6 + 3) * 2);
  });
  it('closed forms and errors', () => {
    close(bubbleFraction(4, 8), 3 / 11);
    close(bubbleRatio(4, 8), 3 / 8);
    assert.throws(() => pipelineSchedule({ stages: 0, microBatches: 4 }), /stages must be an integer ≥ 1, got 0/);
    assert.throws(() => pipelineSchedule({ stages: 2, microBatches: 4, schedule: 'zb' as never }), /'gpipe' or '1f1b'/);
    assert.throws(() => pipelineSchedule({ stages: 2, microBatches: 4, tb: -1 }), /tb must be/);
  });
});
