/**
 * Data parallelism with PyTorch `DistributedDataParallel` (DDP) semantics: every
 * rank holds a full replica of the model, computes the loss on its own shard of
 * the batch, and before the optimiser step the gradients are averaged across
 * ranks, so every replica takes the same step and the replicas stay identical.
 *
 * Why averaging is right: with N ranks, rank r's shard of B_r examples and its
 * loss the mean over the shard, `L_r = (1/B_r) Σ_{i∈r} ℓ_i`, DDP computes
 *
 *     g = (1/N) Σ_r ∇L_r = Σ_r Σ_{i∈r} ∇ℓ_i / (N·B_r).
 *
 * When every shard has B/N examples this is `(1/B) Σ_i ∇ℓ_i`, the gradient of the
 * full-batch mean loss: N ranks take exactly the single-process step. When B is
 * not divisible by N, example i weighs `1/(N·B_r)` instead of `1/B` (the
 * gradient of `(1/N) Σ_r L_r`, a mean of shard means), as in PyTorch.
 *
 * Reference: `torch.nn.parallel.DistributedDataParallel` (PyTorch 1.13); Li et
 * al. 2020, "PyTorch Distributed: Experiences on Accelerating Data Parallel
 * Training", VLDB 13(12). Introduced in notebooks/04-distributed/02-data-parallel.
 *
 * @module
 */
import type { Tensor } from '../autograd/tensor';
import type { Module } from '../nn/module';
import { allGather, allReduce, broadcast, type AllReduceAlgorithm } from './collectives';
import { flatten, unflatten } from './flat';
import { DistError, type ProcessGroup } from './group';

/** One MiB, the unit of DDP's `bucket_cap_mb` (`bucket_cap_mb * 1024 * 1024` bytes). */
export const MB = 2 ** 20;

/** Options of {@link DistributedDataParallel.create}. */
export interface DDPOptions {
  /**
   * Capacity of a gradient bucket in MiB. A bucket is closed as soon as its
   * size reaches the cap, so one may exceed it by its last parameter. Default
   * 25 (DDP's `bucket_cap_mb`).
   */
  bucketCapMB?: number;
  /**
   * Capacity of the first bucket (the last layers' gradients, ready first) in
   * MiB. Default 1: DDP's `dist._DEFAULT_FIRST_BUCKET_BYTES`, the cap DDP uses
   * when it rebuilds its buckets after the first iteration, so that the first
   * all-reduce can start early. Pass `bucketCapMB` to have equal caps.
   */
  firstBucketCapMB?: number;
  /** The all-reduce algorithm of every bucket. Default `'ring'` (NCCL's and gloo's usual choice). */
  algorithm?: AllReduceAlgorithm;
}

/** A bucket: parameters (by name, in the order they are packed) whose gradients are all-reduced as one Float32Array. */
export interface Bucket {
  /** Position in the reduction order (0 = reduced first = holds the last registered parameters). */
  index: number;
  /** Parameter names, reverse registration order. */
  params: string[];
  /** Σ elements. */
  numel: number;
  /** Σ bytes (float32: 4·numel). */
  bytes: number;
}

/** What one {@link DistributedDataParallel.syncGradients} call did, per bucket and in total. Times in seconds. */
export interface SyncReport {
  /** Number of buckets (= all-reduce calls). */
  buckets: number;
  /** Bytes all-reduced per rank (Σ bucket bytes). */
  bytes: number;
  /** Time inside the all-reduces (communication). */
  commSeconds: number;
  /** Time packing gradients into the flat buckets (includes reading them from the backend). */
  packSeconds: number;
  /** Time writing the averaged gradients back to `.grad`. */
  unpackSeconds: number;
  /** Wall time of the whole call. */
  totalSeconds: number;
  /**
   * Per bucket: its bytes and its all-reduce time; with {@link DistributedDataParallel.backward}
   * also when it was ready, started and ended, in seconds from the start of backward.
   */
  perBucket: { index: number; bytes: number; seconds: number; ready?: number; start?: number; end?: number }[];
  /** With {@link DistributedDataParallel.backward}: backward's own time, seconds. */
  backwardSeconds?: number;
  /**
   * With {@link DistributedDataParallel.backward}: communication not hidden
   * behind backward, from the end of backward to the end of the last bucket's
   * all-reduce (and the write-back), seconds. Without overlap it would be the
   * whole `commSeconds + packSeconds`.
   */
  exposedSeconds?: number;
}

