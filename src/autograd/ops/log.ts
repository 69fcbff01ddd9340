import { tf } from '../../backend/tf';
import { record } from '../record';
import type { Operand, Tensor } from '../tensor';

/**
 * Natural logarithm: `y = ln x` (NaN for x < 0, −Inf at 0, as in PyTorch).
 * Backward: `∂y/∂x = 1/x`.
 *
 * Reference: `torch.log`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function log(x: Operand): Tensor {
  return record('log', [x], ([a]) => tf.log(a), [{ saves: [0], grad: (dy, s) => tf.div(dy, s.x(0)) }]);
}
