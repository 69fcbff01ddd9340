/**
 * `npm run bench -- autograd`: one SGD training step of an MLP 784-256-256-10
 * (ReLU, cross-entropy from logits, batch 128, lr 0.1) on the same data and the
 * same initial weights, timed (median after warm-up) for:
 *   - gradlab's engine (gl.ag + gl.nn) on wasm, and on cpu;
 *   - tfjs's own `tf.variableGrads` + `tf.train.sgd` on the same backend (the reference);
 *   - the same step written by hand in tfjs kernels, explicit transposes (the floor);
 *   - PyTorch on this machine (a Python child, 2 threads and 1 thread).
 * Every step reads the loss back (`await loss.item()` / `loss.item()`), so each
 * time covers a complete step. gradlab's and tfjs's steps alternate (A B A B …),
 * so a busy shared machine slows both alike. Each step is checked to leave
 * `tf.memory().numTensors` unchanged (a leak fails the benchmark).
 */
import { spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import * as gl from '../src';
import { tf } from '../src/backend/tf';
import { median, type BenchResult } from './report';

const SIZES = [784, 256, 256, 10];
const BATCH = 128;
const LR = 0.1;
const PYTHON = process.env.GRADLAB_PYTHON ?? '/usr/bin/python3';

interface Problem {
  x: Float32Array;
  y: Int32Array;
  /** Initial W (gradlab layout [in, out]) and b per layer. */
  weights: { W: Float32Array; b: Float32Array }[];
}

/** Data and initial weights, all from seeded streams (PyTorch's default init). */
function makeProblem(): Problem {
  const r = gl.data.rng(2024);
  const [dataRng, initRng] = r.split(2) as [gl.data.Rng, gl.data.Rng];
  const mlp = new gl.nn.MLP(SIZES, { rng: initRng });
  const weights = mlp.layers.map((l) => ({ W: l.weight.data.dataSync() as Float32Array, b: (l.bias as gl.ag.Tensor).data.dataSync() as Float32Array }));
  mlp.dispose();
  const x = dataRng.normalArray(BATCH * SIZES[0]!);
  const y = Int32Array.from({ length: BATCH }, () => dataRng.int(SIZES.at(-1)!));
  return { x, y, weights };
}

/** A prepared training loop: `step()` runs one step and returns its loss; `dispose()` frees the model and data. */
interface Runner {
  step: () => Promise<number>;
  dispose: () => void;
}

/**
 * Time several runners step by step in turn (A B A B ...), so a slowdown of a shared
 * machine hits each alike; medians after `warmup` steps each. Throws if a step
 * changes tf.memory().numTensors.
 */
async function interleave(runners: Record<string, Runner>, warmup: number, timed: number): Promise<Record<string, { ms: number; losses: number[] }>> {
  const out: Record<string, { times: number[]; losses: number[] }> = {};
  for (const name of Object.keys(runners)) out[name] = { times: [], losses: [] };
  for (let i = 0; i < warmup + timed; i++) {
    for (const [name, r] of Object.entries(runners)) {
      const before = tf.memory().numTensors;
      const t0 = performance.now();
      const loss = await r.step();
      const dt = performance.now() - t0;
      const after = tf.memory().numTensors;
      if (after !== before) throw new Error(`bench autograd: ${name}: step ${i} changed tf.memory().numTensors from ${before} to ${after}`);
      out[name]!.losses.push(loss);
      if (i >= warmup) out[name]!.times.push(dt);
    }
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { ms: median(v.times), losses: v.losses }]));
}

/** gradlab: nn.MLP forward, nn.crossEntropy, backward, θ ← θ − lr·g, loss.dispose(), zeroGrad. */
function gradlabRunner(p: Problem): Runner {
  const mlp = new gl.nn.MLP(SIZES, { rng: 0 });
  mlp.layers.forEach((l, i) => {
    l.weight.assign(tf.tensor(p.weights[i]!.W, l.weight.shape));
    l.bias!.assign(tf.tensor(p.weights[i]!.b, l.bias!.shape));
  });
  const x = tf.tensor(p.x, [BATCH, SIZES[0]!]);
  const y = tf.tensor(p.y, [BATCH], 'int32');
  const params = mlp.parameters();
  return {
    step: async () => {
      const loss = gl.nn.crossEntropy(mlp.forward(x), y);
      loss.backward();
      for (const q of params) q.assign(tf.tidy(() => tf.sub(q.data, tf.mul(q.grad!, LR))));
      const value = await loss.item();
      loss.dispose();
      mlp.zeroGrad();
      return value;
    },
    dispose: () => {
      mlp.dispose();
      tf.dispose([x, y]);
    },
  };
}

