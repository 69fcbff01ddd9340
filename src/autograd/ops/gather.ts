import { tf } from '../../backend/tf';
import { readIfSync } from '../mode';
import { record } from '../record';
import { fmt, ShapeError } from '../shape';
import { lift, shapeOf, Tensor, type Operand } from '../tensor';

/**
 * Embedding lookup: rows of `table` picked by integer `indices` (any shape):
 * `y[i₁..iₖ, :] = table[indices[i₁..iₖ], :]`, shape `indices.shape ++ table.shape[1:]`.
 * Indices may be a tensor (int32) or a plain array of integers; one out of range
 * throws, naming it (for a tensor, where the backend reads synchronously: cpu,
 * wasm, tensorflow; on webgpu tfjs's gather would silently return zeros).
 *
 * Backward: scatter-add `dy` into a zero table: a row picked n times receives the
 * sum of its n gradients (`tf.scatterND` sums repeated indices). Indices get none.
 *
 * Reference: `torch.nn.functional.embedding(indices, table)` (= `table[indices]`).
 * Introduced in notebooks/01-backprop/02-tensors.
 */
export function gather(table: Operand, indices: Operand | number[] | number[][]): Tensor {
  const shape = shapeOf(table);
  if (shape.length < 1) throw new ShapeError(`gather: table ${fmt(shape)} needs rank >= 1`);
  const rangeError = (i: number) => new ShapeError(`gather: index ${i} is out of range for table ${fmt(shape)} (use 0..${(shape[0] as number) - 1})`);
  const outOfRange = (i: number) => !Number.isInteger(i) || i < 0 || i >= (shape[0] as number);
  if (Array.isArray(indices)) {
    const bad = indices.flat().find(outOfRange);
    if (bad !== undefined) throw rangeError(bad);
  } else if (typeof indices !== 'number') {
    const t = indices instanceof Tensor ? indices.data : indices;
    if (t.dtype !== 'int32') throw new ShapeError(`gather: indices ${fmt(t.shape)} must be int32, got ${t.dtype}`);
    // tfjs's gather returns zeros for an index out of range; check it where the backend can read synchronously.
    const values = readIfSync(t);
    const bad = values && Array.from(values).find(outOfRange);
    if (bad !== undefined && bad !== null) throw rangeError(bad);
  }
  // A plain array becomes an int32 constant owned by the graph.
  const idx = Array.isArray(indices) ? new Tensor(tf.tensor(indices, undefined, 'int32'), { op: 'const' }) : lift(indices);
  if (idx.dtype !== 'int32') {
    if (idx.op === 'const') idx.dispose();
    throw new ShapeError(`gather: indices ${fmt(idx.shape)} must be int32, got ${idx.dtype}`);
  }
  const rows = idx.size;
  const rest = shape.slice(1);
  return record('gather', [table, idx], ([t, i]) => tf.gather(t, i, 0), [
    { saves: [1], grad: (dy, s) => tf.scatterND(tf.reshape(s.x(1), [rows, 1]), tf.reshape(dy, [rows, ...rest]), shape) },
    null,
  ]);
}
