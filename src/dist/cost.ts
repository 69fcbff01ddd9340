/**
 * The α–β (latency–bandwidth) cost model of collectives (Hockney 1994): sending a
 * message of S bytes costs `α + S·β`, α the per-message latency in seconds and β
 * the inverse bandwidth in seconds per byte. The collectives' costs follow Thakur,
 * Rabenseifner and Gropp 2005, "Optimization of Collective Communication
 * Operations in MPICH"; the reduction's own compute (their γ) is neglected.
 * Bandwidth figures use nccl-tests' definitions (NVIDIA nccl-tests, doc/PERFORMANCE.md).
 * Pure functions; all sizes in bytes, all times in seconds.
 *
 * Introduced in notebooks/04-distributed.
 *
 * @module
 */

/** A collective (or a single point-to-point message). */
export type Collective = 'all-reduce' | 'reduce-scatter' | 'all-gather' | 'broadcast' | 'p2p';

/** The collectives this module models. */
export const COLLECTIVES: readonly Collective[] = ['all-reduce', 'reduce-scatter', 'all-gather', 'broadcast', 'p2p'];

/**
 * An algorithm of a collective:
 * - `'ring'` (all-reduce = ring reduce-scatter + ring all-gather; reduce-scatter,
 *   all-gather: n−1 steps around a ring; broadcast: not defined, use `'tree'`);
 * - `'naive'` (through rank 0: every rank sends its whole buffer to rank 0, which
 *   reduces and sends the result back to each; broadcast: the root sends to each rank in turn);
 * - `'halving-doubling'` (Rabenseifner's all-reduce: recursive-halving
 *   reduce-scatter + recursive-doubling all-gather, n a power of two; also for
 *   reduce-scatter and all-gather alone);
 * - `'tree'` (binomial-tree broadcast).
 */
export type Algorithm = 'ring' | 'naive' | 'halving-doubling' | 'tree';

/** The two parameters of the model. */
export interface AlphaBeta {
  /** Latency α: seconds per message. */
  alpha: number;
  /** Inverse bandwidth β: seconds per byte (1/β is the link's bandwidth in bytes/s). */
  beta: number;
}

/** A measured (or predicted) collective: nccl-tests' size convention for `bytes`. */
export interface CollectiveRow {
  /** Which collective. */
  collective: Collective;
  /** Ranks n. */
  n: number;
  /** Size S: the all-reduce / broadcast buffer, the all-gather output, the reduce-scatter input, the p2p message. */
  bytes: number;
  /** Time t in seconds. */
  seconds: number;
  /** The algorithm the time is modelled with (default: {@link defaultAlgorithm}). */
  algorithm?: Algorithm;
}

function check(who: string, name: string, v: unknown, { integer = false, min = 0, open = false } = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || (open ? v <= min : v < min)) {
    throw new Error(`${who}: ${name} must be a finite ${integer ? 'integer' : 'number'} ${open ? '>' : '≥'} ${min}, got ${String(v)}`);
  }
  return v;
}

/** The algorithm used when none is given: ring, except broadcast (binomial tree) and p2p (none needed). */
export function defaultAlgorithm(collective: Collective): Algorithm {
  return collective === 'broadcast' ? 'tree' : 'ring';
}

/**
 * The α–β cost of a collective as a pair of coefficients `{ a, b }`, so that
 * `t = a·α + b·β` (the form {@link fitAlphaBeta} fits). With S bytes and n ranks:
 *
 * | collective | algorithm | a (messages) | b (bytes on the critical path) |
 * |---|---|---|---|
 * | all-reduce | ring | 2(n−1) | 2(n−1)/n·S |
 * | all-reduce | naive (through rank 0) | 2(n−1) | 2(n−1)·S |
 * | all-reduce | halving-doubling | 2·log2 n | 2(n−1)/n·S |
 * | reduce-scatter, all-gather | ring | n−1 | (n−1)/n·S |
 * | reduce-scatter, all-gather | halving-doubling | log2 n | (n−1)/n·S |
 * | reduce-scatter, all-gather | naive (through rank 0) | 2(n−1) | (n−1)(n+1)/n·S |
 * | broadcast | tree (binomial) | ⌈log2 n⌉ | ⌈log2 n⌉·S |
 * | broadcast | naive (root sends to each) | n−1 | (n−1)·S |
 * | p2p | — | 1 | S |
 *
 * The naive algorithms serialise at rank 0's link: all-reduce n−1 messages of S in and
 * n−1 out; reduce-scatter n−1 whole inputs S in, n−1 blocks S/n out; all-gather n−1
 * blocks S/n in, n−1 whole outputs S out.
 * With n = 1 every collective costs nothing (a = b = 0).
 *
 * @throws if n is not a positive integer, S negative, halving-doubling with n not
 * a power of two, or an algorithm the collective does not have (ring broadcast).
 *
 * Reference: Thakur, Rabenseifner & Gropp 2005, §4 (Tables 1–2); Hockney 1994.
 * Introduced in notebooks/04-distributed.
 */
