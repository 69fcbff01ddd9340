/**
 * The mixed-precision experiment of notebooks/03-gpu/04-mixed-precision: the same
 * small network trained from the same initial weights on the same batches in
 * float32, in emulated fp16 without loss scaling, in emulated fp16 with dynamic
 * loss scaling ({@link LossScaler}), and in emulated bf16; and the magnitudes of a
 * float32 step's gradients against fp16's range (Micikevicius et al. 2018, Fig. 3).
 *
 * Introduced in notebooks/03-gpu/04-mixed-precision.
 */
import { tf } from '../backend/tf';
import * as ag from '../autograd';
import * as nn from '../nn';
import * as optim from '../optim';
import { digits } from '../data/digits';
import { Rng } from '../data/rng';
import { autocast } from './autocast';
import { roundArray } from './round';
import { LossScaler } from './scaler';

/** How one run computes: float32; emulated fp16 without / with dynamic loss scaling; emulated bf16 without scaling. Introduced in notebooks/03-gpu/04-mixed-precision. */
export type MixedPrecisionMode = 'fp32' | 'fp16' | 'fp16-scaled' | 'bf16';

/** The modes in the order the notebook plots them. Introduced in notebooks/03-gpu/04-mixed-precision. */
export const MIXED_PRECISION_MODES: readonly MixedPrecisionMode[] = ['fp32', 'fp16', 'fp16-scaled', 'bf16'];

/**
 * The network and data of the experiment (every field has a default): a ReLU MLP on
 * 14×14 digits, 196 → 64 → 64 → 64 → 10, weights N(0, gain²/fan_in) with He's gain √2,
 * zero biases, the mean cross-entropy over the batch (so the logits' gradient is
 * (softmax − onehot)/batch), plain SGD. `lossFactor` makes every gradient smaller
 * without changing float32 training (see there): the notebook uses 2⁻¹⁶, measured to put
 * about 45% of the weight gradients below fp16's smallest subnormal 2⁻²⁴ (and a third
 * are flushed to zero by rounding). Introduced in notebooks/03-gpu/04-mixed-precision.
 */
export interface MixedPrecisionSetup {
  /** Layer widths, input first. Default [196, 64, 64, 64, 10]. The input must be 196 (14×14) or 784 (28×28). */
  sizes?: number[];
  /** Weight std = gain / √fan_in. Default √2 (He et al. 2015, for ReLU). */
  gain?: number;
  /** Digits used (the first n of the seeded shuffle). Default 1024. */
  n?: number;
  /** Batch size. Default 64. */
  batch?: number;
  /** SGD learning rate. Default 0.1. */
  lr?: number;
  /** Seed of the weights (Rng(seed)) and of the batch order (Rng(seed + 1)). Default 0. */
  seed?: number;
  /**
   * The loss backward starts from is `lossFactor · crossEntropy`, and SGD runs at
   * `lr / lossFactor`: for a power of two this leaves float32 training unchanged bit for bit
   * (both products are exact), while every gradient is `lossFactor` times smaller, as when a
   * loss is averaged over many more terms (tokens, accumulated micro-batches). Default 1.
   */
  lossFactor?: number;
  /**
   * Your own data instead of the digits: `x` row-major `[n, sizes[0]]`, `y` class labels in
   * `[0, sizes.at(-1))`; `n` is then `y.length`. For machines without the `mnist` package (the GPU kit).
   */
  data?: { x: Float32Array; y: Int32Array };
}

/** Options of {@link mixedPrecisionRun} (the setup's fields, plus the mode and the scaler's). Introduced in notebooks/03-gpu/04-mixed-precision. */
export interface MixedPrecisionOptions extends MixedPrecisionSetup {
  mode: MixedPrecisionMode;
  /** Optimiser steps. Default 200. */
  steps?: number;
  /** 'fp16-scaled': the scaler's initial scale. Default 2¹⁶ (GradScaler's). */
  initScale?: number;
  /** 'fp16-scaled': good steps before the scale doubles. Default 50 (GradScaler's is 2000: smaller here so growth shows within a short run). */
  growthInterval?: number;
  /** Count underflowed gradient values (a float32 backward at the same weights each step: ~1/30 extra time in fp16). Default true. */
  countUnderflow?: boolean;
}

