import { tf } from '../../backend/tf';
import { record } from '../record';
import { broadcastShapes, sumToShape } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/**
 * Elementwise sum with broadcasting: `y = a + b`.
 *
 * Backward: `∂y/∂a = ∂y/∂b = 1`, so each operand receives `dy`, summed back over
 * the axes along which it was broadcast (`sumToShape(dy, a.shape)`): a bias `b`
 * of shape `[n]` added to `[batch, n]` gets `Σ_batch dy`.
 *
 * Reference: `torch.add`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function add(a: Operand, b: Operand): Tensor {
  const [sa, sb] = [shapeOf(a), shapeOf(b)];
  broadcastShapes('add', [sa, sb], '+');
  return record('add', [a, b], ([a, b]) => tf.add(a, b), [
    { grad: (dy) => sumToShape(dy, sa) }, // ∂y/∂a = 1
    { grad: (dy) => sumToShape(dy, sb) }, // ∂y/∂b = 1
  ]);
}
