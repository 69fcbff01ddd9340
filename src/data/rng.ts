/**
 * A small, fast, seeded random number generator: xoshiro128** (Blackman &
 * Vigna 2018) with its 128-bit state filled from the seed by splitmix32. Every
 * random number gradlab draws (initial weights, dropout seeds, synthetic data,
 * shuffles) comes from an `Rng` you pass in, so the same seed gives the same
 * numbers on every run, backend and platform: the generator is pure 32-bit
 * integer arithmetic (`Math.imul`, shifts), and the normal draws use V8's
 * fdlibm-derived `Math.log`/`Math.cos`, which give identical results everywhere.
 *
 * Why not tfjs's own seeding: `tf.randomNormal(shape, mean, std, dtype, seed)`
 * reseeds per call, and a seed of 0 is treated as "no seed" (it draws from
 * `Math.random`), so a loop `for (i = 0; ...) tf.randomNormal(..., i)` silently
 * makes its first tensor irreproducible.
 *
 * @example
 * const r = gl.data.rng(42);
 * r.uniform(-1, 1);                       // a number in [−1, 1)
 * const W = r.normalTensor([784, 256], 0, 0.02);
 * const [a, b] = r.split(2);              // two independent streams
 *
 * Reference: xoshiro128** 1.1, https://prng.di.unimi.it/xoshiro128starstar.c.
 * Introduced in notebooks/01-backprop/02-tensors.
 */
import { tf } from '../backend/tf';

const TWO_32 = 2 ** 32;

/** splitmix32: a 32-bit integer hash used to spread a seed over the state. */
function splitmix32(state: { x: number }): number {
  state.x = (state.x + 0x9e3779b9) | 0;
  let z = state.x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));

