import { tf } from '../../backend/tf';
import { record } from '../record';
import { broadcastShapes, sumToShape } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/**
 * Power with broadcasting: `y = aᵇ` (NaN for a negative base and a non-integer
 * exponent, as in PyTorch).
 *
 * Backward: `∂y/∂a = b·aᵇ⁻¹`; `∂y/∂b = aᵇ·ln a = y·ln a`, taken as 0 where
 * `a = 0` and `b ≥ 0` (PyTorch's convention, so `0^b` has a finite gradient).
 * A number exponent (`pow(x, 2)`) is a constant: only `a` gets a gradient.
 *
 * Reference: `torch.pow`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function pow(a: Operand, b: Operand): Tensor {
  const [sa, sb] = [shapeOf(a), shapeOf(b)];
  broadcastShapes('pow', [sa, sb], '**');
  return record('pow', [a, b], ([a, b]) => tf.pow(a, b), [
    (dy, { x: [base, e] }) => sumToShape(tf.mul(dy, tf.mul(e, tf.pow(base, tf.sub(e, 1)))), sa), // ∂y/∂a = b·a^(b−1)
    (dy, { x: [base, e], y }) => {
      const dydb = tf.mul(y, tf.log(base)); //                                    ∂y/∂b = y·ln a
      const zero = tf.logicalAnd(tf.equal(base, 0), tf.greaterEqual(e, 0));
      return sumToShape(tf.mul(dy, tf.where(zero, tf.zerosLike(dydb), dydb)), sb);
    },
  ]);
}
