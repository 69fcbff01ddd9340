/**
 * gl.dist.ZeroAdamW (ZeRO stages 1 and 2) on real processes, world sizes 2, 3 and 4,
 * on a two-layer tanh MLP of Ψ = 53 parameters (divisible by none of 2, 3, 4):
 * - 20 steps (lr from a StepLR scheduler) equal single-process gl.optim.AdamW on the
 *   same averaged gradients (each rank's gradient computed here, averaged in float64)
 *   within 1e-6 relative, at every step, and stage 1 equals stage 2 bitwise;
 * - the held averaged gradient equals the float64 average;
 * - the bytes each rank holds (optimiser state, gradient buffer) equal the shard sizes
 *   counted by hand, and tf.memory() agrees; numTensors stays constant;
 * - misuse errors (stage 0/3, bad hyper-parameters, parameters differing across ranks,
 *   a missing gradient) name the rank;
 * - PyTorch 1.13: torch.distributed.optim.ZeroRedundancyOptimizer (gloo, 2 ranks) with
 *   torch.optim.AdamW on the same model and data, and the same StepLR.
 */
import { strict as assert } from 'assert';
import * as gl from '../src';
import { tf } from '../src/backend/tf';
import { useBackend } from './helpers/backend';
import { needTorch, runTorch, type TorchRun } from './helpers/torch';

const SHAPES = [[6, 5], [5], [5, 3], [3]];
const PSI = 53;
const STEPS = 20;
const ROWS = 4; // rows of the batch per rank
const HP = { lr: 0.02, weightDecay: 0.1, betas: [0.9, 0.999] as [number, number], eps: 1e-8 };
const SCHED = { stepSize: 7, gamma: 0.5 };

const f32 = (xs: number[]) => Array.from(Float32Array.from(xs));
const INIT = f32(Array.from({ length: PSI }, (_, i) => 0.5 * Math.sin(0.7 * i + 0.3)));
/** Rank r's batch at step k: x [ROWS, 6], y [ROWS, 3], float32 values. */
const batch = (r: number, k: number) => ({
  x: f32(Array.from({ length: ROWS * 6 }, (_, i) => Math.sin(0.31 * i + 1.7 * r + 0.11 * k))),
  y: f32(Array.from({ length: ROWS * 3 }, (_, i) => 0.8 * Math.cos(0.23 * i - 0.9 * r + 0.07 * k))),
});
const dataFor = (n: number) => Array.from({ length: STEPS }, (_, k) => Array.from({ length: n }, (_, r) => batch(r, k)));

interface Args {
  shapes: number[][];
  init: number[];
  data: { x: number[]; y: number[] }[][];
  hp: typeof HP;
  sched: typeof SCHED;
  rows: number;
}
interface StageResult {
  params: number[][];
  tensors: number[];
  memFirst: gl.dist.ZeroMemory;
  memLast: gl.dist.ZeroMemory;
  tfOptBytes: number[];
  tfOptTensors: number[];
  lastGrad: number[];
  shard: [number, number];
  afterZeroGrad: number;
}

