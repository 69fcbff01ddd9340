/**
 * gl.exercise.check: tolerance rule, statuses, display bundle, strict mode.
 */
import { strict as assert } from 'assert';
import type { DisplayBundle } from '../src/display';
import * as gl from '../src';

/** A sink that keeps what check() displays. */
function capture(): { sink: (b: DisplayBundle) => void; shown: DisplayBundle[] } {
  const shown: DisplayBundle[] = [];
  return { sink: (b) => shown.push(b), shown };
}

describe('exercise.check', () => {
  const saved = process.env.GRADLAB_EXERCISES;
  beforeEach(() => { delete process.env.GRADLAB_EXERCISES; gl.exercise.reset(); });
  after(() => { if (saved === undefined) delete process.env.GRADLAB_EXERCISES; else process.env.GRADLAB_EXERCISES = saved; });

  it('says unanswered for undefined and null, and displays one line as text and HTML', () => {
    const c = capture();
    const r = gl.exercise.check('e1', undefined, 1.5, { sink: c.sink });
    assert.equal(r.status, 'unanswered');
    assert.equal(gl.exercise.check('e1', null, 1.5, { sink: c.sink }).status, 'unanswered');
    assert.equal(c.shown.length, 2);
    assert.match(String(c.shown[0].data['text/plain']), /尚未作答 \(unanswered\)/);
    assert.match(String(c.shown[0].data['text/html']), /^<div class="gradlab-exercise unanswered"/);
  });

  it('accepts |given − expected| ≤ atol + rtol·|expected| and rejects just outside it', () => {
    const c = capture();
    // expected 100, atol 1e-6, rtol 1e-4: the band is 0.010001 wide.
    assert.equal(gl.exercise.check('e', 100.01, 100, { sink: c.sink }).status, 'correct');
    assert.equal(gl.exercise.check('e', 100.0101, 100, { sink: c.sink }).status, 'wrong');
    assert.equal(gl.exercise.check('e', 0.5, 0.4, { atol: 0.1, rtol: 0, sink: c.sink }).status, 'correct');
    const r = gl.exercise.check('e', 1.2, 1, { sink: c.sink, hint: 'σ(0) = 1/2' });
    assert.equal(r.status, 'wrong');
    assert.ok(Math.abs(r.maxAbsError! - 0.2) < 1e-12);
    assert.match(r.message, /✗ e 不对.*提示 \(hint\): σ\(0\) = 1\/2/);
    assert.match(gl.exercise.check('e', 1, 1, { sink: c.sink }).message, /^✓ e 正确/);
  });

  it('compares arrays elementwise and reports a length mismatch with both lengths', () => {
    const c = capture();
    assert.equal(gl.exercise.check('a', [1, 2, 3], [1, 2, 3 + 1e-9], { sink: c.sink }).status, 'correct');
    assert.equal(gl.exercise.check('a', new Float32Array([1, 2]), [1, 2], { sink: c.sink }).status, 'correct');
    assert.equal(gl.exercise.check('a', [1, 2, 3.1], [1, 2, 3], { sink: c.sink }).status, 'wrong');
    const r = gl.exercise.check('a', [1, 2], [1, 2, 3], { sink: c.sink });
    assert.equal(r.status, 'wrong');
    assert.match(r.message, /expected 3 values, got 2 values/);
    assert.match(gl.exercise.check('a', 1, [1], { sink: c.sink }).message, /expected 1 value, got a single number/);
  });

  it('treats a NaN answer as wrong, and refuses a non-finite expected value', () => {
    const c = capture();
    const r = gl.exercise.check('n', NaN, 1, { sink: c.sink });
    assert.equal(r.status, 'wrong');
    assert.ok(Number.isNaN(r.maxAbsError));
    assert.equal(gl.exercise.check('n', [1, NaN], [1, 2], { sink: c.sink }).status, 'wrong');
    assert.throws(() => gl.exercise.check('n', 1, NaN, { sink: c.sink }), /exercise n: the expected value NaN is not a finite/);
  });

  it('throws under strict (option or GRADLAB_EXERCISES=strict), naming id, given, expected and hint', () => {
    const c = capture();
    assert.throws(() => gl.exercise.check('s', 2, 1, { strict: true, hint: 'look again', sink: c.sink }),
      (e: Error) => /exercise s: wrong: given 2, expected 1/.test(e.message) && /hint: look again/.test(e.message));
    assert.throws(() => gl.exercise.check('s', undefined, 1, { strict: true, sink: c.sink }), /exercise s: unanswered/);
    assert.equal(gl.exercise.check('s', 1, 1, { strict: true, sink: c.sink }).status, 'correct');
    process.env.GRADLAB_EXERCISES = 'strict';
    assert.throws(() => gl.exercise.check('s', 3, 1, { sink: c.sink }), /exercise s: wrong/);
    assert.equal(gl.exercise.check('s', 3, 1, { sink: c.sink, strict: false }).status, 'wrong');
  });

  it('summary counts the latest result of every id', () => {
    const c = capture();
    gl.exercise.check('x', undefined, 1, { sink: c.sink });
    gl.exercise.check('y', 2, 1, { sink: c.sink });
    gl.exercise.check('x', 1, 1, { sink: c.sink });
    const s = gl.exercise.summary();
    assert.deepEqual([s.correct, s.wrong, s.unanswered], [1, 1, 0]);
    assert.deepEqual(s.results.map((r) => r.id), ['x', 'y']);
  });
});
