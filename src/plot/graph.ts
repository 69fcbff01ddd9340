/**
 * Computation graphs: the output of `gl.ag.graph(root)` drawn as boxes and arrows,
 * inputs on the left, the output on the right, each box showing a value's
 * label, op, data and grad (micrograd's `draw_dot`, as a Vega-Lite figure).
 */
import { baseSpec, describeValue, plural, summaryLine, VegaLiteFigure, type ChartOptions } from './vegalite';

/** One node to draw: what `gl.ag.graph` returns per value (`label` and `op` may be ''). */
export interface GraphPlotNode {
  id: number;
  label?: string;
  op?: string;
  data: number;
  grad: number;
}

/** A directed acyclic graph to draw: edges go from an input `from` to the value `to` computed from it. */
export interface GraphPlotInput {
  nodes: readonly GraphPlotNode[];
  edges: readonly { from: number; to: number }[];
}

/** Options of {@link graph}. */
export interface GraphOptions extends ChartOptions {
  /**
   * Plot width in pixels. Default: what the layout needs (one column per layer,
   * each as wide as the widest box plus room for the arrows).
   */
  width?: number;
  /** Plot height in pixels. Default: what the tallest layer needs. */
  height?: number;
  /** Decimals of data and grad. Default 3 (`2.000`, `-0.416`); exponent form at or above 1e5 and below 10^-digits. */
  digits?: number;
  /** Refuse graphs with more nodes than this (the drawing gets unreadable long before). Default 200. */
  maxNodes?: number;
}

/** Where {@link layoutGraph} puts a node: its layer (column, 0 = left) and its row within the layer. */
export interface GraphPlacement {
  id: number;
  layer: number;
  /** Position within the layer, 0 at the top. */
  row: number;
}

/** What {@link layoutGraph} returns. */
export interface GraphLayout {
  /** One placement per node, in layer then row order. */
  nodes: GraphPlacement[];
  /**
   * One route per edge, in the input's order: the slots `{ layer, row }` it passes
   * through between its ends (empty for an edge between neighbouring layers).
   */
  edges: { from: number; to: number; via: { layer: number; row: number }[] }[];
  /** How many slots (nodes and passing edges) each layer holds. */
  rowsPerLayer: number[];
}

/**
 * The layered layout `graph()` draws, computed in TypeScript (no graph library),
 * after Sugiyama et al. 1981:
 *
 * 1. **Layers by longest path.** `layer(v) = 0` for a node without inputs, else
 *    `1 + max layer(u)` over its inputs `u`: every edge points right, and the
 *    output lands in the last column. An input (no incoming edge) is then moved
 *    right, to one layer before its first consumer, so a bias added at the end
 *    sits next to its `+` instead of far out on the left.
 * 2. **Long edges get waypoints.** An edge that spans k > 1 layers gets a slot in
 *    each of the k − 1 layers between, so it is routed around boxes, not
 *    through them.
 * 3. **Rows by barycentre.** Within a layer, slots are sorted by the mean row of
 *    their neighbours (four right-then-left sweeps, ties by id), the usual
 *    heuristic that removes most crossings.
 *
 * Throws on a cycle, on an edge to an unknown id, and on duplicate ids.
 */
