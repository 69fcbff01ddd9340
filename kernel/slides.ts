/**
 * `npm run slides`: offline reveal.js decks from the notebooks, for the lecture hall.
 *
 * ```
 * npm run slides                          # one deck per chapter: out/slides/<chapter>.html
 * npm run slides -- 01-backprop           # a chapter (its notebooks in order, without 99-solutions)
 * npm run slides -- 02-schedules          # one notebook: out/slides/02-optim/02-schedules.html
 * npm run slides -- --no-run 01-backprop  # from the committed source (code only, no outputs)
 * ```
 *
 * Slides come from cell tags (`metadata.tags`) or Jupyter's
 * `metadata.slideshow.slide_type`, with nbconvert's slideshow names: `slide`,
 * `subslide`, `fragment`, `notes`, `skip`; an untagged cell continues what
 * came before (the current slide, or the open fragment, as in nbconvert).
 * `hide-input` / `hide-output` show only a code cell's outputs / code; a `hide-input`
 * cell with a chart puts what it printed into the speaker notes.
 * Each notebook starts a new slide. Markdown, math and outputs are rendered
 * by kernel/html.ts exactly as in the HTML export; reveal.js, its notes
 * plugin, a theme and the chart libraries a deck uses are inlined, so a deck
 * is one file that opens from disk without a network.
 *
 * Exit status: 0 every deck written, 1 a notebook failed to run (its deck is
 * still written, with the outputs it got), 2 bad usage.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  chartLibraries, escapeHtml, newPageNeeds, notebookTitle, renderMarkdownCell, renderOutputs, type PageNeeds,
} from './html';
import { cellSource, readNotebook, serializeNotebook, type Cell, type Notebook } from './notebook';
import { listNotebooks, parseCommonArgs, resolveTargets, UsageError, type CommonArgs } from './run';
import { formatFailure, runNotebook } from './runner';


/** The `--help` text. */
export const USAGE = `Usage: npm run slides -- [target ...] [--out <dir>] [--root <dir>] [--no-run] [--timeout <s>]
       node dist/kernel/slides.js [same arguments]

Builds self-contained reveal.js decks (one HTML file each, no network needed):
  a chapter   -> <out>/slides/<chapter>.html  (its notebooks in order, without 99-solutions)
  a notebook  -> <out>/slides/<chapter>/<name>.html
Outputs come from the executed copy <out>/<chapter>/<name>.ipynb (npm start)
when it is newer than the notebook; otherwise the notebook is run first and
its executed copy saved there.

Targets (default: every chapter under the root):
  01-backprop                                 a chapter (a folder under the root)
  02-schedules, 02-schedules.ipynb            a notebook by name
  notebooks/02-optim/02-schedules.ipynb       a path to a notebook or a folder

Slides: tag cells (metadata.tags, or Jupyter's slideshow slide_type) with
  slide, subslide, fragment, notes, skip; untagged cells continue; each
  notebook starts a new slide; hide-input / hide-output on code cells.
In the deck: arrows / space to move, S speaker notes, F fullscreen, O overview.

Options:
  --out <dir>      output folder (default: out/ in the gradlab checkout)
  --root <dir>     where chapters live (default: notebooks/ in the gradlab checkout)
  --no-run         build from the committed notebooks (code only, no outputs); run nothing
  --timeout <s>    per-cell time limit when a notebook has to run (default: 300)
  -h, --help       show this help

Exit status: 0 decks written, 1 a notebook failed to run (deck still written), 2 bad usage.`;

/** nbconvert's slide types; '-' = continue. */
export type SlideType = 'slide' | 'subslide' | 'fragment' | 'notes' | 'skip' | '-';
const TYPES: SlideType[] = ['slide', 'subslide', 'fragment', 'notes', 'skip'];

function tags(cell: Cell): string[] {
  const t = cell.metadata.tags;
  return Array.isArray(t) ? t.filter((x): x is string => typeof x === 'string') : [];
}

