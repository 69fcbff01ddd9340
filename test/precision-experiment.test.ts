/**
 * precision.mixedPrecisionRun / gradientHistogram / gradientStats: the rows of the
 * mixed-precision experiment are consistent with GradScaler's rules (a step is skipped
 * exactly when the gradients held Inf / NaN, and the scale halves there and doubles after
 * growthInterval good steps), the float32 mode is a plain float32 training loop bit for
 * bit, fp16 without scaling loses gradients to underflow where float32 does not, the
 * histogram's counts equal a count by hand, and nothing leaks.
 */
import { strict as assert } from 'assert';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';
import * as nn from '../src/nn';
import * as optim from '../src/optim';
import { gradientHistogram, gradientStats, mixedPrecisionRun, mixedPrecisionSetup, type MixedPrecisionSetup } from '../src/precision';
import { suiteBackends, useBackend, webgpuSuite } from './helpers/backend';

// Four layers: 8 parameter tensors, enough to catch a gradient norm through tf.addN of 8 tensors, which
// exceeds llvmpipe's 8 storage buffers per shader stage on WebGPU and silently invalidated the whole step.
const SMALL: MixedPrecisionSetup = { sizes: [196, 16, 16, 16, 10], n: 128, batch: 32, lr: 0.1, seed: 3 };

describe('precision.gradientStats (plain JS)', function () {
  it('counts zeros, values below 2^-24 and 2^-14, fp16 flushes and overflows, and the log2 histogram, by hand', () => {
    const v = [0, -0, 2 ** -30, -(2 ** -25), 1.5 * 2 ** -25, 2 ** -24, 2 ** -20, -(2 ** -14), 0.75, 65519, 65520, -1e6, Infinity, NaN];
    const s = gradientStats(v, { minLog2: -40, maxLog2: 30 });
    assert.equal(s.total, 14);
    assert.equal(s.zeros, 2);
    // nonzero and below 2^-24: 2^-30, 2^-25, 1.5·2^-25
    assert.equal(s.belowSubnormal, 3);
    // ... and below 2^-14: those, 2^-24 and 2^-20
    assert.equal(s.belowNormal, 5);
    // fp16 RNE: 2^-30 → 0, 2^-25 (the tie) → 0 (even), 1.5·2^-25 → 2^-24
    assert.equal(s.flushedToZero, 2);
    // 65519 → 65504; 65520 and 1e6 → Inf
    assert.equal(s.overflows, 2);
    const hist = (e: number) => s.counts[e - s.minLog2];
    assert.equal(hist(-30), 1);
    assert.equal(hist(-25), 2);
    assert.equal(hist(-24), 1);
    assert.equal(hist(-14), 1);
    assert.equal(hist(-1), 1);
    assert.equal(hist(15), 2); // 65519, 65520
    assert.equal(hist(19), 1); // 1e6
    // Inf and NaN are in no bin: 14 values - 2 zeros - 2 non-finite
    assert.equal(s.counts.reduce((a, b) => a + b, 0), 10);
    // A scale multiplies first: 2^-30 · 2^10 = 2^-20 is no longer below 2^-24.
    assert.equal(gradientStats([2 ** -30], { scale: 2 ** 10 }).belowSubnormal, 0);
  });
});