/** Runs in every rank (sent as source): both stages, then the misuse errors. */
async function rankBody(pg: gl.dist.ProcessGroup, g: typeof gl, [a]: [Args]) {
  const t = g.tf, ag = g.ag, r = pg.rank, n = pg.worldSize;
  const makeParams = (flat: number[]) => {
    let o = 0;
    return a.shapes.map((s) => {
      const size = s.reduce((x, y) => x * y, 1);
      const p = ag.param(t.tensor(flat.slice(o, o + size), s));
      o += size;
      return p;
    });
  };
  const loss = (ps: gl.ag.Tensor[], x: number[], y: number[]) => {
    const X = ag.tensor(t.tensor(x, [a.rows, 6])), Y = ag.tensor(t.tensor(y, [a.rows, 3]));
    const h = ag.tanh(ag.add(ag.matmul(X, ps[0]!), ps[1]!));
    const d = ag.sub(ag.add(ag.matmul(h, ps[2]!), ps[3]!), Y);
    return { l: ag.mean(ag.mul(d, d)), X, Y };
  };
  const flatOf = async (ps: gl.ag.Tensor[]) => {
    const out: number[] = [];
    for (const p of ps) out.push(...Array.from(await p.data.data()));
    return out;
  };
  const out: Record<string, unknown> = {};
  for (const stage of [1, 2] as const) {
    const ps = makeParams(a.init);
    const bytes0 = t.memory().numBytes, tensors0 = t.memory().numTensors;
    const opt = await g.dist.ZeroAdamW.create(pg, ps, { stage, ...a.hp });
    const sched = new g.optim.StepLR(opt, a.sched);
    const res: StageResult = { params: [], tensors: [], tfOptBytes: [], tfOptTensors: [], lastGrad: [], shard: opt.shard } as unknown as StageResult;
    for (let k = 0; k < a.data.length; k++) {
      const { x, y } = a.data[k]![r]!;
      const { l, X, Y } = loss(ps, x, y);
      l.backward();
      l.dispose();
      X.dispose();
      Y.dispose();
      await opt.step();
      sched.step();
      const m = opt.memory();
      if (k === 0) res.memFirst = m;
      if (k === a.data.length - 1) {
        res.memLast = m;
        res.lastGrad = Array.from(opt.gradient()!);
      }
      opt.zeroGrad();
      res.tensors.push(t.memory().numTensors);
      res.tfOptBytes.push(t.memory().numBytes - bytes0);
      res.tfOptTensors.push(t.memory().numTensors - tensors0);
      res.params.push(await flatOf(ps));
    }
    res.afterZeroGrad = opt.memory().gradients;
    opt.dispose();
    for (const p of ps) p.dispose();
    out[`stage${stage}`] = res;
  }
  // Misuse. Every case throws on every rank at the same point, so the group stays usable.
  const errors: Record<string, string> = {};
  const attempt = async (key: string, f: () => Promise<unknown>) => {
    try {
      await f();
      errors[key] = 'no error';
    } catch (e) {
      errors[key] = String((e as Error).message);
    }
  };
  const ps = makeParams(a.init);
  await attempt('stage3', () => g.dist.ZeroAdamW.create(pg, ps, { stage: 3 as never }));
  await attempt('stage0', () => g.dist.ZeroAdamW.create(pg, ps, { stage: 0 as never }));
  await attempt('lr', () => g.dist.ZeroAdamW.create(pg, ps, { stage: 1, lr: -1 }));
  const bad = a.init.slice();
  if (r === n - 1) bad[40] = bad[40]! + 1e-3; // parameter 2, index 40 − 35 = 5
  const psBad = makeParams(bad);
  await attempt('values', () => g.dist.ZeroAdamW.create(pg, psBad, { stage: 2 }));
  const extra = ag.param(t.zeros([2]));
  await attempt('shapes', () => g.dist.ZeroAdamW.create(pg, r === 1 ? [...ps, extra] : ps, { stage: 1 }));
  const opt = await g.dist.ZeroAdamW.create(pg, ps, { stage: 2 });
  await attempt('nograd', () => opt.step());
  opt.dispose();
  for (const p of [...ps, ...psBad, extra]) p.dispose();
  out.errors = errors;
  out.tensorsEnd = t.memory().numTensors;
  return out;
}

/** The single-process reference: gl.optim.AdamW on the float64 average of the ranks' gradients (computed here). */
function reference(n: number): { params: number[][]; grads: number[][] } {
  let o = 0;
  const ps = SHAPES.map((s) => {
    const size = s.reduce((x, y) => x * y, 1);
    const p = gl.ag.param(tf.tensor(INIT.slice(o, o + size), s));
    o += size;
    return p;
  });
  const opt = new gl.optim.AdamW(ps, HP);
  const sched = new gl.optim.StepLR(opt, SCHED);
  const data = dataFor(n);
  const params: number[][] = [], grads: number[][] = [];
  for (let k = 0; k < STEPS; k++) {
    const sum = new Float64Array(PSI);
    for (let r = 0; r < n; r++) {
      const { x, y } = data[k]![r]!;
      const X = gl.ag.tensor(tf.tensor(x, [ROWS, 6])), Y = gl.ag.tensor(tf.tensor(y, [ROWS, 3]));
      const h = gl.ag.tanh(gl.ag.add(gl.ag.matmul(X, ps[0]!), ps[1]!));
      const d = gl.ag.sub(gl.ag.add(gl.ag.matmul(h, ps[2]!), ps[3]!), Y);
      const l = gl.ag.mean(gl.ag.mul(d, d));
      l.backward();
      l.dispose();
      X.dispose();
      Y.dispose();
      let i = 0;
      for (const p of ps) for (const v of p.grad!.dataSync()) sum[i++] += v;
      gl.ag.zeroGrad(ps);
    }
    const mean = Array.from(sum, (v) => v / n);
    grads.push(mean);
    let i = 0;
    for (const p of ps) {
      p.grad = tf.tensor(mean.slice(i, i + p.size), p.shape);
      i += p.size;
    }
    opt.step();
    sched.step();
    gl.ag.zeroGrad(ps);
    params.push(ps.flatMap((p) => Array.from(p.data.dataSync())));
  }
  opt.dispose();
  for (const p of ps) p.dispose();
  return { params, grads };
}

