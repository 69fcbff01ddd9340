/**
 * Early stopping on a validation metric, with the best weights kept and restored.
 * Introduced in notebooks/02-optim.
 */
import { tf } from '../backend/tf';
import { namedWeights, type WeightsInput } from './weights';

/** Options of {@link EarlyStopping}. */
export interface EarlyStoppingOptions {
  /** Evaluations without improvement to tolerate before stopping; an integer ≥ 0. Required (Keras's default is 0). */
  patience: number;
  /** An improvement must beat the best value by more than this (≥ 0, in the metric's units). Default 0. */
  minDelta?: number;
  /** 'min' for a loss, 'max' for an accuracy. Default 'min'. */
  mode?: 'min' | 'max';
  /** Keep a copy of the best weights so that {@link EarlyStopping.restore} can write them back. Default true. */
  restoreBest?: boolean;
}

/** {@link EarlyStopping}'s counters as plain JSON (the best weights travel separately: {@link EarlyStopping.bestWeights}). */
export interface EarlyStoppingState {
  kind: 'EarlyStopping';
  /** Evaluations seen so far. */
  evaluations: number;
  /** Evaluations since the last improvement (Keras's `wait`). */
  wait: number;
  /** Best value so far; null before any finite value. */
  bestValue: number | null;
  /** Step of the best value; null before any. */
  bestStep: number | null;
  /** Step at which it asked to stop; null if it has not. */
  stoppedStep: number | null;
  settings: { patience: number; minDelta: number; mode: 'min' | 'max'; restoreBest: boolean };
}

function fail(what: string, value: unknown, hint: string): never {
  throw new RangeError(`EarlyStopping: ${what} (got ${typeof value === 'number' ? String(value) : JSON.stringify(value) ?? String(value)}); ${hint}`);
}

/**
 * Stop training when a validation metric has stopped improving, and keep the
 * weights of the best evaluation (Keras's `EarlyStopping`).
 *
 * After each evaluation call `update(metric, model)`. In 'min' mode the metric
 * improves when `metric < best − minDelta` ('max': `metric > best + minDelta`);
 * then `best ← metric`, the counter `wait ← 0` and (with `restoreBest`) the weights
 * are copied. Otherwise `wait ← wait + 1`, and `update` returns true (stop) once
 * `wait ≥ patience`. So `patience` counts evaluations without an improvement greater
 * than `minDelta`: patience 0 stops at the first one that does not improve, patience
 * 3 at the third in a row. The first evaluation never stops training, and when it
 * does not improve (NaN) its weights are kept anyway, so `restore` always has something.
 *
 * NaN (a diverged run): treated as no improvement, like every other value that does
 * not beat the best (Keras does the same, since NaN compares false). It therefore
 * counts towards `patience`; it never becomes the best value.
 *
 * Memory: the best weights are `tf.clone`s (they share the parameters' buffers
 * until the optimiser replaces those, then hold the old values alone: one extra
 * copy of the model at most), kept out of any `tf.tidy`, replaced (the old ones
 * freed) at each improvement; `dispose()` frees them.
 * ```ts
 * const stopper = new train.EarlyStopping({ patience: 5, minDelta: 1e-4 });
 * for (let epoch = 0; ; epoch++) {
 *   trainOneEpoch();
 *   if (stopper.update(await validationLoss(), model)) break;
 * }
 * stopper.restore(model); // the weights of epoch stopper.bestStep
 * stopper.dispose();
 * ```
 * Defaults: `{ minDelta: 0, mode: 'min', restoreBest: true }`; patience is required.
 *
 * Reference: `tf.keras.callbacks.EarlyStopping(monitor, min_delta, patience, mode,
 * restore_best_weights)` (Keras 2.x, `on_epoch_end`); Prechelt 1998, "Early Stopping — But When?".
 * Introduced in notebooks/02-optim.
 */
export class EarlyStopping {
  /** Evaluations without improvement tolerated (Keras's `patience`). */
  readonly patience: number;
  /** The margin an improvement must exceed (Keras's `min_delta`, always given as a positive number). */
  readonly minDelta: number;
  /** 'min' (lower is better) or 'max'. */
  readonly mode: 'min' | 'max';
  /** Whether the best weights are kept for {@link restore} (Keras's `restore_best_weights`). */
  readonly restoreBest: boolean;
  /** Best metric so far: +Infinity ('min') or −Infinity ('max') before any finite value. */
  bestValue: number;
  /** Step of the best value (the `step` given to `update`, by default the 0-based evaluation index); −1 before any. */
  bestStep = -1;
  /** Evaluations since the last improvement (Keras's `wait`). */
  wait = 0;
  /** Evaluations seen. */
  evaluations = 0;
  /** Step at which `update` first returned true; −1 while it has not. */
  stoppedStep = -1;
  private best: Record<string, tf.Tensor> | null = null;

  constructor({ patience, minDelta = 0, mode = 'min', restoreBest = true }: EarlyStoppingOptions) {
    if (typeof patience !== 'number' || !Number.isInteger(patience) || patience < 0) fail('patience must be an integer >= 0', patience, 'pass how many evaluations without improvement to tolerate, e.g. 5');
    if (typeof minDelta !== 'number' || !Number.isFinite(minDelta) || minDelta < 0) fail('minDelta must be a finite number >= 0', minDelta, 'pass the smallest change that counts as an improvement, e.g. 1e-4 (a positive number in either mode)');
    if (mode !== 'min' && mode !== 'max') fail("mode must be 'min' or 'max'", mode, "use 'min' for a loss, 'max' for an accuracy");
    this.patience = patience;
    this.minDelta = minDelta;
    this.mode = mode;
    this.restoreBest = restoreBest;
    this.bestValue = mode === 'min' ? Infinity : -Infinity;
  }

