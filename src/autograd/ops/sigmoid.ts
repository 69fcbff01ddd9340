import { tf } from '../../backend/tf';
import { record } from '../record';
import type { Operand, Tensor } from '../tensor';

/**
 * Logistic sigmoid: `y = σ(x) = 1 / (1 + e⁻ˣ)`. Backward: `∂y/∂x = σ(x)(1 − σ(x)) = y(1 − y)`,
 * at most 1/4: the reason deep sigmoid stacks lose their gradient.
 *
 * Reference: `torch.sigmoid`. Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function sigmoid(x: Operand): Tensor {
  return record('sigmoid', [x], ([a]) => tf.sigmoid(a), [{ saves: ['y'], grad: (dy, s) => tf.mul(dy, tf.mul(s.y(), tf.sub(1, s.y()))) }]);
}
