/**
 * The optimisers against PyTorch 1.13 in float32: SGD (plain, momentum with and
 * without dampening, Nesterov, weight decay), Adam and AdamW (with and without
 * weight decay), two parameter groups with their own lr and weight decay, an lr
 * changed mid-run through paramGroups, and a parameter whose grad is null at some
 * steps (skipped). 20 steps on shared random params and gradients, every step
 * compared. Also clipGradNorm against torch.nn.utils.clip_grad_norm_, stateDict
 * round trips (bitwise), bad hyper-parameter errors and exact leak checks.
 * One Python run for all cases; the comparisons run on cpu and wasm (and webgpu in a child).
 *
 * Tolerance rtol 1e-5, atol 1e-6: both sides run the same float32 operations in
 * the same order (PyTorch's single-tensor loop), so each step differs at most by
 * a few float32 roundings (ulp ≈ 6e-8 relative) where a backend fuses or reorders
 * (e.g. wasm SIMD, webgpu's sqrt/div); over 20 steps that stays well under 1e-5.
 */
import { strict as assert } from 'assert';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';
import { rng } from '../src/data';
import * as optim from '../src/optim';
import { needTorch, runTorch, decode, type TorchRun } from './helpers/torch';
import { suiteBackends, useBackend, webgpuSuite } from './helpers/backend';

const SHAPES = [[3, 4], [5]];
const STEPS = 20;
const r = rng(2026);
const INIT = SHAPES.map((s) => Array.from(r.normalArray(s.reduce((a, b) => a * b, 1))));
const GRADS = Array.from({ length: STEPS }, () => SHAPES.map((s) => Array.from(r.normalArray(s.reduce((a, b) => a * b, 1)))));
/** Steps (0-based) at which parameter 1 has no gradient (grad null: skipped, state kept). */
const NULL_AT = new Set([4, 5, 12]);

interface Case {
  name: string;
  ours: (ps: ag.Tensor[]) => optim.Optimizer<{ lr: number }>;
  torch: string;
  /** Set paramGroups[0].lr to this before step 11. */
  lr10?: number;
  /** Leave parameter 1's grad null at NULL_AT steps. */
  nulls?: boolean;
  /** Multiply every gradient by this (default 1). */
  gradScale?: number;
}
type Opt = optim.Optimizer<{ lr: number }>;
const as = (o: unknown) => o as Opt;

const CASES: Case[] = [
  { name: 'SGD lr 0.1', ours: (ps) => as(new optim.SGD(ps, { lr: 0.1 })), torch: 'torch.optim.SGD(ps, lr=0.1)' },
  { name: 'SGD momentum 0.9', ours: (ps) => as(new optim.SGD(ps, { lr: 0.05, momentum: 0.9 })), torch: 'torch.optim.SGD(ps, lr=0.05, momentum=0.9)' },
  {
    name: 'SGD momentum 0.9, dampening 0.3, weightDecay 0.01',
    ours: (ps) => as(new optim.SGD(ps, { lr: 0.05, momentum: 0.9, dampening: 0.3, weightDecay: 0.01 })),
    torch: 'torch.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)',
  },
  {
    name: 'SGD Nesterov, weightDecay 0.1, null grads, lr changed',
    ours: (ps) => as(new optim.SGD(ps, { lr: 0.05, momentum: 0.8, nesterov: true, weightDecay: 0.1 })),
    torch: 'torch.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)',
    nulls: true,
    lr10: 0.01,
  },
  { name: 'Adam defaults', ours: (ps) => as(new optim.Adam(ps)), torch: 'torch.optim.Adam(ps)' },
  {
    name: 'Adam lr 0.01, betas [0.8, 0.99], eps 1e-6, weightDecay 0.1 (coupled), null grads',
    ours: (ps) => as(new optim.Adam(ps, { lr: 0.01, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 })),
    torch: 'torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)',
    nulls: true,
  },
  {
    name: 'Adam defaults, gradients of size 1e-7 (where eps 1e-8, not tfjs’s 1e-7, shows)',
    ours: (ps) => as(new optim.Adam(ps)),
    torch: 'torch.optim.Adam(ps)',
    gradScale: 1e-7,
  },
  { name: 'AdamW defaults', ours: (ps) => as(new optim.AdamW(ps)), torch: 'torch.optim.AdamW(ps)' },
  {
    name: 'AdamW lr 0.02, weightDecay 0.5 (decoupled), lr changed',
    ours: (ps) => as(new optim.AdamW(ps, { lr: 0.02, weightDecay: 0.5 })),
    torch: 'torch.optim.AdamW(ps, lr=0.02, weight_decay=0.5)',
    lr10: 0.005,
  },
  {
    name: 'AdamW, two groups with their own lr and weightDecay',
    ours: (ps) => as(new optim.AdamW([{ params: [ps[0]!], lr: 0.03, weightDecay: 0.2 }, { params: [ps[1]!], weightDecay: 0 }], { lr: 0.01 })),
    torch: "torch.optim.AdamW([{'params': [ps[0]], 'lr': 0.03, 'weight_decay': 0.2}, {'params': [ps[1]], 'weight_decay': 0}], lr=0.01)",
  },
  {
    name: 'SGD, two groups (momentum only in the first)',
    ours: (ps) => as(new optim.SGD([{ params: [ps[0]!], momentum: 0.9 }, { params: [ps[1]!], lr: 0.2, weightDecay: 0.05 }], { lr: 0.1 })),
    torch: "torch.optim.SGD([{'params': [ps[0]], 'momentum': 0.9}, {'params': [ps[1]], 'lr': 0.2, 'weight_decay': 0.05}], lr=0.1)",
  },
];

