/**
 * train.l2Penalty: its value against a float64 sum, its gradient λw bit for bit;
 * SGD on loss + l2Penalty against SGD({ weightDecay: λ }) bit for bit, and Adam
 * on loss + l2Penalty against Adam({ weightDecay: λ }) within float32 rounding
 * (and clearly apart from AdamW's decoupled decay), on cpu and wasm, with
 * tf.memory().numTensors constant across steps.
 */
import { strict as assert } from 'assert';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';
import { rng } from '../src/data';
import * as optim from '../src/optim';
import { l2Penalty } from '../src/train';
import { suiteBackends, useBackend, webgpuSuite } from './helpers/backend';

const r = rng(99);
const W0 = Array.from(r.normalArray(12));
const B0 = Array.from(r.normalArray(3));
const X = Array.from(r.normalArray(20));
const Y = Array.from(r.normalArray(15));
const LAMBDA = 0.05;

/** Fresh W [4, 3], b [3] and a loss mean((xW + b − y)²) over x [5, 4]. */
function problem() {
  const W = ag.param(tf.tensor(W0, [4, 3]));
  const b = ag.param(tf.tensor(B0, [3]));
  const x = tf.tensor(X, [5, 4]);
  const y = tf.tensor(Y, [5, 3]);
  const loss = () => {
    const d = ag.sub(ag.add(ag.matmul(x, W), b), y);
    return ag.mean(ag.mul(d, d));
  };
  const dispose = () => {
    W.dispose();
    b.dispose();
    tf.dispose([x, y]);
  };
  return { params: [W, b], loss, dispose };
}

/** Train `steps` steps; `penalty` adds l2Penalty(params, λ) to the loss. Returns each step's parameter values. */
async function train(make: (ps: ag.Tensor[]) => optim.Optimizer<{ lr: number }>, penalty: boolean, steps = 15): Promise<Float32Array[][]> {
  const pr = problem();
  const opt = make(pr.params);
  const out: Float32Array[][] = [];
  let n = -1;
  for (let s = 0; s < steps; s++) {
    const base = pr.loss();
    const loss = penalty ? ag.add(base, l2Penalty(pr.params, LAMBDA)) : base;
    loss.backward();
    opt.step();
    loss.dispose();
    opt.zeroGrad();
    if (s === 2) n = tf.memory().numTensors;
    if (s > 2) assert.equal(tf.memory().numTensors, n, `step ${s} changed tf.memory().numTensors`);
    out.push(await Promise.all(pr.params.map(async (p) => (await p.data.data()) as Float32Array)));
  }
  opt.dispose();
  pr.dispose();
  return out;
}

for (const backend of suiteBackends(['cpu', 'wasm'])) {
  describe(`train.l2Penalty on ${backend}`, function () {
    before(async () => useBackend(backend));

    it('is λ/2·Σ‖w‖² (float64 reference) with gradient exactly λw', async function () {
      const { params, dispose } = problem();
      const pen = l2Penalty(params, LAMBDA);
      const want = (LAMBDA / 2) * [...W0, ...B0].reduce((a, v) => a + v * v, 0);
      const got = await pen.item();
      assert.ok(Math.abs(got - want) <= 1e-6 * want, `value ${got}, float64 ${want}`);
      pen.backward();
      for (const p of params) {
        const g = await p.grad!.data();
        const ref = tf.mul(p.data, LAMBDA);
        assert.deepEqual(Array.from(g), Array.from(await ref.data()), 'grad = w·λ bit for bit');
        ref.dispose();
      }
      pen.dispose();
      dispose();
    });

    it('SGD on loss + l2Penalty equals SGD({ weightDecay: λ }) bit for bit (momentum 0.9, 15 steps)', async function () {
      const a = await train((ps) => new optim.SGD(ps, { lr: 0.05, momentum: 0.9, weightDecay: LAMBDA }) as never, false);
      const b = await train((ps) => new optim.SGD(ps, { lr: 0.05, momentum: 0.9 }) as never, true);
      a.forEach((step, s) => step.forEach((v, i) => assert.deepEqual(Array.from(b[s]![i]!), Array.from(v), `step ${s}, param ${i}`)));
      const plain = await train((ps) => new optim.SGD(ps, { lr: 0.05, momentum: 0.9 }) as never, false, 3);
      assert.notDeepEqual(Array.from(plain[2]![0]!), Array.from(a[2]![0]!), 'the decay changes the trajectory (the test can tell)');
    });

    it('Adam on loss + l2Penalty equals Adam({ weightDecay: λ }) (coupled) within float32 rounding; AdamW differs', async function () {
      const a = await train((ps) => new optim.Adam(ps, { lr: 0.01, weightDecay: LAMBDA }) as never, false);
      const b = await train((ps) => new optim.Adam(ps, { lr: 0.01 }) as never, true);
      const w = await train((ps) => new optim.AdamW(ps, { lr: 0.01, weightDecay: LAMBDA }) as never, false);
      let worst = 0;
      let apart = 0;
      a.forEach((step, s) =>
        step.forEach((v, i) =>
          v.forEach((x, k) => {
            worst = Math.max(worst, Math.abs(x - b[s]![i]![k]!) / (1e-6 + Math.abs(x)));
            apart = Math.max(apart, Math.abs(x - w[s]![i]![k]!));
          }),
        ),
      );
      assert.ok(worst <= 1e-6, `Adam + l2Penalty vs Adam(weightDecay): worst relative difference ${worst}`);
      assert.ok(apart > 1e-4, `AdamW should differ from coupled Adam, largest difference ${apart}`);
    });

    it('sums any number of weight tensors (40; tf.addN binds every input at once and reads 0 on webgpu past the device storage-buffer limit per stage)', async function () {
      const ws = Array.from({ length: 40 }, (_, i) => ag.param(tf.fill([3], i + 1)));
      const pen = l2Penalty(ws, 2);
      // λ/2 · Σ 3·(i+1)² for i = 0..39 = 3 · 22140
      assert.equal(await pen.item(), 3 * 22140);
      pen.dispose();
      ws.forEach((w) => w.dispose());
    });

    it('throws named errors for a bad lambda or no parameters', function () {
      const { params, dispose } = problem();
      assert.throws(() => l2Penalty(params, -1), /^RangeError: l2Penalty: lambda must be a finite number >= 0 \(got -1\)/);
      assert.throws(() => l2Penalty(params, NaN), /lambda must be a finite number >= 0 \(got NaN\)/);
      assert.throws(() => l2Penalty([], 0.1), /l2Penalty: got no parameters/);
      dispose();
    });
  });
}

webgpuSuite(__filename, 'train.l2Penalty');
