/**
 * Stateful learning-rate schedulers that drive an optimiser's `lr`, step for step
 * like `torch.optim.lr_scheduler` (PyTorch 1.13):
 *
 * ```ts
 * const sched = new SequentialLR(opt, [new LinearLR(opt, { startFactor: 0.01 }), new CosineAnnealingLR(opt, { tMax: 95 })], [5]);
 * for (...) { loss.backward(); opt.step(); sched.step(); }
 * ```
 *
 * Constructing a scheduler records each group's base lr (`initialLr`, kept on the
 * group as PyTorch keeps `initial_lr`, so a second scheduler on the same optimiser
 * sees the original lr) and writes the step-0 lr. `step()` advances one step and
 * writes `group.lr`. Like PyTorch, LinearLR, CosineAnnealingLR, StepLR, MultiStepLR
 * and ConstantLR update recursively from the group's current lr (their `get_lr`), so their numbers are
 * PyTorch's to the last bit or so, not those of the closed form (see each class).
 * For the schedules as pure functions of the step, see `./schedule`.
 *
 * Introduced in notebooks/02-optim.
 */

/** One parameter group as a scheduler sees it: its lr, and the base lr recorded by the first scheduler. */
export interface ParamGroupLr {
  lr: number;
  /** The lr before any scheduler touched it (PyTorch's `initial_lr`); set by the first scheduler. */
  initialLr?: number;
}

/** What a scheduler needs from an optimiser: its parameter groups' learning rates. */
export interface HasParamGroups {
  paramGroups: ParamGroupLr[];
}

/** A scheduler's state, plain JSON: counters, base and last lrs, and its settings (checked on load). */
export interface SchedulerState {
  kind: string;
  lastEpoch: number;
  stepCount: number;
  baseLrs: number[];
  lastLr: number[];
  settings: Record<string, number | number[]>;
  /** SequentialLR only: the states of its schedulers. */
  schedulers?: SchedulerState[];
}

function fail(where: string, what: string, value: unknown, hint: string): never {
  throw new RangeError(`${where}: ${what} (got ${JSON.stringify(value) ?? String(value)}); ${hint}`);
}
function checkInt(where: string, name: string, n: number, min: number): void {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min) fail(where, `${name} must be an integer >= ${min}`, n, 'pass a whole number of steps');
}
function checkFactor(where: string, name: string, f: number, allowZero: boolean, why = ''): void {
  if (typeof f !== 'number' || !(allowZero ? f >= 0 : f > 0) || !(f <= 1)) fail(where, `${name} must be in ${allowZero ? '[0' : '(0'}, 1]${why}`, f, `pass a fraction of the base lr`);
}

/**
 * The base of every scheduler (PyTorch's `_LRScheduler`): `lastEpoch` counts the
 * `step()` calls (0 after construction), `getLastLr()` returns the lrs last written.
 * Subclasses define `getLr()` (the lrs at `lastEpoch`, possibly from the current
 * group lrs) and optionally `closedFormLr()` (used when a SequentialLR restarts them).
 *
 * Introduced in notebooks/02-optim.
 */
export abstract class LRScheduler {
  /** The optimiser whose group lrs this scheduler writes. */
  readonly optimizer: HasParamGroups;
  /** Each group's base lr: its `initialLr`. */
  baseLrs: number[];
  /** Steps taken: -1 before the initial step, 0 after construction. */
  lastEpoch = -1;
  /** Calls to `step()` since the initial step (PyTorch's `_step_count`; CosineAnnealingLR reads it). */
  protected stepCount = 0;
  protected lastLr: number[] = [];

  constructor(optimizer: HasParamGroups, protected readonly kind: string) {
    const groups = optimizer?.paramGroups;
    if (!Array.isArray(groups) || groups.length === 0) fail(kind, 'the optimiser must have a non-empty paramGroups array', groups, 'pass an optimiser (SGD, Adam, ...)');
    groups.forEach((g, i) => {
      if (typeof g.lr !== 'number' || !Number.isFinite(g.lr) || g.lr < 0) fail(kind, `paramGroups[${i}].lr must be a finite number >= 0`, g.lr, 'fix the group lr');
      if (g.initialLr === undefined) g.initialLr = g.lr;
    });
    this.optimizer = optimizer;
    this.baseLrs = groups.map((g) => g.initialLr as number);
  }

