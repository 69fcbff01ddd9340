import { tf } from '../../backend/tf';
import { record } from '../record';
import { fmt, ShapeError } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/**
 * Permute the axes: `y.shape[i] = x.shape[perm[i]]`; `perm` defaults to
 * reversing them (a matrix transpose for rank 2).
 * Backward: transpose `dy` by the inverse permutation (`inv[perm[i]] = i`).
 *
 * Reference: `torch.permute` (and `.T`). Introduced in notebooks/01-backprop/02-tensors.
 */
export function transpose(x: Operand, perm?: number[]): Tensor {
  const shape = shapeOf(x);
  const p = perm ?? shape.map((_, i) => shape.length - 1 - i);
  const isPerm = p.length === shape.length && [...p].sort((a, b) => a - b).every((v, i) => v === i);
  if (!isPerm) throw new ShapeError(`transpose: ${fmt(shape)} with perm ${fmt(p)}: perm must list each axis 0..${shape.length - 1} once`);
  const inv: number[] = [];
  p.forEach((axis, i) => (inv[axis] = i));
  return record('transpose', [x], ([a]) => tf.transpose(a, p), [{ grad: (dy) => tf.transpose(dy, inv) }]);
}
