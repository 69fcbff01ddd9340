import { tf } from '../../backend/tf';
import { record } from '../record';
import type { Operand, Tensor } from '../tensor';

/**
 * Absolute value: `y = |x|`. Backward: `∂y/∂x = sign(x)`, with `sign(0) = 0`
 * (the subgradient PyTorch picks).
 *
 * Reference: `torch.abs`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function abs(x: Operand): Tensor {
  return record('abs', [x], ([a]) => tf.abs(a), [{ saves: [0], grad: (dy, s) => tf.mul(dy, tf.sign(s.x(0))) }]);
}
