/**
 * Exact rounding of float32 values to the narrow floating-point formats of mixed
 * precision training: IEEE 754 binary16 (`fp16`), bfloat16 (`bf16`) and the two
 * OCP 8-bit formats (`e4m3`, `e5m2`). The result is a float32 value that the
 * target format represents exactly, so narrow arithmetic can be emulated in
 * float32 ("fake quantisation").
 *
 * Rounding is IEEE 754's default: to nearest, ties to even, with the format's
 * subnormals (gradual underflow). Overflow gives ±Inf in fp16, bf16 and E5M2.
 * E4M3 has no infinity (OCP FP8 spec, Micikevicius et al. 2022, arXiv 2209.05433):
 * by default a value whose rounding lands above 448 becomes NaN, and so do ±Inf,
 * exactly as PyTorch's `x.to(torch.float8_e4m3fn)` (c10/util/Float8_e4m3fn.h:
 * |x| ≥ 464 → NaN, 464 itself is a tie that goes to the even 448); with
 * `{ saturate: true }` they clamp to ±448 instead (the spec's saturating convert).
 * NaN stays NaN and the sign of zero is kept.
 *
 * Introduced in notebooks/03-gpu.
 */
import { tf } from '../backend/tf';
import { bf16ToFloat32, f16ToFloat32, float32ToBf16, float32ToF16 } from '../io/safetensors';

/** The narrow formats: IEEE binary16, bfloat16, OCP FP8 E4M3 and E5M2 (`torch.float16`, `torch.bfloat16`, `torch.float8_e4m3fn`, `torch.float8_e5m2`). Introduced in notebooks/03-gpu. */
export type FloatFormat = 'fp16' | 'bf16' | 'e4m3' | 'e5m2';

/** Every {@link FloatFormat}, in order of decreasing width. Introduced in notebooks/03-gpu. */
export const FORMATS: readonly FloatFormat[] = ['fp16', 'bf16', 'e4m3', 'e5m2'];

/** Facts about a format, for tables and the chapter's number-line plots (see {@link formatInfo}). All values are exact. Introduced in notebooks/03-gpu. */
export interface FormatInfo {
  format: FloatFormat;
  /** Total bits (16 or 8). */
  bits: number;
  /** Exponent field width E. */
  exponentBits: number;
  /** Stored mantissa (trailing significand) bits M; the precision is M + 1 bits. */
  mantissaBits: number;
  /** Exponent bias 2^(E−1) − 1. */
  bias: number;
  /** Exponent of the smallest normal, 1 − bias. */
  minExponent: number;
  /** Exponent of the largest finite value. */
  maxExponent: number;
  /** Largest finite value: (2 − 2^−M)·2^bias, except E4M3: 1.75·2^8 = 448 (its S.1111.111 is NaN). */
  maxFinite: number;
  /** Smallest positive normal, 2^(1−bias). */
  minNormal: number;
  /** Smallest positive subnormal, 2^(1−bias−M). */
  minSubnormal: number;
  /** Machine epsilon 2^−M: the gap between 1 and the next value. */
  epsilon: number;
  /** Whether the format has ±Inf (all but E4M3). */
  hasInfinity: boolean;
  /** Where the format comes from. */
  reference: string;
}

const SPEC: Record<FloatFormat, { e: number; m: number; ref: string }> = {
  fp16: { e: 5, m: 10, ref: 'IEEE 754-2008 binary16' },
  bf16: { e: 8, m: 7, ref: 'bfloat16 (Google Brain; Kalamkar et al. 2019, arXiv 1905.12322)' },
  e4m3: { e: 4, m: 3, ref: 'OCP FP8 E4M3 (Micikevicius et al. 2022, arXiv 2209.05433)' },
  e5m2: { e: 5, m: 2, ref: 'OCP FP8 E5M2 (Micikevicius et al. 2022, arXiv 2209.05433)' },
};

/** Throw a named error unless `format` is a {@link FloatFormat}. */
function checkFormat(format: string, where: string): asserts format is FloatFormat {
  if (!(format in SPEC)) throw new Error(`${where}: unknown format '${format}'; use one of ${FORMATS.map((f) => `'${f}'`).join(', ')}`);
}

