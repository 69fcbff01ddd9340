/**
 * The x/y input shared by `line` and `scatter`, checked and turned into tidy rows.
 *
 * Two forms are accepted:
 *
 * ```ts
 * { series: { sigmoid: { x, y }, relu: { x, y } } }   // one entry per curve
 * { series: { loss: losses } }                         // y only: x = 0, 1, 2, ...
 * { data: [{ step: 0, loss: 2.3, run: 'a' }, ...], x: 'step', y: 'loss', color: 'run' }
 * ```
 *
 * Policy for bad numbers (the same in every builder): NaN and ±Infinity are
 * dropped and counted in the figure's `text/plain` summary (set
 * `nonFinite: 'error'` to throw instead); a value <= 0 on a log axis has no
 * logarithm and always throws, naming the series and the index.
 */

/** One curve: `{ x, y }` of equal length, or just `y` (x = 0, 1, 2, ...). */
export type XYSeries = { x?: ArrayLike<number>; y: ArrayLike<number> } | ArrayLike<number>;

/** What to do with NaN / ±Infinity: drop and count (default), or throw. */
export type NonFinitePolicy = 'drop' | 'error';

/** The data part of `line` / `scatter` options. */
export interface XYInput {
  /** Named curves, drawn in this order: `{ relu: { x, y }, gelu: { x, y } }`. */
  series?: Record<string, XYSeries>;
  /** Tidy rows, one point each: `[{ step: 1, loss: 0.9, run: 'sgd' }, ...]`. */
  data?: ReadonlyArray<Record<string, unknown>>;
  /** Field holding x (rows) and the x axis title. Default 'x'. */
  x?: string;
  /** Field holding y (rows) and the y axis title. Default 'y'. */
  y?: string;
  /** Field naming the series. Default 'series' for `series`, none for `data`. */
  color?: string;
  /** Log-scale x axis (every x must be > 0). Default false. */
  logX?: boolean;
  /** Log-scale y axis (every y must be > 0). Default false. */
  logY?: boolean;
  /** NaN / ±Infinity: 'drop' and count them (default) or 'error'. */
  nonFinite?: NonFinitePolicy;
}

/** Tidy rows ready for a spec, and what the summary should say. */
export interface XYRows {
  rows: Record<string, number | string>[];
  /** Series names in drawing order (one unnamed series when there is no color field). */
  names: string[];
  /** The color field, or undefined for a single series from rows. */
  color?: string;
  /** How many points were dropped as non-finite, and the first one. */
  dropped: number;
  firstDropped?: string;
}

/**
 * Check `input` for `builder` (used in messages) and return tidy rows. Rows from `data`
 * keep the fields named in `keep` as well (the fields of an explorable figure's controls).
 */
export function xyRows(builder: string, input: XYInput, keep: readonly string[] = []): XYRows {
  const { series, data, x = 'x', y = 'y', logX = false, logY = false, nonFinite = 'drop' } = input;
  if ((series === undefined) === (data === undefined)) {
    throw new Error(`${builder}: pass exactly one of 'series' ({ name: { x, y } }) or 'data' (rows)`);
  }
  const color = input.color ?? (series ? 'series' : undefined);
  const out: XYRows = { rows: [], names: [], color, dropped: 0 };
  const add = (name: string, i: number, xv: unknown, yv: unknown, row: Record<string, unknown>) => {
    const where = series ? `series ${JSON.stringify(name)} index ${i}` : `data[${i}]`;
    for (const [field, v, log] of [[x, xv, logX], [y, yv, logY]] as const) {
      if (typeof v !== 'number') {
        throw new Error(`${builder}: ${where} field '${field}' is ${typeof v}; x and y must be numbers`);
      }
      if (!Number.isFinite(v)) {
        if (nonFinite === 'error') {
          throw new Error(`${builder}: ${where} has ${field} = ${v}; remove it or pass nonFinite: 'drop'`);
        }
        out.dropped++;
        out.firstDropped ??= `${where} ${field} = ${v}`;
        return;
      }
      if (log && v <= 0) {
        throw new Error(
          `${builder}: ${where} has ${field} = ${v}, which a log ${field === x ? 'x' : 'y'} axis ` +
            `cannot show; filter out values <= 0 (or clamp them, e.g. Math.max(v, 1e-12)), ` +
            `or use a linear axis (${field === x ? 'logX' : 'logY'}: false)`,
        );
      }
    }
    out.rows.push({ ...(row as Record<string, string | number>), [x]: xv as number, [y]: yv as number });
  };
  if (series) {
    out.names = Object.keys(series);
    if (out.names.length === 0) throw new Error(`${builder}: 'series' is empty; pass e.g. { loss: { x, y } }`);
    for (const name of out.names) {
      const s = series[name];
      const ys = isArrayLike(s) ? s : s.y;
      const xs = isArrayLike(s) ? undefined : s.x;
      if (!isArrayLike(ys) || ys.length === 0) {
        throw new Error(`${builder}: series ${JSON.stringify(name)} field 'y' is empty; give it at least one point`);
      }
      if (xs !== undefined && xs.length !== ys.length) {
        throw new Error(
          `${builder}: series ${JSON.stringify(name)}: 'x' has ${xs.length} values but 'y' has ${ys.length}; ` +
            `x and y must have the same length`,
        );
      }
      for (let i = 0; i < ys.length; i++) add(name, i, xs ? xs[i] : i, ys[i], { [color!]: name });
    }
  } else {
    if (!Array.isArray(data) || data.length === 0) {
      throw new Error(`${builder}: 'data' is empty; pass rows such as [{ ${x}: 1, ${y}: 0.5 }]`);
    }
    const names = new Set<string>();
    data.forEach((r, i) => {
      const label = color === undefined ? undefined : String(r[color]);
      if (label !== undefined) names.add(label);
      const extra: Record<string, unknown> = {};
      for (const k of keep) extra[k] = r[k];
      add(label ?? '', i, r[x], r[y], label === undefined ? extra : { ...extra, [color!]: label });
    });
    out.names = color === undefined ? [''] : [...names];
  }
  if (out.rows.length === 0) {
    throw new Error(`${builder}: every point is NaN or ±Infinity (first: ${out.firstDropped}); nothing to draw`);
  }
  return out;
}

/** "2 non-finite points dropped (first: series "relu" index 5 y = NaN)" or "". */
export function droppedNote(r: { dropped: number; firstDropped?: string }): string {
  if (r.dropped === 0) return '';
  return `${r.dropped} non-finite point${r.dropped === 1 ? '' : 's'} dropped (first: ${r.firstDropped})`;
}

function isArrayLike(v: unknown): v is ArrayLike<number> {
  return Array.isArray(v) || ArrayBuffer.isView(v);
}
