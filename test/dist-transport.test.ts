/**
 * src/dist's data path: the WebAssembly SIMD addition against the JavaScript
 * loop (bit for bit, specials included); the stream parser (`Inbound`) fed
 * frames in reads of every awkward size, so floats split across reads, headers
 * split across reads and payloads that arrive before their receive are all
 * exercised; `recvInto` (posted ahead, filled in order; a size mismatch leaves
 * the target alone); and both transports (Unix socket and TCP) on real processes.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import { ROOT } from './helpers/child';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const dist = require(path.join(ROOT, 'dist', 'src', 'dist')) as typeof import('../src/dist');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const simd = require(path.join(ROOT, 'dist', 'src', 'dist', 'simd')) as typeof import('../src/dist/simd');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const group = require(path.join(ROOT, 'dist', 'src', 'dist', 'group')) as typeof import('../src/dist/group');

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Same float32 value (NaNs equal to each other whatever their payload; +0 and −0 distinct). */
function sameF32(a: number, b: number): boolean {
  return (Number.isNaN(a) && Number.isNaN(b)) || Object.is(a, b);
}

/** One frame as the sender writes it: u32 length, JSON header, payload. */
function frame(header: object, payload?: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const head = Buffer.alloc(4);
  head.writeUInt32LE(json.length, 0);
  return Buffer.concat([head, json, payload ? Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength) : Buffer.alloc(0)]);
}

