/**
 * Shapes: broadcasting rules, axis arguments, and the one backward helper every
 * broadcasting op shares, `sumToShape`. Errors are {@link ShapeError}s that
 * name the op, the shapes and what was expected.
 */
import { tf } from '../backend/tf';

/**
 * A shape mismatch a learner can fix: the message says which op, which shapes
 * and what was expected, e.g.
 * `matmul: [32,784] x [256,256]: inner dims 784 and 256 differ`.
 * Introduced in notebooks/01-backprop/02-tensors.
 */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

/** `[32,784]`: how shapes are written in every error message. */
export function fmt(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Whether two shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * The broadcast shape of `shapes` (NumPy / PyTorch rules): align on the right;
 * each pair of dims must be equal or one of them 1; missing leading dims count as 1.
 * Throws `add: [2,3] + [4]: shapes cannot be broadcast: at axis -1, 3 vs 4 ...`.
 * Reference: `torch.broadcast_shapes`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function broadcastShapes(op: string, shapes: readonly (readonly number[])[], sep = ','): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let k = 1; k <= rank; k++) {
    let d = 1;
    for (const s of shapes) {
      const e = s[s.length - k] ?? 1;
      if (e === 1 || e === d) continue;
      if (d !== 1) {
        throw new ShapeError(
          `${op}: ${shapes.map(fmt).join(` ${sep} `)}: shapes cannot be broadcast: at axis -${k}, ${d} vs ${e} ` +
            '(each pair of dims must be equal, or one of them 1)',
        );
      }
      d = e;
    }
    out.unshift(d);
  }
  return out;
}

/**
 * The axes argument of a reduction as sorted, non-negative, distinct axes.
 * `undefined` means every axis; negative axes count from the end.
 */
export function normAxes(op: string, axis: number | readonly number[] | undefined, shape: readonly number[]): number[] {
  const rank = shape.length;
  if (axis === undefined) return shape.map((_, i) => i);
  const list = typeof axis === 'number' ? [axis] : [...axis];
  const out = new Set<number>();
  for (const a of list) {
    if (!Number.isInteger(a) || a < -rank || a >= rank) {
      throw new ShapeError(`${op}: axis ${a} is out of range for ${fmt(shape)} (rank ${rank}: use ${-rank}..${rank - 1})`);
    }
    out.add(a < 0 ? a + rank : a);
  }
  return [...out].sort((x, y) => x - y);
}

/** `shape` with the reduced `axes` kept as size 1 (what `keepDims: true` gives). */
export function keptShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/**
 * Backward of broadcasting: sum `g` over the axes along which an operand of
 * `shape` was broadcast (the extra leading axes, and the axes where `shape` has
 * a 1), so the gradient has the operand's own shape:
 * `∂L/∂a_j = Σ_{i broadcast from j} ∂L/∂y_i`.
 * Returns `g` itself when the shapes already agree.
 * Introduced in notebooks/01-backprop/02-tensors.
 */
export function sumToShape(g: tf.Tensor, shape: readonly number[]): tf.Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  return tf.reshape(axes.length ? tf.sum(g, axes) : g, [...shape]);
}
