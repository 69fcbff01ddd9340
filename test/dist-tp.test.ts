/**
 * Tensor parallelism on real ranks (src/dist/tensor-parallel.ts): Megatron's MLP
 * (column-parallel → GELU → row-parallel) on N = 2, 3, 4 ranks, with a hidden width
 * divisible by N and one that is not, against gradlab's dense MLP in this process
 * (output, loss, the input gradient and every weight gradient, the shards put back
 * together), the dense MLP against PyTorch's F.linear / F.gelu, two all-reduces per
 * forward + backward, and no leaked tensors in the ranks.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';
import * as nn from '../src/nn';
import { ROOT } from './helpers/child';
import { useBackend } from './helpers/backend';
import { needTorch, runTorch, type TorchRun } from './helpers/torch';
import { assertClose } from './helpers/close';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const dist = require(path.join(ROOT, 'dist', 'src', 'dist')) as typeof import('../src/dist');

interface Case {
  name: string;
  B: number;
  dIn: number;
  hidden: number;
  dOut: number;
  x: number[];
  t: number[];
  W1: number[];
  b1: number[];
  W2: number[];
  b2: number[];
}

const wave = (n: number, a: number, b: number, s: number) => Array.from({ length: n }, (_, i) => Math.sin(a * i + b) * s);
function makeCase(name: string, B: number, dIn: number, hidden: number, dOut: number): Case {
  return {
    name, B, dIn, hidden, dOut,
    x: wave(B * dIn, 0.37, 0.2, 1), t: wave(B * dOut, 0.91, 1.1, 0.5),
    W1: wave(dIn * hidden, 0.53, 0.3, 0.6), b1: wave(hidden, 1.7, 0.5, 0.1),
    W2: wave(hidden * dOut, 0.29, 0.9, 0.5), b2: wave(dOut, 2.3, 0.1, 0.1),
  };
}
const CASES = [makeCase('hidden 12 (divisible by 2, 3, 4)', 7, 6, 12, 5), makeCase('hidden 10 (not divisible by 3 or 4)', 5, 4, 10, 3)];

/** Run in every rank: two training steps of the TP MLP per case. */
async function rankBody(pg: import('../src/dist').ProcessGroup, gl: typeof import('../src'), args: [Case[]]) {
  const tf = gl.tf;
  const out: unknown[] = [];
  for (const c of args[0]) {
    const dense = { W1: tf.tensor(c.W1, [c.dIn, c.hidden]), b1: tf.tensor(c.b1), W2: tf.tensor(c.W2, [c.hidden, c.dOut]), b2: tf.tensor(c.b2) };
    const mlp = new gl.dist.TensorParallelMLP(pg, dense); // borrows the dense weights (copies its shards)
    for (const w of Object.values(dense)) w.dispose();
    const x = tf.tensor(c.x, [c.B, c.dIn]), t = tf.tensor(c.t, [c.B, c.dOut]);
    const counts: number[] = [];
    let res: Record<string, unknown> = {};
    for (let step = 0; step < 3; step++) {
      counts.push(tf.memory().numTensors);
      const y = await mlp.forward(x);
      const yv = Array.from(await y.data.data());
      const loss = gl.nn.mse(y, t);
      loss.backward();
      const dx = (await mlp.backward())!;
      if (step === 0) {
        const ps = mlp.parameters();
        res = {
          range: mlp.fc1.range, y: yv, loss: await loss.item(), dx: Array.from(await dx.data()),
          grads: await Promise.all(ps.map(async (p) => Array.from(await p.grad!.data()))),
          comm: mlp.comm,
        };
      }
      loss.dispose();
      dx.dispose();
      gl.ag.zeroGrad(mlp.parameters());
    }
    counts.push(tf.memory().numTensors);
    x.dispose();
    t.dispose();
    mlp.dispose();
    out.push({ ...res, counts, commAfter3: mlp.comm });
  }
  // a hidden width smaller than N is refused with a clear error
  let error = '';
  try {
    new gl.dist.TensorParallelMLP(pg, { W1: tf.zeros([2, 1]), b1: tf.zeros([1]), W2: tf.zeros([1, 2]), b2: tf.zeros([2]) });
  } catch (e) {
    error = (e as Error).message;
  }
  return { cases: out, error };
}

interface CaseResult {
  range: { start: number; end: number; size: number };
  y: number[];
  loss: number;
  dx: number[];
  grads: number[][];
  comm: { allReduces: number; elements: number };
  commAfter3: { allReduces: number; elements: number };
  counts: number[];
}

/** Dense reference in this process: gradlab's own linear / gelu / mse on the full weights. */
function dense(c: Case) {
  const x = ag.tensor(tf.tensor(c.x, [c.B, c.dIn]), { requiresGrad: true });
  const W1 = ag.param(tf.tensor(c.W1, [c.dIn, c.hidden])), b1 = ag.param(tf.tensor(c.b1));
  const W2 = ag.param(tf.tensor(c.W2, [c.hidden, c.dOut])), b2 = ag.param(tf.tensor(c.b2));
  const y = nn.linear(nn.gelu(nn.linear(x, W1, b1)), W2, b2);
  const yv = Array.from(y.data.dataSync());
  const loss = nn.mse(y, tf.tensor(c.t, [c.B, c.dOut]));
  const lv = loss.data.dataSync()[0]!;
  loss.backward();
  const g = (p: ag.Tensor) => Array.from(p.grad!.dataSync());
  const r = { y: yv, loss: lv, dx: g(x), W1: g(W1), b1: g(b1), W2: g(W2), b2: g(b2) };
  loss.dispose();
  for (const p of [x, W1, b1, W2, b2]) p.dispose();
  return r;
}

