import { tf } from '../backend/tf';
import type { Tensor } from '../autograd';

/**
 * Scale all gradients together so that their total norm is at most `maxNorm`:
 * ```text
 * total ← ‖(‖g₁‖ₚ, …, ‖g_k‖ₚ)‖ₚ      (the max of |g| for p = ∞)
 * coef  ← min(maxNorm / (total + 1e-6), 1)
 * gᵢ    ← coef · gᵢ                 (always multiplied in)
 * ```
 * Returns the total norm before clipping. Parameters without a gradient are
 * ignored (0 when none has one). A non-finite total is not an error (the
 * gradients become non-finite, as in PyTorch). Norms are computed as
 * sqrt(sum(square)) on the device and read back asynchronously, so this works on webgpu.
 * Default `normType` 2.
 *
 * Reference: `torch.nn.utils.clip_grad_norm_` (PyTorch 1.13); Pascanu et al. 2013.
 * Introduced in notebooks/02-optim.
 */
export async function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, normType = 2): Promise<number> {
  if (!(normType > 0)) throw new Error(`clipGradNorm: normType must be > 0 (2, 1, Infinity, ...), got ${normType}`);
  if (!(maxNorm >= 0)) throw new Error(`clipGradNorm: maxNorm must be ≥ 0, got ${maxNorm}`);
  const ps = Array.from(params).filter((p) => p.grad !== null);
  if (ps.length === 0) return 0;
  const total = tf.tidy(() => {
    const tot = totalGradNorm(ps, normType);
    const coef = tf.scalar(maxNorm).div(tot.add(1e-6)).minimum(1);
    for (const p of ps) {
      const old = p.grad!;
      p.grad = tf.keep(old.mul(coef));
      old.dispose();
    }
    return tot;
  });
  const v = (await total.data())[0]!;
  total.dispose();
  return v;
}

/**
 * The total p-norm of the gradients, `‖(‖g₁‖ₚ, …, ‖g_k‖ₚ)‖ₚ` (the max of |g| for p = ∞),
 * as a device scalar (no read-back): what {@link clipGradNorm} clips by, for logging a
 * gradient norm without clipping. Parameters without a gradient are ignored; none gives 0.
 * Per-tensor norms are stacked, not added with `tf.addN` (on webgpu addN binds every
 * input at once and fails past the device's storage-buffer limit).
 *
 * Reference: the `total_norm` of `torch.nn.utils.clip_grad_norm_`. Introduced in notebooks/02-optim.
 */
export function totalGradNorm(params: Iterable<Tensor>, normType = 2): tf.Tensor {
  if (!(normType > 0)) throw new Error(`totalGradNorm: normType must be > 0 (2, 1, Infinity, ...), got ${normType}`);
  const ps = Array.from(params).filter((p) => p.grad !== null);
  return tf.tidy(() => {
    if (ps.length === 0) return tf.scalar(0);
    const norm = (x: tf.Tensor): tf.Tensor =>
      normType === Infinity ? x.abs().max() : normType === 2 ? x.square().sum().sqrt() : x.abs().pow(normType).sum().pow(1 / normType);
    const norms = tf.stack(ps.map((p) => norm(p.grad!)));
    return normType === Infinity ? norms.max() : norm(norms);
  });
}

/**
 * Clamp every gradient element to [−clip, clip] in place of the gradient.
 * Reference: `torch.nn.utils.clip_grad_value_` (PyTorch 1.13). Introduced in notebooks/02-optim.
 */
export function clipGradValue(params: Iterable<Tensor>, clip: number): void {
  if (!(clip >= 0)) throw new Error(`clipGradValue: clip must be ≥ 0, got ${clip}`);
  for (const p of params) {
    if (p.grad === null) continue;
    const old = p.grad;
    p.grad = tf.clipByValue(old, -clip, clip);
    old.dispose();
  }
}