/**
 * The facts of a format: field widths, bias, largest finite, smallest normal and
 * subnormal, machine epsilon. E.g. fp16: max 65504, min normal 2^−14 ≈ 6.1e−5,
 * min subnormal 2^−24 ≈ 6.0e−8, ε = 2^−10; bf16: max ≈ 3.39e38, ε = 2^−7;
 * E4M3: max 448, ε = 2^−3; E5M2: max 57344, ε = 2^−2.
 *
 * Reference: IEEE 754-2008; the OCP FP8 spec (arXiv 2209.05433), Table 1;
 * `torch.finfo`. Introduced in notebooks/03-gpu.
 */
export function formatInfo(format: FloatFormat): FormatInfo {
  checkFormat(format, 'formatInfo');
  const { e, m, ref } = SPEC[format];
  const bias = 2 ** (e - 1) - 1;
  const e4m3 = format === 'e4m3';
  const maxExponent = e4m3 ? bias + 1 : bias; // E4M3 uses the all-ones exponent for finite values
  return {
    format,
    bits: 1 + e + m,
    exponentBits: e,
    mantissaBits: m,
    bias,
    minExponent: 1 - bias,
    maxExponent,
    maxFinite: e4m3 ? 448 : (2 - 2 ** -m) * 2 ** bias,
    minNormal: 2 ** (1 - bias),
    minSubnormal: 2 ** (1 - bias - m),
    epsilon: 2 ** -m,
    hasInfinity: !e4m3,
    reference: ref,
  };
}

/**
 * The non-negative finite values of a format in increasing order (0, the
 * subnormals, then each binade [2^k, 2^(k+1))). With the default `perBinade`
 * (all 2^M of them) this lists every value: 127 for E4M3, 124 for E5M2, 31744
 * for fp16, 32640 for bf16. A smaller `perBinade` (a power of two ≤ 2^M) keeps every
 * (2^M / perBinade)-th significand, for plotting the wide formats.
 *
 * Introduced in notebooks/03-gpu.
 */
export function representableValues(format: FloatFormat, { perBinade }: { perBinade?: number } = {}): Float64Array {
  const info = formatInfo(format);
  const M = info.mantissaBits;
  const n = perBinade ?? 2 ** M;
  if (!(Number.isInteger(Math.log2(n)) && n >= 1 && n <= 2 ** M)) {
    throw new Error(`representableValues: perBinade must be a power of two from 1 to ${2 ** M} for ${format}, got ${perBinade}`);
  }
  const step = 2 ** M / n;
  const out: number[] = [];
  for (let j = 0; j < 2 ** M; j += step) out.push(j * info.minSubnormal); // 0 and the subnormals
  for (let k = info.minExponent; k <= info.maxExponent; k++) {
    for (let j = 0; j < 2 ** M; j += step) {
      const v = (1 + j / 2 ** M) * 2 ** k;
      if (v <= info.maxFinite) out.push(v);
    }
  }
  return Float64Array.from(out);
}

/** Options of {@link roundTo}, {@link roundArray} and {@link toBits}. Introduced in notebooks/03-gpu. */
export interface RoundOptions {
  /**
   * E4M3 only: clamp out-of-range values and ±Inf to ±448 (the OCP spec's
   * saturating conversion) instead of giving NaN (PyTorch's `float8_e4m3fn` cast).
   * Default false. Ignored by the other formats, which overflow to ±Inf.
   */
  saturate?: boolean;
  /**
   * {@link roundTo} only: how to compute. `'ops'`: the tfjs elementwise ops
   * described at roundTo (any backend, data stays on the device); `'js'`: read the
   * values (synchronously), round them with {@link roundArray}'s integer bit code
   * in one JS pass and upload the result (cpu and wasm keep their data in host
   * memory, so this is a copy, not a device round trip; it needs a backend that
   * reads synchronously). Default `'auto'`: `'js'` on the cpu and wasm backends
   * (several times faster there than ~40 kernels); `'wgsl'` on webgpu: one WGSL
   * kernel doing the same integer steps on `bitcast<u32>` of each value (webgpu
   * only); `'ops'` elsewhere (webgl, tensorflow). All give the same bits.
   */
  impl?: 'auto' | 'ops' | 'js' | 'wgsl';
}

/** The float32 bits of a number (for exact WGSL constants). */
function f32Bits(v: number): number {
  return new Uint32Array(Float32Array.of(v).buffer)[0]!;
}