/**
 * A cell's slide type: the first of `slide`, `subslide`, `fragment`, `notes`,
 * `skip` among its `metadata.tags`, else Jupyter's `metadata.slideshow.slide_type`,
 * else '-' (continue).
 */
export function slideType(cell: Cell): SlideType {
  const t = tags(cell);
  const tagged = TYPES.find((x) => t.includes(x));
  if (tagged) return tagged;
  const ss = cell.metadata.slideshow as { slide_type?: unknown } | undefined;
  const s = ss && typeof ss === 'object' ? ss.slide_type : undefined;
  return TYPES.includes(s as SlideType) ? (s as SlideType) : '-';
}

/** `hide-input` / `hide-output` tags of a code cell. */
export function hidden(cell: Cell): { input: boolean; output: boolean } {
  const t = tags(cell);
  return { input: t.includes('hide-input'), output: t.includes('hide-output') };
}

/** A notebook going into a deck. */
export interface DeckNotebook {
  /** Notebook name (file name without .ipynb), shown in the footer. */
  name: string;
  chapter: string;
  nb: Notebook;
}

/** One slide: body blocks in order (a fragment block appears on a key press) and speaker notes. */
export interface Slide {
  notebook: string;
  chapter: string;
  title: string;
  blocks: { fragment: boolean; cells: Cell[] }[];
  notes: Cell[];
}

/** A horizontal slide with its vertical sub-slides (`slides[0]` is the horizontal one). */
export interface Stack {
  slides: Slide[];
}

/**
 * The deck's structure from the cells' slide types (see {@link slideType}):
 * each notebook's first kept cell starts a new horizontal slide.
 */
export function deckStructure(notebooks: DeckNotebook[]): Stack[] {
  const stacks: Stack[] = [];
  for (const { name, chapter, nb } of notebooks) {
    const title = notebookTitle(nb, name);
    let current: Slide | undefined;
    let inFragment = false;
    const start = (sub: boolean) => {
      current = { notebook: name, chapter, title, blocks: [], notes: [] };
      if (sub && stacks.length) stacks[stacks.length - 1].slides.push(current);
      else stacks.push({ slides: [current] });
      inFragment = false;
    };
    for (const cell of nb.cells) {
      const type = slideType(cell);
      if (type === 'skip') continue;
      if (!current) start(false);
      else if (type === 'slide') start(false);
      else if (type === 'subslide') start(true);
      const slide = current!;
      if (type === 'notes') {
        slide.notes.push(cell);
        continue;
      }
      if (type === 'fragment') inFragment = true;
      const last = slide.blocks[slide.blocks.length - 1];
      if (type === 'fragment' || !last || last.fragment !== inFragment) slide.blocks.push({ fragment: inFragment, cells: [cell] });
      else last.cells.push(cell);
    }
  }
  return stacks;
}

/** Number of slides reveal.js counts (`Reveal.getTotalSlides()`): every horizontal and vertical slide. */
export function countSlides(stacks: Stack[]): number {
  return stacks.reduce((n, s) => n + s.slides.length, 0);
}

/** A chart or other rich output (display_data / execute_result), as opposed to printed text. */
const isRich = (o: { output_type?: string }) => o.output_type === 'display_data' || o.output_type === 'execute_result';

/**
 * A cell on a slide. A `hide-input` cell that shows a chart keeps its printed text
 * (numbers, tables) off the slide: that text goes to `notes` (the speaker notes), when given.
 */
function renderSlideCell(cell: Cell, needs: PageNeeds, notes?: string[]): string {
  if (cell.cell_type === 'markdown') return `<div class="cell markdown">${renderMarkdownCell(cell)}</div>`;
  if (cell.cell_type === 'raw') {
    const fmt = String(cell.metadata.format ?? cell.metadata.raw_mimetype ?? '');
    return fmt === 'text/html' ? `<div class="cell raw">${cellSource(cell)}</div>` : '';
  }
  const hide = hidden(cell);
  const src = cellSource(cell).replace(/\s+$/, '');
  const input = hide.input || !src ? '' : `<pre class="source"><code>${escapeHtml(src)}</code></pre>`;
  let shown = cell;
  const outputs = cell.outputs ?? [];
  if (hide.input && notes && outputs.some(isRich) && outputs.some((o) => o.output_type === 'stream')) {
    notes.push(renderOutputs({ ...cell, outputs: outputs.filter((o) => o.output_type === 'stream') }, needs));
    shown = { ...cell, outputs: outputs.filter((o) => o.output_type !== 'stream') };
  }
  const outs = hide.output ? '' : renderOutputs(shown, needs);
  if (!input && !outs) return '';
  return `<div class="cell code">${input}${outs ? `<div class="outputs">${outs}</div>` : ''}</div>`;
}

