/**
 * The roofline: attainable FLOP/s = min(peak FLOP/s, arithmetic intensity × peak
 * bandwidth), where the arithmetic intensity (AI) of an op is its FLOPs divided by
 * the bytes it must move to and from memory. An op whose AI is below the ridge point
 * (peak FLOP/s / peak bandwidth, in FLOPs per byte) cannot reach the peak FLOP/s
 * however good its kernel: it is memory-bound; above it, compute-bound.
 *
 * Both ceilings here are measured on this machine: the bandwidth by the STREAM
 * copy / triad probe ({@link measureBandwidth}; the best GB/s of the two at the
 * largest size measured, i.e. out of cache when that size is large enough), the
 * FLOP/s by the matmul probe ({@link measureMatmul}; the best GFLOP/s). The points are
 * tfjs ops timed with {@link timeIt}, each with FLOPs and bytes counted by the rule
 * stated in {@link ROOFLINE_RULES} — the minimum traffic (every input read once, the
 * output written once, float32), not what tfjs's unfused kernels really move. An
 * op that runs as several kernels (GELU, layer norm) therefore reaches a lower
 * fraction of its roof: that gap is what fusion recovers.
 *
 * Reference: S. Williams, A. Waterman, D. Patterson, "Roofline: An Insightful Visual
 * Performance Model for Multicore Architectures", Communications of the ACM 52(4), 2009.
 *
 * Introduced in notebooks/03-gpu.
 */
import { tf } from '../backend/tf';
import { measureBandwidth, type BandwidthRow } from './bandwidth';
import { matmulFlops, measureMatmul, squareShapes, type ComputeRow } from './compute';
import { timeIt } from './timing';

/** A GPU's datasheet ceilings, for scale. */
export interface DatasheetCeiling {
  name: string;
  /** HBM bandwidth, GB/s (10^9 B/s). */
  bandwidthGBps: number;
  /** Dense FP16 / BF16 tensor-core peak, GFLOP/s (without sparsity). */
  fp16Gflops: number;
  /** FP32 (non-tensor-core) peak, GFLOP/s. */
  fp32Gflops: number;
  /** The document the figures come from. */
  source: string;
}

/**
 * Datasheet ceilings of three data-centre GPUs (dense, i.e. without the 2:4
 * structured-sparsity doubling the datasheets also print):
 * - A100 80GB SXM: 2,039 GB/s HBM2e, 312 TFLOP/s FP16/BF16 tensor core, 19.5 TFLOP/s FP32
 *   — "NVIDIA A100 Tensor Core GPU" datasheet;
 * - H100 SXM: 3.35 TB/s HBM3, 989 TFLOP/s FP16/BF16 tensor core, 67 TFLOP/s FP32
 *   — "NVIDIA H100 Tensor Core GPU" datasheet;
 * - H200 SXM: 4.8 TB/s HBM3e, 989 TFLOP/s FP16/BF16, 67 TFLOP/s FP32
 *   — "NVIDIA H200 Tensor Core GPU" datasheet.
 */
export const DATASHEET_CEILINGS: readonly DatasheetCeiling[] = [
  { name: 'A100 80GB SXM', bandwidthGBps: 2039, fp16Gflops: 312e3, fp32Gflops: 19.5e3, source: 'NVIDIA A100 Tensor Core GPU datasheet' },
  { name: 'H100 SXM', bandwidthGBps: 3350, fp16Gflops: 989e3, fp32Gflops: 67e3, source: 'NVIDIA H100 Tensor Core GPU datasheet' },
  { name: 'H200 SXM', bandwidthGBps: 4800, fp16Gflops: 989e3, fp32Gflops: 67e3, source: 'NVIDIA H200 Tensor Core GPU datasheet' },
];

/** Measured ceilings of this machine. */
export interface Ceilings {
  /** GB/s: the best of copy and triad at the largest size measured. */
  bandwidthGBps: number;
  /** GFLOP/s: the best matmul measured. */
  peakGflops: number;
  /** FLOPs per byte: peakGflops / bandwidthGBps. */
  ridge: number;
  backend: string;
}

/** Ceilings from bandwidth and matmul rows (see {@link Ceilings} for the rule). */
export function ceilingsFrom(bandwidth: BandwidthRow[], compute: ComputeRow[]): Ceilings {
  const bw = bandwidth.filter((r) => r.kernel === 'copy' || r.kernel === 'triad');
  if (bw.length === 0) throw new Error('ceilingsFrom: no copy or triad rows; measure with kernels including copy or triad');
  if (compute.length === 0) throw new Error('ceilingsFrom: no matmul rows given');
  const largest = Math.max(...bw.map((r) => r.bytes));
  const bandwidthGBps = Math.max(...bw.filter((r) => r.bytes === largest).map((r) => r.gbps));
  const peakGflops = Math.max(...compute.map((r) => r.gflops));
  return { bandwidthGBps, peakGflops, ridge: peakGflops / bandwidthGBps, backend: bw[0]!.backend };
}

