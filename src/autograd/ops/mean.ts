import { tf } from '../../backend/tf';
import { record } from '../record';
import { keptShape, normAxes } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/**
 * Mean over `axis` (default: every axis): `y = (1/n) Σ_axis x`, n the number of
 * elements reduced; `keepDims` default false.
 *
 * Backward: `∂y/∂x_i = 1/n`: `dy/n` broadcast back over the reduced axes.
 *
 * Reference: `torch.mean(x, dim, keepdim=False)`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function mean(x: Operand, axis?: number | number[], keepDims = false): Tensor {
  const shape = shapeOf(x);
  const axes = normAxes('mean', axis, shape);
  const n = axes.reduce((p, i) => p * (shape[i] as number), 1);
  return record('mean', [x], ([a]) => tf.mean(a, axes, keepDims), [
    { grad: (dy) => tf.broadcastTo(tf.reshape(tf.div(dy, n), keptShape(shape, axes)), shape) },
  ]);
}
