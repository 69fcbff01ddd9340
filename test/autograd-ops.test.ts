/**
 * Every tensor op's backward rule, checked three independent ways on shared
 * random inputs (broadcasting included), on the cpu and wasm backends:
 * central finite differences (gradcheck), tfjs's own gradients (tf.grads),
 * and PyTorch in float64 (one Python run for all cases). Each case also runs a
 * whole step and checks that it leaves tf.memory().numTensors unchanged.
 */
import { strict as assert } from 'assert';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';
import * as nn from '../src/nn';
import { decode, needTorch, runTorch, type TorchRun } from './helpers/torch';
import { suiteBackends, useBackend, webgpuSuite } from './helpers/backend';

type Kind = 'normal' | 'positive' | 'away' | 'distinct' | 'big' | 'int' | 'bool';
interface Spec {
  shape: number[];
  kind?: Kind;
  /** Exclusive upper bound of 'int' inputs. */
  max?: number;
}
interface Case {
  name: string;
  inputs: Spec[];
  ours: (...xs: ag.Tensor[]) => ag.Tensor;
  /** The same function written with tfjs ops, differentiated by tf.grads. */
  tfjs: (...xs: tf.Tensor[]) => tf.Tensor;
  /** The same function in PyTorch, on x0, x1, ... (float64). */
  torch: string | (() => string);
  /** gradcheck's eps for this case, when the default does not suit its inputs. */
  eps?: number;
}

const SQRT1_2 = Math.SQRT1_2;
const P = 0.3; // dropout probability
const SEED = 7; // dropout seed
const dropMask = (shape: number[]) =>
  tf.tidy(() => tf.cast(tf.greaterEqual(tf.randomUniform(shape, 0, 1, 'float32', SEED), P), 'float32'));

/** Reference layer norm and RMS norm with tfjs ops (over the last axis). */
function tfLayerNorm(x: tf.Tensor, w?: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5)));
  if (w) y = tf.mul(y, w);
  if (b) y = tf.add(y, b);
  return y;
}
function tfRmsNorm(x: tf.Tensor, w?: tf.Tensor): tf.Tensor {
  const y = tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), 2 ** -23)));
  return w ? tf.mul(y, w) : y;
}
const TORCH_RMS = (w: string) => `x0 * torch.rsqrt(x0.pow(2).mean(-1, keepdim=True) + 2**-23)${w ? ` * ${w}` : ''}`;

