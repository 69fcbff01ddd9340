/**
 * train.EarlyStopping: Keras's EarlyStopping rule (improvement beyond minDelta,
 * patience counting evaluations without one, no stop at the first evaluation,
 * NaN as no improvement) on hand-worked sequences; the best weights kept and
 * restored on a real model trained with SGD; state round trips; errors; and
 * exact leak checks (tf.memory().numTensors).
 */
import { strict as assert } from 'assert';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';
import * as nn from '../src/nn';
import * as optim from '../src/optim';
import { EarlyStopping, type EarlyStoppingState } from '../src/train';
import { suiteBackends, useBackend, webgpuSuite } from './helpers/backend';

/** Feed `metrics` with a dummy parameter list; return the step at which update() first returned true (-1: never). */
function run(stopper: EarlyStopping, metrics: number[], params: ag.Tensor[]): number {
  for (let i = 0; i < metrics.length; i++) if (stopper.update(metrics[i]!, params)) return i;
  return -1;
}

const values = async (ps: ag.Tensor[]) => Promise.all(ps.map(async (p) => Array.from(await p.data.data())));

for (const backend of suiteBackends(['cpu'])) {
  describe(`train.EarlyStopping on ${backend}`, function () {
    let p: ag.Tensor[];
    before(async () => {
      await useBackend(backend);
      p = [ag.param(tf.tensor([1, 2, 3]))];
    });
    after(() => p.forEach((t) => t.dispose()));

    it('stops after `patience` evaluations without an improvement greater than minDelta (mode min)', function () {
      const m = [1.0, 0.9, 0.895, 0.893, 0.85];
      // minDelta 0.01: e1 0.9 + 0.01 < 1.0 improves; e2 0.905 ≮ 0.9 (wait 1); e3 0.903 ≮ 0.9 (wait 2 = patience): stop at 3
      const a = new EarlyStopping({ patience: 2, minDelta: 0.01 });
      assert.equal(run(a, m, p), 3);
      assert.deepEqual([a.bestValue, a.bestStep, a.wait, a.stopped, a.stoppedStep], [0.9, 1, 2, true, 3]);
      a.dispose();
      // minDelta 0: every value improves, it never stops
      const b = new EarlyStopping({ patience: 2 });
      assert.equal(run(b, m, p), -1);
      assert.deepEqual([b.bestValue, b.bestStep, b.wait, b.stopped], [0.85, 4, 0, false]);
      b.dispose();
    });

    it("mode 'max': equal is not better; patience 0 stops at the first evaluation that does not improve", function () {
      const acc = [0.5, 0.6, 0.6, 0.59, 0.7];
      const a = new EarlyStopping({ patience: 2, mode: 'max' });
      assert.equal(run(a, acc, p), 3); // e2 0.6 ≯ 0.6 (wait 1), e3 0.59 (wait 2)
      assert.deepEqual([a.bestValue, a.bestStep], [0.6, 1]);
      const z = new EarlyStopping({ patience: 0, mode: 'max' });
      assert.equal(run(z, acc, p), 2);
      const zmin = new EarlyStopping({ patience: 0 });
      assert.equal(run(zmin, [3, 2, 1, 1], p), 3);
      [a, z, zmin].forEach((s) => s.dispose());
    });

    it('treats NaN as no improvement (it counts towards patience, never becomes the best) and never stops at the first evaluation', function () {
      const a = new EarlyStopping({ patience: 1 });
      assert.equal(run(a, [1, NaN, 0.5], p), 1);
      assert.equal(a.bestValue, 1);
      const b = new EarlyStopping({ patience: 2 });
      assert.equal(run(b, [1, NaN, 0.5, NaN, NaN], p), 4);
      assert.deepEqual([b.bestValue, b.bestStep], [0.5, 2]);
      const c = new EarlyStopping({ patience: 0 });
      assert.equal(c.update(NaN, p), false, 'the first evaluation never stops');
      assert.equal(c.update(NaN, p), true);
      assert.deepEqual([c.bestValue, c.bestStep], [Infinity, -1]);
      [a, b, c].forEach((s) => s.dispose());
    });

    it('uses the given step numbers for bestStep and stoppedStep', function () {
      const a = new EarlyStopping({ patience: 1 });
      [10, 20, 30].forEach((step, i) => a.update([0.5, 0.4, 0.45][i]!, p, step));
      assert.deepEqual([a.bestStep, a.stoppedStep], [20, 30]);
      a.dispose();
    });

    it('keeps the best weights of a model trained with SGD and restores them; one copy at most, freed by dispose', async function () {
      const model = new nn.MLP([3, 4, 2], { rng: 7 });
      const params = model.parameters();
      const x = tf.tensor([[1, -2, 0.5], [0.3, 0.1, -1]]);
      const opt = new optim.SGD(params, { lr: 0.5 });
      const base = tf.memory().numTensors;
      const stopper = new EarlyStopping({ patience: 3 });
      const metrics = [5, 4, 3, 3.5, 3.2, 3.1, 2.99]; // the best is step 2 until the stop at step 5
      let snapshot: number[][] = [];
      let stoppedAt = -1;
      for (let step = 0; step < metrics.length; step++) {
        const loss = ag.mean(ag.mul(model.forward(x), model.forward(x)));
        loss.backward();
        opt.step();
        loss.dispose();
        opt.zeroGrad();
        if (step === 2) snapshot = await values(params);
        const before = tf.memory().numTensors;
        tf.tidy(() => void stopper.update(metrics[step]!, model)); // copies survive an enclosing tf.tidy
        if (step > 0) assert.equal(tf.memory().numTensors, before, `step ${step}: update changed numTensors`);
        if (stopper.stopped) {
          stoppedAt = step;
          break;
        }
      }
      assert.equal(stoppedAt, 5);
      assert.notDeepEqual(await values(params), snapshot, 'training moved the weights after the best step');
      assert.equal(stopper.restore(model), 2);
      assert.deepEqual(await values(params), snapshot, 'restore wrote back the weights of step 2 exactly');
      const kept = tf.memory().numTensors - base; // plain SGD keeps no buffers: these are the copies, one per parameter
      assert.equal(kept, params.length, `expected ${params.length} kept tensors, got ${kept}`);
      stopper.dispose();
      assert.equal(tf.memory().numTensors, base, 'dispose freed the kept weights');
      opt.dispose();
      model.dispose();
      x.dispose();
    });

    it('round-trips its state and best weights (as a checkpoint would) and continues identically', async function () {
      const w = [ag.param(tf.tensor([0, 0]))];
      const metrics = [3, 2, 2.5, 1.5, 1.6, 1.7, 1.8, 1.9];
      const a = new EarlyStopping({ patience: 3, minDelta: 0.05 });
      for (let i = 0; i < 5; i++) {
        w[0]!.assign(tf.tensor([i, -i]));
        a.update(metrics[i]!, w);
      }
      const state = JSON.parse(JSON.stringify(a.state())) as EarlyStoppingState;
      const weights = a.bestWeights();
      assert.deepEqual(Object.keys(weights), ['0']);
      const b = new EarlyStopping({ patience: 3, minDelta: 0.05 });
      b.loadState(state, weights);
      tf.dispose(Object.values(weights)); // loadState cloned them
      const rest = (s: EarlyStopping) => metrics.slice(5).map((m, k) => s.update(m, w, 5 + k));
      assert.deepEqual(rest(b), rest(a));
      assert.deepEqual(b.state(), a.state());
      w[0]!.assign(tf.tensor([9, 9]));
      b.restore(w);
      assert.deepEqual(Array.from(await w[0]!.data.data()), [3, -3]);
      const fresh = new EarlyStopping({ patience: 1 });
      assert.deepEqual(JSON.parse(JSON.stringify(fresh.state())).bestValue, null, 'Infinity is stored as null (JSON-safe)');
      [a, b, fresh].forEach((s) => s.dispose());
      w[0]!.dispose();
    });

    it('throws named errors for bad arguments, restores and states', function () {
      const cases: [() => unknown, RegExp][] = [
        [() => new EarlyStopping({ patience: -1 }), /^RangeError: EarlyStopping: patience must be an integer >= 0 \(got -1\)/],
        [() => new EarlyStopping({ patience: 2.5 }), /patience must be an integer >= 0 \(got 2.5\)/],
        [() => new EarlyStopping({ patience: 1, minDelta: -0.1 }), /minDelta must be a finite number >= 0 \(got -0.1\)/],
        [() => new EarlyStopping({ patience: 1, mode: 'avg' as 'min' }), /mode must be 'min' or 'max' \(got "avg"\)/],
        [() => new EarlyStopping({ patience: 1 }).update('0.5' as unknown as number, p), /update: metric must be a number \(got "string"\); read a tensor first/],
        [() => new EarlyStopping({ patience: 1 }).restore(p), /EarlyStopping.restore: no weights recorded yet/],
        [() => { const s = new EarlyStopping({ patience: 1, restoreBest: false }); s.update(1, p); s.restore(p); }, /restoreBest is false/],
        [() => { const s = new EarlyStopping({ patience: 1 }); s.update(1, p); try { s.restore({ w: p[0]! }); } finally { s.dispose(); } }, /the weights are \[w\] but the kept ones are \[0\]/],
        [() => new EarlyStopping({ patience: 1 }).loadState(new EarlyStopping({ patience: 2 }).state()), /loadState: setting patience is 1 here but differs in the state \(got 2\)/],
      ];
      for (const [f, re] of cases) assert.throws(f, (e: Error) => re.test(String(e)), `expected ${re}`);
    });

    it('keeps nothing when restoreBest is false', function () {
      const n = tf.memory().numTensors;
      const s = new EarlyStopping({ patience: 1, restoreBest: false });
      run(s, [3, 2, 1], p);
      assert.equal(tf.memory().numTensors, n);
      assert.deepEqual(s.bestWeights(), {});
    });
  });
}

webgpuSuite(__filename, 'train.EarlyStopping');