/**
 * WGSL of one kernel that rounds float32 to `format` with integer operations on
 * `bitcast<u32>` (the same steps as {@link toBits} for fp8), so no float rounding
 * of the GPU is trusted. r·2^q (r the rounded significand, q the quantum's
 * exponent) is rebuilt as float32 bits from r's leading one.
 */
function wgslRound(format: FloatFormat, saturate: boolean): string {
  const info = formatInfo(format);
  const M = info.mantissaBits;
  const inf = 0x7f800000;
  const nan = 0x7fc00000;
  const e4m3 = format === 'e4m3';
  // Special values are built from the runtime sign: WGSL rejects a constant expression that is NaN or Inf.
  const over = (sign: string) => `bitcast<f32>(${sign} | ${e4m3 ? (saturate ? f32Bits(448) : nan) : inf}u)`;
  return `
      fn roundTo(a : f32) -> f32 {
        let u = bitcast<u32>(a);
        let sign = u & 0x80000000u;
        let ex = (u >> 23u) & 0xffu;
        let man = u & 0x7fffffu;
        if (ex == 0xffu) {
          if (man != 0u) { return a; }
          return ${over('sign')};
        }
        var sig = man;
        var e = -126;
        if (ex != 0u) { sig = man | 0x800000u; e = i32(ex) - 127; }
        var shift = ${23 - M};
        if (e < ${info.minExponent}) { shift = shift + (${info.minExponent} - e); }
        if (shift > 24) { return bitcast<f32>(sign); }
        let s = u32(shift);
        let kept = sig >> s;
        let rem = sig & ((1u << s) - 1u);
        let half = 1u << (s - 1u);
        var r = kept;
        if (rem > half || (rem == half && (kept & 1u) == 1u)) { r = kept + 1u; }
        if (r == 0u) { return bitcast<f32>(sign); }
        let q = max(e, ${info.minExponent}) - ${M};
        let msb = 31 - i32(countLeadingZeros(r));
        let be = q + msb + 127;
        var bits : u32;
        if (be >= 255) { bits = ${inf}u; }
        else if (be >= 1) { bits = (u32(be) << 23u) | ((r << u32(23 - msb)) & 0x7fffffu); }
        else { bits = r << u32(q + 149); }
        let y = bitcast<f32>(bits);
        if (y > bitcast<f32>(${f32Bits(info.maxFinite)}u)) { return ${over('sign')}; }
        return bitcast<f32>(sign | bits);
      }
      fn main(index : i32) {
        if (index < uniforms.size) {
          setOutputAtIndex(index, roundTo(getXByOutputIndex(index)));
        }
      }
  `;
}

/** {@link roundTo} as one WGSL kernel on the webgpu backend. */
function roundWebgpu(x: tf.Tensor, format: FloatFormat, saturate: boolean): tf.Tensor {
  const backend = tf.backend() as unknown as { runWebGPUProgram(p: unknown, inputs: tf.TensorInfo[], dtype: 'float32'): tf.TensorInfo };
  const n = x.size;
  const program = {
    variableNames: ['x'],
    outputShape: [n],
    shaderKey: `gradlab_roundTo_${format}_${saturate}`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(n / 64), 1, 1],
    workgroupSize: [64, 1, 1],
    size: true,
    getUserCode: () => wgslRound(format, saturate),
  };
  return tf.tidy(() => {
    const flat = tf.reshape(x, [n]);
    const out = tf.engine().makeTensorFromTensorInfo(backend.runWebGPUProgram(program, [flat], 'float32'));
    return tf.reshape(out, x.shape);
  });
}

/** 2^k as float32 for k = −OFF … OFF−1 (0 below 2^−149, Inf from 2^128). */
const OFF = 160;
const POW2 = Float32Array.from({ length: 2 * OFF }, (_, i) => 2 ** (i - OFF));
const NEGPOW2 = Float32Array.from({ length: 2 * OFF }, (_, i) => 2 ** (OFF - i));