  /**
   * PyTorch's `_initial_step`: reset the step count and take step 0. Subclasses call
   * it last in their constructor; SequentialLR calls it on its first scheduler.
   */
  initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  /** The lrs at `lastEpoch` (PyTorch's `get_lr`). */
  protected abstract getLr(): number[];

  /** The lrs at `lastEpoch` from the base lrs alone (PyTorch's `_get_closed_form_lr`), or null if there is none. */
  protected closedFormLr(): number[] | null {
    return null;
  }

  /** Advance one step and write each group's lr. Call after `optimizer.step()`. */
  step(): void {
    this.stepCount++;
    this.lastEpoch++;
    this.write(this.getLr());
  }

  /**
   * Jump to `epoch` and write the lrs there, from the closed form when there is one
   * (PyTorch's deprecated `step(epoch)`); SequentialLR restarts a scheduler with `restartAt(0)`.
   */
  restartAt(epoch: number): void {
    checkInt(`${this.kind}.restartAt`, 'epoch', epoch, 0);
    this.stepCount++;
    this.lastEpoch = epoch;
    this.write(this.closedFormLr() ?? this.getLr());
  }

  private write(lrs: number[]): void {
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = lrs[i] as number));
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** The lrs last written, one per group (PyTorch's `get_last_lr()`). */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** This scheduler's settings, saved in the state and checked on load. */
  protected abstract settings(): Record<string, number | number[]>;

  /** The state as plain JSON (PyTorch's `state_dict()`, without the optimiser). */
  stateDict(): SchedulerState {
    return { kind: this.kind, lastEpoch: this.lastEpoch, stepCount: this.stepCount, baseLrs: [...this.baseLrs], lastLr: [...this.lastLr], settings: this.settings() };
  }

  /**
   * Restore a state from {@link stateDict}, so `step()` continues as the saved run
   * would have. Also writes the saved last lrs into the groups: LinearLR and
   * CosineAnnealingLR step from the group's current lr, and this makes a resume
   * exact even if the optimiser's own state did not carry its lr (PyTorch's
   * optimiser state does). Throws if the kind, group count or settings differ.
   */
  loadStateDict(state: SchedulerState): void {
    const where = `${this.kind}.loadStateDict`;
    if (state?.kind !== this.kind) fail(where, `the state is of a ${state?.kind}, not a ${this.kind}`, state?.kind, 'load the state saved from the same kind of scheduler');
    const n = this.optimizer.paramGroups.length;
    if (state.baseLrs.length !== n || state.lastLr.length !== n) fail(where, `the state has ${state.baseLrs.length} groups, the optimiser ${n}`, state.baseLrs.length, 'build the optimiser with the same parameter groups');
    const ours = this.settings();
    for (const [k, v] of Object.entries(ours)) {
      if (JSON.stringify(state.settings[k]) !== JSON.stringify(v)) fail(where, `setting ${k} is ${JSON.stringify(v)} here but differs in the state`, state.settings[k], `construct the scheduler with ${k} = ${JSON.stringify(state.settings[k])}`);
    }
    this.lastEpoch = state.lastEpoch;
    this.stepCount = state.stepCount;
    this.baseLrs = [...state.baseLrs];
    this.write(state.lastLr);
  }
}

/** Options of {@link LinearLR}. */
export interface LinearLROptions {
  /** Factor of the base lr at step 0, in (0, 1]. Default 1/3. */
  startFactor?: number;
  /** Factor of the base lr from `totalIters` on, in [0, 1]. Default 1. */
  endFactor?: number;
  /** Steps to go from `startFactor` to `endFactor`; an integer >= 1. Default 5. */
  totalIters?: number;
}

/**
 * Linear ramp of the lr factor from `startFactor` to `endFactor` over `totalIters`
 * steps, then held (PyTorch's `LinearLR`). Closed form:
 * `lr_t = base·(startFactor + (endFactor − startFactor)·min(t, totalIters)/totalIters)`.
 * `step()` uses PyTorch's recursive form, `lr_t = lr_{t−1}·(1 + (e − s)/(T·s + (t − 1)(e − s)))`
 * (s, e, T the options), which can differ from the closed form in the last bits.
 * `startFactor` must be > 0: at 0 PyTorch 1.13's recursion divides by zero.
 *
 * Reference: `torch.optim.lr_scheduler.LinearLR` (1.13). Introduced in notebooks/02-optim.
 */
