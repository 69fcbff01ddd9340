import { tf } from '../../backend/tf';
import { record } from '../record';
import { fmt, ShapeError } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/**
 * The block of `x` starting at `begin` with extent `size` per axis (a size of
 * −1 runs to the end; missing trailing entries take the whole axis).
 * Backward: `dy` padded with zeros back to `x`'s shape (the sliced-away
 * elements did not affect y).
 *
 * Reference: `torch.narrow` / basic indexing `x[b0:b0+s0, ...]`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function slice(x: Operand, begin: number[], size?: number[]): Tensor {
  const shape = shapeOf(x);
  const b = shape.map((_, i) => begin[i] ?? 0);
  const s = shape.map((d, i) => {
    const v = size?.[i] ?? -1;
    return v === -1 ? d - (b[i] as number) : v;
  });
  const bad = shape.findIndex((d, i) => (b[i] as number) < 0 || (s[i] as number) < 0 || (b[i] as number) + (s[i] as number) > d);
  if (begin.length > shape.length || (size && size.length > shape.length) || bad >= 0) {
    throw new ShapeError(
      `slice: ${fmt(shape)} from ${fmt(begin)} size ${fmt(size ?? [])}: ` +
        (bad >= 0 ? `axis ${bad} needs 0 <= begin and begin + size <= ${shape[bad]}` : `more entries than the rank ${shape.length}`),
    );
  }
  return record('slice', [x], ([a]) => tf.slice(a, b, s), [
    { grad: (dy) => tf.pad(dy, shape.map((d, i) => [b[i] as number, d - (b[i] as number) - (s[i] as number)] as [number, number])) },
  ]);
}
