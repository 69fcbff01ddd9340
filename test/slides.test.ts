/**
 * `npm run slides` (kernel/slides.ts): the slide structure from tags, the
 * rendered deck (markdown, math, hidden input/output, nothing from the network),
 * every chapter's deck, and the decks in headless Chromium (reveal.js counts the
 * slides we computed, charts on hidden slides get a size, no errors, no requests).
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Browser } from 'playwright-core';
import { readNotebook, type Cell, type Notebook } from '../kernel/notebook';
import { listNotebooks, UsageError } from '../kernel/run';
import {
  countSlides, deckHtml, deckStructure, isSolutions, main, planDecks, slideType, type DeckNotebook,
} from '../kernel/slides';
import { JUPYTER_DISPLAY } from '../src/display';
import * as plot from '../src/plot';

const ROOT = path.resolve(__dirname, '..', '..');
const NOTEBOOKS = path.join(ROOT, 'notebooks');
const OUT = path.join(ROOT, 'out');
const CHROMIUM = '/usr/bin/chromium';
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-slides-'));

const md = (source: string, metadata: Record<string, unknown> = {}): Cell => ({ cell_type: 'markdown', source, metadata });
const code = (source: string, metadata: Record<string, unknown> = {}, text?: string): Cell => ({
  cell_type: 'code', source, metadata, execution_count: text ? 1 : null,
  outputs: text ? [{ output_type: 'stream', name: 'stdout', text }] : [],
});
const nbOf = (cells: Cell[]): Notebook => ({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells });
const tag = (...tags: string[]) => ({ tags });
const ss = (slide_type: string) => ({ slideshow: { slide_type } });

/** Every tag, in both styles: 5 slides (4 horizontal, one of them with a vertical sub-slide). */
function tagged(): DeckNotebook[] {
  const a = nbOf([
    md('# 链式法则 (chain rule)\n\n$$\\frac{\\partial L}{\\partial x} = a_*b_*$$'),
    code('import SKIPPED_SETUP', tag('skip')),
    md('NOTES_ONE: say the formula aloud', tag('notes')),
    md('## SLIDE_TWO', tag('slide')),
    md('FRAGMENT_A $x^2$', ss('fragment')),
    code('console.log("IN_FRAGMENT")', {}, 'IN_FRAGMENT_OUT'),
    md('## SUB_THREE', tag('subslide')),
    code('SRC_HIDDEN_INPUT', tag('hide-input'), 'OUT_SHOWN'),
    code('SRC_SHOWN', tag('hide-output'), 'OUT_HIDDEN_OUTPUT'),
    md('SKIPPED_SLIDESHOW', ss('skip')),
    md('## SLIDE_FOUR', ss('slide')),
    md('NOTES_FOUR', ss('notes')),
  ]);
  const b = nbOf([md('B_FIRST is a fragment but starts the notebook', tag('fragment')), md('B_MORE')]);
  return [{ name: 'a', chapter: 'ch', nb: a }, { name: 'b', chapter: 'ch', nb: b }];
}

