/**
 * Explorable figures (Vega-Lite params over precomputed rows), the chart style options
 * (dashes, colours, formats, domains, arrowheads), and the HTML export: explorables work
 * in a browser without a kernel, and links between notebooks point to the exported pages.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Browser } from 'playwright-core';
import { notebookLinksToHtml, notebookPage } from '../kernel/html';
import type { Notebook } from '../kernel/notebook';
import { JUPYTER_DISPLAY } from '../src/display';
import * as plot from '../src/plot';

function marks(svg: string, role: string): number {
  return svg.split(`aria-roledescription="${role}"`).length - 1;
}
async function render(fig: plot.VegaLiteFigure): Promise<string> {
  assert.deepEqual(fig.compile().warnings, []);
  return fig.svg();
}

/** Rows of y = x^p for p in ps, on x = 1..5, two series. */
function powerRows(ps: number[]): Record<string, number | string>[] {
  return ps.flatMap((p) => ['a', 'b'].flatMap((s) =>
    [1, 2, 3, 4, 5].map((x) => ({ x, y: (s === 'a' ? 1 : 2) * x ** p, s, p }))));
}

describe('plot: explorable figures', () => {
  it('a numeric grid becomes a slider with the grid step, a filter, fixed axes and a note', async () => {
    const fig = plot.line({ data: powerRows([0, 0.5, 1, 1.5, 2]), x: 'x', y: 'y', color: 's',
      explore: { field: 'p', label: '指数 p (power)', init: 1 } });
    const spec = fig.spec as Record<string, any>;
    assert.deepEqual(spec.params, [{ name: 'explore_0', value: 1,
      bind: { input: 'range', min: 0, max: 2, step: 0.5, name: '指数 p (power) ' } }]);
    assert.deepEqual(spec.transform, [{ filter: 'abs(datum["p"] - explore_0) < 0.25' }]);
    // Axes span every slice (1 .. 2·5² = 50), so moving the slider does not rescale them.
    assert.deepEqual(spec.encoding.y.scale.domain, [1, 50]);
    assert.deepEqual(spec.encoding.color.scale.domain, ['a', 'b']);
    const svg = await render(fig);
    assert.equal(marks(svg, 'line mark'), 2, 'only the init slice is drawn in the static SVG');
    assert.match(fig.summary, /explorable: slider "指数 p \(power\)" \(5 values, init 1\)/);
  });

  it('the static SVG draws the init slice: its line differs from another init', async () => {
    const rows = powerRows([1, 2]);
    const path1 = /aria-roledescription="line mark"[^>]*d="([^"]+)"/.exec(await render(plot.line({ data: rows, x: 'x', y: 'y', color: 's', explore: { field: 'p', init: 1 } }))!)!;
    const path2 = /aria-roledescription="line mark"[^>]*d="([^"]+)"/.exec(await render(plot.line({ data: rows, x: 'x', y: 'y', color: 's', explore: { field: 'p', init: 2 } }))!)!;
    assert.notEqual(path1[1], path2[1]);
  });

  it('uneven numbers and strings get radio buttons (up to 5) or a dropdown; a slider over them is refused', () => {
    const rows = powerRows([1, 2, 5]);
    const few = plot.line({ data: rows, x: 'x', y: 'y', color: 's', explore: { field: 'p' } }).spec as Record<string, any>;
    assert.deepEqual(few.params[0].bind, { input: 'radio', options: [1, 2, 5], name: 'p ' });
    const sel = plot.line({ data: powerRows([1, 2, 5, 10, 20, 50]), x: 'x', y: 'y', color: 's', explore: { field: 'p' } }).spec as Record<string, any>;
    assert.deepEqual(sel.params[0].bind, { input: 'select', options: [1, 2, 5, 10, 20, 50], name: 'p ' });
    assert.deepEqual(sel.transform, [{ filter: 'datum["p"] == explore_0' }]);
    const radio = plot.line({ data: rows, x: 'x', y: 'y', explore: { field: 's' } }).spec as Record<string, any>;
    assert.equal(radio.params[0].bind.input, 'radio');
    assert.throws(() => plot.line({ data: rows, x: 'x', y: 'y', explore: { field: 'p', input: 'range' } }),
      /not an evenly spaced numeric grid.*input: 'select'/);
  });

  it('two controls give two params and two filters; the summary names both', async () => {
    const fig = plot.scatter({ data: powerRows([1, 2]), x: 'x', y: 'y', explore: [{ field: 'p' }, { field: 's', init: 'b' }] });
    const spec = fig.spec as Record<string, any>;
    assert.equal(spec.params.length, 2);
    assert.equal(spec.transform.length, 2);
    assert.equal(marks(await render(fig), 'point'), 5);
    assert.match(fig.summary, /slider "p".*radio buttons "s" \(2 values, init "b"\)/);
  });

  it('refuses rows without the field, values no row has, a bad init and the series form', () => {
    const rows = powerRows([1, 2]);
    assert.throws(() => plot.line({ data: [...rows, { x: 1, y: 1 }], x: 'x', y: 'y', explore: { field: 'p' } }),
      /line: row 20 has p = undefined; an explorable figure needs every row to carry the control field 'p'/);
    assert.throws(() => plot.line({ data: rows, x: 'x', y: 'y', explore: { field: 'p', values: [1, 3] } }), /offers 3, which no row has/);
    assert.throws(() => plot.line({ data: rows, x: 'x', y: 'y', explore: { field: 'p', init: 7 } }), /init 7 is not one of its values \[1,2\]/);
    assert.throws(() => plot.line({ series: { a: [1, 2] }, explore: { field: 'p' } }), /'explore' needs 'data' rows/);
  });

  it('heatmap frames share one colour scale and the static SVG shows the init frame', async () => {
    const frames = [1, 2, 3].map((k) => ({ key: { k }, z: [[k, 0], [0, -k]] }));
    const fig = plot.heatmap({ frames, explore: { field: 'k', init: 2 }, valueTitle: '权重 (weight)' });
    const spec = fig.spec as Record<string, any>;
    assert.deepEqual(spec.encoding.color.scale.domain, [-3, 3]);
    assert.equal(spec.encoding.color.title, '权重 (weight)');
    assert.equal(spec.params[0].bind.input, 'range');
    assert.equal(marks(await render(fig), 'rect mark'), 4, 'one frame of 2x2 cells');
    assert.match(fig.summary, /2x2 cells, 3 frames;.*explorable: slider "k"/);
    assert.throws(() => plot.heatmap({ frames: [frames[0], { key: { k: 9 }, z: [[1]] }], explore: { field: 'k' } }), /frames\[1\] is 1x1 but frames\[0\] is 2x2/);
    assert.throws(() => plot.heatmap({ z: [[1]], explore: { field: 'k' } }), /'frames' and 'explore' go together/);
  });
});

