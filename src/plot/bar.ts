/**
 * Bar charts, grouped or stacked: memory per component, time per phase.
 */
import { baseSpec, describeValue, plural, summaryLine, VegaLiteFigure, type ChartOptions } from './vegalite';

/** Options of {@link bar}. */
export interface BarOptions extends ChartOptions {
  /** One bar (or group / stack) per category, drawn in this order. Must be unique. */
  categories: readonly string[];
  /** One value per category (a single series). Give this or `series`. */
  values?: ArrayLike<number>;
  /** Named series, each with one value per category: `{ params: [...], grads: [...] }`. */
  series?: Record<string, ArrayLike<number>>;
  /** Stack the series in one bar per category (else side by side). Default false. */
  stack?: boolean;
  /** Bars along the x axis (categories on y). Default false. */
  horizontal?: boolean;
  /** Category axis title. Default 'category'. */
  xTitle?: string;
  /** Value axis title. Default 'value'. */
  yTitle?: string;
}

/**
 * Draw `categories x series` bars: grouped side by side, or stacked with `stack: true`.
 * NaN / ±Infinity values are dropped (no bar) and counted in the text summary.
 *
 * ```ts
 * gl.plot.bar({ categories: ['fp32', 'mixed', 'ZeRO-1', 'ZeRO-3'],
 *               series: { params: p, grads: g, 'optimizer state': o }, stack: true,
 *               yTitle: 'MiB per GPU' });
 * ```
 * Used in notebooks/03-gpu (memory accounting) and notebooks/04-distributed
 * (memory per GPU under DP / ZeRO).
 */
export function bar(opts: BarOptions): VegaLiteFigure {
  const { categories, stack = false, horizontal = false, xTitle = 'category', yTitle = 'value' } = opts;
  if ((opts.values === undefined) === (opts.series === undefined)) {
    throw new Error(`bar: pass exactly one of 'values' (one series) or 'series' ({ name: values })`);
  }
  if (!Array.isArray(categories) || categories.length === 0) {
    throw new Error(`bar: 'categories' is empty or not an array (got ${describeValue(categories)}); pass the bar labels`);
  }
  const dup = categories.find((c, i) => categories.indexOf(c) !== i);
  if (dup !== undefined) throw new Error(`bar: 'categories' has ${JSON.stringify(dup)} twice; labels must be unique`);
  const series = opts.series ?? { value: opts.values! };
  const names = Object.keys(series);
  if (names.length === 0) throw new Error(`bar: 'series' is empty; pass e.g. { params: [...] }`);
  const rows: Record<string, string | number>[] = [];
  let dropped = 0;
  for (const n of names) {
    const v = series[n];
    const field = opts.series ? `series ${JSON.stringify(n)}` : `'values'`;
    if (v?.length !== categories.length) {
      throw new Error(`bar: ${field} has ${v?.length} values but there are ${categories.length} categories`);
    }
    for (let i = 0; i < v.length; i++) {
      if (Number.isFinite(v[i])) rows.push({ category: categories[i], series: n, value: v[i] });
      else dropped++;
    }
  }
  const [cat, val, offset] = horizontal ? ['y', 'x', 'yOffset'] : ['x', 'y', 'xOffset'];
  const encoding: Record<string, unknown> = {
    [cat]: { field: 'category', type: 'nominal', sort: categories, title: xTitle },
    [val]: { field: 'value', type: 'quantitative', title: yTitle, ...(stack ? {} : { stack: null }) },
  };
  if (opts.series) {
    encoding.color = { field: 'series', type: 'nominal', sort: names, title: null };
    if (!stack) encoding[offset] = { field: 'series', type: 'nominal', sort: names };
  }
  const kind = opts.series ? (stack ? 'stacked bar chart' : 'grouped bar chart') : 'bar chart';
  return new VegaLiteFigure(
    { ...baseSpec(opts, rows), mark: { type: 'bar', tooltip: true }, encoding },
    summaryLine(kind, [`${categories.length} categories`, `${names.length} series`], opts.title,
      dropped ? `${plural(dropped, 'non-finite value')} dropped` : ''),
  );
}
