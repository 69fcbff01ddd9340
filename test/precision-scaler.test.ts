/**
 * precision.LossScaler against torch.cuda.amp.GradScaler (PyTorch 1.13) on a
 * scripted sequence of finite and non-finite steps: the scale and growth-tracker
 * trajectory, which steps are skipped, the unscaled gradients bit for bit, the
 * parameters after SGD, the state dict, and the errors on misuse.
 *
 * How the reference runs on a machine without CUDA: GradScaler disables itself
 * when CUDA is missing, and PyTorch 1.13 has no CPU kernels for its two ops
 * (`_amp_foreach_non_finite_check_and_unscale_`, `_amp_update_scale_`: "Could not
 * run ... with arguments from the 'CPU' backend"). So the script runs the real
 * GradScaler class (its state machine, its errors, its step skipping) under
 * `python3 -O` (which drops its `assert x.is_cuda` checks), with
 * `amp_definitely_not_available` patched to False and the two kernels replaced by
 * Python transcriptions of their CUDA code (aten/src/ATen/native/cuda/AmpKernels.cu).
 * The messages of GradScaler's asserts (removed by -O) are read from its source.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';
import * as optim from '../src/optim';
import { LossScaler } from '../src/precision';
import { suiteBackends, useBackend, webgpuSuite } from './helpers/backend';
import { PYTHON } from './helpers/torch';

type G = (number | string)[] | null;
/** One iteration: the true gradients of the two parameters (null: no grad), whether to unscale before step, a manual new scale. */
interface Iter {
  grads: [G, G];
  unscaleFirst?: boolean;
  newScale?: number;
}
const GROWTH_INTERVAL = 3;
const LR = 0.1;
const P0: [number[], number[]] = [[0.5, -1.25, 2], [3, -0.75]];
const SCRIPT_STEPS: Iter[] = [
  { grads: [[0.1, -0.2, 0.3], [1e-3, -2e-3]] },
  { grads: [[1e-6, 2e-7, -3e-8], [0.5, 0.25]], unscaleFirst: true },
  { grads: [[0.3, 0.1, -0.7], [2, -1]] }, // third good step: S 65536 → 131072
  { grads: [[0.1, 'inf', 0.3], [1, 1]] }, // Inf: skipped, S → 65536
  { grads: [[0.1, 0.2, 0.3], ['nan', 1]], unscaleFirst: true }, // NaN: skipped, S → 32768
  { grads: [[1e35, 0, 0], [1, 1]] }, // finite, but 1e35 · 32768 overflows float32: skipped, S → 16384
  { grads: [[0.2, 0.2, 0.2], null] }, // one parameter without a gradient
  { grads: [[-0.1, 0.05, 0.01], [0.3, 0.3]] },
  { grads: [[0.01, 0.02, 0.03], [-0.04, 0.05]] }, // third good step: S → 32768
  { grads: [[1, 2, 3], [4, 5]], newScale: 1024 },
  { grads: [[0.5, 0.5, 0.5], [0.5, 0.5]] }, // tracker 1
  { grads: [['-inf', 0, 0], [0, 0]] }, // S → 512 and the tracker back to 0
  { grads: [[0.5, -0.5, 0.5], [0.5, 0.5]] },
  { grads: [[0.25, 0.5, 0.5], [0.5, 0.75]], unscaleFirst: true },
  { grads: [[0.5, 0.5, 0.125], [0.5, 0.5]] }, // the third good step since the skip: S → 1024
];

const decodeNum = (v: number | string) => (typeof v === 'number' ? v : v === 'nan' ? NaN : v === 'inf' ? Infinity : -Infinity);