export function layoutGraph(g: GraphPlotInput): GraphLayout {
  const { ids, preds, succs } = checkGraph(g);
  // 1. Longest path from the inputs (Kahn's algorithm gives a topological order and finds cycles).
  const indeg = new Map(ids.map((id) => [id, preds.get(id)!.length]));
  const order: number[] = ids.filter((id) => indeg.get(id) === 0);
  for (let i = 0; i < order.length; i++) {
    for (const s of succs.get(order[i]!)!) {
      indeg.set(s, indeg.get(s)! - 1);
      if (indeg.get(s) === 0) order.push(s);
    }
  }
  if (order.length !== ids.length) {
    const stuck = ids.filter((id) => indeg.get(id)! > 0);
    throw new Error(`graph: the edges form a cycle through node ids ${stuck.slice(0, 8).join(', ')}; a computation graph must be acyclic`);
  }
  const layer = new Map<number, number>();
  for (const id of order) layer.set(id, Math.max(-1, ...preds.get(id)!.map((p) => layer.get(p)!)) + 1);
  for (const id of order) {
    const consumers = succs.get(id)!;
    if (preds.get(id)!.length === 0 && consumers.length > 0) layer.set(id, Math.min(...consumers.map((s) => layer.get(s)!)) - 1);
  }
  // 2. Slots: one per node ('n<id>') and one per layer an edge passes ('e<edge>:<layer>'), linked in chains.
  const nLayers = Math.max(...layer.values()) + 1;
  const layers: string[][] = Array.from({ length: nLayers }, () => []);
  const left = new Map<string, string[]>();
  const right = new Map<string, string[]>();
  const rank = new Map<string, number>(); // tie-break: node id, then waypoints after all nodes
  const addSlot = (key: string, l: number, r: number) => {
    layers[l]!.push(key);
    left.set(key, []);
    right.set(key, []);
    rank.set(key, r);
  };
  const maxId = Math.max(...ids);
  for (const id of [...ids].sort((a, b) => a - b)) addSlot(`n${id}`, layer.get(id)!, id);
  const waypoints = g.edges.map((e, k) => {
    const keys: string[] = [];
    for (let l = layer.get(e.from)! + 1; l < layer.get(e.to)!; l++) {
      keys.push(`e${k}:${l}`);
      addSlot(`e${k}:${l}`, l, maxId + 1 + k);
    }
    const chain = [`n${e.from}`, ...keys, `n${e.to}`];
    for (let i = 1; i < chain.length; i++) {
      right.get(chain[i - 1]!)!.push(chain[i]!);
      left.get(chain[i]!)!.push(chain[i - 1]!);
    }
    return keys;
  });
  // 3. Rows: start in id order, then barycentre sweeps on positions centred on 0 (layers differ in size).
  const pos = new Map<string, number>();
  const place = (l: number) => layers[l]!.forEach((key, r) => pos.set(key, r - (layers[l]!.length - 1) / 2));
  layers.forEach((_, l) => place(l));
  const sortBy = (l: number, nbrs: Map<string, string[]>) => {
    const key = (k: string) => {
      const ns = nbrs.get(k)!;
      return ns.length ? ns.reduce((s, n) => s + pos.get(n)!, 0) / ns.length : pos.get(k)!;
    };
    const keys = new Map(layers[l]!.map((k) => [k, key(k)]));
    layers[l]!.sort((a, b) => keys.get(a)! - keys.get(b)! || rank.get(a)! - rank.get(b)!);
    place(l);
  };
  for (let sweep = 0; sweep < 4; sweep++) {
    for (let l = 1; l < nLayers; l++) sortBy(l, left);
    for (let l = nLayers - 2; l >= 0; l--) sortBy(l, right);
  }
  const slot = new Map<string, { layer: number; row: number }>();
  layers.forEach((keys, l) => keys.forEach((k, row) => slot.set(k, { layer: l, row })));
  return {
    nodes: layers.flatMap((keys) => keys.filter((k) => k.startsWith('n')).map((k) => ({ id: Number(k.slice(1)), ...slot.get(k)! }))),
    edges: g.edges.map((e, k) => ({ from: e.from, to: e.to, via: waypoints[k]!.map((w) => slot.get(w)!) })),
    rowsPerLayer: layers.map((keys) => keys.length),
  };
}

/**
 * Draw a computation graph, e.g. `gl.ag.graph(root)` after `root.backward()`:
 * one box per value with two lines of text (`x1` / `data 2.000 | grad -0.416`;
 * a computed value shows its op, `w1·x1 (*)` when labelled, `*` when not; an
 * unlabelled input shows `const`, as the numbers an op lifts to values are), and
 * one arrow per edge from each input to the value computed from it. Inputs
 * (no incoming edge) are blue, computed values grey, the output (no outgoing
 * edge) orange. Layout: {@link layoutGraph}.
 *
 * Non-finite data or grad show as `NaN` / `Infinity` in the box. Throws when
 * the input is not `{ nodes, edges }`, ids repeat, an edge names an unknown id,
 * the edges form a cycle, or there are more than `maxNodes` nodes.
 *
 * ```ts
 * const x = new gl.ag.Value(2, 'x');
 * const y = x.mul(x).add(x).named('y');
 * y.backward();
 * await gl.display(gl.plot.graph(gl.ag.graph(y), { title: 'y = x² + x' }));
 * ```
 * Used in notebooks/01-backprop/01-chain-rule.
 */
