/**
 * Exercises checked in the notebook: the learner's value against the expected one.
 *
 * ```ts
 * const answer = undefined;   // TODO: your value of f'(1)
 * gl.exercise.check('1.1-a', answer, expected, { atol: 1e-6, hint: 'σ(sin x)·cos x at x = 1' });
 * // … 尚未作答 (unanswered)        until the learner fills it in, then ✓ 正确 or ✗ 不对 + the hint
 * ```
 *
 * A value passes when every element satisfies `|given − expected| ≤ atol + rtol·|expected|`
 * (the rule of `numpy.isclose` / `torch.isclose`, defaults atol 1e-6, rtol 1e-4).
 * Topic notebooks leave `undefined` placeholders so they still run top to bottom; the
 * chapter's solutions notebook calls `check` with `strict: true`, so the notebook tests fail
 * when a worked solution is wrong.
 *
 * Introduced in notebooks/01-backprop/01-chain-rule (exercises at the end of every topic notebook).
 */
import { currentSink, type DisplaySink } from '../display';
import { escapeHtml } from '../display/html';

/** The verdict on one exercise. */
export interface ExerciseResult {
  /** The exercise id, e.g. '1.1-a'. */
  id: string;
  /** 'unanswered' (given is undefined or null), 'correct' or 'wrong'. */
  status: 'unanswered' | 'correct' | 'wrong';
  /** max_i |given_i − expected_i| when the lengths match and given is a number (array). */
  maxAbsError?: number;
  /** The one line shown in the notebook. */
  message: string;
}

/** Options of {@link check}. */
export interface CheckOptions {
  /** Absolute tolerance. Default 1e-6. */
  atol?: number;
  /** Relative tolerance (times |expected|). Default 1e-4. */
  rtol?: number;
  /** Shown when the answer is wrong (and in the error under `strict`). */
  hint?: string;
  /**
   * Throw an Error (naming the exercise, given vs expected and the hint) when the answer is
   * unanswered or wrong. Default: false, unless the environment has GRADLAB_EXERCISES=strict.
   */
  strict?: boolean;
  /** Where the result line goes. Default: the running kernel's display (the console outside one). */
  sink?: DisplaySink;
}

const results = new Map<string, ExerciseResult>();

/**
 * Check the learner's answer to exercise `id` against `expected`, show a one-line verdict
 * (`✓ 正确`, `✗ 不对` + hint, or `… 尚未作答 (unanswered)`) and return it.
 *
 * - `given` undefined or null: 'unanswered'.
 * - number against number, or array against array of the same length: elementwise
 *   `|given − expected| ≤ atol + rtol·|expected|`; a NaN given is always wrong.
 * - a length mismatch (or a number against an array) is 'wrong', saying both lengths.
 *
 * Never throws for an unanswered or wrong answer unless `strict` (or GRADLAB_EXERCISES=strict);
 * throws a TypeError when `expected` itself is not finite (a bug in the notebook, not the answer).
 */
