/**
 * Checking a backward rule against central finite differences.
 *
 * Introduced in notebooks/01-backprop/02-tensors.
 */
import { tf } from '../backend/tf';
import { noGrad, readSync } from './mode';
import { Tensor } from './tensor';

/** Options of {@link gradcheck}. */
export interface GradcheckOptions {
  /** Step, relative to the element: `h = eps·max(1, |x_j|)` (h/2 is used too). Default 1e-2. */
  eps?: number;
  /** Absolute tolerance. Default 1e-4. */
  atol?: number;
  /** Relative tolerance. Default 1e-3. */
  rtol?: number;
  /** Seed of the random output weights r. Default 0. */
  seed?: number;
}

/** One input's verdict in a {@link GradcheckReport}. */
export interface GradcheckInput {
  /** Position among the inputs. */
  index: number;
  /** Whether every element passed `|analytic − numeric| ≤ atol + rtol·|numeric|`. */
  ok: boolean;
  /** False for integer/bool inputs, which have no gradient (then the fields below are 0/empty). */
  checked: boolean;
  /** The element with the largest `|analytic − numeric| / (atol + rtol·|numeric|)`: its multi-index. */
  at: number[];
  /** At that element: `|a − n| / max(|a|, |n|)` (0 when both are 0). */
  worstRelError: number;
  /** At that element: the engine's gradient. */
  analytic: number;
  /** At that element: the finite-difference estimate (central differences, Richardson-extrapolated). */
  numeric: number;
  /** Largest `|a − n|` over all elements. */
  maxAbsError: number;
}

/** What {@link gradcheck} returns; `summary` is one line per input. */
export interface GradcheckReport {
  /** Whether every checked input passed. */
  ok: boolean;
  /** One verdict per input, in order. */
  inputs: GradcheckInput[];
  /** One line per input, e.g. `input 0: ok, worst at [1,2]: analytic 0.034, numeric 0.034, rel. error 9.5e-5 (...)`. */
  summary: string;
}

/** mulberry32: a tiny seeded generator for the weights r (uniform in [−1, 1)). */
function weights(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  }
  return out;
}

function unravel(i: number, shape: readonly number[]): number[] {
  const idx: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d] as number;
    idx.unshift(i % n);
    i = Math.floor(i / n);
  }
  return idx;
}

/** One evaluation of the forward with perturbed inputs, waiting to be read. */
interface Pending {
  out: Tensor;
  leaves: Tensor[];
}

/**
 * The algorithm, written once for both read-back styles: it yields the tensors it
 * needs read (several at a time, so an asynchronous backend overlaps them) and
 * receives their values; {@link gradcheck} answers with `dataSync()`,
 * {@link gradcheckAsync} with `await data()`.
 */
