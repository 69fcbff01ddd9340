/**
 * The DataLoader: batches of a dataset, in a seeded per-epoch order, as tfjs
 * tensors, with a JSON state that resumes an interrupted epoch exactly.
 *
 * Reference: `torch.utils.data.DataLoader`. Introduced in notebooks/02-optim.
 */
import { tf } from '../backend/tf';
import type { Dataset, Sample, SampleArray } from './dataset';
import { Rng } from './rng';

/**
 * A batch from the default collate: `x` `[b, ...xShape]` and `y` `[b, ...yShape]`
 * (float32, or int32 for class labels / token ids), and the dataset indices of its
 * samples. The caller owns `x` and `y`: `batch.dispose()` frees both. Layers, losses
 * and ops take them as they are (borrowed); `ag.tensor(batch.x)` would take ownership
 * instead, and then that leaf is yours to dispose.
 */
export interface Batch {
  /** Features `[b, ...xShape]`, dtype of the dataset's `x` arrays. */
  x: tf.Tensor;
  /** Targets `[b, ...yShape]`, dtype of the dataset's `y` arrays. */
  y: tf.Tensor;
  /** The dataset index of each sample, in batch order. */
  indices: number[];
  /** Free `x` and `y`. */
  dispose(): void;
}

/** Turns the samples of one batch (and their dataset indices) into a batch. */
export type Collate<T, B> = (samples: T[], indices: number[]) => B;

/** Options of {@link DataLoader}. */
export interface DataLoaderOptions<T, B> {
  /** Samples per batch, a positive integer. Default 1 (torch's). */
  batchSize?: number;
  /** Draw a new order each epoch (see {@link DataLoader.order}); false: 0, 1, ..., n−1. Default false. */
  shuffle?: boolean;
  /** Seed of the per-epoch orders, a safe integer. Default 0. */
  seed?: number;
  /** Drop the last, smaller batch when `batchSize` does not divide n. Default false. */
  dropLast?: boolean;
  /** Make a batch from samples. Default {@link collate} (needs `Sample`s). */
  collate?: Collate<T, B>;
}

/**
 * Where a loader stands, as plain JSON (for a checkpoint): the seed, the epoch,
 * and how many batches of that epoch were already handed out; plus what the
 * batches depend on, so that {@link DataLoader.loadState} can refuse a state
 * saved for other data.
 */
export interface LoaderState {
  /** Format version, 1. */
  version: 1;
  /** The seed of the orders. */
  seed: number;
  /** Current epoch, from 0. */
  epoch: number;
  /** Batches of `epoch` already yielded, in [0, batches per epoch]. */
  position: number;
  /** Samples in the dataset. */
  datasetLength: number;
  /** Samples per batch. */
  batchSize: number;
  /** Whether orders are shuffled. */
  shuffle: boolean;
  /** Whether the last smaller batch is dropped. */
  dropLast: boolean;
}

/**
 * The default collate: stack sample arrays into `x` `[b, ...xShape]` and `y`
 * `[b, ...yShape]` tensors, dtype from the first sample's arrays (Float32Array →
 * float32, Int32Array → int32). Shapes default to flat `[x.length]` and, for `y`,
 * `[]` when a sample has one value, else `[y.length]`.
 *
 * Reference: `torch.utils.data.default_collate`. Introduced in notebooks/02-optim.
 */
export function collate(samples: Sample[], indices: number[], shapes: { xShape?: readonly number[]; yShape?: readonly number[] } = {}): Batch {
  if (samples.length === 0) throw new Error('collate: no samples; a batch needs at least one');
  const first = samples[0]!;
  const xShape = shapes.xShape ?? [first.x.length];
  const yShape = shapes.yShape ?? (first.y.length === 1 ? [] : [first.y.length]);
  const stack = (what: 'x' | 'y', shape: readonly number[]) => {
    const size = first[what].length;
    const out = first[what] instanceof Int32Array ? new Int32Array(samples.length * size) : new Float32Array(samples.length * size);
    samples.forEach((s, k) => {
      const a: SampleArray = s[what];
      if (a.length !== size) {
        throw new Error(`collate: sample ${indices[k]} has ${what} of ${a.length} values, sample ${indices[0]} has ${size}; samples of a batch must have one shape`);
      }
      out.set(a, k * size);
    });
    return tf.tensor(out, [samples.length, ...shape], out instanceof Int32Array ? 'int32' : 'float32');
  };
  const x = stack('x', xShape);
  let y: tf.Tensor;
  try {
    y = stack('y', yShape);
  } catch (e) {
    x.dispose();
    throw e;
  }
  return { x, y, indices, dispose: () => tf.dispose([x, y]) };
}

