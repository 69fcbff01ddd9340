/**
 * Datasets: an indexable collection of samples (`length`, `get(i)`), the
 * typed-array {@link TensorDataset}, and the index views {@link subset} and
 * {@link randomSplit}. Samples are plain typed arrays, so building a dataset
 * creates no tfjs tensor; the {@link DataLoader} makes the batch tensors.
 *
 * Reference: `torch.utils.data.Dataset`, `TensorDataset`, `Subset`, `random_split`.
 * Introduced in notebooks/02-optim.
 */
import { Rng } from './rng';

/** A typed array a sample is made of: float32 features/targets or int32 class labels / token ids. */
export type SampleArray = Float32Array | Int32Array;

/**
 * One sample: features `x` and target `y`, each a flat typed array (often a
 * view into the dataset's storage: copy it before writing to it). A scalar
 * label is a `y` of length 1.
 */
export interface Sample {
  /** Features, flat, row-major; its shape is the dataset's `xShape`. */
  x: SampleArray;
  /** Target, flat; its shape is the dataset's `yShape` (`[]` for a class label). */
  y: SampleArray;
}

/**
 * A dataset: `length` samples, sample `i` from `get(i)` for `0 ≤ i < length`.
 *
 * Reference: `torch.utils.data.Dataset` (`__len__`, `__getitem__`). Introduced in notebooks/02-optim.
 */
export interface Dataset<T> {
  /** Number of samples. */
  readonly length: number;
  /** Sample `i`, `0 ≤ i < length`; throws (naming i and length) otherwise. */
  get(i: number): T;
}

/**
 * A dataset of {@link Sample}s that says the shape of one sample's `x` and `y`,
 * so the loader can stack a batch into tensors `[b, ...xShape]`, `[b, ...yShape]`.
 */
export interface ShapedDataset extends Dataset<Sample> {
  /** Shape of one sample's features, e.g. `[784]` or `[28, 28]`. */
  readonly xShape: readonly number[];
  /** Shape of one sample's target: `[]` for a class label, `[1]` for a scalar regression target. */
  readonly yShape: readonly number[];
}

const prod = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const fmtShape = (shape: readonly number[]) => `[${shape.join(',')}]`;

/** Throw unless `i` is an integer in [0, length). */
export function checkIndex(where: string, i: number, length: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= length) {
    throw new RangeError(`${where}: index ${String(i)} is out of range for a dataset of ${length} samples; use 0 ≤ i < ${length}`);
  }
}

/** Options of {@link TensorDataset}. */
export interface TensorDatasetOptions {
  /** Shape of one sample's features. Default `[x.length / n]` (flat), n = number of samples. */
  xShape?: readonly number[];
  /** Shape of one sample's target. Default `[]` (one label per sample). */
  yShape?: readonly number[];
}

/**
 * Samples stored in two typed arrays: features `x` `[n, ...xShape]` and targets
 * `y` `[n, ...yShape]`, row-major. `get(i)` returns views (no copy).
 * The number of samples is `n = y.length / prod(yShape)`.
 *
 * @example
 * const ds = new TensorDataset(new Float32Array([1, 2, 3, 4, 5, 6]), new Int32Array([0, 1, 0]));
 * ds.length;   // 3, xShape [2], yShape []
 * ds.get(1);   // { x: Float32Array [3, 4], y: Int32Array [1] }
 *
 * Reference: `torch.utils.data.TensorDataset(x, y)`. Introduced in notebooks/02-optim.
 */
export class TensorDataset implements ShapedDataset {
  /** Number of samples. */
  readonly length: number;
  /** Shape of one sample's features. */
  readonly xShape: readonly number[];
  /** Shape of one sample's target. */
  readonly yShape: readonly number[];
  private readonly xSize: number;
  private readonly ySize: number;

  /** A dataset over `x` and `y` (kept, not copied). Throws when the sizes do not agree with the shapes. */
  constructor(
    readonly x: SampleArray,
    readonly y: SampleArray,
    options: TensorDatasetOptions = {},
  ) {
    const yShape = [...(options.yShape ?? [])];
    if (!yShape.every((d) => Number.isInteger(d) && d > 0)) throw new Error(`TensorDataset: yShape must be positive integers, got ${fmtShape(yShape)}`);
    this.ySize = prod(yShape);
    const n = y.length / this.ySize;
    if (!Number.isInteger(n)) throw new Error(`TensorDataset: y has ${y.length} values, not a multiple of prod(yShape ${fmtShape(yShape)}) = ${this.ySize}; pass the right yShape`);
    let xShape = options.xShape ? [...options.xShape] : [n === 0 ? 0 : x.length / n];
    if (!xShape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new Error(`TensorDataset: x has ${x.length} values for ${n} samples (y), which is not a whole number per sample; check x, y or pass xShape`);
    }
    this.xSize = prod(xShape);
    if (x.length !== n * this.xSize) {
      throw new Error(`TensorDataset: x has ${x.length} values but ${n} samples (from y) of xShape ${fmtShape(xShape)} need ${n * this.xSize}; check x, y, xShape and yShape`);
    }
    this.length = n;
    this.xShape = Object.freeze(xShape);
    this.yShape = Object.freeze(yShape);
  }

