/**
 * Line charts: loss curves, activation functions, gradient norms vs depth.
 */
import { exploreParts, extent, type ExploreOption } from './explore';
import { droppedNote, xyRows, type XYInput, type XYRows } from './series';
import { baseSpec, fieldRef, summaryLine, VegaLiteFigure, type ChartOptions, type VegaLiteSpec } from './vegalite';

/** Options of {@link line}: the data ({@link XYInput}) plus labels, axes and style. */
export interface LineOptions extends XYInput, ChartOptions {
  /** X axis title, e.g. '步长 h (step size)'. Default: the x field name ('x'). */
  xTitle?: string;
  /** Y axis title. Default: the y field name ('y'). */
  yTitle?: string;
  /** Draw a dot on every point as well as the line. Default false. */
  points?: boolean;
  /**
   * Give every series its own dash pattern as well as its colour, so curves that lie on
   * top of each other stay distinguishable (and print in grey). Default false.
   */
  dashes?: boolean;
  /** A colour per series name (`{ 'no clipping': '#e45756' }`); others keep the default palette. */
  colors?: Record<string, string>;
  /** d3-format of the x tick labels ('~g', '.0e', '.1f', '~s'). Default: Vega-Lite's. */
  xFormat?: string;
  /** d3-format of the y tick labels. Default: Vega-Lite's ('.0e' style reads well on log axes). */
  yFormat?: string;
  /** Fixed x axis range [min, max]. Default: the data's (over every slice of an explorable). */
  xDomain?: [number, number];
  /** Fixed y axis range, e.g. [0, 1] so that a 1% difference looks like one. */
  yDomain?: [number, number];
  /** Start a linear y axis at 0 (an honest scale for sizes and ratios). Default false. */
  yZero?: boolean;
  /** An arrowhead at the end of every series, pointing along its last segment. Default false. */
  arrows?: boolean;
  /**
   * Make the figure explorable: one widget per control selects the rows whose `field`
   * equals its value (see {@link ExploreControl}). Needs `data` rows that carry the fields.
   */
  explore?: ExploreOption;
}

/**
 * Draw one line per series, in the order given, with a legend naming each.
 *
 * Defaults: x field 'x', y field 'y', linear axes, 400 x 250 px, no points.
 * NaN / ±Infinity points are dropped and counted in the text summary; a value
 * <= 0 on a log axis throws (see {@link XYInput}).
 *
 * ```ts
 * const x = Array.from({ length: 200 }, (_, i) => -4 + (8 * i) / 199);
 * gl.plot.line({ series: { sigmoid: { x, y: x.map(v => 1 / (1 + Math.exp(-v))) },
 *                          relu: { x, y: x.map(v => Math.max(0, v)) } },
 *                title: '激活函数 (activations)', dashes: true });
 * gl.plot.line({ series: { sigmoid: normsSig, relu: normsRelu }, x: 'layer', y: 'grad norm', logY: true });
 * gl.plot.line({ data: rows, x: 'layer', y: 'norm', color: 'init', logY: true,
 *                explore: { field: 'depth', label: '深度 (depth)' } });
 * ```
 * Used in notebooks/01-backprop (activations, gradient norms vs depth, explorables) and
 * notebooks/02-optim (loss curves).
 */
export function line(opts: LineOptions): VegaLiteFigure {
  const ex = opts.explore ? explorable('line', opts) : undefined;
  const r = xyRows('line', opts, ex?.fields ?? []);
  const parts = ex ? exploreParts('line', r.rows, opts.explore!) : undefined;
  const spec = xySpec(opts, r, opts.points ? { type: 'line', point: true } : { type: 'line' }, parts);
  const counts = [`${r.names.length} series`, `${r.rows.length} points`];
  if (opts.logX || opts.logY) counts.push(`log ${opts.logX ? 'x' : ''}${opts.logX && opts.logY ? ' and ' : ''}${opts.logY ? 'y' : ''}`);
  const notes = [droppedNote(r), parts?.note ?? ''].filter((n) => n).join('; ');
  return new VegaLiteFigure(spec, summaryLine('line chart', counts, opts.title, notes));
}

/** The control fields of an explorable x/y chart (which must use `data` rows). */
export function explorable(builder: string, opts: LineOptions): { fields: string[] } {
  if (opts.series !== undefined) {
    throw new Error(
      `${builder}: 'explore' needs 'data' rows that carry the control field ` +
        `(e.g. [{ x, y, series, h }]), not 'series'`,
    );
  }
  const controls = Array.isArray(opts.explore) ? opts.explore : [opts.explore];
  return { fields: controls.map((c) => c?.field).filter((f): f is string => typeof f === 'string') };
}