/** One step of {@link mixedPrecisionRun}. All fractions are over every element of every parameter's gradient. Introduced in notebooks/03-gpu/04-mixed-precision. */
export interface MixedPrecisionRow {
  mode: MixedPrecisionMode;
  step: number;
  /** The float32 cross-entropy of the batch, before the update (without lossFactor and the loss scale). */
  loss: number;
  /** ‖g‖₂ of the gradients the optimiser sees (unscaled); Inf / NaN on a skipped step. */
  gradNorm: number;
  /** The loss scale S used in this step's backward (1 when not scaling). */
  scale: number;
  /** Whether the optimiser step was skipped (Inf / NaN in the gradients; only 'fp16-scaled' skips). */
  skipped: boolean;
  /** Fraction of gradient values that are exactly 0 (dead ReLUs included). */
  zeroFrac: number;
  /** Fraction that are 0 in this mode but nonzero in a float32 backward at the same weights and batch (lost to underflow); 0 in 'fp32', NaN if not counted. */
  underflowFrac: number;
  /** Fraction that are ±Inf or NaN. */
  nonFiniteFrac: number;
  /** Milliseconds of the step (forward, backward, unscale, update), excluding the underflow count. */
  ms: number;
}

/** What {@link mixedPrecisionRun} returns. Introduced in notebooks/03-gpu/04-mixed-precision. */
export interface MixedPrecisionResult {
  mode: MixedPrecisionMode;
  rows: MixedPrecisionRow[];
  /** The final parameters, in `parameters()` order, as plain arrays. */
  finalWeights: Float32Array[];
}

interface Resolved {
  sizes: number[];
  gain: number;
  n: number;
  batch: number;
  lr: number;
  seed: number;
  lossFactor: number;
  data: { x: Float32Array; y: Int32Array } | undefined;
}

function resolve(s: MixedPrecisionSetup): Resolved {
  const { data } = s;
  if (data !== undefined) {
    const d0 = s.sizes?.[0] ?? 196;
    if (!(data.x instanceof Float32Array && data.y instanceof Int32Array) || data.x.length !== data.y.length * d0) {
      throw new Error(`mixedPrecision: data must be { x: Float32Array [n·${d0}], y: Int32Array [n] }, got x of ${data.x?.length} and y of ${data.y?.length} values`);
    }
  }
  const { sizes = [196, 64, 64, 64, 10], gain = Math.SQRT2, n = data ? data.y.length : 1024, batch = 64, lr = 0.1, seed = 0, lossFactor = 1 } = s;
  if (!(lossFactor > 0 && Number.isFinite(lossFactor))) throw new Error(`mixedPrecision: lossFactor must be a positive number, got ${lossFactor}`);
  if (!Array.isArray(sizes) || sizes.length < 2 || !sizes.every((d) => Number.isInteger(d) && d >= 1)) throw new Error(`mixedPrecision: sizes must be ≥ 2 positive integers, got ${JSON.stringify(sizes)}`);
  if (!data && sizes[0] !== 196 && sizes[0] !== 784) throw new Error(`mixedPrecision: sizes[0] must be 196 (14×14 digits) or 784 (28×28), got ${sizes[0]}`);
  if (sizes.at(-1)! > 10) throw new Error(`mixedPrecision: the last size is the number of classes, at most 10 (digits), got ${sizes.at(-1)}`);
  if (!(gain > 0)) throw new Error(`mixedPrecision: gain must be > 0, got ${gain}`);
  if (!(Number.isInteger(batch) && batch >= 1 && batch <= n)) throw new Error(`mixedPrecision: batch must be an integer in [1, n = ${n}], got ${batch}`);
  if (!(lr > 0)) throw new Error(`mixedPrecision: lr must be > 0, got ${lr}`);
  if (data && n !== data.y.length) throw new Error(`mixedPrecision: n (${n}) must equal the number of samples in data (${data.y.length})`);
  return { sizes, gain, n, batch, lr, seed, lossFactor, data };
}

