/**
 * Every nn layer against PyTorch (float64) on shared inputs and weights: the
 * output, the input's gradient and every parameter's gradient, with the weights
 * transferred into torch.nn modules (gradlab's W [in, out] is PyTorch's weight.T).
 * One Python run for all cases; the comparisons and a leak check per layer run
 * on cpu and on wasm.
 */
import { strict as assert } from 'assert';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';
import { rng, type Rng } from '../src/data';
import * as nn from '../src/nn';
import { decode, needTorch, runTorch, type TorchRun } from './helpers/torch';
import { useBackend } from './helpers/backend';

interface Data {
  values: number[];
  shape: number[];
  dtype: 'float32' | 'int32';
}
const toTf = (d: Data) => tf.tensor(d.values, d.shape, d.dtype);
const normalData = (r: Rng, shape: number[]): Data => ({ values: Array.from(r.normalArray(shape.reduce((a, b) => a * b, 1))), shape, dtype: 'float32' });

interface LayerCase {
  name: string;
  /** Builds the layer (same seed on every backend, so the same weights). */
  make: () => nn.Module<any>;
  /** The input: float32 (gets a gradient) or int32 indices. */
  input: (r: Rng) => Data;
  /** Python: given x and P (gradlab's parameters by name, gradlab layout), set y; optionally G() -> {name: grad}. */
  torch: string;
}

/** A module whose weights are not the trivial init (norm layers start at γ = 1, β = 0). */
function perturbed<M extends nn.Module<any>>(m: M, seed: number): M {
  const r = rng(seed);
  for (const p of m.parameters()) p.assign(tf.add(p.data, r.normalTensor(p.shape, 0, 0.5)));
  return m;
}

const seq = (...ms: [nn.Module<any>, ...nn.Module[]]) => new nn.Sequential(...ms);

/** Python snippets: a torch.nn.Linear holding gradlab's W (transposed) and b, and its grads back in gradlab's layout. */
const TORCH_HELPERS = `
def tlinear(prefix, bias=True):
    W = P[prefix + "weight"]
    lin = torch.nn.Linear(W.shape[0], W.shape[1], bias=bias)
    with torch.no_grad():
        lin.weight.copy_(W.T)
        if bias:
            lin.bias.copy_(P[prefix + "bias"])
    return lin
def tgrads(prefix, lin):
    g = {prefix + "weight": lin.weight.grad.T}
    if lin.bias is not None:
        g[prefix + "bias"] = lin.bias.grad
    return g
def tmlp(n, act):
    mods = []
    for i in range(n):
        mods += [tlinear("layers.%d." % i), act()]
    return torch.nn.Sequential(*mods[:-1])
def tmlp_grads(n, m):
    g = {}
    for i in range(n):
        g.update(tgrads("layers.%d." % i, m[2 * i]))
    return g
`;

const MLP_ACTS: [nn.ActivationName, string][] = [
  ['relu', 'torch.nn.ReLU'],
  ['gelu', 'torch.nn.GELU'],
  ['gelu-tanh', "lambda: torch.nn.GELU(approximate='tanh')"],
  ['silu', 'torch.nn.SiLU'],
  ['tanh', 'torch.nn.Tanh'],
  ['sigmoid', 'torch.nn.Sigmoid'],
];

