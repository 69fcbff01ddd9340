/**
 * Heatmaps of matrices: attention weights, weight matrices, correlations.
 */
import { exploreParts, extent, type ExploreOption } from './explore';
import { baseSpec, describeValue, plural, summaryLine, VegaLiteFigure, type ChartOptions } from './vegalite';

/** A 2-D tensor as tfjs gives it: `{ shape, data }` (row-major) or a Tensor (`dataSync`). */
export type Matrix2D =
  | ArrayLike<number>[]
  | { shape: readonly number[]; data: ArrayLike<number> }
  | { shape: readonly number[]; dataSync(): ArrayLike<number> };

/** Options of {@link heatmap}. */
export interface HeatmapOptions extends ChartOptions {
  /** The matrix: `number[][]` (z[row][col]), `{ shape: [rows, cols], data }` or a 2-D tf.Tensor. Give this or `frames`. */
  z?: Matrix2D;
  /**
   * Several matrices of one shape, each with the control values it belongs to, for an
   * explorable heatmap: `[{ key: { depth: 10 }, z }, { key: { depth: 20 }, z }]` with
   * `explore: { field: 'depth' }`. The colour scale is shared by every frame.
   */
  frames?: readonly { key: Record<string, number | string>; z: Matrix2D }[];
  /** Controls over the frames' keys (see {@link ExploreControl}). Needs `frames`. */
  explore?: ExploreOption;
  /** Title of the colour legend. Default 'value'. */
  valueTitle?: string;
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
  const { xTitle = 'column', yTitle = 'row', scheme = 'viridis', maxCells = 100_000, valueTitle = 'value' } = opts;
  if ((opts.z === undefined) === (opts.frames === undefined)) {
    throw new Error(`heatmap: pass exactly one of 'z' (a matrix) or 'frames' ([{ key, z }], with 'explore')`);
  }
  if ((opts.frames === undefined) !== (opts.explore === undefined)) {
    throw new Error(`heatmap: 'frames' and 'explore' go together: frames hold one matrix per value of the controls`);
  }
  const frames = opts.frames ?? [{ key: {}, z: opts.z! }];
  if (frames.length === 0) throw new Error(`heatmap: 'frames' is empty; pass [{ key: { field: value }, z }]`);
  const mats = frames.map((f) => matrix(f.z));
  const { rows, cols } = mats[0];
  mats.forEach((m, k) => {
    if (m.rows !== rows || m.cols !== cols) {
      throw new Error(`heatmap: frames[${k}] is ${m.rows}x${m.cols} but frames[0] is ${rows}x${cols}; frames must share a shape`);
    }
  });
  if (rows * cols * frames.length > maxCells) {
    throw new Error(
      `heatmap: 'z' has ${frames.length > 1 ? `${frames.length} frames of ` : ''}${rows}x${cols} = ${rows * cols * frames.length} cells, over maxCells = ${maxCells}; ` +
        `average-pool it first (e.g. tf.avgPool) or raise maxCells`,
    );
  }
  for (const [name, labels, n] of [['xLabels', opts.xLabels, cols], ['yLabels', opts.yLabels, rows]] as const) {
    if (labels && labels.length !== n) {
      throw new Error(`heatmap: '${name}' has ${labels.length} labels but z has ${n} ${name === 'xLabels' ? 'columns' : 'rows'}`);
    }
  }
  const values: Record<string, number | string>[] = [];
  let dropped = 0;
  frames.forEach((f, k) => {
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        const v = mats[k].at(i, j);
        if (Number.isFinite(v)) values.push({ ...f.key, row: i, col: j, value: v });
        else dropped++;
      }
    }
  });
  const parts = opts.explore ? exploreParts('heatmap', values, opts.explore) : undefined;
  const axis = (field: string, title: string, labels?: readonly string[]) => ({
    field,
    type: 'ordinal',
    title,
    ...(labels ? { axis: { labelExpr: `${JSON.stringify(labels)}[datum.value]` } } : {}),
  });
  const scale: Record<string, unknown> = { scheme };
  if (opts.domain) scale.domain = opts.domain;
  else if (parts) scale.domain = extent(values, 'value');   // one colour scale for every frame
  if (opts.domainMid !== undefined) scale.domainMid = opts.domainMid;
  const encoding = {
    x: axis('col', xTitle, opts.xLabels),
    y: axis('row', yTitle, opts.yLabels),
    color: { field: 'value', type: 'quantitative', title: valueTitle, scale },
  };
  const spec = { ...baseSpec(opts, values), ...(parts ? { params: parts.params, transform: parts.transform } : {}),
    mark: { type: 'rect', tooltip: true }, encoding };
  const notes = [dropped ? `${plural(dropped, 'non-finite cell')} left blank` : '', parts?.note ?? ''].filter((n) => n).join('; ');
  const counts = [`${rows}x${cols} cells`, ...(opts.frames ? [plural(frames.length, 'frame')] : [])];
  return new VegaLiteFigure(spec, summaryLine('heatmap', counts, opts.title, notes));
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
