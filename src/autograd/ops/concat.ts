import { tf } from '../../backend/tf';
import { record } from '../record';
import { fmt, normAxes, ShapeError } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/**
 * Join `xs` along `axis` (default 0); every other dim must agree.
 * Backward: each input gets its own slab of `dy` back (a slice at its offset).
 *
 * Reference: `torch.cat(xs, dim)`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function concat(xs: Operand[], axis = 0): Tensor {
  const shapes = xs.map(shapeOf);
  const first = shapes[0];
  if (!first) throw new ShapeError('concat: needs at least one tensor');
  const [ax] = normAxes('concat', axis, first) as [number];
  const odd = shapes.findIndex((s) => s.length !== first.length || s.some((d, i) => i !== ax && d !== first[i]));
  if (odd >= 0) {
    throw new ShapeError(`concat: ${shapes.map(fmt).join(', ')} along axis ${ax}: input ${odd} differs from input 0 off that axis`);
  }
  let offset = 0;
  const rules = shapes.map((s) => {
    const begin = s.map((_, i) => (i === ax ? offset : 0));
    offset += s[ax] as number;
    return { grad: (dy: tf.Tensor) => tf.slice(dy, begin, s) };
  });
  return record('concat', xs, (x) => tf.concat(x, ax), rules);
}
