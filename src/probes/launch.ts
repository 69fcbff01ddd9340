/**
 * Launch overhead: how long one elementwise op takes as its tensor grows from one
 * element to millions, and the straight line through those times,
 *
 *     t(n) = t0 + n · bytesPerElement / BW,
 *
 * whose intercept t0 is the fixed cost every op pays whatever its size (on a GPU
 * the kernel launch and the framework's dispatch; on wasm / cpu the JS and tfjs
 * bookkeeping around the loop) and whose slope is the streaming cost at bandwidth
 * BW. The crossover n* = t0 · BW / bytesPerElement is the size where the two costs
 * are equal: below it an op is mostly overhead, which is why small ops are fused.
 *
 * References: NVIDIA, "CUDA C++ Best Practices Guide", section on kernel launch
 * overhead and concurrent kernel execution (launches cost microseconds each, so
 * many small kernels are latency-bound); Dao et al., "FlashAttention: Fast and
 * Memory-Efficient Exact Attention with IO-Awareness" (NeurIPS 2022), on counting
 * the bytes an op moves rather than its FLOPs.
 *
 * Introduced in notebooks/03-gpu.
 */
import { tf } from '../backend/tf';
import { timeIt, type Timing } from './timing';

/**
 * Make tensors resident on the GPU when the active backend is webgpu (a no-op
 * elsewhere), and return them. tfjs-backend-webgpu runs an op on the CPU instead
 * when every input still lives in CPU memory and has fewer than 1000 elements
 * (its flags `WEBGPU_CPU_FORWARD`, `WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD`): its own
 * way of dodging the launch cost of tiny ops. A tensor made by `tf.tensor` stays
 * in CPU memory until a GPU kernel reads it, so a probe of GPU launch cost must
 * upload its inputs first, or the small sizes time the CPU.
 */
export function onDevice<T extends tf.Tensor | tf.Tensor[]>(t: T): T {
  if (tf.getBackend() !== 'webgpu') return t;
  const be = tf.backend() as unknown as { uploadToGPU(dataId: object): void };
  for (const x of Array.isArray(t) ? t : [t]) be.uploadToGPU(x.dataId);
  return t;
}

/** The ops {@link launchOverhead} can time, and the bytes each moves per element (float32). */
export const LAUNCH_OPS = {
  /** `a + b` on two full tensors: reads 2 arrays, writes 1: 12 bytes per element. */
  add: 12,
  /** `2 · a` (a scalar multiply): reads 1 array, writes 1: 8 bytes per element. */
  scale: 8,
} as const;

/** An op name of {@link LAUNCH_OPS}. */
export type LaunchOp = keyof typeof LAUNCH_OPS;

/** One measured size: a plain row for plotting. */
export interface LaunchRow {
  /** Elements in the tensor. */
  n: number;
  /** Bytes the op moves: n · bytesPerElement. */
  bytes: number;
  /** Fastest repetition, ms per op. */
  bestMs: number;
  /** Median repetition, ms per op. */
  medianMs: number;
  /** Spread of the repetitions, (slowest − fastest) / median. */
  spread: number;
  /** Effective bandwidth of the best time, GB/s (10⁹ bytes per second). */
  gbs: number;
}

/** The least-squares line t(n) = t0 + n · bytesPerElement / BW through measured times. */
export interface LaunchFit {
  /** Fixed cost per op, ms (the intercept). */
  t0Ms: number;
  /** Streaming bandwidth, GB/s (10⁹ bytes/s), from the slope. */
  gbs: number;
  /** Slope, ms per element. */
  msPerElement: number;
  /** Size where the fixed cost equals the streaming cost: t0 / slope elements. */
  crossoverN: number;
  /** Bytes moved at the crossover. */
  crossoverBytes: number;
  /** How the residuals were weighted (see {@link fitLaunch}). */
  weighting: 'relative' | 'absolute';
}

/**
 * Fit t(n) = t0 + s · n by weighted least squares and read off t0, the bandwidth
 * BW = bytesPerElement / s and the crossover n* = t0 / s.
 *
 * `weighting: 'relative'` (the default) minimises Σ ((tᵢ − t0 − s·nᵢ) / tᵢ)², so
 * every size counts by its relative error; sizes span seven decades, and plain
 * least squares (`'absolute'`, Σ (tᵢ − t0 − s·nᵢ)²) lets the largest sizes decide
 * the intercept, whose error then swamps the microsecond-scale t0. Both recover a
 * line exactly when the data lie on one. A non-positive t0 or slope (noise, or
 * too few sizes) is returned as it is; the crossover is then NaN.
 *
 * @example
 * fitLaunch([{ n: 0, ms: 0.01 }, { n: 1e6, ms: 0.01 + 1e6 * 12 / 1e9 / 10 * 1e3 }], 12); // t0Ms 0.01, gbs 10
 */