/**
 * The experiment's model, data and batch order, for a loop of your own (the notebook's
 * float32 check, the tests): an `nn.MLP(sizes, relu)` with weights N(0, gain²/fan_in)
 * drawn from Rng(seed), zero biases; `n` 14×14 (or 28×28) digits scaled to [0, 1]; and
 * `batchAt(step)`, the indices of step `step`'s batch (epochs of a permutation from
 * Rng(seed + 1), batches of `batch`, the last partial one dropped). Dispose `model`,
 * `x` and `y` when done. Introduced in notebooks/03-gpu/04-mixed-precision.
 */
export function mixedPrecisionSetup(setup: MixedPrecisionSetup = {}): {
  model: nn.MLP;
  x: tf.Tensor2D;
  y: tf.Tensor1D;
  batchAt: (step: number) => tf.Tensor1D;
  /** `lossFactor · crossEntropy(logits, y)` (mean over the batch); just the cross-entropy when lossFactor is 1. */
  lossOf: (logits: ag.Tensor, y: ag.Operand) => ag.Tensor;
  /** The SGD learning rate: `lr / lossFactor`. */
  sgdLr: number;
  options: Omit<Required<MixedPrecisionSetup>, 'data'>;
} {
  const o = resolve(setup);
  const init: nn.Initializer = (shape, rng, fans) => tf.tidy(() => tf.mul(rng.normalTensor(shape), o.gain / Math.sqrt(fans?.fanIn ?? shape[0]!)));
  const model = new nn.MLP(o.sizes, { activation: 'relu', rng: new Rng(o.seed), init, biasInit: nn.init.zeros() });
  const ds = o.data ?? digits({ n: o.n, size: o.sizes[0] === 196 ? 14 : 28, seed: o.seed });
  const x = tf.tensor2d(ds.x, [o.n, o.sizes[0]!]);
  const y = tf.tensor1d(ds.y as Int32Array, 'int32');
  const perBatchOrder = new Rng(o.seed + 1);
  const epochs: number[][] = [];
  const per = Math.floor(o.n / o.batch);
  const batchAt = (step: number): tf.Tensor1D => {
    const e = Math.floor(step / per);
    while (epochs.length <= e) epochs.push(perBatchOrder.permutation(o.n));
    const idx = epochs[e]!.slice((step % per) * o.batch, (step % per + 1) * o.batch);
    return tf.tensor1d(idx, 'int32');
  };
  const lossOf = (logits: ag.Tensor, t: ag.Operand) => (o.lossFactor === 1 ? nn.crossEntropy(logits, t as ag.Tensor) : ag.mul(nn.crossEntropy(logits, t as ag.Tensor), o.lossFactor));
  return { model, x, y, batchAt, lossOf, sgdLr: o.lr / o.lossFactor, options: o };
}

/**
 * Train the {@link mixedPrecisionSetup} network for `steps` SGD steps in one mode and
 * return one row per step:
 * - 'fp32': `loss = crossEntropy(model(x), y); loss.backward(); opt.step()`;
 * - 'fp16' / 'bf16': the forward in `autocast({ dtype })` (matmuls and their outputs in
 *   the lower precision, the loss in float32), backward after it, float32 master weights;
 *   no loss scaling (small gradients round to zero in fp16);
 * - 'fp16-scaled': as 'fp16', with `LossScaler({ initScale, growthInterval })`:
 *   `scaler.scale(loss).backward(); await scaler.step(opt); scaler.update()`.
 * Every mode starts from the same weights and sees the same batches. The zero /
 * underflow / non-finite fractions are of the gradients as backward produced them
 * (scaled, in the lower precision), before unscaling. Leaves no tensor behind.
 *
 * Reference: Micikevicius et al. 2018, "Mixed Precision Training" (§3.2, Fig. 3);
 * `torch.autocast`, `torch.cuda.amp.GradScaler`. Introduced in notebooks/03-gpu/04-mixed-precision.
 */