/**
 * DDP's bucket assignment for tensors of `bytes[i]` bytes given in the order
 * their gradients become ready (for DDP: reverse registration order): walk
 * them in order, add each to the current bucket, and close the bucket as soon
 * as its size is ≥ its cap; the first bucket's cap is `firstCapBytes`, every
 * later one `capBytes`. Returns the indices in each bucket. Same rule as
 * `torch.distributed._compute_bucket_assignment_by_size(tensors,
 * [first_cap, cap], ..., tensor_indices)` (reducer.cpp) for one dtype.
 *
 * @example
 * bucketAssignment([400, 400, 400], 800); // [[0, 1], [2]]
 */
export function bucketAssignment(bytes: readonly number[], capBytes: number, firstCapBytes = capBytes): number[][] {
  for (const [what, v] of [['capBytes', capBytes], ['firstCapBytes', firstCapBytes]] as const) {
    if (!(v > 0) || !Number.isFinite(v)) throw new Error(`bucketAssignment: ${what} must be a finite number > 0, got ${v}`);
  }
  const out: number[][] = [];
  let cur: number[] = [], size = 0;
  bytes.forEach((b, i) => {
    if (!(b >= 0)) throw new Error(`bucketAssignment: bytes[${i}] must be ≥ 0, got ${b}`);
    cur.push(i);
    size += b;
    if (size >= (out.length === 0 ? firstCapBytes : capBytes)) {
      out.push(cur);
      (cur = []), (size = 0);
    }
  });
  if (cur.length) out.push(cur);
  return out;
}

/**
 * What overlapping communication with backward could save, on a model of the
 * timeline: backward takes `backwardSeconds` and produces gradients at a
 * constant rate in bytes, so bucket k (reduced k-th) is ready when the
 * fraction `Σ_{j≤k} bytes_j / Σ bytes` of backward is done; bucket k's
 * all-reduce starts when it is ready and the previous one has finished, and
 * takes `seconds_k`. Without overlap (gradlab today) the step costs
 * `backward + Σ seconds_k`.
 *
 * @returns the sequential time, the overlapped time (last all-reduce's end, or
 * the end of backward if later), the saving and each bucket's start and end.
 *
 * Reference: Li et al. 2020, §3.2.3 (overlap computation with communication)
 * and Figure 2. Introduced in notebooks/04-distributed/02-data-parallel.
 */
export function overlapTimeline(
  backwardSeconds: number,
  buckets: readonly { bytes: number; seconds: number }[],
): { sequential: number; overlapped: number; saved: number; timeline: { index: number; ready: number; start: number; end: number }[] } {
  if (!(backwardSeconds >= 0)) throw new Error(`overlapTimeline: backwardSeconds must be ≥ 0, got ${backwardSeconds}`);
  const total = buckets.reduce((a, b) => a + b.bytes, 0);
  let done = 0, free = 0;
  const timeline = buckets.map((b, index) => {
    if (!(b.seconds >= 0) || !(b.bytes >= 0)) throw new Error(`overlapTimeline: bucket ${index} needs bytes ≥ 0 and seconds ≥ 0, got ${JSON.stringify(b)}`);
    done += b.bytes;
    // min(): (b·t)/t can round one ulp above b, which would make the last bucket ready after backward ends
    const ready = total > 0 ? Math.min(backwardSeconds, (backwardSeconds * done) / total) : backwardSeconds;
    const start = Math.max(ready, free), end = start + b.seconds;
    free = end;
    return { index, ready, start, end };
  });
  const sequential = backwardSeconds + buckets.reduce((a, b) => a + b.seconds, 0);
  const overlapped = Math.max(backwardSeconds, free);
  return { sequential, overlapped, saved: sequential - overlapped, timeline };
}

