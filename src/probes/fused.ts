/**
 * Kernel fusion on the epilogue of a transformer MLP: after the first linear layer,
 *
 *     y = residual + dropout(GELU(x + bias))
 *
 * computed two ways on the active backend:
 * - **unfused**: a chain of separate tfjs ops ({@link epilogueUnfused}), each of
 *   which reads its whole inputs from memory and writes its whole output back;
 * - **fused**: ONE kernel ({@link epilogueFused}) that reads x, bias, mask and
 *   residual once and writes y once: a WGSL compute shader on webgpu, a single
 *   JS loop over the tensors' memory on cpu and wasm.
 *
 * The work per element is the same; the bytes moved are not. Elementwise ops are
 * memory-bound (a few FLOPs per 4-byte load), so the time follows the bytes — the
 * IO-aware view of Dao et al. — and fusion also pays the per-op launch cost once
 * instead of once per op.
 *
 * GELU here is the **tanh approximation** (Hendrycks & Gimpel 2016; GPT-2, BERT;
 * PyTorch `F.gelu(x, approximate='tanh')`):
 *     GELU(h) = ½ h (1 + tanh(√(2/π) (h + 0.044715 h³))).
 * Dropout (Srivastava et al. 2014; PyTorch `F.dropout`, training mode) multiplies
 * by a keep mask m ∈ {0, 1} and scales the kept values by 1 / (1 − p).
 *
 * **Byte-counting rule** ({@link epilogueBytes}): every input and output of every
 * op is counted once at its own size, 4 bytes per float32 element (a broadcast
 * bias counts its `cols` elements, a scalar constant 1 element); caches are
 * assumed to hold nothing between ops. The tfjs chain has 13 ops (tfjs has no
 * GELU op, so GELU is 9 of them) and moves 4·(31n + cols + 5) bytes; the fused
 * kernel moves 4·(4n + cols). (In PyTorch eager, with its own GELU and dropout
 * kernels, the chain would be 4 kernels; the count would shrink, not vanish.)
 *
 * References: Dao et al., "FlashAttention: Fast and Memory-Efficient Exact
 * Attention with IO-Awareness" (NeurIPS 2022); NVIDIA, "CUDA C++ Best Practices
 * Guide" (kernel launch overhead, coalesced access); NVIDIA Apex / Megatron-LM
 * `bias_gelu` and `bias_dropout_add` fused kernels, which fuse exactly this chain.
 *
 * Introduced in notebooks/03-gpu.
 */
import { tf } from '../backend/tf';
import { Rng } from '../data/rng';
import { onDevice } from './launch';
import { timeIt } from './timing';

/** √(2/π), the GELU tanh approximation's inner factor. */
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
/** The cubic coefficient of the GELU tanh approximation. */
const GELU_CUBIC = 0.044715;

/** The tensors of the epilogue: y = residual + dropout(GELU(x + bias)). */
export interface EpilogueInputs {
  /** Pre-activation, float32, shape [..., cols]. */
  x: tf.Tensor;
  /** Bias, float32, shape [cols], broadcast over the leading axes. */
  bias: tf.Tensor;
  /** Keep mask, float32 0 or 1, shape of x (see {@link dropoutMask}). */
  mask: tf.Tensor;
  /** Residual stream, float32, shape of x. */
  residual: tf.Tensor;
  /** Dropout probability p in [0, 1); kept values are scaled by 1 / (1 − p). */
  p: number;
}

/** One op of the unfused chain and the elements it reads and writes (see the byte rule in the module TSDoc). */
export interface OpTraffic {
  /** tfjs op name. */
  op: string;
  /** Elements read: the sum of its inputs' sizes. */
  read: number;
  /** Elements written: its output's size. */
  written: number;
}

/**
 * Check shapes and dtypes of the epilogue's inputs; throw saying which is wrong
 * and what it should be.
 */