/**
 * Batches of a dataset, one epoch per `for (const batch of loader)`.
 *
 * **Order.** Without shuffle every epoch is 0, 1, ..., n−1. With shuffle, epoch e's
 * order depends only on (seed, e): it is `rng(seed).split(e + 1)[e].permutation(n)`,
 * the permutation drawn by the e-th fork of the seed's stream (see {@link Rng.fork}).
 * Batch k of an epoch is the samples `order[k·b .. (k+1)·b)`; there are `⌈n/b⌉` batches,
 * or `⌊n/b⌋` with `dropLast`.
 *
 * **Place.** `loader.epoch` and `loader.position` (batches of that epoch already
 * yielded) advance as batches are handed out; `position` counts a batch as soon as
 * the loop body receives it. When an epoch's last batch has been handed out the
 * loader moves to (epoch + 1, 0). Leaving a `for` loop early (`break`, an exception)
 * keeps the place: the next loop continues the same epoch. {@link state} saves the
 * place as JSON and {@link loadState} restores it, so a resumed run gets exactly the
 * remaining batches of the interrupted epoch, then the same later epochs.
 *
 * Differences from torch: no worker processes; the order rule is gradlab's (torch's
 * generator differs); torch's loader restarts an epoch on each `iter()`, this one
 * resumes it. Only one loop may run over a loader at a time.
 *
 * @example
 * const loader = new DataLoader(train, { batchSize: 64, shuffle: true, seed: 0 });
 * for (let epoch = 0; epoch < 3; epoch++) {
 *   for (const batch of loader) {
 *     const loss = nn.crossEntropy(model.forward(batch.x), batch.y);   // tfjs tensors are borrowed
 *     loss.backward();
 *     opt.step();
 *     opt.zeroGrad();
 *     loss.dispose();
 *     batch.dispose();
 *   }
 * }
 * const saved = loader.state();   // { version: 1, seed: 0, epoch: 3, position: 0, ... }
 *
 * Reference: `torch.utils.data.DataLoader(dataset, batch_size, shuffle, drop_last, collate_fn)`.
 * Introduced in notebooks/02-optim.
 */
export class DataLoader<T = Sample, B = Batch> implements Iterable<B> {
  /** Samples per batch. */
  readonly batchSize: number;
  /** Whether each epoch has its own order. */
  readonly shuffle: boolean;
  /** Whether the last smaller batch is dropped. */
  readonly dropLast: boolean;
  private seedValue: number;
  private epochValue = 0;
  private positionValue = 0;
  private running = false;
  private cached: { epoch: number; seed: number; order: Int32Array } | null = null;
  private readonly collateFn: Collate<T, B>;

  /** A loader over `dataset` (which must have at least one sample). */
  constructor(
    readonly dataset: Dataset<T>,
    options: DataLoaderOptions<T, B> = {},
  ) {
    const { batchSize = 1, shuffle = false, seed = 0, dropLast = false } = options;
    if (!Number.isInteger(batchSize) || batchSize <= 0) {
      throw new Error(`DataLoader: batchSize must be a positive integer, got ${String(batchSize)}; pass e.g. { batchSize: 32 }`);
    }
    if (!Number.isSafeInteger(seed)) throw new Error(`DataLoader: seed must be a safe integer, got ${String(seed)}`);
    const n = dataset.length;
    if (!(Number.isInteger(n) && n > 0)) throw new Error(`DataLoader: the dataset is empty (length ${String(n)}); give it at least one sample`);
    if (dropLast && n < batchSize) {
      throw new Error(`DataLoader: dropLast with batchSize ${batchSize} > ${n} samples leaves no batch; lower batchSize or set dropLast: false`);
    }
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.seedValue = seed;
    const shaped = dataset as { xShape?: readonly number[]; yShape?: readonly number[] };
    this.collateFn = options.collate ?? ((samples, indices) => collate(samples as Sample[], indices, shaped) as B);
  }

  /** The seed of the per-epoch orders. */
  get seed(): number {
    return this.seedValue;
  }

  /** The current epoch, from 0. */
  get epoch(): number {
    return this.epochValue;
  }

  /** Batches of the current epoch already handed out. */
  get position(): number {
    return this.positionValue;
  }

  /** Batches per epoch: `⌈n/b⌉`, or `⌊n/b⌋` with dropLast. Reference: `len(loader)`. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /**
   * The sample order of epoch `e` (a fresh copy): 0..n−1, or with shuffle
   * `rng(seed).split(e + 1)[e].permutation(n)`.
   */
  order(e: number): Int32Array {
    if (!Number.isInteger(e) || e < 0) throw new Error(`DataLoader.order: epoch must be a non-negative integer, got ${String(e)}`);
    return this.orderOf(e).slice();
  }

