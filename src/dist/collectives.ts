/**
 * Collectives on top of point-to-point `send` / `recv`, one short function per
 * algorithm so each can be read on its own. S = bytes of the vector, n = ranks.
 * Every function checks that all ranks pass the same number of elements (each
 * message carries the sender's total) and fails, naming both ranks, if not.
 *
 * References: Patarasuk & Yuan, "Bandwidth optimal all-reduce algorithms for
 * clusters of workstations", JPDC 2009 (ring); Thakur, Rabenseifner & Gropp,
 * "Optimization of collective communication operations in MPICH", IJHPCA 2005
 * (recursive halving-doubling); NVIDIA nccl-tests PERFORMANCE.md (algbw, busbw).
 *
 * Introduced in notebooks/04-distributed.
 */
import { DistError, ProcessGroup } from './group';

/** The all-reduce algorithms {@link allReduce} can use. */
export type AllReduceAlgorithm = 'naive' | 'ring' | 'halving-doubling';

/** Start of chunk `i` when `len` elements are cut into `n` nearly equal chunks (sizes differ by at most 1). */
export function chunkStart(len: number, n: number, i: number): number {
  return Math.floor((i * len) / n);
}

const mod = (a: number, n: number) => ((a % n) + n) % n;

/**
 * Receive the next message with `tag` from `src` into `into` (copied over it,
 * or added to it with `add`) and check the sender's total against ours: a
 * different size fails every rank, naming both.
 */
async function recvInto(g: ProcessGroup, src: number, tag: string, total: number, into: Float32Array, add: boolean): Promise<void> {
  const h = await g.recvInto(src, tag, into, add, total);
  if (h.total !== total || h.len !== into.byteLength) {
    const why = `rank ${src} passed ${h.total} elements but rank ${g.rank} passed ${total} (${tag.split(':')[0]}); every rank must pass a tensor of the same size`;
    g.abort(why);
    throw new DistError(`rank ${g.rank}: ${why}`, src);
  }
}

/** One step of halving-doubling (or any pairwise step): send `out` to `dst` while receiving into `into` from `src`, added or copied. */
async function exchange(g: ProcessGroup, out: Float32Array, dst: number, into: Float32Array, src: number, tag: string, total: number, add: boolean): Promise<void> {
  await Promise.all([g.send(out, dst, tag, total), recvInto(g, src, tag, total, into, add)]);
}

/** One step of a ring: send `send` to the right neighbour, receive into `into` from the left, added or copied. */
interface RingStep {
  send: Float32Array;
  into: Float32Array;
  add: boolean;
}

/**
 * Run ring steps. All receives are posted first (messages from one rank with
 * one tag fill them in order), so each payload is read from the socket
 * straight into its chunk, and added there as it arrives. Step s sends only
 * after step s−1's receive completed, which is all a ring needs: a chunk is
 * forwarded after it has been added to or received, and it is overwritten
 * only by data that could not exist before the right neighbour had received
 * it. `send` resolves once the operating system has the bytes, so after the
 * last await the vector is free to change.
 */
async function ring(g: ProcessGroup, tag: string, total: number, steps: RingStep[]): Promise<void> {
  const n = g.worldSize, right = mod(g.rank + 1, n), left = mod(g.rank - 1, n);
  const recvs = steps.map((s) => recvInto(g, left, tag, total, s.into, s.add));
  const sends: Promise<void>[] = [];
  for (const p of recvs) p.catch(() => undefined); // each is awaited below; a failure is thrown there
  for (let s = 0; s < steps.length; s++) {
    const p = g.send(steps[s].send, right, tag, total);
    p.catch(() => undefined);
    sends.push(p);
    await recvs[s];
  }
  await Promise.all(sends);
}

function nextTag(g: ProcessGroup, op: string): string {
  return `${op}:${g.seq++}`;
}

/**
 * Naive all-reduce through rank 0: every rank sends its vector to rank 0, which
 * sums and sends the sum back (reduce, then broadcast). 2(n−1) messages, all
 * through rank 0: rank 0 receives and sends (n−1)·S bytes, the others S each,
 * so time grows linearly with n. In place on `x` (sum op); returns `x`.
 */
export async function allReduceNaive(g: ProcessGroup, x: Float32Array): Promise<Float32Array> {
  const tag = nextTag(g, 'allreduce-naive'), n = g.worldSize, S = x.length;
  if (g.rank === 0) {
    for (let r = 1; r < n; r++) await recvInto(g, r, tag, S, x, true);
    await Promise.all(Array.from({ length: n - 1 }, (_, k) => g.send(x, k + 1, tag, S)));
  } else {
    await g.send(x, 0, tag, S);
    await recvInto(g, 0, tag, S, x, false);
  }
  return x;
}

