/**
 * Line charts: loss curves, activation functions, gradient norms vs depth.
 */
import { droppedNote, xyRows, type XYInput, type XYRows } from './series';
import { baseSpec, fieldRef, summaryLine, VegaLiteFigure, type ChartOptions, type VegaLiteSpec } from './vegalite';

/** Options of {@link line}: the data ({@link XYInput}) plus labels and axes. */
export interface LineOptions extends XYInput, ChartOptions {
  /** X axis title. Default: the x field name ('x'). */
  xTitle?: string;
  /** Y axis title. Default: the y field name ('y'). */
  yTitle?: string;
  /** Draw a dot on every point as well as the line. Default false. */
  points?: boolean;
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
 *                title: 'Activations' });
 * gl.plot.line({ series: { sigmoid: normsSig, relu: normsRelu }, x: 'layer', y: 'grad norm', logY: true });
 * ```
 * Used in notebooks/01-backprop (activations, gradient norms vs depth) and
 * notebooks/02-optim (loss curves).
 */
export function line(opts: LineOptions): VegaLiteFigure {
  const r = xyRows('line', opts);
  const spec = xySpec(opts, r, opts.points ? { type: 'line', point: true } : { type: 'line' });
  const counts = [`${r.names.length} series`, `${r.rows.length} points`];
  if (opts.logX || opts.logY) counts.push(`log ${opts.logX ? 'x' : ''}${opts.logX && opts.logY ? ' and ' : ''}${opts.logY ? 'y' : ''}`);
  return new VegaLiteFigure(spec, summaryLine('line chart', counts, opts.title, droppedNote(r)));
}

/** The spec shared by `line` and `scatter`: x, y (optionally log) and color by series. */
export function xySpec(opts: LineOptions, r: XYRows, mark: Record<string, unknown>): VegaLiteSpec {
  const { x = 'x', y = 'y', xTitle = x, yTitle = y, logX = false, logY = false } = opts;
  const axis = (field: string, title: string, log: boolean) => ({
    field: fieldRef(field),
    type: 'quantitative',
    title,
    ...(log ? { scale: { type: 'log' } } : { scale: { zero: false } }),
  });
  const encoding: Record<string, unknown> = { x: axis(x, xTitle, logX), y: axis(y, yTitle, logY) };
  if (r.color !== undefined) {
    encoding.color = { field: fieldRef(r.color), type: 'nominal', title: r.color, sort: r.names };
  }
  return { ...baseSpec(opts, r.rows), mark: { ...mark, tooltip: true }, encoding };
}
