import { tf } from '../../backend/tf';
import { record } from '../record';
import type { Operand, Tensor } from '../tensor';

/**
 * Negation: `y = −x`. Backward: `∂y/∂x = −1`.
 *
 * Reference: `torch.neg`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function neg(x: Operand): Tensor {
  return record('neg', [x], ([a]) => tf.neg(a), [{ grad: (dy) => tf.neg(dy) }]);
}
