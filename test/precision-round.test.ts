/**
 * precision.roundTo (the tensor op) and roundArray / toBits / fromBits (plain JS)
 * bit for bit against NumPy: fp16 by `numpy.float16`, bf16 by the
 * `(u + 0x7FFF + ((u >> 16) & 1)) >> 16` rule, E4M3 / E5M2 by a round-to-nearest-even
 * written with integer operations on `numpy.uint32` views (checked in the script
 * against numpy.float16 for the fp16 case, so the integer code is itself tested).
 * Inputs: hand-picked edge cases and one million seeded random float32 values
 * (subnormal, normal and overflow ranges of every format, ties at every bit,
 * and raw random bit patterns with NaN / Inf), exchanged as binary files.
 * On cpu and wasm in process, and on webgpu in a child process.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { tf } from '../src/backend/tf';
import { FORMATS, type FloatFormat, formatInfo, fromBits, representableValues, roundArray, roundScalar, roundTo, toBits } from '../src/precision';
import { IN_WEBGPU_CHILD, suiteBackends, useBackend, webgpuSuite } from './helpers/backend';
import { PYTHON } from './helpers/torch';

/** Edge cases, each with why it is there. */
const EDGES: [number, string][] = [
  [0, '+0'], [-0, '−0'], [NaN, 'NaN'], [Infinity, '+Inf'], [-Infinity, '−Inf'],
  [1, 'one'], [-1, 'minus one'],
  [65504, 'fp16 max'], [65519.99, 'just below the fp16 overflow threshold'], [65520, 'fp16 overflow threshold (tie → Inf)'],
  [-65520, '−threshold'], [65536, '2^16'], [65505, 'just above fp16 max'],
  [2 ** -14, 'fp16 min normal'], [2 ** -14 - 2 ** -25, 'fp16 largest subnormal region'], [2 ** -24, 'fp16 min subnormal'],
  [2 ** -25, 'half fp16 min subnormal: tie → 0'], [2 ** -25 * (1 + 2 ** -23), 'just above: → 2^-24'], [-(2 ** -25), '−tie → −0'],
  [3 * 2 ** -25, 'tie 1.5·2^-24 → 2·2^-24 (even)'], [5 * 2 ** -25, 'tie 2.5·2^-24 → 2·2^-24 (even)'],
  [1 + 2 ** -11, 'fp16 tie above 1 → 1'], [1 + 3 * 2 ** -11, 'fp16 tie → 1 + 2^-9'], [1 + 2 ** -11 + 2 ** -23, 'just above a tie'],
  [1 + 2 ** -8, 'bf16 tie → 1'], [1 + 3 * 2 ** -8, 'bf16 tie → 1 + 2^-6'],
  [3.3895313892515355e38, 'bf16 max'], [3.3961775292304546e38, 'bf16 overflow threshold (tie → Inf)'], [3.4028234663852886e38, 'float32 max'],
  [2 ** -126, 'float32 / bf16 min normal'], [2 ** -133, 'bf16 min subnormal'], [2 ** -134, 'half of it: tie → 0'], [3 * 2 ** -134, 'tie → 2^-132'],
  [1.1754942106924411e-38, 'largest float32 subnormal'], [1.401298464324817e-45, 'smallest float32 subnormal'],
  [448, 'E4M3 max'], [464, 'E4M3 tie between 448 and the NaN code → 448'], [464.00003, 'just above → NaN / 448'], [480, 'E4M3 → NaN'], [-500, '−out of range'],
  [2 ** -6, 'E4M3 min normal'], [2 ** -9, 'E4M3 min subnormal'], [2 ** -10, 'tie → 0'], [3 * 2 ** -10, 'tie → 2^-8'], [2 ** -10 * 1.0001, '→ 2^-9'],
  [57344, 'E5M2 max'], [61440, 'E5M2 overflow threshold (tie → Inf)'], [61439.996, 'just below'], [2 ** -16, 'E5M2 min subnormal'], [2 ** -17, 'tie → 0'],
  [0.1, '0.1'], [-3.14159, 'π'], [1e-30, 'tiny'], [1e30, 'huge'], [1e-40, 'a float32 subnormal'],
];
const EDGE_VALUES = Float32Array.from(EDGES.map(([v]) => v));
const N_RANDOM = 1_000_000;