const TORCH_ZERO = `
import os, tempfile, socket
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.optim import ZeroRedundancyOptimizer
torch.set_default_dtype(torch.float32)
def worker(rank, n, port, outdir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % port, rank=rank, world_size=n)
    flat = torch.tensor(INPUT["init"], dtype=torch.float32)
    ps, o = [], 0
    for s in INPUT["shapes"]:
        k = 1
        for d in s: k *= d
        ps.append(flat[o:o + k].clone().reshape(s).requires_grad_(True)); o += k
    hp = INPUT["hp"]
    opt = ZeroRedundancyOptimizer(ps, optimizer_class=torch.optim.AdamW, lr=hp["lr"], betas=tuple(hp["betas"]), eps=hp["eps"], weight_decay=hp["weightDecay"])
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=INPUT["sched"]["stepSize"], gamma=INPUT["sched"]["gamma"])
    rows = INPUT["rows"]
    out = []
    for step in INPUT["data"]:
        b = step[rank]
        X = torch.tensor(b["x"], dtype=torch.float32).reshape(rows, 6); Y = torch.tensor(b["y"], dtype=torch.float32).reshape(rows, 3)
        d = torch.tanh(X @ ps[0] + ps[1]) @ ps[2] + ps[3] - Y
        (d * d).mean().backward()
        for p in ps:
            dist.all_reduce(p.grad); p.grad /= n
        opt.step(); sched.step()
        for p in ps: p.grad = None
        out.append(torch.cat([p.detach().reshape(-1) for p in ps]).tolist())
    owned = [sum(p.numel() for p in g["params"]) for g in opt.optim.param_groups]
    with open(os.path.join(outdir, "%d.json" % rank), "w") as f:
        json.dump({"params": out, "owned": sum(owned)}, f)
    dist.destroy_process_group()
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
d = tempfile.mkdtemp()
mp.start_processes(worker, args=(2, port, d), nprocs=2, start_method="fork")
OUTPUT = [json.load(open(os.path.join(d, "%d.json" % r))) for r in range(2)]
`;

const WORLDS = [2, 3, 4];

