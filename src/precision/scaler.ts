/**
 * Dynamic loss scaling (Micikevicius et al. 2018, "Mixed Precision Training",
 * §3.2): multiply the loss by a large factor S before `backward()` so that small
 * gradients do not underflow in fp16, divide the gradients by S before the
 * optimiser step, skip the step when they overflowed, and adapt S.
 *
 * Reference: `torch.cuda.amp.GradScaler` (PyTorch 1.13, torch/cuda/amp/grad_scaler.py,
 * and the CUDA kernels `_amp_foreach_non_finite_check_and_unscale_` and
 * `_amp_update_scale_`). Introduced in notebooks/03-gpu.
 */
import { tf } from '../backend/tf';
import * as ag from '../autograd';

/** What the scaler needs of an optimiser: its groups of parameters (with `.grad`) and `step()`. Every `optim` optimiser fits. */
export interface ScalableOptimizer {
  readonly paramGroups: readonly { readonly params: readonly ag.Tensor[] }[];
  step(): void;
}

/** Options of {@link LossScaler}; the defaults are GradScaler's. */
export interface LossScalerOptions {
  /** Initial scale S₀. Default 2^16 = 65536. */
  initScale?: number;
  /** S ← S · growthFactor after `growthInterval` consecutive steps without Inf / NaN. Must be > 1. Default 2. */
  growthFactor?: number;
  /** S ← S · backoffFactor after a step with Inf / NaN gradients. Must be < 1. Default 0.5. */
  backoffFactor?: number;
  /** How many consecutive good steps before the scale grows. Default 2000. */
  growthInterval?: number;
  /** When false, `scale` returns its input, `step` just calls `optimizer.step()`, the rest do nothing. Default true. */
  enabled?: boolean;
}

/** A {@link LossScaler}'s state as plain numbers (`GradScaler.state_dict()`; `{}` when disabled). */
export interface LossScalerState {
  scale: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
  /** Consecutive good steps since the last growth or backoff (`_growth_tracker`). */
  growthTracker: number;
}

/** Where one optimiser is in the iteration (`OptState` in PyTorch). */
type Stage = 'ready' | 'unscaled' | 'stepped';

interface OptimizerRecord {
  stage: Stage;
  /** Number of non-finite gradients tensors, as a device scalar, until step() reads it back. */
  pending: tf.Scalar | null;
  /** The read-back: whether any gradient held Inf or NaN (null until read). */
  foundInf: boolean | null;
}

/** PyTorch's wording for a call before any `scale()`. */
const NO_SCALE = (fn: string) =>
  `Attempted ${fn} but _scale is None.  This may indicate your script did not use scaler.scale(loss or outputs) earlier in the iteration.`;

/**
 * Dynamic loss scaling with `torch.cuda.amp.GradScaler`'s rules, defaults and
 * errors, for the engine's optimisers. One iteration:
 * ```ts
 * const scaler = new precision.LossScaler();          // S = 65536
 * scaler.scale(loss).backward();                      // grads are S · ∂loss/∂θ
 * scaler.unscale(opt);                                // optional: grads /= S (e.g. before clipping)
 * await scaler.step(opt);                             // unscale if not yet; skip opt.step() on Inf/NaN
 * scaler.update();                                    // S ← S/2 after a skip; S ← 2S after 2000 good steps
 * ```
 * The update rule (the `_amp_update_scale_` kernel), with S and the tracker t:
 * - found Inf/NaN: S ← S · backoffFactor, t ← 0;
 * - else t ← t + 1, and if t = growthInterval: S ← S · growthFactor (only if
 *   that is finite in float32), t ← 0.
 * S is kept as a float32 value; `unscale` multiplies by 1/S computed in float64
 * and rounded to float32, like PyTorch.
 *
 * WebGPU: checking the gradients for Inf/NaN needs their values on the host,
 * and WebGPU reads back only asynchronously. `unscale` therefore leaves the check
 * on the device (one scalar per optimiser: Σ over gradients of [any element
 * non-finite], computed as `sum(g·0) ≠ 0`, which is NaN exactly when g holds
 * Inf or NaN); `step` is async and reads that one number back (the sync point of
 * the iteration, like `.item()` in GradScaler's `_maybe_opt_step`). `update`
 * is synchronous and uses what `step` read. Nothing is left on the device
 * between iterations.
 *
 * Differences from GradScaler: `scale` takes one tensor (engine or tfjs), not
 * nested lists; `update()` after `unscale(opt)` without `step(opt)` throws (its
 * flag was never read back), where PyTorch would consume it; no sparse grads, no
 * closures, no per-device replicas.
 *
 * Reference: `torch.cuda.amp.GradScaler` (PyTorch 1.13); Micikevicius et al. 2018,
 * "Mixed Precision Training", §3.2. Introduced in notebooks/03-gpu.
 */
export class LossScaler {
  private readonly enabled: boolean;
  private scaleValue: number;
  private growthFactor: number;
  private backoffFactor: number;
  private growthInterval: number;
  private growthTracker = 0;
  /** False until the first `scale()` (GradScaler initialises `_scale` lazily there). */
  private started = false;
  private records = new Map<ScalableOptimizer, OptimizerRecord>();

