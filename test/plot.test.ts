import { strict as assert } from 'assert';
import * as vm from 'vm';
import { JUPYTER_DISPLAY, type DisplayBundle, type DisplaySink, type SinkOptions } from '../src/display';
import * as plot from '../src/plot';
import { bilinear } from '../src/plot/surface';

/** How many SVG elements vega tagged with this aria role description. */
function marks(svg: string, role: string): number {
  return svg.split(`aria-roledescription="${role}"`).length - 1;
}

/** Compile (no warnings expected) and render. */
async function render(fig: plot.VegaLiteFigure): Promise<string> {
  assert.deepEqual(fig.compile().warnings, []);
  return fig.svg();
}

function assertThrowsNaming(f: () => unknown, ...words: string[]): void {
  assert.throws(f, (e: Error) => {
    for (const w of words) assert.ok(e.message.includes(w), `"${e.message}" should mention ${w}`);
    return true;
  });
}

const xs = [1, 2, 3, 4, 5];

describe('plot: Vega-Lite builders', () => {
  it('line draws one line mark and one legend entry per series', async () => {
    const fig = plot.line({
      series: { a: { x: xs, y: xs }, b: { x: xs, y: xs.map((v) => v * v) }, c: xs.map((v) => -v) },
      title: 'Three',
    });
    const svg = await render(fig);
    assert.equal(marks(svg, 'line mark'), 3);
    assert.equal(svg.split('role-legend-label').length - 1, 3);
    assert.match(fig.summary, /3 series, 15 points; title "Three"/);
  });

  it('line puts a log scale on the axes asked for', async () => {
    const svg = await render(plot.line({ series: { g: { x: xs, y: [1, 10, 100, 1e3, 1e4] } }, logY: true }));
    assert.match(svg, /Y-axis titled 'y' for a log scale/);
    assert.doesNotMatch(svg, /X-axis[^"]*log scale/);
  });

  it('line reads tidy rows, naming series by the color field', async () => {
    const data = [0, 1, 2].flatMap((step) => ['sgd', 'adam'].map((run) => ({ step, loss: 1 / (step + 1), run })));
    const fig = plot.line({ data, x: 'step', y: 'loss', color: 'run', points: true });
    const svg = await render(fig);
    assert.equal(marks(svg, 'line mark'), 2);
    assert.equal(marks(svg, 'point'), 6);
    assert.match(svg, /X-axis titled 'step'/);
  });

  it('scatter draws one symbol per point', async () => {
    const fig = plot.scatter({ series: { a: { x: xs, y: xs }, b: { x: [1, 2], y: [3, 4] } } });
    assert.equal(marks(await render(fig), 'point'), 7);
    assert.match(fig.summary, /scatter plot: 2 series, 7 points/);
  });

  it('histogram draws bins x series bars on shared bin edges', async () => {
    const fig = plot.histogram({ values: { a: [0, 1, 1, 2, 9], b: new Float32Array([5, 5, 10]) }, bins: 10 });
    assert.equal(marks(await render(fig), 'bar'), 20);
    const rows = (fig.spec.data as { values: { series: string; start: number; count: number }[] }).values;
    // range [0, 10] in 10 bins of width 1: a has 1 in [1, 2), 10 falls in the last bin
    assert.equal(rows.find((r) => r.series === 'a' && r.start === 1)!.count, 2);
    assert.equal(rows.find((r) => r.series === 'b' && r.start === 9)!.count, 1);
    assert.equal(rows.reduce((s, r) => s + r.count, 0), 8);
  });

  it('histogram facets series into one panel each and counts dropped NaNs', async () => {
    const fig = plot.histogram({ values: { a: [1, 2, NaN], b: [2, 3] }, bins: 4, layout: 'facet' });
    const svg = await render(fig);
    assert.equal(marks(svg, 'bar'), 8);
    assert.equal(marks(svg, 'rect mark container'), 2);
    assert.match(fig.summary, /2 series, 4 bins; 1 non-finite value dropped/);
  });

  it('heatmap draws rows x cols cells from number[][] with its labels', async () => {
    const fig = plot.heatmap({ z: [[1, 2, 3], [4, 5, 6]], xLabels: ['the', 'cat', 'the'], yLabels: ['q0', 'q1'] });
    const svg = await render(fig);
    assert.equal(marks(svg, 'rect mark'), 6);
    assert.ok(svg.includes('>cat<') && svg.includes('>q1<'), 'axis labels are drawn');
    assert.match(fig.summary, /heatmap: 2x3 cells/);
  });

  it('heatmap reads a tfjs-like { shape, data } and a tensor with dataSync', async () => {
    const data = Float32Array.from({ length: 12 }, (_, i) => i);
    const a = plot.heatmap({ z: { shape: [3, 4], data } });
    const b = plot.heatmap({ z: { shape: [4, 3], dataSync: () => data } });
    assert.equal(marks(await render(a), 'rect mark'), 12);
    const cell = (b.spec.data as { values: { row: number; col: number; value: number }[] }).values[5];
    assert.deepEqual(cell, { row: 1, col: 2, value: 5 });
  });

  it('bar draws categories x series rects, grouped or stacked', async () => {
    const opts = { categories: ['fp32', 'mixed', 'ZeRO-1'], series: { params: [4, 2, 2], grads: [4, 2, 1] } };
    const grouped = plot.bar(opts);
    const stacked = plot.bar({ ...opts, stack: true });
    assert.equal(marks(await render(grouped), 'bar'), 6);
    assert.equal(marks(await render(stacked), 'bar'), 6);
    assert.match(stacked.summary, /stacked bar chart: 3 categories, 2 series/);
    assert.equal(marks(await render(plot.bar({ categories: ['a', 'b'], values: [1, 2], horizontal: true })), 'bar'), 2);
  });
});

describe('plot: Vega-Lite bundles and bad numbers', () => {
  it('a figure displays as exactly spec, SVG and text, and its JSON round-trips', async () => {
    const fig = plot.line({ series: { a: { x: xs, y: [1, NaN, 3, Infinity, 5] } } });
    const bundle = await fig[JUPYTER_DISPLAY]();
    assert.deepEqual(Object.keys(bundle).sort(), ['application/vnd.vegalite.v5+json', 'image/svg+xml', 'text/plain']);
    const spec = bundle['application/vnd.vegalite.v5+json'];
    assert.deepEqual(JSON.parse(JSON.stringify(spec)), spec);
    assert.equal((spec as { $schema: string }).$schema, 'https://vega.github.io/schema/vega-lite/v5.json');
    assert.match(bundle['text/plain'] as string, /1 series, 3 points; 2 non-finite points dropped \(first: series "a" index 1 y = NaN\)/);
    assert.match(bundle['image/svg+xml'] as string, /^<svg/);
  });

  it('vegaLite() wraps a spec, turning NaN and typed arrays into JSON values', async () => {
    const fig = plot.vegaLite({
      mark: 'bar',
      data: { values: [{ k: 'a', v: 1 }, { k: 'b', v: NaN }] },
      encoding: { x: { field: 'k', type: 'nominal' }, y: { field: 'v', type: 'quantitative' } },
      params: [{ name: 'p', value: new Float32Array([1, 2]) }],
    });
    assert.deepEqual(JSON.parse(JSON.stringify(fig.spec)), fig.spec);
    assert.deepEqual((fig.spec.params as { value: number[] }[])[0].value, [1, 2]);
    assert.match(fig.summary, /<VegaLite bar chart: 1 non-finite number set to null>/);
    assert.ok((await fig.svg()).startsWith('<svg'));
  });

  it('vegaLite() refuses data loaded from a URL', () => {
    assertThrowsNaming(() => plot.vegaLite({ mark: 'point', data: { url: 'data/cars.json' } }), 'vegaLite', 'data.url', 'data.values');
  });

  it('mismatched x and y lengths name the builder, the series and both fields', () => {
    assertThrowsNaming(() => plot.line({ series: { relu: { x: [1, 2, 3], y: [1, 2] } } }), 'line', '"relu"', "'x' has 3", "'y' has 2");
    assertThrowsNaming(() => plot.scatter({ series: { s: { x: [1], y: [1, 2] } } }), 'scatter', "'x'");
  });

  it('empty input names the builder and the field', () => {
    assertThrowsNaming(() => plot.line({ series: {} }), 'line', "'series' is empty");
    assertThrowsNaming(() => plot.line({ data: [] }), 'line', "'data' is empty");
    assertThrowsNaming(() => plot.line({ series: { a: [] } }), 'line', '"a"', "'y' is empty");
    assertThrowsNaming(() => plot.histogram({ values: {} }), 'histogram', "'values' is empty");
    assertThrowsNaming(() => plot.heatmap({ z: [] }), 'heatmap', "'z' is empty");
    assertThrowsNaming(() => plot.bar({ categories: [], values: [] }), 'bar', "'categories'");
  });

  it('a value <= 0 on a log axis names the series, index, field and the ways out', () => {
    assertThrowsNaming(
      () => plot.line({ series: { sigmoid: { x: xs, y: [1e-3, 1e-6, 0, 1, 2] } }, logY: true }),
      'line', 'series "sigmoid" index 2', 'y = 0', 'log y axis', 'logY: false',
    );
    assertThrowsNaming(() => plot.scatter({ data: [{ x: -1, y: 1 }], logX: true }), 'scatter', 'data[0]', 'x = -1', 'logX: false');
  });

  it("nonFinite: 'error' throws where the default drops", () => {
    assertThrowsNaming(() => plot.line({ series: { a: [1, NaN] }, nonFinite: 'error' }), 'line', 'index 1', 'NaN');
    assertThrowsNaming(() => plot.line({ series: { a: [NaN] } }), 'line', 'every point');
  });

  it('other shape errors name the builder and the field', () => {
    assertThrowsNaming(() => plot.heatmap({ z: [[1, 2], [3]] }), 'heatmap', "'z' row 1");
    assertThrowsNaming(() => plot.heatmap({ z: { shape: [2, 2], data: [1, 2, 3] } }), 'heatmap', 'shape [2, 2]', '3 data values');
    assertThrowsNaming(() => plot.heatmap({ z: [[1, 2]], xLabels: ['a'] }), 'heatmap', "'xLabels'");
    assertThrowsNaming(() => plot.bar({ categories: ['a', 'b'], series: { p: [1] } }), 'bar', 'series "p"', '2 categories');
    assertThrowsNaming(() => plot.bar({ categories: ['a', 'a'], values: [1, 2] }), 'bar', '"a" twice');
    assertThrowsNaming(() => plot.histogram({ values: [1], bins: 0 }), 'histogram', "'bins'");
  });
});

describe('plot: Plotly figures', () => {
  const g = [-1, 0, 1];
  const bowl = (a: number, b: number) => a * a + 10 * b * b;

  it('surface displays as Plotly JSON, offline HTML and text, with trajectories as extra traces', () => {
    plot.plotlySession.reset();
    const fig = plot.surface({ x: g, y: g, z: bowl, trajectories: [{ name: 'SGD', x: [1, 0.5], y: [1, 0.2] }, { name: 'Adam', x: [1], y: [1], z: [11] }] });
    const bundle = fig[JUPYTER_DISPLAY]();
    assert.deepEqual(Object.keys(bundle).sort(), ['application/vnd.plotly.v1+json', 'text/html', 'text/plain']);
    const json = bundle['application/vnd.plotly.v1+json'] as { data: { type: string; name: string; z: unknown }[] };
    assert.deepEqual(json.data.map((t) => t.type), ['surface', 'scatter3d', 'scatter3d']);
    assert.deepEqual(json.data[1].z, [11, 0.25 + 0.4]); // z from the function: 1 + 10, 0.25 + 10 * 0.04
    assert.deepEqual(json.data[0].z, [[11, 10, 11], [1, 0, 1], [11, 10, 11]]);
    assert.match(bundle['text/plain'] as string, /<Plotly surface: 3x3 grid, 2 trajectories \("SGD", "Adam"\)>/);
    plot.plotlySession.reset();
  });

  it('contour draws trajectories as 2-D paths and NaN heights as JSON null gaps', () => {
    const fig = plot.contour({ x: g, y: [0, 1], z: [[1, NaN, 1], [2, 2, 2]], trajectories: [{ name: 'm', x: [0, 1], y: [0, 1] }] });
    assert.deepEqual(fig.data.map((t) => t.type), ['contour', 'scatter']);
    assert.deepEqual(fig.data[0].z, [[1, null, 1], [2, 2, 2]]);
    assert.deepEqual(JSON.parse(JSON.stringify(fig.toJSON())), fig.toJSON());
    assert.match(fig.summary, /1 non-finite heights shown as gaps/);
  });

  it('trajectories without z on a grid are interpolated bilinearly', () => {
    // z = x + 2y on the grid is reproduced exactly: (0.5, 0.25) -> 0.5 + 0.5 = 1
    assert.equal(bilinear([0, 1], [0, 1], [[0, 1], [2, 3]], 0.5, 0.25), 1);
  });

  it('inlines plotly.js in the first HTML of a session only, until reset', () => {
    const session = new plot.PlotlySession();
    const fig = plot.plotly([{ type: 'scatter', x: [1, 2], y: [3, 4] }], { title: { text: 'two' } });
    const first = fig.html(session);
    const second = fig.html(session);
    assert.ok(first.includes('window.Plotly = Plotly') && first.length > 1e6, 'first HTML carries the library');
    assert.ok(!second.includes('window.Plotly = Plotly') && second.length < 5000, 'second HTML relies on window.Plotly');
    assert.match(second, /Plotly\.newPlot/);
    for (const html of [first, second]) assert.doesNotMatch(html, /<script[^>]*\bsrc\s*=/i);
    assert.doesNotMatch(second, /https?:\/\//);
    session.reset();
    assert.ok(fig.html(session).includes('window.Plotly = Plotly'), 'reset inlines again');
    assert.match(fig.summary, /<Plotly figure: 1 traces \(scatter\); title "two">/);
  });

  it("the HTML's scripts parse and draw the figure through window.Plotly, even with </script> in a name", () => {
    const fig = plot.contour({ x: g, y: g, z: bowl, trajectories: [{ name: '</script><b>x', x: [0], y: [0] }] });
    const session = new plot.PlotlySession();
    const scripts = (html: string) => [...html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)].map((m) => m[1]);
    const [lib, firstDraw] = scripts(fig.html(session));
    assert.ok(lib.includes('plotly.js v') && firstDraw.includes('newPlot'));
    new vm.Script(lib); // the inlined library is valid JavaScript
    const calls: unknown[][] = [];
    const el = {};
    const window = { Plotly: { newPlot: (...a: unknown[]) => void calls.push(a) } };
    vm.runInNewContext(scripts(fig.html(session))[0], { window, document: { getElementById: () => el } });
    assert.equal(calls.length, 1);
    assert.equal(calls[0][0], el);
    assert.equal((calls[0][1] as { name: string }[])[1].name, '</script><b>x');
  });

  it('surface errors name the builder and the field', () => {
    assertThrowsNaming(() => plot.surface({ x: g, y: [0, 1], z: [[1, 2, 3]] }), 'surface', "'z'", '2 rows', 'got 1 rows');
    assertThrowsNaming(
      () => plot.contour({ x: g, y: g, z: bowl, trajectories: [{ name: 'sgd', x: [1, 2], y: [1] }] }),
      'contour', 'trajectories[0]', '"sgd"',
    );
  });
});

describe('plot: liveTraining', () => {
  type Call = { bundle: DisplayBundle; opts: SinkOptions };
  function recorder(): { calls: Call[]; sink: DisplaySink } {
    const calls: Call[] = [];
    return { calls, sink: (bundle, opts) => void calls.push({ bundle, opts }) };
  }
  const text = (c: Call) => c.bundle.data['text/plain'] as string;

  it('sends display_data once, then updates with the same display id', async () => {
    const { calls, sink } = recorder();
    let t = 0;
    const live = plot.liveTraining({ sink, every: 10, now: () => t });
    for (let step = 1; step <= 10; step++) {
      t += 6; // ms per step: a render every other step
      await live.update({ step, loss: 1 / step });
    }
    await live.finish();
    assert.ok(calls.length >= 3);
    assert.equal(new Set(calls.map((c) => c.opts.displayId)).size, 1);
    assert.ok(calls[0].opts.displayId);
    assert.deepEqual(calls.map((c) => c.opts.update), [false, ...calls.slice(1).map(() => true)]);
    assert.deepEqual(Object.keys(calls[0].bundle.data).sort(),
      ['application/vnd.vegalite.v5+json', 'image/svg+xml', 'text/html', 'text/plain']);
  });

  it('throttles 1000 fast updates to a handful of renders', async () => {
    const { calls, sink } = recorder();
    let t = 0;
    const live = plot.liveTraining({ sink, now: () => t++ }); // 1 ms per step, every 500 ms
    for (let step = 1; step <= 1000; step++) await live.update({ step, loss: 1 / step });
    await live.finish();
    assert.ok(calls.length >= 2 && calls.length <= 5, `${calls.length} renders`);
    const fast = recorder();
    const unawaited = plot.liveTraining({ sink: fast.sink });
    for (let step = 1; step <= 1000; step++) void unawaited.update({ step, loss: 1 });
    await unawaited.finish();
    assert.equal(fast.calls.length, 2); // the first step, then the final state
  });

  it('backs off to 10x the render time when rendering is slow', async () => {
    let t = 0;
    const calls: number[] = [];
    const slowSink: DisplaySink = () => void calls.push((t += 50)); // each render "takes" 50 ms
    const live = plot.liveTraining({ sink: slowSink, every: 0, now: () => t });
    for (let step = 1; step <= 20; step++) {
      t += 100;
      await live.update({ step, loss: 1 });
    }
    // gap = max(every, 10 * 50 ms) = 500 ms: 2100 ms of steps give about 4 renders, not 20
    assert.ok(calls.length >= 3 && calls.length <= 5, `${calls.length} renders`);
  });

  it('finish() renders the final step and loss in text, HTML and the curve', async () => {
    const { calls, sink } = recorder();
    const live = plot.liveTraining({ sink, title: 'MLP', every: 1e9 });
    for (let step = 1; step <= 1000; step++) void live.update({ step, loss: 1 / step, throughput: 2048, extra: { lr: 0.01 } });
    await live.finish();
    const last = calls[calls.length - 1];
    assert.match(text(last), /^MLP: step 1000, loss 0\.001, throughput 2048 samples\/s, elapsed [\d.]+ s, lr 0\.01$/);
    assert.match(last.bundle.data['text/html'] as string, /<td>1000<\/td>.*<td>0\.001<\/td>/);
    const values = (last.bundle.data['application/vnd.vegalite.v5+json'] as { data: { values: { step: number }[] } }).data.values;
    assert.equal(values[values.length - 1].step, 1000);
    assert.equal(marks(last.bundle.data['image/svg+xml'] as string, 'line mark'), 1);
  });

  it('reports a NaN loss by step instead of breaking the chart', async () => {
    const { calls, sink } = recorder();
    const live = plot.liveTraining({ sink });
    for (let step = 1; step <= 40; step++) void live.update({ step, loss: step >= 37 ? NaN : 1 });
    await live.finish();
    const last = calls[calls.length - 1];
    assert.match(text(last), /loss NaN at step 37 \(4 non-finite losses, not drawn\)/);
    assert.match(last.bundle.data['text/html'] as string, /loss NaN at step 37/);
    const spec = last.bundle.data['application/vnd.vegalite.v5+json'];
    assert.deepEqual(JSON.parse(JSON.stringify(spec)), spec);
  });

  it('keeps the curve bounded and evenly spaced, ending at the last step', () => {
    const s = plot.liveState('t', 100);
    for (let step = 0; step < 10_000; step++) plot.recordPoint(s, { step, loss: 1 });
    assert.ok(s.curve.length <= 100, `${s.curve.length} points`);
    assert.equal(s.curve[0].step, 0);
    assert.equal(s.curve[1].step - s.curve[0].step, s.stride);
    assert.equal(s.lastDrawable!.step, 9999);
  });

  it('refuses updates after finish and bad steps', async () => {
    const live = plot.liveTraining({ sink: recorder().sink });
    assertThrowsNaming(() => live.update({ step: NaN, loss: 1 }), 'liveTraining.update', 'step');
    await live.finish();
    assertThrowsNaming(() => live.update({ step: 1, loss: 1 }), 'liveTraining', 'after finish()');
  });
});
