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
  return record('relu', [x], ([a]) => tf.relu(a), [(dy, { x: [a] }) => tf.mul(dy, tf.step(a))]);
}