export function graph(g: GraphPlotInput, opts: GraphOptions = {}): VegaLiteFigure {
  const { digits = 3, maxNodes = 200 } = opts;
  if (!(Number.isInteger(digits) && digits >= 0 && digits <= 12)) throw new Error(`graph: 'digits' must be an integer in [0, 12], got ${digits}`);
  checkGraph(g);
  if (g.nodes.length > maxNodes) {
    throw new Error(`graph: ${g.nodes.length} nodes, over maxNodes = ${maxNodes}; draw a smaller expression or raise maxNodes`);
  }
  const layout = layoutGraph(g);
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const hasIn = new Set(g.edges.map((e) => e.to));
  const hasOut = new Set(g.edges.map((e) => e.from));
  const nLayers = layout.rowsPerLayer.length;
  const nRows = Math.max(...layout.rowsPerLayer);

  // Box size from the text (11 px monospace: ~6.6 px per character), pitch from the plot size.
  const texts = new Map(g.nodes.map((n) => [n.id, boxText(n, digits)]));
  const longest = Math.max(...[...texts.values()].flat().map((s) => s.length));
  const boxW = Math.max(60, Math.ceil(longest * 6.6) + 16);
  const boxH = 34;
  const width = opts.width ?? nLayers * (boxW + 48) - 48 + 8;
  const height = opts.height ?? nRows * (boxH + 18) - 18 + 8;
  const colPitch = nLayers > 1 ? (width - boxW - 8) / (nLayers - 1) : 0;
  const rowPitch = nRows > 1 ? (height - boxH - 8) / (nRows - 1) : 0;
  // Pixel centre of a slot; y grows upwards (Vega-Lite's y scale), row 0 at the top, short layers centred.
  const at = ({ layer, row }: { layer: number; row: number }) => ({
    x: 4 + boxW / 2 + layer * colPitch,
    y: height - (4 + boxH / 2 + ((nRows - layout.rowsPerLayer[layer]!) * rowPitch) / 2 + row * rowPitch),
  });
  const centre = new Map(layout.nodes.map((p) => [p.id, at(p)]));

  const finite = (v: number) => (Number.isFinite(v) ? v : null);
  const nodeRows = layout.nodes.map((p) => {
    const n = byId.get(p.id)!;
    const c = centre.get(p.id)!;
    const role = hasIn.has(p.id) ? (hasOut.has(p.id) ? 'op' : 'output') : 'input';
    return {
      id: p.id, label: n.label ?? '', op: n.op ?? '', data: finite(n.data), grad: finite(n.grad), role,
      layer: p.layer, text: texts.get(p.id)!,
      x: c.x, y: c.y, x0: c.x - boxW / 2, x1: c.x + boxW / 2, y0: c.y - boxH / 2, y1: c.y + boxH / 2,
    };
  });
  // Each edge: a polyline from the right side of its input, level through its waypoints, to 3 px
  // before the left side of its output, where an arrowhead points along the last segment.
  const pathRows: { edge: number; from: number; to: number; i: number; x: number; y: number }[] = [];
  const headRows = layout.edges.map((e, k) => {
    const a = centre.get(e.from)!;
    const b = centre.get(e.to)!;
    const pts = [{ x: a.x + boxW / 2, y: a.y }];
    for (const w of e.via) {
      const c = at(w);
      pts.push({ x: c.x - boxW / 2, y: c.y }, { x: c.x + boxW / 2, y: c.y });
    }
    pts.push({ x: b.x - boxW / 2 - 3, y: b.y });
    pts.forEach((p, i) => pathRows.push({ edge: k, from: e.from, to: e.to, i, ...p }));
    const [p, q] = [pts[pts.length - 2]!, pts[pts.length - 1]!];
    // Clockwise degrees on screen, where y points down.
    return { edge: k, x: q.x, y: q.y, angle: (Math.atan2(-(q.y - p.y), q.x - p.x) * 180) / Math.PI };
  });

  // Positions are in pixels: each scale maps [0, extent] onto the plot as it is.
  const px = (field: string, extent: number) => ({ field, type: 'quantitative', axis: null, scale: { domain: [0, extent], nice: false, zero: false } });
  const roleColor = { field: 'role', type: 'nominal', legend: null, scale: { domain: ['input', 'op', 'output'], range: ['#dbe9f6', '#eeeeee', '#fde0c5'] } };
  const spec = {
    ...baseSpec({ ...opts, width, height }, []),
    data: { values: nodeRows },
    config: { view: { stroke: null } },
    layer: [
      {
        data: { values: pathRows },
        mark: { type: 'line', color: '#666', strokeWidth: 1.2, interpolate: 'linear' },
        encoding: {
          x: px('x', width), y: px('y', height),
          detail: { field: 'edge', type: 'nominal' }, order: { field: 'i', type: 'quantitative' },
        },
      },
      {
        data: { values: headRows },
        mark: { type: 'point', shape: 'triangle-right', filled: true, color: '#666', size: 40, opacity: 1 },
        encoding: { x: px('x', width), y: px('y', height), angle: { field: 'angle', type: 'quantitative', scale: null } },
      },
      {
        mark: { type: 'rect', stroke: '#555', strokeWidth: 1, cornerRadius: 4, tooltip: { content: 'data' } },
        encoding: { x: px('x0', width), x2: { field: 'x1' }, y: px('y0', height), y2: { field: 'y1' }, fill: roleColor },
      },
      {
        mark: { type: 'text', font: 'monospace', fontSize: 11, lineHeight: 14, align: 'center', baseline: 'middle' },
        encoding: { x: px('x', width), y: px('y', height), text: { field: 'text' } },
      },
    ],
  };
  return new VegaLiteFigure(
    spec,
    summaryLine('computation graph', [plural(g.nodes.length, 'node'), plural(g.edges.length, 'edge'), plural(nLayers, 'layer')], opts.title),
  );
}

