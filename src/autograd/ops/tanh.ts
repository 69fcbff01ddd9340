import { tf } from '../../backend/tf';
import { record } from '../record';
import type { Operand, Tensor } from '../tensor';

/**
 * Hyperbolic tangent: `y = tanh x`. Backward: `∂y/∂x = 1 − tanh²x = 1 − y²`,
 * at most 1 and vanishing for |x| ≫ 1 (saturation).
 *
 * Reference: `torch.tanh`. Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function tanh(x: Operand): Tensor {
  return record('tanh', [x], ([a]) => tf.tanh(a), [{ saves: ['y'], grad: (dy, s) => tf.mul(dy, tf.sub(1, tf.square(s.y()))) }]);
}