/**
 * NumPy reference. Reads edges.bin, makes the seeded random inputs, writes
 * random.bin and <format>-edges.bin / <format>-random.bin (float32 results), plus
 * e4m3sat-*.bin (E4M3 saturating). Prints finfo facts as JSON.
 */
const SCRIPT = String.raw`
import json, sys, os
import numpy as np
d = sys.argv[1]; n = int(sys.argv[2])
edges = np.fromfile(os.path.join(d, 'edges.bin'), dtype=np.float32)

rng = np.random.default_rng(20240905)
def bits(exp_lo, exp_hi, k, ties):
    # float32 bit patterns: random sign, exponent field in [exp_lo, exp_hi], random mantissa;
    # with ties, the low t bits (t random in 1..23) are set to 100...0 (an exact halfway point at bit t).
    s = rng.integers(0, 2, k, dtype=np.uint32) << 31
    e = rng.integers(exp_lo, exp_hi + 1, k, dtype=np.uint32) << 23
    m = rng.integers(0, 1 << 23, k, dtype=np.uint32)
    if ties:
        t = rng.integers(1, 24, k, dtype=np.uint32)
        m = (m & ~((np.uint32(1) << t) - np.uint32(1))) | (np.uint32(1) << (t - np.uint32(1)))
    return s | e | m
FMT = {'fp16': (5, 10), 'bf16': (8, 7), 'e4m3': (4, 3), 'e5m2': (5, 2)}
parts = [rng.integers(0, 1 << 32, n - 8 * (n // 10), dtype=np.uint64).astype(np.uint32)]  # any bits: NaN, Inf, float32 subnormals
for f, (E, M) in FMT.items():
    bias = 2 ** (E - 1) - 1
    lo = max(0, 127 + (1 - bias) - M - 3)   # below the smallest subnormal
    hi = min(254, 127 + bias + 3)           # above the largest finite
    parts.append(bits(lo, hi, n // 10, False))
    parts.append(bits(lo, hi, n // 10, True))
rand = np.concatenate(parts).view(np.float32)
rand = rand[rng.permutation(rand.size)]
assert rand.size == n
rand.tofile(os.path.join(d, 'random.bin'))

def ref(x, E, M, e4m3=False, saturate=False):
    # Round float32 x to the format with E exponent and M mantissa bits, nearest even, integer arithmetic.
    u = x.view(np.uint32).astype(np.int64)
    neg = (u >> 31) == 1
    ex = (u >> 23) & 0xFF
    man = u & 0x7FFFFF
    sig = np.where(ex == 0, man, man | 0x800000)
    exp = np.where(ex == 0, -126, ex - 127)
    bias = 2 ** (E - 1) - 1
    emin = 1 - bias
    shift = np.minimum(23 - M + np.maximum(0, emin - exp), 40)
    kept = sig >> shift
    rem = sig & ((np.int64(1) << shift) - 1)
    half = np.int64(1) << (shift - 1)
    r = kept + ((rem > half) | ((rem == half) & ((kept & 1) == 1))).astype(np.int64)
    val = np.ldexp(r.astype(np.float64), (np.maximum(exp, emin) - M).astype(np.int32))
    maxf = 448.0 if e4m3 else (2 - 2.0 ** -M) * 2.0 ** bias
    over = (val > maxf) | ((ex == 255) & (man == 0))
    val[over] = (maxf if saturate else np.nan) if e4m3 else np.inf
    val[(ex == 255) & (man != 0)] = np.nan
    val = np.where(neg, -val, val)
    return val.astype(np.float32)

def same(a, b):
    return bool(np.all((a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))))

def bf16(x):
    u = x.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint32)
    r = np.where(np.isnan(x), np.uint32(0x7FC0), r)
    return (r << 16).astype(np.uint32).view(np.float32)

checks = {}
for name, x in (('edges', edges), ('random', rand)):
    with np.errstate(over='ignore'):
        f16 = x.astype(np.float16).astype(np.float32)
    out = {'fp16': f16, 'bf16': bf16(x), 'e4m3': ref(x, 4, 3, e4m3=True), 'e5m2': ref(x, 5, 2), 'e4m3sat': ref(x, 4, 3, e4m3=True, saturate=True)}
    # The integer reference must agree with numpy.float16 and with the bf16 bit rule.
    checks[name + ' fp16: integer reference == numpy.float16'] = same(ref(x, 5, 10), f16)
    checks[name + ' bf16: integer reference == bit rule'] = same(ref(x, 8, 7), out['bf16'])
    for f, v in out.items():
        v.tofile(os.path.join(d, f + '-' + name + '.bin'))
fi = np.finfo(np.float16)
print(json.dumps({'checks': checks, 'numpy': np.__version__,
  'fp16': {'max': float(fi.max), 'tiny': float(fi.tiny), 'eps': float(fi.eps), 'sub': float(fi.smallest_subnormal)}}))
`;