function renderSlide(slide: Slide, needs: PageNeeds): string {
  const printed: string[] = [];
  const body = slide.blocks.map((b) => {
    const html = b.cells.map((c) => renderSlideCell(c, needs, printed)).join('\n');
    return b.fragment ? `<div class="fragment">${html}</div>` : html;
  }).join('\n');
  const noteHtml = [...slide.notes.map((c) => renderSlideCell(c, needs)), ...printed];
  const notes = noteHtml.length ? `<aside class="notes">${noteHtml.join('\n')}</aside>` : '';
  const footer = `${slide.chapter ? `${slide.chapter} · ` : ''}${slide.notebook}`;
  return `<section data-notebook="${escapeHtml(slide.notebook)}" data-footer="${escapeHtml(footer)}">\n${body}\n${notes}</section>`;
}

function revealFile(rel: string): string {
  return fs.readFileSync(require.resolve(`reveal.js/${rel}`), 'utf8');
}

function inlineStyle(css: string): string {
  // Themes @import web fonts (Google Fonts, or font files next to the theme): drop them, system fonts are used.
  return `<style>${css.replace(/@import\s+url\([^)]*\)\s*;?/g, '').replace(/<\/style/gi, '<\\/style')}</style>`;
}

function inlineJs(js: string): string {
  return `<script>${js.replace(/<\/script/gi, '<\\/script')}</script>`;
}

const FONTS = `"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "Noto Sans", "Segoe UI", -apple-system, sans-serif`;
const MONO = `ui-monospace, "DejaVu Sans Mono", "Noto Sans Mono CJK SC", SFMono-Regular, Menlo, Consolas, monospace`;

const DECK_STYLE = `<style>
:root { --r-main-font: ${FONTS}; --r-heading-font: ${FONTS}; --r-code-font: ${MONO};
  --r-main-font-size: 28px; --r-heading1-size: 1.8em; --r-heading2-size: 1.45em; --r-heading3-size: 1.2em; --r-heading4-size: 1em;
  --r-heading-text-transform: none; --r-block-margin: 12px; }
.reveal .slides { text-align: left; }
.reveal .slides section { height: 100%; overflow-y: auto; overflow-x: hidden; padding-bottom: 28px; box-sizing: border-box; }
.reveal .slides section.stack { overflow: visible; }
.reveal h1, .reveal h2, .reveal h3, .reveal h4 { margin-bottom: .4em; }
.reveal p, .reveal li { line-height: 1.45; }
.reveal .cell { margin: 8px 0; }
.reveal pre { width: 100%; box-sizing: border-box; margin: 8px 0; box-shadow: none; font-size: 0.6em; }
.reveal pre.source { max-height: 460px; overflow: auto; background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; }
.reveal pre.source code { max-height: none; padding: 10px 14px; white-space: pre; font-family: var(--r-code-font); line-height: 1.4; }
.reveal .outputs pre { max-height: 300px; overflow: auto; padding: 6px 12px; font-family: var(--r-code-font); white-space: pre-wrap; line-height: 1.35; }
.reveal .outputs .stream.stderr { background: #fff8e6; } .reveal .outputs .error { background: #ffebe9; color: #82071e; }
.reveal .markdown code { font-family: var(--r-code-font); background: #f6f8fa; padding: .1em .3em; border-radius: 4px; font-size: .9em; }
.reveal .markdown pre code { background: none; padding: 10px 14px; }
.reveal .markdown table { font-size: .8em; } .reveal .markdown th, .reveal .markdown td { padding: 4px 10px; }
.reveal math[display="block"] { margin: .5em 0; overflow-x: auto; overflow-y: hidden; font-size: 1.1em; }
.reveal .vega, .reveal .plotly, .reveal .svg, .reveal .outputs img { margin: 6px 0; }
.reveal .vega svg, .reveal .svg svg { max-width: 100%; height: auto; }
.reveal .vega > div:not(.static) svg { width: min(100%, 1100px); max-height: 540px; }
.reveal .outputs img { max-width: 100%; max-height: 540px; }
.reveal .vega-bindings { font-size: .7em; } .reveal .vega-bind input[type=range] { width: 260px; }
.deck-footer { position: fixed; left: 16px; bottom: 10px; z-index: 30; font-size: 14px; color: #656d76; font-family: ${FONTS};
  background: rgba(255, 255, 255, .85); padding: 0 6px; border-radius: 4px; }
.reveal .slide-number { font-size: 14px; }
</style>`;

