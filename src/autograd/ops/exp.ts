import { tf } from '../../backend/tf';
import { record } from '../record';
import type { Operand, Tensor } from '../tensor';

/**
 * Exponential: `y = eˣ`. Backward: `∂y/∂x = eˣ = y` (the saved output is reused).
 *
 * Reference: `torch.exp`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function exp(x: Operand): Tensor {
  return record('exp', [x], ([a]) => tf.exp(a), [{ saves: ['y'], grad: (dy, s) => tf.mul(dy, s.y()) }]);
}