/** The two lines of a node's box: name (and op) / data and grad. */
function boxText(n: GraphPlotNode, digits: number): string[] {
  const label = n.label ?? '';
  const op = n.op ?? '';
  const head = label && op ? `${label} (${op})` : label || op || 'const';
  return [head, `data ${num(n.data, digits)} | grad ${num(n.grad, digits)}`];
}

/** Fixed `digits` decimals; exponent form at or above 1e5 and below 10^-digits (except 0). */
function num(v: number, digits: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 10 ** -digits)) return v.toExponential(Math.max(digits - 1, 1));
  return v.toFixed(digits);
}

/** Validate `{ nodes, edges }` and index it; every message names the bad part. */
function checkGraph(g: GraphPlotInput): { ids: number[]; preds: Map<number, number[]>; succs: Map<number, number[]> } {
  if (g === null || typeof g !== 'object' || !Array.isArray(g.nodes) || !Array.isArray(g.edges)) {
    throw new Error(`graph: expected { nodes, edges } as gl.ag.graph(root) returns, got ${describeValue(g)}`);
  }
  if (g.nodes.length === 0) throw new Error(`graph: 'nodes' is empty; nothing to draw`);
  const ids: number[] = [];
  const preds = new Map<number, number[]>();
  const succs = new Map<number, number[]>();
  g.nodes.forEach((n, i) => {
    if (n === null || typeof n !== 'object' || typeof n.id !== 'number' || !Number.isFinite(n.id)) {
      throw new Error(`graph: nodes[${i}] has no numeric 'id' (got ${describeValue(n?.id)})`);
    }
    if (typeof n.data !== 'number' || typeof n.grad !== 'number') {
      throw new Error(`graph: nodes[${i}] (id ${n.id}) needs numeric 'data' and 'grad', got ${describeValue(n.data)} and ${describeValue(n.grad)}`);
    }
    if (preds.has(n.id)) throw new Error(`graph: node id ${n.id} appears twice (nodes[${i}]); ids must be unique`);
    ids.push(n.id);
    preds.set(n.id, []);
    succs.set(n.id, []);
  });
  g.edges.forEach((e, i) => {
    for (const end of ['from', 'to'] as const) {
      if (!preds.has(e?.[end])) throw new Error(`graph: edges[${i}].${end} = ${describeValue(e?.[end])} is not a node id`);
    }
    if (e.from === e.to) throw new Error(`graph: edges[${i}] goes from node ${e.from} to itself; a computation graph must be acyclic`);
    succs.get(e.from)!.push(e.to);
    preds.get(e.to)!.push(e.from);
  });
  return { ids, preds, succs };
}
