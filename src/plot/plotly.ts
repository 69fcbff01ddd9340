/**
 * Plotly figures for 3-D and heavy interaction, rendered offline.
 *
 * A {@link PlotlyFigure} displays as one bundle:
 *
 * - `application/vnd.plotly.v1+json`: `{ data, layout, config }` (JupyterLab with
 *   the Plotly renderer);
 * - `text/html`: a `<div>` and a script calling `Plotly.newPlot` (classic
 *   Notebook, nbconvert, VS Code). plotly.js itself (plotly.js-dist, about
 *   11 MB) is inlined in the FIRST figure's HTML of a {@link PlotlySession};
 *   later figures use the `window.Plotly` it defined.
 *   No CDN or other URL is ever referenced;
 * - `text/plain`: a one-line summary.
 */
import { randomBytes } from 'crypto';
import { readFileSync } from 'fs';
import { JUPYTER_DISPLAY, type Displayable, type MimeBundle } from '../display';
import { toJsonSafe } from './json';

/** The MIME type of Plotly figure JSON. */
export const PLOTLY_MIME = 'application/vnd.plotly.v1+json';

/** One Plotly trace (`{ type: 'surface', x, y, z, ... }`), plain JSON. */
export type PlotlyTrace = Record<string, unknown>;

/**
 * Whether plotly.js has been inlined in this kernel session's outputs.
 *
 * The kernel process is the session: the first figure displayed inlines the
 * library and sets `inlined`; later figures only call `window.Plotly`. If the
 * page lost it (outputs cleared, a figure shown alone), a later figure shows
 * a message saying to call `gl.plot.plotlySession.reset()` and display again.
 */
export class PlotlySession {
  /** True once a figure's HTML has carried plotly.js. */
  inlined = false;
  /** Forget that plotly.js was inlined: the next figure inlines it again. */
  reset(): void {
    this.inlined = false;
  }
}

/** The session used when none is passed: one per kernel (Node process). */
export const plotlySession = new PlotlySession();

/** A Plotly figure: traces, layout, config and a one-line summary. */
export class PlotlyFigure implements Displayable {
  /** The traces, e.g. a surface then one scatter3d per trajectory. */
  readonly data: PlotlyTrace[];
  /** Plotly layout: titles, axes, height. */
  readonly layout: Record<string, unknown>;
  /** Plotly config; `displaylogo: false` unless given. */
  readonly config: Record<string, unknown>;

  /**
   * Copies the inputs as JSON: non-finite numbers become `null` (Plotly's gap)
   * and typed arrays plain arrays. `summary` is the `text/plain` form.
   */
  constructor(
    data: PlotlyTrace[],
    layout: Record<string, unknown> = {},
    config: Record<string, unknown> = {},
    readonly summary = `<Plotly figure: ${data.length} traces>`,
  ) {
    const safe = toJsonSafe({ data, layout, config: { displaylogo: false, ...config } }).value as {
      data: PlotlyTrace[];
      layout: Record<string, unknown>;
      config: Record<string, unknown>;
    };
    this.data = safe.data;
    this.layout = safe.layout;
    this.config = safe.config;
  }

  /** `{ data, layout, config }`, the Plotly JSON. */
  toJSON(): { data: PlotlyTrace[]; layout: Record<string, unknown>; config: Record<string, unknown> } {
    return { data: this.data, layout: this.layout, config: this.config };
  }

  /** Offline HTML; inlines plotly.js when `session` has not done so yet (and marks it). */
  html(session: PlotlySession = plotlySession): string {
    const id = 'gl-plotly-' + randomBytes(6).toString('hex');
    const height = typeof this.layout.height === 'number' ? `${this.layout.height}px` : '480px';
    const lib = session.inlined ? '' : libraryScript();
    session.inlined = true;
    const fig = scriptSafe(JSON.stringify(this.toJSON()));
    return (
      `<div id="${id}" style="width:100%;height:${height}"></div>\n${lib}` +
      `<script type="text/javascript">(function () {\n` +
      `  var el = document.getElementById(${JSON.stringify(id)}), fig = ${fig}, tries = 0;\n` +
      `  function draw() { window.Plotly.newPlot(el, fig.data, fig.layout, fig.config); }\n` +
      `  if (window.Plotly) return draw();\n` +
      `  var t = setInterval(function () {\n` +
      `    if (window.Plotly) { clearInterval(t); draw(); }\n` +
      `    else if (++tries > 50) { clearInterval(t); el.textContent = 'plotly.js is not loaded on this page: ' +\n` +
      `      'run gl.plot.plotlySession.reset() and display the figure again (it will inline plotly.js).'; }\n` +
      `  }, 100);\n` +
      `})();</script>`
    );
  }

  /** The Jupyter bundle: Plotly JSON, offline HTML, summary. */
  [JUPYTER_DISPLAY](): MimeBundle {
    return { [PLOTLY_MIME]: this.toJSON(), 'text/html': this.html(), 'text/plain': this.summary };
  }
}

/**
 * Wrap your own Plotly traces and layout as a figure.
 *
 * ```ts
 * gl.plot.plotly([{ type: 'scatter3d', mode: 'markers', x, y, z }], { title: { text: 'Embeddings' } });
 * ```
 * Used in notebooks/02-optim (custom 3-D views).
 */
export function plotly(
  data: PlotlyTrace[],
  layout: Record<string, unknown> = {},
  config: Record<string, unknown> = {},
): PlotlyFigure {
  if (!Array.isArray(data) || data.length === 0) {
    throw new Error(`plotly: 'data' must be a non-empty array of traces such as [{ type: 'surface', z }]`);
  }
  const types = data.map((t) => String(t?.type ?? 'scatter'));
  const title = (layout.title as { text?: string } | string | undefined) ?? '';
  const text = typeof title === 'string' ? title : (title.text ?? '');
  const nulls = toJsonSafe(data).replaced;
  const notes = [text ? `title ${JSON.stringify(text)}` : '', nulls ? `${nulls} non-finite number${nulls === 1 ? '' : 's'} set to null` : ''];
  return new PlotlyFigure(data, layout, config,
    `<Plotly figure: ${data.length} traces (${types.join(', ')})${notes.filter((s) => s).map((s) => '; ' + s).join('')}>`);
}

/** `<script>` defining window.Plotly from the installed plotly.js-dist, unless already defined. */
function libraryScript(): string {
  const file = require.resolve('plotly.js-dist');
  const version = (require('plotly.js-dist/package.json') as { version: string }).version;
  const src = readFileSync(file, 'utf8');
  return (
    `<script type="text/javascript">/* plotly.js-dist ${version}, inlined by gradlab (offline) */\n` +
    `if (typeof window.Plotly === 'undefined') {\n${src.replace(/<\/(script)/gi, '<\\/$1')}\n}</script>\n`
  );
}

/** JSON (as a JS literal) that cannot close the surrounding <script> element early. */
function scriptSafe(s: string): string {
  return s.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}
