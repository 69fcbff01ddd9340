import { tf } from '../../backend/tf';
import { record } from '../record';
import { keptShape, normAxes } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/**
 * Log-sum-exp over `axis` (default −1), computed stably:
 * `y = m + log Σ exp(x − m)`, `m = max_axis x` (m taken as 0 where it is ±Inf,
 * so a row of −Inf gives −Inf rather than NaN). Naively `log Σ exp x` overflows
 * to Inf once x exceeds about 88 in float32; shifting by m keeps every exp ≤ 1.
 *
 * Backward: `∂y/∂x_i = exp(x_i − y) = softmax(x)_i` (m cancels: it is a
 * constant shift, so it needs no gradient of its own).
 *
 * Reference: `torch.logsumexp(x, dim, keepdim=False)`. Introduced in notebooks/01-backprop/04-stability.
 */
export function logsumexp(x: Operand, axis: number | number[] = -1, keepDims = false): Tensor {
  const shape = shapeOf(x);
  const axes = normAxes('logsumexp', axis, shape);
  const kept = keptShape(shape, axes);
  return record(
    'logsumexp',
    [x],
    ([a]) => {
      const m0 = tf.max(a, axes, true);
      const m = tf.where(tf.isFinite(m0), m0, tf.zerosLike(m0));
      const y = tf.add(m, tf.log(tf.sum(tf.exp(tf.sub(a, m)), axes, true)));
      return keepDims ? y : tf.reshape(y, shape.filter((_, i) => !axes.includes(i)));
    },
    [{ saves: [0, 'y'], grad: (dy, s) => tf.mul(tf.reshape(dy, kept), tf.exp(tf.sub(s.x(0), tf.reshape(s.y(), kept)))) }],
  );
}
