import { tf } from '../backend/tf';
import { check, checkNonNegative, Optimizer, type ParamsInput, type UpdateResult } from './optimizer';

/** Hyper-parameters of {@link SGD} (one group's). */
export interface SgdOptions {
  /** Learning rate γ. Required (no default, as in PyTorch 1.13); a group may override it. */
  lr: number;
  /** Momentum μ. Default 0. */
  momentum: number;
  /** Dampening τ. Default 0. */
  dampening: number;
  /** Nesterov momentum (needs μ > 0 and τ = 0). Default false. */
  nesterov: boolean;
  /** Coupled weight decay λ (L2 added to the gradient). Default 0. */
  weightDecay: number;
}

const SGD_DEFAULTS: Omit<SgdOptions, 'lr'> = { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 };

/**
 * One SGD update of one tensor (pure, in a tf.tidy): returns the new parameter
 * and the new momentum buffer (`{ momentumBuffer }`, or `{}` when μ = 0).
 * `state` is null at the first update (`step` = 1), where b₁ = g.
 * See {@link SGD} for the algorithm.
 */
export function sgdUpdate(param: tf.Tensor, grad: tf.Tensor, state: { momentumBuffer?: tf.Tensor } | null, hp: SgdOptions, step: number): UpdateResult {
  return tf.tidy(() => {
    let g = hp.weightDecay !== 0 ? grad.add(param.mul(hp.weightDecay)) : grad;
    const out: Record<string, tf.Tensor> = {};
    if (hp.momentum !== 0) {
      const old = step > 1 ? state?.momentumBuffer : undefined;
      const b = old ? old.mul(hp.momentum).add(hp.dampening !== 0 ? g.mul(1 - hp.dampening) : g) : g.clone();
      out.momentumBuffer = b;
      g = hp.nesterov ? g.add(b.mul(hp.momentum)) : b;
    }
    return { param: param.sub(g.mul(hp.lr)), state: out };
  });
}

/**
 * Stochastic gradient descent with optional momentum, dampening, Nesterov and
 * coupled weight decay. PyTorch 1.13's algorithm box:
 * ```text
 * input: γ (lr), θ₀ (params), f(θ) (objective), λ (weight decay), μ (momentum), τ (dampening), nesterov
 * for t = 1 to ...
 *   gₜ ← ∇θ fₜ(θₜ₋₁)
 *   if λ ≠ 0:  gₜ ← gₜ + λθₜ₋₁
 *   if μ ≠ 0:
 *     if t > 1:  bₜ ← μbₜ₋₁ + (1−τ)gₜ   else  bₜ ← gₜ
 *     if nesterov:  gₜ ← gₜ + μbₜ   else  gₜ ← bₜ
 *   θₜ ← θₜ₋₁ − γgₜ
 * ```
 * Defaults: `{ lr: required, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 }`.
 * ```ts
 * const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
 * loss.backward(); opt.step(); opt.zeroGrad();
 * ```
 * Reference: `torch.optim.SGD` (PyTorch 1.13); Sutskever et al. 2013 for Nesterov momentum.
 * Introduced in notebooks/02-optim.
 */
export class SGD extends Optimizer<SgdOptions> {
  constructor(params: ParamsInput<SgdOptions>, options: Partial<SgdOptions> & { lr: number }) {
    check(options?.lr !== undefined, 'SGD', "lr is required (PyTorch's SGD has no default either), e.g. { lr: 0.1 }", options?.lr);
    super('SGD', params, { ...SGD_DEFAULTS, ...options });
  }
  protected validate(h: SgdOptions, where: string): void {
    checkNonNegative('SGD', `${where}lr`, h.lr);
    checkNonNegative('SGD', `${where}momentum`, h.momentum);
    check(Number.isFinite(h.dampening), 'SGD', `${where}dampening must be a finite number`, h.dampening);
    checkNonNegative('SGD', `${where}weightDecay`, h.weightDecay);
    if (h.nesterov) {
      check(h.momentum > 0, 'SGD', `${where}nesterov needs momentum > 0`, h.momentum);
      check(h.dampening === 0, 'SGD', `${where}nesterov needs dampening = 0`, h.dampening);
    }
  }
  protected bufferNames(h: SgdOptions): string[] {
    return h.momentum !== 0 ? ['momentumBuffer'] : [];
  }
  protected update(param: tf.Tensor, grad: tf.Tensor, state: Record<string, tf.Tensor> | null, h: SgdOptions, step: number): UpdateResult {
    return sgdUpdate(param, grad, state, h, step);
  }
}