type Ref = { dir: string; checks: Record<string, boolean>; numpy: string; fp16: { max: number; tiny: number; eps: number; sub: number } };
let ref: Ref | { skip: string } | undefined;

/** Run the NumPy script once per process (the webgpu child runs it again for itself). */
function numpyRef(): Ref | { skip: string } {
  if (ref) return ref;
  const dir = mkdtempSync(join(tmpdir(), 'gradlab-precision-'));
  writeFileSync(join(dir, 'edges.bin'), Buffer.from(EDGE_VALUES.buffer));
  writeFileSync(join(dir, 'ref.py'), SCRIPT);
  const r = spawnSync(PYTHON, [join(dir, 'ref.py'), dir, String(N_RANDOM)], { encoding: 'utf8', timeout: 300_000 });
  if (r.error || r.status !== 0) {
    const why = r.error ? String(r.error) : r.stderr.trim().split('\n').slice(-3).join(' ');
    rmSync(dir, { recursive: true, force: true });
    if (/No module named 'numpy'|ENOENT/.test(why) && process.env.CI !== 'true') return (ref = { skip: `NumPy reference unavailable: ${why}` });
    throw new Error(`the NumPy reference script failed: ${why}`);
  }
  ref = { dir, ...(JSON.parse(r.stdout) as Omit<Ref, 'dir'>) };
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return ref;
}

function need(ctx: Mocha.Context): Ref {
  const r = numpyRef();
  if ('skip' in r) {
    console.log(`      skipped: ${r.skip}`);
    ctx.skip();
  }
  return r as Ref;
}

