/**
 * Cross-entropy from logits: the classification loss.
 *
 * Introduced in notebooks/01-backprop/06-losses.
 */
import { tf } from '../../backend/tf';
import { readIfSync } from '../../autograd/mode';
import { record } from '../../autograd/record';
import { fmt, sameShape, ShapeError } from '../../autograd/shape';
import { Tensor, type Operand } from '../../autograd/tensor';
import { checkReduction, type Reduction } from './reduction';

/** Class indices: an int32 tensor (gradlab's or tfjs's, borrowed) or nested arrays of integers. */
export type Targets = Tensor | tf.Tensor | number[] | number[][];

/** Options of {@link crossEntropy}. */
export interface CrossEntropyOptions {
  /** Targets equal to this are ignored: zero loss, zero gradient, not counted by 'mean'. Default −100 (PyTorch's). */
  ignoreIndex?: number;
  /** ε ∈ [0, 1]: the target distribution is `(1 − ε)·onehot(y) + ε/C`. Default 0. */
  labelSmoothing?: number;
  /** 'mean' (over non-ignored targets; default), 'sum', or 'none' (per target, 0 where ignored). */
  reduction?: Reduction;
  /**
   * Check that every target is in [0, C) or equals ignoreIndex, and throw naming the
   * first bad one. Default true. It reads the targets back (`dataSync`): on a GPU
   * that is a device sync per call; pass false in a hot loop once the data is known good.
   */
  checkTargets?: boolean;
}

/**
 * Cross-entropy between logits z `[..., C]` (class axis LAST) and int32 class
 * indices y `[...]`, from logits and stable for any z:
 *
 * `ℓᵢ = −Σ_c qᵢ_c · log pᵢ_c`, `log pᵢ = zᵢ − lseᵢ = (zᵢ − m) − log Σ_c exp(zᵢ_c − m)`, m = max_c zᵢ_c
 * (computed in that order, as PyTorch's log_softmax, so z − m is exact for the largest logit),
 * `qᵢ = (1 − ε)·onehot(yᵢ) + ε/C` (label smoothing ε; q = onehot(y) when ε = 0, so ℓᵢ = lseᵢ − zᵢ_yᵢ),
 * and `qᵢ = 0` (ℓᵢ = 0) where yᵢ = ignoreIndex.
 * 'mean' divides Σᵢ ℓᵢ by the number of non-ignored targets n (all ignored: 0/0 = NaN, as PyTorch).
 *
 * Backward, one rule: `∂ℓᵢ/∂zᵢ = [yᵢ ≠ ignore]·softmax(zᵢ) − qᵢ` (times dy, and 1/n for 'mean'):
 * the model's distribution minus the target one. With z = 1e4 every exp stays ≤ 1, so
 * loss and gradient are finite where the naive `log(softmax(z))` gives NaN.
 *
 * Matches `torch.nn.functional.cross_entropy(z, y, ignore_index=-100, label_smoothing=0.0,
 * reduction='mean')` for 2-D z exactly, including how ignore_index and label smoothing interact
 * (ignored rows get no smoothing term; 'mean' divides both terms by n). Differences: the class
 * axis is the last one (PyTorch's is axis 1 for z `[N, C, d…]`), and there are no class weights
 * and no probability targets.
 *
 * Errors: a non-int32 or misshapen y, or a y outside [0, C) (unless ignoreIndex), throws naming
 * the shapes and the first bad value.
 *
 * @example
 * const loss = nn.crossEntropy(model.forward(x), labels);       // labels: int32 [batch]
 * const smooth = nn.crossEntropy(z, y, { labelSmoothing: 0.1 });
 *
 * Reference: `torch.nn.functional.cross_entropy`; Szegedy et al. 2016 (label smoothing).
 * Introduced in notebooks/01-backprop/06-losses.
 */
