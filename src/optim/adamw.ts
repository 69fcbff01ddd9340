import { tf } from '../backend/tf';
import { adamUpdate, checkAdam, type AdamOptions } from './adam';
import { Optimizer, type ParamsInput, type UpdateResult } from './optimizer';

/**
 * One AdamW update of one tensor (pure, in a tf.tidy): {@link adamUpdate} with decoupled weight decay.
 */
export function adamwUpdate(param: tf.Tensor, grad: tf.Tensor, state: { expAvg?: tf.Tensor; expAvgSq?: tf.Tensor } | null, hp: AdamOptions, step: number): UpdateResult {
  return adamUpdate(param, grad, state, hp, step, true);
}

/**
 * Adam with decoupled weight decay. PyTorch 1.13's algorithm box:
 * ```text
 * input: γ (lr), β₁, β₂ (betas), θ₀ (params), f(θ) (objective), ε (eps), λ (weight decay)
 * initialize: m₀ ← 0, v₀ ← 0
 * for t = 1 to ...
 *   gₜ ← ∇θ fₜ(θₜ₋₁)
 *   θₜ ← θₜ₋₁ − γλθₜ₋₁
 *   mₜ ← β₁mₜ₋₁ + (1−β₁)gₜ
 *   vₜ ← β₂vₜ₋₁ + (1−β₂)gₜ²
 *   m̂ₜ ← mₜ/(1−β₁ᵗ),  v̂ₜ ← vₜ/(1−β₂ᵗ)
 *   θₜ ← θₜ − γ m̂ₜ/(√v̂ₜ + ε)
 * ```
 * Defaults: `{ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2 }`.
 * Computed as θ ← θ(1 − γλ), then θ ← θ − (γ/(1−β₁ᵗ))·m/(√v/√(1−β₂ᵗ) + ε), as PyTorch does.
 * Use {@link decayGroups} to leave biases and norm parameters undecayed.
 *
 * Reference: `torch.optim.AdamW` (PyTorch 1.13); Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization".
 * Introduced in notebooks/02-optim.
 */
export class AdamW extends Optimizer<AdamOptions> {
  constructor(params: ParamsInput<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super('AdamW', params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, ...options });
  }
  protected validate(h: AdamOptions, where: string): void {
    checkAdam(this.name, h, where);
  }
  protected bufferNames(): string[] {
    return ['expAvg', 'expAvgSq'];
  }
  protected update(param: tf.Tensor, grad: tf.Tensor, state: Record<string, tf.Tensor> | null, h: AdamOptions, step: number): UpdateResult {
    return adamwUpdate(param, grad, state, h, step);
  }
}
