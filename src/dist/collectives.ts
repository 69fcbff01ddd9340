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
import { DistError, ProcessGroup, bufferToF32 } from './group';

/** The all-reduce algorithms {@link allReduce} can use. */
export type AllReduceAlgorithm = 'naive' | 'ring' | 'halving-doubling';

/** Start of chunk `i` when `len` elements are cut into `n` nearly equal chunks (sizes differ by at most 1). */
export function chunkStart(len: number, n: number, i: number): number {
  return Math.floor((i * len) / n);
}

const mod = (a: number, n: number) => ((a % n) + n) % n;

/** Receive a Float32Array from `src` and check the sender's total against ours. */
async function recvChecked(g: ProcessGroup, src: number, tag: string, total: number, expectLen: number): Promise<Float32Array> {
  const m = await g.recvRaw(src, tag);
  if (m.header.total !== total || m.header.len !== expectLen * 4) {
    const why = `rank ${src} passed ${m.header.total} elements but rank ${g.rank} passed ${total} (${tag.split(':')[0]}); every rank must pass a tensor of the same size`;
    g.abort(why);
    throw new DistError(`rank ${g.rank}: ${why}`, src);
  }
  return bufferToF32(m.payload);
}

/** Elements per message when a step's chunk is large (2^18 = 1 MiB of float32): adding one segment overlaps receiving the next. */
export const SEGMENT = 1 << 18;

/**
 * Vectors of at least this many bytes (1 MiB) travel without a copy, and the
 * collective ends with a {@link fence}; smaller ones are copied by `send`.
 *
 * Why: ZeroMQ sends a buffer without copying it and may still be reading it
 * after the send resolves, so a caller that changes its vector right after a
 * collective returns would change what a peer receives. Copying every message
 * costs a memory copy of all the bytes sent (about 40% of a 64 MiB ring
 * all-reduce on 4 ranks here); the fence costs one empty message per rank.
 */
export const ZERO_COPY_BYTES = 1 << 20;

/**
 * The end of a zero-copy ring collective: each rank tells its left neighbour
 * that all of its messages have arrived and waits for its right neighbour to
 * say the same. Messages between two ranks arrive in order, so after the fence
 * every message this rank sent has been received, and its vector is free to change.
 */
async function fence(g: ProcessGroup, tag: string): Promise<void> {
  const n = g.worldSize;
  await Promise.all([g.sendView(new Float32Array(0), mod(g.rank - 1, n), `${tag}:fence`, 0), recvChecked(g, mod(g.rank + 1, n), `${tag}:fence`, 0, 0)]);
}

/**
 * One step of a ring or of halving-doubling: send `out` to `dst` while
 * receiving the same number of elements from `src` into `into`, added to it
 * (`add`) or copied over it. Large chunks travel as {@link SEGMENT}-sized
 * messages so the addition of one overlaps the transfer of the next.
 */
async function exchange(g: ProcessGroup, out: Float32Array, dst: number, into: Float32Array, src: number, tag: string, total: number, add: boolean, zeroCopy = false): Promise<void> {
  const sends: Promise<void>[] = [];
  for (let o = 0; o === 0 || o < out.length; o += SEGMENT) {
    const part = out.subarray(o, o + SEGMENT);
    sends.push(zeroCopy ? g.sendView(part, dst, tag, total) : g.send(part, dst, tag, total));
  }
  for (let o = 0; o === 0 || o < into.length; o += SEGMENT) {
    const part = into.subarray(o, o + SEGMENT);
    const y = await recvChecked(g, src, tag, total, part.length);
    if (add) for (let i = 0; i < part.length; i++) part[i] += y[i];
    else part.set(y);
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
    for (let r = 1; r < n; r++) {
      const y = await recvChecked(g, r, tag, S, S);
      for (let i = 0; i < S; i++) x[i] += y[i];
    }
    await Promise.all(Array.from({ length: n - 1 }, (_, k) => g.send(x, k + 1, tag, S)));
  } else {
    await g.send(x, 0, tag, S);
    x.set(await recvChecked(g, 0, tag, S, S));
  }
  return x;
}

