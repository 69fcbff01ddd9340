/**
 * Every loss against PyTorch (float64) on shared inputs: value and gradients,
 * including how crossEntropy's ignoreIndex and label smoothing interact; the
 * numerics of crossEntropy at huge logits; the errors for bad shapes, dtypes
 * and targets; and a leak check per loss. One Python run for all cases; the
 * comparisons run on cpu and on wasm.
 */
import { strict as assert } from 'assert';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';
import { rng, type Rng } from '../src/data';
import * as nn from '../src/nn';
import { decode, needTorch, runTorch, type TorchRun } from './helpers/torch';
import { suiteBackends, useBackend, webgpuSuite } from './helpers/backend';

interface Data {
  values: number[];
  shape: number[];
  dtype: 'float32' | 'int32';
}
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const toTf = (d: Data) => tf.tensor(d.values, d.shape, d.dtype);
/** A tensor's values, read back asynchronously (webgpu cannot read back synchronously). */
const values = async (t: tf.Tensor | null) => Array.from(await (t as tf.Tensor).data());

/** Input makers: normal floats (times `scale`), or class indices with some set to `ignore`. */
const floats = (shape: number[], scale = 1) => (r: Rng): Data => ({ values: Array.from(r.normalArray(size(shape), 0, scale)), shape, dtype: 'float32' });
const labels = (shape: number[], C: number, ignore: { value: number; every: number } | null = null) => (r: Rng): Data => ({
  values: Array.from({ length: size(shape) }, (_, i) => (ignore && i % ignore.every === 1 ? ignore.value : r.int(C))),
  shape,
  dtype: 'int32',
});
const given = (values: number[], shape: number[], dtype: Data['dtype'] = 'int32') => (): Data => ({ values, shape, dtype });

interface LossCase {
  name: string;
  inputs: ((r: Rng) => Data)[];
  ours: (...xs: ag.Tensor[]) => ag.Tensor;
  /** PyTorch expression on x0, x1, ... (float inputs require grad; int inputs are torch.long). */
  torch: string;
}