describe('dist.ZeroAdamW: ZeRO stages 1 and 2 on real processes', function () {
  this.timeout(120_000);
  const results: Record<number, Record<string, unknown>[]> = {};
  const refs: Record<number, ReturnType<typeof reference>> = {};
  let torchRun: TorchRun<{ params: number[][]; owned: number }[]> | undefined;

  before(async function () {
    await useBackend('cpu');
    for (const n of WORLDS) {
      const args: Args = { shapes: SHAPES, init: INIT, data: dataFor(n), hp: HP, sched: SCHED, rows: ROWS };
      const ranks = await gl.dist.spawnRanks({ nproc: n, fn: rankBody, args: [args], timeoutMs: 30_000 });
      results[n] = ranks.map((x) => x.result as Record<string, unknown>);
      refs[n] = reference(n);
    }
    torchRun = runTorch(TORCH_ZERO, { shapes: SHAPES, init: INIT, data: dataFor(2), hp: HP, sched: SCHED, rows: ROWS });
  });

  const relErr = (got: number[], want: number[]) => {
    let worst = 0;
    const scale = Math.max(...want.map(Math.abs));
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / scale);
    return worst;
  };

  for (const n of WORLDS) {
    for (const stage of [1, 2] as const) {
      it(`n=${n}, stage ${stage}: ${STEPS} steps equal single-process gl.optim.AdamW on the averaged gradients (1e-6 relative, every step, every rank)`, () => {
        let worst = 0;
        for (let r = 0; r < n; r++) {
          const res = results[n]![r]![`stage${stage}`] as StageResult;
          assert.equal(res.params.length, STEPS);
          for (let k = 0; k < STEPS; k++) {
            const e = relErr(res.params[k]!, refs[n]!.params[k]!);
            worst = Math.max(worst, e);
            assert.ok(e <= 1e-6, `rank ${r}, step ${k + 1}: max |Δθ| / max |θ| = ${e}`);
          }
          // the parameters really moved: an optimiser that does nothing fails above
          assert.ok(relErr(INIT, refs[n]!.params[STEPS - 1]!) > 1e-2);
          // every rank ends with the same parameters, bitwise
          assert.deepEqual(res.params[STEPS - 1], (results[n]![0]![`stage${stage}`] as StageResult).params[STEPS - 1]);
        }
        console.log(`      worst max|Δθ|/max|θ| over ${STEPS} steps and ${n} ranks: ${worst.toExponential(2)}`);
      });
    }

    it(`n=${n}: stage 1 and stage 2 give bitwise the same parameters; the held gradient is the average (full at stage 1, the shard at stage 2)`, () => {
      for (let r = 0; r < n; r++) {
        const s1 = results[n]![r]!.stage1 as StageResult, s2 = results[n]![r]!.stage2 as StageResult;
        assert.deepEqual(s1.params, s2.params, `rank ${r}`);
        const want = refs[n]!.grads[STEPS - 1]!;
        const [lo, hi] = s2.shard;
        assert.equal(s1.lastGrad.length, PSI);
        assert.equal(s2.lastGrad.length, hi - lo);
        assert.ok(relErr(s1.lastGrad, want) <= 1e-6, `stage 1 rank ${r}: ${relErr(s1.lastGrad, want)}`);
        assert.ok(relErr(s2.lastGrad, want.slice(lo, hi)) <= 1e-6, `stage 2 rank ${r}`);
        assert.deepEqual(s2.lastGrad, s1.lastGrad.slice(lo, hi));
      }
    });

    it(`n=${n}: per-rank bytes equal the shards counted by hand; tf.memory agrees; numTensors constant`, () => {
      const shards = Array.from({ length: n }, (_, r) => [Math.floor((r * PSI) / n), Math.floor(((r + 1) * PSI) / n)]);
      assert.equal(shards.reduce((s, [lo, hi]) => s + hi! - lo!, 0), PSI);
      for (let r = 0; r < n; r++) {
        const [lo, hi] = shards[r]!;
        const len = hi! - lo!;
        for (const stage of [1, 2] as const) {
          const res = results[n]![r]![`stage${stage}`] as StageResult;
          assert.deepEqual(res.shard, [lo, hi]);
          for (const m of [res.memFirst, res.memLast]) {
            assert.equal(m.numParams, PSI);
            assert.equal(m.parameters, 4 * PSI);
            assert.equal(m.optimizer, 8 * len, `stage ${stage} rank ${r}: optimiser bytes`); // exp_avg + exp_avg_sq of the shard
            assert.equal(m.gradients, stage === 1 ? 4 * PSI : 4 * len, `stage ${stage} rank ${r}: gradient bytes`);
          }
          assert.equal(res.afterZeroGrad, 0);
          // what tfjs itself holds beyond the parameters after zeroGrad: exactly m and v of the shard
          assert.deepEqual(new Set(res.tfOptBytes), new Set([8 * len]), `stage ${stage} rank ${r}: tf bytes ${res.tfOptBytes}`);
          assert.deepEqual(new Set(res.tfOptTensors), new Set([2]));
          assert.equal(new Set(res.tensors).size, 1, `numTensors per step: ${res.tensors}`);
        }
        assert.equal(results[n]![r]!.tensorsEnd, (results[n]![r]!.stage1 as StageResult).tensors[0]! - 2 - SHAPES.length);
      }
    });

    it(`n=${n}: misuse errors say what, on which rank, and what to do`, () => {
      for (let r = 0; r < n; r++) {
        const e = results[n]![r]!.errors as Record<string, string>;
        assert.match(e.stage3!, new RegExp(`^ZeroAdamW: rank ${r}: ZeRO stage 3 .* calculator-only .*zeroBytes`));
        assert.match(e.stage0!, /stage 0 is plain data parallelism.*gl\.optim\.AdamW/);
        assert.match(e.lr!, new RegExp(`^ZeroAdamW: rank ${r}: lr must be a finite number ≥ 0, got -1`));
        assert.match(e.values!, new RegExp(`rank ${r}: the parameters differ across ranks: rank ${n - 1}'s element 40 \\(parameter 2 \\[5,3\\], index 5\\).*same seed`));
        assert.match(e.shapes!, new RegExp(`rank ${r}: rank 1 has 5 parameter tensors with Ψ = 55 elements but rank 0 has 4 with Ψ = 53`));
        assert.match(e.nograd!, new RegExp(`ZeroAdamW.step: rank ${r}: parameter 0 \\[6,5\\] has no gradient; call loss.backward\\(\\)`));
      }
    });
  }

  it('PyTorch 1.13: ZeroRedundancyOptimizer (gloo, 2 ranks) with AdamW and StepLR gives the same parameters (rtol 1e-5)', function () {
    const ref = needTorch(this, torchRun);
    assert.equal(ref.length, 2);
    // torch shards whole parameters, greedily by size: the owned counts add up to Ψ
    assert.equal(ref[0]!.owned + ref[1]!.owned, PSI);
    let worst = 0;
    for (let r = 0; r < 2; r++) {
      for (const stage of [1, 2] as const) {
        const ours = (results[2]![r]![`stage${stage}`] as StageResult).params;
        for (let k = 0; k < STEPS; k++) {
          const e = relErr(ours[k]!, ref[r]!.params[k]!);
          worst = Math.max(worst, e);
          assert.ok(e <= 1e-5, `rank ${r} stage ${stage} step ${k + 1}: ${e}`);
        }
      }
    }
    console.log(`      worst max|Δθ|/max|θ| against torch: ${worst.toExponential(2)}; torch's shards (whole parameters): ${ref.map((x) => x.owned).join(' + ')} elements`);
  });
});
