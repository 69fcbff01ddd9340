/**
 * `npm run bench -- optim`: one AdamW step over 10M float32 parameters (four
 * tensors: [2000, 4000], [1000, 1000], [1000, 999], [1000]) with fixed gradients:
 *   - gradlab's `optim.AdamW` (weightDecay 0.01) and `optim.Adam` (no decay);
 *   - tfjs's own `tf.train.adam` (`applyGradients` on tf.variables with the same
 *     values and the same gradient tensors): the reference, target AdamW <= 1.2x;
 *   - PyTorch's `torch.optim.AdamW` on this machine (a Python child, same sizes, 1 and
 *     2 threads), skipped with the reason when /usr/bin/python3 has no torch.
 * Same backend (wasm; then cpu with fewer steps), steps interleaved (A B C A B C …)
 * so a busy shared machine slows each alike, warm-up then timed steps, median and
 * best. Each step ends with a one-element readback of the last parameter (it
 * forces completion on asynchronous backends, and costs nothing on wasm), and must
 * leave `tf.memory().numTensors` unchanged after the first (state-creating) step.
 */
import { spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import * as gl from '../src';
import { tf } from '../src/backend/tf';
import { median, type BenchResult } from './report';

const SHAPES: [number, ...number[]][] = [[2000, 4000], [1000, 1000], [1000, 999], [1000]];
const NUMEL = SHAPES.reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0); // 10,000,000
const HP = { lr: 1e-3, betas: [0.9, 0.999] as [number, number], eps: 1e-8 };
const WD = 0.01;
const PYTHON = process.env.GRADLAB_PYTHON ?? '/usr/bin/python3';

interface Runner {
  step: () => Promise<void>;
  /** The first `n` values of parameter 0 (to compare the implementations). */
  head: (n: number) => Promise<Float32Array>;
  dispose: () => void;
}

/** Seeded initial values and gradients, shared by every runner. */
function makeData(): { init: tf.Tensor[]; grads: tf.Tensor[] } {
  return tf.tidy(() => ({
    init: SHAPES.map((s, i) => tf.keep(tf.randomNormal(s, 0, 0.02, 'float32', 100 + i))),
    grads: SHAPES.map((s, i) => tf.keep(tf.randomNormal(s, 0, 1e-3, 'float32', 200 + i))),
  }));
}

async function sync(t: tf.Tensor): Promise<void> {
  const one = tf.tidy(() => tf.slice(t.reshape([-1]), [t.size - 1], [1]));
  await one.data();
  tf.dispose(one);
}

async function readHead(t: tf.Tensor, n: number): Promise<Float32Array> {
  const h = tf.tidy(() => tf.slice(t.reshape([-1]), 0, n));
  const v = (await h.data()) as Float32Array;
  h.dispose();
  return v;
}

/** gradlab: ag.param leaves whose `grad` is the shared gradient (never zeroed, so never freed here). */
function gradlabRunner(kind: 'AdamW' | 'Adam', d: { init: tf.Tensor[]; grads: tf.Tensor[] }): Runner {
  const params = d.init.map((t) => gl.ag.param(tf.clone(t)));
  params.forEach((p, i) => (p.grad = d.grads[i]!));
  const opt = kind === 'AdamW' ? new gl.optim.AdamW(params, { ...HP, weightDecay: WD }) : new gl.optim.Adam(params, { ...HP, weightDecay: 0 });
  return {
    step: async () => {
      opt.step();
      await sync(params.at(-1)!.data);
    },
    head: (n) => readHead(params[0]!.data, n),
    dispose: () => {
      opt.dispose();
      params.forEach((p) => {
        p.grad = null; // shared: not ours to free
        p.dispose();
      });
    },
  };
}