export async function mixedPrecisionRun(options: MixedPrecisionOptions): Promise<MixedPrecisionResult> {
  const { mode, steps = 200, initScale = 2 ** 16, growthInterval = 50, countUnderflow = true } = options;
  if (!MIXED_PRECISION_MODES.includes(mode)) throw new Error(`mixedPrecisionRun: mode must be one of ${MIXED_PRECISION_MODES.join(', ')}, got '${String(mode)}'`);
  if (!(Number.isInteger(steps) && steps >= 1)) throw new Error(`mixedPrecisionRun: steps must be a positive integer, got ${steps}`);
  const { model, x, y, batchAt, lossOf, sgdLr, options: o } = mixedPrecisionSetup(options);
  const params = model.parameters();
  const opt = new optim.SGD(params, { lr: sgdLr });
  const scaler = mode === 'fp16-scaled' ? new LossScaler({ initScale, growthInterval }) : null;
  const dtype = mode === 'fp16' || mode === 'fp16-scaled' ? 'fp16' : mode === 'bf16' ? 'bf16' : null;
  const total = params.reduce((s, p) => s + p.size, 0);
  const rows: MixedPrecisionRow[] = [];
  try {
    for (let step = 0; step < steps; step++) {
      const idx = batchAt(step);
      const xb = ag.tensor(tf.gather(x, idx));
      const yb = ag.tensor(tf.gather(y, idx));
      idx.dispose();
      // Underflow: which gradient values are nonzero in float32 at these weights.
      let ref: tf.Tensor[] | null = null;
      if (countUnderflow && dtype !== null) {
        const l = lossOf(model.forward(xb), yb);
        l.backward();
        l.dispose();
        ref = params.map((p) => tf.notEqual(p.grad!, 0));
        opt.zeroGrad();
      }
      const t0 = performance.now();
      const loss = dtype === null ? lossOf(model.forward(xb), yb) : autocast({ dtype }, () => lossOf(model.forward(xb), yb));
      const scale = scaler ? scaler.getScale() : 1;
      const lossCopy = tf.clone(loss.data); // backward frees the loss's data
      if (scaler) {
        const scaled = scaler.scale(loss);
        scaled.backward();
        scaled.dispose();
      } else loss.backward();
      // The raw (scaled, low-precision) gradients' counts, on the device.
      const counts = tf.tidy(() => {
        let zeros: tf.Tensor = tf.scalar(0);
        let bad: tf.Tensor = tf.scalar(0);
        let under: tf.Tensor = tf.scalar(0);
        params.forEach((p, i) => {
          const g = p.grad!;
          const z = tf.equal(g, 0);
          zeros = tf.add(zeros, tf.sum(tf.cast(z, 'float32')));
          bad = tf.add(bad, tf.sum(tf.cast(tf.logicalNot(tf.isFinite(g)), 'float32')));
          if (ref) under = tf.add(under, tf.sum(tf.cast(tf.logicalAnd(z, ref[i]!), 'float32')));
        });
        return tf.stack([zeros, bad, under]);
      });
      if (ref) tf.dispose(ref);
      let skipped = false;
      let norm: tf.Tensor;
      if (scaler) {
        scaler.unscale(opt);
        norm = optim.totalGradNorm(params);
        skipped = !(await scaler.step(opt));
        scaler.update();
      } else {
        norm = optim.totalGradNorm(params);
        opt.step();
      }
      const lossValue = (await lossCopy.data())[0]! / o.lossFactor;
      const ms = performance.now() - t0;
      const [c, nv] = await Promise.all([counts.data(), norm.data()]);
      tf.dispose([counts, norm, lossCopy]);
      loss.dispose();
      opt.zeroGrad();
      xb.dispose();
      yb.dispose();
      rows.push({
        mode, step, loss: lossValue, gradNorm: nv[0]!, scale, skipped,
        zeroFrac: c[0]! / total, nonFiniteFrac: c[1]! / total,
        underflowFrac: dtype === null ? 0 : countUnderflow ? c[2]! / total : NaN,
        ms,
      });
    }
    const finalWeights = await Promise.all(params.map(async (p) => (await p.data.data()) as Float32Array));
    return { mode, rows, finalWeights };
  } finally {
    model.dispose();
    tf.dispose([x, y]);
  }
}