/** clipGradNorm cases: gradient scale, maxNorm, normType, and one element set to a non-finite value. */
const CLIPS: { name: string; scale: number; maxNorm: number; normType: number; bad?: number }[] = [
  { name: 'norm 2, clipping', scale: 3, maxNorm: 1, normType: 2 },
  { name: 'norm 2, not clipping', scale: 0.1, maxNorm: 10, normType: 2 },
  { name: 'norm inf, clipping', scale: 3, maxNorm: 0.5, normType: Infinity },
  { name: 'norm inf, not clipping', scale: 0.1, maxNorm: 10, normType: Infinity },
  { name: 'norm 2, an Inf gradient (total inf, gradients NaN/0·inf)', scale: 1, maxNorm: 1, normType: 2, bad: Infinity },
  { name: 'norm 2, a NaN gradient', scale: 1, maxNorm: 1, normType: 2, bad: NaN },
];
const clipGrads = (c: (typeof CLIPS)[number]) => {
  const g = GRADS[0]!.map((a) => a.map((v) => v * c.scale));
  if (c.bad !== undefined) g[1]![2] = c.bad;
  return g;
};
const enc = (a: number[]) => a.map((v) => (Number.isFinite(v) ? v : String(v)));

const SCRIPT = `
def f32(vals, shape):
    return torch.tensor([float(v) for v in vals], dtype=torch.float32).reshape(shape)
OUTPUT = {"optim": {}, "clip": {}}
for c in INPUT["cases"]:
    ps = [f32(v, s).requires_grad_() for v, s in zip(INPUT["init"], INPUT["shapes"])]
    opt = eval(c["torch"], {"torch": torch, "ps": ps})
    traj = []
    for s, gs in enumerate(INPUT["grads"]):
        if c["lr10"] is not None and s == 10:
            opt.param_groups[0]["lr"] = c["lr10"]
        for i, p in enumerate(ps):
            p.grad = None if (c["nulls"] and i == 1 and s in INPUT["nullAt"]) else f32([v * c["gradScale"] for v in gs[i]], INPUT["shapes"][i])
        opt.step()
        traj.append([flat(p) for p in ps])
    OUTPUT["optim"][c["name"]] = traj
for c in INPUT["clips"]:
    ps = [f32(v, s).requires_grad_() for v, s in zip(INPUT["init"], INPUT["shapes"])]
    for p, g, s in zip(ps, c["grads"], INPUT["shapes"]):
        p.grad = f32(g, s)
    total = torch.nn.utils.clip_grad_norm_(ps, c["maxNorm"], float(c["normType"]))
    OUTPUT["clip"][c["name"]] = {"total": flat(total.reshape(1)), "grads": [flat(p.grad) for p in ps]}
`;

