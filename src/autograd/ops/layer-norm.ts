import { tf } from '../../backend/tf';
import { record } from '../record';
import { fmt, sameShape, ShapeError, sumToShape } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/** Options of {@link layerNorm}. */
export interface LayerNormOptions {
  /** Added to the variance before the square root. Default 1e-5 (PyTorch's). */
  eps?: number;
}

/**
 * Layer normalisation over the last axis (size D), with optional affine
 * `weight` γ and `bias` β of shape `[D]`:
 * `μ = mean(x)`, `σ² = mean((x − μ)²)` (biased), `x̂ = (x − μ)·rstd`,
 * `rstd = 1/√(σ² + eps)`, `y = x̂·γ + β`.
 *
 * Backward, with `g = dy·γ` (the gradient reaching x̂):
 * `∂L/∂x = rstd·(g − mean(g) − x̂·mean(g·x̂))`, `∂L/∂γ = Σ_rows dy·x̂`, `∂L/∂β = Σ_rows dy`.
 * The forward saves x, mean and rstd for it (x̂ is recomputed), as PyTorch does.
 *
 * Reference: `torch.nn.functional.layer_norm(x, [D], weight, bias, eps=1e-5)`; Ba et al. 2016.
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function layerNorm(x: Operand, weight?: Operand | null, bias?: Operand | null, { eps = 1e-5 }: LayerNormOptions = {}): Tensor {
  const shape = shapeOf(x);
  const d = shape[shape.length - 1];
  if (d === undefined) throw new ShapeError('layerNorm: x [] needs rank >= 1 (it normalises the last axis)');
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t != null && !sameShape(shapeOf(t), [d])) {
      throw new ShapeError(`layerNorm: x ${fmt(shape)} with ${name} ${fmt(shapeOf(t))}: expected ${name} [${d}] (the last axis of x)`);
    }
  }
  const w = weight ?? null;
  return record(
    'layerNorm',
    [x, w, bias ?? null], // fixed slots: 0 x, 1 weight, 2 bias (null when absent)
    ([a, g, b]) => {
      const mean = tf.mean(a, -1, true);
      const xc = tf.sub(a, mean);
      const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps));
      let y = tf.mul(xc, rstd);
      if (g) y = tf.mul(y, g);
      if (b) y = tf.add(y, b);
      return { y, saved: [mean, rstd] }; // with x: what PyTorch's native_layer_norm saves
    },
    [
      {
        saves: w !== null ? [0, 1] : [0],
        grad: (dy, s) => {
          const [mean, rstd] = s.saved as [tf.Tensor, tf.Tensor];
          const xhat = tf.mul(tf.sub(s.x(0), mean), rstd); //                     x̂, recomputed
          const g = w !== null ? tf.mul(dy, s.x(1)) : dy;
          const mg = tf.mean(g, -1, true);
          const mgx = tf.mean(tf.mul(g, xhat), -1, true);
          return tf.mul(rstd, tf.sub(tf.sub(g, mg), tf.mul(xhat, mgx))); //       rstd·(g − mean g − x̂·mean(g·x̂))
        },
      },
      w !== null
        ? {
            saves: [0],
            grad: (dy, s) => {
              const [mean, rstd] = s.saved as [tf.Tensor, tf.Tensor];
              return sumToShape(tf.mul(dy, tf.mul(tf.sub(s.x(0), mean), rstd)), [d]); // Σ dy·x̂
            },
          }
        : null,
      bias != null ? { grad: (dy) => sumToShape(dy, [d]) } : null, //                Σ dy
    ],
  );
}