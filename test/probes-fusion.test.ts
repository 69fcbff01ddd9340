/**
 * probes: launch overhead (fitLaunch, launchOverhead), fusion (the 13-op epilogue
 * chain against one fused kernel) and the raw WGSL copy probe.
 *
 * - fitLaunch recovers t0 and the bandwidth exactly from points on a line;
 * - the chain's bytes, recorded op by op, equal the rule's closed form and a hand count;
 * - fused equals unfused within FUSED_TOLERANCE, and both equal an independent
 *   float64 reference written here, on cpu, wasm and (in a child process) webgpu;
 * - bad inputs throw naming what is wrong; no tensor leaks;
 * - on webgpu the raw WGSL copy really copies (read back) and reports positive GB/s.
 * No timing thresholds: only that live times are positive.
 */
import { strict as assert } from 'assert';
import { tf } from '../src/backend/tf';
import {
  FUSED_TOLERANCE, checkFused, maxAbsDiff, dropoutMask, epilogueBytes, epilogueFused, epilogueUnfused, fusionProbe, tanhRational,
  type EpilogueInputs,
} from '../src/probes/fused';
import { LAUNCH_OPS, fitLaunch, launchOverhead, onDevice } from '../src/probes/launch';
import { copyShader, defaultCopySizes, wgslCopyBandwidth } from '../src/probes/wgsl';
import { Rng } from '../src/data/rng';
import { IN_WEBGPU_CHILD, suiteBackends, useBackend, webgpuSuite } from './helpers/backend';
import { needTorch, runTorch, type TorchRun } from './helpers/torch';

/** The epilogue in float64, straight from its definition (Math.tanh), as an independent reference. */
function reference(x: Float32Array, b: Float32Array, m: Float32Array, r: Float32Array, p: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const h = x[i]! + b[i % b.length]!;
    const gelu = 0.5 * h * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (h + 0.044715 * h ** 3)));
    y[i] = r[i]! + (gelu * m[i]!) / (1 - p);
  }
  return y;
}

function makeInputs(rows: number, cols: number, p: number, seed: number): EpilogueInputs {
  const r = new Rng(seed);
  return {
    x: tf.tensor(r.normalArray(rows * cols, 0, 2), [rows, cols]),
    bias: tf.tensor(r.normalArray(cols), [cols]),
    mask: dropoutMask([rows, cols], p, seed + 1),
    residual: tf.tensor(r.normalArray(rows * cols), [rows, cols]),
    p,
  };
}
const disposeInputs = (i: EpilogueInputs) => tf.dispose([i.x, i.bias, i.mask, i.residual]);