type Out = { optim: Record<string, number[][][]>; clip: Record<string, { total: (number | string)[]; grads: (number | string)[][] }> };

const MAXREL = { v: 0, n: 0 };
after(() => MAXREL.n > 0 && console.log(`    largest deviation from PyTorch, as a fraction of the tolerance: ${MAXREL.v.toExponential(2)}`));
function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, rtol = 1e-5, atol = 1e-6): void {
  assert.equal(got.length, want.length, `${what}: length`);
  MAXREL.n += got.length;
  for (let i = 0; i < got.length; i++) {
    const [a, b] = [got[i]!, want[i]!];
    if (Number.isNaN(b)) assert.ok(Number.isNaN(a), `${what}[${i}]: got ${a}, PyTorch NaN`);
    else MAXREL.v = a === b ? MAXREL.v : Math.max(MAXREL.v, Math.abs(a - b) / (atol + rtol * Math.abs(b))), assert.ok(a === b || Math.abs(a - b) <= atol + rtol * Math.abs(b), `${what}[${i}]: got ${a}, PyTorch ${b} (|Δ| ${Math.abs(a - b)})`);
  }
}

const makeParams = () => INIT.map((v, i) => ag.param(tf.tensor(v, SHAPES[i]), { label: `p${i}` }));
const scaled = (s: number, i: number, scale = 1) => GRADS[s]![i]!.map((v) => v * scale);
const setGrads = (ps: ag.Tensor[], s: number, nulls = false, scale = 1) =>
  ps.forEach((p, i) => {
    p.zeroGrad();
    if (!(nulls && i === 1 && NULL_AT.has(s))) p.grad = tf.tensor(scaled(s, i, scale), SHAPES[i]);
  });
const disposeAll = (ps: ag.Tensor[]) => ps.forEach((p) => (p.zeroGrad(), p.dispose()));

