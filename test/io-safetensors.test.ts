/**
 * gl.io's safetensors: round trips of every dtype, the fp16/bf16 conversions,
 * strict validation (each malformed file gives its own error), and interchange
 * with Python: a gradlab file parsed by hand in Python (struct/json/numpy, bf16
 * through torch) bit for bit, and a file written by hand in Python from torch
 * tensors' bytes read by gradlab bit for bit.
 */
import { strict as assert } from 'assert';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import * as io from '../src/io';
import { writeAll } from '../src/io/atomic';
import { crc32Js } from '../src/io/crc32';
import { tf } from '../src/backend/tf';
import { useBackend } from './helpers/backend';
import { needTorch, runTorch, type TorchRun } from './helpers/torch';

const u32 = (f: Float32Array) => Array.from(new Uint32Array(f.buffer, f.byteOffset, f.length));

/** Float32 values that exercise rounding: REFERENCE-style fp16/bf16 edge cases, specials, and normals. */
function sourceValues(): Float32Array {
  const special = [0, -0, 1, -1.5, 1 / 3, 65504, 65519.99, 65520, 2 ** -25, 2 ** -25 * 1.0000001, 2 ** -24, 6.1e-5, 1e-7, -2.5e-6, 3.4e38, Infinity, -Infinity, NaN, 1.00390625, 1.01171875, 255.5, -1e-40];
  const out = new Float32Array(special.length + 64);
  out.set(special);
  let s = 12345;
  for (let i = special.length; i < out.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) | 0;
    out[i] = ((s >>> 8) / 2 ** 24 - 0.5) * 2 ** ((i % 40) - 20);
  }
  return out;
}

/** One tensor of every dtype, with edge values (NaN payloads, -0, subnormals, int extremes), rank 0 and empty. */
function allDtypes(): Record<string, io.SafeTensor> {
  const f32 = new Float32Array(12);
  new Uint32Array(f32.buffer).set([0, 0x80000000, 0x3f800000, 0x7fc00000, 0x7fa00001, 0x7f800000, 0xff800000, 0x00000001, 0x7f7fffff, 0x40490fdb, 0xbf000000, 0x807fffff]);
  const src = sourceValues();
  return {
    f32: { dtype: 'F32', shape: [3, 4], data: f32 },
    f64: { dtype: 'F64', shape: [5], data: new Float64Array([Math.PI, -0, 1e308, 5e-324, NaN]) },
    f16: { dtype: 'F16', shape: [src.length], data: io.float32ToF16(src) },
    bf16: { dtype: 'BF16', shape: [src.length], data: io.float32ToBf16(src) },
    i64: { dtype: 'I64', shape: [5], data: new BigInt64Array([0n, -1n, 2n ** 62n, -(2n ** 63n), 2n ** 53n + 1n]) },
    u64: { dtype: 'U64', shape: [2], data: new BigUint64Array([2n ** 64n - 1n, 7n]) },
    i32: { dtype: 'I32', shape: [2, 2], data: new Int32Array([-2147483648, 2147483647, 0, -7]) },
    u32: { dtype: 'U32', shape: [2], data: new Uint32Array([4294967295, 1]) },
    i16: { dtype: 'I16', shape: [3], data: new Int16Array([-32768, 32767, -1]) },
    u16: { dtype: 'U16', shape: [2], data: new Uint16Array([65535, 1]) },
    i8: { dtype: 'I8', shape: [3], data: new Int8Array([-128, 127, 0]) },
    u8: { dtype: 'U8', shape: [3], data: new Uint8Array([0, 255, 7]) },
    bool: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    scalar: { dtype: 'F32', shape: [], data: new Float32Array([42.5]) },
    empty: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
  };
}