/** tfjs: tf.variable weights and tf.train.adam(lr, β1, β2, ε).applyGradients with the same gradient tensors. */
function tfjsRunner(d: { init: tf.Tensor[]; grads: tf.Tensor[] }): Runner {
  const vars = d.init.map((t, i) => tf.variable(tf.clone(t), true, `bench_optim_w${i}_${Date.now()}`));
  const grads = vars.map((v, i) => ({ name: v.name, tensor: d.grads[i]! }));
  const opt = tf.train.adam(HP.lr, HP.betas[0], HP.betas[1], HP.eps);
  return {
    step: async () => {
      opt.applyGradients(grads);
      await sync(vars.at(-1)!);
    },
    head: (n) => readHead(vars[0]!, n),
    dispose: () => {
      opt.dispose();
      tf.dispose(vars);
    },
  };
}

interface Timed {
  median: number;
  best: number;
}

/** Interleave the runners' steps; medians and minima of the timed steps; a leak check per step after the first. */
async function interleave(runners: Record<string, Runner>, warmup: number, timed: number): Promise<Record<string, Timed>> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(runners).map((k) => [k, []]));
  for (let i = 0; i < warmup + timed; i++) {
    for (const [name, r] of Object.entries(runners)) {
      const before = tf.memory().numTensors;
      const t0 = performance.now();
      await r.step();
      const dt = performance.now() - t0;
      if (i > 0 && tf.memory().numTensors !== before) throw new Error(`bench optim: ${name}: step ${i} changed tf.memory().numTensors from ${before} to ${tf.memory().numTensors}`);
      if (i >= warmup) times[name]!.push(dt);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, { median: median(v), best: Math.min(...v) }]));
}

async function onBackend(backend: 'wasm' | 'cpu', warmup: number, timed: number): Promise<{ device: string; t: Record<string, Timed>; gap: { adam: number; adamw: number } }> {
  const info = await gl.init({ backend });
  const d = makeData();
  const runners = { 'tfjs Adam': tfjsRunner(d), 'gradlab AdamW': gradlabRunner('AdamW', d), 'gradlab Adam': gradlabRunner('Adam', d) };
  try {
    const t = await interleave(runners, warmup, timed);
    // Same arithmetic up to rounding: gradlab Adam vs tfjs Adam after the same steps (eps 1e-8 on both).
    const n = 1000;
    const [a, b, w] = await Promise.all([runners['gradlab Adam'].head(n), runners['tfjs Adam'].head(n), runners['gradlab AdamW'].head(n)]);
    const gap = { adam: Math.max(...a.map((v, i) => Math.abs(v - b[i]!))), adamw: Math.max(...w.map((v, i) => Math.abs(v - b[i]!))) };
    return { device: info.device, t, gap };
  } finally {
    Object.values(runners).forEach((r) => r.dispose());
    tf.dispose([...d.init, ...d.grads]);
  }
}

const TORCH_SCRIPT = `
import json, os, sys, time
for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(k, None)
import torch
meta = json.load(open(sys.argv[1]))
out = {"version": torch.__version__}
for threads in (2, 1):
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    ps = [torch.nn.Parameter(torch.randn(*s, generator=g) * 0.02) for s in meta["shapes"]]
    for p in ps:
        p.grad = torch.randn(*p.shape, generator=g) * 1e-3
    opt = torch.optim.AdamW(ps, lr=meta["lr"], betas=tuple(meta["betas"]), eps=meta["eps"], weight_decay=meta["wd"])
    times = []
    for i in range(meta["warmup"] + meta["timed"]):
        t0 = time.perf_counter()
        opt.step()
        dt = time.perf_counter() - t0
        if i >= meta["warmup"]:
            times.append(dt * 1e3)
    times.sort()
    out["threads%d" % threads] = {"median": times[len(times) // 2] if len(times) % 2 else (times[len(times) // 2 - 1] + times[len(times) // 2]) / 2, "best": times[0]}
out["foreach"] = opt.defaults.get("foreach")
json.dump(out, open(sys.argv[2], "w"))
`;

interface TorchOut {
  version: string;
  foreach: boolean | null;
  threads1: Timed;
  threads2: Timed;
}

