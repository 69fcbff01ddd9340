/**
 * The scalar Value engine: hand-worked values and gradients, fan-out
 * accumulation, graph() for plotting, and every op against PyTorch (float64,
 * one Python run) and central finite differences.
 */
import { strict as assert } from 'assert';
import { Value, graph } from '../src/autograd';
import { needTorch, runTorch, type TorchRun } from './helpers/torch';

interface Case {
  name: string;
  inputs: Record<string, number>;
  ts: (v: Record<string, Value>) => Value;
  /** Python statements over the same names (torch float64 scalars) that set `out`. */
  py: string;
}

const CASES: Case[] = [
  {
    name: 'L = (a·b + c)·f',
    inputs: { a: 2, b: -3, c: 10, f: -2 },
    ts: ({ a, b, c, f }) => (a as Value).mul(b as Value).add(c as Value).mul(f as Value),
    py: 'out = (a*b + c) * f',
  },
  { name: 'fan-out x·x + x', inputs: { x: 3 }, ts: ({ x }) => (x as Value).mul(x as Value).add(x as Value), py: 'out = x*x + x' },
  {
    name: 'a tanh neuron',
    inputs: { x1: 2, x2: 0, w1: -3, w2: 1, b: 6.881373587019543 },
    ts: ({ x1, x2, w1, w2, b }) => (x1 as Value).mul(w1 as Value).add((x2 as Value).mul(w2 as Value)).add(b as Value).tanh(),
    py: 'out = torch.tanh(x1*w1 + x2*w2 + b)',
  },
  {
    name: "micrograd's test_more_ops",
    inputs: { a: -4, b: 2 },
    ts: ({ a: a0, b: b0 }) => {
      const [a, b] = [a0 as Value, b0 as Value];
      let c = a.add(b);
      let d = a.mul(b).add(b.pow(3));
      c = c.add(c.add(1));
      c = c.add(new Value(1).add(c).add(a.neg()));
      d = d.add(d.mul(2).add(b.add(a).relu()));
      d = d.add(d.mul(3).add(b.sub(a).relu()));
      const e = c.sub(d);
      const f = e.pow(2);
      let g = f.div(2);
      g = g.add(new Value(10).div(f));
      return g;
    },
    py: `
c = a + b
d = a * b + b**3
c = c + (c + 1)
c = c + (1 + c + (-a))
d = d + (d * 2 + (b + a).relu())
d = d + (3 * d + (b - a).relu())
e = c - d
f = e**2
g = f / 2.0
g = g + 10.0 / f
out = g`,
  },
  {
    name: 'exp, log and sigmoid',
    inputs: { x: 0.7, y: -1.3 },
    ts: ({ x, y }) => (x as Value).sigmoid().mul((y as Value).exp()).log().div(y as Value),
    py: 'out = torch.log(torch.sigmoid(x) * torch.exp(y)) / y',
  },
  {
    name: 'pow with a Value exponent',
    inputs: { a: 1.7, b: 0.6 },
    ts: ({ a, b }) => (a as Value).pow(b as Value).mul(b as Value),
    py: 'out = a ** b * b',
  },
  {
    name: 'sub, div, neg and relu',
    inputs: { x: 1.5, y: 2.5 },
    ts: ({ x, y }) => (x as Value).sub(y as Value).neg().relu().div(y as Value).add((x as Value).div(y as Value).relu()),
    py: 'out = (-(x - y)).relu() / y + (x / y).relu()',
  },
];

function run(c: Case, inputs = c.inputs): { out: Value; vars: Record<string, Value> } {
  const vars = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, new Value(v, k)]));
  const out = c.ts(vars);
  return { out, vars };
}

const TORCH_SCRIPT = `
OUTPUT = {}
for case in INPUT:
    env = {"torch": torch}
    for k, v in case["inputs"].items():
        env[k] = torch.tensor(float(v), requires_grad=True)
    exec(case["py"], env)
    env["out"].backward()
    OUTPUT[case["name"]] = {"out": env["out"].item(), "grads": {k: env[k].grad.item() for k in case["inputs"]}}
`;

const close = (a: number, e: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)), `${what}: ${a}, expected ${e}`);