const CASES: Case[] = [
  // elementwise arithmetic, with broadcasting
  { name: 'add [3,4] + [4]', inputs: [{ shape: [3, 4] }, { shape: [4] }], ours: ag.add, tfjs: tf.add, torch: 'x0 + x1' },
  { name: 'add [2,1,3] + [4,1]', inputs: [{ shape: [2, 1, 3] }, { shape: [4, 1] }], ours: ag.add, tfjs: tf.add, torch: 'x0 + x1' },
  { name: 'sub [3,1] - [1,4]', inputs: [{ shape: [3, 1] }, { shape: [1, 4] }], ours: ag.sub, tfjs: tf.sub, torch: 'x0 - x1' },
  { name: 'mul [2,3,4] * [3,1]', inputs: [{ shape: [2, 3, 4] }, { shape: [3, 1] }], ours: ag.mul, tfjs: tf.mul, torch: 'x0 * x1' },
  { name: 'mul by a number', inputs: [{ shape: [3, 4] }], ours: (x) => ag.mul(x, 2.5), tfjs: (x) => tf.mul(x, 2.5), torch: 'x0 * 2.5' },
  {
    name: 'div [3,4] / [4]',
    inputs: [{ shape: [3, 4] }, { shape: [4], kind: 'positive' }],
    ours: ag.div,
    tfjs: tf.div,
    torch: 'x0 / x1',
  },
  { name: 'neg', inputs: [{ shape: [3, 4] }], ours: ag.neg, tfjs: tf.neg, torch: '-x0' },
  { name: 'pow by 3', inputs: [{ shape: [3, 4] }], ours: (x) => ag.pow(x, 3), tfjs: (x) => tf.pow(x, 3), torch: 'x0 ** 3' },
  {
    name: 'pow [3,4] ** [4]',
    inputs: [{ shape: [3, 4], kind: 'positive' }, { shape: [4] }],
    ours: ag.pow,
    tfjs: tf.pow,
    torch: 'torch.pow(x0, x1)',
  },
  // elementwise functions and activations
  { name: 'exp', inputs: [{ shape: [3, 4] }], ours: ag.exp, tfjs: tf.exp, torch: 'torch.exp(x0)' },
  { name: 'log', inputs: [{ shape: [3, 4], kind: 'positive' }], ours: ag.log, tfjs: tf.log, torch: 'torch.log(x0)' },
  { name: 'sqrt', inputs: [{ shape: [3, 4], kind: 'positive' }], ours: ag.sqrt, tfjs: tf.sqrt, torch: 'torch.sqrt(x0)' },
  { name: 'abs', inputs: [{ shape: [3, 4], kind: 'away' }], ours: ag.abs, tfjs: tf.abs, torch: 'torch.abs(x0)' },
  { name: 'tanh', inputs: [{ shape: [3, 4] }], ours: ag.tanh, tfjs: tf.tanh, torch: 'torch.tanh(x0)' },
  { name: 'sigmoid', inputs: [{ shape: [3, 4] }], ours: ag.sigmoid, tfjs: tf.sigmoid, torch: 'torch.sigmoid(x0)' },
  { name: 'relu', inputs: [{ shape: [3, 4], kind: 'away' }], ours: ag.relu, tfjs: tf.relu, torch: 'torch.relu(x0)' },
  { name: 'silu', inputs: [{ shape: [3, 4] }], ours: ag.silu, tfjs: (x) => tf.mul(x, tf.sigmoid(x)), torch: 'F.silu(x0)' },
  {
    name: 'gelu (exact, erf)',
    inputs: [{ shape: [3, 4] }],
    ours: (x) => ag.gelu(x),
    tfjs: (x) => tf.mul(x, tf.mul(0.5, tf.add(1, tf.erf(tf.mul(x, SQRT1_2))))),
    torch: 'F.gelu(x0)',
  },
  {
    name: 'gelu (tanh)',
    inputs: [{ shape: [3, 4] }],
    ours: (x) => ag.gelu(x, { approximate: 'tanh' }),
    tfjs: (x) => tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))))))),
    torch: "F.gelu(x0, approximate='tanh')",
  },
  // reductions
  { name: 'sum over all axes', inputs: [{ shape: [3, 4] }], ours: (x) => ag.sum(x), tfjs: (x) => tf.sum(x), torch: 'x0.sum()' },
  {
    name: 'sum over axis 1, keepDims',
    inputs: [{ shape: [2, 3, 4] }],
    ours: (x) => ag.sum(x, 1, true),
    tfjs: (x) => tf.sum(x, 1, true),
    torch: 'x0.sum(dim=1, keepdim=True)',
  },
  {
    name: 'sum over axes [0,2]',
    inputs: [{ shape: [2, 3, 4] }],
    ours: (x) => ag.sum(x, [0, -1]),
    tfjs: (x) => tf.sum(x, [0, 2]),
    torch: 'x0.sum(dim=(0, 2))',
  },
  { name: 'mean over all axes', inputs: [{ shape: [3, 4] }], ours: (x) => ag.mean(x), tfjs: (x) => tf.mean(x), torch: 'x0.mean()' },
  {
    name: 'mean over axis -1',
    inputs: [{ shape: [2, 3, 4] }],
    ours: (x) => ag.mean(x, -1),
    tfjs: (x) => tf.mean(x, -1),
    torch: 'x0.mean(dim=-1)',
  },
  {
    name: 'max over axis 1',
    inputs: [{ shape: [3, 5], kind: 'distinct' }],
    ours: (x) => ag.max(x, 1),
    tfjs: (x) => tf.max(x, 1),
    torch: 'torch.amax(x0, dim=1)',
  },
  {
    name: 'max over all axes, keepDims',
    inputs: [{ shape: [3, 4], kind: 'distinct' }],
    ours: (x) => ag.max(x, undefined, true),
    tfjs: (x) => tf.max(x, undefined, true),
    torch: 'torch.amax(x0, dim=(0, 1), keepdim=True)',
  },
  // shape and indexing
  {
    name: 'reshape [2,6] -> [3,-1]',
    inputs: [{ shape: [2, 6] }],
    ours: (x) => ag.reshape(x, [3, -1]),
    tfjs: (x) => tf.reshape(x, [3, 4]),
    torch: 'x0.reshape(3, -1)',
  },
  {
    name: 'transpose [2,3,4] by [2,0,1]',
    inputs: [{ shape: [2, 3, 4] }],
    ours: (x) => ag.transpose(x, [2, 0, 1]),
    tfjs: (x) => tf.transpose(x, [2, 0, 1]),
    torch: 'x0.permute(2, 0, 1)',
  },
  { name: 'transpose [3,4] by default', inputs: [{ shape: [3, 4] }], ours: (x) => ag.transpose(x), tfjs: (x) => tf.transpose(x), torch: 'x0.t()' },
  {
    name: 'broadcastTo [3,1] -> [2,3,4]',
    inputs: [{ shape: [3, 1] }],
    ours: (x) => ag.broadcastTo(x, [2, 3, 4]),
    tfjs: (x) => tf.broadcastTo(x, [2, 3, 4]),
    torch: 'x0.broadcast_to((2, 3, 4))',
  },
  {
    name: 'slice [4,5] from [1,2] size [2,-1]',
    inputs: [{ shape: [4, 5] }],
    ours: (x) => ag.slice(x, [1, 2], [2, -1]),
    tfjs: (x) => tf.slice(x, [1, 2], [2, -1]),
    torch: 'x0[1:3, 2:]',
  },
  {
    name: 'concat [2,3], [4,3] along axis 0',
    inputs: [{ shape: [2, 3] }, { shape: [4, 3] }],
    ours: (a, b) => ag.concat([a, b]),
    tfjs: (a, b) => tf.concat([a, b]),
    torch: 'torch.cat([x0, x1], 0)',
  },
  {
    name: 'concat [2,3], [2,2], [2,1] along axis -1',
    inputs: [{ shape: [2, 3] }, { shape: [2, 2] }, { shape: [2, 1] }],
    ours: (a, b, c) => ag.concat([a, b, c], -1),
    tfjs: (a, b, c) => tf.concat([a, b, c], -1),
    torch: 'torch.cat([x0, x1, x2], -1)',
  },
  {
    name: 'gather rows of [5,3] by [2,4] indices (repeats accumulate)',
    inputs: [{ shape: [5, 3] }, { shape: [2, 4], kind: 'int', max: 5 }],
    ours: ag.gather,
    // tfjs's own gather gradient needs UnsortedSegmentSum, which wasm lacks: use one-hot @ table.
    tfjs: (t, i) => tf.reshape(tf.matMul(tf.oneHot(tf.reshape(i, [-1]), 5), t), [2, 4, 3]),
    torch: 'F.embedding(x1, x0)',
  },
  {
    name: 'where([3,4], [3,4], [4])',
    inputs: [{ shape: [3, 4], kind: 'bool' }, { shape: [3, 4] }, { shape: [4] }],
    ours: ag.where,
    tfjs: (c, a, b) => tf.where(c, a, tf.broadcastTo(b, [3, 4])),
    torch: 'torch.where(x0, x1, x2)',
  },
  // matrix products
  { name: 'matmul [3,4] @ [4,5]', inputs: [{ shape: [3, 4] }, { shape: [4, 5] }], ours: ag.matmul, tfjs: (a, b) => tf.matMul(a, b), torch: 'x0 @ x1' },
  {
    name: 'matmul batched [2,3,4] @ [2,4,5]',
    inputs: [{ shape: [2, 3, 4] }, { shape: [2, 4, 5] }],
    ours: ag.matmul,
    tfjs: (a, b) => tf.matMul(a, b),
    torch: 'x0 @ x1',
  },
  {
    name: 'matmul broadcasting batch dims [2,1,3,4] @ [3,4,2]',
    inputs: [{ shape: [2, 1, 3, 4] }, { shape: [3, 4, 2] }],
    ours: ag.matmul,
    tfjs: (a, b) => tf.matMul(tf.broadcastTo(a, [2, 3, 3, 4]), tf.broadcastTo(b, [2, 3, 4, 2])),
    torch: 'x0 @ x1',
  },
  {
    name: 'matmul [2,3,4] @ a shared [4,5]',
    inputs: [{ shape: [2, 3, 4] }, { shape: [4, 5] }],
    ours: ag.matmul,
    tfjs: (a, b) => tf.matMul(a, tf.broadcastTo(b, [2, 4, 5])),
    torch: 'x0 @ x1',
  },
  {
    name: 'matmul a shared [3,4] @ [2,4,5]',
    inputs: [{ shape: [3, 4] }, { shape: [2, 4, 5] }],
    ours: ag.matmul,
    tfjs: (a, b) => tf.matMul(tf.broadcastTo(a, [2, 3, 4]), b),
    torch: 'x0 @ x1',
  },
  // normalised exponentials
  {
    name: 'logsumexp over axis -1',
    inputs: [{ shape: [3, 5] }],
    ours: (x) => ag.logsumexp(x),
    tfjs: (x) => tf.logSumExp(x, -1),
    torch: 'torch.logsumexp(x0, dim=-1)',
  },
  {
    name: 'logsumexp over axis 0 of logits near 100, keepDims',
    inputs: [{ shape: [4, 3], kind: 'big' }],
    ours: (x) => ag.logsumexp(x, 0, true),
    tfjs: (x) => tf.logSumExp(x, 0, true),
    torch: 'torch.logsumexp(x0, dim=0, keepdim=True)',
    // h = eps·|x| ≈ 0.3. Outputs near 100 carry float32 rounding (ulp(100)/2 = 3.8e-6) that a small h
    // amplifies (h = 0.1: max error 4.8e-5), and h = 1 (the default here) lets the h⁴ term grow (2.4e-4);
    // h = 0.3 measured 1.6e-5.
    eps: 3e-3,
  },
  { name: 'softmax over axis -1', inputs: [{ shape: [3, 5] }], ours: (x) => ag.softmax(x), tfjs: (x) => tf.softmax(x), torch: 'torch.softmax(x0, dim=-1)' },
  {
    name: 'softmax over axis 0',
    inputs: [{ shape: [4, 3] }],
    ours: (x) => ag.softmax(x, 0),
    tfjs: (x) => tf.transpose(tf.softmax(tf.transpose(x))),
    torch: 'torch.softmax(x0, dim=0)',
  },
  {
    name: 'logSoftmax over axis -1',
    inputs: [{ shape: [3, 5] }],
    ours: (x) => ag.logSoftmax(x),
    tfjs: (x) => tf.logSoftmax(x),
    torch: 'torch.log_softmax(x0, dim=-1)',
  },
  {
    name: 'logSoftmax over axis 0',
    inputs: [{ shape: [4, 3] }],
    ours: (x) => ag.logSoftmax(x, 0),
    tfjs: (x) => tf.sub(x, tf.logSumExp(x, 0, true)),
    torch: 'torch.log_softmax(x0, dim=0)',
  },
  // normalisation and regularisation
  {
    name: 'layerNorm [4,6] with weight and bias',
    inputs: [{ shape: [4, 6] }, { shape: [6] }, { shape: [6] }],
    ours: (x, w, b) => ag.layerNorm(x, w, b),
    tfjs: tfLayerNorm,
    torch: 'F.layer_norm(x0, (6,), x1, x2, eps=1e-5)',
  },
  {
    name: 'layerNorm [2,3,5] without affine',
    inputs: [{ shape: [2, 3, 5] }],
    ours: (x) => ag.layerNorm(x),
    tfjs: (x) => tfLayerNorm(x),
    torch: 'F.layer_norm(x0, (5,), eps=1e-5)',
  },
  // Every combination of the optional inputs: an absent weight must not shift the bias into its place.
  {
    name: 'layerNorm [4,6] with weight, no bias',
    inputs: [{ shape: [4, 6] }, { shape: [6] }],
    ours: (x, w) => ag.layerNorm(x, w),
    tfjs: (x, w) => tfLayerNorm(x, w),
    torch: 'F.layer_norm(x0, (6,), x1, None, eps=1e-5)',
  },
  {
    name: 'layerNorm [4,6] with bias, no weight',
    inputs: [{ shape: [4, 6] }, { shape: [6] }],
    ours: (x, b) => ag.layerNorm(x, null, b),
    tfjs: (x, b) => tfLayerNorm(x, undefined, b),
    torch: 'F.layer_norm(x0, (6,), None, x1, eps=1e-5)',
  },
  {
    name: 'linear [2,3,4] with weight [4,5] and bias',
    inputs: [{ shape: [2, 3, 4] }, { shape: [4, 5] }, { shape: [5] }],
    ours: (x, w, b) => nn.linear(x, w, b),
    tfjs: (x, w, b) => tf.add(tf.matMul(tf.reshape(x, [6, 4]), w).reshape([2, 3, 5]), b),
    torch: 'F.linear(x0, x1.t(), x2)',
  },
  {
    name: 'linear [3,4] without bias',
    inputs: [{ shape: [3, 4] }, { shape: [4, 5] }],
    ours: (x, w) => nn.linear(x, w),
    tfjs: (x, w) => tf.matMul(x, w),
    torch: 'F.linear(x0, x1.t())',
  },
  {
    name: 'rmsNorm [4,6] with weight',
    inputs: [{ shape: [4, 6] }, { shape: [6] }],
    ours: (x, w) => ag.rmsNorm(x, w),
    tfjs: tfRmsNorm,
    torch: TORCH_RMS('x1'),
  },
  { name: 'rmsNorm [2,3,5] without weight', inputs: [{ shape: [2, 3, 5] }], ours: (x) => ag.rmsNorm(x), tfjs: (x) => tfRmsNorm(x), torch: TORCH_RMS('') },
  {
    name: `dropout p=${P} (seeded)`,
    inputs: [{ shape: [4, 6] }],
    ours: (x) => ag.dropout(x, { p: P, seed: SEED }),
    tfjs: (x) => tf.div(tf.mul(x, dropMask([4, 6])), 1 - P),
    torch: () => `x0 * torch.tensor(${JSON.stringify(Array.from(tf.tidy(() => dropMask([4, 6])).dataSync()))}).reshape(4, 6) / ${1 - P}`,
  },
  { name: 'dropout in eval mode', inputs: [{ shape: [4, 6] }], ours: (x) => ag.dropout(x, { train: false }), tfjs: (x) => tf.clone(x), torch: 'x0' },
];

