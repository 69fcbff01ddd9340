/**
 * The data sets and the data-as-regularisation helpers: spirals follow the
 * CS231n formula, regression targets are f(x) plus noise of the asked size, the
 * character corpus shifts by one, the digits are the 10,000 of the mnist package
 * with exact 2×2 pooling, dedup finds exactly the duplicates, and augmentations
 * move pixels exactly and add noise of the asked std.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tf } from '../src/backend/tf';
import { useBackend } from './helpers/backend';
import {
  DataLoader,
  SONNETS,
  TensorDataset,
  addNoise,
  avgPool2x2,
  charCorpus,
  dedup,
  digits,
  noisyRegression,
  randomCrop,
  randomShift,
  rng,
  shift,
  spirals,
} from '../src/data';

function meanStd(xs: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < xs.length; i++) {
    s += xs[i] as number;
    s2 += (xs[i] as number) ** 2;
  }
  const mean = s / xs.length;
  return { mean, std: Math.sqrt(s2 / xs.length - mean * mean) };
}

describe('data: synthetic sets', () => {
  it('spirals: N points per class, ‖x‖ = i/(N−1), angle 4j + 4i/(N−1) without noise', () => {
    const ds = spirals({ n: 50, classes: 3, noise: 0, seed: 1 });
    assert.equal(ds.length, 150);
    assert.deepEqual(ds.xShape, [2]);
    const counts = [0, 0, 0];
    for (let k = 0; k < ds.length; k++) {
      const { x, y } = ds.get(k);
      const j = y[0]!;
      counts[j]! += 1;
      const i = k - 50 * j;
      assert.ok(Math.abs(Math.hypot(x[0]!, x[1]!) - i / 49) < 1e-6, `radius of point ${k}`);
      if (i > 0) {
        // x = r (sin t, cos t): atan2(x0, x1) = t mod 2π
        const t = 4 * j + (4 * i) / 49;
        const d = Math.atan2(x[0]!, x[1]!) - t;
        assert.ok(Math.abs(d - 2 * Math.PI * Math.round(d / (2 * Math.PI))) < 1e-5, `angle of point ${k}`);
      }
    }
    assert.deepEqual(counts, [50, 50, 50]);
  });

  it('spirals: noise moves only the angle; same seed same set, other seed other set', () => {
    const a = spirals({ seed: 3 });
    const b = spirals({ seed: 3 });
    const c = spirals({ seed: 4 });
    assert.equal(a.length, 300);
    assert.deepEqual(a.x, b.x);
    assert.notDeepEqual(a.x, c.x);
    for (let k = 0; k < a.length; k++) assert.ok(Math.abs(Math.hypot(a.x[2 * k]!, a.x[2 * k + 1]!) - (k % 100) / 99) < 1e-6);
    assert.throws(() => spirals({ n: 0 }), /spirals: n \(points per class\) must be a positive integer, got 0/);
  });

  it('noisyRegression: y − f(x) has the asked std, x sorted in range; changing the noise keeps x', () => {
    const ds = noisyRegression({ n: 4000, noise: 0.3, seed: 2 });
    assert.deepEqual([ds.xShape, ds.yShape], [[1], [1]]);
    const res = Array.from(ds.x, (x, i) => ds.y[i]! - Math.sin(x));
    const m = meanStd(res);
    assert.ok(Math.abs(m.std - 0.3) < 0.015, `residual std ${m.std}`); // sd of a sample std ≈ 0.3/√8000 ≈ 0.0034
    assert.ok(Math.abs(m.mean) < 0.02, `residual mean ${m.mean}`);
    assert.ok(ds.x.every((v, i) => v >= -Math.PI && v < Math.PI && (i === 0 || v >= ds.x[i - 1]!)));
    const clean = noisyRegression({ n: 4000, noise: 0, seed: 2 });
    assert.deepEqual(clean.x, ds.x);
    assert.ok(clean.y.every((v, i) => v === Math.fround(Math.sin(clean.x[i]!))));
  });

  it('noisyRegression with degree: a seeded polynomial Σ c_k x^k', () => {
    const ds = noisyRegression({ n: 10, degree: 3, noise: 0, seed: 5 });
    const c = ds.coefficients!;
    assert.equal(c.length, 4);
    for (let i = 0; i < ds.length; i++) {
      const x = ds.x[i]!;
      assert.ok(Math.abs(ds.y[i]! - (c[0]! + c[1]! * x + c[2]! * x * x + c[3]! * x ** 3)) < 1e-5);
      assert.ok(x >= -1 && x < 1);
    }
    assert.deepEqual(noisyRegression({ n: 10, degree: 3, seed: 5 }).coefficients, c);
    assert.throws(() => noisyRegression({ degree: 2, fn: Math.cos }), /give fn or degree, not both/);
  });

  it('charCorpus: sorted vocabulary, encode/decode round trip, y is x shifted by one', () => {
    const c = charCorpus('hello world', 4);
    assert.deepEqual(c.vocab, [' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w']);
    assert.equal(c.length, 11 - 4);
    assert.equal(c.decode(c.encode('hold')), 'hold');
    const s = c.get(2);
    assert.equal(c.decode(s.x), 'llo ');
    assert.equal(c.decode(s.y), 'lo w');
    for (let i = 0; i < c.length; i++) assert.deepEqual(c.get(i).y.subarray(0, 3), c.get(i).x.subarray(1));
    assert.throws(() => c.encode('help'), /CharCorpus.encode: character "p" at 3 is not in the vocabulary of 8 characters/);
    assert.throws(() => c.decode([0, 8]), /id 8 at 1 is outside \[0, 8\)/);
    assert.throws(() => charCorpus('abc', 3), /the text has 3 characters, fewer than blockSize \+ 1 = 4/);
  });

  it('charCorpus: the built-in text is a few KB of ASCII, and batches are int32 [b, blockSize]', async () => {
    await useBackend('cpu');
    const c = charCorpus();
    assert.equal(c.text, SONNETS);
    assert.ok(SONNETS.length > 2000 && SONNETS.length < 8000, `${SONNETS.length} characters`);
    assert.ok(/^[\x0a\x20-\x7e]*$/.test(SONNETS), 'ASCII only');
    assert.ok(SONNETS.includes("Shall I compare thee to a summer's day?"));
    assert.equal(c.decode(c.tokens), SONNETS);
    const before = tf.memory().numTensors;
    const [b] = new DataLoader(c, { batchSize: 5, shuffle: true, seed: 0 });
    assert.deepEqual([b!.x.shape, b!.y.shape, b!.x.dtype, b!.y.dtype], [[5, 8], [5, 8], 'int32', 'int32']);
    const x = b!.x.arraySync() as number[][];
    const y = b!.y.arraySync() as number[][];
    b!.indices.forEach((i, k) => assert.deepEqual([...x[k]!.slice(1), y[k]![7]], Array.from(c.tokens.subarray(i + 1, i + 9))));
    b!.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('data: digits (MNIST subset from the mnist package)', () => {
  let all: TensorDataset;
  before(function () {
    this.timeout(60000);
    all = digits();
  });

  it('has 10,000 digits, about 1,000 per class, pixels in [0, 1], the same as the JSON files', () => {
    assert.equal(all.length, 10000);
    assert.deepEqual(all.xShape, [784]);
    const counts = new Array(10).fill(0);
    all.y.forEach((d) => (counts[d] += 1));
    assert.equal(counts.reduce((a, b) => a + b, 0), 10000);
    assert.ok(counts.every((c) => c > 800 && c < 1200), `counts ${counts}`);
    let min = Infinity;
    let max = -Infinity;
    for (const v of all.x) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    assert.deepEqual([min, max], [0, 1]);
    // Per class, the counts are the files' lengths / 784, and an image is a file's row.
    const dir = path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
    const three: number[] = JSON.parse(fs.readFileSync(path.join(dir, '3.json'), 'utf8')).data;
    assert.equal(counts[3], three.length / 784);
    const k = all.y.indexOf(3);
    const img = Array.from(all.get(k).x);
    let found = false;
    for (let r = 0; r < three.length / 784 && !found; r++) found = img.every((v, p) => v === Math.fround(three[r * 784 + p]!));
    assert.ok(found, 'a digit 3 of the set is a row of 3.json');
  });

  it('takes n by a seeded shuffle (smaller n is a prefix), and caches the files', () => {
    const t0 = Date.now();
    const a = digits({ n: 100, seed: 7 });
    const ms = Date.now() - t0;
    assert.ok(ms < 1000, `second load took ${ms} ms: the cache should make it fast`);
    const b = digits({ n: 300, seed: 7 });
    assert.deepEqual(a.x, b.x.subarray(0, 100 * 784));
    assert.deepEqual(a.y, b.y.subarray(0, 100));
    assert.notDeepEqual(a.y, digits({ n: 100, seed: 8 }).y);
    assert.ok(new Set(b.y).size === 10, 'a shuffle mixes the classes');
    assert.throws(() => digits({ n: 0 }), /digits: n must be an integer in \[1, 10000\], got 0/);
  });

  it('size 14 is the 2×2 average of the 28×28 image, pixel by pixel', () => {
    const big = digits({ n: 20, seed: 1, flatten: false });
    const small = digits({ n: 20, seed: 1, size: 14 });
    assert.deepEqual(big.xShape, [28, 28]);
    assert.deepEqual(small.xShape, [196]);
    assert.deepEqual(small.y, big.y);
    for (let i = 0; i < 20; i++) {
      const b = big.get(i).x;
      const s = small.get(i).x;
      for (let r = 0; r < 14; r++) {
        for (let c = 0; c < 14; c++) {
          const px = (rr: number, cc: number) => b[rr * 28 + cc]!;
          const manual = (px(2 * r, 2 * c) + px(2 * r, 2 * c + 1) + px(2 * r + 1, 2 * c) + px(2 * r + 1, 2 * c + 1)) / 4;
          assert.ok(Math.abs(s[r * 14 + c]! - manual) < 1e-7, `image ${i} (${r}, ${c})`);
        }
      }
    }
  });

  it('feeds a DataLoader: float32 x [b, 196] and int32 labels, nothing left behind', async () => {
    await useBackend('cpu');
    const ds = digits({ n: 100, seed: 0, size: 14 });
    const before = tf.memory().numTensors;
    let seen = 0;
    for (const b of new DataLoader(ds, { batchSize: 32, shuffle: true })) {
      assert.deepEqual([b.x.shape, b.x.dtype, b.y.dtype], [[b.indices.length, 196], 'float32', 'int32']);
      assert.deepEqual(Array.from(b.y.dataSync()), b.indices.map((i) => ds.y[i]!));
      seen += b.indices.length;
      b.dispose();
    }
    assert.equal(seen, 100);
    assert.equal(tf.memory().numTensors, before);
  });

  it('avgPool2x2 agrees with tf.avgPool', async () => {
    await useBackend('cpu');
    const img = rng(0).uniformArray(3 * 6 * 4);
    const ours = avgPool2x2(img, 6, 4);
    const theirs = tf.tidy(() => tf.avgPool(tf.tensor4d(img, [3, 6, 4, 1]), 2, 2, 'valid').dataSync());
    assert.equal(ours.length, 3 * 3 * 2);
    ours.forEach((v, i) => assert.ok(Math.abs(v - theirs[i]!) < 1e-6));
  });
});

describe('data: dedup and augmentation', () => {
  it('dedup finds exactly the repeated samples, first occurrence kept', () => {
    const base = rng(1).uniformArray(6 * 4);
    // samples 0..5, then copies of 2 and 4, and of 2 again: 9 samples, 3 duplicates
    const x = new Float32Array(9 * 4);
    x.set(base);
    x.set(base.subarray(8, 12), 24);
    x.set(base.subarray(16, 20), 28);
    x.set(base.subarray(8, 12), 32);
    const ds = new TensorDataset(x, new Int32Array(9));
    const r = dedup(ds);
    assert.deepEqual(r.keep, [0, 1, 2, 3, 4, 5]);
    assert.equal(r.duplicates, 3);
    assert.deepEqual(Array.from(r.duplicateOf), [-1, -1, -1, -1, -1, -1, 2, 4, 2]);
    assert.deepEqual(dedup({ x, sampleSize: 4 }).keep, r.keep);
  });

  it('dedup with roundTo merges near-duplicates that exact dedup keeps apart', () => {
    const x = Float32Array.from([0.1, 0.2, 0.1 + 1e-4, 0.2 - 1e-4, 0.5, 0.2]);
    assert.equal(dedup({ x, sampleSize: 2 }).duplicates, 0);
    const r = dedup({ x, sampleSize: 2 }, { roundTo: 1 / 255 });
    assert.deepEqual([r.keep, r.duplicates], [[0, 2], 1]);
    assert.throws(() => dedup({ x, sampleSize: 4 }), /6 values, not a whole number of samples of sampleSize 4/);
  });

  it('shift by (1, 0) moves every row down one, zero fill; (0, −2) moves columns left', () => {
    const img = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i + 1); // 2 images 3x4
    assert.deepEqual(Array.from(shift(img, 3, 4, 1, 0)), [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 13, 14, 15, 16, 17, 18, 19, 20]);
    assert.deepEqual(Array.from(shift(img, 3, 4, 0, -2).subarray(0, 12)), [3, 4, 0, 0, 7, 8, 0, 0, 11, 12, 0, 0]);
    assert.deepEqual(Array.from(shift(img, 3, 4, 3, 0)), new Array(24).fill(0));
    assert.deepEqual(Array.from(shift(img, 3, 4, 0, 0)), Array.from(img));
  });

  it('randomShift draws each shift in [−m, m] and applies it as shift does; seeded', () => {
    const imgs = rng(2).uniformArray(50 * 5 * 5);
    const { images, shifts } = randomShift(imgs, 5, 5, 2, rng(3));
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const [dy, dx] = [shifts[2 * i]!, shifts[2 * i + 1]!];
      assert.ok(Math.abs(dy) <= 2 && Math.abs(dx) <= 2);
      seen.add(`${dy},${dx}`);
      assert.deepEqual(images.subarray(i * 25, (i + 1) * 25), shift(imgs.subarray(i * 25, (i + 1) * 25), 5, 5, dy, dx));
    }
    assert.ok(seen.size > 10, 'shifts vary');
    assert.deepEqual(randomShift(imgs, 5, 5, 2, rng(3)).images, images);
  });

  it('randomCrop with padding p back to the full size is a shift in [−p, p]; a smaller crop is a window', () => {
    const imgs = rng(4).uniformArray(30 * 6 * 6);
    const out = randomCrop(imgs, 6, 6, [6, 6], 1, rng(5));
    for (let i = 0; i < 30; i++) {
      const o = out.subarray(i * 36, (i + 1) * 36);
      const src = imgs.subarray(i * 36, (i + 1) * 36);
      let match = 0;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) if (shift(src, 6, 6, dy, dx).every((v, k) => v === o[k])) match++;
      assert.equal(match, 1, `image ${i} is one shift of its source`);
    }
    const win = randomCrop(Float32Array.from({ length: 16 }, (_, i) => i), 4, 4, [2, 2], 0, rng(6));
    const [a, b, c, d] = Array.from(win);
    assert.deepEqual([b! - a!, c! - a!, d! - a!], [1, 4, 5]);
  });

  it('addNoise adds zero-mean noise with the asked std, and clips', () => {
    const x = new Float32Array(100_000).fill(0.5);
    const y = addNoise(x, 0.1, rng(7));
    const m = meanStd(Array.from(y, (v, i) => v - x[i]!));
    assert.ok(Math.abs(m.std - 0.1) < 0.002, `std ${m.std}`); // sd of the std ≈ 0.1/√2e5 ≈ 0.0002
    assert.ok(Math.abs(m.mean) < 0.002, `mean ${m.mean}`);
    assert.equal(x[0], 0.5, 'input untouched');
    const c = addNoise(x, 1, rng(7), [0, 1]);
    assert.ok(c.every((v) => v >= 0 && v <= 1));
    assert.deepEqual(addNoise(x, 0.1, rng(7)), y);
  });
});