describe('autograd Value engine', () => {
  let torch: TorchRun<Record<string, { out: number; grads: Record<string, number> }>> | undefined;
  before(() => {
    torch = runTorch(TORCH_SCRIPT, CASES.map(({ name, inputs, py }) => ({ name, inputs, py })));
  });

  it('computes L = (a·b + c)·f and its gradients as worked by hand', () => {
    const { out, vars } = run(CASES[0] as Case);
    out.backward();
    // e = a·b = −6; d = e + c = 4; L = d·f = −8
    assert.equal(out.data, -8);
    // ∂L/∂f = d = 4; ∂L/∂c = f = −2; ∂L/∂a = f·b = 6; ∂L/∂b = f·a = −4
    assert.deepEqual(
      Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, v.grad])),
      { a: 6, b: -4, c: -2, f: 4 },
    );
  });

  it('accumulates both paths where a value fans out: x·x + x', () => {
    const x = new Value(3, 'x');
    const y = x.mul(x).add(x); // y = x² + x = 12
    y.backward(); //             ∂y/∂x = 2x + 1 = 7: 3 + 3 from the product, 1 from the sum
    assert.equal(y.data, 12);
    assert.equal(x.grad, 7);
  });

  it('gives a tanh neuron the textbook gradients', () => {
    const { out, vars } = run(CASES[2] as Case);
    out.backward();
    // n = 2·(−3) + 0·1 + 6.8814 = 0.8814; o = tanh n = √2/2; ∂o/∂n = 1 − o² = 0.5
    close(out.data, Math.SQRT1_2, 1e-12, 'o');
    close((vars.w1 as Value).grad, 1, 1e-12, '∂o/∂w1 = x1·0.5'); // 2·0.5
    close((vars.x1 as Value).grad, -1.5, 1e-12, '∂o/∂x1 = w1·0.5');
    assert.equal((vars.w2 as Value).grad, 0); // x2 = 0
  });

  it("reproduces micrograd's test_more_ops numbers", () => {
    const { out, vars } = run(CASES[3] as Case);
    out.backward();
    close(out.data, 24.70408163265306, 1e-12, 'g');
    close((vars.a as Value).grad, 138.83381924198252, 1e-12, '∂g/∂a');
    close((vars.b as Value).grad, 645.5772594752186, 1e-12, '∂g/∂b');
  });

  it('accumulates over two backward calls until grads are reset', () => {
    const x = new Value(2);
    const y = x.mul(x);
    y.backward();
    y.backward();
    assert.equal(x.grad, 8); // 2 · (2x) — and y.grad was reset to 1 each time
  });

  for (const c of CASES) {
    it(`matches PyTorch (float64) on ${c.name}`, function () {
      const ref = needTorch(this, torch)[c.name] as { out: number; grads: Record<string, number> };
      const { out, vars } = run(c);
      out.backward();
      close(out.data, ref.out, 1e-10, 'value');
      for (const [k, v] of Object.entries(vars)) close(v.grad, ref.grads[k] as number, 1e-10, `∂/∂${k}`);
    });

    it(`matches central finite differences on ${c.name}`, () => {
      const { out, vars } = run(c);
      out.backward();
      const h = 1e-6;
      for (const k of Object.keys(c.inputs)) {
        const at = (d: number) => run(c, { ...c.inputs, [k]: (c.inputs[k] as number) + d }).out.data;
        close((vars[k] as Value).grad, (at(h) - at(-h)) / (2 * h), 1e-6, `∂/∂${k}`);
      }
    });
  }

  describe('graph()', () => {
    it('lists L = (a·b + c)·f as 7 nodes and 6 edges, inputs first, with values and grads', () => {
      const { out } = run(CASES[0] as Case);
      out.backward();
      const g = graph(out);
      assert.equal(g.nodes.length, 7); // a, b, a·b, c, +, f, L
      assert.equal(g.edges.length, 6);
      assert.ok(g.edges.every((e) => e.from < e.to), 'ids are in topological order');
      const root = g.nodes.at(-1);
      assert.deepEqual(root && { op: root.op, data: root.data, grad: root.grad }, { op: '*', data: -8, grad: 1 });
      const a = g.nodes.find((n) => n.label === 'a');
      assert.deepEqual(a && { op: a.op, data: a.data, grad: a.grad }, { op: '', data: 2, grad: 6 });
    });

    it('draws one edge per distinct input: x·x + x has 3 nodes and 3 edges', () => {
      const x = new Value(3, 'x');
      const g = graph(x.mul(x).add(x));
      assert.equal(g.nodes.length, 3);
      assert.deepEqual(g.edges, [
        { from: 0, to: 1 },
        { from: 1, to: 2 },
        { from: 0, to: 2 },
      ]);
    });
  });
});
