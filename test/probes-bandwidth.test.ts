/**
 * probes.measureBandwidth / measureMatmul / measureRoofline: positive figures whose
 * bytes and FLOPs follow the stated rules (checked on sizes small enough to count by
 * hand), a spread reported, no leaked tensors, a copy that really copies (equal
 * values, a different buffer, even where tf.clone shares one), the STREAM kernels
 * computing what STREAM computes, and a roofline classification consistent with the
 * ridge point. No timing thresholds: performance belongs to `npm run bench -- probes`.
 */
import { strict as assert } from 'assert';
import { tf } from '../src/backend/tf';
import {
  attainable, ceilingsFrom, classify, copyTensor, DATASHEET_CEILINGS, matmulFlops, maxArrayBytes, measureBandwidth,
  measureMatmul, measureRoofline, rooflineOps, saturation, streamOp, STREAM_SCALAR,
  type BandwidthRow, type ComputeRow,
} from '../src/probes';
import { suiteBackends, useBackend, webgpuSuite } from './helpers/backend';

const FAST = { warmup: 1, repeats: 3 };

/** Where a tensor's bytes live: the cpu backend's TypedArray, or the wasm heap offset; null elsewhere. */
function bufferOf(t: tf.Tensor): unknown {
  const be = tf.backend() as unknown as { data?: { get(id: object): { values?: unknown } }; dataIdMap?: { get(id: object): { memoryOffset: number } } };
  if (tf.getBackend() === 'cpu') return be.data!.get(t.dataId).values;
  if (tf.getBackend() === 'wasm') return be.dataIdMap!.get(t.dataId).memoryOffset;
  return null;
}

function row(kernel: BandwidthRow['kernel'], bytes: number, gbps: number): BandwidthRow {
  return { kernel, bytes, elements: bytes / 4, movedBytes: 2 * bytes, best: 1, median: 1, gbps, gbpsMedian: gbps, spread: 0, backend: 'test' };
}

function mrow(name: string, gflops: number): ComputeRow {
  return { name, m: 1, k: 1, n: 1, batch: 1, flops: 2, best: 1, median: 1, gflops, gflopsMedian: gflops, spread: 0, backend: 'test' };
}

describe('probes: counting rules and classification (pure)', () => {
  it('counts matmul FLOPs as 2·batch·m·k·n', () => {
    assert.equal(matmulFlops({ m: 2, k: 3, n: 4 }), 48);
    assert.equal(matmulFlops({ m: 2, k: 3, n: 4, batch: 5 }), 240);
  });

  it('finds the saturation size: the first row at ≥ 90% of the maximum', () => {
    const rows = [mrow('32', 1), mrow('64', 8), mrow('128', 9.5), mrow('256', 10), mrow('512', 9.2)];
    const s = saturation(rows);
    assert.equal(s.maxGflops, 10);
    assert.equal(s.threshold, 9);
    assert.equal(s.row.name, '128');
    assert.equal(saturation(rows, 0.5).row.name, '64');
    assert.throws(() => saturation([]), /no rows/);
  });

  it('takes the bandwidth ceiling from copy / triad at the largest size, and the ridge from it', () => {
    const bw = [row('copy', 1024, 100), row('triad', 1024, 120), row('copy', 4096, 20), row('triad', 4096, 25), row('add', 4096, 99)];
    const c = ceilingsFrom(bw, [mrow('a', 50), mrow('b', 200)]);
    assert.deepEqual([c.bandwidthGBps, c.peakGflops, c.ridge], [25, 200, 8]);
    assert.equal(classify(7.9, c.ridge), 'memory');
    assert.equal(classify(8, c.ridge), 'compute');
    assert.equal(attainable(2, c), 50); //  2 FLOP/B × 25 GB/s
    assert.equal(attainable(100, c), 200); // capped by the peak
    assert.throws(() => ceilingsFrom([row('add', 4, 1)], [mrow('a', 1)]), /no copy or triad/);
  });

  it('counts each roofline op by its stated rule (2 × 3 inputs, n = 4, by hand)', () => {
    const ops = Object.fromEntries(rooflineOps({ rows: 2, cols: 3, n: 4 }).map((o) => [o.name, o]));
    const fb = (name: string) => [ops[name]!.flops, ops[name]!.bytes];
    assert.deepEqual(fb('add'), [6, 72]); //            6 elements × (1 FLOP, 3 × 4 B)
    assert.deepEqual(fb('mul'), [6, 72]);
    assert.deepEqual(fb('gelu (tanh)'), [54, 48]); //   9 FLOPs, read + write
    assert.deepEqual(fb('sum over rows'), [6, 24 + 8]); // read 6, write 2
    assert.deepEqual(fb('softmax'), [30, 48]);
    assert.deepEqual(fb('layer norm'), [42, 48 + 24]); // + γ and β (2 × 3 × 4 B)
    assert.deepEqual(fb('matmul [1×4]·[4×4]'), [32, 4 * (4 + 16 + 4)]);
    assert.deepEqual(fb('matmul [8×4]·[4×4]'), [256, 4 * (32 + 16 + 32)]);
    assert.deepEqual(fb('matmul 8×[1×1]·[1×1]'), [16, 4 * 8 * 3]);
    assert.deepEqual(fb('matmul [4×4]·[4×4]'), [128, 4 * 48]);
  });

  it('lists the datasheet ceilings of A100, H100 and H200', () => {
    const by = Object.fromEntries(DATASHEET_CEILINGS.map((d) => [d.name, [d.bandwidthGBps, d.fp16Gflops, d.fp32Gflops]]));
    assert.deepEqual(by, { 'A100 80GB SXM': [2039, 312e3, 19.5e3], 'H100 SXM': [3350, 989e3, 67e3], 'H200 SXM': [4800, 989e3, 67e3] });
  });
});