/** tfjs's own path: tf.variable weights, tf.variableGrads of the same loss, tf.train.sgd's applyGradients. */
function tfjsRunner(p: Problem): Runner {
  const vars = p.weights.map((w, i) => ({
    W: tf.variable(tf.tensor(w.W, [SIZES[i]!, SIZES[i + 1]!]), true),
    b: tf.variable(tf.tensor(w.b, [SIZES[i + 1]!]), true),
  }));
  const x = tf.tensor(p.x, [BATCH, SIZES[0]!]);
  const onehot = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor(p.y, [BATCH], 'int32'), SIZES.at(-1)!), 'float32'));
  const opt = tf.train.sgd(LR);
  const f = () =>
    tf.tidy(() => {
      let h: tf.Tensor = x;
      vars.forEach((v, i) => {
        h = tf.add(tf.matMul(h, v.W), v.b);
        if (i < vars.length - 1) h = tf.relu(h);
      });
      return tf.losses.softmaxCrossEntropy(onehot, h) as tf.Scalar;
    });
  return {
    step: async () => {
      const { value, grads } = tf.variableGrads(f);
      opt.applyGradients(grads);
      const loss = (await value.data())[0]!;
      tf.dispose([value, ...Object.values(grads)]);
      return loss;
    },
    dispose: () => {
      opt.dispose();
      tf.dispose([x, onehot, ...vars.flatMap((v) => [v.W, v.b])]);
    },
  };
}

/**
 * The practical floor of the backend: the same step written by hand in tfjs
 * kernels (forward, the cross-entropy gradient `(softmax(z) − onehot)/B`, each
 * layer's `dW = hᵀ dz`, `db = Σ dz`, `dh = dz Wᵀ`, the ReLU mask, the update),
 * with the transposes materialised (`tf.transpose`) as wasm's fast matmul path
 * needs. No graph, no bookkeeping: what any engine on this backend must at least do.
 */
function handRunner(p: Problem): Runner {
  let params = p.weights.flatMap((w, i) => [tf.tensor(w.W, [SIZES[i]!, SIZES[i + 1]!]), tf.tensor(w.b, [SIZES[i + 1]!])]);
  const x = tf.tensor(p.x, [BATCH, SIZES[0]!]);
  const onehot = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor(p.y, [BATCH], 'int32'), SIZES.at(-1)!), 'float32'));
  const L = SIZES.length - 1;
  return {
    step: async () => {
      const [loss, ...next] = tf.tidy(() => {
        const hs: tf.Tensor[] = [x];
        const zs: tf.Tensor[] = [];
        for (let i = 0; i < L; i++) {
          zs.push(tf.add(tf.matMul(hs[i]!, params[2 * i]!), params[2 * i + 1]!)); //           z = h W + b
          if (i < L - 1) hs.push(tf.relu(zs[i]!));
        }
        const z = zs[L - 1]!;
        const value = tf.mean(tf.sub(tf.logSumExp(z, 1), tf.sum(tf.mul(z, onehot), 1))); //     mean(lse − z_y)
        let dz = tf.div(tf.sub(tf.softmax(z), onehot), BATCH); //                              ∂L/∂z
        const updated: tf.Tensor[] = new Array(2 * L);
        for (let i = L - 1; i >= 0; i--) {
          const [W, b] = [params[2 * i]!, params[2 * i + 1]!];
          updated[2 * i] = tf.sub(W, tf.mul(tf.matMul(tf.transpose(hs[i]!), dz), LR)); //      W − lr·hᵀ dz
          updated[2 * i + 1] = tf.sub(b, tf.mul(tf.sum(dz, 0), LR)); //                        b − lr·Σ dz
          if (i > 0) dz = tf.mul(tf.matMul(dz, tf.transpose(W)), tf.step(zs[i - 1]!)); //     (dz Wᵀ)·[z > 0]
        }
        return [value, ...updated];
      });
      tf.dispose(params);
      params = next;
      const v = (await loss!.data())[0]!;
      loss!.dispose();
      return v;
    },
    dispose: () => tf.dispose([x, onehot, ...params]),
  };
}

