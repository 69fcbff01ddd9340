/**
 * Bar charts, grouped or stacked: memory per component, time per phase.
 */
import { exploreParts, type ExploreOption } from './explore';
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
  /**
   * Several sets of bars over the same categories, one per setting of the controls, for an
   * explorable bar chart: `[{ key: { k: 2 }, series: {...} }, { key: { k: 4 }, series: {...} }]`
   * with `explore: { field: 'k' }`. Give this instead of `values` / `series`; the value axis is shared.
   */
  frames?: readonly { key: Record<string, number | string>; values?: ArrayLike<number>; series?: Record<string, ArrayLike<number>> }[];
  /** Controls over the frames' keys (see {@link ExploreControl}). Needs `frames`. */
  explore?: ExploreOption;
}

/**
 * Draw `categories x series` bars: grouped side by side, or stacked with `stack: true`.
 * NaN / ±Infinity values are dropped (no bar) and counted in the text summary.
 *
 * ```ts
 * gl.plot.bar({ categories: ['fp32', 'mixed', 'ZeRO-1', 'ZeRO-3'],
 *               series: { params: p, grads: g, 'optimizer state': o }, stack: true,
 *               yTitle: 'MiB per GPU' });
 * // Explorable: one set of bars per checkpoint interval k, chosen with radio buttons.
 * gl.plot.bar({ categories, frames: ks.map((k) => ({ key: { k }, series: memoryAt(k) })),
 *               explore: { field: 'k', label: '检查点间隔 k' }, stack: true });
 * ```
 * Used in notebooks/03-gpu (memory accounting) and notebooks/04-distributed
 * (memory per GPU under DP / ZeRO).
 */
export function bar(opts: BarOptions): VegaLiteFigure {
  if (opts.frames !== undefined || opts.explore !== undefined) return explorableBar(opts);
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

/** `bar` with `frames` + `explore`: one frame's bars at a time, selected by the controls. */
function explorableBar(opts: BarOptions): VegaLiteFigure {
  const { frames, explore } = opts;
  if (frames === undefined || explore === undefined) {
    throw new Error(`bar: 'frames' and 'explore' go together: frames hold one set of bars per value of the controls`);
  }
  if (opts.values !== undefined || opts.series !== undefined) {
    throw new Error(`bar: with 'frames', give 'values' or 'series' inside each frame, not at the top`);
  }
  if (frames.length === 0) throw new Error(`bar: 'frames' is empty; pass [{ key: { field: value }, series }]`);
  const figs = frames.map((f, k) => {
    try {
      return bar({ ...opts, frames: undefined, explore: undefined, values: f.values, series: f.series });
    } catch (e) {
      throw new Error(`bar: frames[${k}]: ${(e as Error).message.replace(/^bar: /, '')}`);
    }
  });
  const names = JSON.stringify(Object.keys(frames[0].series ?? { value: 0 }));
  frames.forEach((f, k) => {
    if (JSON.stringify(Object.keys(f.series ?? { value: 0 })) !== names) {
      throw new Error(`bar: frames[${k}] has series ${JSON.stringify(Object.keys(f.series ?? { value: 0 }))} but frames[0] has ${names}`);
    }
  });
  const rows = figs.flatMap((fig, k) =>
    ((fig.spec.data as { values: Record<string, unknown>[] }).values).map((r) => ({ ...frames[k].key, ...r })));
  const parts = exploreParts('bar', rows, explore);
  // One value axis for every frame: the largest bar (or stack) of any frame.
  let hi = 0, lo = 0;
  for (const fig of figs) {
    const vals = (fig.spec.data as { values: { category: string; value: number }[] }).values;
    const byCat = new Map<string, { pos: number; neg: number }>();
    for (const r of vals) {
      const t = byCat.get(r.category) ?? { pos: 0, neg: 0 };
      if (opts.stack) { if (r.value > 0) t.pos += r.value; else t.neg += r.value; } else { t.pos = Math.max(t.pos, r.value); t.neg = Math.min(t.neg, r.value); }
      byCat.set(r.category, t);
    }
    for (const t of byCat.values()) { hi = Math.max(hi, t.pos); lo = Math.min(lo, t.neg); }
  }
  const spec = structuredClone(figs[0].spec) as Record<string, any>;
  spec.data = { values: rows };
  spec.params = parts.params;
  spec.transform = parts.transform;
  const val = opts.horizontal ? 'x' : 'y';
  spec.encoding[val].scale = { domain: [lo, hi] };
  const kind = figs[0].summary.replace(/^<VegaLite ([^:>]*).*$/, '$1');
  return new VegaLiteFigure(spec, summaryLine(kind, [`${opts.categories.length} categories`, plural(frames.length, 'frame')], opts.title, parts.note));
}