function* check(
  fn: (...xs: Tensor[]) => Tensor,
  inputs: (tf.Tensor | Tensor)[],
  { eps = 1e-2, atol = 1e-4, rtol = 1e-3, seed = 0 }: GradcheckOptions,
): Generator<tf.Tensor[], GradcheckReport, tf.TypedArray[]> {
  if (!(eps > 0 && eps <= 0.5)) throw new Error(`gradcheck: eps must be in (0, 0.5], got ${eps}`);
  if (!(atol >= 0) || !(rtol >= 0)) throw new Error(`gradcheck: atol and rtol must be >= 0, got atol ${atol}, rtol ${rtol}`);
  const raw = inputs.map((x) => (x instanceof Tensor ? x.data : x));
  const values = (yield raw).map((v) => v.slice());
  const isFloat = raw.map((x) => x.dtype === 'float32');
  // (copies: tf.tensor may keep the array it is given, and `values` is perturbed in place)
  const leaves = (vals: typeof values, grad: boolean) =>
    raw.map((x, i) => new Tensor(tf.tensor((vals[i] as tf.TypedArray).slice(), x.shape, x.dtype), { op: 'leaf', isLeaf: true, requiresGrad: grad && isFloat[i] }));

  // Analytic: one forward and backward(r), i.e. ∂L/∂x for L = Σ r·y.
  const xs = leaves(values, true);
  let r: Float64Array;
  let analytic: Float64Array[];
  try {
    const y = fn(...xs);
    r = weights(y.size, seed);
    const rT = tf.tensor(Float32Array.from(r), y.shape);
    try {
      if (y.requiresGrad) y.backward(rT);
    } finally {
      y.dispose();
      rT.dispose();
    }
    const withGrad = xs.filter((x) => x.grad !== null);
    const grads = yield withGrad.map((x) => x.grad as tf.Tensor);
    analytic = xs.map((x) => {
      const k = withGrad.indexOf(x);
      return k >= 0 ? Float64Array.from(grads[k] as Float32Array) : new Float64Array(x.size);
    });
  } finally {
    xs.forEach((x) => x.dispose());
  }

  // The evaluations: for every float element j, L at x_j ± h and x_j ± h/2 (4 forwards),
  // with the actual (float32-rounded) half-steps of each pair.
  const jobs: { input: number; j: number; steps: [number, number] }[] = [];
  const points: { input: number; j: number; value: number }[] = [];
  raw.forEach((_, input) => {
    if (!isFloat[input]) return;
    const v = values[input] as Float32Array;
    for (let j = 0; j < v.length; j++) {
      const x0 = v[j] as number;
      const h = eps * Math.max(1, Math.abs(x0));
      const at = [x0 + h, x0 - h, x0 + h / 2, x0 - h / 2].map(Math.fround) as [number, number, number, number];
      jobs.push({ input, j, steps: [(at[0] - at[1]) / 2, (at[2] - at[3]) / 2] });
      for (const value of at) points.push({ input, j, value });
    }
  });
  const L = new Float64Array(points.length);
  const CHUNK = 64; // forwards in flight before one read-back
  for (let start = 0; start < points.length; start += CHUNK) {
    const batch = points.slice(start, start + CHUNK);
    const pending: Pending[] = [];
    let read: tf.TypedArray[];
    try {
      noGrad(() => {
        for (const pt of batch) {
          const v = values[pt.input] as Float32Array;
          const x0 = v[pt.j] as number;
          v[pt.j] = pt.value;
          const ls = leaves(values, false);
          v[pt.j] = x0;
          try {
            pending.push({ out: fn(...ls), leaves: ls });
          } catch (e) {
            ls.forEach((l) => l.dispose());
            throw e;
          }
        }
      });
      read = yield pending.map((p) => p.out.data);
    } finally {
      for (const p of pending) {
        p.out.dispose();
        p.leaves.forEach((l) => l.dispose());
      }
    }
    read.forEach((v, k) => {
      let s = 0; // L(x) = Σ r·y in float64, from the float32 forward
      for (let i = 0; i < v.length; i++) s += (r[i] as number) * (v[i] as number);
      L[start + k] = s;
    });
  }

  const report = raw.map((_, index): GradcheckInput => ({
    index, ok: true, checked: isFloat[index] as boolean, at: [], worstRelError: 0, analytic: 0, numeric: 0, maxAbsError: 0,
  }));
  const worst = raw.map(() => -1);
  jobs.forEach((job, k) => {
    const [lUp, lDown, lUp2, lDown2] = [0, 1, 2, 3].map((o) => L[4 * k + o] as number) as [number, number, number, number];
    const [s1, s2] = job.steps;
    const d1 = (lUp - lDown) / (2 * s1); // central difference: f' + s1²·f'''/6 + O(s1⁴)
    const d2 = (lUp2 - lDown2) / (2 * s2);
    // Richardson: cancel the s² term exactly for the actual steps (s1 ≈ 2·s2).
    const n = (s1 * s1 * d2 - s2 * s2 * d1) / (s1 * s1 - s2 * s2);
    const a = (analytic[job.input] as Float64Array)[job.j] as number;
    const err = Math.abs(a - n);
    const ratio = Number.isNaN(err) ? Infinity : err / (atol + rtol * Math.abs(n));
    const res = report[job.input] as GradcheckInput;
    res.maxAbsError = Math.max(res.maxAbsError, Number.isNaN(err) ? Infinity : err);
    if (ratio > 1) res.ok = false;
    if (ratio > (worst[job.input] as number)) {
      worst[job.input] = ratio;
      res.at = unravel(job.j, (raw[job.input] as tf.Tensor).shape);
      res.analytic = a;
      res.numeric = n;
      const scale = Math.max(Math.abs(a), Math.abs(n));
      res.worstRelError = scale === 0 ? 0 : err / scale;
    }
  });
  const ok = report.every((i) => i.ok);
  const summary = report
    .map((i) =>
      i.checked
        ? `input ${i.index}: ${i.ok ? 'ok' : 'NOT OK'}, worst at [${i.at.join(',')}]: analytic ${i.analytic.toPrecision(6)}, ` +
          `numeric ${i.numeric.toPrecision(6)}, rel. error ${i.worstRelError.toExponential(2)} (max abs. error ${i.maxAbsError.toExponential(2)})`
        : `input ${i.index}: not checked (${raw[i.index]?.dtype})`,
    )
    .join('\n');
  return { ok, inputs: report, summary };
}