for (const backend of suiteBackends(['cpu', 'wasm'])) {
  describe(`probes.measureBandwidth / measureMatmul / measureRoofline on ${backend}`, function () {
    this.timeout(300_000);
    before(() => useBackend(backend));

    it('copies into a different buffer with equal values (tf.clone shares on cpu)', async () => {
      const x = tf.range(0, 1000, 1, 'float32');
      const start = tf.memory().numTensors;
      const y = copyTensor(x);
      assert.notEqual(y.dataId, x.dataId);
      if (bufferOf(x) !== null) assert.notEqual(bufferOf(y), bufferOf(x), 'copyTensor shares the input buffer');
      assert.deepEqual(Array.from(await y.data()), Array.from(await x.data()));
      if (backend === 'cpu') {
        const c = tf.clone(x);
        assert.equal(c.dataId, x.dataId, 'tf.clone on cpu was expected to share the buffer (why copyTensor exists)');
        c.dispose();
      }
      y.dispose();
      assert.equal(tf.memory().numTensors, start);
      x.dispose();
    });

    it('computes the STREAM kernels: c = a, b = s·c, c = a + b, a = b + s·c', async () => {
      const [a, b, c, s] = [tf.tensor1d([1, 2, 3]), tf.tensor1d([10, 20, 30]), tf.tensor1d([-1, 0, 5]), tf.scalar(STREAM_SCALAR)];
      const got = async (k: 'copy' | 'scale' | 'add' | 'triad') => {
        const y = streamOp(k, a, b, c, s);
        const v = Array.from(await y.data());
        y.dispose();
        return v;
      };
      const near = (x: number[], e: number[]) => x.forEach((v, i) => assert.ok(Math.abs(v - e[i]!) < 1e-5, `${x} vs ${e}`));
      near(await got('copy'), [1, 2, 3]);
      near(await got('scale'), [-0.4, 0, 2]);
      near(await got('add'), [11, 22, 33]);
      near(await got('triad'), [10 - 0.4, 20, 32]);
      tf.dispose([a, b, c, s]);
    });

    it('returns positive GB/s with bytes counted as STREAM counts them (copy, scale 2 arrays; add, triad 3), and leaks nothing', async () => {
      const start = tf.memory().numTensors;
      const rows = await measureBandwidth({ sizes: [4096, 16384, 1 << 30], maxBytes: 16384, bytesPerRepeat: 1, ...FAST });
      assert.equal(tf.memory().numTensors, start, 'measureBandwidth leaked tensors');
      assert.deepEqual(rows.map((r) => `${r.kernel}:${r.bytes}`), ['copy', 'scale', 'add', 'triad'].flatMap((k) => [`${k}:4096`]).concat(['copy', 'scale', 'add', 'triad'].map((k) => `${k}:16384`)));
      const first = Object.fromEntries(rows.slice(0, 4).map((r) => [r.kernel, r]));
      assert.deepEqual([first.copy!.elements, first.copy!.movedBytes, first.scale!.movedBytes, first.add!.movedBytes, first.triad!.movedBytes], [1024, 8192, 8192, 12288, 12288]);
      for (const r of rows) {
        assert.equal(r.backend, backend);
        assert.ok(r.best > 0 && r.best <= r.median, `${r.kernel}: best ${r.best} median ${r.median}`);
        assert.ok(Math.abs(r.gbps - r.movedBytes / (r.best * 1e6)) < 1e-9 * r.gbps, 'gbps = movedBytes / best');
        assert.ok(r.gbps >= r.gbpsMedian && r.gbpsMedian > 0);
        assert.ok(Number.isFinite(r.spread) && r.spread >= 0);
      }
    });

    it('caps sizes by the backend and by maxBytes, and says so when nothing fits', async () => {
      assert.ok(maxArrayBytes() > 0);
      if (backend === 'wasm') assert.ok(maxArrayBytes() <= 512 * 2 ** 20);
      await assert.rejects(measureBandwidth({ maxBytes: 1000 }), /no size fits under the cap of 1000 bytes/);
      await assert.rejects(measureBandwidth({ kernels: ['nope' as 'copy'] }), /unknown kernel 'nope'/);
    });

    it('measures matmul GFLOP/s with FLOPs = 2·batch·m·k·n, and leaks nothing', async () => {
      const start = tf.memory().numTensors;
      const rows = await measureMatmul({ shapes: [{ name: 'sq', m: 8, k: 8, n: 8 }, { name: 'b', m: 2, k: 3, n: 4, batch: 5 }], flopsPerRepeat: 1, ...FAST });
      assert.equal(tf.memory().numTensors, start, 'measureMatmul leaked tensors');
      assert.deepEqual(rows.map((r) => [r.flops, r.batch]), [[1024, 1], [240, 5]]);
      for (const r of rows) {
        assert.ok(r.gflops > 0 && r.gflops >= r.gflopsMedian);
        assert.ok(Math.abs(r.gflops - r.flops / (r.best * 1e6)) < 1e-9 * r.gflops);
        assert.ok(Number.isFinite(r.spread) && r.spread >= 0);
      }
      await assert.rejects(measureMatmul({ shapes: [{ name: 'bad', m: 0, k: 1, n: 1 }] }), /shape 'bad' has m = 0/);
    });

    it('places roofline points by intensity against the ridge, and leaks nothing', async () => {
      const start = tf.memory().numTensors;
      const ceilings = { bandwidthGBps: 10, peakGflops: 40, ridge: 4, backend };
      const { points, datasheets } = await measureRoofline({ rows: 8, cols: 16, n: 8, ceilings, ...FAST });
      assert.equal(tf.memory().numTensors, start, 'measureRoofline leaked tensors');
      assert.equal(datasheets, DATASHEET_CEILINGS);
      assert.equal(points.length, 10);
      for (const p of points) {
        assert.equal(p.intensity, p.flops / p.bytes);
        assert.equal(p.bound, p.intensity < 4 ? 'memory' : 'compute', p.name);
        assert.equal(p.roof, Math.min(40, p.intensity * 10));
        assert.ok(p.gflops > 0 && Math.abs(p.fractionOfRoof - p.gflops / p.roof) < 1e-12);
      }
      const byName = Object.fromEntries(points.map((p) => [p.name, p]));
      assert.equal(byName['add']!.bound, 'memory'); //               1/12 FLOP/B
      assert.equal(byName['matmul [8×8]·[8×8]']!.bound, 'memory'); // 1024 / 768 B ≈ 1.3 < 4
    });

    it('measures its own ceilings when none are given', async () => {
      const { ceilings, points } = await measureRoofline({ rows: 4, cols: 8, n: 8, maxBytes: 4096, maxN: 64, ...FAST });
      assert.ok(ceilings.bandwidthGBps > 0 && ceilings.peakGflops > 0);
      assert.equal(ceilings.ridge, ceilings.peakGflops / ceilings.bandwidthGBps);
      for (const p of points) assert.equal(p.bound, classify(p.intensity, ceilings.ridge));
    });

    it('runs GELU and layer norm as their formulas say', async () => {
      const ops = Object.fromEntries(rooflineOps({ rows: 1, cols: 4, n: 4 }).map((o) => [o.name, o]));
      const x = tf.tensor2d([[-1, 0, 1, 2]]);
      const g = ops['gelu (tanh)']!.run([x]);
      const gv = Array.from(await g.data());
      const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
      gv.forEach((v, i) => assert.ok(Math.abs(v - gelu([-1, 0, 1, 2][i]!)) < 1e-5));
      const [w, b] = [tf.fill([4], 2), tf.fill([4], 1)];
      const ln = ops['layer norm']!.run([x, w, b]);
      const lv = Array.from(await ln.data());
      const sd = Math.sqrt(1.25 + 1e-5); // mean 0.5, variance 1.25
      lv.forEach((v, i) => assert.ok(Math.abs(v - (2 * ([-1, 0, 1, 2][i]! - 0.5) / sd + 1)) < 1e-4));
      tf.dispose([x, g, w, b, ln]);
    });
  });
}

webgpuSuite(__filename, 'probes.measureBandwidth / measureMatmul / measureRoofline');
