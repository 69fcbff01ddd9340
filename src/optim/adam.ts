import { tf } from '../backend/tf';
import { check, checkNonNegative, Optimizer, type ParamsInput, type UpdateResult } from './optimizer';

/** Hyper-parameters of {@link Adam} and {@link AdamW} (one group's). */
export interface AdamOptions {
  /** Learning rate γ. Default 1e-3. */
  lr: number;
  /** (β₁, β₂), each in [0, 1). Default [0.9, 0.999]. */
  betas: [number, number];
  /** ε added to the denominator. Default 1e-8 (PyTorch's; tfjs's own Adam uses 1e-7). */
  eps: number;
  /** Weight decay λ: coupled (g ← g + λθ) in Adam, default 0; decoupled (θ ← θ(1 − γλ)) in AdamW, default 1e-2. */
  weightDecay: number;
}

/** Validate Adam/AdamW hyper-parameters, naming the class and the bad value. */
export function checkAdam(name: string, h: AdamOptions, where: string): void {
  checkNonNegative(name, `${where}lr`, h.lr);
  check(Array.isArray(h.betas) && h.betas.length === 2, name, `${where}betas must be a pair [β1, β2]`, h.betas);
  h.betas.forEach((b, i) => check(typeof b === 'number' && b >= 0 && b < 1, name, `${where}betas[${i}] must be in [0, 1)`, b));
  check(typeof h.eps === 'number' && h.eps >= 0, name, `${where}eps must be ≥ 0`, h.eps);
  checkNonNegative(name, `${where}weightDecay`, h.weightDecay);
}

/**
 * One Adam update of one tensor (pure, in a tf.tidy). `decoupled` picks AdamW's
 * weight decay θ ← θ(1 − γλ) instead of Adam's g ← g + λθ. `state`
 * (`{ expAvg, expAvgSq }`) is null at the first update; `step` is t, 1-based.
 * The order of float32 operations follows PyTorch 1.13's single-tensor Adam.
 */
export function adamUpdate(
  param: tf.Tensor,
  grad: tf.Tensor,
  state: { expAvg?: tf.Tensor; expAvgSq?: tf.Tensor } | null,
  hp: AdamOptions,
  step: number,
  decoupled = false,
): UpdateResult {
  return tf.tidy(() => {
    const [b1, b2] = hp.betas;
    let p = param;
    let g = grad;
    if (hp.weightDecay !== 0) {
      if (decoupled) p = p.mul(1 - hp.lr * hp.weightDecay);
      else g = g.add(p.mul(hp.weightDecay));
    }
    const m0 = state?.expAvg ?? tf.zerosLike(param);
    const v0 = state?.expAvgSq ?? tf.zerosLike(param);
    const m = m0.mul(b1).add(g.mul(1 - b1));
    const v = v0.mul(b2).add(g.mul(g).mul(1 - b2));
    const bc1 = 1 - b1 ** step;
    const bc2 = 1 - b2 ** step;
    const stepSize = hp.lr / bc1;
    const denom = v.sqrt().div(Math.sqrt(bc2)).add(hp.eps);
    return { param: p.sub(m.div(denom).mul(stepSize)), state: { expAvg: m, expAvgSq: v } };
  });
}

/**
 * Adam with coupled (L2) weight decay. PyTorch 1.13's algorithm box:
 * ```text
 * input: γ (lr), β₁, β₂ (betas), θ₀ (params), f(θ) (objective), λ (weight decay), ε (eps)
 * initialize: m₀ ← 0, v₀ ← 0
 * for t = 1 to ...
 *   gₜ ← ∇θ fₜ(θₜ₋₁)
 *   if λ ≠ 0:  gₜ ← gₜ + λθₜ₋₁
 *   mₜ ← β₁mₜ₋₁ + (1−β₁)gₜ
 *   vₜ ← β₂vₜ₋₁ + (1−β₂)gₜ²
 *   m̂ₜ ← mₜ/(1−β₁ᵗ),  v̂ₜ ← vₜ/(1−β₂ᵗ)
 *   θₜ ← θₜ₋₁ − γ m̂ₜ/(√v̂ₜ + ε)
 * ```
 * Defaults: `{ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }` (eps is PyTorch's 1e-8, not tfjs's 1e-7).
 * Computed as θ ← θ − (γ/(1−β₁ᵗ))·m/(√v/√(1−β₂ᵗ) + ε), as PyTorch does.
 *
 * Reference: `torch.optim.Adam` (PyTorch 1.13); Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization".
 * Introduced in notebooks/02-optim.
 */
export class Adam extends Optimizer<AdamOptions> {
  constructor(params: ParamsInput<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super('Adam', params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, ...options });
  }
  protected validate(h: AdamOptions, where: string): void {
    checkAdam(this.name, h, where);
  }
  protected bufferNames(): string[] {
    return ['expAvg', 'expAvgSq'];
  }
  protected update(param: tf.Tensor, grad: tf.Tensor, state: Record<string, tf.Tensor> | null, h: AdamOptions, step: number): UpdateResult {
    return adamUpdate(param, grad, state, h, step, false);
  }
}