/** mulberry32: the seeded generator behind every input. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
const rand = rng(20240601);
const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());

interface Data {
  values: number[];
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool';
}
function generate({ shape, kind = 'normal', max = 2 }: Spec): Data {
  const n = shape.reduce((a, b) => a * b, 1);
  const f32 = (v: number) => Math.fround(v);
  const gen: Record<Kind, () => number[]> = {
    normal: () => Array.from({ length: n }, () => f32(normal())),
    positive: () => Array.from({ length: n }, () => f32(0.5 + 1.5 * rand())),
    away: () => Array.from({ length: n }, () => f32((rand() < 0.5 ? -1 : 1) * (0.2 + 1.8 * rand()))),
    // distinct values 0.15 apart, shuffled: no ties and no near-ties for max
    distinct: () =>
      Array.from({ length: n }, (_, i) => ({ v: f32((i - n / 2) * 0.15), k: rand() }))
        .sort((a, b) => a.k - b.k)
        .map((o) => o.v),
    big: () => Array.from({ length: n }, () => f32(100 + normal())),
    int: () => Array.from({ length: n }, () => Math.floor(rand() * max)),
    bool: () => Array.from({ length: n }, () => (rand() < 0.5 ? 1 : 0)),
  };
  const dtype = kind === 'int' ? 'int32' : kind === 'bool' ? 'bool' : 'float32';
  return { values: gen[kind](), shape, dtype };
}

const toTf = (d: Data) => tf.tensor(d.values, d.shape, d.dtype);

/** Inputs, output shapes and output weights r, shared by every backend and by PyTorch. */
const DATA = new Map<string, { inputs: Data[]; r: Data }>();

