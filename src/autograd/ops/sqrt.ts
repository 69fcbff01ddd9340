import { tf } from '../../backend/tf';
import { record } from '../record';
import type { Operand, Tensor } from '../tensor';

/**
 * Square root: `y = √x`. Backward: `∂y/∂x = 1 / (2√x) = 1 / (2y)` (Inf at 0, as in PyTorch).
 *
 * Reference: `torch.sqrt`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function sqrt(x: Operand): Tensor {
  return record('sqrt', [x], ([a]) => tf.sqrt(a), [{ saves: ['y'], grad: (dy, s) => tf.div(dy, tf.mul(2, s.y())) }]);
}
