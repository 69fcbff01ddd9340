/**
 * Synthetic data sets, each a pure function of its options and seed: the
 * spiral classification set, a few noisy points of a curve for regression,
 * and a character-level next-token corpus.
 *
 * Introduced in notebooks/02-optim.
 */
import { TensorDataset, checkIndex, type Sample, type ShapedDataset } from './dataset';
import { Rng } from './rng';
import { SONNETS } from './sonnets';

/** Options of {@link spirals}. */
export interface SpiralsOptions {
  /** Points per class (CS231n's N). Default 100. */
  n?: number;
  /** Number of classes (arms), K. Default 3. */
  classes?: number;
  /** Std of the Gaussian noise added to the angle. Default 0.2. */
  noise?: number;
  /** Seed. Default 0. */
  seed?: number;
}

/**
 * The spiral data set of CS231n ("Putting it together: minimal neural network
 * case study"): K arms of N points in the plane, one class per arm, not linearly
 * separable. For class j and point i (0 ≤ i < N):
 *
 * `r = i/(N−1)`, `t = 4j + 4i/(N−1) + noise·z` (z ~ N(0, 1)), `x = (r·sin t, r·cos t)`,
 *
 * so `‖x‖ = r` exactly (the noise moves only the angle). Samples are ordered class by
 * class (`label = ⌊k/N⌋`); a DataLoader with shuffle mixes them. Returns features
 * `[N·K, 2]` float32 and int32 labels.
 *
 * @example
 * const ds = spirals({ n: 100, classes: 3, noise: 0.2, seed: 0 });   // 300 points
 *
 * Reference: https://cs231n.github.io/neural-networks-case-study/. Introduced in notebooks/02-optim.
 */
export function spirals(options: SpiralsOptions = {}): TensorDataset {
  const { n = 100, classes = 3, noise = 0.2, seed = 0 } = options;
  if (!Number.isInteger(n) || n < 1) throw new Error(`spirals: n (points per class) must be a positive integer, got ${String(n)}`);
  if (!Number.isInteger(classes) || classes < 1) throw new Error(`spirals: classes must be a positive integer, got ${String(classes)}`);
  if (!(noise >= 0)) throw new Error(`spirals: noise must be >= 0, got ${String(noise)}`);
  const r = new Rng(seed);
  const x = new Float32Array(n * classes * 2);
  const y = new Int32Array(n * classes);
  const step = n > 1 ? 1 / (n - 1) : 0;
  for (let j = 0; j < classes; j++) {
    for (let i = 0; i < n; i++) {
      const k = j * n + i;
      const radius = i * step;
      const t = 4 * j + 4 * i * step + noise * r.normal();
      x[2 * k] = radius * Math.sin(t);
      x[2 * k + 1] = radius * Math.cos(t);
      y[k] = j;
    }
  }
  return new TensorDataset(x, y, { xShape: [2], yShape: [] });
}

/** Options of {@link noisyRegression}. */
export interface NoisyRegressionOptions {
  /** Number of points. Default 20. */
  n?: number;
  /** The clean function f. Default `Math.sin` (unless `degree` is given). */
  fn?: (x: number) => number;
  /** Instead of fn: a polynomial of this degree with coefficients drawn N(0, 1) from the seed. */
  degree?: number;
  /** Std of the Gaussian noise added to each target. Default 0.1. */
  noise?: number;
  /** Interval the inputs are drawn from. Default [−π, π] (with fn), [−1, 1] (with degree). */
  range?: readonly [number, number];
  /** Seed. Default 0. */
  seed?: number;
}

/** The data set of {@link noisyRegression}: a TensorDataset plus the clean function. */
export class RegressionSet extends TensorDataset {
  /** A regression set over `x` `[n, 1]` and `y` `[n, 1]`. */
  constructor(
    x: Float32Array,
    y: Float32Array,
    /** The clean function f (to plot the truth beside a fit). */
    readonly fn: (x: number) => number,
    /** The polynomial coefficients c₀..c_d (f(x) = Σ c_k x^k) when `degree` was given, else null. */
    readonly coefficients: number[] | null,
  ) {
    super(x, y, { xShape: [1], yShape: [1] });
  }
}

/**
 * A few noisy samples of a curve, the standard overfitting demonstration:
 * `xᵢ ~ U[lo, hi)` sorted ascending, `yᵢ = f(xᵢ) + noise·zᵢ`, zᵢ ~ N(0, 1).
 * f is `fn` (default sin) or, with `degree: d`, `f(x) = Σ_{k=0..d} c_k x^k` with
 * `c_k ~ N(0, 1)`. The seed is split into three independent streams (x, noise,
 * coefficients), so changing `noise` keeps the same x and f. Features `[n, 1]` and
 * targets `[n, 1]`, float32.
 *
 * @example
 * const ds = noisyRegression({ n: 15, noise: 0.2, seed: 0 });     // y = sin x + noise
 * ds.fn(0.5);                                                     // the clean curve
 *
 * Reference: the polynomial-fitting example of Bishop, PRML §1.1. Introduced in notebooks/02-optim.
 */
