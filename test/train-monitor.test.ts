/**
 * train.Monitor and train.smooth: series, best, last and rows; TensorBoard's
 * debiased EMA on hand-worked values; tensors logged and read in one batched
 * flush with no dataSync and no leak; the chart (compiled by vega-lite, no
 * warnings); errors.
 */
import { strict as assert } from 'assert';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';
import { Monitor, smooth } from '../src/train';
import { suiteBackends, useBackend, webgpuSuite } from './helpers/backend';

const near = (got: number[], want: number[], tol = 1e-12) =>
  got.forEach((g, i) => assert.ok(Number.isNaN(want[i]!) ? Number.isNaN(g) : Math.abs(g - want[i]!) <= tol, `[${i}]: ${g} vs ${want[i]}`));

for (const backend of suiteBackends(['cpu'])) {
  describe(`train.Monitor on ${backend}`, function () {
    before(async () => useBackend(backend));

    it('records series per step and answers series, last, best and toRows', function () {
      const m = new Monitor();
      m.log(0, { 'train loss': 2.0, lr: 0.1 });
      m.log(1, { 'train loss': 1.5, 'val loss': 1.7, lr: 0.1 });
      m.log(2, { 'train loss': 1.6, lr: 0.05 });
      m.log(3, { 'train loss': NaN, 'val loss': 1.4 });
      m.log(3, { accuracy: 0.7 }).log(4, { accuracy: 0.9 }).log(5, { accuracy: 0.9 });
      assert.deepEqual(m.names(), ['train loss', 'lr', 'val loss', 'accuracy']);
      assert.deepEqual(m.series('train loss'), { steps: [0, 1, 2, 3], values: [2.0, 1.5, 1.6, NaN] });
      assert.deepEqual(m.best('train loss'), { step: 1, value: 1.5 }, 'NaN never counts as the best');
      assert.deepEqual(m.best('accuracy', 'max'), { step: 4, value: 0.9 }, 'the first on ties');
      assert.deepEqual(m.best('val loss'), { step: 3, value: 1.4 });
      assert.deepEqual(m.last('lr'), { step: 2, value: 0.05 });
      assert.deepEqual(m.toRows(['val loss', 'lr']), [
        { step: 1, series: 'val loss', value: 1.7 },
        { step: 3, series: 'val loss', value: 1.4 },
        { step: 0, series: 'lr', value: 0.1 },
        { step: 1, series: 'lr', value: 0.1 },
        { step: 2, series: 'lr', value: 0.05 },
      ]);
      const nan = new Monitor().log(0, { x: NaN });
      assert.equal(nan.best('x'), null);
    });

    it("smooths as TensorBoard does: debiased EMA, non-finite values passed through, constant series unchanged", function () {
      // w = 0.5: last = 0.5·1 = 0.5 → 0.5/(1−0.5) = 1; last = 0.25 + 1 = 1.25 → 1.25/0.75 = 5/3;
      // last = 0.625 + 1.5 = 2.125 → 2.125/0.875 = 17/7
      near(smooth([1, 2, 3], 0.5), [1, 5 / 3, 17 / 7]);
      // a NaN stays NaN and does not enter the average: the next point is the 2nd in it
      near(smooth([1, NaN, 2], 0.5), [1, NaN, 5 / 3]);
      assert.deepEqual(smooth([4, 4, 4], 0.9), [4, 4, 4]);
      assert.deepEqual(smooth([1, 2], 0), [1, 2]);
      // without debiasing the first point would be (1 − w)·y = 0.1: TensorBoard divides by 1 − wⁿ
      near(smooth([1, 1.5], 0.9), [1, (0.9 * 0.1 + 0.1 * 1.5) / (1 - 0.81)]);
      const m = new Monitor({ smoothing: 0.5 }).log(0, { a: 1 }).log(1, { a: 2 }).log(2, { a: 3 });
      near(m.series('a').values, [1, 5 / 3, 17 / 7]);
      assert.deepEqual(m.series('a', { smoothing: 0 }).values, [1, 2, 3]);
      near(m.toRows().map((r) => r.value), [1, 5 / 3, 17 / 7]);
    });

    it('reads logged tensors in one batched readback at flush, never with dataSync, and frees its clones', async function () {
      const base = tf.memory().numTensors;
      const m = new Monitor();
      const realDataSync = tf.Tensor.prototype.dataSync;
      const realData = tf.Tensor.prototype.data;
      let reads = 0;
      tf.Tensor.prototype.dataSync = function () {
        throw new Error('dataSync called (it blocks on webgpu)');
      };
      tf.Tensor.prototype.data = function (this: tf.Tensor) {
        reads++;
        return realData.call(this) as never;
      } as typeof realData;
      try {
        for (let step = 0; step < 5; step++) {
          const loss = tf.scalar(1 / (step + 1));
          const acc = ag.tensor(tf.tensor([step / 10], [1, 1]));
          m.log(step, { loss, acc, lr: 0.01 });
          loss.dispose(); // the monitor holds its own clone
          acc.dispose();
        }
        assert.equal(m.pendingCount, 10);
        assert.throws(() => m.series('loss'), /Monitor.series: 10 logged tensors are not read yet; await monitor.flush\(\) first/);
        await m.flush();
      } finally {
        tf.Tensor.prototype.dataSync = realDataSync;
        tf.Tensor.prototype.data = realData;
      }
      assert.equal(reads, 1, 'one readback for all pending values');
      assert.equal(m.pendingCount, 0);
      near(m.series('loss').values, [1, 1 / 2, 1 / 3, 1 / 4, 1 / 5], 1e-7);
      near(m.series('acc').values, [0, 0.1, 0.2, 0.3, 0.4], 1e-7);
      assert.deepEqual(m.series('lr').values, [0.01, 0.01, 0.01, 0.01, 0.01]);
      assert.equal(tf.memory().numTensors, base, 'no tensor left behind');
      await m.flush(); // nothing pending: a no-op
      const d = new Monitor().log(0, { x: tf.scalar(1) });
      assert.equal(tf.memory().numTensors, base + 2);
      d.dispose();
    });

    it('draws a line chart of the chosen series with the raw curves behind the smoothed ones', function () {
      const m = new Monitor({ smoothing: 0.6 });
      for (let s = 0; s < 20; s++) m.log(s, { 'train loss': 1 / (s + 1) + 0.05 * (s % 3), 'val loss': 1.2 / (s + 1), lr: 0.1 });
      const fig = m.plot({ series: ['train loss', 'val loss'], logY: true });
      assert.deepEqual(fig.compile().warnings, []);
      const values = (fig.spec as { data: { values: { series: string }[] } }).data.values;
      assert.deepEqual([...new Set(values.map((r) => r.series))], ['train loss', 'val loss', 'train loss (raw)', 'val loss (raw)']);
      assert.equal(values.length, 80);
      assert.match(JSON.stringify(fig.spec), /训练曲线 \(training curves\)/);
      assert.match(fig.summary, /4 series/);
      const raw = new Monitor().log(0, { a: 1 }).log(1, { a: 2 }).plot({ title: '学习率 (learning rate)' });
      assert.equal((raw.spec as { data: { values: unknown[] } }).data.values.length, 2);
    });

    it('throws named errors for bad steps, values, names and smoothing', function () {
      const m = new Monitor().log(5, { loss: 1 });
      const cases: [() => unknown, RegExp][] = [
        [() => m.log(4, { loss: 1 }), /^RangeError: Monitor.log: series 'loss' is at step 5, got step 4; steps must not decrease/],
        [() => m.log(NaN, { loss: 1 }), /Monitor.log: step must be a finite number \(got NaN\)/],
        [() => m.log(6, { loss: '1' as unknown as number }), /Monitor.log: 'loss' must be a number or a one-element tensor, got string/],
        [() => m.series('val'), /Monitor.series: no series 'val'; logged: \[loss\]/],
        [() => m.best('loss', 'avg' as 'min'), /Monitor.best: mode must be 'min' or 'max'/],
        [() => new Monitor({ smoothing: 1 }), /Monitor: smoothing must be in \[0, 1\) \(got 1\)/],
        [() => smooth([1], -0.1), /smooth: smoothing must be in \[0, 1\)/],
        [() => new Monitor().plot(), /Monitor.plot: nothing to draw/],
      ];
      for (const [f, re] of cases) assert.throws(f, (e: Error) => re.test(String(e)), `expected ${re}`);
      const t = tf.tensor([1, 2]);
      assert.throws(() => m.log(6, { loss: t }), /'loss' is a tensor of shape \[2\]; log a scalar/);
      assert.deepEqual(m.series('loss').steps, [5], 'a rejected log records nothing');
      t.dispose();
    });
  });
}

webgpuSuite(__filename, 'train.Monitor');
