/**
 * The addition at the heart of a reduction, `dst[i] += src[i]` over float32,
 * four lanes at a time with WebAssembly SIMD (f32x4.add).
 *
 * Why: a JavaScript loop adds about 0.5 G elements/s here (V8 does not
 * vectorise it), about 8x slower than copying the same bytes. In a ring
 * all-reduce every rank adds (n−1)/n of the vector once, so with 4 ranks on
 * 2 cores the JavaScript additions alone took a third of the collective.
 * WebAssembly only reads its own memory, so {@link SimdAdder} owns a small
 * staging area: bytes received from a socket are read straight into it
 * (`B`), the matching part of the destination is copied in (`A`), added
 * (`A += B`) and copied back — three passes over cache-resident memory, about
 * 3.5x faster than the JavaScript loop.
 *
 * The module is 151 bytes, assembled below from named opcodes (WebAssembly
 * core specification 2.0, §5 "Binary Format"; SIMD opcodes from the
 * fixed-width SIMD proposal) so it can be read without tools:
 *
 *     (func (export "add") (param $dst i32) (param $src i32) (param $n i32) (local $i i32)
 *       (block (loop                                    ;; 16 bytes = 4 floats at a time
 *         (br_if 1 (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $n)))
 *         (v128.store (i32.add $dst $i) (f32x4.add (v128.load (i32.add $dst $i)) (v128.load (i32.add $src $i))))
 *         (local.set $i (i32.add (local.get $i) (i32.const 16))) (br 0)))
 *       (block (loop                                    ;; the last 0–3 floats one at a time
 *         (br_if 1 (i32.ge_u (local.get $i) (local.get $n)))
 *         (f32.store (i32.add $dst $i) (f32.add (f32.load (i32.add $dst $i)) (f32.load (i32.add $src $i))))
 *         (local.set $i (i32.add (local.get $i) (i32.const 4))) (br 0))))
 *
 * IEEE 754 float32 addition rounds to nearest even in both WebAssembly and
 * a JavaScript store into a Float32Array (the double sum of two floats is
 * rounded once to float32, which gives the same result), so both paths give
 * bit-identical sums.
 *
 * Introduced in notebooks/04-distributed (the ring all-reduce).
 */

const OP = {
  block: 0x02, loop: 0x03, end: 0x0b, br: 0x0c, brIf: 0x0d, void: 0x40,
  localGet: 0x20, localSet: 0x21, i32Const: 0x41, i32Add: 0x6a, i32GtU: 0x4b, i32GeU: 0x4f,
  f32Load: 0x2a, f32Store: 0x38, f32Add: 0x92,
} as const;
const V128_LOAD = [0xfd, 0x00, 0x00, 0x00]; // prefix 0xfd, opcode 0, memarg {align 2^0, offset 0}
const V128_STORE = [0xfd, 0x0b, 0x00, 0x00];
const F32X4_ADD = [0xfd, 0xe4, 0x01]; // opcode 228 as LEB128
const MEMARG_F32 = [0x02, 0x00]; // align 2^2, offset 0
const [DST, SRC, N, I] = [0, 1, 2, 3];

function leb128(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

function assemble(): Uint8Array<ArrayBuffer> {
  const at = (base: number) => [OP.localGet, base, OP.localGet, I, OP.i32Add];
  const step = (k: number) => [OP.localGet, I, OP.i32Const, k, OP.i32Add, OP.localSet, I, OP.br, 0];
  const body = [
    1, 1, 0x7f, // one local of type i32 ($i)
    OP.block, OP.void, OP.loop, OP.void,
    OP.localGet, I, OP.i32Const, 16, OP.i32Add, OP.localGet, N, OP.i32GtU, OP.brIf, 1,
    ...at(DST), ...at(DST), ...V128_LOAD, ...at(SRC), ...V128_LOAD, ...F32X4_ADD, ...V128_STORE,
    ...step(16), OP.end, OP.end,
    OP.block, OP.void, OP.loop, OP.void,
    OP.localGet, I, OP.localGet, N, OP.i32GeU, OP.brIf, 1,
    ...at(DST), ...at(DST), OP.f32Load, ...MEMARG_F32, ...at(SRC), OP.f32Load, ...MEMARG_F32, OP.f32Add, OP.f32Store, ...MEMARG_F32,
    ...step(4), OP.end, OP.end,
    OP.end,
  ];
  const section = (id: number, bytes: number[]) => [id, ...leb128(bytes.length), ...bytes];
  const name = (s: string) => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, [1, 0x60, 3, 0x7f, 0x7f, 0x7f, 0]), // type: (i32, i32, i32) -> ()
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(5, [1, 0x00, 1]), // one memory, at least 1 page (64 KiB)
    ...section(7, [2, ...name('add'), 0x00, 0, ...name('mem'), 0x02, 0]), // exports
    ...section(10, [1, ...leb128(body.length), ...body]), // code
  ]);
}