/**
 * Compare the engine's gradients of `fn` with finite differences.
 *
 * The output is reduced to a scalar with fixed random weights,
 * `L = Σ_i r_i · fn(x)_i` (r uniform in [−1, 1), seeded), which checks the whole
 * vector-Jacobian product at the cost of one backward. For every element `x_j`
 * of every float input, with `h = eps·max(1, |x_j|)` (the actual float32 steps are used):
 * - `D(h) = (L(x + h e_j) − L(x − h e_j)) / (2h)`, a central difference, error `h²f‴/6 + O(h⁴)`;
 * - `numeric_j = D(h/2) + (D(h/2) − D(h)) / 3` (Richardson extrapolation), which cancels
 *   the h² term: error `h⁴f⁽⁵⁾/480 + O(h⁶)`;
 *
 * against `analytic_j = (∂L/∂x)_j` from `backward()`. An element passes when
 * `|a − n| ≤ atol + rtol·|n|` (as in `torch.allclose`). Integer and bool inputs
 * (indices, masks) are passed through unchecked.
 *
 * Why these defaults (eps 1e-2, atol 1e-4, rtol 1e-3): fn runs in float32 on the
 * backend (unit roundoff u = 2⁻²⁴ ≈ 6e-8; tfjs has no float64, so PyTorch's
 * float64 recipe, h = 1e-6, is not available on any backend). The error of `numeric`
 * is the truncation `h⁴|f⁽⁵⁾|/480 ≈ 2e-11·|f⁽⁵⁾|`, negligible, plus the rounding of
 * the outputs, about `3u·S/h ≈ 2e-5·S`, where S is the size of the outputs that move
 * with x_j (the sum L itself is taken in float64 here). atol = 1e-4 and rtol = 1e-3 sit
 * above that noise for outputs of order 1 (over gradlab's op tests on cpu, wasm and webgpu
 * the worst element uses a quarter of its tolerance) and far below the O(1) error of a
 * wrong rule (a missing term, a wrong sign or factor, a broadcast not summed).
 * They also catch approximation-level mistakes: a tanh-approximated GELU
 * derivative under the exact (erf) GELU forward errs by up to 8.7e-4, about 1% of
 * the derivative near x = −2, and fails (the test suite checks this).
 *
 * What it cannot catch: a gradient wrong by less than `atol + rtol·|n|` (a relative
 * error under 1e-3 on a gradient of order 1: the same tanh GELU passes at x > 0,
 * where its derivative is off by under 0.1%); errors at points it does not visit
 * (kinks: keep inputs further than h from relu's and abs's 0 and from ties in max,
 * and positive inputs of log or sqrt above h); and an error weighted by an r_i near 0
 * (change `seed` to draw other weights). Outputs much larger than 1 raise the
 * rounding noise with them: raise atol, or scale the inputs.
 *
 * `fn` must be deterministic and depend on the inputs only: leaves it closes
 * over that require grad get their `grad` accumulated by the analytic pass.
 * Inputs are read, never changed or freed; gradcheck leaves no tensors behind.
 * It runs `4n + 1` forwards for n float elements: keep the inputs small.
 *
 * It reads back synchronously (`dataSync`): on a backend that reads back only
 * asynchronously (webgpu in Node) use {@link gradcheckAsync}, the same check.
 *
 * @example
 * const r = gradcheck((a, b) => matmul(a, b), [tf.randomNormal([3, 4]), tf.randomNormal([4, 2])]);
 * assert.ok(r.ok, r.summary);
 *
 * Reference: `torch.autograd.gradcheck` (float64, eps 1e-6, atol 1e-5, rtol 1e-3);
 * Richardson extrapolation: Press et al., Numerical Recipes, §5.7.
 * Introduced in notebooks/01-backprop/02-tensors.
 */
export function gradcheck(
  fn: (...xs: Tensor[]) => Tensor,
  inputs: (tf.Tensor | Tensor)[],
  options: GradcheckOptions = {},
): GradcheckReport {
  const it = check(fn, inputs, options);
  let step = it.next();
  while (!step.done) {
    let values: tf.TypedArray[];
    try {
      values = step.value.map((t) => readSync(t, 'gradcheck'));
    } catch (e) {
      it.return(undefined as never); // frees the evaluations in flight
      throw new Error(`${(e as Error).message.replace(/\.$/, '')}; or call await gradcheckAsync(...), which reads back asynchronously.`);
    }
    step = it.next(values);
  }
  return step.value;
}

/**
 * {@link gradcheck}, reading back with `await t.data()`: the same check, defaults
 * and report, on every backend, including webgpu (which reads back only
 * asynchronously). The forwards are issued 64 at a time and read back together.
 *
 * @example
 * const r = await gradcheckAsync((x) => gelu(x), [tf.tensor([-2, -1, 0.5, 2])]);
 * if (!r.ok) throw new Error(r.summary);
 *
 * Reference: `torch.autograd.gradcheck`. Introduced in notebooks/01-backprop/06-losses.
 */
export async function gradcheckAsync(
  fn: (...xs: Tensor[]) => Tensor,
  inputs: (tf.Tensor | Tensor)[],
  options: GradcheckOptions = {},
): Promise<GradcheckReport> {
  const it = check(fn, inputs, options);
  let step = it.next();
  while (!step.done) {
    let values: tf.TypedArray[];
    try {
      values = (await Promise.all(step.value.map((t) => t.data()))) as tf.TypedArray[];
    } catch (e) {
      it.return(undefined as never);
      throw e;
    }
    step = it.next(values);
  }
  return step.value;
}