/** The spec shared by `line` and `scatter`: x, y (optionally log), color by series, style and controls. */
export function xySpec(
  opts: LineOptions, r: XYRows, mark: Record<string, unknown>,
  parts?: { params: Record<string, unknown>[]; transform: Record<string, unknown>[] },
): VegaLiteSpec {
  const { x = 'x', y = 'y', xTitle = x, yTitle = y, logX = false, logY = false } = opts;
  // An explorable keeps its axes across slices; arrows need the domain to find their angle.
  const fixed = parts !== undefined || opts.arrows === true;
  const domainOf = (field: string, given?: [number, number]) => given ?? (fixed ? extent(r.rows, field) : undefined);
  const xDom = domainOf(x, opts.xDomain), yDom = domainOf(y, opts.yDomain);
  const axis = (field: string, title: string, log: boolean, dom: [number, number] | undefined, format?: string, zero = false) => {
    const scale: Record<string, unknown> = log ? { type: 'log' } : { zero };
    if (dom) Object.assign(scale, { domain: dom, nice: false });
    return {
      field: fieldRef(field), type: 'quantitative', title, scale,
      ...(format ? { axis: { format } } : {}),
    };
  };
  const encoding: Record<string, unknown> = {
    x: axis(x, xTitle, logX, xDom, opts.xFormat),
    y: axis(y, yTitle, logY, yDom, opts.yFormat, opts.yZero ?? false),
  };
  if (r.color !== undefined) {
    const scale: Record<string, unknown> = { domain: r.names };
    if (opts.colors) {
      const palette = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac', '#eeca3b'];
      const unknown = Object.keys(opts.colors).filter((k) => !r.names.includes(k));
      if (unknown.length) {
        throw new Error(`colors: ${JSON.stringify(unknown[0])} is not a series; the series are ${JSON.stringify(r.names)}`);
      }
      scale.range = r.names.map((n, i) => opts.colors![n] ?? palette[i % palette.length]);
    }
    encoding.color = { field: fieldRef(r.color), type: 'nominal', title: r.color, sort: r.names, scale };
    if (opts.dashes) {
      encoding.strokeDash = { field: fieldRef(r.color), type: 'nominal', title: r.color, sort: r.names, scale: { domain: r.names } };
    }
  }
  const base = baseSpec(opts, r.rows);
  const top: VegaLiteSpec = { ...base };
  if (parts) {
    top.params = parts.params;
    top.transform = parts.transform;
  }
  if (!opts.arrows) return { ...top, mark: { ...mark, tooltip: true }, encoding };
  // Arrowheads: one triangle per series at its last point, turned along the last segment in pixels.
  const { width = 400, height = 250 } = opts;
  const px = (v: number, dom: [number, number], log: boolean, size: number) =>
    log ? ((Math.log(v) - Math.log(dom[0])) / (Math.log(dom[1]) - Math.log(dom[0]))) * size
      : ((v - dom[0]) / (dom[1] - dom[0] || 1)) * size;
  const groups = new Map<string, Record<string, number | string>[]>();
  const ctl = controlFields(opts);
  for (const row of r.rows) {
    const k = JSON.stringify([r.color === undefined ? '' : row[r.color], ...ctl.map((f) => row[f])]);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(row);
  }
  const heads: Record<string, unknown>[] = [];
  for (const rows of groups.values()) {
    if (rows.length < 2) continue;
    const [a, b] = [rows[rows.length - 2], rows[rows.length - 1]];
    const dx = px(b[x] as number, xDom!, logX, width) - px(a[x] as number, xDom!, logX, width);
    const dyUp = px(b[y] as number, yDom!, logY, height) - px(a[y] as number, yDom!, logY, height);
    heads.push({ ...b, __arrow: true, __angle: (Math.atan2(dx, dyUp) * 180) / Math.PI });
  }
  const { data: _data, ...rest } = top;
  void _data;
  return {
    ...rest,
    data: { values: [...r.rows, ...heads] },
    encoding,
    layer: [
      { transform: [{ filter: 'datum.__arrow !== true' }], mark: { ...mark, tooltip: true } },
      {
        transform: [{ filter: 'datum.__arrow === true' }],
        mark: { type: 'point', shape: 'triangle-up', filled: true, size: 90, opacity: 1 },
        encoding: { angle: { field: '__angle', type: 'quantitative', scale: null } },
      },
    ],
  };
}

function controlFields(opts: LineOptions): string[] {
  if (!opts.explore) return [];
  const controls = Array.isArray(opts.explore) ? opts.explore : [opts.explore];
  return controls.map((c) => c.field);
}