if (!IN_WEBGPU_CHILD) {
  describe('probes.fitLaunch (pure)', () => {
    it('recovers t0, bandwidth and crossover exactly from points on a line, with either weighting', () => {
      // t(n) = 0.01 ms + n · 12 B / (25 GB/s): slope 4.8e-7 ms per element, crossover 0.01 / 4.8e-7 = 20833.3 elements.
      const pts = [1, 10, 1e3, 1e5, 1e6, 1.6e7].map((n) => ({ n, ms: 0.01 + (n * 12) / 25e9 * 1e3 }));
      for (const w of ['relative', 'absolute'] as const) {
        const f = fitLaunch(pts, LAUNCH_OPS.add, w);
        assert.ok(Math.abs(f.t0Ms - 0.01) < 1e-12, `${w}: t0 ${f.t0Ms}`);
        assert.ok(Math.abs(f.gbs - 25) < 1e-8, `${w}: gbs ${f.gbs}`);
        assert.ok(Math.abs(f.crossoverN - 0.01 / 4.8e-7) < 1e-4, `${w}: crossover ${f.crossoverN}`);
        assert.ok(Math.abs(f.crossoverBytes - 12 * f.crossoverN) < 1e-6);
        assert.equal(f.weighting, w);
      }
    });

    it('weights by relative error by default, so a 1% error at the largest size barely moves t0', () => {
      const pts = [1, 100, 1e4, 1e6].map((n) => ({ n, ms: 0.005 + n * 1e-6 }));
      pts[3]!.ms *= 1.01; // 1.005 → 1.01505
      const rel = fitLaunch(pts, 8);
      const abs = fitLaunch(pts, 8, 'absolute');
      assert.ok(Math.abs(rel.t0Ms - 0.005) < Math.abs(abs.t0Ms - 0.005), `relative ${rel.t0Ms} vs absolute ${abs.t0Ms}`);
    });

    it('rejects too few sizes and bad points with the reason', () => {
      assert.throws(() => fitLaunch([{ n: 5, ms: 1 }, { n: 5, ms: 2 }], 12), /2 or more distinct sizes to fit a line, got 1/);
      assert.throws(() => fitLaunch([{ n: 1, ms: 0 }, { n: 2, ms: 1 }], 12), /ms > 0/);
      assert.throws(() => fitLaunch([{ n: 1, ms: 1 }, { n: 2, ms: 2 }], 0), /bytesPerElement must be > 0/);
    });
  });

  describe('probes fusion: byte rule and tanh (pure)', () => {
    it('epilogueBytes matches a hand count: n = 6, cols = 3', () => {
      // unfused reads 18n + cols + 5 scalars = 116, writes 13n = 78: (116 + 78) · 4 = 776;
      // fused reads x, mask, residual (3n = 18) and bias (3), writes y (6): 27 · 4 = 108.
      assert.deepEqual(epilogueBytes(6, 3), { unfused: 776, fused: 108, unfusedOps: 13 });
      assert.throws(() => epilogueBytes(0, 3), /n > 0/);
      assert.throws(() => epilogueBytes(7, 3), /cols dividing n/);
    });

    it('tanhRational is within 3e-8 of Math.tanh on [−20, 20]', () => {
      let worst = 0;
      for (let i = -200_000; i <= 200_000; i++) worst = Math.max(worst, Math.abs(tanhRational(i / 1e4) - Math.tanh(i / 1e4)));
      assert.ok(worst < 3e-8, `worst ${worst}`);
      assert.equal(tanhRational(0), 0);
      assert.equal(tanhRational(1e9), tanhRational(9));
    });

    it('copyShader is a grid-stride vec4<f32> copy with the given workgroup size', () => {
      const s = copyShader(128);
      assert.match(s, /array<vec4<f32>>/);
      assert.match(s, /@workgroup_size\(128\)/);
      assert.match(s, /i = i \+ stride/);
      assert.deepEqual(defaultCopySizes(20 << 20), [1 << 20, 4 << 20, 16 << 20, 20 << 20]);
    });
  });
}

