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
  /** Step, relative to the element: `h = eps·max(1, |x_j|)`. Default 1e-2. */
  eps?: number;
  /** Absolute tolerance. Default 1e-3. */
  atol?: number;
  /** Relative tolerance. Default 1e-2. */
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
  /** At that element: the central difference. */
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

/**
 * Compare the engine's gradients of `fn` with central finite differences.
 *
 * The output is reduced to a scalar with fixed random weights,
 * `L = Σ_i r_i · fn(x)_i` (r uniform in [−1, 1), seeded), which checks the whole
 * vector-Jacobian product at the cost of one backward. For every element `x_j`
 * of every float input:
 * `numeric_j = (L(x + h e_j) − L(x − h e_j)) / (2h)` with `h = eps·max(1, |x_j|)`
 * (the actual float32 step is used), against `analytic_j = (∂L/∂x)_j` from
 * `backward()`. An element passes when `|a − n| ≤ atol + rtol·|n|` (as in
 * `torch.allclose`). Integer and bool inputs (indices, masks) are passed through
 * unchecked.
 *
 * Why these defaults: fn runs in float32 on the backend (unit roundoff
 * u = 2⁻²⁴ ≈ 6e-8). The central difference's error is about
 * `h²|f'''|/6` (truncation) plus `u·|y|/h` (rounding of the outputs, the sum L being
 * taken in float64 here); `h = 1e-2` balances them near 1e-5 relative, where
 * float64's usual `h = 1e-6` would leave only rounding noise. `rtol = 1e-2`,
 * `atol = 1e-3` keep a ~100x margin above that noise while a wrong rule (a
 * missing term, a wrong sign or factor, a broadcast not summed) errs by O(1).
 * Keep inputs further than h from kinks (relu and abs at 0, ties in max).
 *
 * `fn` must be deterministic and depend on the inputs only: leaves it closes
 * over that require grad get their `grad` accumulated by the analytic pass.
 * Inputs are read, never changed or freed; gradcheck leaves no tensors behind.
 *
 * @example
 * const r = gradcheck((a, b) => matmul(a, b), [tf.randomNormal([3, 4]), tf.randomNormal([4, 2])]);
 * assert.ok(r.ok, r.summary);
 *
 * Reference: `torch.autograd.gradcheck` (float64, eps 1e-6, atol 1e-5, rtol 1e-3).
 * Introduced in notebooks/01-backprop/02-tensors.
 */
export function gradcheck(
  fn: (...xs: Tensor[]) => Tensor,
  inputs: (tf.Tensor | Tensor)[],
  { eps = 1e-2, atol = 1e-3, rtol = 1e-2, seed = 0 }: GradcheckOptions = {},
): GradcheckReport {
  const raw = inputs.map((x) => (x instanceof Tensor ? x.data : x));
  const values = raw.map((x) => readSync(x, 'gradcheck').slice());
  const isFloat = raw.map((x) => x.dtype === 'float32');
  const leaves = (vals: typeof values, grad: boolean) =>
    raw.map((x, i) => new Tensor(tf.tensor(vals[i] as tf.TypedArray, x.shape, x.dtype), { op: 'leaf', isLeaf: true, requiresGrad: grad && isFloat[i] }));

  // Analytic: one forward and backward(r), i.e. ∂L/∂x for L = Σ r·y.
  const xs = leaves(values, true);
  const y = fn(...xs);
  const r = weights(y.size, seed);
  const rT = tf.tensor(Float32Array.from(r), y.shape);
  if (y.requiresGrad) y.backward(rT);
  y.dispose();
  rT.dispose();
  const analytic = xs.map((x) => (x.grad ? (readSync(x.grad, 'gradcheck') as Float32Array).slice() : new Float32Array(x.size)));
  xs.forEach((x) => x.dispose());

  // L(x) in float64 from a float32 forward.
  const loss = (vals: typeof values): number =>
    noGrad(() => {
      const ls = leaves(vals, false);
      const out = fn(...ls);
      const v = readSync(out.data, 'gradcheck');
      let s = 0;
      for (let i = 0; i < v.length; i++) s += (r[i] as number) * (v[i] as number);
      out.dispose();
      ls.forEach((l) => l.dispose());
      return s;
    });

  const report = raw.map((x, index): GradcheckInput => {
    const none = { index, ok: true, checked: false, at: [], worstRelError: 0, analytic: 0, numeric: 0, maxAbsError: 0 };
    if (!isFloat[index]) return none;
    const v = values[index] as Float32Array;
    const res: GradcheckInput = { ...none, checked: true };
    let worst = -1;
    for (let j = 0; j < v.length; j++) {
      const x0 = v[j] as number;
      const h = eps * Math.max(1, Math.abs(x0));
      v[j] = x0 + h;
      const up = v[j] as number; // rounded to float32
      const lUp = loss(values);
      v[j] = x0 - h;
      const down = v[j] as number;
      const lDown = loss(values);
      v[j] = x0;
      const n = (lUp - lDown) / (up - down);
      const a = (analytic[index] as Float32Array)[j] as number;
      const err = Math.abs(a - n);
      const ratio = Number.isNaN(err) ? Infinity : err / (atol + rtol * Math.abs(n));
      res.maxAbsError = Math.max(res.maxAbsError, err);
      if (ratio > 1) res.ok = false;
      if (ratio > worst) {
        worst = ratio;
        res.at = unravel(j, x.shape);
        res.analytic = a;
        res.numeric = n;
        const scale = Math.max(Math.abs(a), Math.abs(n));
        res.worstRelError = scale === 0 ? 0 : err / scale;
      }
    }
    return res;
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