/** A file from a header (object or raw text) and data bytes, the header padded to 8 unless `pad` is false. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), { pad = true, n }: { pad?: boolean; n?: number } = {}): Uint8Array {
  let text = typeof header === 'string' ? header : JSON.stringify(header);
  if (pad) text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const h = Buffer.from(text, 'utf8');
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(n ?? h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const bytesOf = (...vals: number[]) => new Uint8Array(new Float32Array(vals).buffer);

describe('io: safetensors', () => {
  let dir: string;
  before(async () => {
    await useBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'gradlab-io-st-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips every dtype bit for bit, with a padded header and aligned tensors', () => {
    const ts = allDtypes();
    const bytes = io.encodeSafetensors(ts, { note: 'héllo ✓', json: '{"a":1}' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal((8 + n) % 8, 0, 'header padded to a multiple of 8');
    assert.equal(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8').trimEnd().endsWith('}'), true);
    const back = io.decodeSafetensors(bytes);
    assert.deepEqual(back.metadata, { note: 'héllo ✓', json: '{"a":1}' });
    assert.deepEqual([...back.tensors.keys()].sort(), Object.keys(ts).sort());
    for (const [name, t] of Object.entries(ts)) {
      const b = back.tensors.get(name)!;
      assert.equal(b.dtype, t.dtype, name);
      assert.deepEqual(b.shape, t.shape, name);
      assert.equal(b.data.constructor, t.data.constructor, name);
      assert.deepEqual(Buffer.from(io.tensorBytes(b)), Buffer.from(io.tensorBytes(t)), `${name}: same bytes`);
      assert.equal(b.data.byteOffset % io.DTYPE_SIZES[t.dtype], 0, `${name} is aligned, so viewed in place`);
      assert.equal(b.data.buffer, bytes.buffer, `${name} shares the file's memory (no copy)`);
    }
    // Larger elements first, as the Rust writer does.
    const order = [...back.tensors.values()].map((t) => io.DTYPE_SIZES[t.dtype]);
    assert.deepEqual(order, [...order].sort((a, b) => b - a));
  });

  it('converts float32 to fp16 and bf16 with round-to-nearest-even (the edge cases), and back exactly', () => {
    const h = io.float32ToF16(new Float32Array([65519.99, 65520, 2 ** -25, 2 ** -25 * 1.0000001, 2 ** -24, -0, NaN, -Infinity, 1 + 2 ** -11, 1 + 3 * 2 ** -11]));
    assert.deepEqual(Array.from(h), [0x7bff, 0x7c00, 0x0000, 0x0001, 0x0001, 0x8000, 0x7e00, 0xfc00, 0x3c00, 0x3c02]);
    assert.deepEqual(Array.from(io.f16ToFloat32(h)), [65504, Infinity, 0, 2 ** -24, 2 ** -24, -0, NaN, -Infinity, 1, 1 + 2 * 2 ** -10]);
    const b = io.float32ToBf16(new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8, NaN, -0, 3.4e38, 1 + 2 ** -8 + 2 ** -20]));
    assert.deepEqual(Array.from(b), [0x3f80, 0x3f82, 0x7fc0, 0x8000, 0x7f80, 0x3f81]);
    assert.deepEqual(u32(io.bf16ToFloat32(b)), [0x3f800000, 0x3f820000, 0x7fc00000, 0x80000000, 0x7f800000, 0x3f810000]);
  });

  it('rejects malformed files, each with an error that says what and where', () => {
    const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    const good = rawFile(ok, bytesOf(1, 2));
    assert.doesNotThrow(() => io.decodeSafetensors(good));
    const cases: [string, Uint8Array, RegExp][] = [
      ['shorter than 8 bytes', good.subarray(0, 5), /5 bytes long, shorter than the 8-byte header length/],
      ['header length past the end', good.subarray(0, 20), /header length of \d+, but the file has only 12 bytes after them.*truncated/],
      ['truncated data', good.subarray(0, good.length - 3), /need 8 bytes of data but the file has only 5.*truncated/],
      ['header length over the limit', rawFile(ok, bytesOf(1, 2), { n: 200_000_000 }), /header length of 200000000, more than the format's limit/],
      ['not JSON', rawFile('{"a": {"dtype": "F32",', bytesOf(1, 2)), /\(bytes 8-\d+\) is not valid JSON/],
      ['not starting with {', rawFile('  {"a":1}'), /must start with '\{'/],
      ['not UTF-8', (() => { const f = rawFile(ok, bytesOf(1, 2)); f[10] = 0xff; return f; })(), /is not valid UTF-8/],
      ['unknown dtype', rawFile({ a: { dtype: 'F33', shape: [2], data_offsets: [0, 8] } }, bytesOf(1, 2)), /tensor 'a' has dtype "F33", which gradlab does not know/],
      ['size vs offsets', rawFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, bytesOf(1, 2)), /tensor 'a' is F32 \[3\], 12 bytes, but its data_offsets \[0, 8\] span 8 bytes/],
      ['bad shape', rawFile({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, bytesOf(1, 2)), /tensor 'a' has shape \[-2\]/],
      ['reversed offsets', rawFile({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, bytesOf(1, 2)), /data_offsets \[8,0\]/],
      [
        'overlap',
        rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, bytesOf(1, 2)),
        /tensor 'b' at data_offsets \[4, 8\] overlaps the tensor before it, which ends at 8/,
      ],
      ['hole', rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, bytesOf(1, 2)), /hole in the data: bytes \[0, 4\) belong to no tensor/],
      ['trailing bytes', rawFile(ok, bytesOf(1, 2, 3)), /4 trailing bytes after the last tensor/],
      ['duplicate names', rawFile('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', bytesOf(1, 2)), /gives 'a' twice/],
      ['duplicate field', rawFile('{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}', bytesOf(1, 2)), /gives 'a.dtype' twice/],
      ['non-string metadata', rawFile({ __metadata__: { step: 3 }, ...ok }, bytesOf(1, 2)), /__metadata__.step is 3 \(a number\), not a string/],
      ['unknown field', rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8], x: 1 } }, bytesOf(1, 2)), /tensor 'a' has unknown field\(s\) x/],
    ];
    for (const [what, bytes, re] of cases) {
      assert.throws(
        () => io.decodeSafetensors(bytes, { source: 'f.safetensors' }),
        (e: Error) => {
          assert.equal(e.name, 'SafetensorsError', what);
          assert.match(e.message, /^f\.safetensors: /, what);
          assert.match(e.message, re, `${what}: ${e.message}`);
          return true;
        },
        what,
      );
    }
    // The writer refuses what the reader would.
    assert.throws(() => io.encodeSafetensors({ a: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }), /shape \[3\] \(3 elements\) but 2 values/);
    assert.throws(() => io.encodeSafetensors({ a: { dtype: 'BF16', shape: [1], data: new Float32Array(1) as never } }), /is BF16 but its data is a Float32Array/);
    assert.throws(() => io.encodeSafetensors({ a: { dtype: 'F32', shape: [], data: new Float32Array(1) } }, { k: 1 as never }), /__metadata__.k is a number, not a string/);
  });

  it('reads tensors written at unaligned offsets (by copying them)', () => {
    const data = new Uint8Array(6);
    data.set([1, 2]); // U8 [2] first
    data.set(bytesOf(0), 2); // F32 at offset 2
    const f = io.decodeSafetensors(rawFile({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] }, b: { dtype: 'F32', shape: [1], data_offsets: [2, 6] } }, data));
    assert.deepEqual(Array.from(f.tensors.get('b')!.data as Float32Array), [0]);
  });

  it('computes CRC-32 as zlib does (the check value, incremental, the JavaScript fallback)', () => {
    assert.equal(io.crc32('123456789'), 0xcbf43926); // the standard check value of CRC-32/ISO-HDLC
    assert.equal(io.crc32Text(io.crc32('123456789')), 'crc32:cbf43926');
    assert.equal(io.crc32(new Uint8Array(0)), 0);
    const bytes = new Uint8Array(100_003);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    const whole = io.crc32(bytes);
    assert.equal(io.crc32(bytes.subarray(40_000), io.crc32(bytes.subarray(0, 40_000))), whole, 'crc32(b, crc32(a)) = crc32(a + b)');
    assert.equal(crc32Js(bytes), whole, 'the fallback equals the native CRC');
    assert.equal(crc32Js(bytes.subarray(7), crc32Js(bytes.subarray(0, 7))), whole);
    bytes[5_000]! ^= 0x01;
    assert.notEqual(io.crc32(bytes), whole, 'one flipped bit changes it');
  });

  it('writes many buffers (more than one writev group, empty ones among them) in order, synchronously or not', async () => {
    const bufs = Array.from({ length: 600 }, (_, i) => new Uint8Array(i % 7 === 0 ? 0 : (i % 13) + 1).fill(i & 255));
    const want = Buffer.concat([Buffer.alloc(3), ...bufs]);
    for (const sync of [true, false]) {
      const file = join(dir, `writev-${sync}.bin`);
      const fd = openSync(file, 'w');
      try {
        if (sync) writeAll(fd, bufs, 3, true);
        else await writeAll(fd, bufs, 3, false);
      } finally {
        closeSync(fd);
      }
      assert.deepEqual(readFileSync(file), want, `sync: ${sync}`);
    }
  });

  it('saves and loads files atomically, and converts to and from tfjs without leaks', async () => {
    const start = tf.memory().numTensors;
    const w = tf.tensor([[1, 2], [3, 4]]);
    const i = tf.tensor([1, 2], [2], 'int32');
    const path = join(dir, 'w.safetensors');
    await io.saveSafetensors(path, { w: await io.fromTf(w), i: await io.fromTf(i) });
    assert.equal((await io.loadSafetensors(path)).tensors.get('i')!.dtype, 'I32');
    const f = await io.loadSafetensors(path);
    const back = io.toTf(f.tensors.get('w')!);
    assert.deepEqual(await back.array(), [[1, 2], [3, 4]]);
    const b16 = io.toTf({ dtype: 'BF16', shape: [2], data: io.float32ToBf16(new Float32Array([1.5, -2])) });
    assert.deepEqual(Array.from(await b16.data()), [1.5, -2]);
    assert.throws(() => io.toTf({ dtype: 'I64', shape: [1], data: new BigInt64Array([2n ** 40n]) }, 'ids'), /ids \(I64\) element 0 is 1099511627776, outside int32/);
    tf.dispose([w, i, back, b16]);
    assert.equal(tf.memory().numTensors, start, 'no tensor leaked');
    await assert.rejects(io.loadSafetensors(join(dir, 'nope.safetensors')), /cannot read the file \(ENOENT\)/);
  });

  describe('interchange with Python (hand-parsed, torch for bf16)', () => {
    let fromGradlab: TorchRun<any> | undefined;
    let fromPython: TorchRun<any> | undefined;
    const src = sourceValues();
    before(function () {
      this.timeout(120_000);
      const path = join(dir, 'gradlab.safetensors');
      writeFileSync(path, io.encodeSafetensors(allDtypes(), { note: 'héllo ✓' }));
      fromGradlab = runTorch(PY_READ, { path, src: u32(src) });
      fromPython = runTorch(PY_WRITE, { path: join(dir, 'python.safetensors') });
    });

    it('Python parses a gradlab file by hand and gets every value bit for bit', function () {
      const out = needTorch(this, fromGradlab);
      assert.equal(out.aligned, true, 'header length + 8 is a multiple of 8');
      assert.equal(out.contiguous, true, 'offsets tile the data');
      assert.deepEqual(out.metadata, { note: 'héllo ✓' });
      const ts = allDtypes();
      for (const [name, t] of Object.entries(ts)) {
        const py = out.tensors[name];
        assert.ok(py, `Python saw ${name}`);
        assert.equal(py.dtype, t.dtype, name);
        assert.deepEqual(py.shape, t.shape, name);
        const ours = t.data instanceof BigInt64Array || t.data instanceof BigUint64Array ? Array.from(t.data, String) : t.dtype === 'F32' ? u32(t.data as Float32Array) : t.dtype === 'F64' ? Array.from(new BigUint64Array((t.data as Float64Array).buffer), String) : Array.from(t.data as ArrayLike<number>);
        assert.deepEqual(py.bits, ours, `${name}: the same bits in Python`);
      }
      // Our rounding equals numpy's float16 and torch's bfloat16 on every value.
      assert.deepEqual(out.numpy_f16, Array.from(io.float32ToF16(src)), 'float32ToF16 = numpy astype(float16)');
      // torch's vectorised cast writes NaN as 0xFFFF, its scalar one (and ours) as 0x7FC0: both NaN, so compare NaN-ness there.
      const isNaN16 = (b: number) => (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0;
      const ours16 = Array.from(io.float32ToBf16(src));
      assert.deepEqual(
        ours16.map((b, i) => (Number.isNaN(src[i]) ? isNaN16(b) && isNaN16(out.torch_bf16[i]) : b)),
        out.torch_bf16.map((b: number, i: number) => (Number.isNaN(src[i]) ? true : b)),
        'float32ToBf16 = torch .to(bfloat16)',
      );
      // Widening: torch's bf16 .float() of the file's bf16 tensor, numpy's f16 -> f32, bit for bit.
      assert.deepEqual(out.torch_bf16_float, u32(io.bf16ToFloat32(io.float32ToBf16(src))));
      assert.deepEqual(out.numpy_f16_float, u32(io.f16ToFloat32(io.float32ToF16(src))));
    });

    it('gradlab reads a file Python wrote by hand from torch tensors (f32, bf16, i64, rank 0) bit for bit', async function () {
      const out = needTorch(this, fromPython);
      const f = await io.loadSafetensors(join(dir, 'python.safetensors'));
      assert.deepEqual(f.metadata, { format: 'pt', who: 'python' });
      const a = f.tensors.get('a')!;
      assert.equal(a.dtype, 'F32');
      assert.deepEqual(a.shape, [3, 4]);
      assert.deepEqual(u32(a.data as Float32Array), out.a.map((v: number) => v >>> 0));
      const b = f.tensors.get('b')!;
      assert.equal(b.dtype, 'BF16');
      assert.deepEqual(Array.from(b.data as Uint16Array), out.b);
      assert.deepEqual(u32(io.bf16ToFloat32(b.data as Uint16Array)), out.b_float.map((v: number) => v >>> 0), 'widened like torch .float()');
      const c = f.tensors.get('c')!;
      assert.equal(c.dtype, 'I64');
      assert.deepEqual(Array.from(c.data as BigInt64Array, String), out.c);
      const d = f.tensors.get('d')!;
      assert.deepEqual(d.shape, []);
      assert.deepEqual(u32(d.data as Float32Array), [out.d >>> 0]);
      assert.equal(readFileSync(join(dir, 'python.safetensors')).length, out.size);
    });
  });
});

/** Parse a safetensors file by hand (struct, json, numpy; torch for bf16) and report every tensor's bits. */
const PY_READ = `
import struct
import numpy as np
raw = open(INPUT["path"], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n].decode("utf-8"))
data = raw[8 + n:]
meta = header.pop("__metadata__", {})
spans = sorted(tuple(v["data_offsets"]) for v in header.values())
pos, contiguous = 0, True
for b, e in spans:
    contiguous = contiguous and b == pos
    pos = e
contiguous = contiguous and pos == len(data)
BITS = {"F32": "<u4", "F64": "<u8", "F16": "<u2", "BF16": "<u2", "I64": "<i8", "U64": "<u8", "I32": "<i4", "U32": "<u4",
        "I16": "<i2", "U16": "<u2", "I8": "i1", "U8": "u1", "BOOL": "u1"}
tensors = {}
for name, info in header.items():
    b, e = info["data_offsets"]
    buf = data[b:e]
    if info["dtype"] == "BF16":
        t = torch.frombuffer(bytearray(buf), dtype=torch.bfloat16) if len(buf) else torch.empty(0, dtype=torch.bfloat16)
        bits = [int(v) & 0xFFFF for v in t.view(torch.int16).tolist()]
    else:
        arr = np.frombuffer(buf, dtype=BITS[info["dtype"]])
        bits = [str(int(v)) for v in arr] if info["dtype"] in ("I64", "U64", "F64") else [int(v) for v in arr]
    if info["dtype"] == "BOOL":
        assert np.frombuffer(buf, dtype=np.bool_).tolist() == [bool(v) for v in bits]
    assert int(np.prod(info["shape"])) * np.dtype(BITS[info["dtype"]]).itemsize == e - b
    tensors[name] = {"dtype": info["dtype"], "shape": info["shape"], "bits": bits}
src = np.array(INPUT["src"], dtype=np.uint32).view(np.float32)
f16 = src.astype(np.float16)
bf16 = torch.from_numpy(src.copy()).to(torch.bfloat16)
OUTPUT = {
    "aligned": (8 + n) % 8 == 0, "contiguous": contiguous, "metadata": meta, "tensors": tensors,
    "numpy_f16": [int(v) for v in f16.view(np.uint16)],
    "numpy_f16_float": [int(v) for v in f16.astype(np.float32).view(np.uint32)],
    "torch_bf16": [int(v) & 0xFFFF for v in bf16.view(torch.int16).tolist()],
    "torch_bf16_float": [int(v) & 0xFFFFFFFF for v in torch.tensor([b - 65536 if b > 32767 else b for b in tensors["bf16"]["bits"]], dtype=torch.int16).view(torch.bfloat16).float().view(torch.int32).tolist()],
}
`;