for (const backend of suiteBackends(['cpu', 'wasm'])) {
  describe(`probes fusion and launch on ${backend}`, function () {
    this.timeout(300_000);
    before(() => useBackend(backend));

    it('records the chain op by op: 13 ops whose bytes equal the rule (hand-counted at [2, 3])', async () => {
      const inputs = makeInputs(2, 3, 0.5, 1);
      const { y, traffic } = epilogueUnfused(inputs);
      assert.equal(traffic.length, 13);
      assert.deepEqual(traffic[0], { op: 'add', read: 6 + 3, written: 6 }); // x + bias
      assert.deepEqual(traffic[3], { op: 'mul', read: 6 + 1, written: 6 }); // 0.044715 · h³ (a scalar)
      const bytes = 4 * traffic.reduce((s, o) => s + o.read + o.written, 0);
      assert.equal(bytes, epilogueBytes(6, 3).unfused);
      assert.equal(bytes, 776);
      y.dispose();
      disposeInputs(inputs);
    });

    for (const [rows, cols, p] of [[2, 3, 0.5], [17, 64, 0.1], [4, 1000, 0]] as const) {
      it(`fused equals the chain and a float64 reference at [${rows}, ${cols}], p = ${p}`, async () => {
        const start = tf.memory().numTensors;
        const inputs = makeInputs(rows, cols, p, rows * cols);
        const c = await checkFused(inputs);
        assert.ok(c.ok, `fused vs chain: max |Δ| ${c.maxAbs}, ${c.worstRatio}× the tolerance`);
        const fused = epilogueFused(inputs);
        assert.deepEqual(fused.shape, [rows, cols]);
        const { y: chain } = epilogueUnfused(inputs);
        assert.ok((await maxAbsDiff(fused, chain)) <= c.maxAbs);
        await assert.rejects(maxAbsDiff(fused, inputs.bias), /sizes differ/);
        chain.dispose();
        const got = await fused.data();
        const [x, b, m, r] = await Promise.all([inputs.x, inputs.bias, inputs.mask, inputs.residual].map((t) => t.data() as Promise<Float32Array>));
        const ref = reference(x!, b!, m!, r!, p);
        for (let i = 0; i < ref.length; i++) {
          const allow = FUSED_TOLERANCE.atol + FUSED_TOLERANCE.rtol * Math.abs(ref[i]!);
          assert.ok(Math.abs(got[i]! - ref[i]!) <= allow, `element ${i}: fused ${got[i]} vs reference ${ref[i]}`);
        }
        // The inputs are untouched (the wasm path writes into fresh wasm memory, not in place over x).
        assert.deepEqual(Array.from(await inputs.x.data()), Array.from(x!));
        fused.dispose();
        disposeInputs(inputs);
        assert.equal(tf.memory().numTensors, start, 'leaked tensors');
      });
    }

    it('dropoutMask is seeded and keeps about 1 − p', async () => {
      const a = dropoutMask([100, 100], 0.25, 3);
      const b = dropoutMask([100, 100], 0.25, 3);
      const va = await a.data();
      assert.deepEqual(Array.from(va), Array.from(await b.data()));
      const kept = Array.from(va).reduce((s, v) => s + v, 0) / va.length;
      assert.ok(Math.abs(kept - 0.75) < 0.02, `kept ${kept}`); // σ = √(0.75·0.25/1e4) ≈ 0.0043
      assert.ok(va.every((v) => v === 0 || v === 1));
      tf.dispose([a, b]);
    });

    it('throws clear errors on bad input', () => {
      const inputs = makeInputs(2, 3, 0.5, 1);
      const bad = (patch: Partial<EpilogueInputs>) => ({ ...inputs, ...patch });
      const wrong = tf.zeros([3, 2]);
      const bias4 = tf.zeros([4]);
      const empty = tf.zeros([0, 3]);
      assert.throws(() => epilogueFused(bad({ residual: wrong })), /epilogueFused: residual must have x's shape \[2,3\], got \[3,2\]/);
      assert.throws(() => epilogueUnfused(bad({ mask: wrong })), /epilogueUnfused: mask must have x's shape/);
      assert.throws(() => epilogueFused(bad({ bias: bias4 })), /bias must have shape \[3\] \(x's last axis\), got \[4\]/);
      assert.throws(() => epilogueFused(bad({ p: 1 })), /p must be in \[0, 1\), got 1/);
      assert.throws(() => epilogueFused(bad({ x: empty })), /x must have at least one element/);
      assert.throws(() => dropoutMask([0, 3], 0.1, 1), /has no elements/);
      tf.dispose([wrong, bias4, empty]);
      disposeInputs(inputs);
    });

    it('fusionProbe returns positive times, the rule\'s bytes and checked differences, without leaking', async () => {
      const start = tf.memory().numTensors;
      const rows = await fusionProbe({ sizes: [64, 1024], cols: 32, repeats: 2, warmup: 1 });
      assert.equal(rows.length, 2);
      for (const r of rows) {
        assert.ok(r.unfusedMs > 0 && r.fusedMs > 0 && r.unfusedGBs > 0 && r.fusedGBs > 0 && r.speedup > 0);
        assert.deepEqual([r.unfusedBytes, r.fusedBytes], [epilogueBytes(r.n, 32).unfused, epilogueBytes(r.n, 32).fused]);
        assert.ok(r.maxAbsDiff !== null && r.maxAbsDiff >= 0);
      }
      assert.equal(tf.memory().numTensors, start, 'fusionProbe leaked tensors');
      await assert.rejects(fusionProbe({ sizes: [100], cols: 32 }), /cols dividing n/);
      await assert.rejects(fusionProbe({ sizes: [] }), /sizes is empty/);
    });

    it('launchOverhead returns positive rows and fit, without leaking', async () => {
      const start = tf.memory().numTensors;
      for (const op of ['add', 'scale'] as const) {
        const r = await launchOverhead({ op, sizes: [1, 64, 4096, 65536], repeats: 3, inner: 5 });
        assert.equal(r.backend, backend);
        assert.equal(r.bytesPerElement, LAUNCH_OPS[op]);
        assert.deepEqual(r.rows.map((x) => x.bytes), [1, 64, 4096, 65536].map((n) => n * LAUNCH_OPS[op]));
        assert.ok(r.rows.every((x) => x.bestMs > 0 && x.gbs > 0));
        assert.ok(r.fit.t0Ms > 0 && r.fit.gbs > 0, `fit ${JSON.stringify(r.fit)}`);
      }
      assert.equal(tf.memory().numTensors, start, 'launchOverhead leaked tensors');
      await assert.rejects(launchOverhead({ sizes: [0, 10] }), /integer ≥ 1 element, got 0/);
      await assert.rejects(launchOverhead({ sizes: [] }), /sizes is empty/);
      await assert.rejects(launchOverhead({ op: 'div' as 'add' }), /op must be one of add, scale/);
    });

    it('onDevice returns its argument (and on webgpu makes small ops run on the GPU, not the CPU)', () => {
      const a = tf.tensor([1, 2, 3]);
      assert.equal(onDevice(a), a);
      const b = tf.tensor([4, 5, 6]);
      const both = [a, b];
      assert.equal(onDevice(both), both);
      if (backend === 'webgpu') {
        const y = tf.add(a, b);
        const map = (tf.backend() as unknown as { tensorMap: { get(id: object): { resource: unknown } } }).tensorMap;
        assert.ok(map.get(y.dataId).resource != null, 'add of two uploaded 3-element tensors ran on the CPU');
        y.dispose();
      }
      tf.dispose(both);
    });

    if (backend === 'webgpu') {
      it('the raw WGSL copy really copies and reports positive GB/s (tfjs device and an own device)', async () => {
        const r = await wgslCopyBandwidth({ sizes: [16, 64 * 1024 + 16], dispatches: 3, repeats: 2 });
        assert.equal(r.source, 'tfjs');
        assert.ok(['timestamp-query', 'wall-clock around onSubmittedWorkDone'].includes(r.timing));
        assert.ok(r.maxStorageBufferBindingSize > 0);
        for (const row of r.rows) {
          assert.equal(row.verified, true, `copy of ${row.bytes} bytes read back wrong`);
          assert.equal(row.moved, 2 * row.bytes);
          assert.ok(row.bestGBs > 0 && row.medianGBs > 0 && row.bestMs > 0);
          assert.ok(row.dispatches >= 3 && row.dispatches <= 4096, `dispatches ${row.dispatches}`);
        }
        await assert.rejects(wgslCopyBandwidth({ sizes: [8] }), /≥ 16 bytes/);
        await assert.rejects(wgslCopyBandwidth({ dispatches: 0 }), /dispatches must be an integer ≥ 1, got 0/);
        await assert.rejects(wgslCopyBandwidth({ sizes: [1 << 20], maxBytes: 1 << 16 }), /exceeds the cap 65536/);
        // A device requested here through `webgpu` when tfjs runs on another backend.
        await tf.setBackend('cpu');
        try {
          const own = await wgslCopyBandwidth({ sizes: [4096], dispatches: 2, repeats: 1, minBatchMs: 0 });
          assert.equal(own.source, 'own');
          assert.equal(own.rows[0]!.dispatches, 2);
          assert.equal(own.rows[0]!.verified, true);
        } finally {
          await tf.setBackend('webgpu');
        }
      });
    }
  });
}

if (!IN_WEBGPU_CHILD) {
  describe('probes fusion against PyTorch (F.gelu approximate="tanh", float64)', function () {
    this.timeout(120_000);
    const [rows, cols, p] = [8, 48, 0.2];
    const rng = new Rng(99);
    const x = rng.normalArray(rows * cols, 0, 3);
    const b = rng.normalArray(cols);
    const res = rng.normalArray(rows * cols);
    const m = Float32Array.from({ length: rows * cols }, () => (rng.float() < p ? 0 : 1));
    let run: TorchRun<number[]> | undefined;
    before(() => {
      run = runTorch<number[]>(
        `x = t(INPUT["x"]); b = t(INPUT["b"]); m = t(INPUT["m"]); r = t(INPUT["r"]); p = INPUT["p"]
OUTPUT = flat(r + F.gelu(x + b, approximate="tanh") * m / (1 - p))`,
        { x: { values: Array.from(x), shape: [rows, cols] }, b: { values: Array.from(b), shape: [cols] }, m: { values: Array.from(m), shape: [rows, cols] }, r: { values: Array.from(res), shape: [rows, cols] }, p },
      );
    });
    for (const backend of ['cpu', 'wasm'] as const) {
      it(`the fused kernel on ${backend} equals PyTorch within FUSED_TOLERANCE`, async function () {
        const ref = needTorch(this, run);
        await useBackend(backend);
        const inputs: EpilogueInputs = { x: tf.tensor(x, [rows, cols]), bias: tf.tensor(b), mask: tf.tensor(m, [rows, cols]), residual: tf.tensor(res, [rows, cols]), p };
        const y = epilogueFused(inputs);
        const got = await y.data();
        ref.forEach((v, i) => assert.ok(Math.abs(got[i]! - v) <= FUSED_TOLERANCE.atol + FUSED_TOLERANCE.rtol * Math.abs(v), `element ${i}: ${got[i]} vs PyTorch ${v}`));
        y.dispose();
        disposeInputs(inputs);
      });
    }
  });
}

webgpuSuite(__filename, 'probes fusion, launch and raw WGSL');