const now = () => performance.now() / 1000;

/** A bucket's gradients packed into one Float32Array and divided by N (DDP divides before the all-reduce). */
async function packDivided(g: readonly [string, Tensor][], N: number): Promise<Float32Array> {
  const flat = await flatten(g.map(([, p]) => p.grad!));
  for (let i = 0; i < flat.length; i++) flat[i] /= N;
  return flat;
}

/** Replace each parameter's `.grad` in bucket `g` by its slice of the reduced `flat`. */
function writeBack(g: readonly [string, Tensor][], flat: Float32Array): void {
  unflatten(flat, g.map(([, p]) => p.shape)).forEach((t, i) => {
    const p = g[i]![1];
    p.grad!.dispose();
    p.grad = t;
  });
}

/** A JSON string through a Float32Array (char codes < 2^16 are exact in float32), for the signature check. */
const encode = (s: string) => Float32Array.from(s, (c) => c.charCodeAt(0));
const decode = (a: Float32Array) => {
  let s = '';
  for (const c of a) if (c !== 0) s += String.fromCharCode(c);
  return s;
};

/**
 * Data-parallel training of a module on a {@link ProcessGroup}, as PyTorch's
 * `DistributedDataParallel`:
 *
 * 1. {@link create} checks that every rank has the same parameters (names and
 *    shapes, else it fails on every rank naming the first rank and parameter
 *    that differ from rank 0's) and broadcasts rank 0's values, so all replicas
 *    start equal.
 * 2. Each rank runs forward and `loss.backward()` on its shard (loss = mean over
 *    the shard).
 * 3. `await ddp.syncGradients()` replaces every `.grad` by the average over
 *    ranks, `ḡ = (1/N) Σ_r g_r`: parameters are packed, in reverse registration
 *    order, into buckets of ≤ `bucketCapMB` MiB (first bucket `firstBucketCapMB`),
 *    each bucket divided by N (DDP pre-divides) and all-reduced (sum) as one
 *    Float32Array, then written back. A parameter without a gradient is an
 *    error, as DDP with `find_unused_parameters=False`.
 * 4. The optimiser steps as usual: identical gradients on identical replicas
 *    give identical parameters (and optimiser states) everywhere.
 *
 * **Overlap.** DDP registers an autograd hook on every parameter's gradient
 * accumulator; when all gradients of a bucket are ready, the hook launches that
 * bucket's all-reduce asynchronously, so the communication of the last layers'
 * buckets runs while backward still computes the first layers' gradients, and
 * only the last bucket's all-reduce is exposed (Li et al. 2020, §3.2.3). Here
 * `backward()` is one synchronous call without per-parameter hooks, so the
 * buckets are reduced after it: step time = backward + Σ bucket all-reduces.
 * `await ddp.backward(loss)` overlaps them as DDP does: each parameter has a
 * post-accumulate-grad hook (`registerPostAccumulateGradHook`, the engine
 * visits a leaf as soon as its gradient is complete); when a bucket's last
 * gradient is in, its all-reduce is launched (buckets in index order, one
 * after the other, as DDP's reducer does), and backward runs with
 * `backwardAsync`, which lets the event loop (the sockets, the additions) run
 * between nodes. Same result as `loss.backward()` + `syncGradients()`.
 * {@link overlapTimeline} estimates what overlap can save from measured times.
 *
 * Not implemented: `no_sync()` (gradient accumulation), unused-parameter
 * detection, buffer broadcast (gradlab modules have no buffers), gradient
 * compression hooks.
 *
 * @example
 * const ddp = await gl.dist.DistributedDataParallel.create(model, pg, { bucketCapMB: 25 });
 * const loss = gl.nn.mse(ddp.forward(xShard), yShard);
 * loss.backward(); loss.dispose();
 * const report = await ddp.syncGradients(); // { buckets, bytes, commSeconds, ... }
 * opt.step(); opt.zeroGrad();
 *
 * Reference: `torch.nn.parallel.DistributedDataParallel(module, bucket_cap_mb=25)`
 * (PyTorch 1.13); Li et al. 2020. Introduced in notebooks/04-distributed/02-data-parallel.
 */
