import { tf } from '../../backend/tf';
import { record } from '../record';
import { broadcastShapes, sumToShape } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/**
 * Power with broadcasting: `y = aᵇ` (NaN for a negative base and a non-integer
 * exponent, as in PyTorch).
 *
 * Backward: `∂y/∂a = b·aᵇ⁻¹`, taken as 0 where `b = 0` (y ≡ 1 there, so
 * `pow(0, 0)` has gradient 0, not `0·0⁻¹ = NaN`); `∂y/∂b = aᵇ·ln a = y·ln a`, taken as 0 where
 * `a = 0` and `b ≥ 0` (PyTorch's convention, so `0^b` has a finite gradient).
 * A number exponent (`pow(x, 2)`) is a constant: only `a` gets a gradient.
 *
 * Reference: `torch.pow`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function pow(a: Operand, b: Operand): Tensor {
  const [sa, sb] = [shapeOf(a), shapeOf(b)];
  broadcastShapes('pow', [sa, sb], '**');
  return record('pow', [a, b], ([a, b]) => tf.pow(a, b), [
    {
      saves: [0, 1],
      grad: (dy, s) => {
        const [base, e] = [s.x(0), s.x(1)];
        const dyda = tf.mul(e, tf.pow(base, tf.sub(e, 1))); //                     ∂y/∂a = b·a^(b−1)
        const constant = tf.equal(tf.broadcastTo(e, dyda.shape), 0); //           b = 0: y = 1, ∂y/∂a = 0 (not 0·0⁻¹)
        return sumToShape(tf.mul(dy, tf.where(constant, tf.zerosLike(dyda), dyda)), sa);
      },
    },
    {
      saves: [0, 1, 'y'],
      grad: (dy, s) => {
        const [base, e] = [s.x(0), s.x(1)];
        const dydb = tf.mul(s.y(), tf.log(base)); //                               ∂y/∂b = y·ln a
        const zero = tf.logicalAnd(tf.equal(base, 0), tf.greaterEqual(e, 0));
        return sumToShape(tf.mul(dy, tf.where(tf.broadcastTo(zero, dydb.shape), tf.zerosLike(dydb), dydb)), sb);
      },
    },
  ]);
}
