/**
 * Autocast: run the engine's forward and backward in emulated fp16 or bf16 with
 * float32 master weights, as `torch.autocast` (with `torch.cuda.amp`) does on a GPU.
 *
 * Introduced in notebooks/03-gpu.
 */
import { tf } from '../backend/tf';
import { castPolicy, withCastPolicy, type CastPlan, type CastPolicy, type EmulatedDtype } from '../autograd/cast';
import { promote } from '../autograd/record';
import type { Tensor } from '../autograd/tensor';
import { roundTo } from './round';

export type { EmulatedDtype } from '../autograd/cast';

/** The lower precision of an autocast block: IEEE half (fp16: 5 exponent bits, 10 mantissa bits) or bfloat16 (8 and 7). Reference: `torch.float16`, `torch.bfloat16`. */
export type AutocastDtype = 'fp16' | 'bf16';

/** Options of {@link autocast}. */
export interface AutocastOptions {
  /** The lower precision. Default 'fp16' (`torch.autocast('cuda')`'s default). */
  dtype?: AutocastDtype;
  /** false runs the block in float32 (an inner `autocast({ enabled: false })` turns an outer one off). Default true. */
  enabled?: boolean;
}

/**
 * Ops (gradlab's names) that run in the lower precision: every floating input is
 * rounded to it (a cast, kept for backward), the product is accumulated in float32
 * (tfjs's kernels; what fp16 / bf16 GEMMs with float32 accumulation do on tensor
 * cores), and the output is rounded once. `linear` is the composite `x W + b`
 * (matmul + add), cast as one op: its bias is cast too.
 * PyTorch's CUDA list: `__matmul__, addbmm, addmm, addmv, addr, baddbmm, bmm,
 * chain_matmul, multi_dot, conv1d..3d, conv_transpose1d..3d, GRUCell, linear, LSTMCell,
 * matmul, mm, mv, prelu, RNNCell`. Introduced in notebooks/03-gpu.
 */
export const AUTOCAST_LOWER_OPS: readonly string[] = ['matmul', 'linear'];

/**
 * Ops (gradlab's names) that run in float32: lower-precision inputs are cast up
 * (exactly) and the output is float32. `mse` is the composite loss (sub, mul, mean)
 * and runs in float32 as one op. `rmsNorm` (absent from PyTorch 1.13) follows `layer_norm`.
 * PyTorch's CUDA list: `__pow__, __rdiv__, __rpow__, __rtruediv__, acos, asin,
 * binary_cross_entropy_with_logits, cosh, cosine_embedding_loss, cdist, cosine_similarity,
 * cross_entropy, cumprod, cumsum, dist, erfinv, exp, expm1, group_norm,
 * hinge_embedding_loss, kl_div, l1_loss, layer_norm, log, log_softmax, log10, log1p, log2,
 * margin_ranking_loss, mse_loss, multilabel_margin_loss, multi_margin_loss, nll_loss, norm,
 * normalize, pdist, poisson_nll_loss, pow, prod, reciprocal, rsqrt, sinh, smooth_l1_loss,
 * soft_margin_loss, softmax, softmin, softplus, sum, renorm, tan, triplet_margin_loss`.
 * Introduced in notebooks/03-gpu.
 */
export const AUTOCAST_FP32_OPS: readonly string[] = [
  'pow', 'exp', 'log', 'softmax', 'logSoftmax', 'layerNorm', 'rmsNorm', 'sum',
  'crossEntropy', 'mse', 'huber', 'normalize', 'l2Penalty',
];

const LOWER = new Set(AUTOCAST_LOWER_OPS);
const FP32 = new Set(AUTOCAST_FP32_OPS);

const FORMATS: Record<Exclude<EmulatedDtype, 'float32'>, AutocastDtype> = { float16: 'fp16', bfloat16: 'bf16' };

/** Exact rounding to an emulated dtype (identity for float32). */
function round(x: tf.Tensor, dtype: EmulatedDtype): tf.Tensor {
  return dtype === 'float32' ? x : roundTo(x, FORMATS[dtype]);
}

/** The policy of one autocast dtype (the engine consults it in every op; see the engine's cast hook). */
class AutocastPolicy implements CastPolicy {
  readonly round = round;
  constructor(readonly low: Exclude<EmulatedDtype, 'float32'>) {}

  plan(op: string, region: string | null, dtypes: readonly (EmulatedDtype | null)[]): CastPlan {
    const name = region ?? op;
    if (LOWER.has(name)) return { inputs: dtypes.map((d) => (d === null ? null : this.low)), output: this.low };
    if (FP32.has(name)) return { inputs: dtypes.map((d) => (d === null ? null : 'float32')), output: 'float32' };
    // Everything else: the widest input type (float32 over fp16 / bf16; fp16 with bf16 gives float32).
    const to = promote(dtypes);
    return { inputs: dtypes.map((d) => (d === null ? null : to)), output: to };
  }
}

const POLICIES: Record<AutocastDtype, AutocastPolicy> = { fp16: new AutocastPolicy('float16'), bf16: new AutocastPolicy('bfloat16') };

