/**
 * Data as regularisation: removing duplicate samples, and seeded augmentations
 * of grayscale images stored as a Float32Array `[n, h, w]` (row-major). Every
 * function is pure: it returns a new array and draws only from the `Rng` it is given.
 *
 * Introduced in notebooks/02-optim.
 */
import type { Dataset, Sample } from './dataset';
import type { Rng } from './rng';

/** Options of {@link dedup}: exact byte equality (default) or equality after rounding. */
export interface DedupOptions {
  /** Compare the feature bytes exactly (the default). 0 and −0 differ; identical NaNs are equal. */
  exact?: boolean;
  /** Instead: two samples are equal when `round(v / roundTo)` agree at every position (e.g. 1/255). */
  roundTo?: number;
}

/** The result of {@link dedup}. */
export interface DedupResult {
  /** Indices of the samples kept: the first of each group of equal samples, ascending. */
  keep: number[];
  /** Number of samples dropped (n − keep.length). */
  duplicates: number;
  /** For each sample, −1 if kept, else the index of the kept sample it equals. */
  duplicateOf: Int32Array;
}

/** FNV-1a over bytes: a 32-bit hash. */
function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
  return h >>> 0;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Find duplicate samples by their features `x` (labels are not compared).
 * Each sample's bytes (exact) or rounded values (`roundTo`) are hashed (FNV-1a)
 * and, on a hash hit, compared in full, so the answer is exact, not probabilistic.
 * Input: a dataset of {@link Sample}s, or a flat array with `sampleSize` values per sample.
 *
 * @example
 * const { keep, duplicates } = dedup(train);
 * const clean = subset(train, keep);
 *
 * Reference: exact-match deduplication of training data (Lee et al. 2022,
 * "Deduplicating Training Data Makes Language Models Better"). Introduced in notebooks/02-optim.
 */
export function dedup(data: Dataset<Sample> | { x: Float32Array | Int32Array; sampleSize: number }, options: DedupOptions = {}): DedupResult {
  const { roundTo } = options;
  if (roundTo !== undefined && !(roundTo > 0 && Number.isFinite(roundTo))) throw new Error(`dedup: roundTo must be a positive number, got ${String(roundTo)}`);
  if (roundTo !== undefined && options.exact) throw new Error('dedup: give exact or roundTo, not both');
  let n: number;
  let sampleAt: (i: number) => Float32Array | Int32Array;
  if ('sampleSize' in data) {
    const { x, sampleSize } = data;
    if (!Number.isInteger(sampleSize) || sampleSize < 1 || x.length % sampleSize !== 0) {
      throw new Error(`dedup: x has ${x.length} values, not a whole number of samples of sampleSize ${String(sampleSize)}`);
    }
    n = x.length / sampleSize;
    sampleAt = (i) => x.subarray(i * sampleSize, (i + 1) * sampleSize);
  } else {
    n = data.length;
    sampleAt = (i) => data.get(i).x;
  }
  const keyOf = (a: Float32Array | Int32Array): Uint8Array => {
    if (roundTo === undefined) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const r = Float64Array.from(a, (v) => Math.round(v / roundTo) + 0); // + 0 turns −0 into 0
    return new Uint8Array(r.buffer);
  };
  const buckets = new Map<number, number[]>();
  const keys: Uint8Array[] = [];
  const keep: number[] = [];
  const duplicateOf = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    const key = keyOf(sampleAt(i));
    const h = fnv1a(key);
    const bucket = buckets.get(h);
    const match = bucket?.find((j) => sameBytes(keys[j]!, key));
    if (match !== undefined) {
      duplicateOf[i] = match;
      continue;
    }
    if (bucket) bucket.push(i);
    else buckets.set(h, [i]);
    keys[i] = key; // only kept samples are compared against
    keep.push(i);
  }
  return { keep, duplicates: n - keep.length, duplicateOf };
}

function imageCount(where: string, images: Float32Array, h: number, w: number): number {
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) throw new Error(`${where}: h and w must be positive integers, got ${String(h)} x ${String(w)}`);
  const n = images.length / (h * w);
  if (!Number.isInteger(n)) throw new Error(`${where}: ${images.length} values are not a whole number of ${h}x${w} images`);
  return n;
}

/**
 * Translate every image by (dy, dx) pixels, filling with zeros:
 * `out[i, r, c] = in[i, r − dy, c − dx]` where that lies inside the image, else 0
 * (dy > 0 moves the content down, dx > 0 right).
 *
 * Reference: `torchvision.transforms.functional.affine(img, translate=(dx, dy))` with
 * zero fill. Introduced in notebooks/02-optim.
 */
export function shift(images: Float32Array, h: number, w: number, dy: number, dx: number): Float32Array {
  const n = imageCount('shift', images, h, w);
  if (!Number.isInteger(dy) || !Number.isInteger(dx)) throw new Error(`shift: dy and dx must be integers, got ${String(dy)}, ${String(dx)}`);
  const out = new Float32Array(images.length);
  for (let i = 0; i < n; i++) shiftInto(images, out, i, h, w, dy, dx);
  return out;
}