export class LinearLR extends LRScheduler {
  readonly startFactor: number;
  readonly endFactor: number;
  readonly totalIters: number;

  constructor(optimizer: HasParamGroups, { startFactor = 1 / 3, endFactor = 1, totalIters = 5 }: LinearLROptions = {}) {
    super(optimizer, 'LinearLR');
    checkFactor('LinearLR', 'startFactor', startFactor, false, ' (0 would divide by zero in the recursive update)');
    checkFactor('LinearLR', 'endFactor', endFactor, true);
    checkInt('LinearLR', 'totalIters', totalIters, 1);
    this.startFactor = startFactor;
    this.endFactor = endFactor;
    this.totalIters = totalIters;
    this.initialStep();
  }

  protected getLr(): number[] {
    const groups = this.optimizer.paramGroups;
    const { startFactor: s, endFactor: e, totalIters: T, lastEpoch: t } = this;
    if (t === 0) return groups.map((g) => g.lr * s);
    if (t > T) return groups.map((g) => g.lr);
    return groups.map((g) => g.lr * (1 + (e - s) / (T * s + (t - 1) * (e - s))));
  }

  protected override closedFormLr(): number[] {
    const { startFactor: s, endFactor: e, totalIters: T, lastEpoch: t } = this;
    return this.baseLrs.map((base) => base * (s + ((e - s) * Math.min(T, t)) / T));
  }

  protected settings() {
    return { startFactor: this.startFactor, endFactor: this.endFactor, totalIters: this.totalIters };
  }
}

/** Options of {@link CosineAnnealingLR}. */
export interface CosineAnnealingLROptions {
  /** Half-period in steps; an integer >= 1. */
  tMax: number;
  /** The lowest lr, reached at `tMax` (then the lr rises again: the schedule is periodic). Default 0. */
  etaMin?: number;
}

/**
 * Cosine annealing between the base lr and `etaMin` (PyTorch's `CosineAnnealingLR`).
 * Closed form: `η_t = etaMin + (base − etaMin)(1 + cos(π·t/tMax))/2`, periodic past `tMax`
 * (not clamped: it climbs back to the base lr at `2·tMax`).
 * `step()` uses PyTorch 1.13's recursive `get_lr`, from the group's current lr:
 * `η_t = (1 + cos(πt/T))/(1 + cos(π(t−1)/T))·(η_{t−1} − etaMin) + etaMin`, and at
 * `(t − 1 − T) mod 2T = 0` (where that ratio is 0/0) `η_t = η_{t−1} + (base − etaMin)(1 − cos(π/T))/2`.
 * The recursion agrees with the closed form to about 1e-15 relative, not bit for bit;
 * this class reproduces PyTorch's numbers, not the closed form's.
 *
 * Reference: `torch.optim.lr_scheduler.CosineAnnealingLR` (1.13); Loshchilov & Hutter 2017, "SGDR".
 * Introduced in notebooks/02-optim.
 */
export class CosineAnnealingLR extends LRScheduler {
  readonly tMax: number;
  readonly etaMin: number;

  constructor(optimizer: HasParamGroups, { tMax, etaMin = 0 }: CosineAnnealingLROptions) {
    super(optimizer, 'CosineAnnealingLR');
    checkInt('CosineAnnealingLR', 'tMax', tMax, 1);
    if (typeof etaMin !== 'number' || !Number.isFinite(etaMin) || etaMin < 0) fail('CosineAnnealingLR', 'etaMin must be a finite number >= 0', etaMin, 'pass the lowest lr, e.g. 0');
    this.tMax = tMax;
    this.etaMin = etaMin;
    this.initialStep();
  }

  protected getLr(): number[] {
    const groups = this.optimizer.paramGroups;
    const { tMax: T, etaMin, lastEpoch: t, baseLrs } = this;
    if (t === 0) return groups.map((g) => g.lr);
    if (this.stepCount === 1 && t > 0) return baseLrs.map((base) => etaMin + ((base - etaMin) * (1 + Math.cos((t * Math.PI) / T))) / 2);
    if ((((t - 1 - T) % (2 * T)) + 2 * T) % (2 * T) === 0) {
      return groups.map((g, i) => g.lr + ((baseLrs[i] as number) - etaMin) * (1 - Math.cos(Math.PI / T)) / 2);
    }
    return groups.map((g) => ((1 + Math.cos((Math.PI * t) / T)) / (1 + Math.cos((Math.PI * (t - 1)) / T))) * (g.lr - etaMin) + etaMin);
  }

