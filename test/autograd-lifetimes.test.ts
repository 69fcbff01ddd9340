/**
 * Lifetimes and edge cases of the tensor engine: scopes (ag.tidy, Module.forward),
 * checkpoint blocks that close over computed tensors, gradients that reach a freed
 * node, rules and options that throw half-way, pow(0, 0), gather's range check on
 * int32 tensors. Each leak check is exact: tf.memory().numTensors back to where it was.
 */
import { strict as assert } from 'assert';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';
import * as nn from '../src/nn';
import { suiteBackends, useBackend, webgpuSuite } from './helpers/backend';

const values = async (t: tf.Tensor | null) => Array.from(await (t as tf.Tensor).data());

webgpuSuite(__filename, 'engine lifetimes');

for (const backend of suiteBackends(['cpu', 'wasm'])) {
  describe(`engine lifetimes on ${backend}`, () => {
    before(async () => {
      await useBackend(backend);
    });

    describe('ag.tidy', () => {
      it('keeps what it returns, releases the values of the rest and keeps what backward saved of them', async () => {
        const x = ag.param([[1, -2, 3]]);
        const before = tf.memory().numTensors;
        let inner!: ag.Tensor;
        const y = ag.tidy(() => {
          inner = ag.mul(x, 3); // saved by nothing that needs its value: relu saves its own output
          return ag.sum(ag.relu(inner));
        });
        assert.equal(inner.isDisposed, true);
        assert.throws(() => inner.data, /mul \[1,3\] was freed at the end of the ag\.tidy that computed it \(return it from the block to keep it\)/);
        y.backward();
        assert.deepEqual(await values(x.grad), [3, 0, 3]); // ∂/∂x Σ relu(3x) = 3·[3x > 0]
        y.dispose();
        x.zeroGrad();
        assert.equal(tf.memory().numTensors, before);
        x.dispose();
      });

      it('frees entirely what nothing returned depends on, saved tensors included, and everything when the block throws', async () => {
        const x = ag.param([1, 2, 3]);
        const v = ag.tensor([[1, 2]]); // leaves are yours: a scope never frees them
        const before = tf.memory().numTensors;
        const y = ag.tidy(() => {
          ag.exp(x); // a dead branch: exp saves its output
          return ag.sum(x);
        });
        assert.equal(tf.memory().numTensors, before + 1, 'only the sum is alive');
        y.dispose();
        assert.throws(() => ag.tidy(() => ag.add(ag.matmul(ag.exp(ag.reshape(x, [3, 1])), ag.sub(v, 1)), ag.matmul(v, v))), /matmul: \[1,2\] x \[1,2\]: inner dims 2 and 1 differ/);
        assert.equal(tf.memory().numTensors, before);
        x.dispose();
        v.dispose();
      });

      it('rejects a block that returns a Promise', async () => {
        assert.throws(() => ag.tidy(async () => 1), /ag\.tidy: the block returned a Promise; it must be synchronous/);
      });
    });

    describe('Module.forward is a scope', () => {
      it("frees a Linear's product and keeps only what backward reads: the input, not the [batch, out] product", async () => {
        const layer = new nn.Linear(4, 3, { rng: 0 });
        const x = ag.tensor(tf.ones([5, 4]));
        const bytes = tf.memory().numBytes;
        const y = layer.forward(x);
        // x (saved by matmul, existed before) and y: no product left behind.
        assert.equal(tf.memory().numBytes - bytes, y.size * 4);
        assert.equal(ag.savedBytes(y).bytes, x.size * 4);
        y.dispose();
        layer.dispose();
        x.dispose();
      });
    });

    describe('checkpoint', () => {
      it('frees only what its block created: a computed tensor it closes over survives and gets its gradient', async () => {
        const w = ag.param([[0.5, -1], [2, 0.25]]);
        const x = ag.tensor([[1, 2]]);
        const grads = async (useCheckpoint: boolean) => {
          const h = ag.tanh(ag.matmul(x, w)); // computed outside the block, read inside through the closure
          const block = (t: ag.Tensor) => ag.mul(ag.add(t, h), h);
          const y = useCheckpoint ? ag.checkpoint(block, ag.mul(x, 2)) : block(ag.mul(x, 2));
          const loss = ag.sum(ag.add(y, h)); // h is used again after the block
          assert.equal(h.isDisposed, false, 'checkpoint must not free a tensor it did not create');
          loss.backward();
          loss.dispose();
          const g = await values(w.grad);
          w.zeroGrad();
          return g;
        };
        const before = tf.memory().numTensors;
        const plain = await grads(false);
        const checked = await grads(true);
        checked.forEach((g, i) => assert.ok(Math.abs(g - (plain[i] as number)) < 1e-6, `dW[${i}]: ${g} vs ${plain[i]}`));
        assert.ok(plain.some((g) => g !== 0));
        assert.equal(tf.memory().numTensors, before);
        w.dispose();
        x.dispose();
      });
    });

    describe('freed graphs', () => {
      it('throws, naming the node, when a backward would pass through a node an earlier backward freed', async () => {
        const w = ag.param([1, 2]);
        const h = ag.mul(w, 2);
        const a = ag.sum(h);
        const b = ag.sum(ag.exp(h));
        a.backward(); // frees h
        assert.throws(() => b.backward(), /backward: mul \[2\] in this graph was already freed by backward\(\)/);
        a.dispose();
        b.dispose();
        w.dispose();
      });

      it('a rule that throws half-way frees the gradients already computed', async () => {
        const x = ag.param([1, 2]);
        const z = ag.param([3, 4]);
        const before = tf.memory().numTensors;
        const bad = ag.record('bad', [x, z], ([a, b]) => tf.mul(a, b), [
          { saves: [1], grad: (dy, s) => tf.mul(dy, s.x(1)) },
          { grad: () => { throw new Error('rule 1 fails'); } }, // prettier-ignore
        ]);
        const loss = ag.sum(bad);
        assert.throws(() => loss.backward(), /rule 1 fails/);
        loss.dispose();
        assert.equal(tf.memory().numTensors, before);
        assert.equal(x.grad, null);
        x.dispose();
        z.dispose();
      });

      it("a leaf's dispose() frees it at once, even when a graph that was never freed saved it", async () => {
        const before = tf.memory().numTensors;
        const w = ag.param([[1, 2]]);
        const x = ag.tensor([[3], [4]]);
        tf.tidy(() => {
          ag.matmul(w, x); // saves both; the node is dropped without dispose (tf.tidy frees its output)
        });
        w.dispose();
        x.dispose();
        assert.equal(tf.memory().numTensors, before);
      });

      it('names a borrowed tfjs tensor disposed before backward', async () => {
        const w = ag.param([1, 2]);
        const t = tf.tensor([3, 4]);
        const y = ag.sum(ag.mul(w, t)); // mul saves t (borrowed, not copied) for ∂/∂w
        t.dispose();
        assert.throws(() => y.backward(), /input 1 \(a tfjs tensor \[2\] passed to mul, borrowed\) was disposed before backward/);
        y.dispose();
        w.dispose();
      });

      it('a rule that reads a value it did not declare in saves is a clear gradlab bug', async () => {
        const x = ag.param([1, 2]);
        const y = ag.sum(ag.record('sloppy', [x], ([a]) => tf.square(a), [{ grad: (dy, s) => tf.mul(dy, s.x(0)) }]));
        assert.throws(() => y.backward(), /the backward rule of sloppy for input 0 reads input 0, which it does not list in saves \[\]/);
        y.dispose();
        x.dispose();
      });
    });

    describe('defects found in review', () => {
      it('pow(x, 0) at x = 0 has gradient 0 in both engines (PyTorch: 0)', async () => {
        const x = ag.param([0, 2]);
        const y = ag.sum(ag.pow(x, 0));
        y.backward();
        assert.deepEqual(await values(x.grad), [0, 0]);
        y.dispose();
        x.dispose();
        const v = new ag.Value(0);
        v.pow(0).backward();
        assert.equal(v.grad, 0);
      });

      it('gather throws the same clear error for an int32 tensor index out of range as for an array', async () => {
        const table = ag.param([[1, 2], [3, 4], [5, 6]]);
        const before = tf.memory().numTensors;
        const message = /gather: index 3 is out of range for table \[3,2\] \(use 0\.\.2\)/;
        assert.throws(() => ag.gather(table, [0, 3]), message);
        const idx = tf.tensor([0, 3], undefined, 'int32');
        assert.throws(() => ag.gather(table, idx), message);
        const leaf = ag.tensor(idx);
        assert.throws(() => ag.gather(table, leaf), message);
        const negative = ag.tensor([-1], { dtype: 'int32' });
        assert.throws(() => ag.gather(table, negative), /gather: index -1 is out of range/);
        leaf.dispose();
        negative.dispose();
        assert.equal(tf.memory().numTensors, before);
        table.dispose();
      });

      it('sequenceCrossEntropy leaves nothing behind when its options or targets are rejected', async () => {
        const logits = ag.param(tf.randomNormal([2, 4, 5], 0, 1, 'float32', 3));
        const targets = tf.tensor([[1, 2, 3, 4], [0, 1, 2, 3]], undefined, 'int32');
        const before = tf.memory().numTensors;
        assert.throws(() => nn.sequenceCrossEntropy(logits, targets, { shift: true, labelSmoothing: 2 }), /labelSmoothing must be a number in \[0, 1\]/);
        assert.throws(() => nn.sequenceCrossEntropy(logits, [[1, 2, 3, 9], [0, 1, 2, 3]], { shift: true }), /target 9 at \[0,2\] is out of range/);
        assert.throws(() => nn.sequenceCrossEntropy(logits, targets, { shift: true, ignoreIndex: 0.5 }), /ignoreIndex must be an integer/);
        assert.equal(tf.memory().numTensors, before);
        targets.dispose();
        logits.dispose();
      });
    });
  });
}
