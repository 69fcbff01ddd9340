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

/** The narrow formats: IEEE binary16, bfloat16, OCP FP8 E4M3 and E5M2. */
export type FloatFormat = 'fp16' | 'bf16' | 'e4m3' | 'e5m2';

/** Every {@link FloatFormat}, in order of decreasing width. */
export const FORMATS: readonly FloatFormat[] = ['fp16', 'bf16', 'e4m3', 'e5m2'];

/** Facts about a format, for tables and the chapter's number-line plots. All values are exact. */
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

/** Options of {@link roundTo} and {@link roundArray}. */
export interface RoundOptions {
  /**
   * E4M3 only: clamp out-of-range values and ±Inf to ±448 (the OCP spec's
   * saturating conversion) instead of giving NaN (PyTorch's `float8_e4m3fn` cast).
   * Default false. Ignored by the other formats, which overflow to ±Inf.
   */
  saturate?: boolean;
}

/** 2^k as float32 for k = −OFF … OFF−1 (0 below 2^−149, Inf from 2^128). */
const OFF = 160;
const POW2 = Float32Array.from({ length: 2 * OFF }, (_, i) => 2 ** (i - OFF));
const NEGPOW2 = Float32Array.from({ length: 2 * OFF }, (_, i) => 2 ** (OFF - i));

/**
 * Round every element of a float32 tensor to the nearest value of `format`, ties
 * to even, and return it as float32 (exactly representable in the format). Runs
 * on the active backend as about 30 elementwise kernels, bit-exact on cpu, wasm
 * and webgpu (tested against NumPy on a million values).
 *
 * How, with no float↔int bitcast in tfjs: for a = |x| find the exponent
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
 * Inputs that are float32 subnormals (|x| < 2^−126) are exact on cpu and wasm;
 * a GPU that flushes subnormals to zero gives ±0 for them (and for bf16's own
 * subnormals) — WGSL allows that.
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

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/**
 * fp8 bits of one float32 value (RNE, subnormals; E5M2: overflow → 0x7C Inf,
 * NaN → 0x7E; E4M3: NaN / overflow → 0x7F, or 0x7E = 448 when saturating), sign in bit 7.
 */
function fp8Bits(v: number, format: 'e4m3' | 'e5m2', saturate: boolean): number {
  const { e: E, m: M } = SPEC[format];
  const bias = 2 ** (E - 1) - 1;
  F32[0] = v;
  const u = U32[0]!;
  const sign = (u >>> 24) & 0x80;
  const ex = (u >>> 23) & 0xff;
  const man = u & 0x7fffff;
  const e4m3 = format === 'e4m3';
  const nan = e4m3 ? 0x7f : 0x7e;
  const overflow = e4m3 ? (saturate ? 0x7e : 0x7f) : 0x7c;
  if (ex === 0xff) return sign | (man ? nan : overflow);
  // Value = sig · 2^(exp − 23) with a 24-bit significand (float32 subnormals: exp = −126, no hidden bit).
  const sig = ex === 0 ? man : man | 0x800000;
  const exp = ex === 0 ? -126 : ex - 127;
  const emin = 1 - bias;
  const shift = 23 - M + Math.max(0, emin - exp); // bits dropped
  let code: number;
  if (shift > 25) code = 0;
  else {
    const kept = Math.floor(sig / 2 ** shift);
    const rem = sig - kept * 2 ** shift;
    const half = 2 ** (shift - 1);
    const r = kept + (rem > half || (rem === half && kept & 1) ? 1 : 0);
    // Normal: biased exponent above the M stored bits; a carry out of the mantissa bumps it. Subnormal: r itself.
    code = exp >= emin ? (exp - emin) * 2 ** M + r : r;
  }
  const maxCode = e4m3 ? 0x7e : 0x7b;
  if (code > maxCode) return sign | overflow;
  return sign | code;
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
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = fp8Bits(values[i]!, format, options.saturate === true);
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
  return Float32Array.from(bits, (c) => table[c]!);
}

/**
 * {@link roundTo} on plain data, in JS with integer bit operations (the CPU
 * reference of the tensor op): `fromBits(toBits(values, format), format)`.
 * Introduced in notebooks/03-gpu.
 */
export function roundArray(values: Float32Array | readonly number[], format: FloatFormat, options: RoundOptions = {}): Float32Array {
  checkFormat(format, 'roundArray');
  const f = values instanceof Float32Array ? values : Float32Array.from(values);
  return fromBits(toBits(f, format, options), format);
}

/** {@link roundArray} of one number. Introduced in notebooks/03-gpu. */
export function roundScalar(value: number, format: FloatFormat, options: RoundOptions = {}): number {
  return roundArray([value], format, options)[0]!;
}