/**
 * Round every element of a float32 tensor to the nearest value of `format`, ties
 * to even, and return it as float32 (exactly representable in the format).
 * Bit-exact on cpu, wasm and webgpu (tested against NumPy on a million values).
 * By default it runs as one JS pass over the values on cpu and wasm, and as one
 * WGSL kernel on webgpu (integer steps on the bits; see {@link RoundOptions.impl}).
 * Elsewhere, and with `impl: 'ops'`, it is about 40 elementwise tfjs kernels,
 * exact on any device. As tfjs has no float↔int bitcast, that path finds, for
 * a = |x|, the exponent
 * e = ⌊log₂ a⌋ (an estimate from `log`, then corrected by comparing a with 2^e and
 * 2^(e+1), so an inexact `log` on a GPU does no harm), clamp it to the format's
 * smallest normal exponent e_min (which gives the subnormals), and compute
 *   y = round(x · 2^(M−e)) · 2^(e−M)
 * where M is the mantissa width and `round` is round-half-to-even. The powers of
 * two come from a table through `gather` (no `exp2`/`pow`, which are not exact on
 * every GPU) and are applied as two factors of at most 2^±73 each, so every
 * product is exact in float32, bf16's 2^133 included. Then |y| > max → ±Inf
 * (fp16, bf16, E5M2) or NaN / ±448 (E4M3), and a zero result takes the sign of x.
 *
 * Inputs that are float32 subnormals (|x| < 2^−126) are exact on cpu, wasm and
 * the webgpu tested here (Mesa's software renderer); a GPU that flushes float32
 * subnormals to zero (WGSL allows it) gives ±0 for them, and so for bf16's own
 * subnormals.
 *
 * The result is a new tensor (the input is not disposed); nothing else is left behind.
 *
 * Reference: IEEE 754-2008 §4.3.1 (roundTiesToEven); `torch.Tensor.half()`,
 * `.bfloat16()`, `.to(torch.float8_e4m3fn / float8_e5m2)`; Micikevicius et al.
 * 2018, "Mixed Precision Training"; the OCP FP8 spec (arXiv 2209.05433).
 * Introduced in notebooks/03-gpu.
 * ```ts
 * precision.roundTo(tf.tensor([65519.99, 65520, 1 + 2 ** -11]), 'fp16') // [65504, Inf, 1]
 * ```
 */
export function roundTo(x: tf.Tensor, format: FloatFormat, options: RoundOptions = {}): tf.Tensor {
  checkFormat(format, 'roundTo');
  if (x.dtype !== 'float32') throw new Error(`roundTo: x must be float32, got ${x.dtype} [${x.shape.join(', ')}]; cast it first`);
  const impl = options.impl ?? 'auto';
  if (!['auto', 'ops', 'js', 'wgsl'].includes(impl)) throw new Error(`roundTo: impl must be 'auto', 'ops', 'js' or 'wgsl', got ${String(impl)}`);
  const backend = tf.getBackend();
  if (impl === 'wgsl' && backend !== 'webgpu') throw new Error(`roundTo: impl 'wgsl' needs the webgpu backend, the active one is '${backend}'; use 'auto'`);
  if (impl === 'wgsl' || (impl === 'auto' && backend === 'webgpu')) return roundWebgpu(x, format, options.saturate === true);
  const js = impl === 'js' || (impl === 'auto' && ['cpu', 'wasm'].includes(backend));
  if (js) return tf.tensor(roundArray(x.dataSync() as Float32Array, format, options), x.shape, 'float32');
  const info = formatInfo(format);
  const M = info.mantissaBits;
  const emin = info.minExponent;
  return tf.tidy(() => {
    const pos = tf.tensor1d(POW2);
    const neg = tf.tensor1d(NEGPOW2);
    const idx = (e: tf.Tensor) => tf.cast(tf.add(e, OFF), 'int32');
    const a = tf.abs(x);
    // a with NaN and ±Inf replaced by 0 (NaN < Inf is false), for the exponent only.
    const af = tf.where(tf.less(a, Infinity), a, tf.zerosLike(a));
    // e ≈ ⌊log₂ a⌋, clamped to [e_min, 128]; then corrected by one either way.
    const est = tf.clipByValue(tf.floor(tf.mul(tf.log(af), Math.LOG2E)), emin, 128);
    const p = tf.gather(pos, idx(est)); // 2^est
    const up = tf.cast(tf.greaterEqual(af, tf.mul(p, 2)), 'float32');
    const down = tf.cast(tf.less(af, p), 'float32');
    const e = tf.maximum(tf.sub(tf.add(est, up), down), emin);
    // 2^(M−e) = 2^(−h) · 2^(−(g−M)) with h = ⌊e/2⌋, g = e − h: both factors within 2^±73.
    const h = tf.floor(tf.mul(e, 0.5));
    const iA = idx(h);
    const iB = idx(tf.sub(tf.sub(e, h), M));
    const scaled = tf.mul(tf.mul(x, tf.gather(neg, iA)), tf.gather(neg, iB));
    let y = tf.mul(tf.mul(tf.round(scaled), tf.gather(pos, iA)), tf.gather(pos, iB));
    // round(−0.5) is +0 on some backends: give zeros the sign of x (x·0 = ±0 for finite x).
    y = tf.where(tf.equal(y, 0), tf.mul(x, 0), y);
    const over = tf.greater(tf.abs(y), info.maxFinite);
    if (format !== 'e4m3') return tf.where(over, tf.mul(x, Infinity), y); // NaN > max is false: NaN stays
    if (options.saturate) return tf.where(over, tf.mul(tf.sign(x), 448), y);
    return tf.where(over, tf.fill(y.shape, NaN), y);
  });
}

