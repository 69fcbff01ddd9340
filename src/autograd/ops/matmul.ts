import { tf } from '../../backend/tf';
import { record } from '../record';
import { broadcastShapes, fmt, sameShape, ShapeError, sumToShape } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/** Backends whose transposed-operand matMul is slow: there the transpose is materialised first. */
const PLAIN_PRODUCTS_ONLY = new Set(['wasm']);

/** `t` with its last two axes swapped, materialised (an O(n²) copy). */
function swapLast(t: tf.Tensor): tf.Tensor {
  const perm = t.shape.map((_, i) => i);
  perm.splice(-2, 2, t.rank - 1, t.rank - 2);
  return tf.transpose(t, perm);
}

/** `op(a) @ op(b)`, `op` a transpose of the last two axes where asked, done the fast way for this backend. */
function product(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  if (!PLAIN_PRODUCTS_ONLY.has(tf.getBackend())) return tf.matMul(a, b, transposeA, transposeB);
  return tf.matMul(transposeA ? swapLast(a) : a, transposeB ? swapLast(b) : b);
}

/**
 * Matrix product, batched: `y = a @ b` for `a: [..., n, k]` and `b: [..., k, m]`
 * giving `[..., n, m]`, where the batch dims `...` broadcast (NumPy rules) and
 * may differ in rank. Both operands need rank ≥ 2.
 *
 * Backward: `∂L/∂a = dy @ bᵀ`, `∂L/∂b = aᵀ @ dy`, each summed over the batch dims
 * its operand was broadcast along. A rank-2 `b` shared by a batch of `a` (a
 * linear layer on `[batch, seq, k]`) folds the batch into rows instead, in
 * both directions: `∂L/∂a = dy₂ @ bᵀ` and `∂L/∂b = a₂ᵀ @ dy₂` with
 * `a₂: [batch·seq, k]`, so b is never copied once per batch element.
 * The forward saves `b` for `∂L/∂a` and `a` for `∂L/∂b`, each only when that
 * gradient is wanted (PyTorch's `mm` does the same). An operand that needs no
 * gradient (the input batch) costs no product.
 *
 * Speed: on the wasm backend `tf.matMul(x, y, transposeA, transposeB)` with a
 * transposed operand is about 10x slower than a plain product of the same size
 * (XNNPACK's fast path takes plain operands only), so there the transpose is
 * materialised (`tf.transpose`, an O(n²) copy) and the product is plain: the
 * backward of `[128,784] @ [784,256]` takes ~5 ms instead of ~50 ms (median
 * of 50, one wasm thread). On the cpu backend the two ways are about even, and
 * GPU backends transpose for free, so there the flags are passed.
 *
 * tfjs 4.22's batched matMul gets some batch broadcasts wrong (`[2,1]` against `[3]`),
 * so operands whose batch dims differ from the result's are broadcast first.
 *
 * Reference: `torch.matmul` (rank ≥ 2). Introduced in notebooks/01-backprop/02-tensors.
 */
export function matmul(a: Operand, b: Operand): Tensor {
  const [sa, sb] = [shapeOf(a), shapeOf(b)];
  if (sa.length < 2 || sb.length < 2) {
    throw new ShapeError(`matmul: ${fmt(sa)} x ${fmt(sb)}: both operands need rank >= 2 (reshape a vector to [1,n] or [n,1])`);
  }
  const [n, k] = sa.slice(-2) as [number, number];
  const [k2, m] = sb.slice(-2) as [number, number];
  if (k !== k2) throw new ShapeError(`matmul: ${fmt(sa)} x ${fmt(sb)}: inner dims ${k} and ${k2} differ`);
  let batch: number[];
  try {
    batch = broadcastShapes('matmul', [sa.slice(0, -2), sb.slice(0, -2)], 'x');
  } catch {
    throw new ShapeError(`matmul: ${fmt(sa)} x ${fmt(sb)}: batch dims ${fmt(sa.slice(0, -2))} and ${fmt(sb.slice(0, -2))} cannot be broadcast`);
  }
  const foldB = sb.length === 2 && sa.length > 2; // b is a weight matrix shared by a batch
  const full = (t: tf.Tensor, rows: number, cols: number) =>
    sameShape(t.shape.slice(0, -2), batch) ? t : tf.broadcastTo(t, [...batch, rows, cols]);
  return record(
    'matmul',
    [a, b],
    ([a, b]) => (foldB ? tf.reshape(tf.matMul(tf.reshape(a, [-1, k]), b), [...batch, n, m]) : tf.matMul(full(a, n, k), full(b, k, m))),
    [
      {
        saves: [1],
        grad: (dy, s) =>
          foldB
            ? tf.reshape(product(tf.reshape(dy, [-1, m]), s.x(1), false, true), sa) //      ∂L/∂a = dy₂ @ bᵀ, b not copied per batch element
            : sumToShape(product(dy, full(s.x(1), k, m), false, true), sa), //              ∂L/∂a = dy @ bᵀ
      },
      {
        saves: [0],
        grad: (dy, s) =>
          foldB
            ? product(tf.reshape(s.x(0), [-1, k]), tf.reshape(dy, [-1, m]), true, false) // ∂L/∂b = a₂ᵀ @ dy₂
            : sumToShape(product(full(s.x(0), n, k), dy, true, false), sb), //              ∂L/∂b = aᵀ @ dy
      },
    ],
  );
}
