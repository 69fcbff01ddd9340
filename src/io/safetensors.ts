/**
 * The safetensors file format (Hugging Face), read and written by hand.
 *
 * Layout of a file:
 * ```
 * bytes 0..8        N, the header length, an unsigned 64-bit little-endian integer (N ≤ 100,000,000)
 * bytes 8..8+N      the header: UTF-8 JSON, starting with '{', padded with spaces so that 8 + N is a multiple of 8
 *                   {"__metadata__": {"key": "value", ...},
 *                    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 * bytes 8+N..end    the data: each tensor's elements, row-major, little-endian, at [begin, end) of this region
 * ```
 * The offsets are relative to the start of the data; sorted by `begin`, the tensors
 * tile the data exactly from 0 to its end (no holes, no overlaps, no trailing bytes);
 * `end − begin = numel(shape) × size(dtype)`. Rank-0 (`shape: []`, one element) and
 * empty tensors (a 0 in the shape) are allowed. `__metadata__` is optional and maps
 * strings to strings only.
 *
 * Like the Rust implementation (`safetensors::serialize`), the writer here puts
 * tensors in order of decreasing element size, then name, so that with the
 * 8-aligned data start every tensor starts at a multiple of its element size and
 * can be viewed in place (no copy) when read.
 *
 * Reference: https://github.com/huggingface/safetensors (README, "Format");
 * `safetensors.torch.save_file` / `load_file` are the PyTorch equivalents.
 * Introduced in notebooks/02-optim.
 */
import { endianness } from 'os';

/** The element types of the format that gradlab reads and writes. */
export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL' | 'F8_E4M3' | 'F8_E5M2';

/**
 * The typed array that holds each dtype's elements: F16 and BF16 as their raw
 * 16 bits (`Uint16Array`, see {@link f16ToFloat32}, {@link bf16ToFloat32}), the
 * two fp8 formats as raw bytes, BOOL as bytes 0 / 1, 64-bit integers as BigInts.
 */
export interface DtypeArrays {
  F64: Float64Array;
  F32: Float32Array;
  F16: Uint16Array;
  BF16: Uint16Array;
  I64: BigInt64Array;
  I32: Int32Array;
  I16: Int16Array;
  I8: Int8Array;
  U64: BigUint64Array;
  U32: Uint32Array;
  U16: Uint16Array;
  U8: Uint8Array;
  BOOL: Uint8Array;
  F8_E4M3: Uint8Array;
  F8_E5M2: Uint8Array;
}

/** Any of the arrays of {@link DtypeArrays}. */
export type DtypeArray = DtypeArrays[Dtype];

/** One tensor of a safetensors file: dtype, shape (row-major) and elements. */
export interface SafeTensor<D extends Dtype = Dtype> {
  dtype: D;
  shape: number[];
  data: DtypeArrays[D];
}

/** A decoded file: the tensors by name (in the order of their data) and the `__metadata__` strings. */
export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
  /** Where the data starts in the file (8 + N); `data_offsets` are relative to it. */
  dataStart: number;
}

type ArrayCtor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): DtypeArray; new (length: number): DtypeArray; BYTES_PER_ELEMENT: number };

const CTORS: Record<Dtype, ArrayCtor> = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U64: BigUint64Array,
  U32: Uint32Array,
  U16: Uint16Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
  F8_E4M3: Uint8Array,
  F8_E5M2: Uint8Array,
} as unknown as Record<Dtype, ArrayCtor>;

/** The dtypes this module knows, and the bytes per element of each. */
export const DTYPE_SIZES: Readonly<Record<Dtype, number>> = Object.freeze(
  Object.fromEntries(Object.entries(CTORS).map(([k, c]) => [k, c.BYTES_PER_ELEMENT])) as Record<Dtype, number>,
);

/** The largest header the format allows (the Rust reader's limit), in bytes. */
export const MAX_HEADER_BYTES = 100_000_000;

if (endianness() !== 'LE') throw new Error('gl.io: safetensors files are little-endian and this machine is big-endian; gradlab does not byte-swap');

/** Number of elements of a shape (1 for rank 0). */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The error every reader and writer here throws: `where: what; what to do`. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

function fail(where: string, what: string, hint: string): never {
  throw new SafetensorsError(`${where}: ${what}; ${hint}`);
}