  constructor({ initScale = 2 ** 16, growthFactor = 2.0, backoffFactor = 0.5, growthInterval = 2000, enabled = true }: LossScalerOptions = {}) {
    this.enabled = enabled;
    if (enabled) {
      if (!(growthFactor > 1.0)) throw new Error(`LossScaler: The growth factor must be > 1.0., got ${growthFactor}`);
      if (!(backoffFactor < 1.0)) throw new Error(`LossScaler: The backoff factor must be < 1.0., got ${backoffFactor}`);
      if (!(initScale > 0 && Number.isFinite(Math.fround(initScale)))) throw new Error(`LossScaler: initScale must be a positive finite float32, got ${initScale}`);
      if (!(Number.isInteger(growthInterval) && growthInterval >= 1)) throw new Error(`LossScaler: growthInterval must be an integer ≥ 1, got ${growthInterval}`);
    }
    this.scaleValue = Math.fround(initScale);
    this.growthFactor = growthFactor;
    this.backoffFactor = backoffFactor;
    this.growthInterval = growthInterval;
  }

  /** Whether scaling is on (`GradScaler.is_enabled()`). */
  isEnabled(): boolean {
    return this.enabled;
  }

  /** The current scale S as a number, or 1 when disabled (`get_scale()`; no device sync here: S lives on the host). */
  getScale(): number {
    return this.enabled ? this.scaleValue : 1.0;
  }

  /** Consecutive good steps counted towards the next growth (`_get_growth_tracker()`); 0 when disabled. */
  getGrowthTracker(): number {
    return this.enabled ? this.growthTracker : 0;
  }

  /**
   * `loss · S`: an engine tensor for `backward()` (recorded with `ag.mul`), or a
   * new tfjs tensor (yours to dispose) for a tfjs input. Returns the input itself
   * when disabled. Reference: `GradScaler.scale`.
   */
  scale(outputs: ag.Tensor): ag.Tensor;
  scale(outputs: tf.Tensor): tf.Tensor;
  scale(outputs: ag.Tensor | tf.Tensor): ag.Tensor | tf.Tensor {
    if (!this.enabled) return outputs;
    this.started = true;
    if (outputs instanceof ag.Tensor) return ag.mul(outputs, this.scaleValue);
    if (outputs instanceof tf.Tensor) return tf.tidy(() => tf.mul(outputs, tf.scalar(this.scaleValue)));
    throw new Error(`LossScaler.scale: outputs must be a Tensor (engine or tfjs), got ${String(outputs)}`);
  }

  private record(optimizer: ScalableOptimizer): OptimizerRecord {
    let r = this.records.get(optimizer);
    if (!r) this.records.set(optimizer, (r = { stage: 'ready', pending: null, foundInf: null }));
    return r;
  }

  /**
   * Divide the gradients of `optimizer`'s parameters by S, in place (each `grad`
   * is replaced by `grad · fround(1/S)`), and record on the device whether any of
   * them held Inf or NaN. Parameters without a gradient are skipped. Optional:
   * `step` does it when you have not; call it yourself to clip or inspect the
   * true gradients. No device sync.
   *
   * Throws, as GradScaler does, when called twice for an optimiser before
   * `update()`, or after `step()`. Reference: `GradScaler.unscale_`.
   */
  unscale(optimizer: ScalableOptimizer): void {
    if (!this.enabled) return;
    if (!this.started) throw new Error(`LossScaler.unscale: ${NO_SCALE('unscale_')}`);
    const r = this.record(optimizer);
    if (r.stage === 'unscaled') throw new Error('LossScaler.unscale: unscale_() has already been called on this optimizer since the last update().');
    if (r.stage === 'stepped') throw new Error('LossScaler.unscale: unscale_() is being called after step().');
    const inv = Math.fround(1 / this.scaleValue); // reciprocal in float64, used as float32
    let count: tf.Scalar | null = null;
    for (const g of optimizer.paramGroups) {
      for (const p of g.params) {
        const grad = p.grad;
        if (grad === null) continue;
        const [bad, unscaled] = tf.tidy(() => {
          const nonFinite = tf.cast(tf.logicalNot(tf.equal(tf.sum(tf.mul(grad, 0)), 0)), 'float32') as tf.Scalar;
          return [nonFinite, tf.mul(grad, tf.scalar(inv))] as const;
        });
        p.grad = unscaled;
        grad.dispose();
        if (count === null) count = bad;
        else {
          const sum = tf.add(count, bad) as tf.Scalar;
          tf.dispose([count, bad]);
          count = sum;
        }
      }
    }
    r.pending?.dispose();
    r.pending = count;
    r.foundInf = null;
    r.stage = 'unscaled';
  }