/** The reference: GradScaler run as described in the file header. */
const PY = String.raw`
import json, sys, math, inspect, warnings
import torch
import torch.cuda.amp.grad_scaler as gs
assert False, 'this script must run under python3 -O'
`;
const PY_BODY = String.raw`
with open(sys.argv[1]) as f: INPUT = json.load(f)
gs.amp_definitely_not_available = lambda: False

def non_finite_check_and_unscale_(grads, found_inf, inv_scale):
    # AmpKernels.cu: for each element, found_inf = 1 if !isfinite(val); val = val * inv_scale.
    for g in grads:
        if not bool(torch.isfinite(g).all()): found_inf.fill_(1.0)
        g.mul_(inv_scale)

def update_scale_(scale, tracker, found_inf, growth_factor, backoff_factor, growth_interval):
    # AmpKernels.cu amp_update_scale_cuda_kernel, with float current_scale and double factors.
    if found_inf.item():
        scale.fill_(float(torch.tensor(scale.item() * backoff_factor, dtype=torch.float32)))
        tracker.fill_(0)
    else:
        successful = int(tracker.item()) + 1
        if successful == growth_interval:
            new_scale = float(torch.tensor(scale.item() * growth_factor, dtype=torch.float32))
            if math.isfinite(new_scale): scale.fill_(new_scale)
            tracker.fill_(0)
        else:
            tracker.fill_(successful)
    return scale

torch._amp_foreach_non_finite_check_and_unscale_ = non_finite_check_and_unscale_
torch._amp_update_scale_ = update_scale_
num = lambda v: v if isinstance(v, (int, float)) else float(v)
flat = lambda t: [v if math.isfinite(v) else str(v) for v in t.detach().reshape(-1).tolist()]

def run(steps, init_scale, growth_interval, p0):
    params = [torch.nn.Parameter(torch.tensor(p, dtype=torch.float32)) for p in p0]
    opt = torch.optim.SGD(params, lr=INPUT['lr'])
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        scaler = torch.cuda.amp.GradScaler(init_scale=init_scale, growth_interval=growth_interval)
    assert scaler.is_enabled()
    out = []
    for it in steps:
        opt.zero_grad(set_to_none=True)
        for p, g in zip(params, it['grads']):
            if g is not None:
                p.grad = scaler.scale(torch.tensor([num(v) for v in g], dtype=torch.float32))
        scaled = [flat(p.grad) if p.grad is not None else None for p in params]
        unscaled = None
        if it.get('unscaleFirst'):
            scaler.unscale_(opt)
            unscaled = [flat(p.grad) if p.grad is not None else None for p in params]
        scaler.step(opt)
        found = sum(v.item() for v in scaler._per_optimizer_states[id(opt)]['found_inf_per_device'].values())
        if it.get('newScale') is not None: scaler.update(float(it['newScale']))
        else: scaler.update()
        out.append({'scaled': scaled, 'unscaled': unscaled, 'skipped': found > 0, 'scale': scaler.get_scale(),
                    'tracker': scaler._get_growth_tracker(), 'params': [flat(p) for p in params]})
    return out, scaler.state_dict()

steps, state = run(INPUT['steps'], 2.**16, INPUT['growthInterval'], INPUT['p0'])
# Growth stops at float32's range: from 2^127, a grown 2^128 would be Inf, so S stays and the tracker resets.
top, _ = run([{'grads': [[1.0], [1.0]]}] * 2, 2.**127, 1, [[0.0], [0.0]])

def err(f):
    try:
        f()
    except RuntimeError as e:
        return str(e)
    return None
p = torch.nn.Parameter(torch.zeros(2)); opt = torch.optim.SGD([p], lr=0.1); s = torch.cuda.amp.GradScaler()
p.grad = s.scale(torch.ones(2))
s.unscale_(opt)
errors = {'unscaleTwice': err(lambda: s.unscale_(opt))}
s.step(opt)
errors['unscaleAfterStep'] = err(lambda: s.unscale_(opt))
errors['stepTwice'] = err(lambda: s.step(opt))
errors['loadEmpty'] = err(lambda: torch.cuda.amp.GradScaler().load_state_dict({}))
src = inspect.getsource(gs)
asserts = {k: m in src for k, m in [('noChecks', 'No inf checks were recorded prior to update.'),
  ('noScale', 'but _scale is None.  '), ('growth', 'The growth factor must be > 1.0.'), ('backoff', 'The backoff factor must be < 1.0.')]}
d = torch.cuda.amp.GradScaler(enabled=False)
print(json.dumps({'version': torch.__version__, 'steps': steps, 'state': state, 'top': top, 'errors': errors, 'asserts': asserts,
  'defaults': {'scale': gs.GradScaler.__init__.__defaults__}, 'disabled': {'scale': d.get_scale(), 'state': d.state_dict()}}))
`;

