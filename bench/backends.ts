/**
 * `npm run bench -- backends`: matmul throughput (GFLOP/s) of each backend
 * that loads here, as a ratio to tfjs's plain-JavaScript cpu backend measured
 * in the same run. A 256x256 matmul is 2·256³ FLOPs.
 */
import * as gl from '../src';
import { median, type BenchResult } from './report';

const tf = gl.tf;

async function gflops(n: number, reps: number): Promise<number> {
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  const times: number[] = [];
  for (let i = 0; i < reps + 2; i++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    await c.data(); // forces the computation (and the device sync on a GPU)
    const dt = performance.now() - t0;
    c.dispose();
    if (i >= 2) times.push(dt); // two warm-up runs (kernel compilation, caches)
  }
  tf.dispose([a, b]);
  return (2 * n ** 3) / (median(times) / 1e3) / 1e9;
}

export async function benchBackends(): Promise<BenchResult[]> {
  const n = 256;
  const measured: { name: string; device: string; value: number }[] = [];
  for (const backend of ['cpu', 'wasm', 'webgpu', 'tensorflow'] as const) {
    try {
      const info = await gl.init({ backend });
      measured.push({ name: backend, device: info.device, value: await gflops(n, backend === 'cpu' ? 5 : 20) });
    } catch (e) {
      console.log(`  ${backend}: skipped (${e instanceof gl.BackendError ? e.summary : (e as Error).message})`);
    }
  }
  const ref = measured.find((m) => m.name === 'cpu')!;
  return measured.map((m) => ({
    name: `matmul ${n}x${n} on ${m.name} (${m.device})`,
    value: m.value,
    unit: 'GFLOP/s',
    reference: `tfjs cpu backend, same run (${ref.value.toPrecision(3)} GFLOP/s)`,
    ratio: m.value / ref.value,
  }));
}
