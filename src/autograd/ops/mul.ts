import { tf } from '../../backend/tf';
import { record } from '../record';
import { broadcastShapes, sumToShape } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/**
 * Elementwise product with broadcasting: `y = a · b`.
 *
 * Backward: `∂y/∂a = b`, `∂y/∂b = a`; each gradient `dy·b`, `dy·a` is summed back
 * to its operand's shape.
 *
 * Reference: `torch.mul`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function mul(a: Operand, b: Operand): Tensor {
  const [sa, sb] = [shapeOf(a), shapeOf(b)];
  broadcastShapes('mul', [sa, sb], '*');
  return record('mul', [a, b], ([a, b]) => tf.mul(a, b), [
    { saves: [1], grad: (dy, s) => sumToShape(tf.mul(dy, s.x(1)), sa) }, // ∂y/∂a = b
    { saves: [0], grad: (dy, s) => sumToShape(tf.mul(dy, s.x(0)), sb) }, // ∂y/∂b = a
  ]);
}