  /** The dataset indices of each batch of epoch `e`. */
  batchIndices(e: number): number[][] {
    const order = this.order(e);
    return Array.from({ length: this.length }, (_, k) => Array.from(order.subarray(k * this.batchSize, (k + 1) * this.batchSize)));
  }

  /** Start epoch `e` from its first batch (like torch's `sampler.set_epoch(e)`). */
  setEpoch(e: number): void {
    if (!Number.isInteger(e) || e < 0) throw new Error(`DataLoader.setEpoch: epoch must be a non-negative integer, got ${String(e)}`);
    if (this.running) throw new Error('DataLoader.setEpoch: a loop over this loader is running; call it between loops');
    this.epochValue = e;
    this.positionValue = 0;
  }

  /** The place as plain JSON (see {@link LoaderState}). */
  state(): LoaderState {
    return {
      version: 1,
      seed: this.seedValue,
      epoch: this.epochValue,
      position: this.positionValue,
      datasetLength: this.dataset.length,
      batchSize: this.batchSize,
      shuffle: this.shuffle,
      dropLast: this.dropLast,
    };
  }

  /**
   * Resume from {@link state}: the seed, epoch and position are taken from `s`.
   * Throws when `s` was saved for a dataset of another length or another batchSize,
   * shuffle or dropLast (the batches would differ), naming both values.
   */
  loadState(s: LoaderState): void {
    const where = 'DataLoader.loadState';
    if (typeof s !== 'object' || s === null || s.version !== 1) throw new Error(`${where}: expected a state from DataLoader.state() (version 1), got ${JSON.stringify(s)}`);
    const fix = 'build the loader on the same data (same subset / split seed) and options to resume';
    if (s.datasetLength !== this.dataset.length) {
      throw new Error(`${where}: the state was saved for a dataset of ${s.datasetLength} samples, this loader's has ${this.dataset.length}; ${fix}`);
    }
    for (const key of ['batchSize', 'shuffle', 'dropLast'] as const) {
      if (s[key] !== this[key]) throw new Error(`${where}: the state was saved with ${key} ${String(s[key])}, this loader has ${String(this[key])}; ${fix}`);
    }
    if (!Number.isSafeInteger(s.seed)) throw new Error(`${where}: seed must be a safe integer, got ${String(s.seed)}`);
    if (!Number.isInteger(s.epoch) || s.epoch < 0) throw new Error(`${where}: epoch must be a non-negative integer, got ${String(s.epoch)}`);
    if (!Number.isInteger(s.position) || s.position < 0 || s.position > this.length) {
      throw new Error(`${where}: position ${String(s.position)} is outside [0, ${this.length}] (batches per epoch)`);
    }
    if (this.running) throw new Error(`${where}: a loop over this loader is running; load the state before the loop`);
    this.seedValue = s.seed;
    this.epochValue = s.epoch;
    this.positionValue = s.position;
    this.normalize();
  }

  /** The remaining batches of the current epoch, then the loader moves to the next epoch. */
  *[Symbol.iterator](): Iterator<B> {
    if (this.running) throw new Error('DataLoader: a loop over this loader is already running; finish or break out of it first (one loop at a time)');
    this.running = true;
    try {
      this.normalize();
      const order = this.orderOf(this.epochValue);
      while (this.positionValue < this.length) {
        const idx = Array.from(order.subarray(this.positionValue * this.batchSize, (this.positionValue + 1) * this.batchSize));
        const batch = this.collateFn(
          idx.map((i) => this.dataset.get(i)),
          idx,
        );
        this.positionValue += 1;
        yield batch;
      }
    } finally {
      this.running = false;
      this.normalize();
    }
  }

  /** An epoch whose batches have all been handed out is the start of the next. */
  private normalize(): void {
    if (this.positionValue >= this.length) {
      this.epochValue += 1;
      this.positionValue = 0;
    }
  }

  private orderOf(e: number): Int32Array {
    const c = this.cached;
    if (c && c.epoch === e && c.seed === this.seedValue) return c.order;
    const n = this.dataset.length;
    let order: Int32Array;
    if (!this.shuffle) {
      order = Int32Array.from({ length: n }, (_, i) => i);
    } else {
      const root = new Rng(this.seedValue);
      let stream = root.fork();
      for (let k = 0; k < e; k++) stream = root.fork();
      order = Int32Array.from(stream.permutation(n));
    }
    this.cached = { epoch: e, seed: this.seedValue, order };
    return order;
  }
}