/** Counts of one set of gradient values against fp16's range ({@link gradientStats}). Introduced in notebooks/03-gpu/04-mixed-precision. */
export interface GradientStats {
  total: number;
  /** Exactly 0. */
  zeros: number;
  /** Nonzero with |g| < 2⁻²⁴ (below fp16's smallest subnormal). */
  belowSubnormal: number;
  /** Nonzero with |g| < 2⁻¹⁴ (below fp16's smallest normal: subnormal or zero in fp16, fewer bits). */
  belowNormal: number;
  /** Nonzero values that fp16 rounds to 0 (|g| ≤ 2⁻²⁵, by exact RNE). */
  flushedToZero: number;
  /** Finite values that fp16 rounds to ±Inf (|g| ≥ 65520). */
  overflows: number;
  /** Histogram of nonzero finite |g| by binade: `counts[k]` values with floor(log₂|g|) = `minLog2 + k`. */
  minLog2: number;
  counts: number[];
}

/**
 * Count `values · scale` against fp16's range: zeros, the nonzero ones below 2⁻²⁴ and
 * below 2⁻¹⁴, those fp16 flushes to zero or to Inf (by exact rounding, {@link roundArray}),
 * and the log₂ histogram of the nonzero magnitudes (binades from 2^`minLog2`, default -64).
 * The products `values[i] · scale` are taken in float64. Introduced in notebooks/03-gpu/04-mixed-precision.
 */
export function gradientStats(values: Float32Array | readonly number[], { scale = 1, minLog2 = -64, maxLog2 = 20 }: { scale?: number; minLog2?: number; maxLog2?: number } = {}): GradientStats {
  const counts = new Array<number>(maxLog2 - minLog2 + 1).fill(0);
  let zeros = 0;
  let belowSubnormal = 0;
  let belowNormal = 0;
  let overflows = 0;
  const scaled = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = (values[i] as number) * scale;
    scaled[i] = v;
    const a = Math.abs(v);
    if (a === 0) {
      zeros++;
      continue;
    }
    if (!Number.isFinite(a)) continue;
    if (a < 2 ** -24) belowSubnormal++;
    if (a < 2 ** -14) belowNormal++;
    if (a >= 65520) overflows++;
    const e = Math.min(maxLog2, Math.max(minLog2, Math.floor(Math.log2(a))));
    counts[e - minLog2]!++;
  }
  const r = roundArray(scaled, 'fp16');
  let flushedToZero = 0;
  for (let i = 0; i < r.length; i++) if (r[i] === 0 && scaled[i] !== 0) flushedToZero++;
  return { total: values.length, zeros, belowSubnormal, belowNormal, flushedToZero, overflows, minLog2, counts };
}

/** What {@link gradientHistogram} returns: the float32 gradients of one step, by kind. Introduced in notebooks/03-gpu/04-mixed-precision. */
export interface GradientHistogram {
  /** The step (after `warmup` float32 steps) whose gradients were collected. */
  step: number;
  /** The gradients of the weights and biases. */
  weights: GradientStats;
  /** The gradients of the hidden activations (∂loss/∂hᵢ, hᵢ = relu(linear) of each hidden layer) and of the logits. */
  activations: GradientStats;
  /** One row per binade and kind with a nonzero count, for a plot: log2 is floor(log₂|g|). */
  rows: { kind: 'weights' | 'activations'; log2: number; count: number; fraction: number }[];
}

