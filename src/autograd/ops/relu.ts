import { tf } from '../../backend/tf';
import { record } from '../record';
import type { Operand, Tensor } from '../tensor';

/**
 * Rectified linear unit: `y = max(x, 0)`. Backward: `∂y/∂x = 1` where `x > 0`,
 * else 0 (0 at x = 0, as in PyTorch).
 *
 * Reference: `torch.relu`. Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function relu(x: Operand): Tensor {
  return record('relu', [x], ([a]) => tf.relu(a), [
    { saves: ['y'], grad: (dy, s) => tf.mul(dy, tf.step(s.y())) }, // saves y, as PyTorch does: y > 0 exactly where x > 0
  ]);
}