  protected override closedFormLr(): number[] {
    const { tMax: T, etaMin, lastEpoch: t } = this;
    return this.baseLrs.map((base) => etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * t) / T))) / 2);
  }

  protected settings() {
    return { tMax: this.tMax, etaMin: this.etaMin };
  }
}

/** Check a decay factor γ: a finite number in (0, 1]. */
function checkGamma(where: string, gamma: number): void {
  if (typeof gamma !== 'number' || !(gamma > 0) || !(gamma <= 1)) fail(where, 'gamma must be in (0, 1]', gamma, 'pass the factor the lr is multiplied by at each decay, e.g. 0.1');
}

/** Options of {@link StepLR}. */
export interface StepLROptions {
  /** Period of the decay in steps; an integer >= 1. Required. */
  stepSize: number;
  /** Factor the lr is multiplied by every `stepSize` steps, in (0, 1]. Default 0.1. */
  gamma?: number;
}

/**
 * Multiply the lr by `gamma` every `stepSize` steps (PyTorch's `StepLR`). Closed form:
 * `lr_t = base·γ^⌊t/stepSize⌋`. `step()` uses PyTorch's recursive `get_lr`, from the
 * group's current lr: `lr_t = lr_{t−1}·γ` when `t > 0` and `t mod stepSize = 0`, else
 * `lr_t = lr_{t−1}`; so after k decays the lr is `base·γ·γ·…` (k rounded products),
 * which can differ from `base·γ^k` in the last bit. Inside a SequentialLR it restarts
 * at the base lr (its closed form at 0).
 * ```ts
 * const sched = new optim.StepLR(opt, { stepSize: 30, gamma: 0.1 }); // 0.05, then 0.005 from step 30, ...
 * ```
 * Defaults: gamma 0.1 (PyTorch's). For the pure function of the step, see `stepDecay`.
 *
 * Reference: `torch.optim.lr_scheduler.StepLR` (1.13). Introduced in notebooks/02-optim.
 */
export class StepLR extends LRScheduler {
  /** Period of the decay, in steps. */
  readonly stepSize: number;
  /** Factor of each decay. */
  readonly gamma: number;

  constructor(optimizer: HasParamGroups, { stepSize, gamma = 0.1 }: StepLROptions) {
    super(optimizer, 'StepLR');
    checkInt('StepLR', 'stepSize', stepSize, 1);
    checkGamma('StepLR', gamma);
    this.stepSize = stepSize;
    this.gamma = gamma;
    this.initialStep();
  }

  protected getLr(): number[] {
    const groups = this.optimizer.paramGroups;
    const t = this.lastEpoch;
    if (t === 0 || t % this.stepSize !== 0) return groups.map((g) => g.lr);
    return groups.map((g) => g.lr * this.gamma);
  }

  protected override closedFormLr(): number[] {
    return this.baseLrs.map((base) => base * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
  }

  protected settings() {
    return { stepSize: this.stepSize, gamma: this.gamma };
  }
}

/** Options of {@link MultiStepLR}. */
export interface MultiStepLROptions {
  /** Steps at which the lr is multiplied by `gamma`: integers >= 1, non-decreasing (a repeated milestone decays twice there). Required. */
  milestones: number[];
  /** Factor of each decay, in (0, 1]. Default 0.1. */
  gamma?: number;
}

/**
 * Multiply the lr by `gamma` at each milestone (PyTorch's `MultiStepLR`). Closed form:
 * `lr_t = base·γ^(number of milestones ≤ t)`. `step()` uses PyTorch's recursive `get_lr`:
 * at a milestone that appears c times, `lr_t = lr_{t−1}·γ^c`, elsewhere `lr_t = lr_{t−1}`.
 * Inside a SequentialLR it restarts at the base lr (its closed form at 0).
 * ```ts
 * const sched = new optim.MultiStepLR(opt, { milestones: [30, 80], gamma: 0.1 });
 * ```
 * Defaults: gamma 0.1 (PyTorch's). PyTorch keeps the milestones as a `Counter`, in any
 * order; here they must be sorted (an unsorted list is more likely a typo than a wish).
 *
 * Reference: `torch.optim.lr_scheduler.MultiStepLR` (1.13). Introduced in notebooks/02-optim.
 */
export class MultiStepLR extends LRScheduler {
  /** The steps at which the lr decays (sorted; repeats decay more than once). */
  readonly milestones: number[];
  /** Factor of each decay. */
  readonly gamma: number;

