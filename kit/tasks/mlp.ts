/**
 * `mlp`: the autograd MLP training step of `npm run bench -- autograd` on
 * webgpu: MLP 784-256-256-10 (ReLU, cross-entropy from logits), batch 128,
 * plain SGD at lr 0.1, the same seeded data and initial weights (PyTorch's
 * default init from gradlab's rng 2024). Every step reads the loss back
 * (`await loss.item()`), so a time covers a complete step; the median after
 * warm-up is reported. Checks: the weights live on webgpu, the first steps' losses match the cpu backend
 * (the reference) within a relative 1e-3, the loss falls over the run, and
 * no step leaks a tensor (`tf.memory().numTensors` constant).
 *
 * Options: `--warmup=5 --steps=30 --check=3`.
 */
import { tf } from '../../src/backend/tf';
import { summarise } from '../../src/probes/timing';
import * as nn from '../../src/nn';
import { rng, type Rng } from '../../src/data/rng';
import type { KitContext } from '../context';

const SIZES = [784, 256, 256, 10];
const BATCH = 128;
const LR = 0.1;

interface Problem {
  x: Float32Array;
  y: Int32Array;
  weights: { W: Float32Array; b: Float32Array }[];
}

/** The benchmark's data and initial weights (the same seeded streams as bench/autograd.ts). */
async function makeProblem(): Promise<Problem> {
  const [dataRng, initRng] = rng(2024).split(2) as [Rng, Rng];
  const mlp = new nn.MLP(SIZES, { rng: initRng });
  const weights = [];
  for (const l of mlp.layers) weights.push({ W: (await l.weight.data.data()) as Float32Array, b: (await l.bias!.data.data()) as Float32Array });
  mlp.dispose();
  const x = dataRng.normalArray(BATCH * SIZES[0]!);
  const y = Int32Array.from({ length: BATCH }, () => dataRng.int(SIZES.at(-1)!));
  return { x, y, weights };
}

/** The name of the backend that holds `t`'s data (tfjs-internal bookkeeping). */
function holder(t: tf.Tensor): string {
  const b = (tf.engine() as unknown as { state: { tensorInfo: { get(id: object): { backend: unknown } | undefined } } }).state.tensorInfo.get(t.dataId)?.backend;
  return ['webgpu', 'cpu'].find((n) => tf.findBackend(n) === b) ?? 'other';
}

/**
 * Run `n` SGD steps of gradlab's engine on the active backend; per-step losses
 * and times (ms), and the backend that holds the trained weights.
 */
async function train(p: Problem, n: number): Promise<{ losses: number[]; times: number[]; heldBy: string }> {
  const mlp = new nn.MLP(SIZES, { rng: 0 });
  mlp.layers.forEach((l, i) => {
    l.weight.assign(tf.tensor(p.weights[i]!.W, l.weight.shape));
    l.bias!.assign(tf.tensor(p.weights[i]!.b, l.bias!.shape));
  });
  const x = tf.tensor(p.x, [BATCH, SIZES[0]!]);
  const y = tf.tensor(p.y, [BATCH], 'int32');
  const params = mlp.parameters();
  const losses: number[] = [];
  const times: number[] = [];
  let heldBy = '';
  try {
    for (let i = 0; i < n; i++) {
      const before = tf.memory().numTensors;
      const t0 = performance.now();
      const loss = nn.crossEntropy(mlp.forward(x), y);
      loss.backward();
      for (const q of params) q.assign(tf.tidy(() => tf.sub(q.data, tf.mul(q.grad!, LR))));
      const value = await loss.item();
      loss.dispose();
      mlp.zeroGrad();
      times.push(performance.now() - t0);
      losses.push(value);
      const after = tf.memory().numTensors;
      if (after !== before) throw new Error(`gpu-kit mlp: step ${i} on ${tf.getBackend()} changed tf.memory().numTensors from ${before} to ${after}`);
    }
    heldBy = holder(params[0]!.data);
  } finally {
    mlp.dispose();
    tf.dispose([x, y]);
  }
  return { losses, times, heldBy };
}

const median = (xs: number[]): number => summarise(xs).median;

/** The `mlp` task. */
export async function mlp(ctx: KitContext): Promise<Record<string, unknown>> {
  const warmup = ctx.num('warmup', 5);
  const steps = ctx.num('steps', 30);
  const check = Math.min(ctx.num('check', 3), warmup + steps);
  const info = await ctx.measuringWebgpu();

  // The reference: the same first steps on tfjs's cpu backend.
  await tf.setBackend('cpu');
  const problem = await makeProblem();
  const reference = (await train(problem, check)).losses;
  await ctx.webgpu();

  const { losses, times, heldBy } = await train(problem, warmup + steps);
  const timed = times.slice(warmup);
  const maxRelDiff = Math.max(...reference.map((r, i) => Math.abs(losses[i]! - r) / Math.abs(r)));
  const checks = {
    // The weights live on webgpu (not silently on the cpu backend).
    onWebgpu: heldBy === 'webgpu',
    matchesCpu: maxRelDiff <= 1e-3,
    lossFalls: losses.at(-1)! < losses[0]!,
    finite: losses.every(Number.isFinite),
  };
  const failed = Object.entries(checks).filter(([, ok]) => !ok).map(([k]) => k);
  const result = {
    model: `MLP ${SIZES.join('-')}, ReLU, cross-entropy, batch ${BATCH}, SGD lr ${LR}`,
    backend: tf.getBackend(), weightsOn: heldBy, device: info.device, software: info.software,
    warmup, steps, msPerStep: median(timed), msMin: Math.min(...timed), msMax: Math.max(...timed),
    firstLoss: losses[0], lastLoss: losses.at(-1), cpuLosses: reference, webgpuLosses: losses.slice(0, check), maxRelDiff,
    checks, timesMs: timed.map((t) => Math.round(t * 1000) / 1000),
  };
  if (failed.length) throw Object.assign(new Error(`gpu-kit mlp: check(s) failed: ${failed.join(', ')} (${JSON.stringify(result)})`), { result });
  return result;
}
