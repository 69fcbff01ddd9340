/**
 * `npm run bench -- dist`: gradlab's ring all-reduce between real processes on
 * loopback (2 and 4 ranks, 1 KiB to 256 MiB) and the raw point-to-point
 * throughput of the same transport between two processes: one way (a stream,
 * the reference) and both ways at once (an exchange, what each link of
 * a ring carries), plus the same stream over ZeroMQ (PUSH/PULL), the transport
 * gradlab's data used before.
 * nccl-tests definitions (PERFORMANCE.md): algbw = S / t; all-reduce
 * busbw = algbw · 2(n−1)/n. Ratios: busbw / raw point-to-point throughput.
 * (The gloo column is measured separately, with torch.distributed.)
 */
import { spawnRanks } from '../src/dist';
import { glooReference } from './dist-gloo';
import { median, type BenchResult } from './report';

const MiB = 1 << 20;

/**
 * Point-to-point: rank 0 streams `reps` messages of `bytes` to rank 1, which
 * receives them into one preallocated array (receives posted ahead, as a
 * transport's best case) and acks the last one. Bytes/s.
 */
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
          for (let i = 0; i < k; i++) await pg.send(x, 1, trial, x.length);
          await pg.recv(1, 'ack');
        } else {
          await Promise.all(Array.from({ length: k }, () => pg.recvInto(0, String(trial), x, false, x.length)));
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

/** Exchange: both ranks send `reps` messages of `bytes` to each other at once, received into preallocated arrays. Bytes/s per direction. */
export async function p2pExchange(bytes: number, reps: number): Promise<number> {
  const res = await spawnRanks({
    nproc: 2,
    args: [bytes, reps],
    timeoutMs: 120_000,
    fn: async (pg: import('../src/dist').ProcessGroup, gl: typeof import('../src'), [b, k]: [number, number]) => {
      const x = new Float32Array(b / 4).fill(1), y = new Float32Array(b / 4);
      const times: number[] = [];
      for (let trial = 0; trial < 3; trial++) {
        await gl.dist.barrier(pg);
        const t0 = performance.now();
        const peer = 1 - pg.rank;
        await Promise.all([
          ...Array.from({ length: k }, () => pg.recvInto(peer, String(trial), y, false, y.length)),
          (async () => {
            for (let i = 0; i < k; i++) await pg.send(x, peer, trial, x.length);
          })(),
        ]);
        times.push((performance.now() - t0) / 1000);
      }
      return times;
    },
  });
  return (bytes * reps) / median(res[0]!.result as number[]);
}

/** The stream of {@link p2pThroughput} over ZeroMQ PUSH/PULL on TCP loopback (zeromq v6, no high-water mark). Bytes/s. */
export async function p2pZeroMQ(bytes: number, reps: number): Promise<number> {
  const res = await spawnRanks({
    nproc: 2,
    args: [bytes, reps, require.resolve('zeromq')],
    timeoutMs: 120_000,
    fn: async (pg: import('../src/dist').ProcessGroup, _gl: unknown, [b, k, zmqPath]: [number, number, string]) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const zmq = require(zmqPath) as typeof import('zeromq');
      const times: number[] = [];
      if (pg.rank === 1) {
        const pull = new zmq.Pull({ receiveHighWaterMark: 0 });
        await pull.bind('tcp://127.0.0.1:*');
        await pg.send(Float32Array.of(Number(/:(\d+)$/.exec(pull.lastEndpoint!)![1])), 0, 'port');
        for (let trial = 0; trial < 3; trial++) {
          for (let i = 0; i < k; i++) await pull.receive();
          await pg.send(new Float32Array(0), 0, 'ack');
        }
        pull.close();
      } else {
        const push = new zmq.Push({ sendHighWaterMark: 0 });
        push.connect(`tcp://127.0.0.1:${(await pg.recv(1, 'port'))[0]}`);
        const x = Buffer.alloc(b, 1);
        for (let trial = 0; trial < 3; trial++) {
          const t0 = performance.now();
          for (let i = 0; i < k; i++) await push.send(x);
          await pg.recv(1, 'ack');
          times.push((performance.now() - t0) / 1000);
        }
        push.close();
      }
      return times;
    },
  });
  return (bytes * reps) / median(res[0]!.result as number[]);
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
  out.push({ name: 'p2p 64 MiB (2 processes, one way)', value: p2p / 1e9, unit: 'GB/s', reference: 'itself', ratio: 1 });
  const exchange = await p2pExchange(64 * MiB, 4);
  out.push({ name: 'p2p 64 MiB exchange (both ways at once)', value: exchange / 1e9, unit: 'GB/s per direction', reference: 'p2p one way', ratio: exchange / p2p });
  const zmq = await p2pZeroMQ(64 * MiB, 4);
  out.push({ name: 'p2p 64 MiB over ZeroMQ (PUSH/PULL, TCP)', value: zmq / 1e9, unit: 'GB/s', reference: 'p2p one way', ratio: zmq / p2p });
  // gloo (torch.distributed, one thread per rank) at the same sizes, median times as gradlab's.
  const sizes = [1024, 64 * 1024, MiB, 16 * MiB, 64 * MiB, 256 * MiB];
  const gloo = glooReference({ worlds: [2, 4], minBytes: 1024, maxBytes: 256 * MiB, collectives: ['all_reduce'] });
  for (const n of [2, 4]) {
    for (const bytes of sizes) {
      const reps = bytes >= 16 * MiB ? 5 : 20;
      const t = await ringAllReduceTime(n, bytes, reps);
      const busbw = (bytes / t) * ((2 * (n - 1)) / n);
      const size = bytes >= MiB ? `${bytes / MiB} MiB` : `${bytes / 1024} KiB`;
      out.push({ name: `ring all-reduce busbw n=${n} ${size}`, value: busbw / 1e9, unit: 'GB/s', reference: 'raw p2p 64 MiB', ratio: busbw / p2p });
      if (bytes === 64 * MiB) {
        out.push({ name: `  vs p2p exchange n=${n} ${size}`, value: busbw / 1e9, unit: 'GB/s', reference: 'p2p exchange 64 MiB', ratio: busbw / exchange });
      }
      const g = gloo.rows.find((r) => r.collective === 'all_reduce' && r.n === n && r.bytes === bytes);
      if (g) {
        const glooBus = (bytes / g.median) * ((2 * (n - 1)) / n);
        out.push({ name: `  vs gloo all_reduce n=${n} ${size}`, value: glooBus / 1e9, unit: 'GB/s (gloo busbw, median)', reference: `torch ${gloo.torch} gloo`, ratio: busbw / glooBus });
      }
    }
  }
  return out;
}