  constructor(optimizer: HasParamGroups, { milestones, gamma = 0.1 }: MultiStepLROptions) {
    super(optimizer, 'MultiStepLR');
    if (!Array.isArray(milestones) || milestones.length === 0) fail('MultiStepLR', 'milestones must be a non-empty array of steps', milestones, 'pass e.g. [30, 80]');
    milestones.forEach((m, i) => {
      checkInt('MultiStepLR', `milestones[${i}]`, m, 1);
      if (i > 0 && m < (milestones[i - 1] as number)) fail('MultiStepLR', `milestones must not decrease, but milestones[${i}] < milestones[${i - 1}]`, milestones, 'sort them');
    });
    checkGamma('MultiStepLR', gamma);
    this.milestones = [...milestones];
    this.gamma = gamma;
    this.initialStep();
  }

  protected getLr(): number[] {
    const groups = this.optimizer.paramGroups;
    const count = this.milestones.filter((m) => m === this.lastEpoch).length;
    if (count === 0) return groups.map((g) => g.lr);
    return groups.map((g) => g.lr * this.gamma ** count);
  }

  protected override closedFormLr(): number[] {
    const passed = this.milestones.filter((m) => m <= this.lastEpoch).length; // bisect_right
    return this.baseLrs.map((base) => base * this.gamma ** passed);
  }

  protected settings() {
    return { milestones: [...this.milestones], gamma: this.gamma };
  }
}

/** Options of {@link ConstantLR}. */
export interface ConstantLROptions {
  /** Factor of the base lr for the first `totalIters` steps, in (0, 1]. Default 1/3. */
  factor?: number;
  /** Steps with the reduced lr; an integer >= 1. Default 5. */
  totalIters?: number;
}

/**
 * Hold the lr at `factor·base` for steps 0 … `totalIters − 1`, then at the base lr
 * (PyTorch's `ConstantLR`, a crude warmup). Closed form:
 * `lr_t = base·(factor + [t ≥ totalIters]·(1 − factor))`. `step()` uses PyTorch's
 * recursive `get_lr`: `lr_0 = lr·factor`, `lr_T = lr_{T−1}·(1/factor)` at `t = totalIters`,
 * else unchanged; so the lr after the switch may differ from the base lr in the last bit.
 * `factor` must be > 0: PyTorch 1.13 accepts 0 and then divides by zero at `totalIters`.
 * ```ts
 * const sched = new optim.ConstantLR(opt, { factor: 0.5, totalIters: 4 }); // 0.025 ×4, then 0.05
 * ```
 * Defaults: factor 1/3, totalIters 5 (PyTorch's).
 *
 * Reference: `torch.optim.lr_scheduler.ConstantLR` (1.13). Introduced in notebooks/02-optim.
 */
export class ConstantLR extends LRScheduler {
  /** Factor of the base lr before `totalIters`. */
  readonly factor: number;
  /** Steps with the reduced lr. */
  readonly totalIters: number;

  constructor(optimizer: HasParamGroups, { factor = 1 / 3, totalIters = 5 }: ConstantLROptions = {}) {
    super(optimizer, 'ConstantLR');
    checkFactor('ConstantLR', 'factor', factor, false, ' (0 would divide by zero when the lr is restored)');
    checkInt('ConstantLR', 'totalIters', totalIters, 1);
    this.factor = factor;
    this.totalIters = totalIters;
    this.initialStep();
  }

  protected getLr(): number[] {
    const groups = this.optimizer.paramGroups;
    const t = this.lastEpoch;
    if (t === 0) return groups.map((g) => g.lr * this.factor);
    if (t !== this.totalIters) return groups.map((g) => g.lr);
    return groups.map((g) => g.lr * (1 / this.factor));
  }

  protected override closedFormLr(): number[] {
    const after = this.lastEpoch >= this.totalIters ? 1 : 0;
    return this.baseLrs.map((base) => base * (this.factor + after * (1 - this.factor)));
  }