/**
 * Ring reduce-scatter (first half of the ring all-reduce, Patarasuk & Yuan 2009):
 * cut x into n chunks; in each of n−1 steps every rank sends one chunk to its
 * right neighbour and adds the chunk arriving from its left. Afterwards rank r
 * holds the full sum of chunk r (PyTorch's `reduce_scatter` convention).
 * n−1 steps, (n−1)·S/n bytes sent per rank. In place; returns chunk r (a view).
 */
export async function reduceScatterRing(g: ProcessGroup, x: Float32Array, tag = nextTag(g, 'reduce-scatter')): Promise<Float32Array> {
  await ring(g, tag, x.length, reduceScatterSteps(g, x));
  return chunks(g, x)(g.rank);
}

/** Chunk i (mod n) of `x`, cut by {@link chunkStart}, as a view. */
function chunks(g: ProcessGroup, x: Float32Array): (i: number) => Float32Array {
  const n = g.worldSize, S = x.length;
  return (i) => x.subarray(chunkStart(S, n, mod(i, n)), chunkStart(S, n, mod(i, n) + 1));
}

/** Ring reduce-scatter's steps: in step s, send chunk r−s−1 and add the arriving one into chunk r−s−2. */
function reduceScatterSteps(g: ProcessGroup, x: Float32Array): RingStep[] {
  const chunk = chunks(g, x), r = g.rank;
  return Array.from({ length: g.worldSize - 1 }, (_, s) => ({ send: chunk(r - s - 1), into: chunk(r - s - 2), add: true }));
}

/** Ring all-gather's steps: in step s, forward chunk r−s and receive chunk r−s−1 over it. */
function allGatherSteps(g: ProcessGroup, x: Float32Array): RingStep[] {
  const chunk = chunks(g, x), r = g.rank;
  return Array.from({ length: g.worldSize - 1 }, (_, s) => ({ send: chunk(r - s), into: chunk(r - s - 1), add: false }));
}

/**
 * Ring all-gather on a vector whose chunk r (cut as in {@link chunkStart}) is
 * rank r's contribution: in each of n−1 steps every rank forwards to its right
 * the chunk it received last. n−1 steps, (n−1)·S/n bytes sent per rank. In place.
 */
export async function allGatherRingInPlace(g: ProcessGroup, x: Float32Array, tag = nextTag(g, 'all-gather')): Promise<Float32Array> {
  await ring(g, tag, x.length, allGatherSteps(g, x));
  return x;
}

/**
 * Ring all-reduce = ring reduce-scatter + ring all-gather (Patarasuk & Yuan
 * 2009): 2(n−1) steps of S/n bytes, so each rank sends 2(n−1)/n·S bytes — the
 * lower bound for any all-reduce, independent of n for large n. This factor is
 * why nccl-tests report busbw = algbw·2(n−1)/n. In place (sum); returns `x`.
 * Both halves run as one sequence of 2(n−1) ring steps, so the all-gather's
 * receives are posted before the reduce-scatter starts.
 */
export async function allReduceRing(g: ProcessGroup, x: Float32Array): Promise<Float32Array> {
  await ring(g, nextTag(g, 'allreduce-ring'), x.length, [...reduceScatterSteps(g, x), ...allGatherSteps(g, x)]);
  return x;
}

/**
 * Recursive halving-doubling all-reduce (Rabenseifner's algorithm, Thakur,
 * Rabenseifner & Gropp 2005). With p = the largest power of two ≤ n, the n−p
 * extra ranks first fold their vector into a partner (rank r−p) and wait.
 * Then log2 p halving steps: partner = r xor d for d = p/2, p/4, …, 1; each
 * keeps one half of its current range, sends the other half (S/2, S/4, … bytes)
 * and adds the partner's copy of the kept half (a reduce-scatter); then log2 p
 * doubling steps retrace them, exchanging the reduced halves (an all-gather).
 * 2·log2 p steps, 2(p−1)/p·S bytes per rank (plus S twice for folded ranks):
 * fewer steps (latency α) than the ring, the same bytes. In place; returns `x`.
 */
export async function allReduceHalvingDoubling(g: ProcessGroup, x: Float32Array): Promise<Float32Array> {
  const tag = nextTag(g, 'allreduce-hd'), n = g.worldSize, r = g.rank, S = x.length;
  let p = 1;
  while (p * 2 <= n) p *= 2;
  if (r >= p) {
    await g.send(x, r - p, tag, S);
    await recvInto(g, r - p, tag, S, x, false);
    return x;
  }
  if (r + p < n) await recvInto(g, r + p, tag, S, x, true);
  const ranges: [number, number, boolean][] = [];
  let lo = 0, hi = S;
  for (let d = p / 2; d >= 1; d /= 2) {
    const partner = r ^ d, mid = lo + Math.floor((hi - lo) / 2);
    const keepLow = (r & d) === 0;
    const [kLo, kHi, sLo, sHi] = keepLow ? [lo, mid, mid, hi] : [mid, hi, lo, mid];
    await exchange(g, x.subarray(sLo, sHi), partner, x.subarray(kLo, kHi), partner, tag, S, true);
    ranges.push([lo, hi, keepLow]);
    lo = kLo, hi = kHi;
  }
  for (let d = 1; d < p; d *= 2) {
    const partner = r ^ d, [pLo, pHi, keptLow] = ranges.pop()!;
    const [oLo, oHi] = keptLow ? [hi, pHi] : [pLo, lo];
    await exchange(g, x.subarray(lo, hi), partner, x.subarray(oLo, oHi), partner, tag, S, false);
    lo = pLo, hi = pHi;
  }
  if (r + p < n) await g.send(x, r + p, tag, S);
  return x;
}