describe('optim', () => {
  let torch: TorchRun<Out> | undefined;
  before(function () {
    this.timeout(300_000);
    torch = runTorch<Out>(SCRIPT, {
      shapes: SHAPES,
      init: INIT,
      grads: GRADS,
      nullAt: [...NULL_AT],
      cases: CASES.map((c) => ({ name: c.name, torch: c.torch, lr10: c.lr10 ?? null, nulls: c.nulls ?? false, gradScale: c.gradScale ?? 1 })),
      clips: CLIPS.map((c) => ({ name: c.name, maxNorm: c.maxNorm, normType: c.normType === Infinity ? 'inf' : c.normType, grads: clipGrads(c).map(enc) })),
    });
  });

  for (const backend of suiteBackends(['cpu', 'wasm'])) {
    describe(`on ${backend}`, () => {
      before(async () => {
        await useBackend(backend);
      });

      describe('against PyTorch 1.13 (float32, 20 steps, every step compared)', () => {
        for (const c of CASES) {
          it(c.name, async function () {
            const ref = needTorch(this, torch).optim[c.name]!;
            const ps = makeParams();
            const opt = c.ours(ps);
            for (let s = 0; s < STEPS; s++) {
              if (c.lr10 !== undefined && s === 10) opt.paramGroups[0]!.lr = c.lr10;
              setGrads(ps, s, c.nulls, c.gradScale);
              opt.step();
              for (let i = 0; i < ps.length; i++) assertClose(await ps[i]!.data.data(), ref[s]![i]!, `step ${s + 1}, param ${i}`);
            }
            opt.dispose();
            disposeAll(ps);
          });
        }
      });

      describe('clipGradNorm against torch.nn.utils.clip_grad_norm_', () => {
        for (const c of CLIPS) {
          it(c.name, async function () {
            const ref = needTorch(this, torch).clip[c.name]!;
            const ps = makeParams();
            const g = clipGrads(c);
            ps.forEach((p, i) => (p.grad = tf.tensor(g[i]!, SHAPES[i])));
            const before = tf.memory().numTensors;
            const total = await optim.clipGradNorm(ps, c.maxNorm, c.normType);
            assert.equal(tf.memory().numTensors, before, 'leaked tensors');
            assertClose([total], decode(ref.total), 'total norm');
            for (let i = 0; i < ps.length; i++) assertClose(await ps[i]!.grad!.data(), decode(ref.grads[i]!), `clipped grad ${i}`);
            disposeAll(ps);
          });
          it(`${c.name}: totalGradNorm is the same total, and leaves the gradients as they are`, async function () {
            const ref = needTorch(this, torch).clip[c.name]!;
            const ps = makeParams();
            const g = clipGrads(c);
            ps.forEach((p, i) => (p.grad = tf.tensor(g[i]!, SHAPES[i])));
            const before = tf.memory().numTensors;
            const total = optim.totalGradNorm(ps, c.normType);
            assertClose(await total.data(), decode(ref.total), 'total norm');
            total.dispose();
            assert.equal(tf.memory().numTensors, before, 'leaked tensors');
            for (let i = 0; i < ps.length; i++) assert.deepEqual(Array.from(await ps[i]!.grad!.data()), Array.from(Float32Array.from(g[i]!)), `grad ${i} changed`);
            disposeAll(ps);
          });
        }
        it('returns 0 and changes nothing when no parameter has a gradient', async () => {
          const ps = makeParams();
          assert.equal(await optim.clipGradNorm(ps, 1), 0);
          const none = optim.totalGradNorm(ps);
          assert.equal((await none.data())[0], 0);
          none.dispose();
          disposeAll(ps);
        });
        it('clipGradValue clamps every element to [−clip, clip]', async () => {
          const ps = makeParams();
          setGrads(ps, 0);
          const want = GRADS[0]!.map((a) => a.map((v) => Math.fround(Math.min(0.5, Math.max(-0.5, v)))));
          optim.clipGradValue(ps, 0.5);
          for (let i = 0; i < ps.length; i++) assert.deepEqual(Array.from(await ps[i]!.grad!.data()), want[i]);
          disposeAll(ps);
        });
      });

      describe('stateDict', () => {
        for (const c of CASES.filter((x) => !x.lr10)) {
          it(`round trip continues bitwise like an uninterrupted run: ${c.name}`, async () => {
            const a = makeParams();
            const optA = c.ours(a);
            for (let s = 0; s < STEPS; s++) (setGrads(a, s, c.nulls), optA.step());
            const b = makeParams();
            const optB = c.ours(b);
            for (let s = 0; s < 10; s++) (setGrads(b, s, c.nulls), optB.step());
            const sd = optB.stateDict();
            const json = JSON.parse(JSON.stringify({ ...sd, state: {} })) as typeof sd; // the plain part is JSON-able
            assert.deepEqual(json.paramGroups, sd.paramGroups);
            (sd.paramGroups[0] as { lr: number }).lr = 123; // a copy: editing it leaves optB alone
            assert.notEqual(optB.paramGroups[0]!.lr, 123);
            (sd.paramGroups[0] as { lr: number }).lr = optB.paramGroups[0]!.lr;
            optB.dispose();
            const optC = c.ours(b); // a fresh optimiser over the same (step-10) params
            optC.loadStateDict(sd);
            Object.values(sd.state).forEach((st) => Object.values(st.buffers).forEach((t) => t.dispose()));
            for (let s = 10; s < STEPS; s++) (setGrads(b, s, c.nulls), optC.step());
            for (let i = 0; i < a.length; i++) assert.deepEqual(Array.from(await b[i]!.data.data()), Array.from(await a[i]!.data.data()), `param ${i}`);
            optA.dispose();
            optC.dispose();
            disposeAll(a);
            disposeAll(b);
          });
        }
        it('loadStateDict names a mismatch: group count, parameter count, buffer names, shapes', () => {
          const ps = makeParams();
          const opt = new optim.Adam(ps);
          setGrads(ps, 0);
          opt.step();
          const sd = opt.stateDict();
          const other = new optim.Adam([ps[0]!]);
          assert.throws(() => other.loadStateDict(sd), /Adam: loadStateDict: paramGroups\[0\] has 1 parameters here but 2 in the state/);
          const two = new optim.Adam([{ params: [ps[0]!] }, { params: [ps[1]!] }]);
          assert.throws(() => two.loadStateDict(sd), /Adam: loadStateDict: the state has 1 parameter groups, this optimiser 2/);
          const sgd = new optim.SGD(ps, { lr: 0.1, momentum: 0.9 });
          assert.throws(() => sgd.loadStateDict(sd as never), /SGD: loadStateDict: state\[0\] must have buffers \[momentumBuffer\], got \[expAvg, expAvgSq\]/);
          const swapped = { ...sd, state: { 0: sd.state[1]!, 1: sd.state[0]! } };
          assert.throws(() => opt.loadStateDict(swapped), /Adam: loadStateDict: state\[0\]\.buffers\.expAvg must be float32 \[3, 4\] like its parameter .*got float32 \[5\]/);
          Object.values(sd.state).forEach((st) => Object.values(st.buffers).forEach((t) => t.dispose()));
          [opt, other, two, sgd].forEach((o) => o.dispose());
          disposeAll(ps);
        });
      });

      describe('leaks', () => {
        for (const c of CASES) {
          it(`step() keeps tf.memory().numTensors exactly constant after the first step: ${c.name}`, () => {
            const ps = makeParams();
            const opt = c.ours(ps);
            setGrads(ps, 0);
            opt.step();
            opt.zeroGrad();
            const before = tf.memory().numTensors;
            for (let s = 1; s < STEPS; s++) {
              setGrads(ps, s, c.nulls);
              opt.step();
              opt.zeroGrad();
              assert.equal(tf.memory().numTensors, before, `after step ${s + 1}`);
            }
            opt.dispose();
            disposeAll(ps);
          });
        }
        it('end to end: backward, clipGradNorm, AdamW.step, zeroGrad fits a line and leaks nothing', async () => {
          const x = ag.tensor(tf.tensor([[1, 0], [0, 1], [1, 1], [2, -1]]));
          const y = ag.tensor(tf.tensor([[3], [-1], [2], [7]])); // y = 3x₁ − x₂
          const w = ag.param(tf.zeros([2, 1]), { label: 'w' });
          const b = ag.param(tf.zeros([1]), { label: 'b' });
          const opt = new optim.AdamW(optim.decayGroups([['w', w], ['b', b]], { weightDecay: 1e-4 }), { lr: 0.1 });
          let before = 0;
          const losses: number[] = [];
          for (let s = 0; s < 300; s++) {
            // the loss is y − y·1 + ...: a + b style graphs hand one upstream gradient to several leaves
            const loss = ag.mean(ag.mul(ag.sub(ag.add(ag.matmul(x, w), b), y), ag.sub(ag.add(ag.matmul(x, w), b), y)));
            loss.backward();
            losses.push((await loss.data.data())[0]!);
            loss.dispose();
            await optim.clipGradNorm([w, b], 5);
            optim.clipGradValue([w, b], 4);
            opt.step();
            opt.zeroGrad();
            if (s === 0) before = tf.memory().numTensors;
            else assert.equal(tf.memory().numTensors, before, `after step ${s + 1}`);
          }
          assert.ok(losses[299]! < 1e-3 * losses[0]!, `loss ${losses[0]} -> ${losses[299]}`);
          assert.deepEqual(Array.from(await w.data.data()).map((v) => Math.round(v * 10) / 10), [3, -1]);
          opt.dispose();
          [x, y, w, b].forEach((t) => t.dispose());
        });
        it('dispose() frees all state, and a stateDict snapshot is the caller’s', () => {
          const start = tf.memory().numTensors;
          const ps = makeParams();
          const opt = new optim.AdamW(ps);
          setGrads(ps, 0);
          opt.step();
          opt.zeroGrad();
          const sd = opt.stateDict();
          Object.values(sd.state).forEach((st) => Object.values(st.buffers).forEach((t) => t.dispose()));
          opt.dispose();
          disposeAll(ps);
          assert.equal(tf.memory().numTensors, start);
        });
      });
    });
  }

  describe('bad hyper-parameters throw a named error', () => {
    let ps: ag.Tensor[];
    before(() => (ps = makeParams()));
    after(() => disposeAll(ps));
    const bad: [string, () => unknown, RegExp][] = [
      ['SGD without lr (required, as in PyTorch)', () => new optim.SGD(ps, {} as never), /SGD: lr is required \(PyTorch's SGD has no default either\), e.g. \{ lr: 0.1 \}, got undefined/],
      ['negative lr', () => new optim.SGD(ps, { lr: -0.1 }), /^Error: SGD: lr must be a finite number ≥ 0, got -0.1$/],
      ['negative momentum', () => new optim.SGD(ps, { lr: 0.1, momentum: -1 }), /SGD: momentum must be a finite number ≥ 0, got -1/],
      ['nesterov without momentum', () => new optim.SGD(ps, { lr: 0.1, nesterov: true }), /SGD: nesterov needs momentum > 0, got 0/],
      ['nesterov with dampening', () => new optim.SGD(ps, { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }), /SGD: nesterov needs dampening = 0, got 0.1/],
      ['AdamW betas[1] = 1.5', () => new optim.AdamW(ps, { betas: [0.9, 1.5] }), /^Error: AdamW: betas\[1\] must be in \[0, 1\), got 1.5$/],
      ['Adam betas[0] = -0.1', () => new optim.Adam(ps, { betas: [-0.1, 0.9] }), /Adam: betas\[0\] must be in \[0, 1\), got -0.1/],
      ['Adam eps < 0', () => new optim.Adam(ps, { eps: -1e-8 }), /Adam: eps must be ≥ 0, got -1e-8/],
      ['Adam negative weightDecay', () => new optim.Adam(ps, { weightDecay: -1 }), /Adam: weightDecay must be a finite number ≥ 0, got -1/],
      ['a group’s bad lr', () => new optim.AdamW([{ params: [ps[0]!] }, { params: [ps[1]!], lr: -1 }]), /AdamW: paramGroups\[1\]\.lr must be a finite number ≥ 0, got -1/],
      ['a parameter in two groups', () => new optim.Adam([{ params: [ps[0]!] }, { params: [ps[0]!] }]), /Adam: a parameter appears twice \(in paramGroups\[1\]\)/],
      ['no parameters', () => new optim.Adam([]), /Adam: got an empty parameter list/],
      ['a bad lr set through paramGroups, at step()', () => {
        const o = new optim.SGD(ps, { lr: 0.1 });
        o.paramGroups[0]!.lr = NaN;
        o.step();
      }, /SGD: lr must be a finite number ≥ 0, got NaN/],
    ];
    for (const [name, fn, re] of bad) it(name, () => assert.throws(fn, (e: Error) => (assert.match(String(e), re), true)));
  });

  describe('decayGroups', () => {
    it('puts rank ≤ 1 parameters (biases, norms) in a weightDecay 0 group, or by a name rule', () => {
      const w = ag.param(tf.zeros([2, 2]));
      const b = ag.param(tf.zeros([2]));
      const g = optim.decayGroups([['fc.weight', w], ['fc.bias', b]], { weightDecay: 0.1 });
      assert.deepEqual(g.map((x) => [x.params, x.weightDecay]), [[[w], 0.1], [[b], 0]]);
      const byName = optim.decayGroups([['fc.weight', w], ['fc.bias', b]], { weightDecay: 0.1, noDecay: (n) => n.endsWith('weight') });
      assert.deepEqual(byName.map((x) => [x.params, x.weightDecay]), [[[b], 0.1], [[w], 0]]);
      const opt = new optim.AdamW(g);
      assert.equal(opt.paramGroups[1]!.weightDecay, 0);
      assert.equal(opt.paramGroups[1]!.lr, 1e-3);
      w.dispose();
      b.dispose();
    });
  });
});

webgpuSuite(__filename, 'optim');