describe('plot: explorable bars', () => {
  it('bar frames share one value axis; the static SVG shows the init frame; mismatched frames are refused', async () => {
    const frames = [1, 2, 4].map((k) => ({ key: { k }, series: { params: [k, 1], grads: [k, 2] } }));
    const fig = plot.bar({ categories: ['a', 'b'], frames, stack: true, explore: { field: 'k', input: 'radio', init: 2 } });
    const spec = fig.spec as Record<string, any>;
    assert.deepEqual(spec.encoding.y.scale.domain, [0, 8], 'the tallest stack of any frame: 4 + 4');
    assert.equal(spec.data.values.length, 12);
    assert.equal(marks(await render(fig), 'bar'), 4);
    assert.match(fig.summary, /stacked bar chart: 2 categories, 3 frames; explorable: radio buttons "k"/);
    assert.throws(() => plot.bar({ categories: ['a', 'b'], frames: [frames[0], { key: { k: 9 }, series: { params: [1, 1] } }], explore: { field: 'k' } }),
      /frames\[1\] has series \["params"\] but frames\[0\] has \["params","grads"\]/);
    assert.throws(() => plot.bar({ categories: ['a'], frames: [{ key: { k: 1 }, values: [1, 2] }], explore: { field: 'k' } }), /frames\[0\]: 'values' has 2 values but there are 1 categories/);
    assert.throws(() => plot.bar({ categories: ['a'], values: [1], explore: { field: 'k' } }), /'frames' and 'explore' go together/);
  });
});

describe('plot: line style options', () => {
  it('dashes give each series its own dash pattern; colors fix a colour per series', async () => {
    const fig = plot.line({ series: { a: [1, 2, 3], b: [1, 2, 3] }, dashes: true, colors: { b: '#000000' } });
    const spec = fig.spec as Record<string, any>;
    assert.deepEqual(spec.encoding.strokeDash.scale.domain, ['a', 'b']);
    assert.deepEqual(spec.encoding.color.scale.range, ['#4c78a8', '#000000']);
    const svg = await render(fig);
    assert.equal((svg.match(/stroke-dasharray/g) ?? []).length >= 1, true, 'one of the two curves is dashed');
    assert.throws(() => plot.line({ series: { a: [1, 2] }, colors: { z: 'red' } }), /colors: "z" is not a series/);
  });

  it('tick formats, fixed domains and a zero-based y axis end up in the spec', async () => {
    const fig = plot.line({ series: { a: [0.98, 0.99, 1] }, yFormat: '.0%', xFormat: 'd', yZero: true, xDomain: [0, 4] });
    const spec = fig.spec as Record<string, any>;
    assert.equal(spec.encoding.y.axis.format, '.0%');
    assert.equal(spec.encoding.x.axis.format, 'd');
    assert.equal(spec.encoding.y.scale.zero, true);
    assert.deepEqual(spec.encoding.x.scale.domain, [0, 4]);
    const svg = await render(fig);
    assert.match(svg, />0%</, 'the y axis starts at 0');
  });

  it('arrows put one triangle per series at its end, turned along the last segment', async () => {
    const fig = plot.line({ series: { right: { x: [0, 1], y: [0, 0] }, up: { x: [0, 0], y: [0, 1] } }, arrows: true, width: 100, height: 100 });
    const spec = fig.spec as Record<string, any>;
    const heads = spec.data.values.filter((r: Record<string, unknown>) => r.__arrow);
    assert.deepEqual(heads.map((h: Record<string, number>) => Math.round(h.__angle)), [90, 0]);
    const svg = await render(fig);
    assert.equal(marks(svg, 'line mark'), 2);
    assert.equal((svg.match(/aria-roledescription="point"/g) ?? []).length, 2);
  });
});