export function checkEpilogueInputs({ x, bias, mask, residual, p }: EpilogueInputs, where = 'epilogue'): void {
  for (const [name, t] of [['x', x], ['bias', bias], ['mask', mask], ['residual', residual]] as const) {
    if (t.dtype !== 'float32') throw new Error(`${where}: ${name} must be float32, got ${t.dtype}`);
  }
  if (x.rank < 1 || x.size === 0) throw new Error(`${where}: x must have at least one element and rank ≥ 1, got shape [${x.shape}]`);
  const cols = x.shape[x.rank - 1]!;
  if (bias.rank !== 1 || bias.shape[0] !== cols) {
    throw new Error(`${where}: bias must have shape [${cols}] (x's last axis), got [${bias.shape}]`);
  }
  for (const [name, t] of [['mask', mask], ['residual', residual]] as const) {
    if (t.shape.length !== x.shape.length || t.shape.some((d, i) => d !== x.shape[i])) {
      throw new Error(`${where}: ${name} must have x's shape [${x.shape}], got [${t.shape}]`);
    }
  }
  if (!(p >= 0 && p < 1)) throw new Error(`${where}: dropout probability p must be in [0, 1), got ${p}`);
}

/**
 * A seeded dropout keep mask: 1 with probability 1 − p, else 0 (float32), drawn from
 * gradlab's xoshiro128** stream, so the same seed gives the same mask everywhere.
 *
 * @example
 * const m = dropoutMask([4, 8], 0.1, 42); // about 90% ones
 */
export function dropoutMask(shape: number[], p: number, seed: number): tf.Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropoutMask: p must be in [0, 1), got ${p}`);
  const n = shape.reduce((a, b) => a * b, 1);
  if (!(n > 0)) throw new Error(`dropoutMask: shape [${shape}] has no elements`);
  const r = new Rng(seed);
  const m = new Float32Array(n);
  for (let i = 0; i < n; i++) m[i] = r.float() >= p ? 1 : 0;
  return tf.tensor(m, shape, 'float32');
}

/**
 * The epilogue as 13 separate tfjs ops, the way eager code writes it; returns y
 * and, in `traffic`, each op with the elements it read and wrote. The chain:
 * `h = x + b`; `h² = square(h)`; `h³ = h²·h`; `c·h³`; `h + c·h³`; `·√(2/π)`;
 * `tanh`; `+ 1`; `h · (…)`; `· ½`; `· mask`; `· 1/(1−p)`; `+ residual`.
 * Intermediates are disposed (it runs inside `tf.tidy`). The five constants are
 * made into scalar tensors on every call, as tfjs itself does with a number
 * argument (`tf.mul(t, 0.5)`), so the timing includes what eager tfjs code pays.
 */
export function epilogueUnfused(inputs: EpilogueInputs): { y: tf.Tensor; traffic: OpTraffic[] } {
  checkEpilogueInputs(inputs, 'epilogueUnfused');
  const { x, bias, mask, residual, p } = inputs;
  const traffic: OpTraffic[] = [];
  const y = tf.tidy(() => {
    const op = (name: string, args: tf.Tensor[], out: tf.Tensor): tf.Tensor => {
      traffic.push({ op: name, read: args.reduce((s, t) => s + t.size, 0), written: out.size });
      return out;
    };
    const [c3, c2, one, half, keep] = [GELU_CUBIC, SQRT_2_OVER_PI, 1, 0.5, 1 / (1 - p)].map((v) => tf.scalar(v));
    const h = op('add', [x, bias], tf.add(x, bias));
    const h2 = op('square', [h], tf.square(h));
    const h3 = op('mul', [h2, h], tf.mul(h2, h));
    const a = op('mul', [h3, c3!], tf.mul(h3, c3!));
    const s = op('add', [h, a], tf.add(h, a));
    const u = op('mul', [s, c2!], tf.mul(s, c2!));
    const t = op('tanh', [u], tf.tanh(u));
    const t1 = op('add', [t, one!], tf.add(t, one!));
    const g0 = op('mul', [h, t1], tf.mul(h, t1));
    const g = op('mul', [g0, half!], tf.mul(g0, half!));
    const d0 = op('mul', [g, mask], tf.mul(g, mask));
    const d = op('mul', [d0, keep!], tf.mul(d0, keep!));
    return op('add', [d, residual], tf.add(d, residual));
  });
  return { y, traffic };
}

/**
 * Bytes each version moves by the rule in the module TSDoc, for n elements with a
 * bias of `cols` elements: unfused 4·(31n + cols + 5) over 13 ops, fused
 * 4·(4n + cols) in one kernel.
 *
 * @example
 * epilogueBytes(6, 3); // { unfused: 4·(186 + 3 + 5) = 776, fused: 4·(24 + 3) = 108, unfusedOps: 13 }
 */
export function epilogueBytes(n: number, cols: number): { unfused: number; fused: number; unfusedOps: number } {
  if (!(Number.isInteger(n) && n > 0 && Number.isInteger(cols) && cols > 0 && n % cols === 0)) {
    throw new Error(`epilogueBytes: need integers n > 0 and cols > 0 with cols dividing n, got n = ${n}, cols = ${cols}`);
  }
  return { unfused: 4 * (31 * n + cols + 5), fused: 4 * (4 * n + cols), unfusedOps: 13 };
}

/** WGSL of the fused kernel's body (the tfjs program wrapper supplies bindings X, B, M, R, result and uniforms). */
const FUSED_WGSL = `
  fn main(index : i32) {
    if (index < uniforms.size) {
      let h = X[index] + B[index % uniforms.cols];
      let u = ${SQRT_2_OVER_PI} * (h + ${GELU_CUBIC} * h * h * h);
      // tanh(u) as tfjs-backend-webgpu computes it: no overflow for large |u|.
      let e2 = exp(-2.0 * abs(u));
      let th = sign(u) * (1.0 - e2) / (1.0 + e2);
      let g = 0.5 * h * (1.0 + th);
      result[index] = g * M[index] * uniforms.keepScale + R[index];
    }
  }
