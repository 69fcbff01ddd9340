import { tf } from '../../backend/tf';
import { record } from '../record';
import { broadcastShapes, sumToShape } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/**
 * Elementwise quotient with broadcasting: `y = a / b`.
 *
 * Backward: `∂y/∂a = 1/b`, `∂y/∂b = −a/b² = −y/b`; each summed back to its
 * operand's shape.
 *
 * Reference: `torch.div`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function div(a: Operand, b: Operand): Tensor {
  const [sa, sb] = [shapeOf(a), shapeOf(b)];
  broadcastShapes('div', [sa, sb], '/');
  return record('div', [a, b], ([a, b]) => tf.div(a, b), [
    { saves: [1], grad: (dy, s) => sumToShape(tf.div(dy, s.x(1)), sa) }, //                          ∂y/∂a = 1/b
    { saves: [1, 'y'], grad: (dy, s) => sumToShape(tf.neg(tf.div(tf.mul(dy, s.y()), s.x(1))), sb) }, // ∂y/∂b = −y/b
  ]);
}
