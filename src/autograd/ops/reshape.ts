import { tf } from '../../backend/tf';
import { record } from '../record';
import { fmt, ShapeError } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/**
 * Reshape to `shape` (one entry may be −1: inferred). The elements keep their
 * row-major order. Backward: reshape `dy` back to `x`'s shape.
 *
 * Reference: `torch.reshape`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function reshape(x: Operand, shape: number[]): Tensor {
  const from = shapeOf(x);
  const size = from.reduce((p, d) => p * d, 1);
  const known = shape.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
  const holes = shape.filter((d) => d === -1).length;
  const bad = shape.some((d) => !Number.isInteger(d) || d < -1) || holes > 1;
  if (bad || (holes === 0 && known !== size) || (holes === 1 && (known === 0 || size % known !== 0))) {
    throw new ShapeError(
      `reshape: ${fmt(from)} -> ${fmt(shape)}: ${bad ? 'dims must be non-negative integers, with at most one -1' : `${size} elements do not fit`}`,
    );
  }
  const to = shape.map((d) => (d === -1 ? size / known : d));
  return record('reshape', [x], ([a]) => tf.reshape(a, to), [{ grad: (dy) => tf.reshape(dy, from) }]);
}
