/**
 * Histograms of gradients, weights and activations.
 *
 * Bins are counted here, in TypeScript, not by Vega-Lite: a layer's gradient
 * may hold millions of values, and the spec then carries `bins x series`
 * rows instead of every value. All series share the same bin edges, so
 * overlaid or faceted histograms compare bin for bin.
 */
import { describeValue, plural, summaryLine, VegaLiteFigure, baseSpec, type ChartOptions } from './vegalite';

/** Options of {@link histogram}. */
export interface HistogramOptions extends ChartOptions {
  /** The values: one array, or named arrays `{ 'layer 1': g1, 'layer 8': g8 }`. */
  values: ArrayLike<number> | Record<string, ArrayLike<number>>;
  /** Number of equal-width bins. Default 30. */
  bins?: number;
  /** [min, max] range binned; values outside are counted in the summary. Default: data range. */
  extent?: [number, number];
  /** Several series: 'overlay' (translucent, one chart) or 'facet' (one row each). Default 'overlay'. */
  layout?: 'overlay' | 'facet';
  /** Plot density (count / (n * bin width)) so series of different sizes compare. Default false. */
  density?: boolean;
  /** X axis title. Default 'value'. */
  xTitle?: string;
}

/**
 * Draw a histogram (a bar per bin), for one or several series.
 *
 * NaN / ±Infinity values are dropped and counted in the text summary (a NaN
 * gradient is worth knowing about); so are values outside `extent`.
 *
 * ```ts
 * gl.plot.histogram({ values: { 'layer 1': await g1.data(), 'layer 8': await g8.data() },
 *                     bins: 50, layout: 'facet', xTitle: 'gradient' });
 * ```
 * Used in notebooks/01-backprop (gradients and weights at initialisation).
 */
export function histogram(opts: HistogramOptions): VegaLiteFigure {
  const { bins = 30, layout = 'overlay', density = false, xTitle = 'value' } = opts;
  if (!Number.isInteger(bins) || bins < 1) {
    throw new Error(`histogram: 'bins' must be a positive integer, got ${describeValue(bins)}`);
  }
  const named = isArrayLike(opts.values) ? { values: opts.values } : opts.values;
  const names = Object.keys(named ?? {});
  if (names.length === 0) throw new Error(`histogram: 'values' is empty; pass an array or { name: array }`);
  let lo = Infinity;
  let hi = -Infinity;
  let dropped = 0;
  for (const n of names) {
    const v = named[n];
    if (!isArrayLike(v) || v.length === 0) {
      throw new Error(`histogram: values ${JSON.stringify(n)} is empty or not an array; give it at least one number`);
    }
    for (let i = 0; i < v.length; i++) {
      if (Number.isFinite(v[i])) (lo = Math.min(lo, v[i])), (hi = Math.max(hi, v[i]));
      else dropped++;
    }
  }
  if (opts.extent) [lo, hi] = opts.extent;
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi)) {
    throw new Error(`histogram: no finite values to bin, or 'extent' [${lo}, ${hi}] is not [min, max]`);
  }
  if (lo === hi) (lo -= 0.5), (hi += 0.5);
  const w = (hi - lo) / bins;
  const rows: Record<string, number | string>[] = [];
  let outside = 0;
  for (const n of names) {
    const v = named[n];
    const counts = new Array<number>(bins).fill(0);
    let finite = 0;
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (!Number.isFinite(x)) continue;
      finite++;
      if (x < lo || x > hi) outside++;
      else counts[Math.min(bins - 1, Math.floor((x - lo) / w))]++;
    }
    counts.forEach((c, b) =>
      rows.push({ series: n, start: lo + b * w, end: lo + (b + 1) * w, count: density ? c / (finite * w) : c }),
    );
  }
  const many = names.length > 1;
  const encoding: Record<string, unknown> = {
    x: { field: 'start', type: 'quantitative', bin: 'binned', title: xTitle },
    x2: { field: 'end' },
    y: { field: 'count', type: 'quantitative', title: density ? 'density' : 'count', stack: null },
  };
  if (many) encoding.color = { field: 'series', type: 'nominal', sort: names };
  if (many && layout === 'facet') encoding.row = { field: 'series', type: 'nominal', sort: names, title: null };
  const mark = { type: 'bar', tooltip: true, ...(many && layout === 'overlay' ? { opacity: 0.55 } : {}) };
  const notes = [
    dropped ? `${plural(dropped, 'non-finite value')} dropped` : '',
    outside ? `${plural(outside, 'value')} outside [${lo}, ${hi}]` : '',
  ].filter((s) => s);
  return new VegaLiteFigure(
    { ...baseSpec(opts, rows), mark, encoding },
    summaryLine('histogram', [`${names.length} series`, `${bins} bins`], opts.title, notes.join('; ')),
  );
}

function isArrayLike(v: unknown): v is ArrayLike<number> {
  return Array.isArray(v) || ArrayBuffer.isView(v);
}