// ---- plain JS: Float32Array in, Float32Array out; and raw bits ----

/**
 * fp8 code of the float32 with bits u (RNE, subnormals; E5M2: overflow → 0x7C Inf,
 * NaN → 0x7E; E4M3: NaN / overflow → 0x7F, or 0x7E = 448 when saturating), sign in bit 7.
 */
function fp8Bits(u: number, M: number, bias: number, e4m3: boolean, saturate: boolean): number {
  const sign = (u >>> 24) & 0x80;
  const ex = (u >>> 23) & 0xff;
  const man = u & 0x7fffff;
  const overflow = e4m3 ? (saturate ? 0x7e : 0x7f) : 0x7c;
  if (ex === 0xff) return sign | (man ? (e4m3 ? 0x7f : 0x7e) : overflow);
  // Value = sig · 2^(exp − 23) with a 24-bit significand (float32 subnormals: exp = −126, no hidden bit).
  const sig = ex === 0 ? man : man | 0x800000;
  const exp = ex === 0 ? -126 : ex - 127;
  const emin = 1 - bias;
  const shift = exp >= emin ? 23 - M : 23 - M + emin - exp; // bits dropped
  if (shift > 24) return sign; // below half the smallest subnormal: ±0
  const kept = sig >>> shift;
  const rem = sig & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  const r = kept + (rem > half || (rem === half && kept & 1) ? 1 : 0);
  // Normal: biased exponent above the M stored bits; a carry out of the mantissa bumps it. Subnormal: r itself.
  const code = exp >= emin ? ((exp - emin) << M) + r : r;
  return sign | (code > (e4m3 ? 0x7e : 0x7b) ? overflow : code);
}

/** Float32 values of fp8 codes 0..255, per format. */
const FP8_VALUES: Partial<Record<'e4m3' | 'e5m2', Float32Array>> = {};
function fp8Table(format: 'e4m3' | 'e5m2'): Float32Array {
  let t = FP8_VALUES[format];
  if (!t) {
    const { e: E, m: M } = SPEC[format];
    const bias = 2 ** (E - 1) - 1;
    t = new Float32Array(256);
    for (let c = 0; c < 256; c++) {
      const s = c & 0x80 ? -1 : 1;
      const ex = (c >> M) & (2 ** E - 1);
      const man = c & (2 ** M - 1);
      let v: number;
      if (format === 'e4m3' && (c & 0x7f) === 0x7f) v = NaN;
      else if (format === 'e5m2' && ex === 31) v = man ? NaN : s * Infinity;
      else v = ex === 0 ? s * man * 2 ** (1 - bias - M) : s * (2 ** M + man) * 2 ** (ex - bias - M);
      t[c] = v;
    }
    FP8_VALUES[format] = t;
  }
  return t;
}

/**
 * The raw bits of float32 values in `format`, rounded to nearest even: a
 * Uint16Array for fp16 / bf16 (the converters of `gl.io`, used for safetensors),
 * a Uint8Array for E4M3 / E5M2 (sign, exponent, mantissa from bit 7 down; NaN is
 * 0x7F for E4M3 and 0x7E for E5M2, Inf is 0x7C for E5M2, with the sign bit).
 *
 * Reference: `torch.Tensor.to(dtype).view(torch.uint8 / int16)`. Introduced in notebooks/03-gpu.
 */