/** A seeded random stream. Construct with {@link rng} or `new Rng(seed)`. */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  /** The second value of the last Box–Muller pair, or null. */
  private spare: number | null = null;

  /**
   * A stream from `seed`, any safe integer (negative and large values are fine;
   * all 53 bits count). Same seed, same stream.
   */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new Error(`Rng: seed must be a safe integer, got ${String(seed)}`);
    // Low and high 32 bits each drive a splitmix32 stream; each state word mixes both.
    const lo = { x: seed >>> 0 };
    const hi = { x: Math.floor(seed / TWO_32) | 0 };
    const word = () => (splitmix32(lo) ^ rotl(splitmix32(hi), 13)) | 0;
    this.s0 = word();
    this.s1 = word();
    this.s2 = word();
    this.s3 = word();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the one forbidden state
  }

  /** The next 32 random bits as an unsigned integer in [0, 2³²). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform number in [0, 1) with 32 random bits. */
  float(): number {
    return this.nextUint32() / TWO_32;
  }

  /** A uniform number in [lo, hi). Defaults: lo = 0, hi = 1. Reference: `torch.Tensor.uniform_(lo, hi)`. */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.float();
  }

  /**
   * A normal draw `mean + std·z`, z ~ N(0, 1) by Box–Muller:
   * `z₁ = √(−2 ln u₁) cos(2π u₂)`, `z₂ = √(−2 ln u₁) sin(2π u₂)`, u₁ ∈ (0, 1], u₂ ∈ [0, 1);
   * z₂ is kept for the next call. Defaults: mean = 0, std = 1.
   * Reference: `torch.Tensor.normal_(mean, std)` (same distribution, different stream).
   */
  normal(mean = 0, std = 1): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return mean + std * z;
    }
    const [z1, z2] = this.boxMuller();
    this.spare = z2;
    return mean + std * z1;
  }

  /** One Box–Muller pair of independent N(0, 1) draws. */
  private boxMuller(): [number, number] {
    const u1 = (this.nextUint32() + 1) / TWO_32; // (0, 1]: ln u₁ is finite
    const u2 = this.nextUint32() / TWO_32;
    const r = Math.sqrt(-2 * Math.log(u1));
    const a = 2 * Math.PI * u2;
    return [r * Math.cos(a), r * Math.sin(a)];
  }

  /** A uniform integer in [0, n), without modulo bias (rejection sampling); 1 ≤ n ≤ 2³². */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_32) throw new Error(`Rng.int: n must be an integer in [1, 2^32], got ${String(n)}`);
    const limit = TWO_32 - (TWO_32 % n); // accept x < limit: a multiple of n values
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** Shuffle `items` in place (Fisher–Yates) and return it. Reference: `random.shuffle`. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j] as T, items[i] as T];
    }
    return items;
  }

  /** A random permutation of 0..n−1. Reference: `torch.randperm(n)`. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /**
   * A new, independent stream, seeded from four draws of this one (so this
   * stream advances too). Forking in the same order gives the same children:
   * give each layer, data loader or worker its own fork and adding one more
   * consumer does not change what the others draw.
   */
  fork(): Rng {
    const child = new Rng(0);
    child.s0 = this.nextUint32();
    child.s1 = this.nextUint32();
    child.s2 = this.nextUint32();
    child.s3 = this.nextUint32();
    // Re-mix, so the child's outputs are not this stream's outputs shifted by a few places.
    const st = { x: child.s0 ^ rotl(child.s1, 13) ^ rotl(child.s2, 7) ^ child.s3 };
    child.s0 ^= splitmix32(st);
    child.s1 ^= splitmix32(st);
    child.s2 ^= splitmix32(st);
    child.s3 ^= splitmix32(st);
    if ((child.s0 | child.s1 | child.s2 | child.s3) === 0) child.s0 = 1;
    return child;
  }

  /** `n` independent streams: `[fork(), fork(), ...]`. */
  split(n: number): Rng[] {
    if (!Number.isInteger(n) || n < 0) throw new Error(`Rng.split: n must be a non-negative integer, got ${String(n)}`);
    return Array.from({ length: n }, () => this.fork());
  }

  /** `n` uniform draws in [lo, hi) as float32. */
  uniformArray(n: number, lo = 0, hi = 1): Float32Array {
    const out = new Float32Array(n);
    const w = hi - lo;
    for (let i = 0; i < n; i++) {
      const v = Math.fround(lo + w * (this.nextUint32() / TWO_32));
      out[i] = v < hi ? v : lo; // float32 rounding can reach hi; keep the interval half-open
    }
    return out;
  }

  /** `n` normal draws `mean + std·z` as float32 (Box–Muller pairs; see {@link normal}). */
  normalArray(n: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(n);
    let i = 0;
    if (this.spare !== null && n > 0) out[i++] = this.normal(mean, std);
    for (; i + 1 < n; i += 2) {
      const [z1, z2] = this.boxMuller();
      out[i] = mean + std * z1;
      out[i + 1] = mean + std * z2;
    }
    if (i < n) out[i] = this.normal(mean, std);
    return out;
  }

  /**
   * A float32 tfjs tensor of uniform draws in [lo, hi), drawn here (not by tfjs), so the
   * same seed gives the same tensor on every backend. You own it.
   * Reference: `torch.empty(shape).uniform_(lo, hi)`.
   */
  uniformTensor(shape: number[], lo = 0, hi = 1): tf.Tensor {
    if (!(lo <= hi)) throw new Error(`Rng.uniformTensor: need lo <= hi, got lo ${lo}, hi ${hi}`);
    return tf.tensor(this.uniformArray(sizeOf('uniformTensor', shape), lo, hi), shape, 'float32');
  }

  /** A float32 tfjs tensor of N(mean, std²) draws (see {@link uniformTensor}). Reference: `torch.normal(mean, std, shape)`. */
  normalTensor(shape: number[], mean = 0, std = 1): tf.Tensor {
    if (!(std >= 0)) throw new Error(`Rng.normalTensor: std must be >= 0, got ${std}`);
    return tf.tensor(this.normalArray(sizeOf('normalTensor', shape), mean, std), shape, 'float32');
  }

  /** An int32 tfjs tensor of uniform integers in [0, n) (class labels, token ids). Reference: `torch.randint(n, shape)`. */
  intTensor(shape: number[], n: number): tf.Tensor {
    const out = new Int32Array(sizeOf('intTensor', shape));
    for (let i = 0; i < out.length; i++) out[i] = this.int(n);
    return tf.tensor(out, shape, 'int32');
  }

  /** The full state (to save in a checkpoint); {@link Rng.fromState} resumes it. */
  state(): { s: [number, number, number, number]; spare: number | null } {
    return { s: [this.s0, this.s1, this.s2, this.s3], spare: this.spare };
  }

  /** Resume a stream saved by {@link state}, as a new generator. */
  static fromState(state: { s: readonly number[]; spare?: number | null }): Rng {
    return new Rng(0).setState(state, 'Rng.fromState');
  }

  /**
   * Rewind this generator in place to a state saved by {@link state}, so every
   * holder of it (a `Dropout` layer, a data sampler) continues the saved stream.
   * Reference: `torch.Generator.set_state`.
   */
  setState(state: { s: readonly number[]; spare?: number | null }, where = 'Rng.setState'): this {
    const s = state?.s;
    if (!Array.isArray(s) || s.length !== 4 || s.some((v) => !Number.isInteger(v)) || s.every((v) => (v | 0) === 0)) {
      throw new Error(`${where}: expected a state from Rng.state() (4 integers, not all zero), got ${JSON.stringify(s)}`);
    }
    const spare = state.spare ?? null;
    if (spare !== null && !Number.isFinite(spare)) throw new Error(`${where}: spare must be a finite number or null, got ${String(spare)}`);
    [this.s0, this.s1, this.s2, this.s3] = s.map((v) => v | 0) as [number, number, number, number];
    this.spare = spare;
    return this;
  }
}

function sizeOf(what: string, shape: number[]): number {
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`Rng.${what}: shape must be non-negative integers, got [${shape.join(',')}]`);
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * A seeded stream: `rng(seed)` = `new Rng(seed)`.
 *
 * @example
 * const r = rng(0);
 * const x = r.normalTensor([128, 784]);
 *
 * Introduced in notebooks/01-backprop/02-tensors.
 */
export function rng(seed: number): Rng {
  return new Rng(seed);
}