interface PyStep { scaled: ((number | string)[] | null)[]; unscaled: ((number | string)[] | null)[] | null; skipped: boolean; scale: number; tracker: number; params: (number | string)[][] }
interface PyOut {
  version: string;
  steps: PyStep[];
  state: Record<string, number>;
  top: PyStep[];
  errors: Record<string, string | null>;
  asserts: Record<string, boolean>;
  defaults: { scale: [number, number, number, number, boolean] };
  disabled: { scale: number; state: Record<string, never> };
}

let torchRef: PyOut | { skip: string } | undefined;
function reference(): PyOut | { skip: string } {
  if (torchRef) return torchRef;
  const dir = mkdtempSync(join(tmpdir(), 'gradlab-scaler-'));
  try {
    writeFileSync(join(dir, 'ref.py'), PY + PY_BODY);
    writeFileSync(join(dir, 'in.json'), JSON.stringify({ steps: SCRIPT_STEPS, growthInterval: GROWTH_INTERVAL, lr: LR, p0: P0 }));
    const r = spawnSync(PYTHON, ['-O', join(dir, 'ref.py'), join(dir, 'in.json')], { encoding: 'utf8', timeout: 120_000 });
    if (r.error || r.status !== 0) {
      const why = r.error ? String(r.error) : r.stderr.trim().split('\n').slice(-3).join(' ');
      if (/No module named 'torch'|ENOENT/.test(why) && process.env.CI !== 'true') return (torchRef = { skip: `PyTorch unavailable: ${why}` });
      throw new Error(`the GradScaler reference script failed: ${why}`);
    }
    return (torchRef = JSON.parse(r.stdout) as PyOut);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
function need(ctx: Mocha.Context): PyOut {
  const r = reference();
  if ('skip' in r) {
    console.log(`      skipped: ${r.skip}`);
    ctx.skip();
  }
  return r as PyOut;
}

const bitsOf = (a: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(a).buffer));
const decodeAll = (a: (number | string)[]) => a.map(decodeNum);

/** Our side of the script: the same parameters, SGD and iterations, recording the same things. */
async function runOurs(steps: Iter[], initScale: number, growthInterval: number, p0: number[][]) {
  const params = p0.map((p) => ag.param(tf.tensor1d(p)));
  const opt = new optim.SGD(params, { lr: LR });
  const scaler = new LossScaler({ initScale, growthInterval });
  const out: (Omit<PyStep, 'scaled' | 'unscaled' | 'params'> & { scaled: (number[] | null)[]; unscaled: (number[] | null)[] | null; params: number[][]; stepped: boolean })[] = [];
  const counts: number[] = [];
  const read = async (ps: ag.Tensor[]) => Promise.all(ps.map(async (p) => (p.grad ? Array.from(await p.grad.data()) : null)));
  for (const it of steps) {
    opt.zeroGrad();
    counts.push(tf.memory().numTensors);
    it.grads.forEach((g, i) => {
      if (g === null) return;
      const t = tf.tensor1d(g.map(decodeNum));
      params[i]!.grad = scaler.scale(t);
      t.dispose();
    });
    const scaled = await read(params);
    let unscaled: (number[] | null)[] | null = null;
    if (it.unscaleFirst) {
      scaler.unscale(opt);
      unscaled = await read(params);
    }
    const stepped = await scaler.step(opt);
    scaler.update(it.newScale);
    out.push({ scaled, unscaled, stepped, skipped: !stepped, scale: scaler.getScale(), tracker: scaler.getGrowthTracker(), params: await Promise.all(params.map(async (p) => Array.from(await p.data.data()))) });
  }
  const state = scaler.stateDict();
  opt.zeroGrad();
  counts.push(tf.memory().numTensors);
  params.forEach((p) => p.dispose());
  opt.dispose();
  scaler.dispose();
  return { out, state, counts };
}

for (const backend of suiteBackends(['cpu', 'wasm'])) {
  describe(`precision.LossScaler on ${backend}, against torch.cuda.amp.GradScaler`, function () {
    this.timeout(300_000);
    before(() => useBackend(backend));

    it('has GradScaler’s defaults: 2^16, ×2, ×0.5, 2000, enabled', function () {
      const ref = need(this);
      const [initScale, growth, backoff, interval, enabled] = ref.defaults.scale;
      const s = new LossScaler();
      assert.deepEqual(s.stateDict(), { scale: initScale, growthFactor: growth, backoffFactor: backoff, growthInterval: interval, growthTracker: 0 });
      assert.equal(s.isEnabled(), enabled);
      assert.deepEqual([initScale, growth, backoff, interval], [65536, 2, 0.5, 2000]);
    });

    it('follows the scale, the tracker, the skipped steps, the gradients and the parameters of GradScaler + SGD step by step, leaking nothing', async function () {
      const ref = need(this);
      const { out, state, counts } = await runOurs(SCRIPT_STEPS, 2 ** 16, GROWTH_INTERVAL, P0);
      assert.equal(out.length, ref.steps.length);
      out.forEach((o, i) => {
        const r = ref.steps[i]!;
        const at = `iteration ${i} (${JSON.stringify(SCRIPT_STEPS[i]!.grads)})`;
        assert.equal(o.skipped, r.skipped, `${at}: skipped`);
        assert.equal(o.scale, r.scale, `${at}: scale`);
        assert.equal(o.tracker, r.tracker, `${at}: growth tracker`);
        o.scaled.forEach((g, j) => assert.deepEqual(g && bitsOf(g), r.scaled[j] && bitsOf(decodeAll(r.scaled[j]!)), `${at}: scaled grad ${j}`));
        if (r.unscaled) o.unscaled!.forEach((g, j) => assert.deepEqual(g && bitsOf(g), r.unscaled![j] && bitsOf(decodeAll(r.unscaled![j]!)), `${at}: unscaled grad ${j}`));
        o.params.forEach((p, j) => {
          const want = decodeAll(r.params[j]!);
          // SGD: θ − lr·g in float32; PyTorch's add_(g, alpha=−lr) may round once where we round twice.
          p.forEach((v, k) => assert.ok(Math.abs(v - want[k]!) <= 1e-6 * Math.max(1, Math.abs(want[k]!)), `${at}: param ${j}[${k}] ${v} vs ${want[k]}`));
        });
      });
      // The trajectory the script was written for (the rule by hand): grow at 3 good steps, halve on each skip.
      assert.deepEqual(out.map((o) => o.scale), [65536, 65536, 131072, 65536, 32768, 16384, 16384, 16384, 32768, 1024, 1024, 512, 512, 512, 1024]);
      assert.deepEqual(out.map((o) => o.skipped), [false, false, false, true, true, true, false, false, false, false, false, true, false, false, false]);
      assert.deepEqual(state, { scale: ref.state.scale, growthFactor: ref.state.growth_factor, backoffFactor: ref.state.backoff_factor, growthInterval: ref.state.growth_interval, growthTracker: ref.state._growth_tracker });
      assert.ok(counts.every((c) => c === counts[0]), `tf.memory().numTensors changed across iterations: ${counts.join(', ')}`);
    });

    it('stops growing at float32’s range, as GradScaler does', async function () {
      const ref = need(this);
      const { out } = await runOurs([{ grads: [[1], [1]] }, { grads: [[1], [1]] }], 2 ** 127, 1, [[0], [0]]);
      assert.deepEqual(out.map((o) => [o.scale, o.tracker]), ref.top.map((r) => [r.scale, r.tracker]));
      assert.deepEqual(out.map((o) => o.scale), [2 ** 127, 2 ** 127]);
    });

    it('throws GradScaler’s errors on misuse', async function () {
      const ref = need(this);
      for (const [k, present] of Object.entries(ref.asserts)) assert.ok(present, `GradScaler's source no longer has the ${k} message`);
      const p = ag.param(tf.zeros([2]));
      const opt = new optim.SGD([p], { lr: 0.1 });
      const s = new LossScaler();
      assert.throws(() => s.unscale(opt), (e: Error) => e.message.includes("Attempted unscale_ but _scale is None.  This may indicate your script did not use scaler.scale(loss or outputs) earlier in the iteration."));
      await assert.rejects(s.step(opt), /Attempted step but _scale is None/);
      const ones = tf.ones([2]);
      p.grad = s.scale(ones);
      assert.throws(() => s.update(), (e: Error) => e.message.includes('No inf checks were recorded prior to update.'));
      s.unscale(opt);
      assert.throws(() => s.unscale(opt), (e: Error) => e.message.endsWith(ref.errors.unscaleTwice!));
      assert.throws(() => s.update(), /unscaled but not stepped/);
      assert.equal(await s.step(opt), true);
      assert.throws(() => s.unscale(opt), (e: Error) => e.message.endsWith(ref.errors.unscaleAfterStep!));
      await assert.rejects(s.step(opt), (e: Error) => e.message.endsWith(ref.errors.stepTwice!));
      s.update();
      const empty = new optim.SGD([ag.param(tf.zeros([1]))], { lr: 0.1 });
      await assert.rejects(s.step(empty), /No inf checks were recorded for this optimizer/);
      assert.throws(() => new LossScaler().loadStateDict({}), (e: Error) => e.message.endsWith(ref.errors.loadEmpty!));
      assert.throws(() => new LossScaler({ growthFactor: 1 }), /The growth factor must be > 1.0./);
      assert.throws(() => new LossScaler({ backoffFactor: 1 }), /The backoff factor must be < 1.0./);
      assert.throws(() => new LossScaler({ growthInterval: 0.5 }), /growthInterval must be an integer ≥ 1, got 0.5/);
      ones.dispose();
      p.dispose();
      empty.paramGroups[0]!.params[0]!.dispose();
      s.dispose();
    });

    it('when disabled: scale returns its input, step just steps, getScale is 1 and the state is {}', async function () {
      const ref = need(this);
      const p = ag.param(tf.tensor1d([1, 2]));
      const opt = new optim.SGD([p], { lr: 0.5 });
      const s = new LossScaler({ enabled: false });
      const g = tf.tensor1d([2, 2]);
      assert.equal(s.scale(g), g);
      p.grad = g;
      s.unscale(opt);
      assert.equal(await s.step(opt), true);
      s.update();
      assert.deepEqual(Array.from(await p.data.data()), [0, 1]);
      assert.equal(s.getScale(), ref.disabled.scale);
      assert.deepEqual(s.stateDict(), ref.disabled.state);
      s.loadStateDict({});
      p.dispose();
    });

    it('stateDict / loadStateDict round-trip the scale and the tracker', async () => {
      const a = new LossScaler({ initScale: 256, growthInterval: 5 });
      const p = ag.param(tf.zeros([1]));
      const opt = new optim.SGD([p], { lr: 0.1 });
      const one = tf.ones([1]);
      for (let i = 0; i < 2; i++) {
        p.grad = a.scale(one);
        await a.step(opt);
        a.update();
      }
      const b = new LossScaler();
      b.loadStateDict(a.stateDict());
      assert.deepEqual(b.stateDict(), { scale: 256, growthFactor: 2, backoffFactor: 0.5, growthInterval: 5, growthTracker: 2 });
      one.dispose();
      p.dispose();
    });
  });
}

webgpuSuite(__filename, 'precision.LossScaler');