describe('dist data path: SIMD addition, stream parser, transports', function () {
  this.timeout(120_000);

  it('the WebAssembly SIMD addition is available and bit-identical to the JavaScript loop (random, specials, every tail length)', () => {
    assert.equal(simd.simdAvailable(), true, 'Node 20 has WebAssembly SIMD; without it the test would only check the fallback');
    const r = rng(7);
    const specials = [0, -0, Infinity, -Infinity, NaN, 1e-45, -1e-45, 1.1754942e-38, 3.4028235e38, -3.4028235e38, 1, -1, 0.1, 16777216, 16777217];
    for (const n of [0, 1, 3, 4, 5, 63, 64, 65, 1000, 131_073, 1_000_003]) {
      const a = new Float32Array(n), b = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const pick = r();
        a[i] = pick < 0.05 ? specials[Math.floor(r() * specials.length)] : (r() - 0.5) * 10 ** Math.floor(r() * 12 - 6);
        b[i] = r() < 0.05 ? specials[Math.floor(r() * specials.length)] : (r() - 0.5) * 10 ** Math.floor(r() * 12 - 6);
      }
      const want = a.slice(), got = a.slice();
      simd.addF32Js(want, b);
      simd.addF32(got, b);
      for (let i = 0; i < n; i++) if (!sameF32(got[i], want[i])) assert.fail(`n=${n} i=${i}: ${a[i]} + ${b[i]} gave ${got[i]}, JavaScript ${want[i]}`);
    }
    // The overflow and rounding cases by value, not only against the loop.
    const x = Float32Array.of(3.4028235e38, 1, 16777216, -0, 0.1);
    simd.addF32(x, Float32Array.of(3.4028235e38, 2 ** -24, 1, -0, 0.2));
    assert.deepEqual(Array.from(x.subarray(0, 3)), [Infinity, 1, 16777216]);
    assert.ok(Object.is(x[3], -0));
    assert.equal(x[4], Math.fround(Math.fround(0.1) + Math.fround(0.2)));
  });

  it('Inbound parses frames from reads of every size: floats and headers split across reads, early payloads, adds and copies', () => {
    const r = rng(11);
    for (let trial = 0; trial < 40; trial++) {
      const a = Float32Array.from({ length: 1 + Math.floor(r() * 300_000) }, () => r() - 0.5);
      const b = Float32Array.from({ length: 1 + Math.floor(r() * 5000) }, () => r() - 0.5);
      const c = Float32Array.from({ length: Math.floor(r() * 3) }, () => r());
      const stream = Buffer.concat([
        frame({ k: 'hb', w: 2 }),
        frame({ k: 'm', tag: 'add', len: a.byteLength, total: a.length }, new Uint8Array(a.buffer)),
        frame({ k: 'm', tag: 'copy', len: b.byteLength, total: b.length }, new Uint8Array(b.buffer)),
        frame({ k: 'm', tag: 'early', len: c.byteLength, total: c.length }, new Uint8Array(c.buffer)),
        frame({ k: 'bye' }),
      ]);
      const base = Float32Array.from({ length: a.length }, () => r() - 0.5);
      const sum = base.slice();
      simd.addF32Js(sum, a);
      const copyInto = new Float32Array(b.length);
      const seen: string[] = [];
      let early: Uint8Array | null = null;
      const p = new group.Inbound(
        (f) => {
          seen.push(f.k === 'm' ? `m:${f.tag}` : f.k);
          if (f.k !== 'm') return null;
          if (f.tag === 'add') return { floats: base, done: () => seen.push('done:add') };
          if (f.tag === 'copy') return { bytes: new Uint8Array(copyInto.buffer), done: () => seen.push('done:copy') };
          const into = new Uint8Array(f.len);
          return { bytes: into, done: () => ((early = into), seen.push('done:early')) };
        },
        () => undefined,
        (e) => assert.fail(e),
      );
      // Feed the stream as a socket would: each read fills at most what next() offers, and at most `limit` bytes.
      const small = trial % 2 === 0;
      let off = 0;
      while (off < stream.length) {
        const dst = p.next();
        const limit = small ? 1 + Math.floor(r() * 7) : 1 + Math.floor(r() * 200_000);
        const k = Math.min(dst.length, limit, stream.length - off);
        assert.ok(dst.length > 0, 'next() offered an empty buffer');
        stream.copy(dst, 0, off, off + k);
        off += k;
        p.onRead(k);
      }
      assert.deepEqual(seen, ['hb', 'm:add', 'done:add', 'm:copy', 'done:copy', 'm:early', 'done:early', 'bye']);
      for (let i = 0; i < sum.length; i++) if (!sameF32(base[i], sum[i])) assert.fail(`trial ${trial}: added float ${i} is ${base[i]}, want ${sum[i]}`);
      assert.deepEqual(copyInto, b);
      assert.deepEqual(new Float32Array(early!.buffer as ArrayBuffer, early!.byteOffset, c.length), c);
    }
  });

  it('recvInto: receives posted ahead fill in order (copy and add); a size mismatch leaves the target alone and returns the header', async () => {
    const res = await dist.spawnRanks({
      nproc: 2,
      timeoutMs: 30_000,
      fn: async (pg: import('../src/dist').ProcessGroup) => {
        if (pg.rank === 0) {
          for (let k = 0; k < 4; k++) await pg.send(Float32Array.from({ length: 1000 }, (_, i) => i + 1000 * k), 1, 't', 1000);
          await pg.send(new Float32Array(5).fill(9), 1, 'bad', 5);
          return pg.transport;
        }
        const a = Array.from({ length: 3 }, () => new Float32Array(1000).fill(0.5));
        const posted = a.map((x, k) => pg.recvInto(0, 't', x, k === 1, 1000));
        const last = await pg.recv(0, 't'); // the 4th message, after the three posted ones
        await Promise.all(posted);
        const keep = new Float32Array(4).fill(-1);
        const h = await pg.recvInto(0, 'bad', keep, false, 4);
        return { a: a.map((x) => [x[0], x[999]]), last: [last[0], last[999]], h, keep: Array.from(keep), transport: pg.transport };
      },
    });
    const r1 = res[1].result as { a: number[][]; last: number[]; h: { len: number; total: number }; keep: number[]; transport: string };
    assert.deepEqual(r1.a, [[0, 999], [1000.5, 1999.5], [2000, 2999]]);
    assert.deepEqual(r1.last, [3000, 3999]);
    assert.deepEqual([r1.h.len, r1.h.total], [20, 5]);
    assert.deepEqual(r1.keep, [-1, -1, -1, -1]);
    assert.equal(r1.transport, process.platform === 'linux' ? 'unix' : 'tcp');
  });

  for (const transport of ['tcp', 'unix'] as const) {
    it(`GRADLAB_DIST_TRANSPORT=${transport}: a 3-rank ring all-reduce of 1 000 003 floats equals the float64 sum`, async function () {
      if (transport === 'unix' && process.platform !== 'linux') this.skip();
      const before = process.env.GRADLAB_DIST_TRANSPORT;
      process.env.GRADLAB_DIST_TRANSPORT = transport;
      try {
        const res = await dist.spawnRanks({
          nproc: 3,
          timeoutMs: 60_000,
          fn: async (pg: import('../src/dist').ProcessGroup, gl: typeof import('../src')) => {
            const N = 1_000_003, inp = (q: number) => Float32Array.from({ length: N }, (_, i) => Math.cos(i * 0.11 + q) * (q + 1));
            const y = await gl.dist.allReduce(pg, inp(pg.rank));
            const ref = new Float64Array(N), mag = new Float64Array(N);
            for (let q = 0; q < pg.worldSize; q++) inp(q).forEach((v, i) => ((ref[i] += v), (mag[i] += Math.abs(v))));
            let worst = 0;
            for (let i = 0; i < N; i++) worst = Math.max(worst, Math.abs(y[i] - ref[i]) / (mag[i] + 1e-30));
            return { worst, transport: pg.transport };
          },
        });
        for (const r of res) {
          const v = r.result as { worst: number; transport: string };
          assert.equal(v.transport, transport);
          assert.ok(v.worst < 1e-6, `rank ${r.rank}: relative error ${v.worst}`);
        }
      } finally {
        if (before === undefined) delete process.env.GRADLAB_DIST_TRANSPORT;
        else process.env.GRADLAB_DIST_TRANSPORT = before;
      }
    });
  }

  it('a bad GRADLAB_DIST_TRANSPORT is a clear error naming the value and the choices', async () => {
    const before = process.env.GRADLAB_DIST_TRANSPORT;
    process.env.GRADLAB_DIST_TRANSPORT = 'carrier-pigeon';
    try {
      await assert.rejects(dist.initProcessGroup({ rank: 0, worldSize: 1, masterPort: await dist.freePort(), timeoutMs: 2000 }), /GRADLAB_DIST_TRANSPORT="carrier-pigeon"; use tcp or unix/);
    } finally {
      if (before === undefined) delete process.env.GRADLAB_DIST_TRANSPORT;
      else process.env.GRADLAB_DIST_TRANSPORT = before;
    }
  });
});
