/**
 * A training monitor: named scalar series per step (losses, accuracy, lr, gradient
 * norm), their best values, TensorBoard-style smoothing and a line chart.
 * Introduced in notebooks/02-optim.
 */
import { tf } from '../backend/tf';
import { Tensor } from '../autograd';
import { line } from '../plot/line';
import type { VegaLiteFigure } from '../plot/vegalite';

/** A value {@link Monitor.log} accepts: a number, or a one-element tfjs / gradlab tensor read at {@link Monitor.flush}. */
export type LoggedValue = number | tf.Tensor | Tensor;

/** One series: the steps and values logged under one name, in logging order. */
export interface MonitorSeries {
  steps: number[];
  values: number[];
}

/** One row of {@link Monitor.toRows}: the tidy form `gl.plot.line({ data, x: 'step', y: 'value', color: 'series' })` draws. */
export type MonitorRow = {
  step: number;
  series: string;
  value: number;
};

/** Options of {@link Monitor}. */
export interface MonitorOptions {
  /** Default smoothing weight w ∈ [0, 1) of `series`, `toRows` and `plot` (0: raw values). Default 0. */
  smoothing?: number;
}

/** Options of {@link Monitor.plot}. */
export interface MonitorPlotOptions {
  /** The series to draw, in this order. Default: all, in the order first logged. */
  series?: string[];
  /** Chart title. Default '训练曲线 (training curves)'. */
  title?: string;
  /** Smoothing weight w ∈ [0, 1); when > 0 the raw curves are drawn too, as `<name> (raw)`. Default: the monitor's. */
  smoothing?: number;
  /** Log-scale y axis (every drawn value must be > 0). Default false. */
  logY?: boolean;
  /** Y axis title. Default '值 (value)'. */
  yTitle?: string;
}

function checkWeight(where: string, w: number): void {
  if (typeof w !== 'number' || !(w >= 0 && w < 1)) throw new RangeError(`${where}: smoothing must be in [0, 1) (got ${String(w)}); 0 draws the raw values, 0.6 is TensorBoard's default, 0.9 is heavy`);
}

/**
 * TensorBoard's scalar smoothing: an exponential moving average with debiasing.
 * `last ← w·last + (1 − w)·yᵢ` (last₀ = 0), then `sᵢ = last / (1 − wⁿ)` after n
 * finite values, so the first points are not pulled towards 0 (Adam's bias
 * correction, Kingma & Ba 2015). Non-finite values pass through unsmoothed and do
 * not enter the average; a constant series is returned as is (as TensorBoard does).
 *
 * Reference: TensorBoard, `vz_line_chart2/line-chart.ts` (`resmoothDataset`).
 * Introduced in notebooks/02-optim.
 */
export function smooth(values: readonly number[], weight: number): number[] {
  checkWeight('smooth', weight);
  const constant = values.every((v) => v === values[0]);
  let last = 0;
  let n = 0;
  return values.map((v) => {
    if (constant || !Number.isFinite(v)) return v;
    last = last * weight + (1 - weight) * v;
    n++;
    return last / (1 - weight ** n);
  });
}

/**
 * Records named scalar series during training, one point per (step, name), and
 * turns them into numbers, rows and charts.
 *
 * Async-friendly: `log` takes numbers, or tensors. A tensor (a one-element tfjs or
 * gradlab tensor, e.g. the loss) is cloned (you keep and may dispose yours) and read
 * later, all pending tensors in one `await` at {@link flush} (one readback instead of
 * one per value: what a GPU backend wants). Nothing here calls `dataSync`. The readers
 * (`series`, `best`, `toRows`, `plot`) throw while tensors are pending: `await flush()` first.
 * ```ts
 * const mon = new train.Monitor({ smoothing: 0.6 });
 * for (let step = 0; step < 1000; step++) {
 *   const loss = nn.crossEntropy(model.forward(x), y); loss.backward();
 *   const gradNorm = await optim.clipGradNorm(model.parameters(), 1.0);
 *   opt.step(); opt.zeroGrad();
 *   mon.log(step, { 'train loss': loss, lr: opt.paramGroups[0].lr, 'grad norm': gradNorm });
 *   loss.dispose();
 *   if (step % 100 === 0) await mon.flush();
 * }
 * await mon.flush();
 * await gl.display(mon.plot({ series: ['train loss'], logY: true }));
 * ```
 * Introduced in notebooks/02-optim.
 */
export class Monitor {
  /** The default smoothing weight of the readers. */
  readonly smoothing: number;
  private readonly data = new Map<string, MonitorSeries>();
  /** Tensors logged and not read yet: where their values go. */
  private pending: { t: tf.Tensor; s: MonitorSeries; i: number; name: string }[] = [];

  constructor({ smoothing = 0 }: MonitorOptions = {}) {
    checkWeight('Monitor', smoothing);
    this.smoothing = smoothing;
  }