export class DistributedDataParallel {
  /** The bucket layout, in reduction order. */
  readonly buckets: readonly Bucket[];
  /** The report of the last {@link syncGradients} call (null before the first). */
  lastReport: SyncReport | null = null;
  private readonly named: [string, Tensor][];
  private readonly groups: [string, Tensor][][];
  private readonly algorithm: AllReduceAlgorithm;
  /** Bucket index of each parameter. */
  private readonly bucketOf = new Map<Tensor, number>();
  /** The overlapped backward in progress (its hooks act only then). */
  private active: {
    t0: number;
    /** Gradients each bucket still waits for (0: ready). */
    left: number[];
    /** The parameters whose gradient this backward produced (the others are named when it ends short). */
    got: Set<Tensor>;
    readyAt: number[];
    next: number;
    chain: Promise<void>;
    flats: (Float32Array | null)[];
    report: SyncReport;
  } | null = null;
  private hooked = false;

  private constructor(readonly module: Module<any>, readonly pg: ProcessGroup, options: DDPOptions) {
    const cap = options.bucketCapMB ?? 25, first = options.firstBucketCapMB ?? 1;
    for (const [what, v] of [['bucketCapMB', cap], ['firstBucketCapMB', first]] as const) {
      if (!(v > 0) || !Number.isFinite(v)) throw new Error(`DistributedDataParallel: ${what} must be a finite number > 0 (MiB), got ${v}`);
    }
    this.algorithm = options.algorithm ?? 'ring';
    this.named = module.namedParameters();
    if (this.named.length === 0) throw new Error('DistributedDataParallel: the module has no parameters; there is nothing to synchronise');
    const rev = this.named.slice().reverse();
    this.groups = bucketAssignment(rev.map(([, p]) => 4 * p.size), cap * MB, first * MB).map((ix) => ix.map((i) => rev[i]!));
    this.buckets = this.groups.map((g, index) => {
      const numel = g.reduce((a, [, p]) => a + p.size, 0);
      return { index, params: g.map(([n]) => n), numel, bytes: 4 * numel };
    });
    this.groups.forEach((g, index) => g.forEach(([, p]) => this.bucketOf.set(p, index)));
  }

  /**
   * Wrap `module` on `pg` (call it on every rank, with the same options): checks
   * that every rank has the same parameter names and shapes and broadcasts rank
   * 0's parameter values to all ranks.
   *
   * @throws on every rank, naming the first rank and parameter that differ from
   * rank 0 (a missing, extra, renamed or reshaped parameter); on bad options.
   */
  static async create(module: Module<any>, pg: ProcessGroup, options: DDPOptions = {}): Promise<DistributedDataParallel> {
    const ddp = new DistributedDataParallel(module, pg, options);
    await ddp.checkSignatures();
    // Broadcast rank 0's values, bucket by bucket (DDP's _sync_module_states).
    for (const g of ddp.groups) {
      const flat = pg.rank === 0 ? await flatten(g.map(([, p]) => p.data)) : new Float32Array(g.reduce((a, [, p]) => a + p.size, 0));
      await broadcast(pg, flat, 0);
      if (pg.rank !== 0) unflatten(flat, g.map(([, p]) => p.shape)).forEach((t, i) => g[i]![1].assign(t));
    }
    return ddp;
  }

