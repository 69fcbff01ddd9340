/**
 * Pure functions behind the layers: `linear` and `normalize`, and the
 * activations as functions (the same ops as `gl.ag`'s, re-exported here so a
 * model reads `nn.relu(nn.linear(x, W, b))`). Modules are thin shells over these.
 *
 * Introduced in notebooks/01-backprop/02-tensors.
 */
import { tf } from '../backend/tf';
import { add, gelu, matmul, relu, reshape, sigmoid, silu, tanh } from '../autograd/ops';
import { castRegion } from '../autograd/cast';
import { record } from '../autograd/record';
import { fmt, ShapeError } from '../autograd/shape';
import { shapeOf, type Operand, type Tensor } from '../autograd/tensor';

export { relu, gelu, silu, tanh, sigmoid };

/**
 * Affine map over the last axis: `y = x W + b` for `x: [..., in]` (or a single `[in]`),
 * `W: [in, out]` (gradlab's layout: no transpose in forward), `b: [out]`
 * (optional), giving `[..., out]`.
 *
 * PyTorch's `F.linear(x, weight, bias)` takes `weight: [out, in]` and computes
 * `x weightᵀ + bias`; the same layer in gradlab has `W = weightᵀ`.
 *
 * Reference: `torch.nn.functional.linear`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function linear(x: Operand, weight: Operand, bias?: Operand | null): Tensor {
  const [sx, sw] = [shapeOf(x), shapeOf(weight)];
  if (sw.length !== 2) throw new ShapeError(`linear: weight ${fmt(sw)} must be [in, out]`);
  if (sx.length < 1 || sx[sx.length - 1] !== sw[0]) {
    throw new ShapeError(`linear: x ${fmt(sx)} with weight ${fmt(sw)}: the last axis of x must be in = ${sw[0]}`);
  }
  if (bias != null && (shapeOf(bias).length !== 1 || shapeOf(bias)[0] !== sw[1])) {
    throw new ShapeError(`linear: bias ${fmt(shapeOf(bias))} with weight ${fmt(sw)}: expected bias [${sw[1]}]`);
  }
  // A single vector [in] goes through matmul as [1, in]. Under autocast the ops inside
  // are cast as one `linear` (x, W and b to the lower precision), as PyTorch's F.linear.
  return castRegion('linear', () => {
    const y = sx.length === 1 ? reshape(matmul(reshape(x, [1, sx[0] as number]), weight), [sw[1] as number]) : matmul(x, weight);
    return bias != null ? add(y, bias) : y;
  });
}

/** Options of {@link normalize}. */
export interface NormalizeOptions {
  /** Lower bound on the norm (avoids dividing by 0). Default 1e-12 (PyTorch's). */
  eps?: number;
}

/**
 * L2-normalise along the last axis: `y = x / max(‖x‖₂, eps)`.
 *
 * Backward, with `n = ‖x‖₂`: where `n > eps`, `∂L/∂x = (dy − y·Σ(dy·y)) / n`
 * (the component of dy along y is removed: scaling x does not change y);
 * where `n ≤ eps`, y = x/eps and `∂L/∂x = dy/eps`.
 *
 * Reference: `torch.nn.functional.normalize(x, p=2, dim=-1, eps=1e-12)`.
 * Introduced in notebooks/01-backprop/06-losses.
 */
export function normalize(x: Operand, { eps = 1e-12 }: NormalizeOptions = {}): Tensor {
  if (!(eps > 0)) throw new Error(`normalize: eps must be > 0, got ${eps}`);
  if (shapeOf(x).length < 1) throw new ShapeError('normalize: x [] needs rank >= 1 (it normalises the last axis)');
  return record(
    'normalize',
    [x],
    ([a]) => {
      const n = tf.norm(a, 'euclidean', -1, true);
      const big = tf.greater(n, eps);
      const d = tf.maximum(n, eps); //                    max(‖x‖, eps)
      return { y: tf.div(a, d), saved: [d, big] };
    },
    [
      {
        saves: ['y'],
        grad: (dy, s) => {
          const [d, big] = s.saved as [tf.Tensor, tf.Tensor];
          const along = tf.mul(s.y(), tf.sum(tf.mul(dy, s.y()), -1, true)); // y·Σ(dy·y)
          return tf.div(tf.where(big, tf.sub(dy, along), dy), d);
        },
      },
    ],
  );
}
