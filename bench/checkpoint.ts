/**
 * Checkpoint throughput: `gl.io.saveCheckpoint` / `loadCheckpoint` of 10M float32
 * parameters (40 MB), alone and with AdamW's two buffers (120 MB), against a
 * plain `fs.writeFileSync` + fsync / `fs.readFileSync` of the same number of bytes
 * in the same run (the floor: no header, no checksum, no tensors). The two alternate
 * (A B A B …) and the medians are compared, so a busy shared machine slows both alike.
 * Save includes reading the tensors back (`await t.data()`), the checksum (CRC-32), the
 * fsync of the file, the rename and the fsync of the directory; load includes the
 * checksum, all validation and assigning the parameters (and the optimiser state). A
 * third figure is CRC-32 alone over the same bytes: the checksum is the one cost the
 * plain write and read do not pay (saving computes it while the threadpool writes,
 * loading computes it on each chunk while the next is read).
 *
 * Part of `npm run bench -- optim` (bench/main.ts); alone: `node dist/bench/checkpoint.js`.
 */
import * as fs from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import * as gl from '../src';
import { tf } from '../src/backend/tf';
import { median, type BenchResult } from './report';

const PARAMS = 10_000_000;
const SHAPES: number[][] = [
  [2000, 2000],
  [2000],
  [2000, 2000],
  [2000],
  [997, 2000],
  [2000],
]; // weights and biases of three layers: 10,000,000 elements (checked below)

/** A named-parameter holder (what `saveCheckpoint` needs of a model). */
function makeModel(seed: number, shapes: number[][]): { namedParameters(): [string, gl.ag.Tensor][]; dispose(): void } {
  const r = gl.data.rng(seed);
  const params = shapes.map((s) => gl.ag.param(r.uniformTensor(s, -1, 1)));
  const named = params.map((p, i) => [`layers.${i >> 1}.${i % 2 ? 'bias' : 'weight'}`, p] as [string, gl.ag.Tensor]);
  return { namedParameters: () => named, dispose: () => params.forEach((p) => p.dispose()) };
}

async function time(f: () => Promise<void> | void): Promise<number> {
  const t = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** Write `bytes` plainly: write, fsync, close (what any durable save must at least do). */
function plainWrite(file: string, bytes: Uint8Array): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, bytes);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Options of {@link benchCheckpoint}. */
export interface BenchCheckpointOptions {
  /** Timed runs of each (after one warm-up); the medians are reported. Default 5. */
  repeats?: number;
  /** Also measure with AdamW's state (3× the bytes). Default true. */
  withAdam?: boolean;
  /** Number of parameters, a multiple of 1000 (default 10,000,000: 40 MB); smaller for a smoke test. */
  params?: number;
}

/**
 * Measure save and load MB/s of a 10M-parameter checkpoint, without and with AdamW
 * state, and their ratios to plain writes and reads of the same bytes, plus CRC-32 alone.
 * Returns one {@link BenchResult} per figure (value in MB/s, 10⁶ bytes per second).
 */
export async function benchCheckpoint({ repeats = 5, withAdam = true, params = PARAMS }: BenchCheckpointOptions = {}): Promise<BenchResult[]> {
  await gl.init({ backend: 'cpu' });
  if (!Number.isInteger(params / 1000) || params <= 0) throw new Error(`benchCheckpoint: params must be a positive multiple of 1000, got ${params}`);
  const shapes = params === PARAMS ? SHAPES : [[params / 1000, 1000]];
  const total = shapes.reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
  if (total !== params) throw new Error(`bench checkpoint: the shapes hold ${total} parameters, not ${params}`);
  const dir = fs.mkdtempSync(path.join(tmpdir(), 'gradlab-bench-ckpt-'));
  const results: BenchResult[] = [];
  try {
    for (const adam of withAdam ? [false, true] : [false]) {
      const model = makeModel(1, shapes);
      const target = makeModel(2, shapes);
      let opt: gl.optim.AdamW | undefined;
      let optT: gl.optim.AdamW | undefined;
      if (adam) {
        // One step, so AdamW holds its two buffers per parameter.
        opt = new gl.optim.AdamW(model.namedParameters().map(([, p]) => p), { lr: 1e-3 });
        optT = new gl.optim.AdamW(target.namedParameters().map(([, p]) => p), { lr: 1e-3 });
        for (const [m, o] of [[model, opt], [target, optT]] as const) {
          for (const [, p] of m.namedParameters()) p.grad = tf.onesLike(p.data);
          o.step();
          o.zeroGrad();
        }
      }
      const file = path.join(dir, 'ckpt.safetensors');
      const plain = path.join(dir, 'plain.bin');
      const { bytes } = await gl.io.saveCheckpoint(file, { model, optimizer: opt, step: 0 });
      const raw = new Uint8Array(fs.readFileSync(file));
      const start = tf.memory().numTensors;
      const ts = { save: [] as number[], write: [] as number[], load: [] as number[], read: [] as number[], hash: [] as number[] };
      for (let i = 0; i < repeats + 1; i++) {
        const save = await time(() => gl.io.saveCheckpoint(file, { model, optimizer: opt, step: i }).then(() => undefined));
        const write = await time(() => plainWrite(plain, raw));
        const load = await time(() => gl.io.loadCheckpoint(file, { model: target, optimizer: optT }).then(() => undefined));
        const read = await time(() => void fs.readFileSync(plain));
        const hash = await time(() => void gl.io.crc32(raw));
        if (i === 0) continue; // warm-up
        ts.hash.push(hash);
        ts.save.push(save);
        ts.write.push(write);
        ts.load.push(load);
        ts.read.push(read);
      }
      if (tf.memory().numTensors !== start) throw new Error(`bench checkpoint: ${tf.memory().numTensors - start} tensors leaked`);
      const mbs = (ms: number) => bytes / 1e6 / (ms / 1e3);
      const label = `${(bytes / 1e6).toPrecision(3)} MB (${params / 1e6}M params${adam ? ' + AdamW state' : ''})`;
      const [save, write, load, read] = [ts.save, ts.write, ts.load, ts.read].map(median) as [number, number, number, number];
      results.push({ name: `save ${label}`, value: mbs(save), unit: 'MB/s', reference: `writeSync + fsync of ${label.split(' (')[0]}: ${mbs(write).toFixed(0)} MB/s`, ratio: write / save });
      results.push({ name: `load ${label}`, value: mbs(load), unit: 'MB/s', reference: `readFileSync of ${label.split(' (')[0]}: ${mbs(read).toFixed(0)} MB/s`, ratio: read / load });
      // What the checksum alone costs: CRC-32 of the same bytes on one core (save and load both compute it once).
      const hash = median(ts.hash);
      results.push({ name: `CRC-32 alone, ${label}`, value: mbs(hash), unit: 'MB/s', reference: 'writeSync + fsync of the same bytes (ratio = write time / CRC time)', ratio: median(ts.write) / hash });
      opt?.dispose();
      optT?.dispose();
      model.dispose();
      target.dispose();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

if (require.main === module) {
  benchCheckpoint()
    .then((rs) => {
      for (const r of rs) console.log(`  ${r.name.padEnd(44)} ${r.value.toFixed(0).padStart(6)} ${r.unit}  ${r.ratio.toFixed(2)}x  (${r.reference})`);
      process.exit(0);
    })
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
