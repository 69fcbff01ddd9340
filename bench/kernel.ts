/**
 * `npm run bench -- kernel`: the gradlab kernel against plain tslab, both
 * type-checking, measured in the same run:
 *
 * - start to ready: spawn to the first kernel_info_reply (with IOPub live),
 *   median of a few starts (targets: ≤ 1.0x tslab);
 * - start to first result: spawn to the reply of a first `1 + 1` (the type
 *   checker is built by then), so the early kernel_info of gradlab's socket
 *   thread is not mistaken for a faster compiler;
 * - warm cell: round trip of `1 + 1` once warm, median of 50 (target ≤ 1.2x).
 */
import * as path from 'path';
import { KernelClient } from '../kernel/client';
import { kernelArgv } from '../kernel/spec';
import { median, type BenchResult } from './report';

const ROOT = path.resolve(__dirname, '..', '..');
const STARTS = 5;
const WARM = 50;

interface Kernel {
  name: string;
  argv: (connectionFile: string) => string[];
}

const KERNELS: Kernel[] = [
  { name: 'gradlab', argv: kernelArgv },
  { name: 'tslab', argv: (f) => [process.execPath, path.join(ROOT, 'node_modules', 'tslab', 'bin', 'tslab'), 'kernel', '--config-path', f] },
];

interface Times {
  ready: number[];
  first: number[];
  warm: number[];
}

/** One cold start: spawn to ready, and to the result of a first cell. */
async function measureStart(k: Kernel, t: Times): Promise<void> {
  const t0 = performance.now();
  const client = await KernelClient.start({ cwd: ROOT, argv: k.argv, log: () => undefined });
  t.ready.push(performance.now() - t0);
  try {
    const r = await client.execute('1 + 1');
    t.first.push(performance.now() - t0);
    if (r.status !== 'ok') throw new Error(`${k.name}: 1 + 1 failed: ${JSON.stringify(r.reply)}`);
  } finally {
    await client.shutdown();
  }
}

/** Warm round trips, both kernels running, one cell on each in turn (drift hits both alike). */
async function measureWarm(times: Map<string, Times>): Promise<void> {
  const open = async (k: Kernel) => {
    const c = await KernelClient.start({ cwd: ROOT, argv: k.argv, log: () => undefined });
    for (let i = 0; i < 10; i++) await c.execute('1 + 1');
    return c;
  };
  const clients = await Promise.all(KERNELS.map(open));
  try {
    for (let i = 0; i < WARM; i++) {
      for (const [j, k] of KERNELS.entries()) {
        for (;;) {
          const a = performance.now();
          try {
            await clients[j]!.execute('1 + 1', { timeoutMs: 5000 });
            times.get(k.name)!.warm.push(performance.now() - a);
            break;
          } catch (e) {
            // Plain tslab sometimes loses a reply under a stream of requests (its sends are not
            // serialised); that kernel is stuck: replace it and measure the cell again.
            console.log(`  ${k.name} did not answer (${(e as Error).message}); restarting it`);
            await clients[j]!.kill();
            clients[j] = await open(k);
          }
        }
      }
    }
  } finally {
    await Promise.all(clients.map((c) => c.shutdown()));
  }
}

export async function benchKernel(): Promise<BenchResult[]> {
  const times = new Map<string, Times>(KERNELS.map((k) => [k.name, { ready: [], first: [], warm: [] }]));
  // Alternate the kernels so that drift on a shared machine hits both alike.
  for (let i = 0; i < STARTS; i++) {
    for (const k of KERNELS) {
      await measureStart(k, times.get(k.name)!);
      const t = times.get(k.name)!;
      console.log(`  start ${i + 1}/${STARTS} ${k.name}: ready ${t.ready.at(-1)!.toFixed(0)} ms, first result ${t.first.at(-1)!.toFixed(0)} ms`);
    }
  }
  await measureWarm(times);
  const g = times.get('gradlab')!;
  const s = times.get('tslab')!;
  const row = (name: string, mine: number[], ref: number[], what: string): BenchResult => ({
    name,
    value: median(mine),
    unit: 'ms',
    reference: `plain tslab ${what}, same run (${median(ref).toFixed(1)} ms)`,
    ratio: median(mine) / median(ref),
  });
  return [
    row(`gradlab kernel start to ready (first kernel_info_reply, median of ${STARTS})`, g.ready, s.ready, 'start to ready'),
    row(`gradlab kernel start to first cell result (median of ${STARTS})`, g.first, s.first, 'start to first result'),
    row(`gradlab warm cell round trip of 1 + 1 (median of ${WARM})`, g.warm, s.warm, 'warm 1 + 1'),
  ];
}