export function costCoefficients(collective: Collective, bytes: number, n: number, algorithm: Algorithm = defaultAlgorithm(collective)): { a: number; b: number } {
  const who = 'costCoefficients';
  const S = check(who, 'bytes', bytes);
  check(who, 'n', n, { integer: true, min: 1 });
  if (collective === 'p2p') return { a: 1, b: S };
  if (!COLLECTIVES.includes(collective)) throw new Error(`${who}: unknown collective '${String(collective)}'; choose one of ${COLLECTIVES.join(', ')}`);
  const log2n = Math.log2(n);
  if (algorithm === 'halving-doubling' && !Number.isInteger(log2n)) {
    throw new Error(`${who}: halving-doubling needs n a power of two, got n = ${n}; use 'ring' (or pad to ${2 ** Math.ceil(log2n)} ranks)`);
  }
  if (n === 1) return { a: 0, b: 0 };
  const frac = (n - 1) / n;
  const bad = () => new Error(`${who}: ${collective} has no '${String(algorithm)}' algorithm here; choose one of ${collective === 'broadcast' ? "'tree', 'naive'" : "'ring', 'naive', 'halving-doubling'"}`);
  switch (collective) {
    case 'all-reduce':
      if (algorithm === 'ring') return { a: 2 * (n - 1), b: 2 * frac * S };
      if (algorithm === 'naive') return { a: 2 * (n - 1), b: 2 * (n - 1) * S };
      if (algorithm === 'halving-doubling') return { a: 2 * log2n, b: 2 * frac * S };
      throw bad();
    case 'reduce-scatter':
    case 'all-gather':
      if (algorithm === 'ring') return { a: n - 1, b: frac * S };
      if (algorithm === 'halving-doubling') return { a: log2n, b: frac * S };
      if (algorithm === 'naive') return { a: 2 * (n - 1), b: ((n - 1) * (n + 1) * S) / n };
      throw bad();
    case 'broadcast':
      if (algorithm === 'tree') return { a: Math.ceil(log2n), b: Math.ceil(log2n) * S };
      if (algorithm === 'naive') return { a: n - 1, b: (n - 1) * S };
      throw bad();
  }
}

/**
 * Predicted time of a collective in seconds: `a·α + b·β` with the coefficients of
 * {@link costCoefficients}, e.g. ring all-reduce `2(n−1)·α + 2(n−1)/n·S·β`,
 * point-to-point `α + S·β`.
 *
 * @example
 * predictTime('all-reduce', 64 * 2 ** 20, 4, { alpha: 50e-6, beta: 1 / 1e9 }); // 6·50 µs + 1.5·67.1 MB / 1 GB/s ≈ 0.101 s
 *
 * Reference: Hockney 1994, "The communication challenge for MPP: Intel Paragon and Meiko CS-2";
 * Thakur, Rabenseifner & Gropp 2005. Introduced in notebooks/04-distributed.
 */
export function predictTime(collective: Collective, bytes: number, n: number, { alpha, beta }: AlphaBeta, algorithm?: Algorithm): number {
  check('predictTime', 'alpha', alpha);
  check('predictTime', 'beta', beta);
  const { a, b } = costCoefficients(collective, bytes, n, algorithm);
  return a * alpha + b * beta;
}

/**
 * nccl-tests' algorithm bandwidth: `algbw = S / t` in bytes per second.
 *
 * Reference: NVIDIA nccl-tests, doc/PERFORMANCE.md. Introduced in notebooks/04-distributed.
 */
export function algbw(bytes: number, seconds: number): number {
  check('algbw', 'bytes', bytes);
  check('algbw', 'seconds', seconds, { open: true });
  return bytes / seconds;
}

/**
 * The factor nccl-tests multiplies algbw by to get the bus bandwidth, so that a
 * collective's busbw is comparable with the hardware's link speed whatever n:
 * all-reduce `2(n−1)/n`, reduce-scatter and all-gather `(n−1)/n`, broadcast and p2p `1`.
 *
 * Reference: NVIDIA nccl-tests, doc/PERFORMANCE.md. Introduced in notebooks/04-distributed.
 */
export function busbwFactor(collective: Collective, n: number): number {
  check('busbwFactor', 'n', n, { integer: true, min: 1 });
  switch (collective) {
    case 'all-reduce':
      return (2 * (n - 1)) / n;
    case 'reduce-scatter':
    case 'all-gather':
      return (n - 1) / n;
    case 'broadcast':
    case 'p2p':
      return 1;
    default:
      throw new Error(`busbwFactor: unknown collective '${String(collective)}'; choose one of ${COLLECTIVES.join(', ')}`);
  }
}