  protected settings() {
    return { factor: this.factor, totalIters: this.totalIters };
  }
}

/** A multiplier of the base lr as a function of the step (PyTorch's `lr_lambda`). */
export type LrLambda = (step: number) => number;

/**
 * `lr_t = base·lrLambda(t)` for each group, with one function for all groups or one
 * per group (PyTorch's `LambdaLR`). The functions are not part of the state: build
 * the scheduler with the same ones before `loadStateDict`.
 *
 * Reference: `torch.optim.lr_scheduler.LambdaLR` (1.13). Introduced in notebooks/02-optim.
 */
export class LambdaLR extends LRScheduler {
  readonly lrLambdas: LrLambda[];

  constructor(optimizer: HasParamGroups, lrLambda: LrLambda | LrLambda[]) {
    super(optimizer, 'LambdaLR');
    const n = optimizer.paramGroups.length;
    if (Array.isArray(lrLambda)) {
      if (lrLambda.length !== n) fail('LambdaLR', `expected one lrLambda per group (${n})`, `${lrLambda.length} functions`, 'pass one function, or one per parameter group');
      this.lrLambdas = [...lrLambda];
    } else {
      this.lrLambdas = Array.from({ length: n }, () => lrLambda);
    }
    this.lrLambdas.forEach((f, i) => {
      if (typeof f !== 'function') fail('LambdaLR', `lrLambda ${i} must be a function of the step`, typeof f, 'pass (step) => factor');
    });
    this.initialStep();
  }

  protected getLr(): number[] {
    return this.baseLrs.map((base, i) => {
      const f = (this.lrLambdas[i] as LrLambda)(this.lastEpoch);
      if (typeof f !== 'number' || !Number.isFinite(f)) fail('LambdaLR', `lrLambda ${i} returned a non-finite factor at step ${this.lastEpoch}`, f, 'make it return a finite number');
      return base * f;
    });
  }

  protected settings() {
    return {};
  }
}

/**
 * Runs `schedulers` one after another (PyTorch's `SequentialLR`): scheduler i is in
 * charge from `milestones[i−1]` (inclusive) on, and at each milestone it restarts at
 * its epoch 0 (its closed form at 0: the base lr for CosineAnnealingLR). The usual
 * LLM recipe is `[LinearLR warmup, CosineAnnealingLR]` with one milestone at the
 * warmup length. Construct the schedulers on the same optimiser just before this.
 *
 * Reference: `torch.optim.lr_scheduler.SequentialLR` (1.13). Introduced in notebooks/02-optim.
 */
export class SequentialLR extends LRScheduler {
  readonly schedulers: LRScheduler[];
  readonly milestones: number[];

  constructor(optimizer: HasParamGroups, schedulers: LRScheduler[], milestones: number[]) {
    super(optimizer, 'SequentialLR');
    if (!Array.isArray(schedulers) || schedulers.length === 0) fail('SequentialLR', 'schedulers must be a non-empty array', schedulers, 'pass the schedulers in order');
    schedulers.forEach((s, i) => {
      if (!(s instanceof LRScheduler)) fail('SequentialLR', `schedulers[${i}] is not a scheduler`, typeof s, 'pass LinearLR, CosineAnnealingLR, ... instances');
      if (s.optimizer !== optimizer) fail('SequentialLR', `schedulers[${i}] drives a different optimiser`, i, 'build every scheduler on the optimiser passed here');
    });
    if (!Array.isArray(milestones) || milestones.length !== schedulers.length - 1) {
      fail('SequentialLR', `expected ${schedulers.length - 1} milestones for ${schedulers.length} schedulers`, milestones, 'pass one milestone fewer than schedulers');
    }
    milestones.forEach((m, i) => {
      checkInt('SequentialLR', `milestones[${i}]`, m, 1);
      if (i > 0 && m <= (milestones[i - 1] as number)) fail('SequentialLR', `milestones must increase, but milestones[${i}] <= milestones[${i - 1}]`, milestones, 'sort them');
    });
    this.schedulers = [...schedulers];
    this.milestones = [...milestones];
    // As PyTorch: lastEpoch 0, the group lrs back to their initial values, the
    // schedulers' construction steps undone, and step 0 of the first one taken.
    this.lastEpoch = 0;
    for (const g of optimizer.paramGroups) g.lr = g.initialLr as number;
    for (const s of this.schedulers) s.lastEpoch -= 1;
    (this.schedulers[0] as LRScheduler).initialStep();
    this.lastLr = (this.schedulers[0] as LRScheduler).getLastLr();
  }

