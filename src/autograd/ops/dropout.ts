import { tf } from '../../backend/tf';
import { record } from '../record';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/** Options of {@link dropout}. */
export interface DropoutOptions {
  /** Probability of zeroing an element, 0 ≤ p ≤ 1. Default 0.5 (PyTorch's). */
  p?: number;
  /** Training mode; in eval mode (false) dropout is the identity. Default true. */
  train?: boolean;
  /** Seed of the mask (`tf.randomUniform`'s): same seed, same mask. Required in training mode. */
  seed?: number;
}

/**
 * Inverted dropout: in training, `y = x·m/(1 − p)` with `m_i ~ Bernoulli(1 − p)`,
 * so `E[y] = x` and evaluation needs no rescaling; in eval mode `y = x`.
 * Backward: `∂y/∂x = m/(1 − p)`, the same saved mask (so a recomputation with the
 * same seed, as in {@link checkpoint}, reproduces it). p = 1 gives zeros.
 *
 * Reference: `torch.nn.functional.dropout(x, p=0.5, training=True)` (its masks come
 * from a different RNG). Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function dropout(x: Operand, { p = 0.5, train = true, seed }: DropoutOptions = {}): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: p must be in [0, 1], got ${p}`);
  if (!train || p === 0) return record('dropout', [x], ([a]) => tf.clone(a), [{ grad: (dy) => dy }]);
  if (seed === undefined) throw new Error('dropout: pass a seed ({ seed }) in training mode, so the mask is reproducible');
  const shape = shapeOf(x);
  const scale = p === 1 ? 0 : 1 / (1 - p);
  return record(
    'dropout',
    [x],
    ([a]) => {
      const keep = tf.greaterEqual(tf.randomUniform(shape, 0, 1, 'float32', seed), p); // m_i = [u_i ≥ p]
      const mask = tf.mul(tf.cast(keep, 'float32'), scale); //                            m/(1 − p)
      return { y: tf.mul(a, mask), saved: [keep] }; // the bool mask (1 byte an element), as PyTorch's native_dropout
    },
    [{ grad: (dy, s) => tf.mul(dy, tf.mul(tf.cast(s.saved[0] as tf.Tensor, 'float32'), scale)) }],
  );
}