/** Renders charts when their slide is shown (hidden slides have no size), resizes them when shown again. */
const SLIDE_VIEWERS = `<script>
(function () {
  var views = new Map();
  function live(el) {
    var target = document.createElement('div');
    try {
      var spec = JSON.parse(document.getElementById(el.dataset.spec).textContent);
      el.appendChild(target);
      if (el.classList.contains('vega')) {
        var view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'svg', hover: true });
        views.set(el, function () { return view.resize().runAsync(); });
        return view.initialize(target).runAsync()
          .then(function () { var s = el.querySelector('.static'); if (s) s.remove(); })
          .catch(function (e) { target.remove(); console.warn('gradlab: kept the static chart', e); });
      }
      views.set(el, function () { return Plotly.Plots.resize(target); });
      return Plotly.newPlot(target, spec.data, spec.layout || {}, Object.assign({ responsive: true }, spec.config))
        .then(function () { var s = el.querySelector('.static'); if (s) s.remove(); })
        .catch(function (e) { target.remove(); console.warn('gradlab: kept the static figure', e); });
    } catch (e) { target.remove(); console.warn('gradlab: kept the static chart', e); }
  }
  function show(slide) {
    if (!slide) return;
    slide.querySelectorAll('.vega[data-spec], .plotly[data-spec]').forEach(function (el) {
      if (el.dataset.live) { var r = views.get(el); if (r) r(); return; }
      el.dataset.live = '1';
      live(el);
    });
  }
  function footer(slide) {
    var f = document.querySelector('.deck-footer');
    if (f && slide && slide.dataset.footer) f.textContent = slide.dataset.footer;
  }
  Reveal.on('ready', function (e) { show(e.currentSlide); footer(e.currentSlide); });
  Reveal.on('slidechanged', function (e) { show(e.currentSlide); footer(e.currentSlide); });
  Reveal.on('fragmentshown', function () { show(Reveal.getCurrentSlide()); });
  Reveal.on('resize', function () { show(Reveal.getCurrentSlide()); });
})();
</script>`;

/** Options of {@link deckHtml}. */
export interface DeckOptions {
  /** Page title and footer prefix (e.g. the chapter). */
  title: string;
  /** reveal.js theme in node_modules/reveal.js/dist/theme (default 'white'). */
  theme?: string;
}

