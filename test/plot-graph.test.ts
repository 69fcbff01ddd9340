/**
 * gl.plot.graph: the layered layout of a computation graph and its Vega-Lite drawing.
 */
import { strict as assert } from 'assert';
import { graph as agGraph, Value } from '../src/autograd';
import * as plot from '../src/plot';

/** How many SVG elements vega tagged with this aria role description. */
function marks(svg: string, role: string): number {
  return svg.split(`aria-roledescription="${role}"`).length - 1;
}

function assertThrowsNaming(f: () => unknown, ...words: string[]): void {
  assert.throws(f, (e: Error) => {
    for (const w of words) assert.ok(e.message.includes(w), `"${e.message}" should mention ${w}`);
    return true;
  });
}

/** o = tanh(x1·w1 + x2·w2 + b), micrograd's neuron, after backward(). */
function neuron() {
  const [x1, x2, w1, w2, b] = [new Value(2, 'x1'), new Value(0, 'x2'), new Value(-3, 'w1'), new Value(1, 'w2'), new Value(6.8813735870195432, 'b')];
  const x1w1 = x1.mul(w1).named('x1w1');
  const x2w2 = x2.mul(w2).named('x2w2');
  const n = x1w1.add(x2w2).named('s').add(b).named('n');
  const o = n.tanh().named('o');
  o.backward();
  return agGraph(o);
}

const layerOf = (layout: plot.GraphLayout, g: ReturnType<typeof neuron>, label: string) =>
  layout.nodes.find((p) => p.id === g.nodes.find((n) => n.label === label)!.id)!.layer;

describe('plot: computation graphs', () => {
  it('layers a neuron by longest path: inputs left, output right, the bias next to its +', () => {
    const g = neuron();
    const layout = plot.layoutGraph(g);
    const layers = Object.fromEntries(['x1', 'w1', 'x2', 'w2', 'x1w1', 'x2w2', 's', 'b', 'n', 'o'].map((l) => [l, layerOf(layout, g, l)]));
    assert.deepEqual(layers, { x1: 0, w1: 0, x2: 0, w2: 0, x1w1: 1, x2w2: 1, s: 2, b: 2, n: 3, o: 4 });
    assert.deepEqual(layout.rowsPerLayer, [4, 2, 2, 1, 1]);
    assert.equal(layout.nodes.length, g.nodes.length);
    assert.ok(layout.edges.every((e) => e.via.length === 0));
    // every edge points right
    const layerById = new Map(layout.nodes.map((p) => [p.id, p.layer]));
    for (const e of g.edges) assert.ok(layerById.get(e.from)! < layerById.get(e.to)!);
  });

  it('orders rows so that the inputs of each product sit together (no crossings)', () => {
    const g = neuron();
    const layout = plot.layoutGraph(g);
    const rowOf = (label: string) => layout.nodes.find((p) => p.id === g.nodes.find((n) => n.label === label)!.id)!.row;
    assert.equal(Math.abs(rowOf('x1') - rowOf('w1')), 1);
    assert.equal(Math.abs(rowOf('x2') - rowOf('w2')), 1);
    assert.equal(rowOf('x1w1') < rowOf('x2w2'), rowOf('x1') < rowOf('x2'));
  });

  it('routes an edge that skips layers through one waypoint per layer in between', () => {
    // y = exp(a − a·a): a feeds the square (layer 1) and the final + (layer 3)
    const a = new Value(1.5, 'a');
    const y = a.sub(a.mul(a)).exp().named('y');
    y.backward();
    const g = agGraph(y);
    const layout = plot.layoutGraph(g);
    const aId = g.nodes.find((n) => n.label === 'a')!.id;
    const plusId = g.nodes.find((n) => n.op === '+')!.id;
    const long = layout.edges.find((e) => e.from === aId && e.to === plusId)!;
    assert.deepEqual(long.via.map((w) => w.layer), [1, 2]);
    // a waypoint takes a slot of its own, not a node's
    for (const w of long.via) assert.ok(!layout.nodes.some((p) => p.layer === w.layer && p.row === w.row));
  });

  it('draws one box and one text per node, one line and one arrowhead per edge, with data and grad', async () => {
    const g = neuron();
    const fig = plot.graph(g, { title: 'a neuron' });
    assert.deepEqual(fig.compile().warnings, []);
    const svg = await fig.svg();
    assert.equal(marks(svg, 'text mark'), g.nodes.length);
    assert.equal(marks(svg, 'rect mark'), g.nodes.length);
    assert.equal(marks(svg, 'line mark'), g.edges.length);
    assert.equal(marks(svg, 'point'), g.edges.length);
    // x1.grad = w1 · (1 − tanh²n) = −3 · 0.5
    assert.match(svg, /x1<\/tspan>.*?data 2\.000 \| grad -1\.500/s);
    assert.match(svg, /o \(tanh\)<\/tspan>.*?data 0\.707 \| grad 1\.000/s);
    assert.match(fig.summary, /computation graph: 10 nodes, 9 edges, 5 layers; title "a neuron"/);
  });

  it('takes its size from the options and shows unlabelled constants and NaN', async () => {
    const fig = plot.graph(
      { nodes: [{ id: 0, label: '', op: '', data: 3, grad: NaN }, { id: 1, label: 'y', op: 'log', data: -Infinity, grad: 1 }], edges: [{ from: 0, to: 1 }] },
      { width: 500, height: 120, digits: 1 },
    );
    assert.equal(fig.spec.width, 500);
    assert.equal(fig.spec.height, 120);
    const svg = await fig.svg();
    assert.match(svg, /const<\/tspan>.*?data 3\.0 \| grad NaN/s);
    assert.match(svg, /data -Infinity \| grad 1\.0/);
    assert.doesNotThrow(() => JSON.parse(JSON.stringify(fig.spec)));
  });

  it('refuses what is not a graph, naming the bad part', () => {
    assertThrowsNaming(() => plot.graph(null as never), 'graph:', '{ nodes, edges }');
    assertThrowsNaming(() => plot.graph({ nodes: [], edges: [] }), "'nodes' is empty");
    assertThrowsNaming(() => plot.graph({ nodes: [{ id: 0, data: 1, grad: 0 }, { id: 0, data: 2, grad: 0 }], edges: [] }), 'id 0 appears twice');
    assertThrowsNaming(() => plot.graph({ nodes: [{ id: 0, data: 1, grad: 0 }], edges: [{ from: 0, to: 7 }] }), 'edges[0].to = 7', 'not a node id');
    assertThrowsNaming(() => plot.graph({ nodes: [{ id: 0, data: '1' as never, grad: 0 }], edges: [] }), 'nodes[0]', "'data' and 'grad'");
    const cyc = { nodes: [0, 1, 2].map((id) => ({ id, data: 0, grad: 0 })), edges: [{ from: 0, to: 1 }, { from: 1, to: 2 }, { from: 2, to: 1 }] };
    assertThrowsNaming(() => plot.graph(cyc), 'cycle', '1, 2');
    assertThrowsNaming(() => plot.graph({ nodes: [{ id: 0, data: 1, grad: 0 }], edges: [{ from: 0, to: 0 }] }), 'to itself');
    assertThrowsNaming(() => plot.graph(neuron(), { maxNodes: 5 }), '10 nodes', 'maxNodes = 5');
  });
});
