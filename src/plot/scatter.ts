/**
 * Scatter plots: one dot per point, colored by series.
 */
import type { LineOptions } from './line';
import { explorable, xySpec } from './line';
import { exploreParts } from './explore';
import { droppedNote, xyRows } from './series';
import { summaryLine, VegaLiteFigure } from './vegalite';

/** Options of {@link scatter}: those of `line` (without `points`, `dashes`, `arrows`) plus dot size. */
export interface ScatterOptions extends Omit<LineOptions, 'points' | 'dashes' | 'arrows'> {
  /** Dot area in square pixels. Default 30. */
  size?: number;
  /** Dot opacity in [0, 1]. Default 0.8. */
  opacity?: number;
}

/**
 * Draw one filled dot per point; series get their own color and legend entry.
 * Input, defaults, the NaN / log-axis policy and `explore` are those of `line`.
 *
 * ```ts
 * gl.plot.scatter({ data: runs, x: 'lr', y: 'final loss', color: 'optimizer', logX: true });
 * ```
 * Used in notebooks/02-optim (learning-rate sweeps) and notebooks/03-gpu
 * (measured FLOP/s against arithmetic intensity).
 */
export function scatter(opts: ScatterOptions): VegaLiteFigure {
  const { size = 30, opacity = 0.8 } = opts;
  const ex = opts.explore ? explorable('scatter', opts) : undefined;
  const r = xyRows('scatter', opts, ex?.fields ?? []);
  const parts = ex ? exploreParts('scatter', r.rows, opts.explore!) : undefined;
  const spec = xySpec(opts, r, { type: 'point', filled: true, size, opacity }, parts);
  const counts = [`${r.names.length} series`, `${r.rows.length} points`];
  const notes = [droppedNote(r), parts?.note ?? ''].filter((n) => n).join('; ');
  return new VegaLiteFigure(spec, summaryLine('scatter plot', counts, opts.title, notes));
}
