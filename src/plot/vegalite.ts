/**
 * Vega-Lite figures: a plain JSON spec plus a static SVG rendered in Node.
 *
 * Every builder in this folder (`line`, `scatter`, `histogram`, `heatmap`,
 * `bar`) returns a {@link VegaLiteFigure}. Displaying it sends ONE bundle:
 *
 * - `application/vnd.vegalite.v5+json`: the spec, rendered live by JupyterLab;
 * - `image/svg+xml`: the same chart drawn by vega in Node, for GitHub,
 *   nbconvert and the classic Notebook;
 * - `text/plain`: a one-line summary such as
 *   `<VegaLite line chart: 3 series, 200 points; title "Activations">`.
 *
 * Specs are self-contained: data is inline (`data.values`), never a URL, and
 * holds only JSON values (JSON has no NaN): builders drop non-finite points
 * and count them in the summary; {@link vegaLite} replaces them with `null`.
 *
 * vega and vega-lite 5 are CommonJS and are loaded on first render, so
 * `import * as gl from 'gradlab'` stays fast.
 */
import type { LoggerInterface, Spec as VegaSpec } from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import { JUPYTER_DISPLAY, type Displayable, type MimeBundle } from '../display';
import { toJsonSafe } from './json';

/** The schema every spec declares. */
export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
/** The MIME type JupyterLab renders Vega-Lite 5 specs from. */
export const VEGA_LITE_MIME = 'application/vnd.vegalite.v5+json';

/** A Vega-Lite spec as plain JSON (checked by vega-lite when compiled). */
export type VegaLiteSpec = Record<string, unknown>;

/** Options every Vega-Lite builder shares. */
export interface ChartOptions {
  /** Chart title. Default: none. */
  title?: string;
  /** Width of the plot area in pixels. Default 400. */
  width?: number;
  /** Height of the plot area in pixels. Default 250. */
  height?: number;
}

/** A Vega-Lite chart: its spec, its SVG and its Jupyter bundle. */
export class VegaLiteFigure implements Displayable {
  /**
   * @param spec a self-contained Vega-Lite v5 spec (inline data only)
   * @param summary the `text/plain` form, e.g. `<VegaLite bar chart: ...>`
   */
  constructor(
    readonly spec: VegaLiteSpec,
    readonly summary: string,
  ) {}

  /** Compile to Vega; `warnings` lists what vega-lite logged (empty for a clean spec). */
  compile(): { vega: VegaSpec; warnings: string[] } {
    const vl = require('vega-lite') as typeof import('vega-lite');
    const logger = new CollectingLogger();
    // A copy: vega tags the data rows it ingests (Symbol(vega_id)), the spec must stay plain.
    const out = vl.compile(structuredClone(this.spec) as unknown as TopLevelSpec, { logger });
    return { vega: out.spec, warnings: logger.messages };
  }

  /** Render the chart to an SVG string in Node (vega's headless renderer); prints vega-lite's warnings. */
  async svg(): Promise<string> {
    const vega = require('vega') as typeof import('vega');
    const { vega: compiled, warnings } = this.compile();
    for (const w of warnings) console.warn(`vega-lite ${w}`);
    const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
    try {
      return await view.toSVG();
    } finally {
      view.finalize();
    }
  }

  /** The Jupyter bundle: Vega-Lite spec, static SVG, one-line summary. */
  async [JUPYTER_DISPLAY](): Promise<MimeBundle> {
    return {
      [VEGA_LITE_MIME]: this.spec,
      'image/svg+xml': await this.svg(),
      'text/plain': this.summary,
    };
  }

  /** The spec, so `JSON.stringify(fig)` gives the Vega-Lite JSON. */
  toJSON(): VegaLiteSpec {
    return this.spec;
  }
}

/**
 * Wrap your own Vega-Lite spec as a figure (adds `$schema` when missing).
 * Typed arrays become plain arrays and non-finite numbers become `null`
 * (Vega-Lite then leaves those points out); the summary counts them.
 * Throws when the spec loads data from a URL: inline it as `data.values`.
 *
 * ```ts
 * gl.plot.vegaLite({ mark: 'point', data: { values: rows },
 *   encoding: { x: { field: 'lr', type: 'quantitative', scale: { type: 'log' } },
 *               y: { field: 'loss', type: 'quantitative' } } });
 * ```
 * Used in notebooks/02-optim (learning-rate sweeps).
 */
export function vegaLite(spec: VegaLiteSpec): VegaLiteFigure {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    throw new TypeError(`vegaLite: spec must be a Vega-Lite JSON object, got ${describeValue(spec)}`);
  }
  const { value, replaced, urls } = toJsonSafe(spec);
  if (urls.length > 0) {
    throw new Error(
      `vegaLite: ${urls[0]} loads data from a URL; gradlab figures must be self-contained ` +
        `(saved notebooks render offline): put the rows in data.values instead`,
    );
  }
  const safe: VegaLiteSpec = { $schema: VEGA_LITE_SCHEMA, ...(value as VegaLiteSpec) };
  const mark = (safe.mark as { type?: string } | string | undefined) ?? 'composite';
  const kind = typeof mark === 'string' ? mark : (mark.type ?? 'composite');
  return new VegaLiteFigure(
    safe,
    summaryLine(`${kind} chart`, [], safe.title, replaced ? `${plural(replaced, 'non-finite number')} set to null` : ''),
  );
}

/** `<VegaLite line chart: 3 series, 200 points; title "Loss"; note>`. */
export function summaryLine(kind: string, counts: string[], title: unknown, note = ''): string {
  const parts = [counts.join(', ')];
  if (typeof title === 'string' && title) parts.push(`title ${JSON.stringify(title)}`);
  if (note) parts.push(note);
  const body = parts.filter((p) => p).join('; ');
  return `<VegaLite ${kind}${body ? ': ' + body : ''}>`;
}

/** `plural(1, 'value')` -> '1 value', `plural(3, 'value')` -> '3 values'. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** A field name as Vega-Lite reads it (dots and brackets would mean nesting). */
export function fieldRef(name: string): string {
  return name.replace(/[.[\]\\]/g, (c) => '\\' + c);
}

/** The top of every builder's spec: schema, title, size, inline rows. */
export function baseSpec(opts: ChartOptions, values: object[]): VegaLiteSpec {
  const { title, width = 400, height = 250 } = opts;
  const spec: VegaLiteSpec = { $schema: VEGA_LITE_SCHEMA };
  if (title) spec.title = title;
  // Legends show series names in full (Vega-Lite cuts labels at 160 px by default).
  return { ...spec, width, height, data: { values }, config: { legend: { labelLimit: 400 } } };
}

/** `1.5` -> `1.5`, `[1,2]` -> `array of 2`, for error messages. */
export function describeValue(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'string') return JSON.stringify(v);
  return typeof v === 'object' ? String(v && v.constructor?.name) : String(v);
}

/** A vega logger that keeps warnings and errors instead of printing them. */
class CollectingLogger implements LoggerInterface {
  readonly messages: string[] = [];
  private lvl = 2;
  level(): number;
  level(_: number): this;
  level(l?: number): number | this {
    if (l === undefined) return this.lvl;
    this.lvl = l;
    return this;
  }
  error(...args: readonly unknown[]): this {
    this.messages.push('error: ' + args.map(String).join(' '));
    return this;
  }
  warn(...args: readonly unknown[]): this {
    this.messages.push('warn: ' + args.map(String).join(' '));
    return this;
  }
  info(): this {
    return this;
  }
  debug(): this {
    return this;
  }
}