/**
 * All-reduce (sum, or mean with `op: 'mean'`), like
 * `torch.distributed.all_reduce`. Takes a Float32Array (reduced in place and
 * returned) or a tfjs tensor (its data are copied; a new tensor of the same
 * shape is returned, the input is not disposed). Default algorithm: ring.
 */
export async function allReduce<T extends Float32Array | TensorLike>(
  g: ProcessGroup,
  x: T,
  opts: { algorithm?: AllReduceAlgorithm; op?: 'sum' | 'mean' } = {},
): Promise<T> {
  const isTensor = !(x instanceof Float32Array);
  const v = isTensor ? Float32Array.from((x as TensorLike).dataSync()) : (x as Float32Array);
  const algo = opts.algorithm ?? 'ring';
  if (g.worldSize > 1) {
    if (algo === 'naive') await allReduceNaive(g, v);
    else if (algo === 'ring') await allReduceRing(g, v);
    else if (algo === 'halving-doubling') await allReduceHalvingDoubling(g, v);
    else throw new DistError(`allReduce: unknown algorithm ${JSON.stringify(algo)}; use 'naive', 'ring' or 'halving-doubling'`, g.rank);
  }
  if (opts.op === 'mean') for (let i = 0; i < v.length; i++) v[i] /= g.worldSize;
  if (!isTensor) return v as T;
  // Loaded lazily: ranks that only move Float32Arrays do not pay for loading tfjs.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { tf } = require('../backend/tf') as typeof import('../backend/tf');
  return tf.tensor(v, (x as TensorLike).shape, 'float32') as unknown as T;
}

/** What {@link allReduce} needs of a tfjs tensor. */
export interface TensorLike {
  shape: number[];
  dataSync(): ArrayLike<number>;
}

/**
 * Broadcast from `root` along a binomial tree: in step k the ranks that already
 * have the data (relative rank < 2^k) send it to relative rank + 2^k.
 * ⌈log2 n⌉ steps, S bytes per message, each rank receives S once. Like
 * `torch.distributed.broadcast`; in place on `x` (same length on every rank).
 */
export async function broadcast(g: ProcessGroup, x: Float32Array, root = 0): Promise<Float32Array> {
  const tag = nextTag(g, 'broadcast'), n = g.worldSize, rel = mod(g.rank - root, n), S = x.length;
  for (let d = 1; d < n; d *= 2) {
    if (rel < d && rel + d < n) await g.send(x, mod(rel + d + root, n), tag, S);
    else if (rel >= d && rel < 2 * d) await recvInto(g, mod(rel - d + root, n), tag, S, x, false);
  }
  return x;
}

/**
 * Reduce-scatter (sum): returns a new Float32Array with chunk `rank` of the
 * element-wise sum (chunks cut by {@link chunkStart}; equal when n divides the
 * length, as `torch.distributed.reduce_scatter` requires). Ring algorithm:
 * n−1 steps, (n−1)·S/n bytes per rank. `x` is not modified.
 */
export async function reduceScatter(g: ProcessGroup, x: Float32Array): Promise<Float32Array> {
  // The ring works in place, on a copy: `x` stays as it was.
  return (await reduceScatterRing(g, Float32Array.from(x))).slice();
}

/**
 * All-gather: every rank contributes `x` (same length L everywhere); returns
 * the n·L concatenation in rank order, like `torch.distributed.all_gather`
 * followed by `torch.cat`. Ring algorithm: n−1 steps, (n−1)·L·4 bytes per rank.
 */
export async function allGather(g: ProcessGroup, x: Float32Array): Promise<Float32Array> {
  const n = g.worldSize, L = x.length, out = new Float32Array(n * L);
  out.set(x, g.rank * L);
  return allGatherRingInPlace(g, out);
}

/**
 * Barrier: returns once every rank has called it, like
 * `torch.distributed.barrier`. A token ring of empty messages: finishing step k
 * needs the left neighbour to have started step k, so after n−1 steps every
 * other rank has entered the barrier. n−1 steps, 0 bytes.
 */
export async function barrier(g: ProcessGroup): Promise<void> {
  const tag = nextTag(g, 'barrier'), n = g.worldSize, r = g.rank, empty = new Float32Array(0);
  for (let s = 0; s < n - 1; s++) await exchange(g, empty, mod(r + 1, n), empty, mod(r - 1, n), tag, 0, false);
}