  /** Every rank's `[[name, shape], ...]`, gathered, compared with rank 0's. */
  private async checkSignatures(): Promise<void> {
    const pg = this.pg, n = pg.worldSize;
    const mine = encode(JSON.stringify(this.named.map(([name, p]) => [name, p.shape])));
    const lens = await allGather(pg, Float32Array.of(mine.length));
    const L = Math.max(...lens);
    const padded = new Float32Array(L);
    padded.set(mine);
    const all = await allGather(pg, padded);
    const sigs = Array.from({ length: n }, (_, r) => JSON.parse(decode(all.subarray(r * L, (r + 1) * L))) as [string, number[]][]);
    const ref = sigs[0]!;
    for (let r = 1; r < n; r++) {
      const s = sigs[r]!;
      for (let i = 0; i < Math.max(ref.length, s.length); i++) {
        const a = ref[i], b = s[i];
        const fmt = (x: [string, number[]] | undefined) => (x ? `'${x[0]}' [${x[1].join(', ')}]` : 'none');
        if (!a || !b || a[0] !== b[0] || a[1].join() !== b[1].join()) {
          throw new DistError(
            `DistributedDataParallel: rank ${r}'s parameter #${i} is ${fmt(b)} but rank 0's is ${fmt(a)} ` +
              `(rank ${r} has ${s.length} parameters, rank 0 has ${ref.length}); every rank must build the same model`,
            r,
          );
        }
      }
    }
  }

  /** The wrapped module's forward (DDP's `forward`, without its bookkeeping). */
  forward(x: Parameters<Module<any>['forward']>[0]): Tensor {
    return this.module.forward(x);
  }

  /**
   * `loss.backward()` and {@link syncGradients} in one, overlapped as DDP does
   * (see the class): each bucket's all-reduce starts as soon as its gradients
   * are ready, while backward computes the earlier layers' gradients; the
   * averaged gradients are written back at the end. Same result as
   * `loss.backward(); await ddp.syncGradients()`. `yieldMs` is how often
   * backward lets the communication run (see `Tensor.backwardAsync`; default 1).
   * The loss is not disposed. Returns the report with each bucket's ready,
   * start and end times and the exposed communication.
   *
   * @throws as {@link syncGradients} when a parameter gets no gradient.
   */
  async backward(loss: Tensor, options: { yieldMs?: number } = {}): Promise<SyncReport> {
    if (this.active) throw new Error('DistributedDataParallel.backward: a backward is already running on this DDP; await it first');
    if (!this.hooked) {
      for (const [, p] of this.named) p.registerPostAccumulateGradHook((q) => this.onGradReady(q));
      this.hooked = true;
    }
    const t0 = now();
    const report: SyncReport = { buckets: this.groups.length, bytes: 0, commSeconds: 0, packSeconds: 0, unpackSeconds: 0, totalSeconds: 0, perBucket: [] };
    const st = (this.active = {
      t0,
      left: this.groups.map((g) => g.length),
      got: new Set<Tensor>(),
      readyAt: this.groups.map(() => 0),
      next: 0,
      chain: Promise.resolve(),
      flats: this.groups.map(() => null),
      report,
    });
    try {
      await loss.backwardAsync(undefined, { yieldMs: options.yieldMs });
    } catch (e) {
      this.active = null;
      await st.chain.catch(() => undefined);
      throw e;
    }
    report.backwardSeconds = now() - t0;
    this.active = null;
    if (st.next < this.groups.length) {
      await st.chain.catch(() => undefined);
      // Named by what this backward produced, not by .grad: a gradient kept from an earlier backward is not one.
      const missing = this.groups.flatMap((g) => g.filter(([, p]) => !st.got.has(p)).map(([name]) => `'${name}'`));
      const why =
        `DistributedDataParallel.backward on rank ${this.pg.rank}: parameter(s) ${missing.join(', ')} got no gradient from this backward: ` +
        'they were not used to compute the loss. Every parameter must receive a gradient on every rank ' +
        '(as DDP with find_unused_parameters=False); remove unused parameters from the module.';
      this.pg.abort(why);
      throw new DistError(why, this.pg.rank);
    }
    await st.chain;
    let t = now();
    this.groups.forEach((g, b) => writeBack(g, st.flats[b]!));
    report.unpackSeconds = now() - t;
    t = now();
    report.totalSeconds = t - t0;
    report.exposedSeconds = Math.max(0, t - t0 - report.backwardSeconds);
    report.perBucket.sort((a, b) => a.index - b.index);
    this.lastReport = report;
    return report;
  }