  /** Sample `i`: views `{ x: x[i], y: y[i] }` into the storage. */
  get(i: number): Sample {
    checkIndex('TensorDataset.get', i, this.length);
    return {
      x: this.x.subarray(i * this.xSize, (i + 1) * this.xSize),
      y: this.y.subarray(i * this.ySize, (i + 1) * this.ySize),
    };
  }
}

/**
 * The samples `indices[0], indices[1], ...` of `dataset`, in that order (repeats allowed).
 * Keeps `xShape`/`yShape` when the dataset has them. Nothing is copied.
 */
export class Subset<T> implements Dataset<T> {
  /** Shape of one sample's features, when the parent dataset has one. */
  readonly xShape?: readonly number[];
  /** Shape of one sample's target, when the parent dataset has one. */
  readonly yShape?: readonly number[];

  /** A view of `dataset` through `indices` (checked now, copied). */
  constructor(
    readonly dataset: Dataset<T>,
    indices: ArrayLike<number>,
  ) {
    this.indices = Int32Array.from(indices as ArrayLike<number>, (i, k) => {
      if (!Number.isInteger(i) || i < 0 || i >= dataset.length) {
        throw new RangeError(`subset: indices[${k}] = ${String(i)} is out of range for a dataset of ${dataset.length} samples; use 0 ≤ i < ${dataset.length}`);
      }
      return i;
    });
    const shaped = dataset as Partial<ShapedDataset>;
    if (shaped.xShape) this.xShape = shaped.xShape;
    if (shaped.yShape) this.yShape = shaped.yShape;
  }

  /** The parent's indices of this subset's samples. */
  readonly indices: Int32Array;

  /** Number of samples (= number of indices). */
  get length(): number {
    return this.indices.length;
  }

  /** `dataset.get(indices[i])`. */
  get(i: number): T {
    checkIndex('Subset.get', i, this.indices.length);
    return this.dataset.get(this.indices[i] as number);
  }
}

/**
 * The samples of `dataset` at `indices`, as a view.
 *
 * @example
 * const firstHundred = subset(ds, Array.from({ length: 100 }, (_, i) => i));
 *
 * Reference: `torch.utils.data.Subset(dataset, indices)`. Introduced in notebooks/02-optim.
 */
export function subset<T>(dataset: Dataset<T>, indices: ArrayLike<number>): Subset<T> {
  return new Subset(dataset, indices);
}

/**
 * Split `dataset` at random into non-overlapping subsets of the given sizes.
 *
 * `lengths` are counts summing to `n = dataset.length`, or fractions summing to 1
 * (the rule of `torch.utils.data.random_split`: each split gets `⌊n·fᵢ⌋`, and the
 * `n − Σ⌊n·fᵢ⌋` samples left over go one each to splits 0, 1, 2, ... in turn).
 * The order is `rng(seed).permutation(n)`, cut into consecutive pieces: same seed,
 * same split (not the same split as torch: the generators differ).
 *
 * @example
 * const [train, val] = randomSplit(ds, [0.8, 0.2], 0);
 *
 * Reference: `torch.utils.data.random_split(dataset, lengths, generator)`. Introduced in notebooks/02-optim.
 */
export function randomSplit<T>(dataset: Dataset<T>, lengths: readonly number[], seed: number): Subset<T>[] {
  const n = dataset.length;
  if (lengths.length === 0 || !lengths.every((l) => typeof l === 'number' && l >= 0 && Number.isFinite(l))) {
    throw new Error(`randomSplit: lengths must be non-negative numbers, got [${lengths.join(', ')}]`);
  }
  const total = lengths.reduce((a, b) => a + b, 0);
  let counts: number[];
  if (Math.abs(total - 1) < 1e-9 && lengths.every((l) => l <= 1)) {
    counts = lengths.map((f) => Math.floor(n * f));
    const left = n - counts.reduce((a, b) => a + b, 0);
    for (let i = 0; i < left; i++) counts[i % counts.length]! += 1;
  } else {
    if (!lengths.every(Number.isInteger) || total !== n) {
      throw new Error(`randomSplit: lengths [${lengths.join(', ')}] must be counts summing to the dataset's ${n} samples, or fractions summing to 1`);
    }
    counts = [...lengths];
  }
  const perm = new Rng(seed).permutation(n);
  let start = 0;
  return counts.map((c) => {
    const s = new Subset(dataset, perm.slice(start, start + c));
    start += c;
    return s;
  });
}