`;

/**
 * The fused epilogue as a program for tfjs-backend-webgpu's `runWebGPUProgram`
 * (the `WebGPUProgram` interface): flat 1-D dispatch, one thread per element,
 * 128 threads per workgroup; tfjs adds the bindings `result`, `X`, `B`, `M`, `R`
 * and the uniforms (`size`, and our `cols`, `keepScale`).
 */
class FusedEpilogueProgram {
  variableNames = ['X', 'B', 'M', 'R'];
  outputShape: number[];
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [128, 1, 1];
  size = true;
  uniforms = 'cols : i32, keepScale : f32,';
  shaderKey = 'gradlabFusedBiasGeluDropoutResidual';
  constructor(n: number) {
    this.outputShape = [n];
    this.dispatch = [Math.ceil(n / 128), 1, 1];
  }
  getUserCode(): string {
    return FUSED_WGSL;
  }
}

interface WebGPUBackendLike {
  runWebGPUProgram(program: unknown, inputs: tf.TensorInfo[], dtype: 'float32', uniforms?: Array<{ type: string; data: number[] }>): tf.TensorInfo;
}
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}
interface CpuBackendLike {
  readSync(dataId: object): Float32Array;
}

/**
 * tanh by the rational approximation that Eigen's `ptanh` for float (and so XNNPACK-
 * style CPU kernels) use: x clamped to [−9, 9], then x·P(x²)/Q(x²) with P of degree 6
 * and Q of degree 3. Against `Math.tanh` on [−20, 20] in steps of 1e-5: largest
 * absolute error 2.6e-8, largest relative error 1.3e-7 (about one float32 ulp); it
 * is 3–5 times faster than `Math.tanh` in V8, whose cost would otherwise make the
 * JS loop compute-bound rather than memory-bound.
 */
export function tanhRational(x: number): number {
  if (x > 9) x = 9;
  else if (x < -9) x = -9;
  const x2 = x * x;
  let p = x2 * -2.76076847742355e-16 + 2.00018790482477e-13;
  p = p * x2 - 8.60467152213735e-11;
  p = p * x2 + 5.12229709037114e-8;
  p = p * x2 + 1.48572235717979e-5;
  p = p * x2 + 6.37261928875436e-4;
  p = p * x2 + 4.89352455891786e-3;
  let q = x2 * 1.19825839466702e-6 + 1.18534705686654e-4;
  q = q * x2 + 2.268434632439e-3;
  q = q * x2 + 4.89352518554385e-3;
  return (x * p) / q;
}

/**
 * The single pass over memory that the CPU backends run: for each i,
 * y[i] = r[i] + m[i] · keep · ½h(1 + tanh(√(2/π)(h + 0.044715h³))), h = x[i] + b[i mod cols],
 * with tanh from {@link tanhRational}.
 */
function fusedLoop(x: Float32Array, b: Float32Array, m: Float32Array, r: Float32Array, y: Float32Array, keep: number): void {
  const cols = b.length;
  const n = x.length;
  for (let i = 0, j = 0; i < n; i++) {
    const h = x[i]! + b[j]!;
    const g = 0.5 * h * (1 + tanhRational(SQRT_2_OVER_PI * (h + GELU_CUBIC * h * h * h)));
    y[i] = g * m[i]! * keep + r[i]!;
    if (++j === cols) j = 0;
  }
}

/**
 * The epilogue y = residual + dropout(GELU_tanh(x + bias)) as ONE kernel on the
 * active backend: reads x, bias, mask, residual once, writes y once.
 *
 * - **webgpu**: a WGSL compute shader run through tfjs-backend-webgpu's custom
 *   program path (`backend.runWebGPUProgram`), so its buffers are tfjs tensors.
 * - **wasm**: a JS loop over typed-array views of the inputs in wasm memory,
 *   writing straight into a tensor allocated there (`backend.makeOutput`): no copy
 *   in or out; a JS loop, not the backend's SIMD C++, does the arithmetic.
 * - **cpu**: the same loop over the arrays the backend stores (reading them is no
 *   copy on tfjs-backend-cpu); the output is a new Float32Array, which JS zero-fills
 *   first (one extra write pass, as every tfjs-backend-cpu op pays too), wrapped as
 *   a tensor without a copy.
 * - **any other backend** (tensorflow): `dataSync` copies each input out, and
 *   `tf.tensor` copies y in: two extra passes that the timing then includes.
 *
 * Equals {@link epilogueUnfused} within float32 rounding ({@link checkFused}, {@link FUSED_TOLERANCE}).
 */
export function epilogueFused(inputs: EpilogueInputs): tf.Tensor {
  checkEpilogueInputs(inputs, 'epilogueFused');
  const { x, bias, mask, residual, p } = inputs;
  const keep = 1 / (1 - p);
  const backendName = tf.getBackend();
  const backend = tf.backend() as unknown;
  if (backendName === 'webgpu') {
    return tf.tidy(() => {
      const flat = [x, bias, mask, residual].map((t) => tf.reshape(t, [-1]));
      const info = (backend as WebGPUBackendLike).runWebGPUProgram(new FusedEpilogueProgram(x.size), flat, 'float32', [
        { type: 'int32', data: [bias.size] },
        { type: 'float32', data: [keep] },
      ]);
      const y = tf.engine().makeTensorFromTensorInfo(info);
      return tf.reshape(y, x.shape);
    });
  }
  if (backendName === 'wasm') {
    const be = backend as WasmBackendLike;
    const out = be.makeOutput(x.shape, 'float32');
    // Views taken after the allocation: a malloc can grow wasm memory and detach older views.
    const [vx, vb, vm, vr, vy] = [x, bias, mask, residual, out].map((t) => be.typedArrayFromHeap(t));
    fusedLoop(vx!, vb!, vm!, vr!, vy!, keep);
    return tf.engine().makeTensorFromTensorInfo(out);
  }
  if (backendName === 'cpu') {
    const be = backend as CpuBackendLike;
    const y = new Float32Array(x.size);
    const [vx, vb, vm, vr] = [x, bias, mask, residual].map((t) => be.readSync(t.dataId));
    fusedLoop(vx!, vb!, vm!, vr!, y, keep);
    return tf.tensor(y, x.shape, 'float32');
  }
  const y = new Float32Array(x.size);
  fusedLoop(x.dataSync() as Float32Array, bias.dataSync() as Float32Array, mask.dataSync() as Float32Array, residual.dataSync() as Float32Array, y, keep);
  return tf.tensor(y, x.shape, 'float32');
}

/** Largest |a − b| over two same-shape tensors, read back asynchronously (works on webgpu). */
export async function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  if (a.size !== b.size) throw new Error(`maxAbsDiff: sizes differ, ${a.size} and ${b.size}`);
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))));
  try {
    return (await d.data())[0]!;
  } finally {
    d.dispose();
  }
}

/**
 * Tolerance of the fused-against-unfused check: |fused − unfused| ≤ ATOL + RTOL·|unfused|
 * with both 1e-5 (about 80 float32 ulps at 1): the chain rounds to float32 after
 * each of its 13 ops and the backends' tanh differ in the last bits; a wrong kernel
 * (a missing term, a wrong bias index) is off by 1e-2 or more.
 */
export const FUSED_TOLERANCE = { atol: 1e-5, rtol: 1e-5 } as const;

/**
 * Whether the fused kernel equals the unfused chain within {@link FUSED_TOLERANCE}
 * on the active backend; returns the largest error relative to the allowance
 * (≤ 1 passes) and the largest absolute difference.
 */
export async function checkFused(inputs: EpilogueInputs): Promise<{ ok: boolean; maxAbs: number; worstRatio: number }> {
  const { y: ref } = epilogueUnfused(inputs);
  const y = epilogueFused(inputs);
  const ratio = tf.tidy(() => {
    const err = tf.abs(tf.sub(y, ref));
    const allow = tf.add(FUSED_TOLERANCE.atol, tf.mul(FUSED_TOLERANCE.rtol, tf.abs(ref)));
    return tf.stack([tf.max(tf.div(err, allow)), tf.max(err)]);
  });
  try {
    const [worstRatio, maxAbs] = Array.from(await ratio.data()) as [number, number];
    return { ok: worstRatio <= 1, maxAbs, worstRatio };
  } finally {
    tf.dispose([ref, y, ratio]);
  }
}

/** Options of {@link fusionProbe}. */
export interface FusionOptions {
  /** Element counts n of x (each a multiple of `cols`). Default 256 · 4^k for k = 0…8 (256 to 16,777,216). */
  sizes?: number[];
  /** Width of the last axis (the hidden size the bias spans). Default 256. */
  cols?: number;
  /** Dropout probability. Default 0.1. */
  p?: number;
  /** Seed of the inputs and the dropout mask. Default 0. */
  seed?: number;
  /** Timed repetitions per size and version. Default 5. */
  repeats?: number;
  /** Untimed calls first (shader compilation included). Default 2. */
  warmup?: number;
  /** Check fused against unfused at sizes up to this many elements. Default 65,536. */
  checkUpTo?: number;
}

/** One size of {@link fusionProbe}: a plain row for plotting. */
export interface FusionRow {
  /** Elements of x. */
  n: number;
  /** Best time of the 13-op chain, ms. */
  unfusedMs: number;
  /** Best time of the fused kernel, ms. */
  fusedMs: number;
  /** Median time of the chain, ms. */
  unfusedMedianMs: number;
  /** Median time of the fused kernel, ms. */
  fusedMedianMs: number;
  /** Bytes the chain moves by the rule of {@link epilogueBytes}: 4·(31n + cols + 5). */
  unfusedBytes: number;
  /** Bytes the fused kernel moves by the same rule: 4·(4n + cols). */
  fusedBytes: number;
  /** Effective bandwidth of the chain, unfusedBytes / best time, GB/s (10⁹ B/s). */
  unfusedGBs: number;
  /**
   * Effective bandwidth of the fused kernel, fusedBytes / best time, GB/s. Lower than
   * the chain's when the fused kernel is compute-bound (the JS loop on cpu / wasm) —
   * it moves ~7.7× fewer bytes, so the time, not the GB/s, is what to compare.
   */
  fusedGBs: number;
  /** unfusedMs / fusedMs: how many times faster fusion is. */
  speedup: number;
  /** Largest |fused − unfused| where checked (n ≤ checkUpTo), else null. */
  maxAbsDiff: number | null;
}

/**
 * Time the unfused chain against the fused kernel over sizes on the active
 * backend, with bytes moved, effective GB/s, speedup and (at small sizes) the
 * largest difference between the two; throws if a checked size differs by more
 * than {@link FUSED_TOLERANCE}. Tensors are created per size and disposed.
 *
 * @example
 * const rows = await gl.probes.fusionProbe({ sizes: [1 << 12, 1 << 20] });
 * rows.map((r) => r.speedup);
 */
export async function fusionProbe(opts: FusionOptions = {}): Promise<FusionRow[]> {
  const { cols = 256, p = 0.1, seed = 0, repeats = 5, warmup = 2, checkUpTo = 65_536 } = opts;
  const sizes = opts.sizes ?? Array.from({ length: 9 }, (_, k) => 256 * 4 ** k);
  if (sizes.length === 0) throw new Error('fusionProbe: sizes is empty');
  for (const n of sizes) epilogueBytes(n, cols); // validates n and cols
  const rows: FusionRow[] = [];
  for (const n of sizes) {
    const r = new Rng(seed + n);
    // On webgpu the inputs are uploaded first, so that small sizes run on the GPU (see onDevice).
    const [x, bias, mask, residual] = onDevice([
      tf.tensor(r.normalArray(n), [n / cols, cols]),
      tf.tensor(r.normalArray(cols, 0, 0.1), [cols]),
      dropoutMask([n / cols, cols], p, seed + 7 * n + 1),
      tf.tensor(r.normalArray(n), [n / cols, cols]),
    ]);
    const inputs: EpilogueInputs = { x: x!, bias: bias!, mask: mask!, residual: residual!, p };
    try {
      let diff: number | null = null;
      if (n <= checkUpTo) {
        const c = await checkFused(inputs);
        if (!c.ok) throw new Error(`fusionProbe: on ${tf.getBackend()} at n = ${n} the fused kernel differs from the chain by ${c.maxAbs} (over the tolerance by ${c.worstRatio.toFixed(1)}x)`);
        diff = c.maxAbs;
      }
      const un = await timeIt(() => epilogueUnfused(inputs).y, { warmup, repeats });
      const fu = await timeIt(() => epilogueFused(inputs), { warmup, repeats });
      const bytes = epilogueBytes(n, cols);
      rows.push({
        n,
        unfusedMs: un.best,
        fusedMs: fu.best,
        unfusedMedianMs: un.median,
        fusedMedianMs: fu.median,
        unfusedBytes: bytes.unfused,
        fusedBytes: bytes.fused,
        unfusedGBs: bytes.unfused / (un.best * 1e-3) / 1e9,
        fusedGBs: bytes.fused / (fu.best * 1e-3) / 1e9,
        speedup: un.best / fu.best,
        maxAbsDiff: diff,
      });
    } finally {
      tf.dispose([inputs.x, inputs.bias, inputs.mask, inputs.residual]);
    }
  }
  return rows;
}
