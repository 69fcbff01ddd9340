import { tf } from '../../backend/tf';
import { record } from '../record';
import { normAxes } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/**
 * Log-softmax over `axis` (default −1), computed stably:
 * `y = (x − m) − log Σ exp(x − m)`, `m = max x`: never `log(0)` for very negative
 * logits, which is why losses use it rather than `log(softmax(x))`.
 *
 * Backward: `∂L/∂x = dy − exp(y) · Σ_j dy_j` (`exp(y)` is the softmax).
 *
 * Reference: `torch.log_softmax(x, dim)`. Introduced in notebooks/01-backprop/04-stability.
 */
export function logSoftmax(x: Operand, axis = -1): Tensor {
  const shape = shapeOf(x);
  const [ax] = normAxes('logSoftmax', axis, shape) as [number];
  return record(
    'logSoftmax',
    [x],
    ([a]) => {
      const z = tf.sub(a, tf.max(a, ax, true));
      return tf.sub(z, tf.log(tf.sum(tf.exp(z), ax, true)));
    },
    [{ saves: ['y'], grad: (dy, s) => tf.sub(dy, tf.mul(tf.exp(s.y()), tf.sum(dy, ax, true))) }],
  );
}
