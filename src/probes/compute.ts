/**
 * Compute throughput: matmul FLOP/s on the active backend over sizes.
 *
 * FLOPs of a matmul [m×k]·[k×n] are counted as 2·m·k·n (one multiply and one add
 * per term of each of the m·n dot products of length k; the k−1 vs k difference is
 * ignored, as every BLAS benchmark does); a batched matmul of `batch` such products
 * counts batch·2·m·k·n. GFLOP/s = FLOPs / time / 10^9.
 *
 * Small matmuls are limited by fixed costs (the op's launch, allocation, cache
 * misses) and reach the machine's FLOP/s only once the work grows; the size where
 * the curve flattens is reported by a stated rule: the first size, in increasing
 * order, whose best GFLOP/s is at least 90% of the maximum measured
 * ({@link SATURATION_FRACTION}).
 *
 * Reference: the LINPACK/BLAS convention (2n³ FLOPs for an n×n product), e.g.
 * `torch.utils.benchmark` examples and NVIDIA's datasheet FLOP/s.
 *
 * Introduced in notebooks/03-gpu.
 */
import { tf } from '../backend/tf';
import { timeIt } from './timing';

/** One matmul shape: `batch` products of [m×k]·[k×n]. */
export interface MatmulShape {
  /** A short label, e.g. '512' or 'gpt2-mlp-up'. */
  name: string;
  m: number;
  k: number;
  n: number;
  /** Independent products (tf.matMul on [batch, m, k]·[batch, k, n]); default 1. */
  batch?: number;
}

/** One measured matmul. */
export interface ComputeRow {
  name: string;
  m: number;
  k: number;
  n: number;
  batch: number;
  /** 2·batch·m·k·n. */
  flops: number;
  /** Fastest repetition, ms. */
  best: number;
  /** Median repetition, ms. */
  median: number;
  /** flops / best / 10^9. */
  gflops: number;
  /** flops / median / 10^9. */
  gflopsMedian: number;
  /** (slowest − fastest) / median. */
  spread: number;
  backend: string;
}

/** The fraction of the maximum that counts as saturated: 0.9. */
export const SATURATION_FRACTION = 0.9;

/** 2·batch·m·k·n: the FLOPs of `batch` products [m×k]·[k×n]. */
export function matmulFlops({ m, k, n, batch = 1 }: Omit<MatmulShape, 'name'>): number {
  return 2 * batch * m * k * n;
}

/** Square sizes 32, 64, … up to `maxN` (powers of 2). */
export function squareShapes(maxN: number): MatmulShape[] {
  const out: MatmulShape[] = [];
  for (let n = 32; n <= maxN; n *= 2) out.push({ name: String(n), m: n, k: n, n });
  return out;
}

/**
 * A few shapes from a GPT-2-small-like transformer (d = 768, 12 heads of 64, MLP
 * 3072) for `tokens` tokens (batch × sequence) and attention over `seq` positions:
 * the QKV projection, the MLP's up projection, a decoding step's [1×768]·[768×3072]
 * (matrix-vector: memory-bound), and the attention scores, batched over heads.
 */
export function llmShapes(tokens = 512, seq = 128): MatmulShape[] {
  return [
    { name: `qkv [${tokens}×768]·[768×2304]`, m: tokens, k: 768, n: 2304 },
    { name: `mlp-up [${tokens}×768]·[768×3072]`, m: tokens, k: 768, n: 3072 },
    { name: 'decode [1×768]·[768×3072]', m: 1, k: 768, n: 3072 },
    { name: `scores 12×[${seq}×64]·[64×${seq}]`, m: seq, k: 64, n: seq, batch: 12 },
  ];
}

/** Options of {@link measureMatmul}. */
export interface ComputeOptions {
  /** Shapes to measure; default {@link squareShapes}(maxN) then {@link llmShapes}(). */
  shapes?: MatmulShape[];
  /** Largest square size in the default list; default 1024. */
  maxN?: number;
  /** Untimed calls per shape; default 2. */
  warmup?: number;
  /** Timed repetitions per shape; default 5. */
  repeats?: number;
  /** Calls per repetition are raised until one repetition does at least this many FLOPs (at most 50 calls). Default 2·10^8. */
  flopsPerRepeat?: number;
}

/**
 * Measure matmul GFLOP/s on the active backend (float32, random inputs created
 * once per shape and freed after it).
 *
 * @example
 * const rows = await gl.probes.measureMatmul({ maxN: 512 });
 * gl.probes.saturation(rows.filter((r) => r.name === String(r.n)))  // { name: '256', ... }
 */
export async function measureMatmul(options: ComputeOptions = {}): Promise<ComputeRow[]> {
  const { maxN = 1024, warmup = 2, repeats = 5, flopsPerRepeat = 2e8 } = options;
  const shapes = options.shapes ?? [...squareShapes(maxN), ...llmShapes()];
  const backend = tf.getBackend();
  const rows: ComputeRow[] = [];
  for (const s of shapes) {
    const batch = s.batch ?? 1;
    for (const [k, v] of Object.entries({ m: s.m, k: s.k, n: s.n, batch })) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`measureMatmul: shape '${s.name}' has ${k} = ${v}; every dimension must be a positive integer`);
    }
    const shapeA = s.batch ? [batch, s.m, s.k] : [s.m, s.k];
    const shapeB = s.batch ? [batch, s.k, s.n] : [s.k, s.n];
    const a = tf.randomUniform(shapeA, -1, 1, 'float32', 1);
    const b = tf.randomUniform(shapeB, -1, 1, 'float32', 2);
    try {
      const flops = matmulFlops({ m: s.m, k: s.k, n: s.n, batch });
      const inner = Math.min(50, Math.max(1, Math.ceil(flopsPerRepeat / flops)));
      const t = await timeIt(() => tf.matMul(a, b), { warmup, repeats, inner });
      rows.push({
        name: s.name, m: s.m, k: s.k, n: s.n, batch, flops,
        best: t.best, median: t.median,
        gflops: flops / (t.best / 1e3) / 1e9,
        gflopsMedian: flops / (t.median / 1e3) / 1e9,
        spread: t.spread, backend,
      });
    } finally {
      tf.dispose([a, b]);
    }
  }
  return rows;
}

/**
 * The size where matmul throughput saturates: the first row (in the order given,
 * meant to be increasing size) whose `gflops` is ≥ `fraction` × the maximum over
 * the rows. Returns that row, the maximum, and the threshold.
 */
export function saturation(rows: ComputeRow[], fraction = SATURATION_FRACTION): { row: ComputeRow; maxGflops: number; threshold: number } {
  if (rows.length === 0) throw new Error('saturation: no rows given; pass the square-size rows of measureMatmul');
  const maxGflops = Math.max(...rows.map((r) => r.gflops));
  const threshold = fraction * maxGflops;
  return { row: rows.find((r) => r.gflops >= threshold)!, maxGflops, threshold };
}