let compiled: WebAssembly.Module | null | undefined;

/** The compiled module, or null where WebAssembly SIMD is unavailable (then the adders fall back to JavaScript). */
function simdModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(assemble());
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/** Whether the SIMD path is in use (false on an engine without WebAssembly SIMD). */
export function simdAvailable(): boolean {
  return simdModule() !== null;
}

/**
 * `dst[i] += src[i]` with plain JavaScript: the reference the SIMD path is
 * tested against, and the fallback without WebAssembly SIMD.
 */
export function addF32Js(dst: Float32Array, src: Float32Array): void {
  const n = Math.min(dst.length, src.length);
  for (let i = 0; i < n; i++) dst[i] += src[i];
}

/**
 * A staging area in its own WebAssembly memory, of `stageBytes` for the
 * received bytes (`stage`, which a socket may read into directly) and as
 * many for the destination's copy. Each has its own memory, which never
 * grows: a socket read pending into `stage` holds a pointer to it.
 */
export class SimdAdder {
  /** Bytes a socket may read into before {@link addStaged} (a multiple of 16). */
  readonly stage: Buffer;
  private readonly add: ((dst: number, src: number, n: number) => void) | null;
  private readonly a: Float32Array;
  private readonly b: Float32Array;

  constructor(readonly stageBytes = 1 << 19) {
    if (stageBytes % 16 !== 0 || stageBytes <= 0) throw new RangeError(`SimdAdder: stageBytes=${stageBytes} must be a positive multiple of 16`);
    const mod = simdModule();
    let buffer: ArrayBuffer;
    if (mod) {
      const inst = new WebAssembly.Instance(mod);
      const mem = inst.exports.mem as WebAssembly.Memory;
      const pages = Math.ceil((2 * stageBytes) / 65536);
      mem.grow(pages - 1);
      buffer = mem.buffer;
      this.add = inst.exports.add as (dst: number, src: number, n: number) => void;
    } else {
      buffer = new ArrayBuffer(2 * stageBytes);
      this.add = null;
    }
    this.a = new Float32Array(buffer, 0, stageBytes / 4);
    this.b = new Float32Array(buffer, stageBytes, stageBytes / 4);
    this.stage = Buffer.from(buffer, stageBytes, stageBytes);
  }

  /** `dst[i] += f32(stage)[i]` for the first `dst.length` floats of the stage (at most stageBytes/4). */
  addStaged(dst: Float32Array): void {
    const m = dst.length;
    if (!this.add) return addF32Js(dst, this.b.subarray(0, m));
    this.a.set(dst);
    this.add(0, this.stageBytes, m * 4);
    dst.set(this.a.subarray(0, m));
  }

  /** `dst[i] += src[i]` (equal lengths), through the stage in pieces of stageBytes. */
  addInto(dst: Float32Array, src: Float32Array): void {
    if (dst.length !== src.length) throw new RangeError(`addInto: lengths differ (${dst.length} and ${src.length})`);
    const step = this.stageBytes / 4;
    for (let o = 0; o < dst.length; o += step) {
      const d = dst.subarray(o, o + step);
      this.b.set(src.subarray(o, o + d.length));
      this.addStaged(d);
    }
  }
}

let shared: SimdAdder | null = null;

/**
 * `dst[i] += src[i]` over float32 with WebAssembly SIMD (a JavaScript loop
 * where SIMD is unavailable); bit-identical to the JavaScript loop. Used by
 * the collectives for every reduction that is not done while receiving.
 */
export function addF32(dst: Float32Array, src: Float32Array): void {
  if (dst.length < 64) return addF32Js(dst, src);
  (shared ??= new SimdAdder()).addInto(dst, src);
}