  /**
   * Record `values` at `step` (a finite number; per series, steps must not decrease).
   * Numbers are stored at once (NaN and ±Infinity too: a diverging loss is a result);
   * tensors are cloned and read at {@link flush}.
   */
  log(step: number, values: Record<string, LoggedValue>): this {
    if (typeof step !== 'number' || !Number.isFinite(step)) throw new RangeError(`Monitor.log: step must be a finite number (got ${String(step)}); pass the iteration or epoch`);
    const entries = Object.entries(values ?? {});
    for (const [name, v] of entries) {
      const s = this.data.get(name);
      if (s && s.steps.length > 0 && step < s.steps[s.steps.length - 1]!) {
        throw new RangeError(`Monitor.log: series '${name}' is at step ${s.steps[s.steps.length - 1]}, got step ${step}; steps must not decrease (use a new series name for a new run)`);
      }
      const t = v instanceof Tensor ? v.data : v;
      if (t instanceof tf.Tensor) {
        if (t.size !== 1) throw new RangeError(`Monitor.log: '${name}' is a tensor of shape [${t.shape.join(', ')}]; log a scalar (e.g. a mean)`);
      } else if (typeof t !== 'number') {
        throw new TypeError(`Monitor.log: '${name}' must be a number or a one-element tensor, got ${typeof t}`);
      }
    }
    for (const [name, v] of entries) {
      let s = this.data.get(name);
      if (!s) this.data.set(name, (s = { steps: [], values: [] }));
      const t = v instanceof Tensor ? v.data : v;
      s.steps.push(step);
      if (typeof t === 'number') s.values.push(t);
      else {
        s.values.push(NaN);
        this.pending.push({ t: tf.keep(tf.clone(t.dtype === 'float32' ? t : tf.cast(t, 'float32'))), s, i: s.values.length - 1, name });
      }
    }
    return this;
  }

  /** How many logged tensors wait for {@link flush}. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Read every pending tensor in one batched readback (one `await`), store the values and free the clones. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const all = tf.tidy(() => tf.concat(batch.map((p) => tf.reshape(p.t, [1]))));
    try {
      const vals = await all.data();
      batch.forEach((p, k) => (p.s.values[p.i] = vals[k]!));
    } finally {
      all.dispose();
      tf.dispose(batch.map((p) => p.t));
    }
  }

  private ready(where: string): void {
    if (this.pending.length > 0) throw new Error(`Monitor.${where}: ${this.pending.length} logged tensors are not read yet; await monitor.flush() first`);
  }

  private get(where: string, name: string): MonitorSeries {
    this.ready(where);
    const s = this.data.get(name);
    if (!s) throw new RangeError(`Monitor.${where}: no series '${name}'; logged: [${[...this.data.keys()].join(', ')}]`);
    return s;
  }

  /** The names logged so far, in the order first logged. */
  names(): string[] {
    return [...this.data.keys()];
  }

  /** One series as copies `{ steps, values }`, smoothed with `smoothing` (default: the monitor's; see {@link smooth}). */
  series(name: string, { smoothing = this.smoothing }: { smoothing?: number } = {}): MonitorSeries {
    const s = this.get('series', name);
    return { steps: [...s.steps], values: smoothing > 0 ? smooth(s.values, smoothing) : [...s.values] };
  }

  /** The last value of a series and its step, or null if it is empty. */
  last(name: string): { step: number; value: number } | null {
    const s = this.get('last', name);
    const n = s.steps.length;
    return n ? { step: s.steps[n - 1]!, value: s.values[n - 1]! } : null;
  }

  /**
   * The best raw value of a series (lowest for 'min', the default; highest for 'max')
   * and its step; the first one on ties; NaN never counts. Null if no value is finite or comparable.
   */
  best(name: string, mode: 'min' | 'max' = 'min'): { step: number; value: number } | null {
    if (mode !== 'min' && mode !== 'max') throw new RangeError(`Monitor.best: mode must be 'min' or 'max' (got ${String(mode)})`);
    const s = this.get('best', name);
    let out: { step: number; value: number } | null = null;
    s.values.forEach((v, i) => {
      if (Number.isNaN(v)) return;
      if (out === null || (mode === 'min' ? v < out.value : v > out.value)) out = { step: s.steps[i]!, value: v };
    });
    return out;
  }

  /** Rows `{ step, series, value }` of the named series (default all), smoothed as {@link series}. */
  toRows(names: string[] = this.names(), { smoothing = this.smoothing }: { smoothing?: number } = {}): MonitorRow[] {
    this.ready('toRows');
    return names.flatMap((name) => {
      const s = this.series(name, { smoothing });
      return s.steps.map((step, i) => ({ step, series: name, value: s.values[i]! }));
    });
  }

  /**
   * A line chart of the chosen series against the step (`gl.plot.line` on
   * {@link toRows}); with smoothing the raw curves are drawn as well (`<name> (raw)`),
   * as TensorBoard shows them faintly. Non-finite values are dropped and counted.
   */
  plot({ series = this.names(), title = '训练曲线 (training curves)', smoothing = this.smoothing, logY = false, yTitle = '值 (value)' }: MonitorPlotOptions = {}): VegaLiteFigure {
    this.ready('plot');
    if (series.length === 0) throw new RangeError('Monitor.plot: nothing to draw; log some values first or name the series');
    checkWeight('Monitor.plot', smoothing);
    const rows = this.toRows(series, { smoothing });
    const raw = smoothing > 0 ? this.toRows(series, { smoothing: 0 }).map((r) => ({ ...r, series: `${r.series} (raw)` })) : [];
    return line({ data: [...rows, ...raw], x: 'step', y: 'value', color: 'series', title, logY, xTitle: '步数 (step)', yTitle });
  }

  /** Free the tensors still pending (their values stay NaN). */
  dispose(): void {
    tf.dispose(this.pending.map((p) => p.t));
    this.pending = [];
  }
}