const CASES: LayerCase[] = [
  {
    name: 'Linear(6 → 4) on [5,6]',
    make: () => new nn.Linear(6, 4, { rng: 1 }),
    input: (r) => normalData(r, [5, 6]),
    torch: 'lin = tlinear("")\ny = lin(x)\nG = lambda: tgrads("", lin)',
  },
  {
    name: 'Linear(6 → 4) without bias on [2,3,6]',
    make: () => new nn.Linear(6, 4, { rng: 2, bias: false }),
    input: (r) => normalData(r, [2, 3, 6]),
    torch: 'lin = tlinear("", bias=False)\ny = lin(x)\nG = lambda: tgrads("", lin)',
  },
  {
    name: 'Linear(6 → 4) on a single vector [6]',
    make: () => new nn.Linear(6, 4, { rng: 3 }),
    input: (r) => normalData(r, [6]),
    torch: 'lin = tlinear("")\ny = lin(x)\nG = lambda: tgrads("", lin)',
  },
  ...MLP_ACTS.map(
    ([act, mod]): LayerCase => ({
      name: `MLP([6, 8, 8, 3], ${act})`,
      make: () => new nn.MLP([6, 8, 8, 3], { activation: act, rng: 4 }),
      input: (r) => normalData(r, [5, 6]),
      torch: `m = tmlp(3, ${mod})\ny = m(x)\nG = lambda: tmlp_grads(3, m)`,
    }),
  ),
  {
    name: 'Embedding(7, 4) on indices [2,5] with repeats',
    make: () => new nn.Embedding(7, 4, { rng: 5 }),
    input: () => ({ values: [0, 3, 3, 6, 1, 3, 2, 2, 5, 0], shape: [2, 5], dtype: 'int32' }),
    torch: 'emb = torch.nn.Embedding(7, 4)\nwith torch.no_grad():\n    emb.weight.copy_(P["weight"])\ny = emb(x)\nG = lambda: {"weight": emb.weight.grad}',
  },
  {
    name: 'LayerNorm(6) on [2,3,6]',
    make: () => perturbed(new nn.LayerNorm(6), 6),
    input: (r) => normalData(r, [2, 3, 6]),
    torch:
      'ln = torch.nn.LayerNorm(6)\nwith torch.no_grad():\n    ln.weight.copy_(P["weight"]); ln.bias.copy_(P["bias"])\ny = ln(x)\nG = lambda: {"weight": ln.weight.grad, "bias": ln.bias.grad}',
  },
  {
    name: 'LayerNorm(6, eps 1e-3, affine false)',
    make: () => new nn.LayerNorm(6, { eps: 1e-3, affine: false }),
    input: (r) => normalData(r, [4, 6]),
    torch: 'y = torch.nn.LayerNorm(6, eps=1e-3, elementwise_affine=False)(x)',
  },
  {
    name: 'RMSNorm(6) on [2,3,6]',
    make: () => perturbed(new nn.RMSNorm(6), 7),
    input: (r) => normalData(r, [2, 3, 6]),
    // torch.nn.RMSNorm needs PyTorch >= 2.4; its formula, with eps=None = finfo(float32).eps:
    torch: 'y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + torch.finfo(torch.float32).eps) * P["weight"]',
  },
  {
    name: 'RMSNorm(6, eps 1e-6, affine false)',
    make: () => new nn.RMSNorm(6, { eps: 1e-6, affine: false }),
    input: (r) => normalData(r, [4, 6]),
    torch: 'y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)',
  },
  {
    name: 'Residual(Sequential(Linear, GELU, Linear))',
    make: () => {
      const r = rng(8);
      return new nn.Residual(seq(new nn.Linear(6, 8, { rng: r }), new nn.GELU(), new nn.Linear(8, 6, { rng: r })));
    },
    input: (r) => normalData(r, [5, 6]),
    torch:
      'a, b = tlinear("block.0."), tlinear("block.2.")\ny = x + b(torch.nn.GELU()(a(x)))\nG = lambda: {**tgrads("block.0.", a), **tgrads("block.2.", b)}',
  },
  {
    name: 'Sequential(Linear, Tanh, LayerNorm, Linear, SiLU, Dropout (eval), Linear)',
    make: () => {
      const r = rng(9);
      const m = seq(new nn.Linear(6, 8, { rng: r }), new nn.Tanh(), new nn.LayerNorm(8), new nn.Linear(8, 8, { rng: r }), new nn.SiLU(), new nn.Dropout(0.5, { rng: r }), new nn.Linear(8, 3, { rng: r }));
      return m.eval();
    },
    input: (r) => normalData(r, [5, 6]),
    torch: `a, c, d = tlinear("0."), tlinear("3."), tlinear("6.")
ln = torch.nn.LayerNorm(8)
m = torch.nn.Sequential(a, torch.nn.Tanh(), ln, c, torch.nn.SiLU(), torch.nn.Dropout(0.5), d).eval()
y = m(x)
G = lambda: {**tgrads("0.", a), "2.weight": ln.weight.grad, "2.bias": ln.bias.grad, **tgrads("3.", c), **tgrads("6.", d)}`,
  },
  { name: 'ReLU', make: () => new nn.ReLU(), input: (r) => normalData(r, [3, 5]), torch: 'y = torch.nn.ReLU()(x)' },
  { name: 'GELU (exact)', make: () => new nn.GELU(), input: (r) => normalData(r, [3, 5]), torch: 'y = torch.nn.GELU()(x)' },
  { name: 'GELU (tanh)', make: () => new nn.GELU({ approximate: 'tanh' }), input: (r) => normalData(r, [3, 5]), torch: "y = torch.nn.GELU(approximate='tanh')(x)" },
  { name: 'SiLU', make: () => new nn.SiLU(), input: (r) => normalData(r, [3, 5]), torch: 'y = torch.nn.SiLU()(x)' },
  { name: 'Tanh', make: () => new nn.Tanh(), input: (r) => normalData(r, [3, 5]), torch: 'y = torch.nn.Tanh()(x)' },
  { name: 'Sigmoid', make: () => new nn.Sigmoid(), input: (r) => normalData(r, [3, 5]), torch: 'y = torch.nn.Sigmoid()(x)' },
  { name: 'Dropout(0.3) in eval mode', make: () => new nn.Dropout(0.3, { rng: 10 }).eval(), input: (r) => normalData(r, [3, 5]), torch: 'y = torch.nn.Dropout(0.3).eval()(x)' },
];