export function fitLaunch(
  points: ReadonlyArray<{ n: number; ms: number }>,
  bytesPerElement: number,
  weighting: 'relative' | 'absolute' = 'relative',
): LaunchFit {
  if (!(bytesPerElement > 0)) throw new Error(`fitLaunch: bytesPerElement must be > 0, got ${bytesPerElement}`);
  const distinct = new Set(points.map((p) => p.n));
  if (distinct.size < 2) throw new Error(`fitLaunch: need times at 2 or more distinct sizes to fit a line, got ${distinct.size}`);
  for (const p of points) {
    if (!(Number.isFinite(p.n) && p.n >= 0 && Number.isFinite(p.ms) && p.ms > 0)) {
      throw new Error(`fitLaunch: each point needs n ≥ 0 and ms > 0 (finite), got n = ${p.n}, ms = ${p.ms}`);
    }
  }
  // Normal equations of weighted least squares with weights w = 1 / t² or 1.
  let sw = 0, swn = 0, swt = 0, swnn = 0, swnt = 0;
  for (const { n, ms } of points) {
    const w = weighting === 'relative' ? 1 / (ms * ms) : 1;
    sw += w;
    swn += w * n;
    swt += w * ms;
    swnn += w * n * n;
    swnt += w * n * ms;
  }
  const det = sw * swnn - swn * swn;
  const slope = (sw * swnt - swn * swt) / det;
  const t0 = (swt - slope * swn) / sw;
  const crossoverN = t0 > 0 && slope > 0 ? t0 / slope : NaN;
  return {
    t0Ms: t0,
    msPerElement: slope,
    gbs: slope > 0 ? bytesPerElement / (slope * 1e-3) / 1e9 : NaN,
    crossoverN,
    crossoverBytes: crossoverN * bytesPerElement,
    weighting,
  };
}

/** Options of {@link launchOverhead}. */
export interface LaunchOptions {
  /** Which op to time. Default `'add'`. */
  op?: LaunchOp;
  /** Tensor sizes in elements. Default powers of 4 from 1 to 4¹² = 16,777,216. */
  sizes?: number[];
  /** Timed repetitions per size. Default 10. */
  repeats?: number;
  /** Untimed calls first. Default 2. */
  warmup?: number;
  /**
   * Ops queued back to back per repetition before the one device sync, for sizes up
   * to `innerUpTo` elements (larger sizes use 1): amortises the read-back that
   * syncs a GPU, as a CUDA timing loop would. Default 20.
   */
  inner?: number;
  /** Largest size that gets `inner` ops per repetition. Default 65,536. */
  innerUpTo?: number;
  /** Residual weighting of the fit. Default `'relative'`. */
  weighting?: 'relative' | 'absolute';
}

/** What {@link launchOverhead} returns. */
export interface LaunchResult {
  /** The backend the ops ran on. */
  backend: string;
  /** The op timed. */
  op: LaunchOp;
  /** Bytes the op moves per element. */
  bytesPerElement: number;
  /** One row per size. */
  rows: LaunchRow[];
  /** The line through the best times. */
  fit: LaunchFit;
}

/**
 * Time one elementwise op (`add` or `scale`) on the active backend over tensor
 * sizes, and fit {@link fitLaunch} through the best times. Every repetition ends
 * with a device sync (see `timeIt`), whose own latency divided by `inner` stays in
 * the small sizes' times (so t0 is an upper bound); the inputs are created once per
 * size, uploaded to the GPU on webgpu ({@link onDevice}), and disposed.
 *
 * @example
 * const r = await gl.probes.launchOverhead({ sizes: [1, 1024, 1 << 20] });
 * r.fit.t0Ms;        // fixed cost per op, ms
 * r.fit.crossoverN;  // elements where fixed and streaming cost are equal
 */
export async function launchOverhead(opts: LaunchOptions = {}): Promise<LaunchResult> {
  const { op = 'add', repeats = 10, warmup = 2, inner = 20, innerUpTo = 65_536, weighting = 'relative' } = opts;
  const sizes = opts.sizes ?? Array.from({ length: 13 }, (_, i) => 4 ** i);
  if (!(op in LAUNCH_OPS)) throw new Error(`launchOverhead: op must be one of ${Object.keys(LAUNCH_OPS).join(', ')}, got '${op}'`);
  if (sizes.length === 0) throw new Error('launchOverhead: sizes is empty; give at least 2 sizes');
  for (const n of sizes) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`launchOverhead: every size must be an integer ≥ 1 element, got ${n}`);
  }
  const bytesPerElement = LAUNCH_OPS[op];
  const rows: LaunchRow[] = [];
  for (const n of sizes) {
    const [a, b, two] = onDevice([tf.fill([n], 1.5), tf.fill([n], 0.25), tf.scalar(2)]);
    let t: Timing;
    try {
      const fn = op === 'add' ? () => tf.add(a!, b!) : () => tf.mul(a!, two!);
      t = await timeIt(fn, { warmup, repeats, inner: n <= innerUpTo ? inner : 1 });
    } finally {
      tf.dispose([a, b, two]);
    }
    const bytes = n * bytesPerElement;
    rows.push({ n, bytes, bestMs: t.best, medianMs: t.median, spread: t.spread, gbs: bytes / (t.best * 1e-3) / 1e9 });
  }
  const fit = fitLaunch(rows.map((r) => ({ n: r.n, ms: r.bestMs })), bytesPerElement, weighting);
  return { backend: tf.getBackend(), op, bytesPerElement, rows, fit };
}