/**
 * Train the {@link mixedPrecisionSetup} network for `warmup` plain float32 SGD steps, then
 * take the next step's float32 gradients, of the parameters and of the activations
 * (the network is run as a chain of segments whose inputs are leaves, and backward is
 * run segment by segment with `backward(seed)`, so each activation's gradient is read),
 * and count them against fp16's range with {@link gradientStats}. Leaves no tensor behind.
 *
 * Reference: Micikevicius et al. 2018, "Mixed Precision Training", Fig. 3 (the
 * activation gradients of SSD, of which most lie below fp16's range).
 * Introduced in notebooks/03-gpu/04-mixed-precision.
 */
export async function gradientHistogram(options: MixedPrecisionSetup & { warmup?: number } = {}): Promise<GradientHistogram> {
  const { warmup = 0 } = options;
  if (!(Number.isInteger(warmup) && warmup >= 0)) throw new Error(`gradientHistogram: warmup must be an integer ≥ 0, got ${warmup}`);
  const { model, x, y, batchAt, lossOf, sgdLr } = mixedPrecisionSetup(options);
  const params = model.parameters();
  const opt = new optim.SGD(params, { lr: sgdLr });
  try {
    for (let step = 0; step < warmup; step++) {
      const idx = batchAt(step);
      const xb = ag.tensor(tf.gather(x, idx));
      const yb = ag.tensor(tf.gather(y, idx));
      idx.dispose();
      const loss = lossOf(model.forward(xb), yb);
      loss.backward();
      loss.dispose();
      opt.step();
      opt.zeroGrad();
      xb.dispose();
      yb.dispose();
    }
    const idx = batchAt(warmup);
    const xb = ag.tensor(tf.gather(x, idx));
    const yb = ag.tensor(tf.gather(y, idx));
    idx.dispose();
    // Segments: out_i = act(layer_i(in_i)), in_{i+1} a fresh leaf holding out_i's values.
    const layers = model.layers;
    const outs: ag.Tensor[] = [];
    const ins: ag.Tensor[] = [xb];
    for (let i = 0; i < layers.length; i++) {
      const z = layers[i]!.forward(ins[i]!);
      const out = i < layers.length - 1 ? ag.relu(z) : z;
      outs.push(out);
      ins.push(ag.tensor(tf.clone(out.data), { requiresGrad: true }));
    }
    const loss = lossOf(ins[layers.length]!, yb);
    loss.backward();
    loss.dispose();
    const actGrads: Float32Array[] = [];
    for (let i = layers.length - 1; i >= 0; i--) {
      const g = ins[i + 1]!.grad!;
      actGrads.push((await g.data()) as Float32Array);
      outs[i]!.backward(g);
    }
    const weightGrads = await Promise.all(params.map(async (p) => (await p.grad!.data()) as Float32Array));
    opt.zeroGrad();
    [...ins, ...outs, yb].forEach((t) => { if (!t.isDisposed) t.dispose(); });
    const concat = (as: Float32Array[]) => {
      const out = new Float32Array(as.reduce((s, a) => s + a.length, 0));
      let k = 0;
      for (const a of as) {
        out.set(a, k);
        k += a.length;
      }
      return out;
    };
    const weights = gradientStats(concat(weightGrads));
    const activations = gradientStats(concat(actGrads));
    const rows: GradientHistogram['rows'] = [];
    for (const [kind, s] of [['weights', weights], ['activations', activations]] as const) {
      s.counts.forEach((count, k) => {
        if (count > 0) rows.push({ kind, log2: s.minLog2 + k, count, fraction: count / s.total });
      });
    }
    return { step: warmup, weights, activations, rows };
  } finally {
    model.dispose();
    tf.dispose([x, y]);
  }
}
