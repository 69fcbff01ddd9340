/**
 * probes.timeIt / sync / summarise: the function is called warmup + repeats × inner
 * times, each time is per call, the summary statistics match a hand computation, what
 * fn returns is disposed (tf.memory().numTensors constant), and on webgpu the sync
 * really waits: a value read right after it is the computed one.
 */
import { strict as assert } from 'assert';
import { tf } from '../src/backend/tf';
import { summarise, sync, timeIt } from '../src/probes';
import { suiteBackends, useBackend, webgpuSuite } from './helpers/backend';

describe('probes.summarise', () => {
  it('computes best, median, mean and spread by hand', () => {
    const s = summarise([4, 1, 3, 2]);
    assert.deepEqual([s.best, s.median, s.mean, s.spread], [1, 2.5, 2.5, (4 - 1) / 2.5]);
    assert.equal(summarise([5, 1, 3]).median, 3);
    assert.throws(() => summarise([]), /no times/);
  });
});

for (const backend of suiteBackends(['cpu', 'wasm'])) {
  describe(`probes.timeIt on ${backend}`, function () {
    this.timeout(120_000);
    before(() => useBackend(backend));

    it('calls fn warmup + repeats × inner times, disposes its results, and reports ms per call', async () => {
      const a = tf.ones([1000]);
      let calls = 0;
      const start = tf.memory().numTensors;
      const t = await timeIt(() => (calls++, [tf.add(a, 1), tf.mul(a, 2)]), { warmup: 3, repeats: 4, inner: 5 });
      assert.equal(calls, 3 * 5 + 4 * 5);
      assert.equal(t.times.length, 4);
      assert.equal(t.inner, 5);
      assert.ok(t.best > 0 && t.best <= t.median && t.median <= Math.max(...t.times));
      assert.equal(tf.memory().numTensors, start, 'timeIt leaked tensors');
      a.dispose();
    });

    it('sync returns once the value is computed', async () => {
      const x = tf.range(0, 1 << 16);
      const y = tf.mul(x, 3);
      await sync(y);
      assert.equal((await y.data())[1000], 3000);
      await sync([]);
      await sync(tf.zeros([0]));
      tf.dispose([x, y]);
    });

    it('rejects bad options with the option named', async () => {
      await assert.rejects(timeIt(() => tf.zeros([1]), { repeats: 0 }), /repeats must be an integer ≥ 1, got 0/);
      await assert.rejects(timeIt(() => tf.zeros([1]), { inner: 1.5 }), /inner must be an integer ≥ 1, got 1.5/);
    });
  });
}

webgpuSuite(__filename, 'probes.timeIt');
