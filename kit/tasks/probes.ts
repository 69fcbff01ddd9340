/**
 * `probes`: the chapter 03 measurements on webgpu, sized for a data-centre GPU.
 *
 * - the raw WGSL copy through Dawn (no tfjs in between): GB/s per size, the best,
 *   and that best as a fraction of each datasheet GPU's bandwidth (the issue's
 *   target is ≥ 0.85 of the H100 / H200 figure);
 * - tfjs's STREAM copy and triad (`measureBandwidth`);
 * - matmul GFLOP/s over square sizes and the saturation size (`measureMatmul`);
 * - the roofline points of the common ops against the measured ceilings;
 * - launch overhead (the fitted fixed cost per op) and the fused MLP epilogue
 *   against the unfused chain.
 *
 * Options: `--max-mib=1024` (largest array, MiB), `--max-n=8192` (largest square
 * matmul), `--repeats=10`. On the software renderer use small values
 * (`--max-mib=4 --max-n=256 --repeats=2`), as the kit's test does.
 */
import { tf } from '../../src/backend/tf';
import {
  DATASHEET_CEILINGS,
  ceilingsFrom,
  fusionProbe,
  launchOverhead,
  measureBandwidth,
  measureMatmul,
  measureRoofline,
  saturation,
  squareShapes,
  wgslCopyBandwidth,
} from '../../src/probes';
import type { KitContext } from '../context';

const MIB = 2 ** 20;

/** Round for a compact JSON line. */
const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** The `probes` task. */
export async function probes(ctx: KitContext): Promise<Record<string, unknown>> {
  const maxBytes = ctx.num('max-mib', 1024) * MIB;
  const maxN = ctx.num('max-n', 8192);
  const repeats = ctx.num('repeats', 10);
  const info = await ctx.measuringWebgpu();
  const started = performance.now();
  const lap = (() => {
    let t = performance.now();
    return () => {
      const now = performance.now();
      const d = (now - t) / 1e3;
      t = now;
      return r3(d);
    };
  })();

  const raw = await wgslCopyBandwidth({ maxBytes, repeats });
  const rawBest = Math.max(...raw.rows.map((r) => r.bestGBs));
  const rawSeconds = lap();

  // Powers of 4 from 4 KiB up to the cap, and the cap itself.
  const sizes = [...new Set([...Array.from({ length: 12 }, (_, i) => 4096 * 4 ** i).filter((s) => s < maxBytes), maxBytes])];
  const stream = await measureBandwidth({ kernels: ['copy', 'triad'], sizes, repeats });
  const streamSeconds = lap();
  const matmul = await measureMatmul({ shapes: squareShapes(maxN), repeats: Math.max(3, Math.round(repeats / 2)) });
  const sat = saturation(matmul);
  const matmulSeconds = lap();
  const ceilings = ceilingsFrom(stream, matmul);
  const cols = maxN >= 4096 ? 4096 : Math.max(256, maxN);
  const roofline = await measureRoofline({ ceilings, rows: cols, cols, n: Math.min(maxN, 4096), repeats: Math.max(3, Math.round(repeats / 2)) });
  const rooflineSeconds = lap();
  const maxElements = Math.max(4, maxBytes / 4);
  const launch = await launchOverhead({ sizes: Array.from({ length: 14 }, (_, i) => 4 ** i).filter((n) => n <= maxElements), repeats });
  const fusion = await fusionProbe({ sizes: Array.from({ length: 10 }, (_, k) => 256 * 4 ** k).filter((n) => n <= maxElements), repeats: Math.max(3, Math.round(repeats / 2)) });
  const launchSeconds = lap();

  return {
    backend: tf.getBackend(),
    device: info.device,
    software: info.software,
    rawCopy: {
      adapter: raw.adapter,
      timing: raw.timing,
      bestGBs: r3(rawBest),
      fractionOfDatasheet: Object.fromEntries(DATASHEET_CEILINGS.map((d) => [d.name, r3(rawBest / d.bandwidthGBps)])),
      rows: raw.rows.map((r) => ({ bytes: r.bytes, bestGBs: r3(r.bestGBs), medianGBs: r3(r.medianGBs), dispatches: r.dispatches, verified: r.verified, clock: r.clock })),
    },
    stream: stream.map((r) => ({ kernel: r.kernel, bytes: r.bytes, gbps: r3(r.gbps), gbpsMedian: r3(r.gbpsMedian), spread: r3(r.spread) })),
    matmul: {
      rows: matmul.map((r) => ({ name: r.name, gflops: r3(r.gflops), gflopsMedian: r3(r.gflopsMedian) })),
      maxGflops: r3(sat.maxGflops),
      saturatesAt: sat.row.name,
    },
    ceilings: { bandwidthGBps: r3(ceilings.bandwidthGBps), peakGflops: r3(ceilings.peakGflops), ridge: r3(ceilings.ridge) },
    roofline: roofline.points.map((p) => ({ name: p.name, intensity: r3(p.intensity), gflops: r3(p.gflops), gbps: r3(p.gbps), bound: p.bound, fractionOfRoof: r3(p.fractionOfRoof) })),
    launch: { t0Us: r3(launch.fit.t0Ms * 1e3), gbps: r3(launch.fit.gbs), crossoverElements: Math.round(launch.fit.crossoverN) },
    fusion: fusion.map((f) => ({ n: f.n, unfusedMs: r3(f.unfusedMs), fusedMs: r3(f.fusedMs), speedup: r3(f.speedup), maxAbsDiff: f.maxAbsDiff })),
    seconds: { raw: rawSeconds, stream: streamSeconds, matmul: matmulSeconds, roofline: rooflineSeconds, launchAndFusion: launchSeconds, total: r3((performance.now() - started) / 1e3) },
  };
}
