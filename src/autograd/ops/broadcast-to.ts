import { tf } from '../../backend/tf';
import { record } from '../record';
import { broadcastShapes, fmt, sameShape, ShapeError, sumToShape } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/**
 * Broadcast `x` to `shape` (NumPy rules: size-1 and missing leading axes repeat).
 * Backward: sum `dy` over the repeated axes back to `x`'s shape.
 *
 * Reference: `torch.broadcast_to`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function broadcastTo(x: Operand, shape: number[]): Tensor {
  const from = shapeOf(x);
  const fits = from.length <= shape.length && sameShape(broadcastShapes('broadcastTo', [from, shape], '->'), shape);
  if (!fits) throw new ShapeError(`broadcastTo: ${fmt(from)} -> ${fmt(shape)}: each dim of the input must be 1 or equal the target's`);
  return record('broadcastTo', [x], ([a]) => tf.broadcastTo(a, shape), [{ grad: (dy) => sumToShape(dy, from) }]);
}