/**
 * nccl-tests' bus bandwidth in bytes per second: `algbw(S, t) · busbwFactor(collective, n)`,
 * e.g. all-reduce `S/t · 2(n−1)/n`. For a ring, busbw is the bandwidth each link
 * sustained: the ring model's `1/β` when α is negligible.
 *
 * Reference: NVIDIA nccl-tests, doc/PERFORMANCE.md. Introduced in notebooks/04-distributed.
 */
export function busbw(collective: Collective, bytes: number, seconds: number, n: number): number {
  return algbw(bytes, seconds) * busbwFactor(collective, n);
}

/** The result of {@link fitAlphaBeta}. */
export interface AlphaBetaFit extends AlphaBeta {
  /** Bandwidth 1/β in bytes per second. */
  bandwidth: number;
  /** Root-mean-square of the relative residuals (t_model − t)/t over the rows. */
  rmsRelativeError: number;
  /** The rows fitted. */
  rows: number;
}

/**
 * Least-squares fit of α and β to measured collectives: each row gives one
 * equation `t = a·α + b·β` with `{a, b}` = {@link costCoefficients} of its
 * collective, size, n and algorithm. Rows are weighted by `1/t` (the relative
 * error is minimised), so the microsecond small-message times that fix α count
 * as much as the large ones that fix β. Solves the 2×2 normal equations.
 * Rows of n = 1 carry no information and are rejected. Recovers α and β exactly
 * from times the model itself produced.
 *
 * @throws with no rows, a bad row (its index named), or rows that cannot separate
 * α from β (e.g. a single size): measure at least two sizes.
 *
 * Reference: Hockney 1994 (the model); Thakur, Rabenseifner & Gropp 2005.
 * Introduced in notebooks/04-distributed.
 */
export function fitAlphaBeta(rows: readonly CollectiveRow[]): AlphaBetaFit {
  const who = 'fitAlphaBeta';
  if (!Array.isArray(rows) || rows.length < 2) throw new Error(`${who}: need at least two rows {collective, n, bytes, seconds} at different sizes, got ${Array.isArray(rows) ? rows.length : String(rows)}`);
  let saa = 0, sab = 0, sbb = 0, sat = 0, sbt = 0;
  const eqs = rows.map((r, i) => {
    if (r === null || typeof r !== 'object') throw new Error(`${who}: row ${i} is not an object`);
    check(`${who} row ${i}`, 'seconds', r.seconds, { open: true });
    if (r.n === 1) throw new Error(`${who}: row ${i} has n = 1 (no communication); drop it`);
    const { a, b } = costCoefficients(r.collective, r.bytes, r.n, r.algorithm ?? defaultAlgorithm(r.collective));
    const w = 1 / r.seconds; // relative error
    const [aw, bw, tw] = [a * w, b * w, 1];
    saa += aw * aw; sab += aw * bw; sbb += bw * bw; sat += aw * tw; sbt += bw * tw;
    return { a, b, t: r.seconds };
  });
  // Cauchy–Schwarz: det ≥ 0, and 0 exactly when the a- and b-columns are proportional.
  const det = saa * sbb - sab * sab;
  if (!(Math.abs(det) > 1e-12 * saa * sbb)) {
    throw new Error(`${who}: the rows cannot separate α from β (all at one size, or proportional); measure at least two different sizes`);
  }
  const alpha = (sbb * sat - sab * sbt) / det;
  const beta = (saa * sbt - sab * sat) / det;
  let sq = 0;
  for (const e of eqs) sq += ((e.a * alpha + e.b * beta - e.t) / e.t) ** 2;
  return { alpha, beta, bandwidth: 1 / beta, rmsRelativeError: Math.sqrt(sq / eqs.length), rows: eqs.length };
}

/** One row of {@link predictRows}: a plain row for a plot. */
export interface PredictedRow {
  /** The collective. */
  collective: Collective;
  /** The algorithm modelled. */
  algorithm: Algorithm;
  /** Ranks. */
  n: number;
  /** Size S in bytes (nccl-tests' convention). */
  bytes: number;
  /** Predicted time in seconds. */
  seconds: number;
  /** S / t in bytes/s. */
  algbw: number;
  /** nccl-tests bus bandwidth in bytes/s. */
  busbw: number;
}

/**
 * Predicted time, algbw and busbw of a collective for each size and rank count:
 * plain rows for a plot beside measured ones.
 *
 * Introduced in notebooks/04-distributed.
 */
export function predictRows(collective: Collective, sizes: readonly number[], ns: readonly number[], model: AlphaBeta, algorithm: Algorithm = defaultAlgorithm(collective)): PredictedRow[] {
  const out: PredictedRow[] = [];
  for (const n of ns) {
    for (const bytes of sizes) {
      const seconds = predictTime(collective, bytes, n, model, algorithm);
      const ab = seconds > 0 ? bytes / seconds : Infinity;
      out.push({ collective, algorithm, n, bytes, seconds, algbw: ab, busbw: ab * busbwFactor(collective, n) });
    }
  }
  return out;
}