/** Memory- or compute-bound: below the ridge point the roof is the bandwidth. */
export function classify(intensity: number, ridge: number): 'memory' | 'compute' {
  return intensity < ridge ? 'memory' : 'compute';
}

/** Attainable GFLOP/s at an intensity: min(peak, AI × bandwidth). */
export function attainable(intensity: number, c: Pick<Ceilings, 'bandwidthGBps' | 'peakGflops'>): number {
  return Math.min(c.peakGflops, intensity * c.bandwidthGBps);
}

/** One op of the roofline: how to count it and how to run it. */
export interface RooflineOp {
  name: string;
  /** The counting rule in words. */
  rule: string;
  flops: number;
  bytes: number;
  /** Inputs, created once (freed by the probe). */
  make: () => tf.Tensor[];
  /** The op on those inputs. */
  run: (xs: tf.Tensor[]) => tf.Tensor;
}

/** One measured point. */
export interface RooflinePoint {
  name: string;
  rule: string;
  flops: number;
  bytes: number;
  /** flops / bytes. */
  intensity: number;
  best: number;
  median: number;
  /** flops / best / 10^9. */
  gflops: number;
  /** bytes / best / 10^9: the bandwidth the op reached by the counted bytes. */
  gbps: number;
  spread: number;
  /** 'memory' when intensity < ridge, else 'compute'. */
  bound: 'memory' | 'compute';
  /** min(peak, intensity × bandwidth), GFLOP/s. */
  roof: number;
  /** gflops / roof. */
  fractionOfRoof: number;
}

/**
 * The counting rules, per element of the main [rows × cols] input unless stated
 * (float32, so every element read or written is 4 bytes):
 * - add, mul: 1 FLOP; reads 2, writes 1 → 12 B.
 * - gelu (tanh form ½x(1 + tanh(√(2/π)(x + 0.044715x³)))): 9 FLOPs, counting tanh as 1
 *   (x², ·x, ·0.044715, +x, ·√(2/π), tanh, +1, ·x, ·½); reads 1, writes 1 → 8 B.
 * - sum over rows (a [rows × cols] → [rows] reduction): 1 FLOP per element; reads the input once, writes rows outputs.
 * - softmax over the last axis: 5 FLOPs (max, subtract, exp, sum, divide); reads 1, writes 1 → 8 B.
 * - layer norm over the last axis with γ and β: 7 FLOPs (mean 1, centre 1, square and sum 2, ×1/σ 1, ×γ 1, +β 1);
 *   reads 1, writes 1 → 8 B, plus γ and β (2·cols·4 B).
 * - matmul [m×k]·[k×n] (× batch): 2mkn FLOPs; reads both inputs once, writes the output once:
 *   4(mk + kn + mn) B (× batch).
 */
export const ROOFLINE_RULES = {
  add: { flopsPerElement: 1, bytesPerElement: 12 },
  mul: { flopsPerElement: 1, bytesPerElement: 12 },
  gelu: { flopsPerElement: 9, bytesPerElement: 8 },
  sum: { flopsPerElement: 1, bytesPerElement: 4 },
  softmax: { flopsPerElement: 5, bytesPerElement: 8 },
  layerNorm: { flopsPerElement: 7, bytesPerElement: 8 },
} as const;

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** GELU, tanh form, as plain tfjs ops (several kernels: the unfused chain). */
function geluTanh(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const u = tf.mul(SQRT_2_OVER_PI, tf.add(x, tf.mul(0.044715, tf.mul(x, tf.square(x)))));
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(u)));
  });
}

/** Layer norm over the last axis (eps 1e-5) as plain tfjs ops. */
function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b);
  });
}

/** Options of {@link rooflineOps}. */
export interface RooflineOpsOptions {
  /** Rows of the [rows × cols] input of the elementwise and row-wise ops; default 2048. */
  rows?: number;
  /** Columns; default 2048 (rows × cols × 4 B = 16 MiB per array). */
  cols?: number;
  /** Side of the square matmul; default 512. */
  n?: number;
}

/**
 * The default ops: elementwise add, mul and GELU, a row sum, softmax, layer norm,
 * and matmuls — square n³, skinny [b×k]·[k×n] with b = 1 and 8 (matrix-vector-like,
 * memory-bound), and batched [8 × (n/4)³] — with their FLOPs and bytes by {@link ROOFLINE_RULES}.
 */