describe('HTML export: links and explorables', () => {
  it('relative links to notebooks point to the exported .html, keeping fragments; absolute URLs are kept', () => {
    const html = '<a href="02-tensors.ipynb">a</a> <a href="../02-optim/01-sgd.ipynb#lr">b</a> ' +
      '<a href="https://github.com/x/y/blob/main/n.ipynb">c</a> <a title="t" href="notes.md">d</a>';
    assert.equal(notebookLinksToHtml(html),
      '<a href="02-tensors.html">a</a> <a href="../02-optim/01-sgd.html#lr">b</a> ' +
      '<a href="https://github.com/x/y/blob/main/n.ipynb">c</a> <a title="t" href="notes.md">d</a>');
    const nb: Notebook = { nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [
      { cell_type: 'markdown', source: 'See [02-tensors](02-tensors.ipynb) and [99](99-solutions.ipynb#01-chain-rule).', metadata: {} }] };
    const page = notebookPage(nb, { title: 't', ok: true, seconds: 1 });
    assert.match(page, /href="02-tensors\.html"/);
    assert.match(page, /href="99-solutions\.html#01-chain-rule"/);
    assert.doesNotMatch(page, /href="[^"]*\.ipynb/);
  });

  describe('an exported explorable in headless chromium', function () {
    this.timeout(120_000);
    const CHROMIUM = '/usr/bin/chromium';
    let browser: Browser | undefined;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-explore-'));
    after(async () => {
      await browser?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('shows the slider, and moving it redraws the line (no kernel, no network)', async function () {
      if (!fs.existsSync(CHROMIUM)) {
        if (process.env.CI === 'true') assert.fail(`${CHROMIUM} is missing`);
        this.skip();
      }
      const fig = plot.line({ data: powerRows([0, 0.5, 1, 1.5, 2]), x: 'x', y: 'y', color: 's',
        explore: { field: 'p', label: 'p', init: 1 }, title: '幂函数 (power)' });
      const data = await fig[JUPYTER_DISPLAY]();
      const nb: Notebook = { nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [
        { cell_type: 'code', source: 'fig', metadata: {}, execution_count: 1,
          outputs: [{ output_type: 'display_data', data: data as Record<string, string>, metadata: {} }] }] };
      const file = path.join(dir, 'page.html');
      fs.writeFileSync(file, notebookPage(nb, { title: 't', ok: true, seconds: 1 }));
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { chromium } = require('playwright-core') as typeof import('playwright-core');
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
      const page = await browser.newPage();
      const remote: string[] = [];
      await page.route('**/*', (route) => {
        if (route.request().url().startsWith('file:')) return route.continue();
        remote.push(route.request().url());
        return route.abort();
      });
      await page.goto('file://' + file);
      await page.waitForSelector('.vega input[type=range]', { timeout: 30_000 });
      assert.equal(await page.locator('.vega .static').count(), 0, 'the live view replaced the static SVG');
      const lines = () => page.$$eval('.vega path[aria-roledescription="line mark"]', (ps) => ps.map((p) => p.getAttribute('d')));
      const before = await lines();
      assert.equal(before.length, 2);
      await page.$eval('.vega input[type=range]', (el) => {
        const input = el as HTMLInputElement;
        input.value = '2';
        input.dispatchEvent(new Event('input', { bubbles: true }));
      });
      await page.waitForFunction((b) => {
        const now = Array.from(document.querySelectorAll('.vega path[aria-roledescription="line mark"]')).map((p) => p.getAttribute('d'));
        return now.length === 2 && now[0] !== b[0];
      }, before, { timeout: 10_000 });
      const after = await lines();
      assert.notDeepEqual(after, before);
      assert.deepEqual(remote, []);
    });
  });
});
