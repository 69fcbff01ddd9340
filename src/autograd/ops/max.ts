import { tf } from '../../backend/tf';
import { record } from '../record';
import { keptShape, normAxes } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/**
 * Maximum over `axis` (default: every axis): `y = max_axis x`; `keepDims` default false.
 *
 * Backward: the gradient goes to the maximal elements; when several tie, they
 * share it equally: `∂y/∂x_i = [x_i = y] / #{j : x_j = y}`.
 *
 * Reference: `torch.amax(x, dim, keepdim=False)` (which splits ties evenly; tfjs's own
 * `max` gradient gives each tie the full gradient). Introduced in notebooks/01-backprop/04-stability.
 */
export function max(x: Operand, axis?: number | number[], keepDims = false): Tensor {
  const shape = shapeOf(x);
  const axes = normAxes('max', axis, shape);
  const kept = keptShape(shape, axes);
  return record('max', [x], ([a]) => tf.max(a, axes, keepDims), [
    {
      saves: [0, 'y'],
      grad: (dy, s) => {
        const hit = tf.cast(tf.equal(s.x(0), tf.reshape(s.y(), kept)), 'float32'); // [x_i = y]
        const share = tf.div(hit, tf.sum(hit, axes, true)); //                      split ties evenly
        return tf.mul(share, tf.reshape(dy, kept));
      },
    },
  ]);
}