  /** Whether `update` has asked to stop. */
  get stopped(): boolean {
    return this.stoppedStep >= 0;
  }

  /** Whether `value` beats the best by more than minDelta (false for NaN). */
  private improves(value: number): boolean {
    return this.mode === 'min' ? value + this.minDelta < this.bestValue : value - this.minDelta > this.bestValue;
  }

  /**
   * Record one evaluation: `metric` (a number: `await` your tensor's `.data()` first),
   * the current weights (copied if this is the best so far) and its `step` (default:
   * the 0-based evaluation index). Returns true when training should stop.
   */
  update(metric: number, weights: WeightsInput, step = this.evaluations): boolean {
    if (typeof metric !== 'number') fail('update: metric must be a number', typeof metric, 'read a tensor first: (await loss.data())[0]');
    if (typeof step !== 'number' || !Number.isFinite(step)) fail('update: step must be a finite number', step, 'pass the epoch or iteration');
    const first = this.evaluations === 0;
    this.evaluations++;
    if (this.improves(metric)) {
      this.bestValue = metric;
      this.bestStep = step;
      this.wait = 0;
      if (this.restoreBest) this.keep(weights);
      return false;
    }
    if (first && this.restoreBest) this.keep(weights); // Keras: keep the first weights if no progress is ever made
    this.wait++;
    const stop = !first && this.wait >= this.patience;
    if (stop && this.stoppedStep < 0) this.stoppedStep = step;
    return stop;
  }

  private keep(weights: WeightsInput): void {
    const next = Object.fromEntries(namedWeights('EarlyStopping.update', weights).map(([n, p]) => [n, tf.keep(tf.clone(p.data))]));
    this.disposeBest();
    this.best = next;
  }

  /**
   * Write the best weights back into `weights` (same names and shapes as given to
   * `update`); returns the step they come from. Throws when `restoreBest` is false
   * or nothing was recorded yet. The optimiser's state (moments) is not rewound.
   */
  restore(weights: WeightsInput): number {
    if (!this.restoreBest) throw new Error('EarlyStopping.restore: restoreBest is false, so no weights were kept; construct it with restoreBest: true');
    if (!this.best) throw new Error('EarlyStopping.restore: no weights recorded yet; call update(metric, model) after an evaluation first');
    const named = namedWeights('EarlyStopping.restore', weights);
    const want = Object.keys(this.best);
    const have = named.map(([n]) => n);
    if (want.join('\u0000') !== have.join('\u0000')) throw new Error(`EarlyStopping.restore: the weights are [${have.join(', ')}] but the kept ones are [${want.join(', ')}]; pass the same model or parameter list as to update`);
    for (const [n, p] of named) {
      const b = this.best[n]!;
      if (b.shape.join() !== p.shape.join()) throw new Error(`EarlyStopping.restore: ${n} has shape [${p.shape.join(', ')}] but the kept copy [${b.shape.join(', ')}]`);
    }
    for (const [n, p] of named) p.assign(tf.clone(this.best[n]!));
    return this.bestStep;
  }

  /** The best weights by name, as clones that you own (dispose them); `{}` when none are kept. For checkpoints. */
  bestWeights(): Record<string, tf.Tensor> {
    return this.best ? Object.fromEntries(Object.entries(this.best).map(([n, t]) => [n, tf.clone(t)])) : {};
  }

  /** The counters and settings as plain JSON (the best weights: {@link bestWeights}). */
  state(): EarlyStoppingState {
    const finite = Number.isFinite(this.bestValue);
    return {
      kind: 'EarlyStopping',
      evaluations: this.evaluations,
      wait: this.wait,
      bestValue: finite ? this.bestValue : null,
      bestStep: this.bestStep >= 0 ? this.bestStep : null,
      stoppedStep: this.stoppedStep >= 0 ? this.stoppedStep : null,
      settings: { patience: this.patience, minDelta: this.minDelta, mode: this.mode, restoreBest: this.restoreBest },
    };
  }

  /**
   * Restore a {@link state} and, optionally, the best weights (cloned: you keep and
   * dispose yours). Throws, changing nothing, when the settings differ.
   */
  loadState(state: EarlyStoppingState, bestWeights?: Record<string, tf.Tensor>): void {
    if (state?.kind !== 'EarlyStopping') fail('loadState: not an EarlyStopping state', state?.kind, 'pass what state() returned');
    for (const k of ['patience', 'minDelta', 'mode', 'restoreBest'] as const) {
      if (state.settings?.[k] !== this[k]) fail(`loadState: setting ${k} is ${JSON.stringify(this[k])} here but differs in the state`, state.settings?.[k], `construct it with ${k}: ${JSON.stringify(state.settings?.[k])}`);
    }
    if (!Number.isInteger(state.evaluations) || state.evaluations < 0 || !Number.isInteger(state.wait) || state.wait < 0) fail('loadState: evaluations and wait must be integers >= 0', [state.evaluations, state.wait], 'pass what state() returned');
    const next = bestWeights ? Object.fromEntries(Object.entries(bestWeights).map(([n, t]) => [n, tf.keep(tf.clone(t))])) : null;
    this.evaluations = state.evaluations;
    this.wait = state.wait;
    this.bestValue = state.bestValue ?? (this.mode === 'min' ? Infinity : -Infinity);
    this.bestStep = state.bestStep ?? -1;
    this.stoppedStep = state.stoppedStep ?? -1;
    if (next) {
      this.disposeBest();
      this.best = next;
    }
  }

  private disposeBest(): void {
    if (this.best) tf.dispose(Object.values(this.best));
    this.best = null;
  }

  /** Free the kept weights. */
  dispose(): void {
    this.disposeBest();
  }
}