/** The tensor's bytes, a view on its own memory (no copy). */
export function tensorBytes(t: SafeTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Check a tensor about to be written; returns its byte length. */
function checkTensor(where: string, name: string, t: SafeTensor): number {
  if (name === '__metadata__') fail(where, `'__metadata__' cannot name a tensor (it is the metadata's key)`, 'rename the tensor');
  if (!(t.dtype in CTORS)) fail(where, `tensor '${name}' has dtype ${JSON.stringify(t.dtype)}, not one of ${Object.keys(CTORS).join(', ')}`, 'use one of those');
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(where, `tensor '${name}' has shape ${JSON.stringify(t.shape)}`, 'a shape is a list of integers ≥ 0');
  const ctor = CTORS[t.dtype];
  if (!(t.data instanceof (ctor as unknown as typeof Uint8Array))) fail(where, `tensor '${name}' is ${t.dtype} but its data is a ${t.data?.constructor?.name}`, `pass a ${ctor.name} (F16/BF16 as their raw bits)`);
  if (t.data.length !== numel(t.shape)) fail(where, `tensor '${name}' has shape [${t.shape.join(', ')}] (${numel(t.shape)} elements) but ${t.data.length} values`, 'make the data match the shape');
  return t.data.byteLength;
}

/** A planned file: the header bytes (padded), and the tensors in data order with their offsets. */
export interface SafetensorsLayout {
  header: Uint8Array;
  order: { name: string; tensor: SafeTensor; begin: number; end: number }[];
  dataBytes: number;
}

/**
 * Plan a file without copying any data: the 8-byte length + padded JSON header,
 * and where each tensor goes. {@link encodeSafetensors} concatenates them; a writer
 * may instead write the header and each tensor's bytes ({@link tensorBytes}) in turn.
 */
export function planSafetensors(tensors: Iterable<[string, SafeTensor]> | Record<string, SafeTensor>, metadata?: Record<string, string>, where = 'encodeSafetensors'): SafetensorsLayout {
  const entries = Symbol.iterator in Object(tensors) ? Array.from(tensors as Iterable<[string, SafeTensor]>) : Object.entries(tensors as Record<string, SafeTensor>);
  const seen = new Set<string>();
  for (const [name, t] of entries) {
    if (seen.has(name)) fail(where, `two tensors are named '${name}'`, 'give every tensor its own name');
    seen.add(name);
    checkTensor(where, name, t);
  }
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') fail(where, `__metadata__.${k} is a ${typeof v}, not a string`, 'metadata values must be strings (JSON.stringify them)');
  }
  // Largest elements first, then by name (as safetensors' Rust writer): every tensor stays aligned.
  entries.sort(([a, x], [b, y]) => DTYPE_SIZES[y.dtype] - DTYPE_SIZES[x.dtype] || (a < b ? -1 : a > b ? 1 : 0));
  const json: Record<string, unknown> = {};
  if (metadata !== undefined && Object.keys(metadata).length > 0) json.__metadata__ = metadata;
  let off = 0;
  const order = entries.map(([name, tensor]) => {
    const begin = off;
    off += tensor.data.byteLength;
    json[name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [begin, off] };
    return { name, tensor, begin, end: off };
  });
  const text = new TextEncoder().encode(JSON.stringify(json));
  const n = text.length + ((8 - (text.length % 8)) % 8);
  if (n > MAX_HEADER_BYTES) fail(where, `the header is ${n} bytes, more than the format's ${MAX_HEADER_BYTES}`, 'split the tensors over several files');
  const header = new Uint8Array(8 + n).fill(0x20);
  new DataView(header.buffer).setBigUint64(0, BigInt(n), true);
  header.set(text, 8);
  return { header, order, dataBytes: off };
}

/**
 * Encode tensors (and optional string metadata) as the bytes of a safetensors file.
 *
 * @example
 * const bytes = gl.io.encodeSafetensors({ w: { dtype: 'F32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } }, { note: 'hi' });
 *
 * Reference: `safetensors.torch.save(tensors, metadata)`. Introduced in notebooks/02-optim.
 */
export function encodeSafetensors(tensors: Iterable<[string, SafeTensor]> | Record<string, SafeTensor>, metadata?: Record<string, string>): Uint8Array {
  const plan = planSafetensors(tensors, metadata);
  const out = new Uint8Array(plan.header.length + plan.dataBytes);
  out.set(plan.header, 0);
  for (const o of plan.order) out.set(tensorBytes(o.tensor), plan.header.length + o.begin);
  return out;
}

/** The start of a string, for error messages. */
function clip(s: string, n = 80): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/**
 * Find keys repeated in one JSON object (JSON.parse keeps the last silently).
 * `text` must be valid JSON. Returns the first duplicate as `path`, or null.
 */
function duplicateKey(text: string): string | null {
  type Frame = { keys: Set<string> | null; path: string; expectKey: boolean; lastKey: string };
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const top = stack[stack.length - 1];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (top && top.keys && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return top.path ? `${top.path}.${key}` : key;
        top.keys.add(key);
        top.lastKey = key;
        top.expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      const path = top ? (top.keys ? (top.path ? `${top.path}.${top.lastKey}` : top.lastKey) : `${top.path}[]`) : '';
      stack.push({ keys: c === '{' ? new Set() : null, path, expectKey: c === '{', lastKey: '' });
    } else if (c === '}' || c === ']') stack.pop();
    else if (c === ',' && top?.keys) top.expectKey = true;
  }
  return null;
}

