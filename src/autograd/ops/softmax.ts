import { tf } from '../../backend/tf';
import { record } from '../record';
import { normAxes } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/**
 * Softmax over `axis` (default −1), computed stably:
 * `y_i = exp(x_i − m) / Σ_j exp(x_j − m)`, `m = max x` (the shift cancels in the
 * ratio but keeps every exp ≤ 1, so no overflow to Inf/Inf = NaN).
 *
 * Backward (the Jacobian `diag(y) − y yᵀ` applied to dy):
 * `∂L/∂x = y ⊙ (dy − Σ_j dy_j y_j)`.
 *
 * Reference: `torch.softmax(x, dim)`. Introduced in notebooks/01-backprop/04-stability.
 */
export function softmax(x: Operand, axis = -1): Tensor {
  const shape = shapeOf(x);
  const [ax] = normAxes('softmax', axis, shape) as [number];
  return record(
    'softmax',
    [x],
    ([a]) => {
      if (ax === shape.length - 1) return tf.softmax(a); // tfjs's fused kernel (it subtracts the max too)
      const e = tf.exp(tf.sub(a, tf.max(a, ax, true)));
      return tf.div(e, tf.sum(e, ax, true));
    },
    [{ saves: ['y'], grad: (dy, s) => tf.mul(s.y(), tf.sub(dy, tf.sum(tf.mul(dy, s.y()), ax, true))) }],
  );
}