/**
 * Run `fn` with the engine's ops in mixed precision, as `torch.autocast`:
 * - ops in {@link AUTOCAST_LOWER_OPS} (matmul, linear) cast their inputs to the lower
 *   precision `p` and round their output to it: `y = round_p(round_p(x) · round_p(W) + round_p(b))`,
 *   the product accumulated in float32;
 * - ops in {@link AUTOCAST_FP32_OPS} (softmax, log, exp, sum, layer norm, the losses, ...)
 *   run in float32 on float32 values;
 * - every other op takes the widest type among its floating inputs; when all are `p`,
 *   it computes in float32 on them and rounds its output to `p` (torch's fp16 / bf16
 *   elementwise kernels compute in float32 internally and round the result the same way).
 *
 * Tensors stay float32 in tfjs; a tensor computed in `p` is tagged with it
 * ({@link emulatedDtype}) and its values are exactly representable in `p`. Parameters
 * stay float32 (the master weights): the cast in a lower-precision op is a node of the
 * graph, so in backward the weight receives the gradient of its `p` copy, i.e. a gradient
 * rounded to `p` and held in float32 (PyTorch's `ToCopyBackward`). Generally the gradient
 * flowing into a tensor tagged `p` is rounded to `p`, also after summing several
 * contributions, whether backward runs inside the block or after it (as it should:
 * `loss.backward()` after the block, as PyTorch recommends).
 *
 * fp16 keeps 10 mantissa bits (unit roundoff 2⁻¹¹); its largest value is 65504 and
 * anything of magnitude ≥ 65520 becomes ±Inf; values of magnitude ≤ 2⁻²⁵ (half its
 * smallest subnormal 2⁻²⁴ ≈ 6·10⁻⁸) round to zero, which is what happens to small
 * gradients, hence loss scaling (Micikevicius et al. 2018).
 * bf16 keeps 7 mantissa bits (unit roundoff 2⁻⁸) with float32's range.
 *
 * `fn` must be synchronous; the previous mode is restored when it returns or throws.
 * Blocks nest (the inner one's options hold inside it); `noGrad` works inside and outside.
 * Differences from PyTorch: a weight used by several ops is cast once per use
 * (PyTorch caches the cast of a leaf within the block: equal values, but its gradients
 * are summed in float32 here rather than in `p` first), a 0-dim tensor takes part in
 * promotion like any other, and `linear` adds the bias after rounding the product
 * (PyTorch's `addmm` adds it before its one rounding).
 * Emulation runs the rounding as extra tensor ops (`roundTo`, a few dozen kernels per
 * rounded tensor): slower than float32, never faster (measured on a chain of small ops,
 * [4,8]·[8,8]: about 25-30x the time per op on wasm, 40-75x on cpu).
 *
 * @example
 * const loss = autocast({ dtype: 'bf16' }, () => nn.crossEntropy(model.forward(x), y));
 * loss.backward();                    // gradients of the float32 parameters, as bf16 values
 * emulatedDtype(model.forward(x))     // 'float32' outside the block
 *
 * Reference: `torch.autocast(device_type, dtype, enabled)` and its op lists (PyTorch 1.13
 * "Autocast Op Reference"); Micikevicius et al. 2018, "Mixed Precision Training".
 * Introduced in notebooks/03-gpu.
 */
export function autocast<T>(options: AutocastOptions, fn: () => T): T {
  const { dtype = 'fp16', enabled = true } = options ?? {};
  if (dtype !== 'fp16' && dtype !== 'bf16') throw new Error(`autocast: dtype must be 'fp16' or 'bf16', got '${String(dtype)}'`);
  if (typeof enabled !== 'boolean') throw new Error(`autocast: enabled must be true or false, got ${String(enabled)}`);
  if (typeof fn !== 'function') throw new Error('autocast: pass the block as a function: autocast({ dtype }, () => ...)');
  const result = withCastPolicy(enabled ? POLICIES[dtype] : null, fn);
  if (result instanceof Promise) {
    throw new Error('autocast: the block returned a Promise; it must be synchronous (await outside it). The ops after its first await ran without autocast');
  }
  return result;
}

/** Whether an {@link autocast} block is active here (false inside `autocast({ enabled: false })`). Reference: `torch.is_autocast_enabled()`. Introduced in notebooks/03-gpu. */
export function isAutocastEnabled(): boolean {
  return castPolicy() instanceof AutocastPolicy;
}

/** The lower precision of the active {@link autocast} block, or null outside one. Reference: `torch.get_autocast_gpu_dtype()`. Introduced in notebooks/03-gpu. */
export function autocastDtype(): AutocastDtype | null {
  const p = castPolicy();
  return p instanceof AutocastPolicy ? FORMATS[p.low] : null;
}

/**
 * The emulated dtype of a tensor: 'float16' or 'bfloat16' for one computed (or cast)
 * in that precision by {@link autocast} (its float32 values are exactly representable
 * there), 'float32' for other float32 tensors, and the tfjs dtype ('int32', 'bool') otherwise.
 * Reference: `torch.Tensor.dtype`. Introduced in notebooks/03-gpu.
 */
export function emulatedDtype(t: Tensor): EmulatedDtype | tf.DataType {
  if (t._cast !== null) return t._cast.dtype;
  return t.dtype;
}
