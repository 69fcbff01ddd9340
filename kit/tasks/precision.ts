/**
 * `precision`: the mixed-precision experiment of notebooks/03-gpu/04-mixed-precision on
 * webgpu (`mixedPrecisionRun`, `gradientHistogram`): the same MLP trained from the same
 * weights on the same batches in float32, emulated fp16 without loss scaling, emulated
 * fp16 with dynamic loss scaling, and emulated bf16, with the notebook's lossFactor 2⁻¹⁶
 * (the kit carries no `mnist` package, so the data is synthetic: 196 Gaussian features,
 * labelled by the argmax of a fixed random linear teacher, 10 classes)
 * (every gradient 2¹⁶ times smaller, float32 training unchanged). Reports each mode's
 * final loss (mean of the last 10 steps), skipped steps, the scale trajectory (first,
 * last, min, max, the steps where it changed), the mean underflow fraction, the float32
 * gradient histogram's fractions below 2⁻²⁴ / 2⁻¹⁴, and the median ms per step of float32
 * against emulated fp16 (the emulation rounds with extra kernels: slower, never faster).
 *
 * Options: `--steps=300 --batch=256 --width=256 --growth=50`. On the software renderer
 * use small values (`--steps=6 --batch=32 --width=16`), as the kit's test does.
 */
import { tf } from '../../src/backend/tf';
import { summarise } from '../../src/probes/timing';
import { gradientHistogram, mixedPrecisionRun, MIXED_PRECISION_MODES, type MixedPrecisionRow } from '../../src/precision';
import { Rng } from '../../src/data/rng';
import type { KitContext } from '../context';

/** n samples of d N(0, 1) features, labelled argmax(x·T) for a seeded N(0, 1) teacher T [d, classes]. */
function teacherData(n: number, d: number, classes: number, seed: number): { x: Float32Array; y: Int32Array } {
  const r = new Rng(seed);
  const x = r.normalArray(n * d);
  const T = r.normalArray(d * classes);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = -Infinity;
    for (let j = 0; j < classes; j++) {
      let z = 0;
      for (let k = 0; k < d; k++) z += x[i * d + k]! * T[k * classes + j]!;
      if (z > best) { best = z; y[i] = j; }
    }
  }
  return { x, y };
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

const median = (xs: number[]): number => summarise(xs).median;

/** The `precision` task. */
export async function precision(ctx: KitContext): Promise<Record<string, unknown>> {
  const steps = ctx.num('steps', 300);
  const batch = ctx.num('batch', 256);
  const width = ctx.num('width', 256);
  const growthInterval = ctx.num('growth', 50);
  const info = await ctx.measuringWebgpu();
  const n = Math.max(1024, 4 * batch);
  const setup = { sizes: [196, width, width, width, 10], batch, n, lossFactor: 2 ** -16, seed: 0, data: teacherData(n, 196, 10, 2024) };
  const started = performance.now();
  const before = tf.memory().numTensors;
  const hist = await gradientHistogram({ ...setup, warmup: 0 });
  const frac = (s: typeof hist.weights) => ({ zero: r4(s.zeros / s.total), belowSubnormal: r4(s.belowSubnormal / s.total), belowNormal: r4(s.belowNormal / s.total), flushedToZero: r4(s.flushedToZero / s.total) });
  const modes: Record<string, unknown> = {};
  const ms: Record<string, number> = {};
  for (const mode of MIXED_PRECISION_MODES) {
    const { rows } = await mixedPrecisionRun({ ...setup, mode, steps, growthInterval });
    const last = rows.slice(-Math.min(10, rows.length));
    const mean = (k: keyof MixedPrecisionRow) => last.reduce((s, r) => s + (r[k] as number), 0) / last.length;
    const scales = rows.map((r) => r.scale);
    ms[mode] = median(rows.slice(1).map((r) => r.ms));
    modes[mode] = {
      firstLoss: r4(rows[0]!.loss),
      finalLoss: r4(mean('loss')),
      skipped: rows.filter((r) => r.skipped).map((r) => r.step),
      scale: { first: scales[0], last: scales.at(-1), min: Math.min(...scales), max: Math.max(...scales), changes: rows.filter((r, i) => i > 0 && r.scale !== rows[i - 1]!.scale).map((r) => [r.step, r.scale]) },
      underflowFrac: r4(rows.reduce((s, r) => s + r.underflowFrac, 0) / rows.length),
      zeroFrac: r4(rows.reduce((s, r) => s + r.zeroFrac, 0) / rows.length),
      msPerStep: r4(ms[mode]!),
    };
  }
  const leaked = tf.memory().numTensors - before;
  if (leaked !== 0) throw new Error(`gpu-kit precision: the runs changed tf.memory().numTensors by ${leaked}`);
  return {
    backend: tf.getBackend(), device: info.device, software: info.software,
    model: `MLP ${setup.sizes.join('-')}, ReLU, synthetic teacher data (${n} x 196, 10 classes), batch ${batch}, SGD, lossFactor 2^-16, growthInterval ${growthInterval}`,
    steps,
    histogram: { weights: frac(hist.weights), activations: frac(hist.activations) },
    modes,
    emulatedFp16OverFp32: r4(ms['fp16']! / ms['fp32']!),
    seconds: r4((performance.now() - started) / 1e3),
  };
}
