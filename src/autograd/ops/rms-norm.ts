import { tf } from '../../backend/tf';
import { record } from '../record';
import { fmt, sameShape, ShapeError, sumToShape } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/** Options of {@link rmsNorm}. */
export interface RmsNormOptions {
  /** Added to the mean square. Default 2⁻²³ ≈ 1.19e-7, float32's machine epsilon (PyTorch's default). */
  eps?: number;
}

/**
 * RMS normalisation over the last axis (size D), with optional `weight` γ `[D]`:
 * `r = 1/√(mean(x²) + eps)`, `x̂ = x·r`, `y = x̂·γ`. No mean is subtracted, no bias.
 *
 * Backward, with `g = dy·γ`: `∂L/∂x = r·(g − x̂·mean(g·x̂))`, `∂L/∂γ = Σ_rows dy·x̂`.
 *
 * Reference: `torch.nn.functional.rms_norm(x, [D], weight, eps=None)` (PyTorch ≥ 2.4;
 * `eps=None` means `torch.finfo(float32).eps`); Zhang & Sennrich 2019.
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function rmsNorm(x: Operand, weight?: Operand | null, { eps = 2 ** -23 }: RmsNormOptions = {}): Tensor {
  const shape = shapeOf(x);
  const d = shape[shape.length - 1];
  if (d === undefined) throw new ShapeError('rmsNorm: x [] needs rank >= 1 (it normalises the last axis)');
  if (weight != null && !sameShape(shapeOf(weight), [d])) {
    throw new ShapeError(`rmsNorm: x ${fmt(shape)} with weight ${fmt(shapeOf(weight))}: expected weight [${d}] (the last axis of x)`);
  }
  const w = weight ?? null;
  return record(
    'rmsNorm',
    [x, w], // fixed slots: 0 x, 1 weight (null when absent)
    ([a, g]) => {
      const r = tf.rsqrt(tf.add(tf.mean(tf.square(a), -1, true), eps));
      const xhat = tf.mul(a, r);
      return { y: g ? tf.mul(xhat, g) : xhat, saved: [r] };
    },
    [
      {
        saves: w !== null ? [0, 1] : [0],
        grad: (dy, s) => {
          const r = s.saved[0] as tf.Tensor;
          const xhat = tf.mul(s.x(0), r); //                                                  x̂, recomputed
          const g = w !== null ? tf.mul(dy, s.x(1)) : dy;
          return tf.mul(r, tf.sub(g, tf.mul(xhat, tf.mean(tf.mul(g, xhat), -1, true)))); // r·(g − x̂·mean(g·x̂))
        },
      },
      w !== null ? { saves: [0], grad: (dy, s) => sumToShape(tf.mul(dy, tf.mul(s.x(0), s.saved[0] as tf.Tensor)), [d]) } : null, // Σ dy·x̂
    ],
  );
}