const CE = nn.crossEntropy;
const CASES: LossCase[] = [
  // crossEntropy
  { name: 'crossEntropy [8,5], mean', inputs: [floats([8, 5], 2), labels([8], 5)], ours: (z, y) => CE(z, y), torch: 'F.cross_entropy(x0, x1)' },
  { name: 'crossEntropy, sum', inputs: [floats([8, 5], 2), labels([8], 5)], ours: (z, y) => CE(z, y, { reduction: 'sum' }), torch: "F.cross_entropy(x0, x1, reduction='sum')" },
  { name: 'crossEntropy, none', inputs: [floats([8, 5], 2), labels([8], 5)], ours: (z, y) => CE(z, y, { reduction: 'none' }), torch: "F.cross_entropy(x0, x1, reduction='none')" },
  {
    name: 'crossEntropy, ignoreIndex -100 on every third target, mean over the rest',
    inputs: [floats([9, 4], 2), labels([9], 4, { value: -100, every: 3 })],
    ours: (z, y) => CE(z, y),
    torch: 'F.cross_entropy(x0, x1)',
  },
  {
    name: 'crossEntropy, labelSmoothing 0.2',
    inputs: [floats([8, 5], 2), labels([8], 5)],
    ours: (z, y) => CE(z, y, { labelSmoothing: 0.2 }),
    torch: 'F.cross_entropy(x0, x1, label_smoothing=0.2)',
  },
  {
    name: 'crossEntropy, labelSmoothing 0.1 with ignoreIndex -100, mean',
    inputs: [floats([9, 4], 2), labels([9], 4, { value: -100, every: 3 })],
    ours: (z, y) => CE(z, y, { labelSmoothing: 0.1 }),
    torch: 'F.cross_entropy(x0, x1, label_smoothing=0.1)',
  },
  {
    name: 'crossEntropy, labelSmoothing 0.1 with ignoreIndex -100, sum',
    inputs: [floats([9, 4], 2), labels([9], 4, { value: -100, every: 3 })],
    ours: (z, y) => CE(z, y, { labelSmoothing: 0.1, reduction: 'sum' }),
    torch: "F.cross_entropy(x0, x1, label_smoothing=0.1, reduction='sum')",
  },
  {
    name: 'crossEntropy, labelSmoothing 0.3 with ignoreIndex -100, none',
    inputs: [floats([9, 4], 2), labels([9], 4, { value: -100, every: 3 })],
    ours: (z, y) => CE(z, y, { labelSmoothing: 0.3, reduction: 'none' }),
    torch: "F.cross_entropy(x0, x1, label_smoothing=0.3, reduction='none')",
  },
  {
    name: 'crossEntropy, ignoreIndex 2 (a real class) with labelSmoothing 0.1',
    inputs: [floats([10, 4], 2), labels([10], 4)],
    ours: (z, y) => CE(z, y, { ignoreIndex: 2, labelSmoothing: 0.1 }),
    torch: 'F.cross_entropy(x0, x1, ignore_index=2, label_smoothing=0.1)',
  },
  {
    name: 'crossEntropy, every target ignored: NaN loss (0/0), zero gradient',
    inputs: [floats([3, 4]), given([-100, -100, -100], [3])],
    ours: (z, y) => CE(z, y),
    torch: 'F.cross_entropy(x0, x1)',
  },
  {
    name: 'crossEntropy on [2,3,5] with the class axis last (PyTorch: axis 1)',
    inputs: [floats([2, 3, 5], 2), labels([2, 3], 5)],
    ours: (z, y) => CE(z, y, { reduction: 'none' }),
    torch: "F.cross_entropy(x0.permute(0, 2, 1), x1, reduction='none')",
  },
  { name: 'crossEntropy on a single example [5]', inputs: [floats([5], 2), given([3], [])], ours: (z, y) => CE(z, y), torch: 'F.cross_entropy(x0, x1)' },
  {
    name: 'crossEntropy at logits of size 1e4 (stable), labelSmoothing 0.1',
    inputs: [floats([6, 5], 1e4), labels([6], 5)],
    ours: (z, y) => CE(z, y, { labelSmoothing: 0.1 }),
    torch: 'F.cross_entropy(x0, x1, label_smoothing=0.1)',
  },
  // sequenceCrossEntropy
  {
    name: 'sequenceCrossEntropy [2,4,5], shifted targets given, padding ignored',
    inputs: [floats([2, 4, 5], 2), given([1, 4, 0, -100, 3, 3, -100, -100], [2, 4])],
    ours: (z, y) => nn.sequenceCrossEntropy(z, y),
    torch: 'F.cross_entropy(x0.reshape(-1, 5), x1.reshape(-1))',
  },
  {
    name: 'sequenceCrossEntropy, shift: logits[:, :-1] against tokens[:, 1:]',
    inputs: [floats([2, 4, 5], 2), labels([2, 4], 5)],
    ours: (z, y) => nn.sequenceCrossEntropy(z, y, { shift: true }),
    torch: 'F.cross_entropy(x0[:, :-1].reshape(-1, 5), x1[:, 1:].reshape(-1))',
  },
  {
    name: 'sequenceCrossEntropy, shift, labelSmoothing 0.1, none',
    inputs: [floats([2, 4, 5], 2), labels([2, 4], 5)],
    ours: (z, y) => nn.sequenceCrossEntropy(z, y, { shift: true, labelSmoothing: 0.1, reduction: 'none' }),
    torch: "F.cross_entropy(x0[:, :-1].reshape(-1, 5), x1[:, 1:].reshape(-1), label_smoothing=0.1, reduction='none').reshape(2, 3)",
  },
  // mse
  { name: 'mse [4,3], mean (target takes a gradient too)', inputs: [floats([4, 3]), floats([4, 3])], ours: (a, b) => nn.mse(a, b), torch: 'F.mse_loss(x0, x1)' },
  { name: 'mse, sum', inputs: [floats([4, 3]), floats([4, 3])], ours: (a, b) => nn.mse(a, b, { reduction: 'sum' }), torch: "F.mse_loss(x0, x1, reduction='sum')" },
  { name: 'mse, none', inputs: [floats([4, 3]), floats([4, 3])], ours: (a, b) => nn.mse(a, b, { reduction: 'none' }), torch: "F.mse_loss(x0, x1, reduction='none')" },
  // huber
  { name: 'huber, delta 1, mean (both zones)', inputs: [floats([5, 4], 1.5), floats([5, 4])], ours: (a, b) => nn.huber(a, b), torch: 'F.huber_loss(x0, x1)' },
  {
    name: 'huber, delta 0.5, sum',
    inputs: [floats([5, 4], 1.5), floats([5, 4])],
    ours: (a, b) => nn.huber(a, b, { delta: 0.5, reduction: 'sum' }),
    torch: "F.huber_loss(x0, x1, delta=0.5, reduction='sum')",
  },
  {
    name: 'huber, delta 2, none',
    inputs: [floats([5, 4], 3), floats([5, 4])],
    ours: (a, b) => nn.huber(a, b, { delta: 2, reduction: 'none' }),
    torch: "F.huber_loss(x0, x1, delta=2.0, reduction='none')",
  },
  // infoNCE
  {
    name: 'infoNCE [6,4], normalised, temperature 0.07',
    inputs: [floats([6, 4]), floats([6, 4])],
    ours: (a, b) => nn.infoNCE(a, b),
    torch: 'F.cross_entropy(F.normalize(x0, dim=-1) @ F.normalize(x1, dim=-1).T / 0.07, torch.arange(6))',
  },
  {
    name: 'infoNCE, not normalised, temperature 1, none',
    inputs: [floats([6, 4]), floats([6, 4])],
    ours: (a, b) => nn.infoNCE(a, b, { normalize: false, temperature: 1, reduction: 'none' }),
    torch: "F.cross_entropy(x0 @ x1.T, torch.arange(6), reduction='none')",
  },
  {
    name: 'infoNCE, symmetric (CLIP), temperature 0.5',
    inputs: [floats([6, 4]), floats([6, 4])],
    ours: (a, b) => nn.infoNCE(a, b, { symmetric: true, temperature: 0.5 }),
    torch: '(lambda s: (F.cross_entropy(s, torch.arange(6)) + F.cross_entropy(s.T, torch.arange(6))) / 2)(F.normalize(x0, dim=-1) @ F.normalize(x1, dim=-1).T / 0.5)',
  },
  // normalize, the op under infoNCE
  { name: 'normalize [3,5] (F.normalize)', inputs: [floats([3, 5])], ours: (x) => nn.normalize(x), torch: 'F.normalize(x0, dim=-1)' },
];