/** Options of {@link decodeSafetensors}. */
export interface DecodeOptions {
  /** Names the source in error messages (a path). Default 'safetensors'. */
  source?: string;
  /**
   * Copy every tensor's data out of `bytes` (default false: tensors whose offset is
   * aligned to their element size are views sharing `bytes`' memory; unaligned ones are copied).
   */
  copy?: boolean;
}

/**
 * Decode the bytes of a safetensors file, checking everything the format requires
 * and throwing a {@link SafetensorsError} that says what is wrong and where: a
 * file shorter than 8 bytes, a header length past the end of the file (truncated),
 * a header that is not UTF-8, not JSON, not an object or does not start with '{',
 * a name given twice, an unknown dtype, a bad shape, offsets that are not
 * `[begin, end]` integers, a size `numel × dtype size` different from `end − begin`,
 * holes, overlaps or out-of-range offsets, trailing bytes after the last tensor,
 * and metadata values that are not strings.
 *
 * @example
 * const { tensors, metadata } = gl.io.decodeSafetensors(fs.readFileSync('model.safetensors'));
 *
 * Reference: `safetensors.torch.load(bytes)`; the Rust crate's `SafeTensors::deserialize`.
 * Introduced in notebooks/02-optim.
 */
export function decodeSafetensors(bytes: Uint8Array, { source = 'safetensors', copy = false }: DecodeOptions = {}): SafetensorsFile {
  const where = source;
  const L = bytes.length;
  if (L < 8) fail(where, `the file is ${L} bytes long, shorter than the 8-byte header length that starts every safetensors file`, 'the file is truncated or not a safetensors file');
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(where, `bytes 0-7 give a header length of ${n64}, more than the format's limit ${MAX_HEADER_BYTES}`, 'this is not a safetensors file (or its first bytes are damaged)');
  const n = Number(n64);
  if (8 + n > L) fail(where, `bytes 0-7 give a header length of ${n}, but the file has only ${L - 8} bytes after them`, 'the file is truncated (an interrupted copy or download?): get it again');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail(where, `the header (bytes 8-${8 + n}) is not valid UTF-8`, 'the header is damaged');
  }
  if (text[0] !== '{') fail(where, `the header (bytes 8-${8 + n}) must start with '{', it starts with ${JSON.stringify(clip(text, 20))}`, 'the header is damaged or this is not a safetensors file');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(where, `the header (bytes 8-${8 + n}) is not valid JSON: ${(e as Error).message}`, 'the header is damaged');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail(where, 'the header is not a JSON object', 'the header is damaged');
  const dup = duplicateKey(text);
  if (dup !== null) fail(where, `the header gives '${dup}' twice`, 'a name must appear once; the header is damaged or was written by a faulty writer');
  const dataStart = 8 + n;
  const dataLen = L - dataStart;
  const metadata: Record<string, string> = {};
  const infos: { name: string; dtype: Dtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) fail(where, `__metadata__ is ${JSON.stringify(info)}, not an object`, 'metadata must map strings to strings');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(where, `__metadata__.${k} is ${clip(JSON.stringify(v))} (a ${v === null ? 'null' : typeof v}), not a string`, 'metadata values must be strings');
        metadata[k] = v;
      }
      continue;
    }
    const at = `tensor '${name}'`;
    if (typeof info !== 'object' || info === null || Array.isArray(info)) fail(where, `${at} is described by ${clip(JSON.stringify(info))}, not an object`, 'each tensor needs {dtype, shape, data_offsets}');
    const { dtype, shape, data_offsets: offs, ...rest } = info as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length) fail(where, `${at} has unknown field(s) ${extra.join(', ')}`, 'a tensor has only dtype, shape and data_offsets');
    if (typeof dtype !== 'string' || !(dtype in CTORS)) fail(where, `${at} has dtype ${JSON.stringify(dtype)}, which gradlab does not know`, `known dtypes: ${Object.keys(CTORS).join(', ')}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(where, `${at} has shape ${clip(JSON.stringify(shape))}`, 'a shape is a list of integers ≥ 0');
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && d >= 0) || offs[0] > offs[1]) {
      fail(where, `${at} has data_offsets ${clip(JSON.stringify(offs))}`, 'data_offsets must be [begin, end], integers with 0 ≤ begin ≤ end');
    }
    const [begin, end] = offs as [number, number];
    const want = numel(shape as number[]) * DTYPE_SIZES[dtype as Dtype];
    if (end - begin !== want) {
      fail(where, `${at} is ${dtype} [${(shape as number[]).join(', ')}], ${want} bytes, but its data_offsets [${begin}, ${end}] span ${end - begin} bytes`, 'the header is damaged (or shape / dtype / offsets disagree)');
    }
    infos.push({ name, dtype: dtype as Dtype, shape: shape as number[], begin, end });
  }
  infos.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const t of infos) {
    if (t.begin < pos) fail(where, `tensor '${t.name}' at data_offsets [${t.begin}, ${t.end}] overlaps the tensor before it, which ends at ${pos}`, 'the header is damaged');
    if (t.begin > pos) fail(where, `there is a hole in the data: bytes [${pos}, ${t.begin}) belong to no tensor (the next is '${t.name}')`, 'the header is damaged');
    pos = t.end;
  }
  if (pos > dataLen) fail(where, `the tensors need ${pos} bytes of data but the file has only ${dataLen} after the header`, 'the file is truncated (an interrupted copy or download?): get it again');
  if (pos < dataLen) fail(where, `the file has ${dataLen - pos} trailing bytes after the last tensor (data ends at ${pos}, the file at ${dataLen})`, 'the file is damaged, or something was appended to it');
  const tensors = new Map<string, SafeTensor>();
  for (const t of infos) {
    const ctor = CTORS[t.dtype];
    const abs = bytes.byteOffset + dataStart + t.begin;
    const count = (t.end - t.begin) / ctor.BYTES_PER_ELEMENT;
    let data: DtypeArray;
    if (!copy && abs % ctor.BYTES_PER_ELEMENT === 0) data = new ctor(bytes.buffer, abs, count);
    else {
      data = new ctor(count);
      new Uint8Array(data.buffer).set(bytes.subarray(dataStart + t.begin, dataStart + t.end));
    }
    tensors.set(t.name, { dtype: t.dtype, shape: t.shape, data } as SafeTensor);
  }
  return { tensors, metadata, dataStart };
}

/** Float32 values of fp16 bits (IEEE 754 binary16: 1 sign, 5 exponent, 10 mantissa bits). Exact: every fp16 is a float32. Reference: `torch.Tensor.float()` on a float16 tensor. */
export function f16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!;
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    out[i] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1024 + m) * 2 ** (e - 25);
  }
  return out;
}

/** Float32 values of bfloat16 bits (the top 16 bits of a float32). Exact. Reference: `torch.Tensor.float()` on a bfloat16 tensor. */
export function bf16ToFloat32(bits: Uint16Array): Float32Array {
  const u = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return new Float32Array(u.buffer);
}

/**
 * bfloat16 bits of float32 values, rounding to nearest, ties to even; NaN → 0x7FC0
 * (`(u + 0x7FFF + ((u >> 16) & 1)) >> 16` on the float32 bits u).
 * Reference: `torch.Tensor.to(torch.bfloat16)`.
 */
export function float32ToBf16(values: Float32Array): Uint16Array {
  const u = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < u.length; i++) {
    const x = u[i]!;
    out[i] = (x & 0x7fffffff) > 0x7f800000 ? 0x7fc0 | ((x >>> 16) & 0x8000) : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/**
 * fp16 bits of float32 values, rounding to nearest, ties to even (65520 → Inf,
 * 2⁻²⁵ → 0, subnormals kept); NaN → 0x7E00 with its sign.
 * Reference: `torch.Tensor.half()`, `numpy.float16`.
 */
export function float32ToF16(values: Float32Array): Uint16Array {
  const u = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < u.length; i++) {
    const x = u[i]!;
    const sign = (x >>> 16) & 0x8000;
    const e = (x >>> 23) & 0xff;
    const m = x & 0x7fffff;
    let h: number;
    if (e === 0xff) h = m ? 0x7e00 : 0x7c00;
    else {
      // Value = 1.m × 2^(e−127); fp16 keeps 10 mantissa bits at exponent ≥ −14, fewer below.
      const exp = e - 127;
      if (exp > 15) h = 0x7c00;
      else {
        const full = e === 0 ? m : m | 0x800000; // 24-bit significand (float32 subnormals: far below fp16's range)
        const shift = exp >= -14 ? 13 : 13 + (-14 - exp); // bits to drop
        if (shift > 24) h = 0;
        else {
          const kept = Math.floor(full / 2 ** shift);
          const rem = full - kept * 2 ** shift;
          const half = 2 ** (shift - 1);
          const r = kept + (rem > half || (rem === half && kept & 1) ? 1 : 0);
          // Normal: exponent field (exp+15) above the 10 stored bits; the carry of r into bit 10 bumps it.
          h = exp >= -14 ? ((exp + 14) << 10) + r : r;
          if (h >= 0x7c00) h = 0x7c00;
        }
      }
    }
    out[i] = sign | h;
  }
  return out;
}