/** A deck as one self-contained HTML page; `slides` = what {@link countSlides} counts. */
export function deckHtml(notebooks: DeckNotebook[], opts: DeckOptions): { html: string; slides: number } {
  const stacks = deckStructure(notebooks);
  const needs = newPageNeeds();
  const body = stacks.map((s) => s.slides.length === 1
    ? renderSlide(s.slides[0], needs)
    : `<section>\n${s.slides.map((sl) => renderSlide(sl, needs)).join('\n')}\n</section>`).join('\n');
  const init = `<script>
Reveal.initialize({ width: 1280, height: 720, margin: 0.03, center: false, hash: true, slideNumber: 'c/t',
  transition: 'none', backgroundTransition: 'none', plugins: [RevealNotes] });
</script>`;
  const html = `<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(opts.title)}</title>
${inlineStyle(revealFile('dist/reset.css'))}
${inlineStyle(revealFile('dist/reveal.css'))}
${inlineStyle(revealFile(`dist/theme/${opts.theme ?? 'white'}.css`))}
${DECK_STYLE}
</head>
<body data-deck="${escapeHtml(opts.title)}">
<div class="reveal"><div class="slides">
${body}
</div></div>
<div class="deck-footer">${escapeHtml(opts.title)}</div>
${inlineJs(revealFile('dist/reveal.js'))}
${inlineJs(revealFile('plugin/notes/notes.js'))}
${chartLibraries(needs)}
${SLIDE_VIEWERS}
${init}
</body>
</html>
`;
  return { html, slides: countSlides(stacks) };
}

/** Whether a notebook is a chapter's solutions (left out of chapter decks). */
export function isSolutions(file: string): boolean {
  return /^99[-_]solutions?$/i.test(path.basename(file, '.ipynb'));
}

/** One deck to build: its notebook files and where it goes. */
export interface DeckPlan {
  /** 'chapter' = a chapter's notebooks; 'notebook' = one notebook. */
  kind: 'chapter' | 'notebook';
  chapter: string;
  /** Notebook name for kind 'notebook', else the chapter. */
  name: string;
  files: string[];
  /** The deck's path. */
  out: string;
}

/**
 * The decks for command-line targets (see {@link USAGE}), with run.ts's target
 * resolution: a chapter (folder) gives one deck of its notebooks without
 * 99-solutions; a notebook gives its own deck; no target = every chapter.
 * Throws UsageError.
 */
export function planDecks(targets: string[], root: string, outDir: string): DeckPlan[] {
  const plans: DeckPlan[] = [];
  const all = listNotebooks(root);
  const chapterDeck = (dir: string, files: string[]) => {
    const chapter = path.basename(dir);
    const kept = files.filter((f) => path.dirname(f) === dir && !isSolutions(f));
    if (!kept.length) throw new UsageError(`chapter ${chapter} has no notebooks besides the solutions`);
    plans.push({ kind: 'chapter', chapter, name: chapter, files: kept, out: path.join(outDir, 'slides', `${chapter}.html`) });
  };
  const byDir = (files: string[]) => [...new Set(files.map((f) => path.dirname(f)))];
  if (!targets.length) {
    const files = resolveTargets([], root);
    for (const d of byDir(files)) chapterDeck(d, files);
    return plans;
  }
  for (const t of targets) {
    const files = resolveTargets([t], root);
    const asPath = [t, path.join(root, t)].find((p) => fs.existsSync(p));
    const isDir = asPath ? fs.statSync(asPath).isDirectory()
      : all.some((f) => path.basename(path.dirname(f)) === t.replace(/\.ipynb$/, ''));
    if (isDir) for (const d of byDir(files)) chapterDeck(d, files);
    else {
      for (const f of files) {
        const chapter = path.basename(path.dirname(f));
        const name = path.basename(f, '.ipynb');
        plans.push({ kind: 'notebook', chapter, name, files: [f], out: path.join(outDir, 'slides', chapter, `${name}.html`) });
      }
    }
  }
  const seen = new Set<string>();
  return plans.filter((p) => !seen.has(p.out) && !!seen.add(p.out));
}

/** Options of {@link loadForSlides}. */
export interface LoadOptions {
  /** Where executed copies live: `<outDir>/<chapter>/<name>.ipynb`. */
  outDir: string;
  /** Use the source as is (no outputs), never run. */
  noRun?: boolean;
  timeoutMs?: number;
  log?: (line: string) => void;
}

/**
 * The notebook a deck shows: the executed copy `<outDir>/<chapter>/<name>.ipynb`
 * when it is newer than `file`; with `noRun` the source; otherwise `file` is
 * run with {@link runNotebook} and its executed copy saved there first.
 */
