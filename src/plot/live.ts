/**
 * A live training display: one output that updates in place with the loss
 * curve and the latest numbers while a loop runs.
 *
 * ```ts
 * const live = gl.plot.liveTraining({ title: 'MLP on moons' });
 * for (let step = 1; step <= 2000; step++) {
 *   const loss = trainStep();
 *   await live.update({ step, loss, throughput: batchSize / secondsPerStep });
 * }
 * await live.finish();   // always draws the final curve and numbers
 * ```
 *
 * - One `DisplayHandle`: the first render is `display_data`, later ones
 *   `update_display_data` with the same display_id, so a saved notebook shows
 *   the final state only.
 * - Renders are throttled by wall time and never overlap: the next render
 *   waits `every` ms (default 500) or 10x the last render's duration if that
 *   is longer, so drawing (about 40 ms for a 500-point curve on one core)
 *   takes at most ~10% of the loop's wall time.
 * - The curve is bounded: past `maxPoints` (default 500) every other point is
 *   dropped and only every 2nd, 4th, ... new step is kept (even spacing), and
 *   the latest point is always drawn. The table shows the exact last values.
 * - A NaN / ±Infinity loss is not drawn; the table, the chart subtitle and the
 *   text say "loss NaN at step 37" (the first one) and how many there were.
 *
 * The state is plain data updated by {@link recordPoint}; {@link liveBundle}
 * turns it into the MIME bundle. Used in notebooks/02-optim and every
 * chapter with a training loop.
 */
import { DisplayHandle, JUPYTER_DISPLAY, type DisplaySink, type MimeBundle } from '../display';
import { escapeHtml as esc } from '../display/html';
import { baseSpec, VEGA_LITE_MIME, VegaLiteFigure } from './vegalite';

/** One training step's numbers. */
export interface TrainingPoint {
  step: number;
  /** May be NaN / ±Infinity: reported, not drawn. */
  loss: number;
  /** Samples per second, if you measure it. */
  throughput?: number;
  /** More rows for the table, e.g. `{ lr: 1e-3, 'grad norm': 0.8 }`. */
  extra?: Record<string, number | string>;
}

/** Options of {@link liveTraining}. */
export interface LiveTrainingOptions {
  /** Title above the table and chart. Default 'Training'. */
  title?: string;
  /** Minimum wall time between renders, in ms. Default 500. */
  every?: number;
  /** Where bundles go. Default: the running kernel's sink (console outside one). */
  sink?: DisplaySink;
  /** Most curve points kept before halving. Default 500. */
  maxPoints?: number;
  /** Log-scale loss axis (losses <= 0 are then not drawn). Default false. */
  logY?: boolean;
  /** Clock in ms. Default `Date.now` (tests pass a fake one). */
  now?: () => number;
}

/** What the display shows: plain data, updated by {@link recordPoint}. */
export interface LiveState {
  /** Title of the table and chart. */
  title: string;
  /** Log-scale loss axis: losses <= 0 are not drawn. */
  logY: boolean;
  /** Curve points kept before halving. */
  maxPoints: number;
  /** The latest update, exactly as given (shown in the table). */
  last?: TrainingPoint;
  /** Kept curve points, every `stride`-th drawable one. */
  curve: { step: number; loss: number }[];
  /** The latest drawable point (appended to the curve when drawn). */
  lastDrawable?: { step: number; loss: number };
  /** Keep every `stride`-th drawable point (doubles at each halving). */
  stride: number;
  /** Drawable points seen so far. */
  drawable: number;
  /** NaN / ±Infinity losses seen so far, and the first of them. */
  nonFinite: number;
  firstNonFinite?: { step: number; loss: number };
}

/** A fresh state. */
export function liveState(title = 'Training', maxPoints = 500, logY = false): LiveState {
  return { title, logY, maxPoints, curve: [], stride: 1, drawable: 0, nonFinite: 0 };
}

/** Record one step in `s` (in place) and return `s`. */
export function recordPoint(s: LiveState, p: TrainingPoint): LiveState {
  s.last = p;
  if (!Number.isFinite(p.loss)) {
    s.nonFinite++;
    s.firstNonFinite ??= { step: p.step, loss: p.loss };
    return s;
  }
  if (s.logY && p.loss <= 0) return s;
  const pt = { step: p.step, loss: p.loss };
  s.lastDrawable = pt;
  if (s.drawable++ % s.stride === 0) s.curve.push(pt);
  if (s.curve.length > s.maxPoints) {
    s.curve = s.curve.filter((_, i) => i % 2 === 0);
    s.stride *= 2;
  }
  return s;
}

/**
 * The bundle for `s` after `elapsedMs`: HTML (table + SVG curve), Vega-Lite, SVG, text.
 * The HTML carries the SVG too because JupyterLab and nbconvert prefer
 * `text/html` over the other types: the one output they show must hold both.
 */
