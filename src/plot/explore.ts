/**
 * Explorable figures: Vega-Lite parameters over a precomputed grid.
 *
 * Every row of a figure's data carries the control's field (say `h`); the spec gets a
 * parameter bound to an input widget (a slider for an evenly spaced numeric grid, a
 * dropdown or radio buttons otherwise) and a filter `datum.h == h`, so moving the widget
 * shows another slice of the same precomputed data. Nothing runs in a kernel: the figure
 * works in a saved notebook (JupyterLab renders the spec with vega-embed) and in the HTML
 * export (vega inlined). The static SVG shows the slice at `init`.
 *
 * ```ts
 * const rows = hs.flatMap((h) => xs.map((x) => ({ x, error: fdError(x, h), 'log10 h': Math.log10(h) })));
 * gl.plot.line({ data: rows, x: 'x', y: 'error', explore: { field: 'log10 h', label: '步长 log10 h' } });
 * gl.plot.line({ data, x: 'layer', y: 'norm', color: 'activation',
 *                explore: [{ field: 'depth' }, { field: 'init', input: 'radio' }] });
 * ```
 * Used in notebooks/01-backprop (finite-difference step h, depth and init scheme).
 */

/** One control of an explorable figure. */
export interface ExploreControl {
  /** The row field the control selects on; every row must carry it (a number or a string). */
  field: string;
  /** The widget's label. Default: the field name. */
  label?: string;
  /**
   * The values the widget offers, in order. Default: the distinct values of the field
   * (numbers ascending, strings in order of first appearance). Each must occur in the data.
   */
  values?: readonly (number | string)[];
  /**
   * 'range' (a slider: numbers on an evenly spaced grid only), 'select' (dropdown) or 'radio'.
   * Default: 'range' for an evenly spaced numeric grid, 'radio' for up to 5 other values, else 'select'.
   */
  input?: 'range' | 'select' | 'radio';
  /** The value shown first (and in the static SVG). Default: the first of `values`. */
  init?: number | string;
}

/** The `explore` option of the builders: one control, or several (each filters the data). */
export type ExploreOption = ExploreControl | readonly ExploreControl[];

/** What a builder merges into its spec. */
export interface ExploreParts {
  /** Vega-Lite `params`, one per control, each bound to its widget. */
  params: Record<string, unknown>[];
  /** Vega-Lite `filter` transforms, one per control. */
  transform: Record<string, unknown>[];
  /** For the text summary: `explorable: slider "h" (12 values, init 1e-5), …`. */
  note: string;
  /** The fields the controls read (builders keep them in the rows). */
  fields: string[];
}

/** Check `explore` against `rows` for `builder` (named in errors) and build the params and filters. */
export function exploreParts(
  builder: string,
  rows: readonly Record<string, unknown>[],
  explore: ExploreOption,
): ExploreParts {
  const controls = (Array.isArray(explore) ? explore : [explore]) as ExploreControl[];
  if (controls.length === 0) throw new Error(`${builder}: 'explore' is an empty array; give at least one { field }`);
  const out: ExploreParts = { params: [], transform: [], note: '', fields: [] };
  const notes: string[] = [];
  controls.forEach((c, k) => {
    if (!c || typeof c.field !== 'string' || c.field === '') {
      throw new Error(`${builder}: explore[${k}] needs a 'field' naming the row field the control selects on`);
    }
    const f = c.field;
    if (out.fields.includes(f)) throw new Error(`${builder}: explore has field '${f}' twice`);
    const seen: (number | string)[] = [];
    const seenSet = new Set<number | string>();
    rows.forEach((r, i) => {
      const v = r[f];
      if (!(typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)))) {
        throw new Error(
          `${builder}: row ${i} has ${f} = ${String(v)}; an explorable figure needs every row to carry ` +
            `the control field '${f}' as a finite number or a string`,
        );
      }
      if (!seenSet.has(v)) { seenSet.add(v); seen.push(v); }
    });
    const numeric = seen.every((v) => typeof v === 'number');
    if (!numeric && seen.some((v) => typeof v === 'number')) {
      throw new Error(`${builder}: field '${f}' mixes numbers and strings; use one type for a control`);
    }
    const values = c.values ? [...c.values] : numeric ? (seen as number[]).sort((a, b) => a - b) : seen;
    if (values.length === 0) throw new Error(`${builder}: explore '${f}' has no values`);
    for (const v of values) {
      if (!seenSet.has(v)) {
        throw new Error(`${builder}: explore '${f}' offers ${JSON.stringify(v)}, which no row has; the view would be empty`);
      }
    }
    const init = c.init ?? values[0];
    if (!values.includes(init)) {
      throw new Error(`${builder}: explore '${f}' init ${JSON.stringify(init)} is not one of its values ${JSON.stringify(values)}`);
    }
    const step = numeric ? gridStep(values as number[]) : null;
    const input = c.input ?? (step !== null && values.length > 1 ? 'range' : values.length <= 5 ? 'radio' : 'select');
    if (input === 'range' && (step === null || !numeric)) {
      throw new Error(
        `${builder}: explore '${f}' asks for a slider, but its values ${JSON.stringify(values.slice(0, 6))}` +
          `${values.length > 6 ? '…' : ''} are not an evenly spaced numeric grid (sorted ascending); ` +
          `use input: 'select', or explore a transformed field (e.g. log10 h)`,
      );
    }
    if (!['range', 'select', 'radio'].includes(input)) {
      throw new Error(`${builder}: explore '${f}' input ${JSON.stringify(input)}; use 'range', 'select' or 'radio'`);
    }
    const name = `explore_${k}`;
    const label = c.label ?? f;
    const ref = `datum[${JSON.stringify(f)}]`;
    if (input === 'range') {
      const nums = values as number[];
      const s = step ?? 1;
      out.params.push({
        name, value: init,
        bind: { input: 'range', min: nums[0], max: nums[nums.length - 1], step: s, name: `${label} ` },
      });
      // Equality on the grid, robust to the slider's decimal rounding.
      out.transform.push({ filter: `abs(${ref} - ${name}) < ${s / 2}` });
      notes.push(`slider ${JSON.stringify(label)} (${values.length} values, init ${init})`);
    } else {
      out.params.push({ name, value: init, bind: { input, options: values, name: `${label} ` } });
      out.transform.push({ filter: `${ref} == ${name}` });
      notes.push(`${input === 'radio' ? 'radio buttons' : 'dropdown'} ${JSON.stringify(label)} (${values.length} values, init ${JSON.stringify(init)})`);
    }
    out.fields.push(f);
  });
  out.note = `explorable: ${notes.join(', ')}`;
  return out;
}

/** The spacing of an evenly spaced ascending grid (relative tolerance 1e-6), else null. */
export function gridStep(values: readonly number[]): number | null {
  if (values.length < 2) return values.length === 1 ? 1 : null;
  const step = (values[values.length - 1] - values[0]) / (values.length - 1);
  if (!(step > 0)) return null;
  for (let i = 0; i < values.length; i++) {
    if (Math.abs(values[i] - (values[0] + i * step)) > 1e-6 * step) return null;
  }
  // Round away float noise (0.30000000000000004 -> 0.3) so the widget shows a clean step.
  return Number(step.toPrecision(12));
}

/** [min, max] of a numeric field over all rows (every slice shares these axes). */
export function extent(rows: readonly Record<string, unknown>[], field: string): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const r of rows) {
    const v = r[field];
    if (typeof v === 'number' && Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }
  return [lo, hi];
}