export function rooflineOps({ rows = 2048, cols = 2048, n = 512 }: RooflineOpsOptions = {}): RooflineOp[] {
  const e = rows * cols;
  const R = ROOFLINE_RULES;
  const mat = (shape: number[], seed: number) => tf.randomUniform(shape, -1, 1, 'float32', seed);
  const mm = (name: string, m: number, k: number, nn: number, batch = 1): RooflineOp => ({
    name,
    rule: '2mkn FLOPs; 4(mk + kn + mn) B' + (batch > 1 ? ', × batch' : ''),
    flops: matmulFlops({ m, k, n: nn, batch }),
    bytes: 4 * batch * (m * k + k * nn + m * nn),
    make: () => (batch > 1 ? [mat([batch, m, k], 1), mat([batch, k, nn], 2)] : [mat([m, k], 1), mat([k, nn], 2)]),
    run: ([a, b]) => tf.matMul(a!, b!),
  });
  const q = Math.max(1, n >> 2);
  return [
    { name: 'add', rule: '1 FLOP, 12 B per element', flops: R.add.flopsPerElement * e, bytes: R.add.bytesPerElement * e, make: () => [mat([rows, cols], 1), mat([rows, cols], 2)], run: ([a, b]) => tf.add(a!, b!) },
    { name: 'mul', rule: '1 FLOP, 12 B per element', flops: R.mul.flopsPerElement * e, bytes: R.mul.bytesPerElement * e, make: () => [mat([rows, cols], 1), mat([rows, cols], 2)], run: ([a, b]) => tf.mul(a!, b!) },
    { name: 'gelu (tanh)', rule: '9 FLOPs, 8 B per element', flops: R.gelu.flopsPerElement * e, bytes: R.gelu.bytesPerElement * e, make: () => [mat([rows, cols], 1)], run: ([x]) => geluTanh(x!) },
    { name: 'sum over rows', rule: '1 FLOP, 4 B per element, + 4 B per row', flops: R.sum.flopsPerElement * e, bytes: R.sum.bytesPerElement * e + 4 * rows, make: () => [mat([rows, cols], 1)], run: ([x]) => tf.sum(x!, -1) },
    { name: 'softmax', rule: '5 FLOPs, 8 B per element', flops: R.softmax.flopsPerElement * e, bytes: R.softmax.bytesPerElement * e, make: () => [mat([rows, cols], 1)], run: ([x]) => tf.softmax(x!, -1) },
    {
      name: 'layer norm', rule: '7 FLOPs, 8 B per element, + 8 B per column (γ, β)', flops: R.layerNorm.flopsPerElement * e, bytes: R.layerNorm.bytesPerElement * e + 8 * cols,
      make: () => [mat([rows, cols], 1), tf.ones([cols]), tf.zeros([cols])], run: ([x, g, b]) => layerNorm(x!, g!, b!),
    },
    mm(`matmul [1×${n}]·[${n}×${n}]`, 1, n, n),
    mm(`matmul [8×${n}]·[${n}×${n}]`, 8, n, n),
    mm(`matmul ${8}×[${q}×${q}]·[${q}×${q}]`, q, q, q, 8),
    mm(`matmul [${n}×${n}]·[${n}×${n}]`, n, n, n),
  ];
}

/** Options of {@link measureRoofline}. */
export interface RooflineOptions extends RooflineOpsOptions {
  /** Ops to measure; default {@link rooflineOps}(options). */
  ops?: RooflineOp[];
  /** Ceilings already measured; default: measured here (copy and triad up to `maxBytes`, square matmuls up to `maxN`). */
  ceilings?: Ceilings;
  /** Largest array for the bandwidth ceiling, bytes; default 64 MiB. */
  maxBytes?: number;
  /** Largest square matmul for the FLOP/s ceiling; default 1024. */
  maxN?: number;
  warmup?: number;
  /** Timed repetitions per op; default 5. */
  repeats?: number;
}

/**
 * Measure the ceilings (unless given) and every op's point: FLOPs, bytes, intensity,
 * achieved GFLOP/s, its roof and whether it is memory- or compute-bound here.
 *
 * @example
 * const { ceilings, points, datasheets } = await gl.probes.measureRoofline({ maxBytes: 16 * 2 ** 20, maxN: 512 });
 */
export async function measureRoofline(options: RooflineOptions = {}): Promise<{ ceilings: Ceilings; points: RooflinePoint[]; datasheets: readonly DatasheetCeiling[] }> {
  const { warmup = 2, repeats = 5 } = options;
  const ceilings =
    options.ceilings ??
    ceilingsFrom(
      await measureBandwidth({ kernels: ['copy', 'triad'], sizes: [options.maxBytes ?? 64 * 2 ** 20], repeats: 5 }),
      await measureMatmul({ shapes: squareShapes(options.maxN ?? 1024), repeats: 3 }),
    );
  const points: RooflinePoint[] = [];
  for (const op of options.ops ?? rooflineOps(options)) {
    const xs = op.make();
    try {
      const t = await timeIt(() => op.run(xs), { warmup, repeats });
      const intensity = op.flops / op.bytes;
      const gflops = op.flops / (t.best / 1e3) / 1e9;
      const roof = attainable(intensity, ceilings);
      points.push({
        name: op.name, rule: op.rule, flops: op.flops, bytes: op.bytes, intensity,
        best: t.best, median: t.median, gflops, gbps: op.bytes / (t.best / 1e3) / 1e9, spread: t.spread,
        bound: classify(intensity, ceilings.ridge), roof, fractionOfRoof: gflops / roof,
      });
    } finally {
      tf.dispose(xs);
    }
  }
  return { ceilings, points, datasheets: DATASHEET_CEILINGS };
}