const TORCH_SCRIPT = `
OUTPUT = {}
for case in INPUT:
    xs = [t(spec, True) for spec in case["inputs"]]
    env = {"torch": torch, "F": F}
    for i, x in enumerate(xs):
        env["x%d" % i] = x
    y = eval(case["expr"], env)
    y.backward(t(case["r"]))
    OUTPUT[case["name"]] = {"y": flat(y), "grads": [flat(x.grad) if x.grad is not None else None for x in xs]}
`;

interface Out {
  y: (number | string)[];
  grads: ((number | string)[] | null)[];
}

const DATA = new Map<string, { inputs: Data[]; r: Data }>();

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, atol = 1e-5, rtol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} values, expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const [a, e] = [actual[i] as number, expected[i] as number];
    if (Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))) continue;
    assert.ok(Math.abs(a - e) <= atol + rtol * Math.abs(e), `${what}: element ${i} is ${a}, expected ${e} (atol ${atol}, rtol ${rtol})`);
  }
}

const leaves = (inputs: Data[]) => inputs.map((d) => ag.tensor(toTf(d), { requiresGrad: d.dtype === 'float32' }));

async function runOurs(c: LossCase): Promise<{ y: number[]; grads: (number[] | null)[] }> {
  const { inputs, r } = DATA.get(c.name)!;
  const xs = leaves(inputs);
  const y = c.ours(...xs);
  const rT = toTf(r);
  y.backward(rT);
  const out = { y: await values(y.data), grads: await Promise.all(xs.map((x) => (x.grad ? values(x.grad) : null))) };
  rT.dispose();
  y.dispose();
  xs.forEach((x) => x.dispose());
  return out;
}

