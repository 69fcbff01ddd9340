import { tf } from '../../backend/tf';
import { record } from '../record';
import { broadcastShapes, sumToShape } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/**
 * Elementwise difference with broadcasting: `y = a − b`.
 *
 * Backward: `∂y/∂a = 1`, `∂y/∂b = −1`, each summed back to its operand's shape.
 *
 * Reference: `torch.sub`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function sub(a: Operand, b: Operand): Tensor {
  const [sa, sb] = [shapeOf(a), shapeOf(b)];
  broadcastShapes('sub', [sa, sb], '-');
  return record('sub', [a, b], ([a, b]) => tf.sub(a, b), [
    { grad: (dy) => sumToShape(dy, sa) }, //           ∂y/∂a = 1
    { grad: (dy) => sumToShape(tf.neg(dy), sb) }, //   ∂y/∂b = −1
  ]);
}