function shiftInto(src: Float32Array, out: Float32Array, i: number, h: number, w: number, dy: number, dx: number): void {
  const base = i * h * w;
  const c0 = Math.max(0, dx);
  const c1 = Math.min(w, w + dx);
  if (c0 >= c1) return;
  for (let r = Math.max(0, dy); r < Math.min(h, h + dy); r++) {
    const from = base + (r - dy) * w + (c0 - dx);
    out.set(src.subarray(from, from + (c1 - c0)), base + r * w + c0);
  }
}

/**
 * Shift each image by its own random (dy, dx), each drawn uniformly from the
 * integers in [−maxShift, maxShift] (dy first, then dx, image by image), zero fill
 * (see {@link shift}). Equivalent to torchvision's `RandomCrop(size, padding=maxShift)`
 * back at the original size. Returns the images and the shifts drawn.
 *
 * Reference: `torchvision.transforms.RandomAffine(0, translate=...)`. Introduced in notebooks/02-optim.
 */
export function randomShift(images: Float32Array, h: number, w: number, maxShift: number, rng: Rng): { images: Float32Array; shifts: Int32Array } {
  const n = imageCount('randomShift', images, h, w);
  if (!Number.isInteger(maxShift) || maxShift < 0) throw new Error(`randomShift: maxShift must be a non-negative integer, got ${String(maxShift)}`);
  const out = new Float32Array(images.length);
  const shifts = new Int32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const dy = rng.int(2 * maxShift + 1) - maxShift;
    const dx = rng.int(2 * maxShift + 1) - maxShift;
    shifts[2 * i] = dy;
    shifts[2 * i + 1] = dx;
    shiftInto(images, out, i, h, w, dy, dx);
  }
  return { images: out, shifts };
}

/**
 * Crop each image to `size = [ch, cw]` at a random offset, after zero padding of
 * `padding` pixels on every side: offsets `top ~ U{0..h+2p−ch}`, `left ~ U{0..w+2p−cw}`,
 * `out[i, r, c] = padded[i, top + r, left + c]`. Returns `[n, ch, cw]`.
 *
 * Reference: `torchvision.transforms.RandomCrop(size, padding)`. Introduced in notebooks/02-optim.
 */
export function randomCrop(images: Float32Array, h: number, w: number, size: readonly [number, number], padding: number, rng: Rng): Float32Array {
  const n = imageCount('randomCrop', images, h, w);
  const [ch, cw] = size;
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`randomCrop: padding must be a non-negative integer, got ${String(padding)}`);
  if (!Number.isInteger(ch) || !Number.isInteger(cw) || ch < 1 || cw < 1 || ch > h + 2 * padding || cw > w + 2 * padding) {
    throw new Error(`randomCrop: size [${ch}, ${cw}] must be positive and fit the padded ${h + 2 * padding}x${w + 2 * padding} image`);
  }
  const out = new Float32Array(n * ch * cw);
  for (let i = 0; i < n; i++) {
    const top = rng.int(h + 2 * padding - ch + 1) - padding;
    const left = rng.int(w + 2 * padding - cw + 1) - padding;
    for (let r = 0; r < ch; r++) {
      const sr = top + r;
      if (sr < 0 || sr >= h) continue;
      for (let c = 0; c < cw; c++) {
        const sc = left + c;
        if (sc >= 0 && sc < w) out[(i * ch + r) * cw + c] = images[(i * h + sr) * w + sc] as number;
      }
    }
  }
  return out;
}

/**
 * `x + std·z`, z ~ N(0, 1) drawn from `rng` (see {@link Rng.normalArray}); optionally clipped to `clip = [lo, hi]`.
 *
 * Reference: `x + std * torch.randn_like(x)`. Introduced in notebooks/02-optim.
 */
export function addNoise(x: Float32Array, std: number, rng: Rng, clip?: readonly [number, number]): Float32Array {
  if (!(std >= 0)) throw new Error(`addNoise: std must be >= 0, got ${String(std)}`);
  const z = rng.normalArray(x.length, 0, std);
  for (let i = 0; i < x.length; i++) {
    let v = (x[i] as number) + (z[i] as number);
    if (clip) v = Math.min(clip[1], Math.max(clip[0], v));
    z[i] = v;
  }
  return z;
}

/**
 * 2×2 average pooling of images `[n, h, w]` (h, w even) to `[n, h/2, w/2]`:
 * `out[i, r, c] = (in[2r, 2c] + in[2r, 2c+1] + in[2r+1, 2c] + in[2r+1, 2c+1]) / 4`.
 *
 * Reference: `torch.nn.functional.avg_pool2d(x, 2)`. Introduced in notebooks/02-optim.
 */
export function avgPool2x2(images: Float32Array, h: number, w: number): Float32Array {
  const n = imageCount('avgPool2x2', images, h, w);
  if (h % 2 !== 0 || w % 2 !== 0) throw new Error(`avgPool2x2: h and w must be even, got ${h}x${w}`);
  const oh = h / 2;
  const ow = w / 2;
  const out = new Float32Array(n * oh * ow);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < oh; r++) {
      const a = (i * h + 2 * r) * w;
      const b = a + w;
      for (let c = 0; c < ow; c++) {
        out[(i * oh + r) * ow + c] = ((images[a + 2 * c] as number) + (images[a + 2 * c + 1] as number) + (images[b + 2 * c] as number) + (images[b + 2 * c + 1] as number)) / 4;
      }
    }
  }
  return out;
}