/** What must never be in a deck: anything the browser would fetch from the network. */
function networkRefs(html: string): string[] {
  const tags = html.match(/<(?:script|link|img|iframe)\b[^>]*>/gi) ?? [];
  return [
    ...tags.filter((t) => /\b(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i.test(t)),
    ...(html.match(/@import\s+(?:url\()?\s*["']?(?:https?:)?\/\/[^;]*/gi) ?? []),
  ];
}

/** The chapter's notebooks for its deck: the executed copy in out/ when newer, else the source. */
function chapterNotebooks(chapter: string, executed: boolean): DeckNotebook[] {
  return listNotebooks(path.join(NOTEBOOKS, chapter)).filter((f) => path.dirname(f) === path.join(NOTEBOOKS, chapter) && !isSolutions(f))
    .map((f) => {
      const name = path.basename(f, '.ipynb');
      const copy = path.join(OUT, chapter, `${name}.ipynb`);
      const useCopy = executed && fs.existsSync(copy) && fs.statSync(copy).mtimeMs >= fs.statSync(f).mtimeMs;
      return { name, chapter, nb: readNotebook(useCopy ? copy : f) };
    });
}

const chapters = [...new Set(listNotebooks(NOTEBOOKS).map((f) => path.basename(path.dirname(f))))];

describe('slides: reveal.js decks from the notebooks', function () {
  this.timeout(120_000);
  after(() => fs.rmSync(TMP, { recursive: true, force: true }));

  it('reads the slide type from tags first, then from Jupyter\'s slideshow metadata', () => {
    assert.equal(slideType(md('x')), '-');
    assert.equal(slideType(md('x', tag('slide'))), 'slide');
    assert.equal(slideType(md('x', ss('subslide'))), 'subslide');
    assert.equal(slideType(md('x', { ...tag('notes'), ...ss('slide') })), 'notes');
    assert.equal(slideType(md('x', { ...tag('hide-input'), ...ss('fragment') })), 'fragment');
    assert.equal(slideType(md('x', ss('-'))), '-');
  });

  it('builds slides, sub-slides, fragments, notes and skips from both tag styles', () => {
    const stacks = deckStructure(tagged());
    const text = (c: Cell) => (Array.isArray(c.source) ? c.source.join('') : c.source).slice(0, 14);
    const shape = stacks.map((s) => s.slides.map((sl) => ({
      nb: sl.notebook, blocks: sl.blocks.map((b) => `${b.fragment ? 'F' : 'B'}:${b.cells.map(text).join('|')}`), notes: sl.notes.map(text),
    })));
    assert.deepEqual(shape, [
      [{ nb: 'a', blocks: ['B:# 链式法则 (chain '], notes: ['NOTES_ONE: say'] }],
      [{ nb: 'a', blocks: ['B:## SLIDE_TWO', 'F:FRAGMENT_A $x^|console.log("I'], notes: [] },
        { nb: 'a', blocks: ['B:## SUB_THREE|SRC_HIDDEN_INP|SRC_SHOWN'], notes: [] }],
      [{ nb: 'a', blocks: ['B:## SLIDE_FOUR'], notes: ['NOTES_FOUR'] }],
      [{ nb: 'b', blocks: ['F:B_FIRST is a f|B_MORE'], notes: [] }],
    ]);
    assert.equal(countSlides(stacks), 5);
  });

  it('renders one self-contained deck: markdown and math as in the HTML export, hidden input/output, no network', () => {
    const { html, slides } = deckHtml(tagged(), { title: 'ch' });
    assert.equal(slides, 5);
    assert.equal((html.match(/<section\b/g) ?? []).length, 6, '5 slides + 1 vertical stack');
    assert.match(html, /<aside class="notes">[\s\S]*NOTES_ONE/);
    assert.match(html, /<div class="fragment">[\s\S]*FRAGMENT_A[\s\S]*IN_FRAGMENT_OUT/);
    assert.match(html, /<math[^>]*display="block"[\s\S]*?<\/math>/, 'display math as MathML');
    assert.match(html, /FRAGMENT_A <span class="katex"><math/, 'inline math as MathML');
    assert.doesNotMatch(html, /\$x\^2\$|\$\$/, 'no raw TeX left');
    assert.match(html, /<h1>链式法则 \(chain rule\)<\/h1>/);
    assert.doesNotMatch(html, /SKIPPED_SETUP|SKIPPED_SLIDESHOW/);
    assert.doesNotMatch(html, /SRC_HIDDEN_INPUT/);
    assert.match(html, /OUT_SHOWN/);
    assert.match(html, /SRC_SHOWN/);
    assert.doesNotMatch(html, /OUT_HIDDEN_OUTPUT/);
    assert.match(html, /data-notebook="b"/);
    assert.match(html, /Reveal\.initialize\(/);
    assert.match(html, /RevealNotes/);
    assert.ok(html.length < 400_000, `no chart library inlined without charts (${html.length} characters)`);
    assert.deepEqual(networkRefs(html), []);
    assert.deepEqual(networkRefs('<script src="https://cdn/x.js"></script><link href="//f/x.css"> @import url(https://fonts/x);').length, 3,
      'the scan itself finds network references');
  });

  it('puts what a chart cell (hide-input) printed into the speaker notes, off the slide', () => {
    const chart: Cell = { cell_type: 'code', source: 'plot(...)', metadata: tag('slide', 'hide-input'), execution_count: 1, outputs: [
      { output_type: 'stream', name: 'stdout', text: 'PRINTED_TABLE\n' },
      { output_type: 'display_data', data: { 'image/svg+xml': '<svg id="CHART_SVG"></svg>', 'text/plain': 'chart' }, metadata: {} },
    ] };
    const text = code('console.log(1)', tag('slide', 'hide-input'), 'PRINTED_ALONE');
    const { html } = deckHtml([{ name: 'a', chapter: 'ch', nb: nbOf([md('# t'), chart, text]) }], { title: 'ch' });
    const sections = html.split('<section').slice(1);
    const withChart = sections.find((x) => x.includes('CHART_SVG'))!;
    const [slidePart, notesPart] = withChart.split('<aside class="notes">');
    assert.doesNotMatch(slidePart!, /PRINTED_TABLE/);
    assert.match(notesPart ?? '', /PRINTED_TABLE/);
    assert.match(sections.find((x) => x.includes('PRINTED_ALONE'))!.split('<aside')[0]!, /PRINTED_ALONE/, 'text without a chart stays on its slide');
  });

  it('plans decks like npm start resolves targets: chapters without 99-solutions, notebooks alone, usage errors', () => {
    const all = planDecks([], NOTEBOOKS, TMP);
    assert.deepEqual(all.map((p) => p.name), chapters);
    for (const p of all) {
      assert.equal(p.kind, 'chapter');
      assert.equal(p.out, path.join(TMP, 'slides', `${p.chapter}.html`));
      assert.ok(p.files.length > 0 && p.files.every((f) => !isSolutions(f)), p.chapter);
    }
    const one = planDecks([chapters[0]], NOTEBOOKS, TMP);
    assert.equal(one.length, 1);
    assert.deepEqual(one[0].files, all[0].files);
    const nb = all[1].files[1];
    const byName = planDecks([path.basename(nb, '.ipynb')], NOTEBOOKS, TMP);
    assert.deepEqual(byName.map((p) => [p.kind, p.files, p.out]),
      [['notebook', [nb], path.join(TMP, 'slides', chapters[1], `${path.basename(nb, '.ipynb')}.html`)]]);
    assert.deepEqual(planDecks([nb], NOTEBOOKS, TMP).map((p) => p.out), byName.map((p) => p.out));
    assert.throws(() => planDecks(['no-such-thing'], NOTEBOOKS, TMP), (e: Error) => e instanceof UsageError && /unknown target "no-such-thing"/.test(e.message));
  });

  it('the CLI: --help exits 0, a bad option or target exits 2', async () => {
    const lines: string[] = [];
    assert.equal(await main(['--help'], (l) => lines.push(l)), 0);
    assert.match(lines.join('\n'), /Usage: npm run slides/);
    const err = process.stderr.write;
    process.stderr.write = () => true;
    try {
      assert.equal(await main(['--bogus'], () => undefined), 2);
      assert.equal(await main(['--out'], () => undefined), 2);
      assert.equal(await main(['no-such-chapter', '--no-run'], () => undefined), 2);
    } finally {
      process.stderr.write = err;
    }
  });

  it('without an executed copy, runs the notebook first, saves the copy, and uses it the next time', async function () {
    this.timeout(300_000);
    const root = path.join(ROOT, 'test', 'fixtures', 'notebooks');
    const out = path.join(TMP, 'run-out');
    const lines: string[] = [];
    assert.equal(await main(['--root', root, '--out', out, 'pass'], (l) => lines.push(l)), 0, lines.join('\n'));
    const copy = path.join(out, 'ok', 'pass.ipynb');
    assert.match(lines.join('\n'), /no executed copy newer than the notebook[\s\S]*running it[\s\S]*executed copy saved to/);
    assert.ok(fs.existsSync(copy), copy);
    const deck = fs.readFileSync(path.join(out, 'slides', 'ok', 'pass.html'), 'utf8');
    assert.match(deck, /id="fixture-html"/, 'the deck shows the outputs of the run');
    const again: string[] = [];
    const t0 = Date.now();
    assert.equal(await main(['--root', root, '--out', out, 'pass'], (l) => again.push(l)), 0);
    assert.doesNotMatch(again.join('\n'), /running it/);
    assert.ok(Date.now() - t0 < 5000, 'the second build reads the executed copy');
    const noRun: string[] = [];
    assert.equal(await main(['--root', root, '--out', path.join(TMP, 'norun-out'), '--no-run', 'pass'], (l) => noRun.push(l)), 0);
    assert.doesNotMatch(fs.readFileSync(path.join(TMP, 'norun-out', 'slides', 'ok', 'pass.html'), 'utf8'), /id="fixture-html"/);
    assert.ok(!fs.existsSync(path.join(TMP, 'norun-out', 'ok')), '--no-run writes no executed copy');
  });

  const counts: Record<string, { source: number; executed?: number }> = {};
  it('every chapter builds with --no-run (npm run slides -- --no-run --out <tmp>)', async () => {
    const lines: string[] = [];
    assert.equal(await main(['--no-run', '--out', TMP], (l) => lines.push(l)), 0, lines.join('\n'));
    for (const ch of chapters) {
      const file = path.join(TMP, 'slides', `${ch}.html`);
      assert.ok(fs.existsSync(file), file);
      const html = fs.readFileSync(file, 'utf8');
      assert.deepEqual(networkRefs(html), [], ch);
      const n = deckHtml(chapterNotebooks(ch, false), { title: ch }).slides;
      assert.ok(lines.includes(`  ${n} slides -> ${path.relative(process.cwd(), file) || file}`), `${ch}: ${lines.join('\n')}`);
      counts[ch] = { source: n };
    }
  });

  it('every chapter builds from the executed copies in out/ where they exist', () => {
    for (const ch of chapters) {
      const nbs = chapterNotebooks(ch, true);
      const { html, slides } = deckHtml(nbs, { title: ch });
      assert.deepEqual(networkRefs(html), [], ch);
      fs.writeFileSync(path.join(TMP, 'slides', `${ch}.executed.html`), html);
      counts[ch].executed = slides;
    }
    console.log('      slides per chapter (source / executed copies): ' +
      Object.entries(counts).map(([ch, c]) => `${ch} ${c.source}/${c.executed}`).join(', '));
  });

  it('every notebook, the solutions too, builds a deck of its own without network references', async () => {
    const files = listNotebooks(NOTEBOOKS);
    const out = path.join(TMP, 'each');
    const lines: string[] = [];
    assert.equal(await main(['--no-run', '--out', out, ...files], (l) => lines.push(l)), 0, lines.join('\n'));
    for (const f of files) {
      const deck = path.join(out, 'slides', path.basename(path.dirname(f)), `${path.basename(f, '.ipynb')}.html`);
      assert.ok(fs.existsSync(deck), `${deck} for ${f}`);
      assert.deepEqual(networkRefs(fs.readFileSync(deck, 'utf8')), [], deck);
    }
  });

  it('every chapter makes a lecture deck of 15–40 slides (the tags, not one slide per notebook)', () => {
    assert.ok(chapters.length >= 4, `chapters: ${chapters.join(', ')}`);
    const out = chapters.filter((ch) => !(counts[ch]!.source >= 15 && counts[ch]!.source <= 40));
    assert.deepEqual(out, [], `decks outside 15–40 slides: ${out.map((ch) => `${ch} ${counts[ch]!.source}`).join(', ')}`);
  });

  describe('in headless Chromium (offline)', function () {
    let browser: Browser | undefined;
    before(async function () {
      if (!fs.existsSync(CHROMIUM)) {
        if (process.env.CI === 'true') assert.fail(`${CHROMIUM} is missing`);
        console.log(`      skipped: ${CHROMIUM} is missing (apt install chromium)`);
        this.skip();
      }
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { chromium } = require('playwright-core') as typeof import('playwright-core');
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
    });
    after(async () => { await browser?.close(); });

    /** Open a deck with every non-file request aborted; collects what went wrong. */
    async function open(file: string) {
      const page = await browser!.newPage({ viewport: { width: 1280, height: 720 } });
      const problems: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('requestfailed', (r) => problems.push(`request failed: ${r.url().slice(0, 120)}`));
      await page.route('**/*', (route) => {
        const url = route.request().url();
        if (url.startsWith('file:') || url.startsWith('data:')) return route.continue();
        problems.push(`network: ${url}`);
        return route.abort();
      });
      await page.goto('file://' + file);
      await page.waitForFunction(() => (window as unknown as { Reveal?: { isReady(): boolean } }).Reveal?.isReady(), null, { timeout: 30_000 });
      return { page, problems };
    }

    it('a deck with a Vega-Lite explorable on a hidden slide: the chart gets a size when shown, its slider works; S shows the notes', async () => {
      const fig = plot.line({ data: [0, 1, 2].flatMap((p) => [1, 2, 3, 4, 5].map((x) => ({ x, y: x ** p, p }))), x: 'x', y: 'y',
        explore: { field: 'p', label: '指数 p (power)', init: 1 }, title: '幂函数 (power)' });
      const data = (await fig[JUPYTER_DISPLAY]()) as Record<string, unknown>;
      const chartCell: Cell = { cell_type: 'code', source: 'plot.line(...)', metadata: tag('slide', 'hide-input'), execution_count: 2,
        outputs: [{ output_type: 'display_data', data, metadata: {} }] };
      const g = [-2, -1, 0, 1, 2];
      const contour = (await plot.contour({ x: g, y: g, z: (a, b) => a * a + 10 * b * b, title: '等高线 (contour)' })[JUPYTER_DISPLAY]()) as Record<string, unknown>;
      const contourCell: Cell = { cell_type: 'code', source: 'plot.contour(...)', metadata: ss('slide'), execution_count: 3,
        outputs: [{ output_type: 'display_data', data: contour, metadata: {} }] };
      const deck = deckHtml([{ name: 'fixture', chapter: 'ch', nb: nbOf([...tagged()[0].nb.cells, chartCell, contourCell]) }], { title: 'fixture' });
      assert.equal(deck.slides, 6);
      const file = path.join(TMP, 'chart-deck.html');
      fs.writeFileSync(file, deck.html);
      const { page, problems } = await open(file);
      assert.equal(await page.evaluate(() => (window as unknown as { Reveal: { getTotalSlides(): number } }).Reveal.getTotalSlides()), deck.slides);
      assert.equal(await page.locator('.vega > div:not(.static) svg').count(), 0, 'charts wait for their slide');
      await page.evaluate(() => (window as unknown as { Reveal: { slide(h: number): void } }).Reveal.slide(3));
      await page.waitForSelector('.present .vega > div:not(.static) svg', { timeout: 30_000 });
      const box = await page.locator('.present .vega > div:not(.static) svg').first().boundingBox();
      assert.ok(box && box.width > 300 && box.height > 150, `chart size ${JSON.stringify(box)}`);
      assert.equal(await page.locator('.present .vega .static').count(), 0, 'the live view replaced the static SVG');
      const before = await page.$eval('.present .vega path[aria-roledescription="line mark"]', (p) => p.getAttribute('d'));
      await page.$eval('.present .vega input[type=range]', (el) => {
        const input = el as HTMLInputElement;
        input.value = '2';
        input.dispatchEvent(new Event('input', { bubbles: true }));
      });
      await page.waitForFunction((b) => document.querySelector('.present .vega path[aria-roledescription="line mark"]')?.getAttribute('d') !== b, before, { timeout: 10_000 });
      fs.mkdirSync(path.join(OUT, 'screenshots'), { recursive: true });
      await page.screenshot({ path: path.join(OUT, 'screenshots', 'fixture-chart.png') });
      // Leave and come back: the chart is resized, not drawn twice.
      await page.evaluate(() => (window as unknown as { Reveal: { slide(h: number): void } }).Reveal.slide(0));
      await page.evaluate(() => (window as unknown as { Reveal: { slide(h: number): void } }).Reveal.slide(3));
      assert.equal(await page.locator('.present .vega > div:not(.static) svg').count(), 1);
      // A Plotly figure on the last slide gets its size when shown too.
      await page.evaluate(() => (window as unknown as { Reveal: { slide(h: number): void } }).Reveal.slide(4));
      await page.waitForSelector('.present .plotly .main-svg', { timeout: 30_000 });
      const pbox = await page.locator('.present .plotly .main-svg').first().boundingBox();
      assert.ok(pbox && pbox.width > 300 && pbox.height > 150, `plotly size ${JSON.stringify(pbox)}`);
      await page.screenshot({ path: path.join(OUT, 'screenshots', 'fixture-plotly.png') });
      // S opens the speaker view, which shows the current slide's notes.
      await page.evaluate(() => (window as unknown as { Reveal: { slide(h: number): void } }).Reveal.slide(0));
      const [popup] = await Promise.all([page.waitForEvent('popup', { timeout: 10_000 }), page.keyboard.press('s')]);
      await popup.waitForFunction(() => /NOTES_ONE/.test(document.querySelector('.speaker-controls-notes .value')?.textContent ?? ''), null, { timeout: 15_000 });
      await popup.close();
      assert.deepEqual(problems, []);
      await page.close();
    });

    for (const ch of chapters) {
      it(`${ch}: reveal.js counts the slides we computed, no errors, no requests; screenshot`, async function () {
        if (!counts[ch]) this.skip();
        const file = path.join(TMP, 'slides', `${ch}.executed.html`);
        const { page, problems } = await open(file);
        assert.equal(await page.evaluate(() => (window as unknown as { Reveal: { getTotalSlides(): number } }).Reveal.getTotalSlides()), counts[ch].executed);
        // Prefer a slide with a chart; else the second slide (the first is the index).
        const target = await page.evaluate(() => {
          const R = (window as unknown as { Reveal: { getSlides(): Element[]; getIndices(s: Element): { h: number; v: number }; getTotalSlides(): number } }).Reveal;
          const s = R.getSlides();
          const chart = s.find((x) => x.querySelector('.vega, .plotly, .svg, .outputs img'));
          return { ...R.getIndices(chart ?? s[Math.min(1, s.length - 1)]), chart: !!chart };
        });
        await page.evaluate(({ h, v }) => (window as unknown as { Reveal: { slide(h: number, v: number): void } }).Reveal.slide(h, v), target);
        if (target.chart) {
          await page.waitForFunction(() => {
            const el = document.querySelector('.present .vega svg, .present .plotly .main-svg, .present .svg svg, .present .outputs img');
            const r = el?.getBoundingClientRect();
            return !!r && r.width > 0 && r.height > 0;
          }, null, { timeout: 30_000 });
          await page.$eval('.present .vega, .present .plotly, .present .svg, .present .outputs img', (el) => el.scrollIntoView({ block: 'center' }));
        }
        fs.mkdirSync(path.join(OUT, 'screenshots'), { recursive: true });
        await page.screenshot({ path: path.join(OUT, 'screenshots', `${ch}.png`) });
        assert.deepEqual(problems, []);
        await page.close();
      });
    }
  });
});