  /** Not used: SequentialLR delegates `step()` to the scheduler in charge. */
  protected getLr(): number[] {
    return this.getLastLr();
  }

  /** Advance one step: the scheduler in charge steps, or restarts at 0 on a milestone. */
  override step(): void {
    this.lastEpoch++;
    let idx = 0;
    while (idx < this.milestones.length && (this.milestones[idx] as number) <= this.lastEpoch) idx++; // bisect_right
    const s = this.schedulers[idx] as LRScheduler;
    if (idx > 0 && this.milestones[idx - 1] === this.lastEpoch) s.restartAt(0);
    else s.step();
    this.lastLr = s.getLastLr();
  }

  protected settings() {
    return { milestones: [...this.milestones] };
  }

  override stateDict(): SchedulerState {
    return { ...super.stateDict(), schedulers: this.schedulers.map((s) => s.stateDict()) };
  }

  /** Restore the state of this scheduler and of each of its schedulers (built in the same order). */
  override loadStateDict(state: SchedulerState): void {
    const subs = state?.schedulers;
    if (!Array.isArray(subs) || subs.length !== this.schedulers.length) {
      fail('SequentialLR.loadStateDict', `expected ${this.schedulers.length} scheduler states`, Array.isArray(subs) ? subs.length : subs, 'load a state saved from the same SequentialLR');
    }
    this.schedulers.forEach((s, i) => s.loadStateDict(subs[i] as SchedulerState));
    super.loadStateDict(state);
  }
}

/** Options of {@link cosineScheduleWithWarmup} and {@link linearScheduleWithWarmup}. */
export interface WarmupScheduleOptions {
  /** Steps of linear warmup from 0 (W). */
  warmupSteps: number;
  /** Total training steps (T). */
  totalSteps: number;
  /** Cosine only: half-waves over the decay; 0.5 (default) goes from 1 down to 0 once. */
  numCycles?: number;
}

/**
 * The LLM warmup + cosine schedule as a LambdaLR (transformers'
 * `get_cosine_schedule_with_warmup`): a multiplier of the base lr,
 * `λ(s) = s/max(1, W)` for `s < W`, else with `p = (s − W)/max(1, T − W)`,
 * `λ(s) = max(0, ½(1 + cos(π·numCycles·2·p)))`. 0 at step 0, 1 at W, 0 at T; like
 * transformers it is not clamped past T (it rises again). Defaults: numCycles 0.5.
 *
 * Reference: huggingface transformers, `optimization.py`. Introduced in notebooks/02-optim.
 */
export function cosineScheduleWithWarmup(optimizer: HasParamGroups, { warmupSteps, totalSteps, numCycles = 0.5 }: WarmupScheduleOptions): LambdaLR {
  checkInt('cosineScheduleWithWarmup', 'warmupSteps', warmupSteps, 0);
  checkInt('cosineScheduleWithWarmup', 'totalSteps', totalSteps, 1);
  if (typeof numCycles !== 'number' || !(numCycles > 0) || !Number.isFinite(numCycles)) fail('cosineScheduleWithWarmup', 'numCycles must be a finite number > 0', numCycles, 'pass 0.5 for one decay');
  return new LambdaLR(optimizer, (s) => {
    if (s < warmupSteps) return s / Math.max(1, warmupSteps);
    const progress = (s - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
    return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * numCycles * 2 * progress)));
  });
}

/**
 * The warmup + linear decay schedule as a LambdaLR (transformers'
 * `get_linear_schedule_with_warmup`): `λ(s) = s/max(1, W)` for `s < W`, else
 * `λ(s) = max(0, (T − s)/max(1, T − W))`. 0 at step 0, 1 at W, 0 from T on.
 *
 * Reference: huggingface transformers, `optimization.py`; BERT (Devlin et al. 2019).
 * Introduced in notebooks/02-optim.
 */
export function linearScheduleWithWarmup(optimizer: HasParamGroups, { warmupSteps, totalSteps }: WarmupScheduleOptions): LambdaLR {
  checkInt('linearScheduleWithWarmup', 'warmupSteps', warmupSteps, 0);
  checkInt('linearScheduleWithWarmup', 'totalSteps', totalSteps, 1);
  return new LambdaLR(optimizer, (s) => (s < warmupSteps ? s / Math.max(1, warmupSteps) : Math.max(0, (totalSteps - s) / Math.max(1, totalSteps - warmupSteps))));
}