  /** A parameter's gradient is final: when its bucket is complete, launch the buckets that are next in order. */
  private onGradReady(p: Tensor): void {
    const st = this.active;
    const b = this.bucketOf.get(p);
    if (!st || b === undefined) return;
    st.got.add(p);
    if (--st.left[b] === 0) st.readyAt[b] = now() - st.t0;
    while (st.next < this.groups.length && st.left[st.next] === 0) {
      const k = st.next++;
      st.chain = st.chain.then(() => this.reduceBucket(k, st, st.readyAt[k]!));
      st.chain.catch(() => undefined); // awaited by backward(); this only keeps a failure from being reported as unhandled
    }
  }

  /** Pack bucket k's gradients (divided by N), all-reduce them and keep the result for the write-back. */
  private async reduceBucket(k: number, st: NonNullable<DistributedDataParallel['active']>, ready: number): Promise<void> {
    const g = this.groups[k]!, N = this.pg.worldSize, report = st.report;
    const start = now();
    const flat = await packDivided(g, N);
    const t = now();
    report.packSeconds += t - start;
    await allReduce(this.pg, flat, { algorithm: this.algorithm });
    const end = now();
    report.commSeconds += end - t;
    report.bytes += flat.byteLength;
    report.perBucket.push({ index: k, bytes: flat.byteLength, seconds: end - t, ready, start: start - st.t0, end: end - st.t0 });
    st.flats[k] = flat;
  }

  /**
   * Average every parameter's `.grad` across ranks, bucket by bucket (see the
   * class). Call it on every rank after `loss.backward()` and before the
   * optimiser step. Returns (and keeps in {@link lastReport}) what it did.
   *
   * @throws if a parameter has no gradient (it did not take part in the loss),
   * naming it, and aborts the group so the other ranks fail at once naming
   * this rank; DDP with `find_unused_parameters=False` fails likewise.
   */
  async syncGradients(): Promise<SyncReport> {
    const pg = this.pg, N = pg.worldSize, t0 = now();
    const missing = this.named.filter(([, p]) => p.grad === null).map(([name]) => `'${name}'`);
    if (missing.length) {
      const why =
        `DistributedDataParallel.syncGradients on rank ${pg.rank}: parameter(s) ${missing.join(', ')} have no gradient: ` +
        'they were not used to compute the loss (or backward() was not called). Every parameter must receive a gradient on every rank ' +
        '(as DDP with find_unused_parameters=False); remove unused parameters from the module.';
      pg.abort(why); // the other ranks fail at once, naming this rank, instead of waiting in the all-reduce
      throw new DistError(why, pg.rank);
    }
    const report: SyncReport = { buckets: this.groups.length, bytes: 0, commSeconds: 0, packSeconds: 0, unpackSeconds: 0, totalSeconds: 0, perBucket: [] };
    for (const [index, g] of this.groups.entries()) {
      let t = now();
      const flat = await packDivided(g, N);
      report.packSeconds += now() - t;
      t = now();
      await allReduce(pg, flat, { algorithm: this.algorithm });
      const c = now() - t;
      report.commSeconds += c;
      report.bytes += flat.byteLength;
      report.perBucket.push({ index, bytes: flat.byteLength, seconds: c });
      t = now();
      writeBack(g, flat);
      report.unpackSeconds += now() - t;
    }
    report.totalSeconds = now() - t0;
    this.lastReport = report;
    return report;
  }
}