interface Timed {
  ms: number;
  losses: number[];
}

/** Build the runners on the current backend, time them interleaved, free them. */
async function compare(p: Problem, warmup: number, timed: number): Promise<{ ours: Timed; tfjs: Timed; hand: Timed }> {
  const runners = { tfjs: tfjsRunner(p), gradlab: gradlabRunner(p), hand: handRunner(p) };
  try {
    const r = await interleave(runners, warmup, timed);
    return { ours: r.gradlab!, tfjs: r.tfjs!, hand: r.hand! };
  } finally {
    Object.values(runners).forEach((r) => r.dispose());
  }
}

const TORCH_SCRIPT = `
import json, os, sys, time
removed = {k: os.environ.pop(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
import numpy as np
import torch
d = sys.argv[1]
meta = json.load(open(os.path.join(d, "meta.json")))
sizes, batch, lr = meta["sizes"], meta["batch"], meta["lr"]
x = torch.from_numpy(np.fromfile(os.path.join(d, "x.bin"), dtype=np.float32).reshape(batch, sizes[0]))
y = torch.from_numpy(np.fromfile(os.path.join(d, "y.bin"), dtype=np.int32).astype(np.int64))
def model():
    layers = []
    for i in range(len(sizes) - 1):
        lin = torch.nn.Linear(sizes[i], sizes[i + 1])
        W = np.fromfile(os.path.join(d, "W%d.bin" % i), dtype=np.float32).reshape(sizes[i], sizes[i + 1])
        b = np.fromfile(os.path.join(d, "b%d.bin" % i), dtype=np.float32)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W).T)  # gradlab stores [in, out]; PyTorch [out, in]
            lin.bias.copy_(torch.from_numpy(b))
        layers += [lin, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])
out = {"removed_env": sorted(removed), "version": torch.__version__}
for threads in (2, 1):
    torch.set_num_threads(threads)
    m = model()
    opt = torch.optim.SGD(m.parameters(), lr=lr)
    times, losses = [], []
    for i in range(meta["warmup"] + meta["timed"]):
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(m(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        dt = time.perf_counter() - t0
        if i >= meta["warmup"]:
            times.append(dt * 1e3)
    out["threads%d" % threads] = {"ms": float(np.median(times)), "losses": losses}
cfg = torch.__config__.show()
blas = [l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.lower() or "mkl" in l.lower()]
out["blas_info"] = next((p.split("=")[1] for p in cfg.replace(",", " ").split() if p.startswith("BLAS_INFO=")), "?")
out["blas_libs"] = sorted(set(os.path.basename(p) for p in blas))
json.dump(out, open(os.path.join(d, "out.json"), "w"))
`;

interface TorchOut {
  version: string;
  removed_env: string[];
  blas_info: string;
  blas_libs: string[];
  threads2: { ms: number; losses: number[] };
  threads1: { ms: number; losses: number[] };
}