for (const backend of suiteBackends(['cpu', 'wasm'])) {
  describe(`precision.mixedPrecisionRun on ${backend}`, function () {
    this.timeout(300_000);
    before(() => useBackend(backend));

    it('fp32 mode is a plain float32 SGD loop bit for bit, also with a power-of-two lossFactor', async () => {
      const before = tf.memory().numTensors;
      const steps = 5;
      const run = await mixedPrecisionRun({ ...SMALL, mode: 'fp32', steps });
      const factored = await mixedPrecisionRun({ ...SMALL, mode: 'fp32', steps, lossFactor: 2 ** -8 });
      // The plain loop, written out.
      const { model, x, y, batchAt } = mixedPrecisionSetup(SMALL);
      const opt = new optim.SGD(model.parameters(), { lr: 0.1 });
      const losses: number[] = [];
      for (let s = 0; s < steps; s++) {
        const idx = batchAt(s);
        const xb = ag.tensor(tf.gather(x, idx));
        const yb = ag.tensor(tf.gather(y, idx));
        const loss = nn.crossEntropy(model.forward(xb), yb);
        losses.push((await loss.data.data())[0]!);
        loss.backward();
        loss.dispose();
        opt.step();
        opt.zeroGrad();
        tf.dispose([idx]);
        xb.dispose();
        yb.dispose();
      }
      const weights = await Promise.all(model.parameters().map(async (p) => Array.from(await p.data.data())));
      model.dispose();
      tf.dispose([x, y]);
      assert.deepEqual(run.rows.map((r) => r.loss), losses);
      assert.deepEqual(factored.rows.map((r) => r.loss), losses);
      assert.deepEqual(run.finalWeights.map((w) => Array.from(w)), weights);
      assert.deepEqual(factored.finalWeights.map((w) => Array.from(w)), weights);
      // The gradient norm, against one computed here from the first step's gradients.
      {
        const { model: m, x: x0, y: y0, batchAt: b0 } = mixedPrecisionSetup(SMALL);
        const idx = b0(0);
        const [xb, yb] = [ag.tensor(tf.gather(x0, idx)), ag.tensor(tf.gather(y0, idx))];
        const l = nn.crossEntropy(m.forward(xb), yb);
        l.backward();
        l.dispose();
        xb.dispose();
        yb.dispose();
        let sq = 0;
        for (const p of m.parameters()) for (const g of await p.grad!.data()) sq += g * g;
        m.dispose();
        tf.dispose([x0, y0, idx]);
        assert.ok(Math.abs(run.rows[0]!.gradNorm - Math.sqrt(sq)) <= 1e-5 * Math.sqrt(sq), `grad norm ${run.rows[0]!.gradNorm} vs ${Math.sqrt(sq)}`);
      }
      assert.ok(run.rows.every((r) => r.scale === 1 && !r.skipped && r.underflowFrac === 0 && r.nonFiniteFrac === 0 && Number.isFinite(r.gradNorm)));
      assert.equal(tf.memory().numTensors, before);
    });

    it('fp16-scaled: skipped exactly on non-finite gradients, the scale halves there and doubles after growthInterval good steps', async () => {
      const before = tf.memory().numTensors;
      // A huge initial scale overflows fp16 at first: the scaler backs off until it fits.
      const growthInterval = 3;
      const { rows } = await mixedPrecisionRun({ ...SMALL, mode: 'fp16-scaled', steps: 16, initScale: 2 ** 26, growthInterval });
      assert.equal(tf.memory().numTensors, before);
      assert.ok(rows[0]!.skipped, 'S = 2^26 must overflow fp16 in the first step');
      assert.ok(rows.some((r) => !r.skipped), 'the scale never came down to a finite step');
      let good = 0;
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        assert.equal(r.skipped, r.nonFiniteFrac > 0, `step ${i}`);
        assert.equal(r.skipped, !Number.isFinite(r.gradNorm), `step ${i}`);
        good = r.skipped ? 0 : good + 1;
        const expected = r.skipped ? r.scale / 2 : good === growthInterval ? r.scale * 2 : r.scale;
        if (good === growthInterval) good = 0;
        if (i + 1 < rows.length) assert.equal(rows[i + 1]!.scale, expected, `scale after step ${i}`);
      }
      assert.ok(rows.some((r, i) => i > 0 && r.scale > rows[i - 1]!.scale), 'no growth within the run');
      // A skipped step leaves the weights alone, so the loss of the next batch is computed at the same weights.
      assert.ok(rows.filter((r) => !r.skipped).every((r) => Number.isFinite(r.loss)));
    });

    it('fp16 without scaling loses gradients that float32 has; scaling and bf16 keep them', async () => {
      const before = tf.memory().numTensors;
      const opts = { ...SMALL, steps: 2, lossFactor: 2 ** -20 };
      const fp16 = await mixedPrecisionRun({ ...opts, mode: 'fp16' });
      const scaled = await mixedPrecisionRun({ ...opts, mode: 'fp16-scaled' });
      const bf16 = await mixedPrecisionRun({ ...opts, mode: 'bf16' });
      assert.equal(tf.memory().numTensors, before);
      for (const r of fp16.rows) {
        assert.ok(r.underflowFrac > 0.3, `fp16 underflow ${r.underflowFrac}`);
        assert.ok(r.underflowFrac <= r.zeroFrac);
      }
      for (const r of [...scaled.rows, ...bf16.rows]) assert.ok(r.underflowFrac < 0.05, `${r.mode} underflow ${r.underflowFrac}`);
      // The first step's loss is at the same initial weights in every mode.
      assert.ok(Math.abs(fp16.rows[0]!.loss - bf16.rows[0]!.loss) < 0.05);
    });

    it('takes its own data (the GPU kit has no mnist), and says what is wrong with data of the wrong size', async () => {
      const before = tf.memory().numTensors;
      const n = 64;
      const x = new Float32Array(n * 20).map((_, i) => Math.sin(i));
      const y = Int32Array.from({ length: n }, (_, i) => i % 3);
      const { rows } = await mixedPrecisionRun({ sizes: [20, 8, 3], batch: 16, data: { x, y }, mode: 'fp32', steps: 3 });
      assert.equal(rows.length, 3);
      // Three balanced classes, small initial logits: the first loss is near ln 3.
      assert.ok(Math.abs(rows[0]!.loss - Math.log(3)) < 0.5, `first loss ${rows[0]!.loss}`);
      await assert.rejects(mixedPrecisionRun({ sizes: [20, 8, 3], data: { x: x.subarray(1), y }, mode: 'fp32', steps: 1 }), /data must be \{ x: Float32Array \[n·20\]/);
      assert.equal(tf.memory().numTensors, before);
    });

    it('gradientHistogram: every weight and activation gradient counted once, matching gradientStats of the scaled-down run', async () => {
      const before = tf.memory().numTensors;
      const h = await gradientHistogram({ ...SMALL, warmup: 2 });
      const h2 = await gradientHistogram({ ...SMALL, warmup: 2, lossFactor: 2 ** -16 });
      assert.equal(tf.memory().numTensors, before);
      const nParams = 196 * 16 + 16 + 2 * (16 * 16 + 16) + 16 * 10 + 10;
      assert.equal(h.weights.total, nParams);
      assert.equal(h.activations.total, 32 * (16 + 16 + 16 + 10));
      assert.equal(h.step, 2);
      const inBins = (s: typeof h.weights) => s.counts.reduce((a, b) => a + b, 0);
      assert.equal(inBins(h.weights) + h.weights.zeros, nParams);
      assert.equal(inBins(h.activations) + h.activations.zeros, h.activations.total);
      // The logits' gradient (softmax − onehot)/32 is never 0: at least 32·10 nonzero activation gradients.
      assert.ok(h.activations.total - h.activations.zeros >= 320);
      // A power-of-two lossFactor shifts every binade by exactly −16 (float32 exact), so the histograms are shifts.
      assert.deepEqual(h2.weights.counts.slice(0, -16), h.weights.counts.slice(16));
      assert.ok(h2.weights.belowSubnormal > h.weights.belowSubnormal);
      const rowSum = h.rows.filter((r) => r.kind === 'weights').reduce((a, r) => a + r.count, 0);
      assert.equal(rowSum, inBins(h.weights));
    });
  });
}

webgpuSuite(__filename, 'precision.mixedPrecisionRun');