const TORCH_SCRIPT = `
${TORCH_HELPERS}
OUTPUT = {}
for case in INPUT:
    x = t(case["x"], True)
    P = {n: t(s, True) for n, s in case["params"].items()}
    env = {k: v for k, v in globals().items() if k not in ("G", "y")}
    env.update(x=x, P=P)
    exec(case["code"], env)
    y = env["y"]
    y.backward(t(case["r"]))
    grads = env["G"]() if "G" in env else {n: p.grad for n, p in P.items()}
    OUTPUT[case["name"]] = {"y": flat(y), "dx": flat(x.grad) if x.grad is not None else None, "grads": {n: flat(g) for n, g in grads.items()}}
`;

interface Out {
  y: (number | string)[];
  dx: (number | string)[] | null;
  grads: Record<string, (number | string)[]>;
}

/** Shared inputs: the layer input, its parameters (gradlab layout) and the output weights r. */
const DATA = new Map<string, { x: Data; r: Data; params: Record<string, Data> }>();

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, atol = 1e-5, rtol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} values, expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const [a, e] = [actual[i] as number, expected[i] as number];
    assert.ok(Math.abs(a - e) <= atol + rtol * Math.abs(e), `${what}: element ${i} is ${a}, expected ${e} (atol ${atol}, rtol ${rtol})`);
  }
}

/** Our forward and backward of one case: y, ∂/∂x and ∂/∂param for L = Σ r·y. */
function runOurs(c: LayerCase): { y: number[]; dx: number[] | null; grads: Record<string, number[]> } {
  const d = DATA.get(c.name)!;
  const m = c.make();
  const x = ag.tensor(toTf(d.x), { requiresGrad: d.x.dtype === 'float32' });
  const y = m.forward(x);
  const r = toTf(d.r);
  y.backward(r);
  const out = {
    y: Array.from(y.data.dataSync()),
    dx: x.grad ? Array.from(x.grad.dataSync()) : null,
    grads: Object.fromEntries(m.namedParameters().map(([n, p]) => [n, Array.from(p.grad!.dataSync())])),
  };
  r.dispose();
  y.dispose();
  x.dispose();
  m.dispose();
  return out;
}

describe('nn layers against PyTorch, with a leak check per layer', function () {
  let torch: TorchRun<Record<string, Out>> | undefined;

  before(async () => {
    await useBackend('cpu');
    const r = rng(100);
    for (const c of CASES) {
      const x = c.input(r);
      const m = c.make();
      const y = ag.noGrad(() => m.forward(ag.tensor(toTf(x))));
      const params = Object.fromEntries(m.namedParameters().map(([n, p]): [string, Data] => [n, { values: Array.from(p.data.dataSync()), shape: p.shape, dtype: 'float32' }]));
      DATA.set(c.name, { x, r: normalData(r, y.shape), params });
      y.dispose();
      m.dispose();
    }
    torch = runTorch<Record<string, Out>>(
      TORCH_SCRIPT,
      CASES.map((c) => ({ name: c.name, code: c.torch, ...DATA.get(c.name)! })),
    );
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    describe(`on ${backend}`, () => {
      before(async () => {
        await useBackend(backend);
      });

      for (const c of CASES) {
        describe(c.name, () => {
          it('matches PyTorch in output, input gradient and parameter gradients', function () {
            const ref = needTorch(this, torch)[c.name]!;
            const ours = runOurs(c);
            assertClose(ours.y, decode(ref.y), 'output');
            if (ref.dx) assertClose(ours.dx!, decode(ref.dx), 'gradient of the input');
            else assert.equal(ours.dx, null, 'the input should get no gradient');
            assert.deepEqual(Object.keys(ours.grads).sort(), Object.keys(ref.grads).sort(), 'parameter names');
            for (const [n, g] of Object.entries(ref.grads)) assertClose(ours.grads[n]!, decode(g), `gradient of ${n}`);
          });

          it('leaves tf.memory().numTensors unchanged over training steps, in eval mode and under noGrad', () => {
            const d = DATA.get(c.name)!;
            const m = c.make();
            // a float input takes gradients too, so parameter-free layers have something to backpropagate to
            const x = ag.tensor(toTf(d.x), { requiresGrad: d.x.dtype === 'float32' });
            const r = toTf(d.r);
            const params = m.parameters();
            const start = tf.memory().numTensors;
            for (const mode of ['train', 'eval'] as const) {
              if (mode === 'train') m.train();
              else m.eval();
              for (let step = 0; step < 3; step++) {
                const loss = ag.sum(ag.mul(m.forward(x), r));
                loss.backward();
                for (const p of params) p.assign(tf.tidy(() => tf.sub(p.data, tf.mul(p.grad!, 1e-2)))); // θ ← θ − lr·g
                loss.dispose();
                m.zeroGrad();
                x.zeroGrad();
                assert.equal(tf.memory().numTensors, start, `${mode} step ${step} changed the number of tensors`);
              }
            }
            const y = ag.noGrad(() => ag.sum(m.forward(x)));
            assert.equal(y.requiresGrad, false);
            y.dispose();
            assert.equal(tf.memory().numTensors, start, 'noGrad forward + dispose changed the number of tensors');
            m.dispose();
            x.dispose();
            r.dispose();
          });
        });
      }
    });
  }
});
