/**
 * `npm run bench -- probes`: memory bandwidth of gradlab's copy and triad
 * (`gl.probes.measureBandwidth`, on the backend `await gl.init()` picks: wasm on a
 * machine without a GPU) against, in the same run and at the same array size:
 *   - a STREAM-style copy and triad in C (bench/stream.c), compiled here with
 *     `gcc -O3 -march=native`, one thread: the reference (target: gradlab copy ≥ 0.8x);
 *     also the same source with `-fopenmp` on 2 threads, as an extra figure;
 *   - NumPy's copy (`np.copyto(c, a)`) and a two-pass triad with `out=` arrays,
 *     in /usr/bin/python3 (skipped with the reason when NumPy is missing).
 * Arrays are float32, 4 × the last-level cache each (at least 64 MiB, capped by the
 * backend; the L3 size comes from /sys), so they live in DRAM. Every figure is the
 * best of 10 repetitions (STREAM's rule) and the best of 5 rounds; the rounds run
 * C, gradlab and NumPy in turn, so a shared machine's load slows each alike.
 * Bytes are counted as STREAM counts them (copy 2 arrays, triad 3).
 */
import { spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';
import * as gl from '../src';
import { median, type BenchResult } from './report';

const PYTHON = process.env.GRADLAB_PYTHON ?? '/usr/bin/python3';
const ROUNDS = 5;
const REPEATS = 10;

/** The last-level cache in bytes, from /sys (index3, else the highest index), or 32 MiB if unknown. */
function lastLevelCache(): number {
  for (const idx of [3, 2, 1]) {
    try {
      const s = readFileSync(`/sys/devices/system/cpu/cpu0/cache/index${idx}/size`, 'utf8').trim();
      const m = /^(\d+)([KMG]?)$/.exec(s);
      if (m) return Number(m[1]) * { '': 1, K: 1024, M: 2 ** 20, G: 2 ** 30 }[m[2] as '' | 'K' | 'M' | 'G'];
    } catch {
      /* try the next level */
    }
  }
  return 32 * 2 ** 20;
}

interface StreamResult {
  threads: number;
  valid: boolean;
  gbps: { copy: number; scale: number; add: number; triad: number };
}

const NUMPY = `
import json, sys, time
import numpy as np
n, reps = int(sys.argv[1]), int(sys.argv[2])
a = np.ones(n, np.float32); b = np.full(n, 2, np.float32); c = np.zeros(n, np.float32); t = np.empty_like(a)
def best(f):
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    return min(ts)
def triad():
    np.multiply(c, np.float32(0.4), out=t); np.add(b, t, out=a)
copy = best(lambda: np.copyto(c, a))
tr = best(triad)
print(json.dumps({"numpy": np.__version__, "copy": 2 * 4 * n / copy / 1e9, "triad": 3 * 4 * n / tr / 1e9}))
`;

/** Run the probes benchmark (see the file's comment); returns the figures for out/bench/probes.json. */
export async function benchProbes(): Promise<BenchResult[]> {
  const info = await gl.init();
  console.log(`  ${gl.describe(info)}`);
  console.log(`  ${gl.probes.deviceFacts().description}`);
  const llc = lastLevelCache();
  const bytes = Math.min(Math.max(4 * llc, 64 * 2 ** 20), gl.probes.maxArrayBytes());
  const n = Math.floor(bytes / 4);
  console.log(`  arrays: ${n} float32 = ${(bytes / 2 ** 20).toFixed(0)} MiB each (4 × L3 ${(llc / 2 ** 20).toFixed(0)} MiB), best of ${REPEATS}, best of ${ROUNDS} rounds`);

  const dir = mkdtempSync(join(tmpdir(), 'gradlab-stream-'));
  const src = resolve(__dirname, '..', '..', 'bench', 'stream.c');
  const build = (out: string, extra: string[]) => spawnSync('gcc', ['-O3', '-march=native', ...extra, '-o', join(dir, out), src], { encoding: 'utf8' });
  const b1 = build('stream', []);
  if (b1.status !== 0) throw new Error(`bench probes: gcc failed to build bench/stream.c (${b1.error?.message ?? b1.stderr}); install gcc`);
  const omp = build('stream-omp', ['-fopenmp']).status === 0;
  if (!omp) console.log('  C OpenMP: skipped (gcc -fopenmp failed)');
  const runC = (exe: string, threads: number): StreamResult => {
    const r = spawnSync(join(dir, exe), [String(n), String(REPEATS + 1)], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
    if (r.status !== 0) throw new Error(`bench probes: ${exe} failed (exit ${r.status}): ${r.stderr}${r.stdout}`);
    return JSON.parse(r.stdout) as StreamResult;
  };
  writeFileSync(join(dir, 'copy.py'), NUMPY);

  const best = { c1copy: 0, c1triad: 0, c2copy: 0, c2triad: 0, glcopy: 0, gltriad: 0, npcopy: 0, nptriad: 0 };
  const paired: number[] = [];
  let numpy: string | null = null;
  let numpySkip = '';
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const c1 = runC('stream', 1);
      if (!c1.valid) throw new Error('bench probes: the C STREAM run failed its own validation');
      best.c1copy = Math.max(best.c1copy, c1.gbps.copy);
      best.c1triad = Math.max(best.c1triad, c1.gbps.triad);
      if (omp) {
        const c2 = runC('stream-omp', 2);
        best.c2copy = Math.max(best.c2copy, c2.gbps.copy);
        best.c2triad = Math.max(best.c2triad, c2.gbps.triad);
      }
      const rows = await gl.probes.measureBandwidth({ kernels: ['copy', 'triad'], sizes: [bytes], repeats: REPEATS, warmup: 2 });
      const copy = rows.find((r) => r.kernel === 'copy')!;
      best.glcopy = Math.max(best.glcopy, copy.gbps);
      paired.push(copy.gbps / c1.gbps.copy);
      best.gltriad = Math.max(best.gltriad, rows.find((r) => r.kernel === 'triad')!.gbps);
      if (!numpySkip) {
        const p = spawnSync(PYTHON, [join(dir, 'copy.py'), String(n), String(REPEATS)], { encoding: 'utf8', timeout: 300_000 });
        if (p.status !== 0) {
          numpySkip = p.error?.message ?? (p.stderr.trim().split('\n').at(-1) || `exit ${p.status}`);
        } else {
          const r = JSON.parse(p.stdout) as { numpy: string; copy: number; triad: number };
          numpy = r.numpy;
          best.npcopy = Math.max(best.npcopy, r.copy);
          best.nptriad = Math.max(best.nptriad, r.triad);
        }
      }
      console.log(`  round ${round + 1}: C copy ${c1.gbps.copy.toFixed(1)}, gradlab copy ${copy.gbps.toFixed(1)} GB/s (spread ${copy.spread.toFixed(2)})`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (numpySkip) console.log(`  NumPy: skipped (${numpySkip}); install python3-numpy for ${PYTHON} to compare`);

  const be = gl.tf.getBackend();
  const C1 = 'C STREAM, gcc -O3 -march=native, 1 thread';
  const results: BenchResult[] = [
    { name: `gradlab copy (${be}, best)`, value: best.glcopy, unit: 'GB/s', reference: `${C1}, copy`, ratio: best.glcopy / best.c1copy },
    { name: `gradlab copy / C copy (${be}, median of ${ROUNDS} paired rounds)`, value: median(paired), unit: 'ratio', reference: `${C1}, copy, same round`, ratio: median(paired) },
    { name: `gradlab triad (${be}, two kernels)`, value: best.gltriad, unit: 'GB/s', reference: `${C1}, triad`, ratio: best.gltriad / best.c1triad },
    { name: 'C copy, 1 thread', value: best.c1copy, unit: 'GB/s', reference: `${C1}, copy (itself)`, ratio: 1 },
    { name: 'C triad, 1 thread', value: best.c1triad, unit: 'GB/s', reference: `${C1}, triad (itself)`, ratio: 1 },
  ];
  if (omp) {
    results.push(
      { name: 'C copy, OpenMP 2 threads', value: best.c2copy, unit: 'GB/s', reference: `${C1}, copy`, ratio: best.c2copy / best.c1copy },
      { name: 'C triad, OpenMP 2 threads', value: best.c2triad, unit: 'GB/s', reference: `${C1}, triad`, ratio: best.c2triad / best.c1triad },
    );
  }
  if (numpy) {
    results.push(
      { name: `NumPy ${numpy} copyto`, value: best.npcopy, unit: 'GB/s', reference: `${C1}, copy`, ratio: best.npcopy / best.c1copy },
      { name: `NumPy ${numpy} triad (2 passes, out=)`, value: best.nptriad, unit: 'GB/s', reference: `${C1}, triad`, ratio: best.nptriad / best.c1triad },
    );
  }
  return results;
}
