import { tf } from '../../backend/tf';
import { record } from '../record';
import type { Operand, Tensor } from '../tensor';

/** Options of {@link gelu}. */
export interface GeluOptions {
  /** `'none'` (default): the exact form with erf; `'tanh'`: the tanh approximation (GPT-2, BERT). */
  approximate?: 'none' | 'tanh';
}

const SQRT1_2 = Math.SQRT1_2; //                      1/√2
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI); //   1/√(2π)
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI); //     √(2/π)
const K = 0.044715;

/**
 * Gaussian error linear unit.
 *
 * - `approximate: 'none'` (default): `y = x·Φ(x)`, `Φ(x) = ½(1 + erf(x/√2))`;
 *   backward `∂y/∂x = Φ(x) + x·φ(x)`, `φ(x) = e^(−x²/2)/√(2π)`.
 *   tfjs's `erf` is the Abramowitz–Stegun polynomial (|error| about 1e-7), so
 *   values differ from PyTorch's by up to ~1e-7·|x|.
 * - `approximate: 'tanh'`: `y = ½x(1 + tanh u)`, `u = √(2/π)(x + 0.044715x³)`;
 *   backward `∂y/∂x = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²)`.
 *
 * Reference: `torch.nn.functional.gelu(x, approximate='none' | 'tanh')`; Hendrycks & Gimpel 2016.
 * Introduced in notebooks/01-backprop/06-losses.
 */
export function gelu(x: Operand, { approximate = 'none' }: GeluOptions = {}): Tensor {
  if (approximate === 'tanh') {
    const inner = (a: tf.Tensor) => tf.mul(SQRT_2_OVER_PI, tf.add(a, tf.mul(K, tf.mul(a, tf.square(a))))); // u
    return record('gelu', [x], ([a]) => tf.mul(tf.mul(0.5, a), tf.add(1, tf.tanh(inner(a)))), [
      {
        saves: [0],
        grad: (dy, s) => {
          const a = s.x(0);
          const t = tf.tanh(inner(a));
          const du = tf.mul(SQRT_2_OVER_PI, tf.add(1, tf.mul(3 * K, tf.square(a))));
          const d = tf.add(tf.mul(0.5, tf.add(1, t)), tf.mul(tf.mul(0.5, a), tf.mul(tf.sub(1, tf.square(t)), du)));
          return tf.mul(dy, d);
        },
      },
    ]);
  }
  if (approximate !== 'none') throw new Error(`gelu: approximate must be 'none' or 'tanh', got '${String(approximate)}'`);
  const cdf = (a: tf.Tensor) => tf.mul(0.5, tf.add(1, tf.erf(tf.mul(a, SQRT1_2)))); // Φ(x)
  return record('gelu', [x], ([a]) => tf.mul(a, cdf(a)), [
    {
      saves: [0],
      grad: (dy, s) => {
        const a = s.x(0);
        const pdf = tf.mul(INV_SQRT_2PI, tf.exp(tf.mul(-0.5, tf.square(a)))); //          φ(x)
        return tf.mul(dy, tf.add(cdf(a), tf.mul(a, pdf))); //                               Φ + x·φ
      },
    },
  ]);
}