export function check(
  id: string,
  given: number | ArrayLike<number> | undefined | null,
  expected: number | ArrayLike<number>,
  opts: CheckOptions = {},
): ExerciseResult {
  const { atol = 1e-6, rtol = 1e-4, hint } = opts;
  const strict = opts.strict ?? process.env.GRADLAB_EXERCISES === 'strict';
  if (!(atol >= 0) || !(rtol >= 0)) {
    throw new RangeError(`exercise ${id}: atol (${atol}) and rtol (${rtol}) must be >= 0`);
  }
  const exp = toNumbers(expected);
  if (exp === null || exp.some((v) => !Number.isFinite(v))) {
    throw new TypeError(
      `exercise ${id}: the expected value ${show(expected)} is not a finite number (array); ` +
        `fix the cell that computes it`,
    );
  }
  let result: ExerciseResult;
  if (given === undefined || given === null) {
    result = { id, status: 'unanswered', message: `… ${id} 尚未作答 (unanswered): fill in your value and rerun the cell` };
  } else {
    const giv = toNumbers(given);
    const scalarExpected = typeof expected === 'number';
    const scalarGiven = typeof given === 'number';
    if (giv === null) {
      result = { id, status: 'wrong', message: `✗ ${id} 不对: expected a number${scalarExpected ? '' : ' array'}, got ${show(given)}` };
    } else if (scalarExpected !== scalarGiven || giv.length !== exp.length) {
      const len = (s: boolean, n: number) => (s ? 'a single number' : `${n} value${n === 1 ? '' : 's'}`);
      result = {
        id, status: 'wrong',
        message: `✗ ${id} 不对: expected ${len(scalarExpected, exp.length)}, got ${len(scalarGiven, giv.length)}`,
      };
    } else {
      let maxAbs = 0, ok = true;
      for (let i = 0; i < exp.length; i++) {
        const err = Math.abs(giv[i] - exp[i]);
        if (!(err <= atol + rtol * Math.abs(exp[i]))) ok = false;   // NaN compares false: wrong
        maxAbs = Number.isNaN(err) || Number.isNaN(maxAbs) ? NaN : Math.max(maxAbs, err);
      }
      const tol = `|given − expected| ≤ ${num(atol)} + ${num(rtol)}·|expected|`;
      result = ok
        ? { id, status: 'correct', maxAbsError: maxAbs, message: `✓ ${id} 正确 (correct): max error ${fmt(maxAbs)} (${tol})` }
        : { id, status: 'wrong', maxAbsError: maxAbs, message: `✗ ${id} 不对 (wrong): max error ${fmt(maxAbs)}, over ${tol}` };
    }
    if (result.status === 'wrong' && hint) result.message += `. 提示 (hint): ${hint}`;
  }
  results.set(id, result);
  (opts.sink ?? currentSink())({ data: resultBundle(result) }, { update: false });
  if (strict && result.status !== 'correct') {
    throw new Error(
      `exercise ${id}: ${result.status}: given ${show(given)}, expected ${show(expected)}` +
        (result.maxAbsError !== undefined ? ` (max |error| ${fmt(result.maxAbsError)}, atol ${atol}, rtol ${rtol})` : '') +
        (hint ? `; hint: ${hint}` : '') + ' (strict mode: the worked solution must be right)',
    );
  }
  return result;
}

/** Counts of the exercises checked so far in this kernel (the last check of each id counts). */
export interface ExerciseSummary {
  correct: number;
  wrong: number;
  unanswered: number;
  /** Every id's latest result, in the order they were first checked. */
  results: ExerciseResult[];
}

/** How the exercises checked so far stand; `reset()` forgets them. */
export function summary(): ExerciseSummary {
  const all = [...results.values()];
  const n = (s: ExerciseResult['status']) => all.filter((r) => r.status === s).length;
  return { correct: n('correct'), wrong: n('wrong'), unanswered: n('unanswered'), results: all };
}

/** Forget every result (for tests, or to start a notebook over). */
export function reset(): void {
  results.clear();
}

/** The display bundle of a result: one line of text and one of HTML. */
export function resultBundle(r: ExerciseResult): Record<string, string> {
  const colour = r.status === 'correct' ? '#1a7f37' : r.status === 'wrong' ? '#cf222e' : '#656d76';
  return {
    'text/plain': r.message,
    'text/html': `<div class="gradlab-exercise ${r.status}" style="color:${colour};font-weight:600">${escapeHtml(r.message)}</div>`,
  };
}

function toNumbers(x: unknown): number[] | null {
  if (typeof x === 'number') return [x];
  if (Array.isArray(x) || (ArrayBuffer.isView(x) && !(x instanceof DataView))) {
    const arr = Array.from(x as ArrayLike<unknown>);
    return arr.every((v) => typeof v === 'number') ? (arr as number[]) : null;
  }
  return null;
}

/** 1e-6 rather than 0.000001 for tolerances. */
function num(v: number): string {
  return v > 0 && v < 1e-3 ? v.toExponential().replace(/\.?0*e/, 'e') : String(v);
}

function fmt(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v === 0 ? '0' : v.toExponential(2);
}

function show(x: unknown): string {
  if (typeof x === 'number') return String(x);
  if (x === undefined || x === null) return String(x);
  if (Array.isArray(x) || ArrayBuffer.isView(x)) {
    const a = Array.from(x as ArrayLike<unknown>);
    return `[${a.slice(0, 8).map(String).join(', ')}${a.length > 8 ? `, … (${a.length} values)` : ''}]`;
  }
  return typeof x === 'string' ? JSON.stringify(x) : typeof x;
}
