import { tf } from '../../backend/tf';
import { record } from '../record';
import { keptShape, normAxes } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/**
 * Sum over `axis` (default: every axis): `y = Σ_axis x`, keeping the reduced
 * axes as size 1 when `keepDims` (default false).
 *
 * Backward: `∂y/∂x_i = 1`, so `dy` is broadcast back over the reduced axes.
 *
 * Reference: `torch.sum(x, dim, keepdim=False)`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function sum(x: Operand, axis?: number | number[], keepDims = false): Tensor {
  const shape = shapeOf(x);
  const axes = normAxes('sum', axis, shape);
  return record('sum', [x], ([a]) => tf.sum(a, axes, keepDims), [
    { grad: (dy) => tf.broadcastTo(tf.reshape(dy, keptShape(shape, axes)), shape) },
  ]);
}