/** Write a safetensors file by hand from torch tensors' bytes; bf16 first so the f32 after it sits at an odd offset... of 2. */
const PY_WRITE = `
import struct
torch.manual_seed(0)
ts = {
    "b": torch.randn(5, dtype=torch.float32).to(torch.bfloat16),
    "a": torch.randn(3, 4, dtype=torch.float32),
    "c": torch.tensor([0, -1, 2**62, -2**63, 2**53 + 1, 12345678901234], dtype=torch.int64),
    "d": torch.tensor(3.5, dtype=torch.float32),
}
names = {"a": "F32", "b": "BF16", "c": "I64", "d": "F32"}
header, blobs, off = {"__metadata__": {"format": "pt", "who": "python"}}, [], 0
for k, t in ts.items():
    blob = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
    header[k] = {"dtype": names[k], "shape": list(t.shape), "data_offsets": [off, off + len(blob)]}
    blobs.append(blob)
    off += len(blob)
text = json.dumps(header).encode("utf-8")
text += b" " * ((8 - len(text) % 8) % 8)
with open(INPUT["path"], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
OUTPUT = {
    "a": ts["a"].view(torch.int32).reshape(-1).tolist(),
    "b": [v & 0xFFFF for v in ts["b"].view(torch.int16).tolist()],
    "b_float": ts["b"].float().view(torch.int32).tolist(),
    "c": [str(v) for v in ts["c"].tolist()],
    "d": ts["d"].view(torch.int32).item(),
    "size": 8 + len(text) + off,
}
`;
