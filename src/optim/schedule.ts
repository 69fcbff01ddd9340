/**
 * Learning-rate schedules as pure functions of the step: numbers in, a learning
 * rate out. No optimiser, no state: `lr = warmupCosine(step, { lr: 3e-4,
 * warmupSteps: 100, totalSteps: 1000 })` is the whole contract, so a schedule can
 * be plotted, tested against a closed form, and resumed from nothing but the step.
 * The stateful schedulers that write an optimiser's lr live in `./scheduler`.
 *
 * Every function validates its arguments and names the bad value. `step` is any
 * finite number ≥ 0 (fractional steps draw smooth curves).
 *
 * Introduced in notebooks/02-optim.
 */

/** Throw `name: what is wrong (got value); what to do`. */
function fail(fn: string, what: string, value: unknown, hint: string): never {
  throw new RangeError(`${fn}: ${what} (got ${String(value)}); ${hint}`);
}
function checkStep(fn: string, step: number): void {
  if (typeof step !== 'number' || !Number.isFinite(step) || step < 0) fail(fn, 'step must be a finite number >= 0', step, 'pass the optimiser step count, starting at 0');
}
function checkLr(fn: string, name: string, lr: number): void {
  if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) fail(fn, `${name} must be a finite number >= 0`, lr, `pass a learning rate such as 1e-3`);
}
function checkInt(fn: string, name: string, n: number, min: number): void {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min) fail(fn, `${name} must be an integer >= ${min}`, n, `pass a whole number of steps`);
}
function checkMinLr(fn: string, minLr: number, lr: number): void {
  checkLr(fn, 'minLr', minLr);
  if (minLr > lr) fail(fn, `minLr must not exceed lr (${lr})`, minLr, 'lower minLr or raise lr');
}
function checkWarmupTotal(fn: string, warmupSteps: number, totalSteps: number): void {
  checkInt(fn, 'warmupSteps', warmupSteps, 0);
  checkInt(fn, 'totalSteps', totalSteps, 1);
  if (warmupSteps > totalSteps) fail(fn, `warmupSteps must not exceed totalSteps (${totalSteps})`, warmupSteps, 'shorten the warmup or lengthen the run');
}

/** Options of {@link constant}. */
export interface ConstantOptions {
  /** The learning rate returned at every step. */
  lr: number;
}

/**
 * The constant schedule: `lr(step) = lr`.
 *
 * Reference: PyTorch's `ConstantLR` with factor 1; transformers' `get_constant_schedule`.
 * Introduced in notebooks/02-optim.
 */
export function constant(step: number, { lr }: ConstantOptions): number {
  checkStep('constant', step);
  checkLr('constant', 'lr', lr);
  return lr;
}

/** Options of {@link linearWarmup}. */
export interface LinearWarmupOptions {
  /** The peak learning rate, reached at `warmupSteps` and held after. */
  lr: number;
  /** Steps of warmup, an integer >= 0 (0: no warmup). */
  warmupSteps: number;
  /** Fraction of `lr` at step 0, in [0, 1]. Default 0. */
  startFactor?: number;
}

/**
 * Linear warmup from `startFactor·lr` to `lr`, then constant:
 * `lr(step) = lr·(startFactor + (1 − startFactor)·step/warmupSteps)` for `step < warmupSteps`, else `lr`.
 * With `startFactor = 0` this is transformers' `get_constant_schedule_with_warmup`.
 *
 * Reference: Goyal et al. 2017, "Accurate, Large Minibatch SGD" (gradual warmup); PyTorch's `LinearLR`.
 * Introduced in notebooks/02-optim.
 */
export function linearWarmup(step: number, { lr, warmupSteps, startFactor = 0 }: LinearWarmupOptions): number {
  const fn = 'linearWarmup';
  checkStep(fn, step);
  checkLr(fn, 'lr', lr);
  checkInt(fn, 'warmupSteps', warmupSteps, 0);
  if (typeof startFactor !== 'number' || !(startFactor >= 0 && startFactor <= 1)) fail(fn, 'startFactor must be in [0, 1]', startFactor, 'pass the fraction of lr to start from, e.g. 0');
  if (step >= warmupSteps) return lr;
  return lr * (startFactor + ((1 - startFactor) * step) / warmupSteps);
}

/** Options of {@link cosineDecay} and {@link linearDecay}. */
export interface DecayOptions {
  /** The learning rate at step 0. */
  lr: number;
  /** The step at which `minLr` is reached and then held; an integer >= 1. */
  totalSteps: number;
  /** The floor, in [0, lr]. Default 0. */
  minLr?: number;
}

/**
 * Cosine decay from `lr` to `minLr` over `totalSteps`, then held at `minLr`:
 * `p = min(step, totalSteps)/totalSteps`, `lr(step) = minLr + ½(lr − minLr)(1 + cos(π·p))`.
 * Unlike PyTorch's `CosineAnnealingLR` (periodic past `T_max`), this one is clamped.
 *
 * Reference: Loshchilov & Hutter 2017, "SGDR" (one cycle, no restart).
 * Introduced in notebooks/02-optim.
 */
export function cosineDecay(step: number, options: DecayOptions): number {
  return decay('cosineDecay', step, options, 'cosine');
}