/**
 * Ring reduce-scatter (first half of the ring all-reduce, Patarasuk & Yuan 2009):
 * cut x into n chunks; in each of n−1 steps every rank sends one chunk to its
 * right neighbour and adds the chunk arriving from its left. Afterwards rank r
 * holds the full sum of chunk r (PyTorch's `reduce_scatter` convention).
 * n−1 steps, (n−1)·S/n bytes sent per rank. In place; returns chunk r (a view).
 *
 * `zeroCopy` (internal): send chunks without copying them. Safe inside a ring
 * all-reduce, whose all-gather overwrites a chunk only after the chain of
 * messages shows the right neighbour has received it; a caller that keeps `x`
 * must end with a {@link fence}.
 */
export async function reduceScatterRing(g: ProcessGroup, x: Float32Array, tag = nextTag(g, 'reduce-scatter'), zeroCopy = false): Promise<Float32Array> {
  const n = g.worldSize, r = g.rank, S = x.length;
  const right = mod(r + 1, n), left = mod(r - 1, n);
  const chunk = (i: number) => x.subarray(chunkStart(S, n, i), chunkStart(S, n, i + 1));
  for (let s = 0; s < n - 1; s++) {
    await exchange(g, chunk(mod(r - s - 1, n)), right, chunk(mod(r - s - 2, n)), left, tag, S, true, zeroCopy);
  }
  return chunk(r);
}

/**
 * Ring all-gather on a vector whose chunk r (cut as in {@link chunkStart}) is
 * rank r's contribution: in each of n−1 steps every rank forwards to its right
 * the chunk it received last. n−1 steps, (n−1)·S/n bytes sent per rank. In place.
 * Vectors of {@link ZERO_COPY_BYTES} or more are sent without copies and end with a {@link fence}.
 */
export async function allGatherRingInPlace(g: ProcessGroup, x: Float32Array, tag = nextTag(g, 'all-gather')): Promise<Float32Array> {
  const n = g.worldSize, r = g.rank, S = x.length;
  const right = mod(r + 1, n), left = mod(r - 1, n);
  const chunk = (i: number) => x.subarray(chunkStart(S, n, i), chunkStart(S, n, i + 1));
  const zeroCopy = n > 1 && x.byteLength >= ZERO_COPY_BYTES;
  for (let s = 0; s < n - 1; s++) {
    await exchange(g, chunk(mod(r - s, n)), right, chunk(mod(r - s - 1, n)), left, tag, S, false, zeroCopy);
  }
  if (zeroCopy) await fence(g, tag);
  return x;
}

/**
 * Ring all-reduce = ring reduce-scatter + ring all-gather (Patarasuk & Yuan
 * 2009): 2(n−1) steps of S/n bytes, so each rank sends 2(n−1)/n·S bytes — the
 * lower bound for any all-reduce, independent of n for large n. This factor is
 * why nccl-tests report busbw = algbw·2(n−1)/n. In place (sum); returns `x`.
 */
export async function allReduceRing(g: ProcessGroup, x: Float32Array): Promise<Float32Array> {
  const tag = nextTag(g, 'allreduce-ring');
  await reduceScatterRing(g, x, tag, x.byteLength >= ZERO_COPY_BYTES);
  return allGatherRingInPlace(g, x, tag);
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
    x.set(await recvChecked(g, r - p, tag, S, S));
    return x;
  }
  if (r + p < n) {
    const y = await recvChecked(g, r + p, tag, S, S);
    for (let i = 0; i < S; i++) x[i] += y[i];
  }
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
    else if (rel >= d && rel < 2 * d) x.set(await recvChecked(g, mod(rel - d + root, n), tag, S, S));
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
  // The ring works on a private copy that nobody changes afterwards, so its chunks can go without copies.
  return (await reduceScatterRing(g, Float32Array.from(x), undefined, true)).slice();
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
  for (let s = 0; s < n - 1; s++) await Promise.all([g.send(empty, mod(r + 1, n), tag, 0), recvChecked(g, mod(r - 1, n), tag, 0, 0)]);
}