  /**
   * `unscale(optimizer)` unless done this iteration, then read back whether any
   * gradient held Inf or NaN (one number: the iteration's only device sync), and
   * call `optimizer.step()` only if none did. Resolves to true when the step ran,
   * false when it was skipped. When disabled: just `optimizer.step()`.
   *
   * Throws when called twice before `update()`, or when the optimiser had no
   * gradients at all. Reference: `GradScaler.step`.
   */
  async step(optimizer: ScalableOptimizer): Promise<boolean> {
    if (!this.enabled) {
      optimizer.step();
      return true;
    }
    if (!this.started) throw new Error(`LossScaler.step: ${NO_SCALE('step')}`);
    const r = this.record(optimizer);
    if (r.stage === 'stepped') throw new Error('LossScaler.step: step() has already been called since the last update().');
    if (r.stage === 'ready') this.unscale(optimizer);
    if (r.pending === null) throw new Error('LossScaler.step: No inf checks were recorded for this optimizer. (none of its parameters has a gradient: call backward() first)');
    const pending = r.pending;
    r.pending = null;
    r.stage = 'stepped';
    const n = (await pending.data())[0]!;
    pending.dispose();
    r.foundInf = n > 0;
    if (!r.foundInf) optimizer.step();
    return !r.foundInf;
  }

  /**
   * Adapt the scale from this iteration's steps (see the rule in the class doc),
   * or set it to `newScale`; then start a fresh iteration for every optimiser.
   * Call it once per iteration, after `step` for every optimiser.
   *
   * Throws when no optimiser was stepped since the last update ("No inf checks
   * were recorded prior to update."), and when one was unscaled but not stepped.
   * Reference: `GradScaler.update`.
   */
  update(newScale?: number): void {
    if (!this.enabled) return;
    if (!this.started) throw new Error(`LossScaler.update: ${NO_SCALE('update')}`);
    if (newScale !== undefined) {
      if (!(typeof newScale === 'number' && newScale > 0 && Number.isFinite(Math.fround(newScale)))) {
        throw new Error(`LossScaler.update: newScale must be a positive finite float32, got ${newScale}`);
      }
      this.scaleValue = Math.fround(newScale);
      this.reset();
      return;
    }
    const records = [...this.records.values()];
    if (records.some((r) => r.stage === 'unscaled')) {
      throw new Error('LossScaler.update: an optimizer was unscaled but not stepped since the last update(); call await scaler.step(optimizer) for it first (its Inf/NaN check is read back there)');
    }
    const checks = records.filter((r) => r.foundInf !== null);
    if (checks.length === 0) throw new Error('LossScaler.update: No inf checks were recorded prior to update. (call await scaler.step(optimizer) first)');
    // _amp_update_scale_: the kernel's arithmetic, with S a float32.
    if (checks.some((r) => r.foundInf)) {
      this.scaleValue = Math.fround(this.scaleValue * this.backoffFactor);
      this.growthTracker = 0;
    } else {
      const successful = this.growthTracker + 1;
      if (successful === this.growthInterval) {
        const grown = Math.fround(this.scaleValue * this.growthFactor);
        if (Number.isFinite(grown)) this.scaleValue = grown; // never grow past float32's range
        this.growthTracker = 0;
      } else this.growthTracker = successful;
    }
    this.reset(); // the iteration is over (GradScaler resets _per_optimizer_states)
  }

  /** Forget every optimiser's iteration state, freeing any unread device flag. */
  private reset(): void {
    for (const r of this.records.values()) r.pending?.dispose();
    this.records = new Map();
  }

  /** The scaler's state as plain numbers (`{}` when disabled). Call it after `update()`. Reference: `GradScaler.state_dict`. */
  stateDict(): LossScalerState | Record<string, never> {
    if (!this.enabled) return {};
    return { scale: this.scaleValue, growthFactor: this.growthFactor, backoffFactor: this.backoffFactor, growthInterval: this.growthInterval, growthTracker: this.growthTracker };
  }

  /**
   * Load a {@link stateDict}. No-op when disabled; throws on an empty state (saved
   * by a disabled scaler). Reference: `GradScaler.load_state_dict`.
   */
  loadStateDict(state: LossScalerState | Record<string, never>): void {
    if (!this.enabled) return;
    if (Object.keys(state).length === 0) {
      throw new Error('LossScaler.loadStateDict: The source state dict is empty, possibly because it was saved from a disabled instance of GradScaler.');
    }
    const s = state as LossScalerState;
    for (const k of ['scale', 'growthFactor', 'backoffFactor', 'growthInterval', 'growthTracker'] as const) {
      if (typeof s[k] !== 'number' || !Number.isFinite(s[k])) throw new Error(`LossScaler.loadStateDict: ${k} must be a finite number, got ${String(s[k])}`);
    }
    this.scaleValue = Math.fround(s.scale);
    this.growthFactor = s.growthFactor;
    this.backoffFactor = s.backoffFactor;
    this.growthInterval = s.growthInterval;
    this.growthTracker = s.growthTracker;
  }

  /** Free any device flag still held (after an interrupted iteration). */
  dispose(): void {
    this.reset();
  }
}