/** PyTorch's AdamW step in a child process; null (with the reason printed) when it cannot run. */
function torchSteps(warmup: number, timed: number): TorchOut | null {
  const dir = mkdtempSync(join(tmpdir(), 'gradlab-bench-optim-'));
  try {
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ shapes: SHAPES, lr: HP.lr, betas: HP.betas, eps: HP.eps, wd: WD, warmup, timed }));
    writeFileSync(join(dir, 'bench.py'), TORCH_SCRIPT);
    const r = spawnSync(PYTHON, [join(dir, 'bench.py'), join(dir, 'meta.json'), join(dir, 'out.json')], { encoding: 'utf8', timeout: 300_000 });
    if (r.error || r.status !== 0) {
      console.log(`  PyTorch: skipped (${r.error?.message ?? (r.stderr.trim().split('\n').at(-1) || `exit ${r.status}`)}); install python3-torch for ${PYTHON} to compare`);
      return null;
    }
    return JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as TorchOut;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The `optim` bench section (see the file header); results as ratios to tfjs's Adam measured in the same run. */
export async function benchOptim(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const row = (name: string, t: Timed, refName: string, ref: Timed): BenchResult[] => [
    { name: `${name}, median`, value: t.median, unit: 'ms/step', reference: `${refName}, median (${ref.median.toPrecision(3)} ms/step)`, ratio: t.median / ref.median },
    { name: `${name}, best`, value: t.best, unit: 'ms/step', reference: `${refName}, best (${ref.best.toPrecision(3)} ms/step)`, ratio: t.best / ref.best },
  ];
  console.log(`  ${(NUMEL / 1e6).toFixed(1)}M parameters in ${SHAPES.length} tensors: ${SHAPES.map((s) => `[${s.join(', ')}]`).join(' ')}`);

  const wasm = await onBackend('wasm', 3, 10);
  const ref = `tfjs tf.train.adam on wasm, same run`;
  const tw = wasm.t['tfjs Adam']!;
  results.push(...row(`tfjs tf.train.adam, wasm (${wasm.device})`, tw, ref, tw));
  results.push(...row('gradlab AdamW, wasm', wasm.t['gradlab AdamW']!, ref, tw));
  results.push(...row('gradlab Adam, wasm', wasm.t['gradlab Adam']!, ref, tw));

  const torch = torchSteps(3, 10);
  if (torch) {
    for (const n of [1, 2] as const) {
      const t = torch[`threads${n}`];
      results.push(...row(`PyTorch ${torch.version} AdamW, ${n} thread${n > 1 ? 's' : ''}`, t, ref, tw));
    }
    results.push(...row('gradlab AdamW wasm (1 thread) vs PyTorch AdamW 1 thread', wasm.t['gradlab AdamW']!, `PyTorch ${torch.version} AdamW, 1 thread, same run`, torch.threads1));
    console.log(`  PyTorch AdamW foreach=${String(torch.foreach)} (None: the single-tensor loop on CPU)`);
  }

  const cpu = await onBackend('cpu', 1, 3); // the plain-JS backend is ~10x slower: fewer steps
  const tc = cpu.t['tfjs Adam']!;
  const cref = 'tfjs tf.train.adam on cpu, same run';
  results.push(...row('tfjs tf.train.adam, cpu', tc, cref, tc));
  results.push(...row('gradlab AdamW, cpu', cpu.t['gradlab AdamW']!, cref, tc));
  results.push(...row('gradlab Adam, cpu', cpu.t['gradlab Adam']!, cref, tc));

  const ratio = wasm.t['gradlab AdamW']!.median / tw.median;
  console.log(`  gradlab AdamW is ${ratio.toFixed(2)}x tfjs's Adam on wasm (median; target <= 1.2x), ${(cpu.t['gradlab AdamW']!.median / tc.median).toFixed(2)}x on cpu`);
  console.log(`  after ${3 + 10} steps, largest |difference| over 1000 values: gradlab Adam vs tfjs Adam ${wasm.gap.adam.toExponential(2)} (float32 rounding), ` +
    `gradlab AdamW vs tfjs Adam ${wasm.gap.adamw.toExponential(2)} (the decoupled decay)`);
  return results;
}