/** PyTorch in a child process on the same data and weights; null (with the reason printed) when it cannot run. */
function torchSteps(p: Problem, warmup: number, timed: number): TorchOut | null {
  const dir = mkdtempSync(join(tmpdir(), 'gradlab-bench-'));
  try {
    const raw = (a: Float32Array | Int32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    writeFileSync(join(dir, 'x.bin'), raw(p.x));
    writeFileSync(join(dir, 'y.bin'), raw(p.y));
    p.weights.forEach((w, i) => {
      writeFileSync(join(dir, `W${i}.bin`), raw(w.W));
      writeFileSync(join(dir, `b${i}.bin`), raw(w.b));
    });
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ sizes: SIZES, batch: BATCH, lr: LR, warmup, timed }));
    writeFileSync(join(dir, 'bench.py'), TORCH_SCRIPT);
    const env = { ...process.env };
    delete env.OPENBLAS_CORETYPE; // set on some machines; they slow OpenBLAS down (benchmark only)
    delete env.OPENBLAS_L2_SIZE;
    const r = spawnSync(PYTHON, [join(dir, 'bench.py'), dir], { encoding: 'utf8', env, timeout: 300_000 });
    if (r.error || r.status !== 0) {
      console.log(`  PyTorch: skipped (${r.error?.message ?? r.stderr.trim().split('\n').at(-1)})`);
      return null;
    }
    return JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as TorchOut;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchAutograd(): Promise<BenchResult[]> {
  const info = await gl.init({ backend: 'wasm' });
  const problem = makeProblem();
  const [warmup, timed] = [5, 30];
  const results: BenchResult[] = [];
  const step = (name: string, value: number, reference: string, refValue: number): BenchResult => ({
    name,
    value,
    unit: 'ms/step',
    reference: `${reference} (${refValue.toPrecision(3)} ms/step)`,
    ratio: value / refValue,
  });

  const { ours: oursWasm, tfjs: tfjsWasm, hand: handWasm } = await compare(problem, warmup, timed);
  const tfjsRef = `tfjs tf.variableGrads + tf.train.sgd on wasm, same run`;
  const handRef = 'the step written by hand in tfjs kernels on wasm (the floor), same run';
  results.push(step(`tfjs variableGrads + sgd, wasm (${info.device})`, tfjsWasm.ms, tfjsRef, tfjsWasm.ms));
  results.push(step('gradlab gl.ag + gl.nn, wasm', oursWasm.ms, tfjsRef, tfjsWasm.ms));
  results.push(step('hand-written tfjs step, wasm', handWasm.ms, tfjsRef, tfjsWasm.ms));
  results.push(step('gradlab gl.ag + gl.nn vs the hand-written floor, wasm', oursWasm.ms, handRef, handWasm.ms));
  const lossGap = Math.max(...oursWasm.losses.map((l, i) => Math.abs(l - tfjsWasm.losses[i]!)));
  const handGap = Math.max(...oursWasm.losses.map((l, i) => Math.abs(l - handWasm.losses[i]!)));

  const torch = torchSteps(problem, warmup, timed);
  if (torch) {
    for (const t of [2, 1] as const) {
      const ms = torch[`threads${t}`].ms;
      results.push(step(`PyTorch ${torch.version}, ${t} thread${t > 1 ? 's' : ''}`, ms, tfjsRef, tfjsWasm.ms));
      results.push(step(`gradlab wasm (1 thread) vs PyTorch ${t} thread${t > 1 ? 's' : ''}`, oursWasm.ms, `PyTorch ${t} thread${t > 1 ? 's' : ''}, same run`, ms));
    }
    const torchGap = Math.max(...oursWasm.losses.map((l, i) => Math.abs(l - torch.threads1.losses[i]!)));
    console.log(`  PyTorch BLAS: ${torch.blas_info}; loaded ${torch.blas_libs.join(', ') || 'no BLAS library'}; unset for it: ${torch.removed_env.join(', ') || 'none were set'}`);
    console.log(`  largest |loss difference| over ${warmup + timed} steps: gradlab vs PyTorch ${torchGap.toExponential(2)}`);
  }

  await gl.init({ backend: 'cpu' });
  const { ours: oursCpu, tfjs: tfjsCpu, hand: handCpu } = await compare(problem, 2, 10); // the cpu backend is ~30x slower: fewer steps
  const cpuRef = 'tfjs tf.variableGrads + tf.train.sgd on cpu, same run';
  results.push(step('tfjs variableGrads + sgd, cpu', tfjsCpu.ms, cpuRef, tfjsCpu.ms));
  results.push(step('gradlab gl.ag + gl.nn, cpu', oursCpu.ms, cpuRef, tfjsCpu.ms));
  results.push(step('gradlab gl.ag + gl.nn vs the hand-written floor, cpu', oursCpu.ms, 'the hand-written step on cpu, same run', handCpu.ms));

  console.log(`  gradlab is ${(tfjsWasm.ms / oursWasm.ms).toFixed(2)}x faster than tfjs's own path on wasm (target >= 3x), ${(tfjsCpu.ms / oursCpu.ms).toFixed(2)}x on cpu`);
  console.log(`  gradlab's step is ${(oursWasm.ms / handWasm.ms).toFixed(2)}x the hand-written floor on wasm (target <= 1.25x); ` +
    `largest |loss difference| to the hand-written step ${handGap.toExponential(2)}`);
  console.log(`  largest |loss difference| over ${warmup + timed} steps: gradlab vs tfjs on wasm ${lossGap.toExponential(2)}; every step left tf.memory().numTensors unchanged`);
  return results;
}
