/**
 * Self-contained HTML for executed notebooks and the `out/index.html` listing.
 * Nothing is loaded from the network: Markdown is rendered with marked, LaTeX
 * with KaTeX to MathML (no fonts or CSS needed), vega / vega-lite / plotly.js
 * are inlined once per page and only on pages that have such outputs.
 *
 * Outputs pick one MIME type in JupyterLab's order: Vega-Lite > Plotly >
 * HTML > SVG > PNG > JPEG > Markdown > LaTeX > plain text. A Vega-Lite
 * output shows its static SVG and becomes interactive when the script runs;
 * if the script fails, the SVG stays.
 */
import * as fs from 'fs';
import katex from 'katex';
import { marked } from 'marked';
import { escapeHtml } from '../src/display/html';
import { cellSource, joinText, type Cell, type Notebook, type NotebookData, type Output } from './notebook';

export { escapeHtml };

/** Remove ANSI escape sequences (colours, cursor moves, terminal titles). */
export function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007]*\u0007/g, '');
}

/** LaTeX to MathML with KaTeX; errors are shown in place, never thrown. */
export function renderMath(tex: string, display: boolean): string {
  return katex.renderToString(tex, { output: 'mathml', displayMode: display, throwOnError: false, strict: 'ignore' });
}

/**
 * Markdown with math: `$...$`, `$$...$$`, `\(...\)`, `\[...\]` are cut out
 * first (skipping code spans and fenced blocks) so marked cannot mangle `_`,
 * `*` or `\\` inside them, then put back as MathML.
 */
export function renderMarkdown(md: string): string {
  const math: string[] = [];
  const keep = (tex: string, display: boolean) => `GRADLABMATH${math.push(renderMath(tex, display)) - 1}END`;
  let out = '';
  let i = 0;
  while (i < md.length) {
    const lineStart = i === 0 || md[i - 1] === '\n';
    const fence = lineStart ? /^ {0,3}(`{3,}|~{3,})[^\n]*\n?/.exec(md.slice(i)) : null;
    if (fence) {
      const close = new RegExp(`\\n {0,3}${fence[1][0] === '`' ? '`' : '~'}{${fence[1].length},}[ \\t]*(?=\\n|$)`);
      const m = close.exec(md.slice(i + fence[0].length - 1));
      const end = m ? i + fence[0].length - 1 + m.index + m[0].length : md.length;
      out += md.slice(i, end);
      i = end;
      continue;
    }
    const rest = md.slice(i);
    let m: RegExpExecArray | null;
    if ((m = /^`+/.exec(rest))) {
      const close = rest.indexOf(m[0], m[0].length);
      const end = close < 0 ? m[0].length : close + m[0].length;
      out += rest.slice(0, end);
      i += end;
    } else if ((m = /^\$\$([\s\S]+?)\$\$/.exec(rest)) || (m = /^\\\[([\s\S]+?)\\\]/.exec(rest))) {
      out += keep(m[1], true);
      i += m[0].length;
    } else if ((m = /^\\\(([\s\S]+?)\\\)/.exec(rest)) || (m = /^\$(?!\s)((?:\\.|[^$\\\n]|\n(?!\s*\n))+?)(?<![\s\\])\$(?!\d)/.exec(rest))) {
      out += keep(m[1], false);
      i += m[0].length;
    } else if (rest[0] === '\\') {
      out += rest.slice(0, 2);
      i += 2;
    } else {
      out += rest[0];
      i += 1;
    }
  }
  const html = marked.parse(out, { async: false, gfm: true }) as string;
  return html.replace(/GRADLABMATH(\d+)END/g, (_, n: string) => math[Number(n)]);
}

/**
 * Point relative links to notebooks at the exported pages: `02-tensors.ipynb#shapes` becomes
 * `02-tensors.html#shapes` (the export writes `<chapter>/<name>.html` beside each other, as
 * the notebooks lie in `notebooks/<chapter>/`). Absolute URLs (`https://…/x.ipynb`) are kept.
 */
