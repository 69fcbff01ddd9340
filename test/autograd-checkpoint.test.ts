/**
 * Activation checkpointing: the same gradients for less peak memory, measured
 * with measurePeakBytes on a deep MLP, on cpu and on wasm.
 */
import { strict as assert } from 'assert';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';
import { useBackend } from './helpers/backend';

const gradOf = (t: ag.Tensor) => t.grad as tf.Tensor;
const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`checkpoint on ${backend}`, () => {
    before(async () => {
      await useBackend(backend);
    });

    it('lowers peak tensor bytes of a 16-layer, 256-wide MLP step and leaves the gradients unchanged', async () => {
      const [depth, width, batch] = [16, 256, 256];
      // seeds start at 1: tf.randomNormal treats seed 0 as "no seed"
      const Ws = Array.from({ length: depth }, (_, i) => ag.param(tf.randomNormal([width, width], 0, Math.sqrt(2 / width), 'float32', i + 1)));
      const bs = Array.from({ length: depth }, () => ag.param(tf.zeros([width])));
      const params = [...Ws, ...bs];
      const x = ag.tensor(tf.randomNormal([batch, width], 0, 1, 'float32', 99));
      const layer = (i: number) => (h: ag.Tensor) => ag.relu(ag.add(ag.matmul(h, Ws[i] as ag.Tensor), bs[i] as ag.Tensor));
      const step = (checkpointed: boolean) => {
        let h = x;
        for (let i = 0; i < depth; i++) h = checkpointed ? ag.checkpoint(layer(i), h) : layer(i)(h);
        const loss = ag.mean(h);
        loss.backward();
        loss.dispose();
      };
      const start = tf.memory().numTensors;

      const plain = await ag.measurePeakBytes(() => step(false));
      const plainGrads = params.map(gradOf);
      params.forEach((q) => (q.grad = null)); // keep them for the comparison
      const ckpt = await ag.measurePeakBytes(() => step(true));

      // Without checkpointing, every layer keeps 3 activations of batch·width·4 bytes (256 KiB here)
      // until backward reaches it: about 12.6 MB. With it, one per layer plus one layer's recompute.
      const activation = batch * width * 4;
      assert.ok(plain.extraBytes >= 3 * depth * activation, `without checkpointing: ${plain.extraBytes} bytes`);
      assert.ok(ckpt.extraBytes < 0.6 * plain.extraBytes, `peak ${ckpt.extraBytes} bytes with checkpointing vs ${plain.extraBytes} without`);
      params.forEach((q, i) => assert.ok(maxAbsDiff(gradOf(q), plainGrads[i] as tf.Tensor) <= 1e-6, `gradient of parameter ${i}`));

      tf.dispose(plainGrads);
      ag.zeroGrad(params);
      assert.equal(tf.memory().numTensors, start, 'a checkpointed step leaks nothing');
      params.forEach((q) => q.dispose());
      x.dispose();
    });

    it("passes the gradient to the block's inputs (gradcheck through checkpoint)", () => {
      const w = tf.tensor([[0.3, -0.7], [1.1, 0.4]]);
      const block = (h: ag.Tensor) => ag.tanh(ag.matmul(h, w));
      const report = ag.gradcheck((x) => ag.checkpoint(block, ag.checkpoint(block, x)), [tf.tensor([[0.5, -1.2], [0.8, 0.1]])]);
      assert.ok(report.ok, report.summary);
      w.dispose();
    });

    it('reproduces a seeded dropout mask in the recomputation', () => {
      const x = ag.param(tf.randomNormal([4, 8], 0, 1, 'float32', 5));
      const block = (h: ag.Tensor) => ag.mul(ag.dropout(h, { p: 0.5, seed: 3 }), h);
      const y1 = ag.sum(block(x));
      y1.backward();
      const g1 = gradOf(x);
      x.grad = null;
      const y2 = ag.sum(ag.checkpoint(block, x));
      y2.backward();
      assert.equal(maxAbsDiff(g1, gradOf(x)), 0);
      tf.dispose([g1]);
      y1.dispose();
      y2.dispose();
      x.dispose();
    });

    it('records nothing under noGrad and needs no grad when nothing inside does', () => {
      const w = ag.param([[1, 2], [3, 4]]);
      const x = ag.tensor([[1, 1]]);
      const y = ag.noGrad(() => ag.checkpoint((h) => ag.matmul(h, w), x));
      assert.equal(y.requiresGrad, false);
      assert.deepEqual(Array.from(y.data.dataSync()), [4, 6]);
      y.dispose();
      const c = ag.tensor([[2, 0], [0, 2]]);
      const z = ag.checkpoint((h) => ag.matmul(h, c), x);
      assert.equal(z.requiresGrad, false);
      z.dispose();
      [w, x, c].forEach((t) => t.dispose());
    });
  });
}