function readF32(dir: string, name: string): Float32Array {
  const b = readFileSync(join(dir, `${name}.bin`));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

const hex = (v: number) => '0x' + new Uint32Array(Float32Array.of(v).buffer)[0]!.toString(16).padStart(8, '0');

/** Indices where got and want differ as float32 bits (any NaN matches any NaN). */
function mismatches(x: Float32Array, got: Float32Array, want: Float32Array): string[] {
  assert.equal(got.length, want.length);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  const bad: string[] = [];
  for (let i = 0; i < g.length; i++) {
    if (g[i] === w[i] || (Number.isNaN(got[i]) && Number.isNaN(want[i]))) continue;
    if (bad.length < 8) bad.push(`[${i}] x=${x[i]} (${hex(x[i]!)}): got ${got[i]} (${hex(got[i]!)}), want ${want[i]} (${hex(want[i]!)})`);
    else bad.push('');
  }
  return bad;
}

function assertSame(what: string, x: Float32Array, got: Float32Array, want: Float32Array): void {
  const bad = mismatches(x, got, want);
  assert.equal(bad.length, 0, `${what}: ${bad.length} of ${x.length} differ from NumPy, e.g.\n  ${bad.filter(Boolean).join('\n  ')}`);
}

const CASES: { key: string; format: FloatFormat; saturate: boolean }[] = [
  ...FORMATS.map((format) => ({ key: format, format, saturate: false })),
  { key: 'e4m3sat', format: 'e4m3', saturate: true },
];

if (!IN_WEBGPU_CHILD) {
  describe('precision: the NumPy reference and the format facts', function () {
    this.timeout(300_000);

    it("the reference's integer rounding agrees with numpy.float16 and with the bf16 bit rule", function () {
      const r = need(this);
      for (const [k, ok] of Object.entries(r.checks)) assert.ok(ok, `reference self-check failed: ${k}`);
    });

    it('formatInfo matches numpy.finfo(float16) and the OCP FP8 / bfloat16 definitions', function () {
      const r = need(this);
      const h = formatInfo('fp16');
      assert.deepEqual([h.maxFinite, h.minNormal, h.epsilon, h.minSubnormal], [r.fp16.max, r.fp16.tiny, r.fp16.eps, r.fp16.sub]);
      // bf16: (2 − 2^−7)·2^127, 2^−126, 2^−133, ε = 2^−7 (torch.finfo(torch.bfloat16)).
      const b = formatInfo('bf16');
      assert.deepEqual([b.maxFinite, b.minNormal, b.minSubnormal, b.epsilon, b.bias], [3.3895313892515355e38, 2 ** -126, 2 ** -133, 2 ** -7, 127]);
      // OCP FP8 spec Table 1: E4M3 bias 7, max 448 = 1.75·2^8, min normal 2^−6, min subnormal 2^−9, no Inf.
      const e4 = formatInfo('e4m3');
      assert.deepEqual([e4.bias, e4.maxFinite, e4.minNormal, e4.minSubnormal, e4.epsilon, e4.hasInfinity], [7, 448, 2 ** -6, 2 ** -9, 2 ** -3, false]);
      // E5M2: bias 15, max 57344 = 1.75·2^15, min normal 2^−14, min subnormal 2^−16, has Inf.
      const e5 = formatInfo('e5m2');
      assert.deepEqual([e5.bias, e5.maxFinite, e5.minNormal, e5.minSubnormal, e5.epsilon, e5.hasInfinity], [15, 57344, 2 ** -14, 2 ** -16, 2 ** -2, true]);
      assert.throws(() => formatInfo('fp32' as FloatFormat), /formatInfo: unknown format 'fp32'; use one of 'fp16', 'bf16', 'e4m3', 'e5m2'/);
    });

    it('representableValues lists exactly the values of the non-negative finite codes, in order', () => {
      const maxCode: Record<FloatFormat, number> = { fp16: 0x7bff, bf16: 0x7f7f, e4m3: 0x7e, e5m2: 0x7b };
      for (const f of FORMATS) {
        const n = maxCode[f] + 1;
        const codes = f === 'fp16' || f === 'bf16' ? Uint16Array.from({ length: n }, (_, i) => i) : Uint8Array.from({ length: n }, (_, i) => i);
        assert.deepEqual(Array.from(representableValues(f)), Array.from(fromBits(codes, f)), f);
        const all = representableValues(f);
        assert.equal(all[all.length - 1], formatInfo(f).maxFinite, `${f}: the last value is the max`);
      }
      assert.equal(representableValues('e4m3').length, 127);
      assert.equal(representableValues('fp16', { perBinade: 4 }).length, 4 + 30 * 4 + 0);
      assert.throws(() => representableValues('e5m2', { perBinade: 8 }), /perBinade must be a power of two from 1 to 4 for e5m2, got 8/);
    });
  });

  describe('precision.roundArray / toBits / fromBits (plain JS)', function () {
    this.timeout(300_000);

    it('roundArray is bit-exact against NumPy on the edge cases and on a million random values', function () {
      const r = need(this);
      const rand = readF32(r.dir, 'random');
      for (const { key, format, saturate } of CASES) {
        assertSame(`roundArray ${key} edges`, EDGE_VALUES, roundArray(EDGE_VALUES, format, { saturate }), readF32(r.dir, `${key}-edges`));
        assertSame(`roundArray ${key} random`, rand, roundArray(rand, format, { saturate }), readF32(r.dir, `${key}-random`));
      }
    });

    it('states the rounding of the named edge cases', () => {
      assert.deepEqual(Array.from(roundArray([65519.99, 65520, 2 ** -25, 2 ** -25 * (1 + 2 ** -23)], 'fp16')), [65504, Infinity, 0, 2 ** -24]);
      assert.ok(Object.is(roundScalar(-(2 ** -25), 'fp16'), -0), '−2^−25 rounds to −0 in fp16');
      assert.deepEqual(Array.from(roundArray([464, 465, Infinity], 'e4m3')).map(String), ['448', 'NaN', 'NaN']);
      assert.deepEqual(Array.from(roundArray([464, 465, -Infinity, NaN], 'e4m3', { saturate: true })).map(String), ['448', '448', '-448', 'NaN']);
      assert.deepEqual(Array.from(roundArray([61439.996, 61440], 'e5m2')), [57344, Infinity]);
    });

    it('toBits / fromBits round-trip every fp8 code and use the documented NaN / Inf codes', () => {
      for (const f of ['e4m3', 'e5m2'] as const) {
        const codes = Uint8Array.from({ length: 256 }, (_, i) => i);
        const back = toBits(fromBits(codes, f), f) as Uint8Array;
        for (let c = 0; c < 256; c++) {
          const isNaNCode = f === 'e4m3' ? (c & 0x7f) === 0x7f : (c & 0x7c) === 0x7c && (c & 3) !== 0;
          if (isNaNCode) assert.equal(back[c]! & 0x7f, f === 'e4m3' ? 0x7f : 0x7e, `${f} NaN code ${c}`);
          else assert.equal(back[c], c, `${f} code 0x${c.toString(16)}`);
        }
      }
      assert.deepEqual(Array.from(toBits(Float32Array.of(Infinity, -Infinity, NaN, 1, -0), 'e5m2')), [0x7c, 0xfc, 0x7e, 0x3c, 0x80]);
      assert.deepEqual(Array.from(toBits(Float32Array.of(Infinity, 448, 1, -(2 ** -9)), 'e4m3')), [0x7f, 0x7e, 0x38, 0x81]);
      assert.deepEqual(Array.from(toBits(Float32Array.of(65504, 1), 'fp16')), [0x7bff, 0x3c00]);
      assert.throws(() => fromBits(new Uint8Array(2), 'fp16'), /fromBits: fp16 bits come as a Uint16Array, got a Uint8Array/);
    });
  });
}

for (const backend of suiteBackends(['cpu', 'wasm'])) {
  describe(`precision.roundTo on ${backend}`, function () {
    this.timeout(600_000);
    before(() => useBackend(backend));

    it('is bit-exact against NumPy on the edge cases', async function () {
      const r = need(this);
      for (const { key, format, saturate } of CASES) {
        const x = tf.tensor1d(EDGE_VALUES);
        const y = roundTo(x, format, { saturate });
        const got = (await y.data()) as Float32Array;
        tf.dispose([x, y]);
        assertSame(`roundTo ${key} edges on ${backend}`, EDGE_VALUES, got, readF32(r.dir, `${key}-edges`));
      }
    });

    it('is bit-exact against NumPy on a million random values, leaking nothing', async function () {
      const r = need(this);
      const rand = readF32(r.dir, 'random');
      const x = tf.tensor1d(rand);
      const start = tf.memory().numTensors;
      for (const { key, format, saturate } of CASES) {
        const t0 = performance.now();
        const y = roundTo(x, format, { saturate });
        const got = (await y.data()) as Float32Array;
        const ms = performance.now() - t0;
        y.dispose();
        console.log(`      ${key}: ${N_RANDOM} values in ${ms.toFixed(0)} ms (incl. read-back)`);
        assertSame(`roundTo ${key} random on ${backend}`, rand, got, readF32(r.dir, `${key}-random`));
      }
      assert.equal(tf.memory().numTensors, start, 'roundTo leaked tensors');
      x.dispose();
    });

    it('rejects a non-float32 tensor and an unknown format, naming them', () => {
      const i = tf.tensor1d([1, 2], 'int32');
      assert.throws(() => roundTo(i, 'fp16'), /roundTo: x must be float32, got int32 \[2\]; cast it first/);
      const z = tf.zeros([1]);
      assert.throws(() => roundTo(z, 'fp8' as FloatFormat), /roundTo: unknown format 'fp8'/);
      tf.dispose([i, z]);
    });
  });
}

webgpuSuite(__filename, 'precision.roundTo');