export function notebookLinksToHtml(html: string): string {
  return html.replace(/(<a\b[^>]*?\bhref=")([^"]*)(")/gi, (m, open: string, href: string, close: string) => {
    if (/^(?:[a-z][a-z0-9+.-]*:|\/\/)/i.test(href)) return m;
    return open + href.replace(/\.ipynb(?=$|[#?])/i, '.html') + close;
  });
}

/** The text of the first Markdown heading, else `fallback`. */
export function notebookTitle(nb: Notebook, fallback: string): string {
  for (const cell of nb.cells) {
    if (cell.cell_type !== 'markdown') continue;
    const m = /^#{1,6}[ \t]+(.+?)[ \t#]*$/m.exec(cellSource(cell));
    if (m) return m[1].replace(/[*_`]/g, '').trim();
  }
  return fallback;
}

const VEGALITE = /^application\/vnd\.vegalite\.v\d+\+json$/;
const PLOTLY = 'application/vnd.plotly.v1+json';
const ORDER = ['text/html', 'image/svg+xml', 'image/png', 'image/jpeg', 'text/markdown', 'text/latex', 'text/plain'];

/**
 * What a page needs inlined once, collected while rendering its outputs: the
 * chart libraries, and a counter that makes each chart's spec id (`spec-<n>`)
 * unique on the page. Share one across every cell of a page (or deck).
 */
export interface PageNeeds {
  vega: boolean;
  plotly: boolean;
  specs: number;
}

/** A fresh {@link PageNeeds}: no libraries, specs counted from 0. */
export function newPageNeeds(): PageNeeds {
  return { vega: false, plotly: false, specs: 0 };
}

function jsonScript(id: string, value: unknown): string {
  return `<script type="application/json" id="${id}">${JSON.stringify(value).replace(/</g, '\\u003c')}</script>`;
}

function renderData(data: NotebookData, needs: PageNeeds): string {
  const keys = Object.keys(data);
  const vl = keys.find((k) => VEGALITE.test(k));
  const fallback = () => renderData(Object.fromEntries(Object.entries(data).filter(([k]) => ORDER.includes(k))), needs);
  if (vl) {
    needs.vega = true;
    const id = `spec-${needs.specs++}`;
    return `<div class="vega" data-spec="${id}"><div class="static">${fallback()}</div></div>${jsonScript(id, data[vl])}`;
  }
  if (PLOTLY in data) {
    needs.plotly = true;
    const id = `spec-${needs.specs++}`;
    const rest = Object.fromEntries(Object.entries(data).filter(([k]) => ORDER.includes(k) && k !== 'text/html'));
    return `<div class="plotly" data-spec="${id}"><div class="static">${renderData(rest, needs)}</div></div>${jsonScript(id, data[PLOTLY])}`;
  }
  const mime = ORDER.find((k) => k in data);
  if (!mime) return keys.length ? `<pre class="plain">[no renderable output: ${escapeHtml(keys.join(', '))}]</pre>` : '';
  const text = joinText(data[mime]);
  switch (mime) {
    case 'text/html': return `<div class="html">${text}</div>`;
    case 'image/svg+xml': return `<div class="svg">${text.replace(/<\?xml[^>]*\?>|<!DOCTYPE[^>]*>/gi, '')}</div>`;
    case 'image/png':
    case 'image/jpeg': return `<img alt="" src="data:${mime};base64,${text.replace(/\s/g, '')}">`;
    case 'text/markdown': return `<div class="markdown">${renderMarkdown(text)}</div>`;
    case 'text/latex': return `<div class="latex">${renderMath(text.trim().replace(/^\$\$?|\$\$?$/g, ''), true)}</div>`;
    default: return `<pre class="plain">${escapeHtml(stripAnsi(text))}</pre>`;
  }
}

/**
 * One output as HTML (stream, error, or the MIME bundle's best type, see the
 * module comment). A Vega-Lite or Plotly output becomes a `<div class="vega|plotly"
 * data-spec="spec-<n>">` holding the static fallback plus a JSON script with the
 * spec; the page's viewer script makes it live. Records in `needs` what to inline.
 */
export function renderOutput(o: Output, needs: PageNeeds): string {
  switch (o.output_type) {
    case 'stream': return `<pre class="stream ${escapeHtml(o.name)}">${escapeHtml(stripAnsi(joinText(o.text)))}</pre>`;
    case 'error': {
      const head = `${o.ename}: ${o.evalue}`;
      const trace = o.traceback.map(stripAnsi).filter((l, i) => !(i === 0 && l.startsWith(`${o.ename}:`)));
      return `<pre class="error"><b>${escapeHtml(stripAnsi(head))}</b>\n${escapeHtml(trace.join('\n'))}</pre>`;
    }
    default: return renderData(o.data, needs);
  }
}

/** A code cell's outputs, each through {@link renderOutput}, joined by newlines ('' when none). */
export function renderOutputs(cell: Cell, needs: PageNeeds): string {
  return (cell.outputs ?? []).map((o) => renderOutput(o, needs)).join('\n');
}

/** A Markdown cell's HTML: {@link renderMarkdown}, then {@link notebookLinksToHtml}. */
export function renderMarkdownCell(cell: Cell): string {
  return notebookLinksToHtml(renderMarkdown(cellSource(cell)));
}

function renderCell(cell: Cell, index: number, needs: PageNeeds, failed: boolean): string {
  const id = `cell-${index}`;
  if (cell.cell_type === 'markdown') {
    return `<section class="cell markdown" id="${id}">${renderMarkdownCell(cell)}</section>`;
  }
  if (cell.cell_type === 'raw') {
    const fmt = String(cell.metadata.format ?? cell.metadata.raw_mimetype ?? '');
    return fmt === 'text/html' ? `<section class="cell raw" id="${id}">${cellSource(cell)}</section>` : '';
  }
  const count = cell.execution_count ?? ' ';
  const outs = renderOutputs(cell, needs);
  return `<section class="cell code${failed ? ' failed' : ''}" id="${id}">` +
    `<div class="in"><span class="prompt">[${count}]</span><pre class="source"><code>${escapeHtml(cellSource(cell))}</code></pre></div>` +
    (outs ? `<div class="outputs">${outs}</div>` : '') + '</section>';
}

const libCache = new Map<string, string>();
/** `<script>` with the file `module` resolves to, inlined (`</script` escaped); read once per process. */
export function inlineScript(module: string): string {
  let src = libCache.get(module);
  if (src === undefined) {
    src = fs.readFileSync(require.resolve(module), 'utf8').replace(/<\/script/gi, '<\\/script');
    libCache.set(module, src);
  }
  return `<script>${src}</script>`;
}

const VIEWERS = `<script>
for (const el of document.querySelectorAll('.vega[data-spec]')) {
  const target = document.createElement('div');
  try {
    const spec = JSON.parse(document.getElementById(el.dataset.spec).textContent);
    el.appendChild(target);
    new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'svg', hover: true })
      .initialize(target).runAsync()
      .then(() => el.querySelector('.static').remove())
      .catch((e) => { target.remove(); console.warn('gradlab: kept the static chart', e); });
  } catch (e) { target.remove(); console.warn('gradlab: kept the static chart', e); }
}
for (const el of document.querySelectorAll('.plotly[data-spec]')) {
  const target = document.createElement('div');
  try {
    const fig = JSON.parse(document.getElementById(el.dataset.spec).textContent);
    el.appendChild(target);
    Plotly.newPlot(target, fig.data, fig.layout || {}, Object.assign({ responsive: true }, fig.config))
      .then(() => el.querySelector('.static').remove())
      .catch((e) => { target.remove(); console.warn('gradlab: kept the static figure', e); });
  } catch (e) { target.remove(); console.warn('gradlab: kept the static figure', e); }
}
</script>`;

const STYLE = `<style>
:root { --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --code: #f6f8fa; --ok: #1a7f37; --bad: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; font: 16px/1.65 -apple-system, "Segoe UI", "Noto Sans", "PingFang SC", "Microsoft YaHei", sans-serif; }
header, main, footer { max-width: 980px; margin: 0 auto; padding: 0 20px; }
header { display: flex; gap: 16px; align-items: baseline; padding-top: 16px; color: var(--muted); font-size: 14px; }
a { color: #0969da; text-decoration: none; } a:hover { text-decoration: underline; }
h1, h2, h3 { line-height: 1.25; } h1 { font-size: 2em; border-bottom: 1px solid var(--line); padding-bottom: .3em; }
pre, code { font: 13.5px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { margin: 0; padding: 10px 12px; overflow-x: auto; white-space: pre-wrap; word-break: break-word; }
.markdown code { background: var(--code); padding: .15em .35em; border-radius: 4px; }
.markdown pre { background: var(--code); border-radius: 6px; }
.markdown table { border-collapse: collapse; } .markdown th, .markdown td { border: 1px solid var(--line); padding: 4px 10px; }
.cell { margin: 14px 0; }
.code .in { display: flex; gap: 8px; } .prompt { color: var(--muted); font: 12px ui-monospace, monospace; min-width: 3.5em; padding-top: 12px; text-align: right; }
.source { flex: 1; background: var(--code); border: 1px solid var(--line); border-radius: 6px; }
.outputs { margin-left: calc(3.5em + 8px); } .outputs > * { margin-top: 6px; }
.stream.stderr { background: #fff8e6; } .error { background: #ffebe9; color: #82071e; border-radius: 6px; }
.failed .source { border-color: var(--bad); box-shadow: 0 0 0 1px var(--bad); }
.failure { background: #ffebe9; border: 1px solid var(--bad); border-radius: 6px; margin: 16px 0; }
.outputs img, .outputs svg { max-width: 100%; height: auto; }
math[display="block"] { margin: .8em 0; overflow-x: auto; overflow-y: hidden; }
.ok { color: var(--ok); font-weight: 600; } .bad { color: var(--bad); font-weight: 600; }
table.list { width: 100%; border-collapse: collapse; } .list td, .list th { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); }
.list .err { color: var(--bad); font-size: 13px; } .num { text-align: right; white-space: nowrap; } .muted { color: var(--muted); }
</style>`;

/** A self-contained page in the export's style (no scripts unless given). */
export function page(title: string, head: string, body: string, scripts = ''): string {
  return `<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
    `<title>${escapeHtml(title)}</title>\n${STYLE}\n</head>\n<body>\n<header>${head}</header>\n<main>\n${body}\n</main>\n${scripts}</body>\n</html>\n`;
}

/** Options of {@link notebookPage}. */
export interface PageOptions {
  title: string;
  ok: boolean;
  seconds: number;
  /** Failure report shown at the top (see formatFailure). */
  failure?: string;
  /** Index among all cells of the failing cell, highlighted and linked. */
  failedCell?: number;
  /** Link back to the listing. */
  indexHref?: string;
}

/** The chart libraries `needs` asks for (vega + vega-lite, plotly.js), inlined; '' when none. */
export function chartLibraries(needs: PageNeeds): string {
  return (needs.vega ? inlineScript('vega/build/vega.min.js') + inlineScript('vega-lite/build/vega-lite.min.js') : '') +
    (needs.plotly ? inlineScript('plotly.js-dist/plotly.js') : '');
}

/** One executed notebook as a self-contained page. */
export function notebookPage(nb: Notebook, opts: PageOptions): string {
  const needs = newPageNeeds();
  const cells = nb.cells.map((c, i) => renderCell(c, i, needs, i === opts.failedCell)).join('\n');
  const status = `<span class="${opts.ok ? 'ok' : 'bad'}">${opts.ok ? 'ok' : 'failed'}</span> · ${opts.seconds.toFixed(1)} s`;
  const head = (opts.indexHref ? `<a href="${escapeHtml(opts.indexHref)}">← all notebooks</a>` : '') + `<span>${status}</span>`;
  const failure = opts.failure
    ? `<pre class="failure">${escapeHtml(stripAnsi(opts.failure))}${opts.failedCell !== undefined ? `\n<a href="#cell-${opts.failedCell}">go to the failing cell</a>` : ''}</pre>\n`
    : '';
  const scripts = chartLibraries(needs) + (needs.vega || needs.plotly ? VIEWERS : '');
  return page(opts.title, head, failure + cells, scripts);
}