export function crossEntropy(logits: Operand, targets: Targets, options: CrossEntropyOptions = {}): Tensor {
  const { ignoreIndex = -100, labelSmoothing = 0, checkTargets = true } = options;
  const reduction = checkReduction('crossEntropy', options.reduction ?? 'mean');
  if (!Number.isInteger(ignoreIndex)) throw new Error(`crossEntropy: ignoreIndex must be an integer, got ${String(ignoreIndex)}`);
  if (!(typeof labelSmoothing === 'number' && labelSmoothing >= 0 && labelSmoothing <= 1)) {
    throw new Error(`crossEntropy: labelSmoothing must be a number in [0, 1], got ${String(labelSmoothing)}`);
  }
  if (typeof logits === 'number') throw new ShapeError('crossEntropy: logits must be a float32 tensor [..., C], got a number');
  const sz = logits.shape.slice();
  if (sz.length < 1 || (sz[sz.length - 1] as number) < 1) throw new ShapeError(`crossEntropy: logits ${fmt(sz)} need a class axis (the last) of size >= 1`);
  if (logits.dtype !== 'float32') throw new ShapeError(`crossEntropy: logits ${fmt(sz)} must be float32, got ${logits.dtype}`);
  const C = sz[sz.length - 1] as number;
  const lead = sz.slice(0, -1);
  const y = targetNode(targets, lead, sz);
  if (checkTargets) checkRange(y, C, ignoreIndex, sz);
  const N = lead.reduce((a, b) => a * b, 1);
  const eps = labelSmoothing;
  return record(
    'crossEntropy',
    [logits, y],
    ([z, t]) => {
      const z2 = tf.reshape(z as tf.Tensor, [N, C]);
      const keep = tf.notEqual(tf.reshape(t as tf.Tensor, [N]), ignoreIndex); //            yᵢ ≠ ignore
      const mask = tf.expandDims(tf.cast(keep, 'float32'), 1); //                             [N, 1]
      const safe = tf.where(keep, tf.reshape(t as tf.Tensor, [N]), tf.zeros([N], 'int32'));
      // (tf.oneHot's own float32 output is all zeros on the wasm backend in tfjs 4.22: cast instead)
      const q = tf.mul(mask, tf.add(tf.mul(tf.cast(tf.oneHot(safe, C), 'float32'), 1 - eps), eps / C)); // qᵢ
      const m0 = tf.max(z2, 1, true);
      const m = tf.where(tf.isFinite(m0), m0, tf.zerosLike(m0));
      const shifted = tf.sub(z2, m); //                                                        z − m ≤ 0
      const logp = tf.sub(shifted, tf.log(tf.sum(tf.exp(shifted), 1, true))); //               log pᵢ = zᵢ − lseᵢ
      const terms = tf.where(tf.greater(q, 0), tf.mul(q, logp), tf.zerosLike(q)); //          0·(−∞) counts as 0
      const rows = tf.neg(tf.sum(terms, 1)); //                                                ℓᵢ
      const saved = [tf.exp(logp), q, mask];
      if (reduction === 'none') return { y: tf.reshape(rows, lead), saved };
      if (reduction === 'sum') return { y: tf.sum(rows), saved };
      const n = tf.sum(mask);
      return { y: tf.div(tf.sum(rows), n), saved: [...saved, tf.divNoNan(1, n)] }; //          Σℓᵢ / n
    },
    [
      {
        grad: (dy, s) => {
          const [p, q, mask, invN] = s.saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
          const g = tf.sub(tf.mul(mask, p), q); //                                          [yᵢ ≠ ignore]·softmax − q
          const scaled = reduction === 'none' ? tf.mul(g, tf.reshape(dy, [N, 1])) : tf.mul(g, reduction === 'mean' ? tf.mul(dy, invN) : dy);
          return tf.reshape(scaled, sz);
        },
      },
      null,
    ],
  );
}

/** @internal The targets as a graph operand (arrays become an int32 constant the graph owns), checked against the logits. */
export function targetNode(targets: Targets, lead: number[], logitsShape: number[], who = 'crossEntropy'): Tensor | tf.Tensor {
  const what = `targets must be int32 class indices in [0, ${logitsShape[logitsShape.length - 1]})`;
  let y: Tensor | tf.Tensor;
  if (Array.isArray(targets)) {
    const bad = (targets as unknown[]).flat().find((v) => !Number.isInteger(v));
    if (bad !== undefined) throw new ShapeError(`${who}: ${what}; got ${String(bad)}`);
    y = new Tensor(tf.tensor(targets, undefined, 'int32'), { op: 'const' });
  } else if (targets instanceof Tensor || targets instanceof tf.Tensor) {
    y = targets;
  } else {
    throw new ShapeError(`${who}: ${what}; got ${typeof targets}`);
  }
  const dispose = () => y instanceof Tensor && y.op === 'const' && y.dispose();
  if (!sameShape(y.shape, lead)) {
    dispose();
    throw new ShapeError(`${who}: logits ${fmt(logitsShape)} and targets ${fmt(y.shape)}: expected targets ${fmt(lead)} (the logits without their last, class, axis)`);
  }
  if (y.dtype !== 'int32') {
    throw new ShapeError(`${who}: logits ${fmt(logitsShape)} and targets ${fmt(y.shape)} ${y.dtype}: ${what} (cast with tf.cast(targets, 'int32'))`);
  }
  return y;
}

/** @internal Throw, naming the first bad target and its position, unless every target is in [0, C) or ignoreIndex. */
export function checkRange(y: Tensor | tf.Tensor, C: number, ignoreIndex: number, logitsShape: number[], who = 'crossEntropy'): void {
  const v = readIfSync(y instanceof Tensor ? y.data : y);
  if (v === null) return; // targets on a device that reads back only asynchronously (webgpu): not checked
  for (let i = 0; i < v.length; i++) {
    const c = v[i] as number;
    if ((c < 0 || c >= C) && c !== ignoreIndex) {
      const at: number[] = [];
      let rest = i;
      for (let d = y.shape.length - 1; d >= 0; d--) {
        at.unshift(rest % (y.shape[d] as number));
        rest = Math.floor(rest / (y.shape[d] as number));
      }
      if (y instanceof Tensor && y.op === 'const') y.dispose();
      throw new RangeError(
        `${who}: target ${c} at [${at.join(',')}] is out of range for logits ${fmt(logitsShape)}: targets must be class indices in [0, ${C}) or ignoreIndex (${ignoreIndex})`,
      );
    }
  }
}
