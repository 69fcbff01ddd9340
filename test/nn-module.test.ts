/**
 * The Module contract (explicit parameters and their names, counts, train/eval,
 * zeroGrad, dispose), Dropout in training mode, and the errors a learner meets
 * when building or calling a layer wrongly. Runs on cpu and wasm.
 */
import { strict as assert } from 'assert';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';
import { rng } from '../src/data';
import * as nn from '../src/nn';
import { useBackend } from './helpers/backend';

const values = (t: tf.Tensor | null) => Array.from((t as tf.Tensor).dataSync());

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`nn Module on ${backend}`, () => {
    before(async () => {
      await useBackend(backend);
    });

    describe('parameters', () => {
      it('names an MLP\'s parameters layers.<i>.weight / bias, in order, and counts them as PyTorch does', () => {
        const m = new nn.MLP([784, 256, 256, 10], { rng: 0 });
        assert.deepEqual(
          m.namedParameters().map(([n, p]) => `${n} [${p.shape}]`),
          ['layers.0.weight [784,256]', 'layers.0.bias [256]', 'layers.1.weight [256,256]', 'layers.1.bias [256]', 'layers.2.weight [256,10]', 'layers.2.bias [10]'],
        );
        assert.equal(m.numParameters(), 269_322); // sum(p.numel() for p in torch MLP.parameters())
        assert.deepEqual(m.parameters().map((p) => p.label), m.namedParameters().map(([n]) => n));
        assert.ok(m.parameters().every((p) => p.requiresGrad && p.isLeaf));
        m.dispose();
      });

      it('names nested containers by position (PyTorch style) and lists a shared layer once', () => {
        const r = rng(1);
        const shared = new nn.Linear(4, 4, { rng: r });
        const m = new nn.Sequential(new nn.Embedding(10, 4, { rng: r }), new nn.Residual(new nn.Sequential(shared, new nn.ReLU())), shared, new nn.LayerNorm(4));
        assert.deepEqual(
          m.namedParameters().map(([n]) => n),
          ['0.weight', '1.block.0.weight', '1.block.0.bias', '3.weight', '3.bias'],
        );
        assert.deepEqual(m.namedParameters('model').map(([n]) => n)[0], 'model.0.weight');
        assert.match(m.toString(), /^Sequential\(\n {2}\(0\): Embedding\(10, 4\)\n {2}\(1\): Residual\(\n {4}\(block\): Sequential\(/);
        m.dispose();
      });

      it('has no parameters in activations, and none in non-affine norms', () => {
        for (const m of [new nn.ReLU(), new nn.GELU(), new nn.SiLU(), new nn.Tanh(), new nn.Sigmoid(), new nn.Dropout(0.1, { rng: 0 }), new nn.LayerNorm(3, { affine: false }), new nn.RMSNorm(3, { affine: false })]) {
          assert.equal(m.numParameters(), 0, m.describe());
        }
      });

      it('zeroGrad frees every gradient and dispose frees every parameter', () => {
        const start = tf.memory().numTensors;
        const m = new nn.MLP([3, 4, 2], { rng: 2 });
        const x = tf.ones([2, 3]);
        const loss = ag.sum(m.forward(x));
        loss.backward();
        loss.dispose();
        assert.ok(m.parameters().every((p) => p.grad !== null));
        m.zeroGrad();
        assert.ok(m.parameters().every((p) => p.grad === null));
        m.dispose();
        x.dispose();
        assert.equal(tf.memory().numTensors, start);
      });
    });

    describe('train and eval', () => {
      it('sets the mode on every sub-module and returns the module', () => {
        const drop = new nn.Dropout(0.5, { rng: 3 });
        const m = new nn.Sequential(new nn.Linear(2, 2, { rng: 3 }), new nn.Residual(drop));
        assert.equal(m.eval(), m);
        assert.equal(drop.training, false);
        m.train();
        assert.equal(drop.training, true);
        m.dispose();
      });

      it('Dropout zeroes about p of the elements and scales the rest by 1/(1 − p) in training, with that mask in backward', () => {
        const p = 0.3;
        const drop = new nn.Dropout(p, { rng: 4 });
        const x = ag.tensor(tf.fill([200, 100], 2), { requiresGrad: true });
        const y = drop.forward(x);
        const out = values(y.data);
        const kept = out.filter((v) => v !== 0);
        assert.ok(kept.every((v) => Math.abs(v - 2 / (1 - p)) < 1e-5), 'kept elements are x/(1 − p)');
        const frac = 1 - kept.length / out.length;
        assert.ok(Math.abs(frac - p) < 0.01, `dropped fraction ${frac}, expected ${p} ± 0.01`); // sd √(p(1−p)/20000) ≈ 0.003
        const ySum = ag.sum(y);
        ySum.backward();
        values(x.grad).forEach((g, i) => assert.equal(g, out[i] === 0 ? 0 : Math.fround(1 / (1 - p)), `grad ${i}`));
        ySum.dispose();
        x.dispose();
      });

      it('Dropout draws a new mask each forward, reproducibly from its seed, and is the identity in eval mode', () => {
        const x = tf.ones([50]);
        const masks = (seed: number) => {
          const d = new nn.Dropout(0.5, { rng: seed });
          return [0, 1].map(() => {
            const y = d.forward(x);
            const v = values(y.data);
            y.dispose();
            return v;
          });
        };
        const [a1, a2] = masks(5);
        const [b1] = masks(5);
        assert.deepEqual(a1, b1, 'same seed, same first mask');
        assert.notDeepEqual(a1, a2, 'a fresh mask per forward');
        const d = new nn.Dropout(0.5, { rng: 5 }).eval();
        const y = d.forward(x);
        assert.deepEqual(values(y.data), values(x));
        y.dispose();
        x.dispose();
      });
    });

    describe('errors name the layer, the option and the bad value', () => {
      const cases: [string, () => unknown, RegExp][] = [
        ['Linear with 0 inputs', () => new nn.Linear(0, 3, { rng: 0 }), /^Linear\(0 → 3\): inFeatures must be a positive integer, got 0$/],
        ['Linear with 2.5 outputs', () => new nn.Linear(3, 2.5, { rng: 0 }), /^Linear\(3 → 2\.5\): outFeatures must be a positive integer, got 2\.5$/],
        ['Linear without an rng', () => new nn.Linear(3, 2), /^Linear\(3 → 2\): pass \{ rng \} \(a gl\.data\.Rng or a seed number, e\.g\. \{ rng: 0 \}\): gradlab has no global random seed$/],
        ['Linear with a non-function init', () => new nn.Linear(3, 2, { rng: 0, init: 0.02 as unknown as nn.Initializer }), /^Linear\(3 → 2\): init must be a function \(e\.g\. nn\.init\.xavierUniform\(\)\), got 0\.02$/],
        ['MLP with one size', () => new nn.MLP([3], { rng: 0 }), /^MLP: sizes must list at least an input and an output width, got \[3\]$/],
        ['MLP with a negative size', () => new nn.MLP([3, -1, 2], { rng: 0 }), /^MLP: sizes\[1\] must be a positive integer, got -1$/],
        ['MLP with an unknown activation', () => new nn.MLP([3, 2], { rng: 0, activation: 'swish' as nn.ActivationName }), /^activation: unknown activation 'swish'; use one of relu, gelu, gelu-tanh, silu, tanh, sigmoid or pass a function$/],
        ['Embedding with 0 rows', () => new nn.Embedding(0, 4, { rng: 0 }), /^Embedding\(0, 4\): numEmbeddings must be a positive integer, got 0$/],
        ['LayerNorm with eps 0', () => new nn.LayerNorm(4, { eps: 0 }), /^LayerNorm\(4\): eps must be a positive finite number, got 0$/],
        ['RMSNorm with affine "yes"', () => new nn.RMSNorm(4, { affine: 'yes' as unknown as boolean }), /^RMSNorm\(4\): affine must be true or false, got yes$/],
        ['Dropout with p 1.5', () => new nn.Dropout(1.5), /^Dropout: p must be a number in \[0, 1\], got 1\.5$/],
        ['Dropout without an rng', () => new nn.Dropout(0.1), /^Dropout\(0\.1\): pass \{ rng \}/],
        ['GELU with approximate "fast"', () => new nn.GELU({ approximate: 'fast' as 'tanh' }), /^GELU: approximate must be 'none' or 'tanh', got 'fast'$/],
        ['Sequential of a function', () => new nn.Sequential(new nn.ReLU(), (() => 0) as unknown as nn.Module), /^Sequential: argument 1 is not an nn\.Module/],
      ];
      for (const [name, fn, message] of cases) {
        it(name, () => assert.throws(fn, (e: Error) => (assert.match(e.message, message), true)));
      }

      it('Linear.forward names the layer, the input shape and the width it expected', () => {
        const lin = new nn.Linear(784, 256, { rng: 0 });
        const x = tf.zeros([32, 100]);
        const start = tf.memory().numTensors;
        assert.throws(() => lin.forward(x), (e: Error) => {
          assert.equal(e.name, 'ShapeError');
          assert.equal(e.message, 'Linear(784 → 256): input [32,100] has last axis 100, expected 784');
          return true;
        });
        assert.equal(tf.memory().numTensors, start);
        lin.dispose();
        x.dispose();
      });

      it('Residual says when its block changes the shape, and leaks nothing', () => {
        const res = new nn.Residual(new nn.Linear(4, 3, { rng: 0 }));
        const x = tf.zeros([2, 4]);
        const start = tf.memory().numTensors;
        assert.throws(() => res.forward(x), /^ShapeError: Residual: block Linear\(4 → 3\) maps \[2,4\] to \[2,3\]; x \+ block\(x\) needs the same shape$/);
        assert.equal(tf.memory().numTensors, start);
        res.dispose();
        x.dispose();
      });

      it('Embedding names an index outside the table', () => {
        const emb = new nn.Embedding(5, 2, { rng: 0 });
        assert.throws(() => emb.forward([1, 5]), /^ShapeError: gather: index 5 is out of range for table \[5,2\] \(use 0\.\.4\)$/);
        emb.dispose();
      });
    });

    it('trains: an MLP fits a small classification problem with SGD, leaking nothing', async () => {
      const r = rng(6);
      const m = new nn.MLP([4, 16, 3], { activation: 'tanh', rng: r });
      const x = r.normalTensor([32, 4]);
      const y = tf.tidy(() => tf.cast(tf.argMax(tf.matMul(x, r.normalTensor([4, 3])), 1), 'int32')); // a linear labelling
      const params = m.parameters();
      const start = tf.memory().numTensors;
      const losses: number[] = [];
      for (let step = 0; step < 60; step++) {
        const loss = nn.crossEntropy(m.forward(x), y);
        loss.backward();
        for (const p of params) p.assign(tf.tidy(() => tf.sub(p.data, tf.mul(p.grad!, 0.5))));
        losses.push(await loss.item());
        loss.dispose();
        m.zeroGrad();
      }
      assert.equal(tf.memory().numTensors, start);
      assert.ok(losses.at(-1)! < 0.4 * losses[0]!, `loss ${losses[0]} -> ${losses.at(-1)}`);
      m.dispose();
      tf.dispose([x, y]);
    });
  });
}
