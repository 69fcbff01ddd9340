/**
 * `npm run bench -- dist`: gradlab's ring all-reduce between real processes on
 * loopback (2 and 4 ranks, 1 KiB to 64 MiB) and the raw point-to-point
 * throughput of the same ZeroMQ transport between two processes.
 * nccl-tests definitions (PERFORMANCE.md): algbw = S / t; all-reduce
 * busbw = algbw · 2(n−1)/n. Ratios: busbw / raw point-to-point throughput.
 * (The gloo column is measured separately, with torch.distributed.)
 */
import { spawnRanks } from '../src/dist';
import { glooReference } from './dist-gloo';
import { median, type BenchResult } from './report';

const MiB = 1 << 20;

/** Point-to-point: rank 0 streams `reps` messages of `bytes` to rank 1, which acks the last one. Bytes/s. */
export async function p2pThroughput(bytes: number, reps: number): Promise<number> {
  const res = await spawnRanks({
    nproc: 2,
    args: [bytes, reps],
    timeoutMs: 120_000,
    fn: async (pg: import('../src/dist').ProcessGroup, _d: unknown, [b, k]: [number, number]) => {
      const x = new Float32Array(b / 4).fill(1);
      const times: number[] = [];
      for (let trial = 0; trial < 3; trial++) {
        const t0 = performance.now();
        if (pg.rank === 0) {
          for (let i = 0; i < k; i++) await pg.send(x, 1, trial);
          await pg.recv(1, 'ack');
        } else {
          for (let i = 0; i < k; i++) await pg.recv(0, trial);
          await pg.send(new Float32Array(0), 0, 'ack');
        }
        times.push((performance.now() - t0) / 1000);
      }
      return times;
    },
  });
  const t = median(res[0]!.result as number[]);
  return (bytes * reps) / t;
}

/** Ring all-reduce of `bytes` on `n` ranks: median seconds per call (rank 0, after a barrier). */
export async function ringAllReduceTime(n: number, bytes: number, reps: number): Promise<number> {
  const res = await spawnRanks({
    nproc: n,
    args: [bytes, reps],
    timeoutMs: 120_000,
    fn: async (pg: import('../src/dist').ProcessGroup, gl: typeof import('../src'), [b, k]: [number, number]) => {
      const d = gl.dist;
      const x = new Float32Array(b / 4).fill(1);
      await d.allReduce(pg, x);
      const times: number[] = [];
      for (let i = 0; i < k; i++) {
        await d.barrier(pg);
        const t0 = performance.now();
        await d.allReduce(pg, x);
        times.push((performance.now() - t0) / 1000);
      }
      return times;
    },
  });
  return median(res[0]!.result as number[]);
}

export async function benchDist(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const p2p = await p2pThroughput(64 * MiB, 4);
  out.push({ name: 'p2p 64 MiB (2 processes)', value: p2p / 1e9, unit: 'GB/s', reference: 'itself', ratio: 1 });
  // gloo (torch.distributed, one thread per rank) at the same sizes, median times as gradlab's.
  const sizes = [1024, 64 * 1024, MiB, 16 * MiB, 64 * MiB, 256 * MiB];
  const gloo = glooReference({ worlds: [2, 4], minBytes: 1024, maxBytes: 256 * MiB, collectives: ['all_reduce'] });
  for (const n of [2, 4]) {
    for (const bytes of sizes) {
      const reps = bytes >= 64 * MiB ? 3 : bytes >= 16 * MiB ? 5 : 20;
      const t = await ringAllReduceTime(n, bytes, reps);
      const busbw = (bytes / t) * ((2 * (n - 1)) / n);
      const size = bytes >= MiB ? `${bytes / MiB} MiB` : `${bytes / 1024} KiB`;
      out.push({ name: `ring all-reduce busbw n=${n} ${size}`, value: busbw / 1e9, unit: 'GB/s', reference: 'raw p2p 64 MiB', ratio: busbw / p2p });
      const g = gloo.rows.find((r) => r.collective === 'all_reduce' && r.n === n && r.bytes === bytes);
      if (g) {
        const glooBus = (bytes / g.median) * ((2 * (n - 1)) / n);
        out.push({ name: `  vs gloo all_reduce n=${n} ${size}`, value: glooBus / 1e9, unit: 'GB/s (gloo busbw, median)', reference: `torch ${gloo.torch} gloo`, ratio: busbw / glooBus });
      }
    }
  }
  return out;
}
