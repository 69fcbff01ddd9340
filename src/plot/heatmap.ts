/**
 * Heatmaps of matrices: attention weights, weight matrices, correlations.
 */
import { baseSpec, describeValue, plural, summaryLine, VegaLiteFigure, type ChartOptions } from './vegalite';

/** A 2-D tensor as tfjs gives it: `{ shape, data }` (row-major) or a Tensor (`dataSync`). */
export type Matrix2D =
  | ArrayLike<number>[]
  | { shape: readonly number[]; data: ArrayLike<number> }
  | { shape: readonly number[]; dataSync(): ArrayLike<number> };

/** Options of {@link heatmap}. */
export interface HeatmapOptions extends ChartOptions {
  /** The matrix: `number[][]` (z[row][col]), `{ shape: [rows, cols], data }` or a 2-D tf.Tensor. */
  z: Matrix2D;
  /** Column labels (x axis), e.g. key tokens. Default: column indices. Duplicates are fine. */
  xLabels?: readonly string[];
  /** Row labels (y axis), e.g. query tokens. Default: row indices. */
  yLabels?: readonly string[];
  /** X axis title. Default 'column'. */
  xTitle?: string;
  /** Y axis title. Default 'row'. */
  yTitle?: string;
  /** Vega color scheme: 'viridis' (default), 'blues', or a diverging one such as 'redblue'. */
  scheme?: string;
  /** Color domain [min, max]. Default: the data range. */
  domain?: [number, number];
  /** Value at the middle of a diverging scheme (0 for weights). Default: none. */
  domainMid?: number;
  /** Refuse matrices with more cells than this (the spec holds one row per cell). Default 100 000. */
  maxCells?: number;
}

/**
 * Draw a matrix as colored cells, row 0 at the top (as the matrix is written).
 * NaN / ±Infinity cells are left blank and counted in the text summary.
 *
 * ```ts
 * gl.plot.heatmap({ z: attn, xLabels: tokens, yLabels: tokens, title: 'Attention, head 0' });
 * gl.plot.heatmap({ z: W, scheme: 'redblue', domainMid: 0 });   // W: a 2-D tf.Tensor
 * ```
 * Used in notebooks/01-backprop (weight matrices) and notebooks/04-distributed
 * (how tensor parallelism splits a weight matrix).
 */
export function heatmap(opts: HeatmapOptions): VegaLiteFigure {
  const { xTitle = 'column', yTitle = 'row', scheme = 'viridis', maxCells = 100_000 } = opts;
  const { rows, cols, at } = matrix(opts.z);
  if (rows * cols > maxCells) {
    throw new Error(
      `heatmap: 'z' has ${rows}x${cols} = ${rows * cols} cells, over maxCells = ${maxCells}; ` +
        `average-pool it first (e.g. tf.avgPool) or raise maxCells`,
    );
  }
  for (const [name, labels, n] of [['xLabels', opts.xLabels, cols], ['yLabels', opts.yLabels, rows]] as const) {
    if (labels && labels.length !== n) {
      throw new Error(`heatmap: '${name}' has ${labels.length} labels but z has ${n} ${name === 'xLabels' ? 'columns' : 'rows'}`);
    }
  }
  const values: { row: number; col: number; value: number }[] = [];
  let dropped = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const v = at(i, j);
      if (Number.isFinite(v)) values.push({ row: i, col: j, value: v });
      else dropped++;
    }
  }
  const axis = (field: string, title: string, labels?: readonly string[]) => ({
    field,
    type: 'ordinal',
    title,
    ...(labels ? { axis: { labelExpr: `${JSON.stringify(labels)}[datum.value]` } } : {}),
  });
  const scale: Record<string, unknown> = { scheme };
  if (opts.domain) scale.domain = opts.domain;
  if (opts.domainMid !== undefined) scale.domainMid = opts.domainMid;
  const encoding = {
    x: axis('col', xTitle, opts.xLabels),
    y: axis('row', yTitle, opts.yLabels),
    color: { field: 'value', type: 'quantitative', title: 'value', scale },
  };
  return new VegaLiteFigure(
    { ...baseSpec(opts, values), mark: { type: 'rect', tooltip: true }, encoding },
    summaryLine('heatmap', [`${rows}x${cols} cells`], opts.title, dropped ? `${plural(dropped, 'non-finite cell')} left blank` : ''),
  );
}

/** Rows, columns and an accessor for any {@link Matrix2D}. */
function matrix(z: Matrix2D): { rows: number; cols: number; at: (i: number, j: number) => number } {
  if (Array.isArray(z)) {
    const cols = z[0]?.length ?? 0;
    if (z.length === 0 || cols === 0) throw new Error(`heatmap: 'z' is empty; pass a non-empty number[][]`);
    z.forEach((r, i) => {
      if (r?.length !== cols) {
        throw new Error(`heatmap: 'z' row ${i} has ${r?.length} values but row 0 has ${cols}; rows must be equal length`);
      }
    });
    return { rows: z.length, cols, at: (i, j) => z[i][j] };
  }
  const shape = (z as { shape?: readonly number[] })?.shape;
  if (!Array.isArray(shape) || shape.length !== 2) {
    throw new Error(`heatmap: 'z' must be number[][] or 2-D { shape: [rows, cols], data }, got shape ${describeValue(shape)}`);
  }
  const data = 'dataSync' in z && typeof z.dataSync === 'function' ? z.dataSync() : (z as { data: ArrayLike<number> }).data;
  const [rows, cols] = shape;
  if (rows * cols === 0) throw new Error(`heatmap: 'z' has shape [${rows}, ${cols}]; nothing to draw`);
  if (data?.length !== rows * cols) {
    throw new Error(`heatmap: 'z' has shape [${rows}, ${cols}] but ${data?.length} data values; expected ${rows * cols}`);
  }
  return { rows, cols, at: (i, j) => data[i * cols + j] };
}