export async function liveBundle(s: LiveState, elapsedMs: number): Promise<MimeBundle> {
  const p = s.last;
  const alert = s.firstNonFinite
    ? `loss ${s.firstNonFinite.loss} at step ${s.firstNonFinite.step}` +
      (s.nonFinite > 1 ? ` (${s.nonFinite} non-finite losses, not drawn)` : ' (not drawn)')
    : '';
  const values = [...s.curve];
  if (s.lastDrawable && values[values.length - 1] !== s.lastDrawable) values.push(s.lastDrawable);
  const fig = new VegaLiteFigure(
    {
      ...baseSpec({ width: 360, height: 180 }, values),
      title: { text: s.title, ...(alert ? { subtitle: alert, subtitleColor: '#b00' } : {}) },
      mark: { type: 'line', tooltip: true },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'step' },
        y: { field: 'loss', type: 'quantitative', title: 'loss', scale: s.logY ? { type: 'log' } : { zero: false } },
      },
    },
    '',
  );
  const rows: [string, string][] = [
    ['step', p ? String(p.step) : '-'],
    ['loss', p ? num(p.loss) : '-'],
    ...(p?.throughput !== undefined ? [['throughput', `${num(p.throughput)} samples/s`] as [string, string]] : []),
    ['elapsed', `${(elapsedMs / 1000).toFixed(1)} s`],
    ...Object.entries(p?.extra ?? {}).map(([k, v]): [string, string] => [k, typeof v === 'number' ? num(v) : v]),
  ];
  const svg = await fig.svg();
  const table = rows.map(([k, v]) => `<tr><th style="text-align:left">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('');
  const html =
    `<div class="gradlab-live"><div><b>${esc(s.title)}</b></div>` +
    `<table style="display:inline-table;vertical-align:top;margin-right:1em">${table}</table>` +
    (alert ? `<div style="color:#b00">${esc(alert)}</div>` : '') +
    `<div style="display:inline-block">${svg}</div></div>`;
  const text = `${s.title}: ` + rows.map(([k, v]) => `${k} ${v}`).join(', ') + (alert ? `; ${alert}` : '');
  return { 'text/html': html, [VEGA_LITE_MIME]: fig.spec, 'image/svg+xml': svg, 'text/plain': text };
}

/** The updating display; see the file comment. Create it with {@link liveTraining}. */
export class LiveTraining {
  /** What is shown: the last point, the kept curve, the non-finite count. */
  readonly state: LiveState;
  /** How many bundles were sent so far. */
  renders = 0;
  private readonly handle: DisplayHandle;
  private readonly every: number;
  private readonly now: () => number;
  private readonly start: number;
  private lastRender = -Infinity;
  private gap: number;
  private inFlight?: Promise<void>;
  private failure?: unknown;
  private finished = false;

  constructor(opts: LiveTrainingOptions = {}) {
    const { title = 'Training', every = 500, maxPoints = 500, logY = false, now = Date.now } = opts;
    if (!(every >= 0)) throw new Error(`liveTraining: 'every' must be >= 0 ms, got ${every}`);
    if (!(Number.isInteger(maxPoints) && maxPoints >= 2)) {
      throw new Error(`liveTraining: 'maxPoints' must be an integer >= 2, got ${maxPoints}`);
    }
    this.state = liveState(title, maxPoints, logY);
    this.handle = new DisplayHandle(opts.sink);
    this.every = every;
    this.gap = every;
    this.now = now;
    this.start = now();
  }

  /** Record a step; re-render when `every` ms passed and no render is running. Await it or not. */
  update(p: TrainingPoint): Promise<void> {
    if (this.finished) throw new Error('liveTraining: update() after finish(); create a new liveTraining');
    if (typeof p?.step !== 'number' || !Number.isFinite(p.step) || typeof p.loss !== 'number') {
      throw new Error(`liveTraining.update: needs { step: finite number, loss: number }, got step ${p?.step}, loss ${p?.loss}`);
    }
    recordPoint(this.state, p);
    const t = this.now();
    if (!this.inFlight && t - this.lastRender >= this.gap) {
      this.lastRender = t;
      this.inFlight = this.render().catch((e) => void (this.failure ??= e)).finally(() => (this.inFlight = undefined));
    }
    return this.inFlight ?? Promise.resolve();
  }

  /** Wait for any running render, then draw the final state; rethrows a render error. */
  async finish(): Promise<void> {
    this.finished = true;
    await this.inFlight;
    await this.render();
    if (this.failure !== undefined) throw this.failure;
  }

  private async render(): Promise<void> {
    const t0 = this.now();
    const bundle = await liveBundle(this.state, this.now() - this.start);
    await this.handle.show({ [JUPYTER_DISPLAY]: () => bundle });
    this.renders++;
    this.gap = Math.max(this.every, 10 * (this.now() - t0));
  }
}

/**
 * Start a live training display (nothing is shown until the first update).
 * Defaults: title 'Training', every 500 ms, maxPoints 500, linear loss axis.
 */
export function liveTraining(opts: LiveTrainingOptions = {}): LiveTraining {
  return new LiveTraining(opts);
}

/** 4 significant digits, exponent outside [1e-3, 1e5). */
function num(v: number): string {
  if (!Number.isFinite(v) || v === 0) return String(v);
  const a = Math.abs(v);
  return a >= 1e5 || a < 1e-3 ? v.toExponential(3) : String(Number(v.toPrecision(4)));
}