const close = assertClose;

describe('dist/tensor-parallel: Megatron MLP on real ranks', function () {
  this.timeout(60_000);
  before(() => useBackend('cpu'));

  it('shardRange cuts as chunkStart and refuses empty shards', () => {
    assert.deepEqual([0, 1, 2, 3].map((r) => dist.shardRange(10, 4, r).size), [2, 3, 2, 3]);
    assert.deepEqual(dist.shardRange(10, 4, 3), { start: 7, end: 10, size: 3 });
    assert.throws(() => dist.shardRange(3, 4, 0), /cannot split an axis of 3 across 4 ranks/);
    assert.throws(() => dist.shardRange(8, 4, 4), /0 ≤ rank < n/);
  });

  for (const N of [2, 3, 4]) {
    it(`N = ${N}: output, loss, ∂L/∂x and every weight gradient equal the dense MLP's; 2 all-reduces per step; no leaks`, async () => {
      const ranks = await dist.spawnRanks({ nproc: N, fn: rankBody, args: [CASES], backend: 'cpu', timeoutMs: 30_000 });
      CASES.forEach((c, k) => {
        const ref = dense(c);
        const res = ranks.map((r) => (r.result as { cases: CaseResult[] }).cases[k]!);
        const W1 = new Array<number>(c.dIn * c.hidden).fill(NaN), W2: number[] = [], b1: number[] = [];
        res.forEach((q, r) => {
          const what = `${c.name}, N=${N}, rank ${r}`;
          assert.deepEqual(q.range, dist.shardRange(c.hidden, N, r), what);
          close(q.y, ref.y, `${what}: y`);
          close([q.loss], [ref.loss], `${what}: loss`);
          close(q.dx, ref.dx, `${what}: ∂L/∂x (all-reduced)`);
          close(q.grads[3]!, ref.b2, `${what}: ∂L/∂b2 (replicated)`);
          const { start, size } = q.range;
          for (let i = 0; i < c.dIn; i++) for (let j = 0; j < size; j++) W1[i * c.hidden + start + j] = q.grads[0]![i * size + j]!;
          b1.push(...q.grads[1]!);
          W2.push(...q.grads[2]!); // row shards in rank order = the dense rows
          // exactly one all-reduce forward (B·out) and one backward (B·in) per step
          assert.deepEqual(q.comm, { allReduces: 2, elements: c.B * (c.dOut + c.dIn) }, what);
          assert.equal(q.commAfter3.allReduces, 6, what);
          assert.ok(q.counts.every((n) => n === q.counts[0]), `${what}: tf.memory().numTensors per step ${q.counts.join(', ')}`);
        });
        close(W1, ref.W1, `${c.name}, N=${N}: ∂L/∂W1 (column shards)`);
        close(b1, ref.b1, `${c.name}, N=${N}: ∂L/∂b1`);
        close(W2, ref.W2, `${c.name}, N=${N}: ∂L/∂W2 (row shards)`);
      });
      for (const r of ranks) assert.match((r.result as { error: string }).error, /cannot split an axis of 1 across \d ranks .*use at most 1 ranks or a wider layer/);
    });
  }

  it('the dense MLP equals PyTorch (F.linear, F.gelu, F.mse_loss, float64) on the same weights', function () {
    const run: TorchRun<Array<Record<string, number[]>>> = runTorch(
      `
OUTPUT = []
for c in INPUT:
    x = torch.tensor(c["x"]).reshape(c["B"], c["dIn"]).requires_grad_()
    W1 = torch.tensor(c["W1"]).reshape(c["dIn"], c["hidden"]).requires_grad_()
    W2 = torch.tensor(c["W2"]).reshape(c["hidden"], c["dOut"]).requires_grad_()
    b1 = torch.tensor(c["b1"]).requires_grad_(); b2 = torch.tensor(c["b2"]).requires_grad_()
    y = F.linear(F.gelu(F.linear(x, W1.T, b1)), W2.T, b2)
    loss = F.mse_loss(y, torch.tensor(c["t"]).reshape(c["B"], c["dOut"]))
    loss.backward()
    OUTPUT.append({"y": flat(y), "loss": [loss.item()], "dx": flat(x.grad), "W1": flat(W1.grad), "b1": flat(b1.grad), "W2": flat(W2.grad), "b2": flat(b2.grad)})
`,
      CASES,
    );
    const out = needTorch(this, run);
    CASES.forEach((c, k) => {
      const ref = dense(c);
      const pt = out[k]!;
      close(ref.y, pt.y!, `${c.name}: y`);
      close([ref.loss], pt.loss!, `${c.name}: loss`);
      for (const key of ['dx', 'W1', 'b1', 'W2', 'b2'] as const) close(ref[key], pt[key]!, `${c.name}: ${key}`);
    });
  });
});