/**
 * Linear decay from `lr` to `minLr` over `totalSteps`, then held at `minLr`:
 * `p = min(step, totalSteps)/totalSteps`, `lr(step) = minLr + (lr − minLr)(1 − p)`.
 *
 * Reference: PyTorch's `LinearLR` with `end_factor = minLr/lr`; `PolynomialLR` with power 1.
 * Introduced in notebooks/02-optim.
 */
export function linearDecay(step: number, options: DecayOptions): number {
  return decay('linearDecay', step, options, 'linear');
}

/** The two decay shapes at progress `p` ∈ [0, 1]: from `lr` at p = 0 to `minLr` at p = 1. */
function anneal(shape: 'cosine' | 'linear', p: number, lr: number, minLr: number): number {
  return shape === 'cosine' ? minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * p)) : minLr + (lr - minLr) * (1 - p);
}

/** {@link cosineDecay} and {@link linearDecay}: validate, then anneal over `totalSteps` and hold. */
function decay(fn: string, step: number, { lr, totalSteps, minLr = 0 }: DecayOptions, shape: 'cosine' | 'linear'): number {
  checkStep(fn, step);
  checkLr(fn, 'lr', lr);
  checkInt(fn, 'totalSteps', totalSteps, 1);
  checkMinLr(fn, minLr, lr);
  return anneal(shape, Math.min(step, totalSteps) / totalSteps, lr, minLr);
}

/** Options of {@link warmupCosine} and {@link warmupLinear}. */
export interface WarmupDecayOptions {
  /** The peak learning rate, reached at the end of warmup. */
  lr: number;
  /** Steps of linear warmup from 0; an integer in [0, totalSteps]. */
  warmupSteps: number;
  /** The step at which `minLr` is reached and then held; an integer >= 1. */
  totalSteps: number;
  /** The floor after warmup, in [0, lr]. Default 0. */
  minLr?: number;
}

/**
 * Linear warmup from 0, then cosine decay to `minLr` at `totalSteps`, then held (the LLM schedule):
 * `lr(step) = lr·step/warmupSteps` for `step < warmupSteps`; otherwise with
 * `p = min(1, (step − warmupSteps)/max(1, totalSteps − warmupSteps))`,
 * `lr(step) = minLr + ½(lr − minLr)(1 + cos(π·p))`.
 * With `minLr = 0` and `step ≤ totalSteps` this is `lr·λ(step)` of transformers'
 * `get_cosine_schedule_with_warmup` (same value, possibly a different last bit: λ is
 * formed first there); that one is not clamped past `totalSteps` (see `cosineScheduleWithWarmup` in `./scheduler`).
 *
 * Reference: Loshchilov & Hutter 2017 ("SGDR"); Goyal et al. 2017 (warmup).
 * Introduced in notebooks/02-optim.
 */
export function warmupCosine(step: number, options: WarmupDecayOptions): number {
  return warmupDecay('warmupCosine', step, options, 'cosine');
}

/**
 * Linear warmup from 0, then linear decay to `minLr` at `totalSteps`, then held:
 * `lr(step) = lr·step/warmupSteps` for `step < warmupSteps`; otherwise with
 * `p = min(1, (step − warmupSteps)/max(1, totalSteps − warmupSteps))`, `lr(step) = minLr + (lr − minLr)(1 − p)`.
 * With `minLr = 0` this is `lr·λ(step)` of transformers' `get_linear_schedule_with_warmup`
 * (up to the last bit).
 *
 * Reference: Devlin et al. 2019 (BERT's schedule); transformers' `get_linear_schedule_with_warmup`.
 * Introduced in notebooks/02-optim.
 */
export function warmupLinear(step: number, options: WarmupDecayOptions): number {
  return warmupDecay('warmupLinear', step, options, 'linear');
}

/** {@link warmupCosine} and {@link warmupLinear}: validate, warm up linearly from 0, then anneal and hold. */
function warmupDecay(fn: string, step: number, { lr, warmupSteps, totalSteps, minLr = 0 }: WarmupDecayOptions, shape: 'cosine' | 'linear'): number {
  checkStep(fn, step);
  checkLr(fn, 'lr', lr);
  checkWarmupTotal(fn, warmupSteps, totalSteps);
  checkMinLr(fn, minLr, lr);
  if (step < warmupSteps) return (lr * step) / warmupSteps;
  return anneal(shape, Math.min(1, (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps)), lr, minLr);
}

/** Options of {@link stepDecay}. */
export interface StepDecayOptions {
  /** The learning rate for steps [0, stepSize). */
  lr: number;
  /** Steps between decays; an integer >= 1. */
  stepSize: number;
  /** The factor applied every `stepSize` steps, in (0, 1]. Default 0.1. */
  gamma?: number;
}

/**
 * Step decay: `lr(step) = lr·gamma^⌊step/stepSize⌋`.
 *
 * Reference: PyTorch's `StepLR` (closed form, `_get_closed_form_lr`); He et al. 2016 (÷10 at fixed epochs).
 * Introduced in notebooks/02-optim.
 */
export function stepDecay(step: number, { lr, stepSize, gamma = 0.1 }: StepDecayOptions): number {
  const fn = 'stepDecay';
  checkStep(fn, step);
  checkLr(fn, 'lr', lr);
  checkInt(fn, 'stepSize', stepSize, 1);
  if (typeof gamma !== 'number' || !(gamma > 0 && gamma <= 1)) fail(fn, 'gamma must be in (0, 1]', gamma, 'pass the decay factor, e.g. 0.1');
  return lr * gamma ** Math.floor(step / stepSize);
}