export function toBits(values: Float32Array, format: FloatFormat, options: RoundOptions = {}): Uint16Array | Uint8Array {
  checkFormat(format, 'toBits');
  if (format === 'fp16') return float32ToF16(values);
  if (format === 'bf16') return float32ToBf16(values);
  const u = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const { e: E, m: M } = SPEC[format];
  const bias = 2 ** (E - 1) - 1;
  const e4m3 = format === 'e4m3';
  const saturate = options.saturate === true;
  const out = new Uint8Array(values.length);
  for (let i = 0; i < u.length; i++) out[i] = fp8Bits(u[i]!, M, bias, e4m3, saturate);
  return out;
}

/** Float32 values of raw `format` bits (the inverse of {@link toBits}; exact). Introduced in notebooks/03-gpu. */
export function fromBits(bits: Uint16Array | Uint8Array, format: FloatFormat): Float32Array {
  checkFormat(format, 'fromBits');
  const wide = format === 'fp16' || format === 'bf16';
  if (wide !== bits instanceof Uint16Array) {
    throw new Error(`fromBits: ${format} bits come as a ${wide ? 'Uint16Array' : 'Uint8Array'}, got a ${bits.constructor.name}`);
  }
  if (format === 'fp16') return f16ToFloat32(bits as Uint16Array);
  if (format === 'bf16') return bf16ToFloat32(bits as Uint16Array);
  const table = fp8Table(format);
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return out;
}

/**
 * {@link roundTo} on plain data, in JS with integer bit operations (the CPU
 * reference of the tensor op): `fromBits(toBits(values, format), format)`.
 * Introduced in notebooks/03-gpu.
 */
export function roundArray(values: Float32Array | readonly number[], format: FloatFormat, options: RoundOptions = {}): Float32Array {
  checkFormat(format, 'roundArray');
  const f = values instanceof Float32Array ? values : Float32Array.from(values);
  if (format === 'fp16') return roundF16(f);
  return fromBits(toBits(f, format, options), format);
}

const F16_SUBNORMAL = 0.5; // its float32 ulp is 2^-24, fp16's subnormal spacing

/**
 * fp16 rounding in one pass, float32 in and out (no 16-bit codes in between):
 * - |x| ≥ 65520 (bits ≥ 0x477FF000) → ±Inf; NaN and ±Inf stay;
 * - normal range (|x| ≥ 2^-14): drop 13 mantissa bits, ties to even, on the
 *   integer bits (`u + 0xFFF + ((u >> 13) & 1)`, then clear them; a carry bumps the exponent);
 * - subnormal range: round to a multiple of 2^-24 as `fround(|x| + 0.5) − 0.5`:
 *   0.5's float32 ulp is 2^-24, the double sum is exact for |x| ≥ 2^-26 (fewer than
 *   53 bits) and below that the result is 0 either way.
 * Equal to `fromBits(toBits(x, 'fp16'), 'fp16')` bit for bit (NaN payloads aside), ~6× faster.
 */
function roundF16(f: Float32Array): Float32Array {
  const out = new Float32Array(f.length);
  const u = new Uint32Array(f.buffer, f.byteOffset, f.length);
  const o = new Uint32Array(out.buffer);
  for (let i = 0; i < u.length; i++) {
    const x = u[i]!;
    const sign = x & 0x80000000;
    const a = (x ^ sign) >>> 0;
    let r: number;
    if (a >= 0x7f800000) r = a; //                          NaN, Inf
    else if (a >= 0x477ff000) r = 0x7f800000; //            rounds past 65504
    else if (a >= 0x38800000) r = (a + 0xfff + ((a >>> 13) & 1)) & ~0x1fff; // normal
    else {
      out[i] = Math.fround(Math.abs(f[i]!) + F16_SUBNORMAL) - F16_SUBNORMAL; // subnormal or zero
      r = o[i]!;
    }
    o[i] = (r | sign) >>> 0;
  }
  return out;
}

/** {@link roundArray} of one number. Introduced in notebooks/03-gpu. */
export function roundScalar(value: number, format: FloatFormat, options: RoundOptions = {}): number {
  return roundArray([value], format, options)[0]!;
}