export function noisyRegression(options: NoisyRegressionOptions = {}): RegressionSet {
  const { n = 20, noise = 0.1, seed = 0, degree } = options;
  if (!Number.isInteger(n) || n < 1) throw new Error(`noisyRegression: n must be a positive integer, got ${String(n)}`);
  if (!(noise >= 0)) throw new Error(`noisyRegression: noise must be >= 0, got ${String(noise)}`);
  if (degree !== undefined && options.fn) throw new Error('noisyRegression: give fn or degree, not both');
  if (degree !== undefined && !(Number.isInteger(degree) && degree >= 0)) throw new Error(`noisyRegression: degree must be a non-negative integer, got ${String(degree)}`);
  const [lo, hi] = options.range ?? (degree !== undefined ? [-1, 1] : [-Math.PI, Math.PI]);
  if (!(lo < hi)) throw new Error(`noisyRegression: range must be [lo, hi] with lo < hi, got [${lo}, ${hi}]`);
  const [rx, rnoise, rcoef] = new Rng(seed).split(3) as [Rng, Rng, Rng];
  let coefficients: number[] | null = null;
  let fn = options.fn ?? Math.sin;
  if (degree !== undefined) {
    const c = Array.from({ length: degree + 1 }, () => rcoef.normal());
    coefficients = c;
    fn = (t: number) => c.reduceRight((acc, ck) => acc * t + ck, 0); // Horner
  }
  const xs = Array.from({ length: n }, () => rx.uniform(lo, hi)).sort((a, b) => a - b);
  const x = Float32Array.from(xs);
  const y = Float32Array.from(x, (v) => fn(v) + noise * rnoise.normal()); // f of the stored float32 x
  return new RegressionSet(x, y, fn, coefficients);
}

/**
 * A character-level next-token data set over a text: the vocabulary is the
 * sorted unique characters (code points, as Python's `sorted(set(text))`), token
 * `id = vocab.indexOf(char)`, and sample i (0 ≤ i < T − blockSize, T = number of
 * characters) is `x = tokens[i .. i+blockSize)`, `y = tokens[i+1 .. i+blockSize+1)`:
 * at each position the target is the next character. x and y are int32 views.
 *
 * Reference: the data of Karpathy's char-rnn / nanoGPT shakespeare_char. Introduced in notebooks/02-optim.
 */
export class CharCorpus implements ShapedDataset {
  /** The sorted unique characters; token id = index. */
  readonly vocab: readonly string[];
  /** The whole text as token ids. */
  readonly tokens: Int32Array;
  /** `[blockSize]`. */
  readonly xShape: readonly number[];
  /** `[blockSize]`. */
  readonly yShape: readonly number[];
  private readonly ids: Map<string, number>;

  /** A corpus over `text` with contexts of `blockSize` characters. */
  constructor(
    readonly text: string,
    readonly blockSize: number,
  ) {
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new Error(`charCorpus: blockSize must be a positive integer, got ${String(blockSize)}`);
    const chars = Array.from(text);
    if (chars.length < blockSize + 1) {
      throw new Error(`charCorpus: the text has ${chars.length} characters, fewer than blockSize + 1 = ${blockSize + 1}; use a longer text or a smaller blockSize`);
    }
    this.vocab = Object.freeze([...new Set(chars)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!));
    this.ids = new Map(this.vocab.map((c, i) => [c, i]));
    this.tokens = Int32Array.from(chars, (c) => this.ids.get(c)!);
    this.xShape = Object.freeze([blockSize]);
    this.yShape = Object.freeze([blockSize]);
  }

  /** Number of samples: T − blockSize. */
  get length(): number {
    return this.tokens.length - this.blockSize;
  }

  /** Number of distinct characters. */
  get vocabSize(): number {
    return this.vocab.length;
  }

  /** Sample i: `{ x: tokens[i, i+B), y: tokens[i+1, i+B+1) }`. */
  get(i: number): Sample {
    checkIndex('CharCorpus.get', i, this.length);
    return { x: this.tokens.subarray(i, i + this.blockSize), y: this.tokens.subarray(i + 1, i + this.blockSize + 1) };
  }

  /** Token ids of `s`; throws naming the first character not in the vocabulary. */
  encode(s: string): Int32Array {
    const chars = Array.from(s);
    return Int32Array.from(chars, (c, k) => {
      const id = this.ids.get(c);
      if (id === undefined) throw new Error(`CharCorpus.encode: character ${JSON.stringify(c)} at ${k} is not in the vocabulary of ${this.vocab.length} characters; use only characters of the corpus text`);
      return id;
    });
  }

  /** The text of token ids; throws naming the first id outside [0, vocabSize). */
  decode(ids: ArrayLike<number>): string {
    let out = '';
    for (let k = 0; k < ids.length; k++) {
      const c = this.vocab[ids[k] as number];
      if (c === undefined) throw new Error(`CharCorpus.decode: id ${String(ids[k])} at ${k} is outside [0, ${this.vocab.length})`);
      out += c;
    }
    return out;
  }
}

/**
 * A character-level next-token data set (see {@link CharCorpus}). Defaults: the
 * built-in {@link SONNETS} (five Shakespeare sonnets, public domain), blockSize 8.
 *
 * @example
 * const c = charCorpus(undefined, 16);
 * c.decode(c.get(0).x);   // 'XVIII\n\nS...'
 *
 * Introduced in notebooks/02-optim.
 */
export function charCorpus(text: string = SONNETS, blockSize = 8): CharCorpus {
  return new CharCorpus(text, blockSize);
}