describe('losses', () => {
  let torch: TorchRun<Record<string, Out>> | undefined;

  before(async () => {
    await useBackend('cpu');
    const r = rng(11);
    for (const c of CASES) {
      const inputs = c.inputs.map((f) => f(r));
      const shape = ag.noGrad(() => {
        const xs = leaves(inputs);
        const y = c.ours(...xs);
        const s = y.shape;
        y.dispose();
        xs.forEach((x) => x.dispose());
        return s;
      });
      DATA.set(c.name, { inputs, r: floats(shape)(r) });
    }
    torch = runTorch<Record<string, Out>>(
      TORCH_SCRIPT,
      CASES.map((c) => ({ name: c.name, expr: c.torch, ...DATA.get(c.name)! })),
    );
  });

  for (const backend of suiteBackends(['cpu', 'wasm'])) {
    describe(`against PyTorch, with a leak check, on ${backend}`, () => {
      before(async () => {
        await useBackend(backend);
      });

      for (const c of CASES) {
        describe(c.name, () => {
          it('matches PyTorch in value and gradients', async function () {
            const ref = needTorch(this, torch)[c.name]!;
            const ours = await runOurs(c);
            assertClose(ours.y, decode(ref.y), 'value');
            ours.grads.forEach((g, i) => {
              const e = ref.grads[i];
              if (g === null || e == null) return assert.equal(g === null, e == null, `gradient of input ${i}: ours ${g ? 'present' : 'absent'}, PyTorch's ${e ? 'present' : 'absent'}`);
              assertClose(g, decode(e), `gradient of input ${i}`);
            });
          });

          it('leaves tf.memory().numTensors unchanged over training steps and under noGrad', function () {
            const { inputs, r } = DATA.get(c.name)!;
            const xs = leaves(inputs);
            const rT = toTf(r);
            const start = tf.memory().numTensors;
            for (let step = 0; step < 3; step++) {
              const out = c.ours(...xs);
              const loss = ag.sum(ag.mul(out, rT));
              loss.backward();
              for (const x of xs) if (x.grad) x.assign(tf.tidy(() => tf.sub(x.data, tf.mul(x.grad!, 1e-3)))); // θ ← θ − lr·g
              loss.dispose();
              ag.zeroGrad(xs);
              assert.equal(tf.memory().numTensors, start, `step ${step} changed the number of tensors`);
            }
            ag.noGrad(() => c.ours(...xs)).dispose();
            assert.equal(tf.memory().numTensors, start, 'a noGrad evaluation changed the number of tensors');
            rT.dispose();
            xs.forEach((x) => x.dispose());
          });
        });
      }

      describe('crossEntropy numerics', () => {
        it('stays finite at logits of 1e4, where log(softmax) overflows: loss ln2/2, gradient softmax − onehot', async () => {
          const z = ag.param([[1e4, 0, -1e4], [0, 1e4, 1e4]]);
          const naive = ag.noGrad(() => ag.log(ag.div(ag.exp(z), ag.sum(ag.exp(z), -1, true))));
          assert.ok((await values(naive.data)).some((v) => !Number.isFinite(v)), 'the naive form is not finite here');
          naive.dispose();
          const loss = nn.crossEntropy(z, [0, 1]); // row 0: lse = 1e4, ℓ = 0; row 1: lse = 1e4 + ln 2, ℓ = ln 2
          loss.backward();
          // log p = (z − m) − log Σ exp(z − m): z − m = 0 exactly, so no rounding at the scale of 1e4 (PyTorch float32: 0.34657359)
          const lossValue = (await values(loss.data))[0]!;
          assert.ok(Math.abs(lossValue - Math.LN2 / 2) < 1e-6, `loss ${lossValue}`);
          assertClose(await values(z.grad), [0, 0, 0, 0, -0.25, 0.25], 'gradient'); // ([0, ½, ½] − [0, 1, 0]) / 2
          loss.dispose();
          z.dispose();
        });

        it('gives ignored rows exactly zero gradient and leaves them out of the mean', async () => {
          const z = ag.param(tf.tidy(() => rng(12).normalTensor([4, 3])));
          const loss = nn.crossEntropy(z, [2, -100, 0, -100], { labelSmoothing: 0.1 });
          loss.backward();
          const g = await values(z.grad);
          assert.deepEqual([...g.slice(3, 6), ...g.slice(9, 12)], [0, 0, 0, 0, 0, 0]);
          const z2 = ag.param(tf.gather(z.data, [0, 2]));
          const kept = nn.crossEntropy(z2, [2, 0], { labelSmoothing: 0.1 });
          assert.ok(Math.abs((await values(loss.data))[0]! - (await values(kept.data))[0]!) < 1e-6, 'the mean is over the 2 non-ignored rows');
          [loss, kept, z, z2].forEach((t) => t.dispose());
        });

        it('checkTargets: false skips the read-back and gives the same loss', async () => {
          const z = ag.tensor([[1, 2, 3]]);
          const [a, b] = [nn.crossEntropy(z, [1]), nn.crossEntropy(z, [1], { checkTargets: false })];
          assert.deepEqual(await values(a.data), await values(b.data));
          [a, b, z].forEach((t) => t.dispose());
        });
      });

      describe('bad input errors name the loss, the shapes and what was expected', () => {
        const z43 = () => ag.tensor(tf.zeros([4, 3]));
        /** Operands a case makes itself (tfjs tensors or leaves): freed after it, so the loss must free everything else. */
        const made: { dispose(): void }[] = [];
        const own = <T extends { dispose(): void }>(t: T): T => {
          made.push(t);
          return t;
        };
        const cases: [string, (z: ag.Tensor) => unknown, RegExp][] = [
          ['float targets', (z) => nn.crossEntropy(z, own(tf.zeros([4]))), /^ShapeError: crossEntropy: logits \[4,3\] and targets \[4\] float32: targets must be int32 class indices in \[0, 3\) \(cast with tf\.cast\(targets, 'int32'\)\)$/],
          ['targets of the wrong shape', (z) => nn.crossEntropy(z, [0, 1, 2]), /^ShapeError: crossEntropy: logits \[4,3\] and targets \[3\]: expected targets \[4\] \(the logits without their last, class, axis\)$/],
          ['a target equal to C', (z) => nn.crossEntropy(z, [0, 1, 3, 2]), /^RangeError: crossEntropy: target 3 at \[2\] is out of range for logits \[4,3\]: targets must be class indices in \[0, 3\) or ignoreIndex \(-100\)$/],
          ['a negative target that is not ignoreIndex', (z) => nn.crossEntropy(z, own(tf.tensor([0, -1, 0, 0], [4], 'int32'))), /^RangeError: crossEntropy: target -1 at \[1\] is out of range/],
          ['a fractional target', (z) => nn.crossEntropy(z, [0, 1.5, 0, 0]), /^ShapeError: crossEntropy: targets must be int32 class indices in \[0, 3\); got 1\.5$/],
          ['int32 logits', () => nn.crossEntropy(own(ag.tensor([[1, 2]], { dtype: 'int32' })), [0]), /^ShapeError: crossEntropy: logits \[1,2\] must be float32, got int32$/],
          ['labelSmoothing 1.5', (z) => nn.crossEntropy(z, [0, 0, 0, 0], { labelSmoothing: 1.5 }), /^Error: crossEntropy: labelSmoothing must be a number in \[0, 1\], got 1\.5$/],
          ['reduction "avg"', (z) => nn.crossEntropy(z, [0, 0, 0, 0], { reduction: 'avg' as 'mean' }), /^Error: crossEntropy: reduction must be 'mean', 'sum' or 'none', got 'avg'$/],
          ['sequenceCrossEntropy on [4,3]', (z) => nn.sequenceCrossEntropy(z, [[0, 1, 2, 0]]), /^ShapeError: sequenceCrossEntropy: logits \[4,3\] and targets \[1,4\]: expected logits \[B, T, V\] and targets \[B, T\]$/],
          ['mse of [4,3] and [4]', (z) => nn.mse(z, own(tf.zeros([4]))), /^ShapeError: mse: input \[4,3\] and target \[4\]: expected the same shape$/],
          ['huber with delta 0', (z) => nn.huber(z, z, { delta: 0 }), /^Error: huber: delta must be a positive finite number, got 0$/],
          ['infoNCE of [4,3] and [5,3]', (z) => nn.infoNCE(z, own(tf.zeros([5, 3]))), /^ShapeError: infoNCE: a \[4,3\] and b \[5,3\]: expected both \[N, D\] with the same N and D$/],
          ['infoNCE with temperature 0', (z) => nn.infoNCE(z, z, { temperature: 0 }), /^Error: infoNCE: temperature must be a positive finite number, got 0$/],
        ];
        for (const [name, fn, message] of cases) {
          it(`${name}, leaking nothing`, () => {
            const z = z43();
            const start = tf.memory().numTensors;
            assert.throws(() => fn(z), message);
            made.splice(0).forEach((t) => t.dispose());
            assert.equal(tf.memory().numTensors, start, `${tf.memory().numTensors - start} tensors left behind by the loss`);
            z.dispose();
          });
        }
      });
    });
  }
});

webgpuSuite(__filename, 'losses');