interface Result {
  y: ArrayLike<number>;
  grads: (ArrayLike<number> | null)[];
}

/** Our engine: forward, backward(r), read y and the leaves' grads (await data(): webgpu reads only so), free everything. */
async function runOurs(c: Case): Promise<Result> {
  const { inputs, r } = DATA.get(c.name) as { inputs: Data[]; r: Data };
  const xs = inputs.map((d) => ag.tensor(toTf(d), { requiresGrad: d.dtype === 'float32' }));
  const y = c.ours(...xs);
  const rT = toTf(r);
  y.backward(rT);
  const res = { y: (await y.data.data()).slice(), grads: await Promise.all(xs.map(async (x) => (x.grad ? (await x.grad.data()).slice() : null))) };
  rT.dispose();
  y.dispose();
  xs.forEach((x) => x.dispose());
  return res;
}

/** tfjs's own autodiff of the reference function: tf.grads of Σ r·f(x) over the float inputs. */
async function runTfjs(c: Case): Promise<Result> {
  const { inputs, r } = DATA.get(c.name) as { inputs: Data[]; r: Data };
  const fl = inputs.flatMap((d, i) => (d.dtype === 'float32' ? [i] : []));
  const [y, ...g] = tf.tidy(() => {
    const xs = inputs.map(toTf);
    const rT = toTf(r);
    const f = (...fx: tf.Tensor[]) => {
      const all = xs.slice();
      fl.forEach((k, j) => (all[k] = fx[j] as tf.Tensor));
      return tf.sum(tf.mul(c.tfjs(...all), rT));
    };
    return [c.tfjs(...xs), ...tf.grads(f)(fl.map((k) => xs[k] as tf.Tensor))];
  }) as tf.Tensor[];
  const res = {
    y: (await (y as tf.Tensor).data()).slice(),
    grads: await Promise.all(inputs.map(async (_, i) => (fl.includes(i) ? (await (g[fl.indexOf(i)] as tf.Tensor).data()).slice() : null))),
  };
  tf.dispose([y as tf.Tensor, ...g]);
  return res;
}