export async function loadForSlides(file: string, opts: LoadOptions): Promise<{ nb: Notebook; from: 'executed' | 'source' | 'ran'; ok: boolean }> {
  const log = opts.log ?? ((l: string) => process.stdout.write(l + '\n'));
  const chapter = path.basename(path.dirname(file));
  const name = path.basename(file, '.ipynb');
  const copy = path.join(opts.outDir, chapter, `${name}.ipynb`);
  if (opts.noRun) return { nb: readNotebook(file), from: 'source', ok: true };
  if (fs.existsSync(copy) && fs.statSync(copy).mtimeMs >= fs.statSync(file).mtimeMs) {
    return { nb: readNotebook(copy), from: 'executed', ok: true };
  }
  log(`  ${chapter}/${name}: no executed copy newer than the notebook in ${copy}; running it (or use --no-run)`);
  const run = await runNotebook(file, { timeoutMs: opts.timeoutMs ?? 300_000 });
  if (!run.notebook) throw new Error(run.failure ? formatFailure(file, run.failure) : `${file}: could not be run`);
  fs.mkdirSync(path.dirname(copy), { recursive: true });
  fs.writeFileSync(copy, serializeNotebook(run.notebook));
  log(`  ${run.ok ? 'ran' : 'FAILED'} in ${run.seconds.toFixed(1)} s, executed copy saved to ${copy}`);
  if (run.failure) process.stderr.write(formatFailure(file, run.failure) + '\n');
  return { nb: run.notebook, from: 'ran', ok: run.ok };
}

/** Build one planned deck and write it; resolves with its slide count and whether every notebook ran. */
export async function buildDeck(plan: DeckPlan, opts: LoadOptions): Promise<{ slides: number; ok: boolean; out: string }> {
  const notebooks: DeckNotebook[] = [];
  let ok = true;
  for (const f of plan.files) {
    const r = await loadForSlides(f, opts);
    ok &&= r.ok;
    notebooks.push({ name: path.basename(f, '.ipynb'), chapter: plan.chapter, nb: r.nb });
  }
  const title = plan.kind === 'chapter' ? plan.chapter : `${plan.chapter}/${plan.name}`;
  const { html, slides } = deckHtml(notebooks, { title });
  fs.mkdirSync(path.dirname(plan.out), { recursive: true });
  fs.writeFileSync(plan.out, html);
  return { slides, ok, out: plan.out };
}

interface Args extends CommonArgs {
  noRun: boolean;
}

/** Parse argv (without node and script): npm start's common options and `--no-run`; throws UsageError. */
export function parseSlidesArgs(argv: string[]): Args {
  let noRun = false;
  const common = parseCommonArgs(argv, (a) => a === '--no-run' && (noRun = true));
  return { ...common, noRun };
}

/** The CLI; resolves with the exit status. */
export async function main(argv: string[], log: (line: string) => void = (l) => process.stdout.write(l + '\n')): Promise<number> {
  let args: Args;
  let plans: DeckPlan[];
  try {
    args = parseSlidesArgs(argv);
    if (args.help) {
      log(USAGE);
      return 0;
    }
    plans = planDecks(args.targets, args.root, args.out);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`gradlab slides: ${e.message}\n(npm run slides -- --help for usage)\n`);
    return 2;
  }
  let ok = true;
  for (const p of plans) {
    log(`${p.kind === 'chapter' ? `chapter ${p.chapter}` : `${p.chapter}/${p.name}`}: ${p.files.length} notebook(s)${args.noRun ? ' (--no-run: source, no outputs)' : ''}`);
    const r = await buildDeck(p, { outDir: args.out, noRun: args.noRun, timeoutMs: args.timeoutMs, log });
    ok &&= r.ok;
    log(`  ${r.slides} slides -> ${path.relative(process.cwd(), r.out) || r.out}`);
  }
  log('Open a deck in a browser (no network needed); S = speaker notes, F = fullscreen, O = overview.');
  return ok ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e) => {
      process.stderr.write(`gradlab slides: ${(e as Error).stack ?? e}\n`);
      process.exitCode = 1;
    },
  );
}
