/**
 * Huber loss: squared near zero, linear in the tails.
 *
 * Introduced in notebooks/01-backprop/06-losses.
 */
import { tf } from '../../backend/tf';
import { record } from '../../autograd/record';
import { fmt, sameShape, ShapeError } from '../../autograd/shape';
import { shapeOf, type Operand, type Tensor } from '../../autograd/tensor';
import { checkReduction, reduce, type Reduction } from './reduction';

/** Options of {@link huber}. */
export interface HuberOptions {
  /** δ > 0: where the loss turns from quadratic to linear. Default 1.0 (PyTorch's). */
  delta?: number;
  /** 'mean' (default), 'sum' or 'none'. */
  reduction?: Reduction;
}

/**
 * With `d = x − y`: `ℓ = ½d²` if `|d| < δ`, else `δ(|d| − ½δ)`, then reduced.
 * Backward: `∂ℓ/∂x = clip(d, −δ, δ)` (d in the quadratic zone, δ·sign(d) outside:
 * a bounded gradient, so outliers cannot dominate), and the negative for y.
 * Input and target must have the same shape.
 *
 * Reference: `torch.nn.functional.huber_loss(input, target, reduction='mean', delta=1.0)`;
 * Huber 1964. Introduced in notebooks/01-backprop/06-losses.
 */
export function huber(input: Operand, target: Operand, { delta = 1, reduction = 'mean' }: HuberOptions = {}): Tensor {
  checkReduction('huber', reduction);
  if (!(Number.isFinite(delta) && delta > 0)) throw new Error(`huber: delta must be a positive finite number, got ${String(delta)}`);
  const [a, b] = [shapeOf(input), shapeOf(target)];
  if (!sameShape(a, b)) throw new ShapeError(`huber: input ${fmt(a)} and target ${fmt(b)}: expected the same shape`);
  const values = record(
    'huber',
    [input, target],
    ([x, y]) => {
      const d = tf.sub(x as tf.Tensor, y as tf.Tensor);
      const ad = tf.abs(d);
      const l = tf.where(tf.less(ad, delta), tf.mul(0.5, tf.square(d)), tf.mul(delta, tf.sub(ad, 0.5 * delta)));
      return { y: l, saved: [tf.clipByValue(d, -delta, delta)] }; //  ∂ℓ/∂d = clip(d, −δ, δ)
    },
    [{ grad: (dy, s) => tf.mul(dy, s.saved[0] as tf.Tensor) }, { grad: (dy, s) => tf.neg(tf.mul(dy, s.saved[0] as tf.Tensor)) }],
  );
  return reduce(values, reduction);
}