/** Assert |actual − expected| ≤ atol + rtol·|expected| elementwise, naming the worst element. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, atol = 1e-5, rtol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} values, expected ${expected.length}`);
  let worst = -1;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const [a, e] = [actual[i] as number, expected[i] as number];
    const ratio = Object.is(a, e) ? 0 : Math.abs(a - e) / (atol + rtol * Math.abs(e));
    if (!(ratio <= worst)) [worst, at] = [ratio, i];
  }
  assert.ok(worst <= 1, `${what}: element ${at} is ${actual[at]}, expected ${expected[at]} (atol ${atol}, rtol ${rtol})`);
}

function assertResult(ours: Result, ref: Result, who: string): void {
  assertClose(ours.y, ref.y, `value vs ${who}`);
  ours.grads.forEach((g, i) => {
    const e = ref.grads[i];
    if (g === null || e === null || e === undefined) {
      assert.equal(g === null, e == null, `gradient of input ${i}: ours ${g === null ? 'absent' : 'present'}, ${who}'s ${e == null ? 'absent' : 'present'}`);
      return;
    }
    assertClose(g, e, `gradient of input ${i} vs ${who}`);
  });
}

interface TorchOut {
  y: (number | string)[];
  grads: ((number | string)[] | null)[];
}
const TORCH_SCRIPT = `
OUTPUT = {}
for case in INPUT:
    env = {"torch": torch, "F": F}
    xs = [t(spec, True) for spec in case["inputs"]]
    for i, x in enumerate(xs):
        env["x%d" % i] = x
    y = eval(case["expr"], env)
    y.backward(t(case["r"]))
    OUTPUT[case["name"]] = {"y": flat(y), "grads": [flat(x.grad) if x.grad is not None else None for x in xs]}
`;

describe('autograd ops: gradients against gradcheck, tf.grads and PyTorch', function () {
  let torch: TorchRun<Record<string, TorchOut>> | undefined;

  before(async () => {
    await useBackend('cpu');
    for (const c of CASES) {
      const inputs = c.inputs.map(generate);
      const shape = ag.noGrad(() => {
        const xs = inputs.map((d) => ag.tensor(toTf(d)));
        const y = c.ours(...xs);
        const s = y.shape;
        y.dispose();
        xs.forEach((x) => x.dispose());
        return s;
      });
      DATA.set(c.name, { inputs, r: generate({ shape }) });
    }
    const batch = CASES.map((c) => {
      const d = DATA.get(c.name) as { inputs: Data[]; r: Data };
      return { name: c.name, expr: typeof c.torch === 'string' ? c.torch : c.torch(), inputs: d.inputs, r: d.r };
    });
    torch = runTorch<Record<string, TorchOut>>(TORCH_SCRIPT, batch);
  });

  for (const backend of suiteBackends(['cpu', 'wasm'])) {
    describe(`on ${backend}`, () => {
      before(async () => {
        await useBackend(backend);
      });

      for (const c of CASES) {
        describe(c.name, () => {
          it('passes gradcheck (central differences)', async () => {
            const { inputs } = DATA.get(c.name) as { inputs: Data[] };
            const xs = inputs.map(toTf);
            const options = c.eps === undefined ? {} : { eps: c.eps };
            // webgpu reads back only asynchronously: gradcheckAsync is the same check
            const report = backend === 'webgpu' ? await ag.gradcheckAsync(c.ours, xs, options) : ag.gradcheck(c.ours, xs, options);
            tf.dispose(xs);
            assert.ok(report.ok, report.summary);
          });

          it("matches tfjs's own gradients (tf.grads)", async () => {
            assertResult(await runOurs(c), await runTfjs(c), 'tf.grads');
          });

          it('matches PyTorch (float64) in value and gradients', async function () {
            const out = needTorch(this, torch)[c.name] as TorchOut;
            assertResult(await runOurs(c), { y: decode(out.y), grads: out.grads.map((g) => (g ? decode(g) : null)) }, 'PyTorch');
          });

          it('leaves tf.memory().numTensors unchanged over a training step', () => {
            const { inputs, r } = DATA.get(c.name) as { inputs: Data[]; r: Data };
            const params = inputs.map((d) => ag.tensor(toTf(d), { requiresGrad: d.dtype === 'float32' }));
            const rT = toTf(r);
            const before = tf.memory().numTensors;
            for (let step = 0; step < 2; step++) {
              const loss = ag.sum(ag.mul(c.ours(...params), rT));
              loss.backward();
              for (const p of params) {
                if (!p.grad) continue;
                const g = p.grad;
                p.assign(tf.tidy(() => tf.sub(p.data, tf.mul(g, 1e-3)))); // θ ← θ − lr·g
              }
              loss.dispose();
              ag.zeroGrad(params);
              assert.equal(tf.memory().numTensors, before, `step ${step} changed the number of tensors`);
            }
            rT.dispose();
            params.forEach((p) => p.dispose());
          });
        });
      }
    });
  }
});

webgpuSuite(__filename, 'autograd ops');
