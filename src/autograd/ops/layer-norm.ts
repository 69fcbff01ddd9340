import { tf } from '../../backend/tf';
import { record, type Rule } from '../record';
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
 * The forward saves x̂ and rstd for it.
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
  const inputs: Operand[] = [x];
  const rules: Rule[] = [
    (dy, { x: [, w], saved: [xhat, rstd] }) => {
      const g = w ? tf.mul(dy, w) : dy;
      const mg = tf.mean(g, -1, true);
      const mgx = tf.mean(tf.mul(g, xhat), -1, true);
      return tf.mul(rstd, tf.sub(tf.sub(g, mg), tf.mul(xhat, mgx))); // rstd·(g − mean g − x̂·mean(g·x̂))
    },
  ];
  if (weight != null) {
    inputs.push(weight);
    rules.push((dy, { saved: [xhat] }) => sumToShape(tf.mul(dy, xhat), [d])); //   Σ dy·x̂
  }
  if (bias != null) {
    inputs.push(bias);
    rules.push((dy) => sumToShape(dy, [d])); //                                      Σ dy
  }
  const hasW = weight != null;
  const hasB = bias != null;
  return record(
    'layerNorm',
    inputs,
    ([a, ...affine]) => {
      const xc = tf.sub(a, tf.mean(a, -1, true));
      const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps));
      const xhat = tf.mul(xc, rstd);
      let y = xhat;
      if (hasW) y = tf.mul(y, affine[0]);
      if (hasB) y = tf.add(y, affine[hasW ? 1 : 0]);
      return { y, saved: [xhat, rstd] };
    },
    rules,
  );
}
