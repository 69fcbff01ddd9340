/** The size knob (src/size.ts): GRADLAB_SIZE parsing, knob tables and the printed line. */
import { strict as assert } from 'assert';
import * as gl from '../src';

describe('size knob: gl.sized and gl.currentSize', () => {
  const knobs = {
    steps: { small: 300, medium: 1500, large: 6000 },
    widths: { small: [8, 16], medium: [32, 64], large: [128, 256] },
  };

  it('defaults to small when GRADLAB_SIZE is unset or blank, and reads it case-insensitively', () => {
    assert.equal(gl.currentSize({}), 'small');
    assert.equal(gl.currentSize({ GRADLAB_SIZE: '  ' }), 'small');
    assert.equal(gl.currentSize({ GRADLAB_SIZE: ' Medium ' }), 'medium');
    assert.equal(gl.currentSize({ GRADLAB_SIZE: 'LARGE' }), 'large');
  });

  it('picks each knob at the chosen size, and each size picks a different value', () => {
    const seen = gl.SIZES.map((s) => gl.sized(knobs, { GRADLAB_SIZE: s }));
    assert.deepEqual(seen.map((k) => k.steps), [300, 1500, 6000]);
    assert.deepEqual(seen.map((k) => k.widths), [[8, 16], [32, 64], [128, 256]]);
    assert.deepEqual(seen.map((k) => k.size), ['small', 'medium', 'large']);
    assert.deepEqual(Object.keys(seen[1]), ['steps', 'widths'], 'size, source and describe are not enumerable');
    assert.ok(Object.isFrozen(seen[0]));
  });

  it('says what it chose, where the size came from, and what the other sizes run', () => {
    assert.equal(gl.sized(knobs, {}).describe(),
      'size small (GRADLAB_SIZE not set): steps 300, widths [8, 16] | medium: steps 1500, widths [32, 64] | large: steps 6000, widths [128, 256]');
    assert.match(gl.sized(knobs, { GRADLAB_SIZE: 'large' }).describe(), /^size large \(GRADLAB_SIZE=large\): steps 6000, widths \[128, 256\] \| small: steps 300/);
    assert.equal(gl.sized({}, {}).describe(), 'size small (GRADLAB_SIZE not set): no size-dependent experiments here');
    assert.match(gl.sized({ n: { small: 20000, medium: 1e5, large: 1e6 } }, {}).describe(), /n 20,000 \| medium: n 100,000/);
  });

  it('rejects a bad size, a knob without all three sizes, and reserved names, saying what to do', () => {
    assert.throws(() => gl.currentSize({ GRADLAB_SIZE: 'huge' }),
      (e: Error) => e.name === 'SizeError' && /GRADLAB_SIZE="huge" is not a size: use one of small, medium, large/.test(e.message));
    assert.throws(() => gl.sized({ steps: { small: 1, medium: 2 } } as never, {}),
      /knob "steps" has no value for large; give all of small, medium, large/);
    assert.throws(() => gl.sized({ size: { small: 1, medium: 2, large: 3 } }, {}), /knob name "size" is taken/);
    assert.throws(() => gl.sized({ steps: 5 } as never, {}), /knob "steps" must be \{ small, medium, large \}, got 5/);
  });

  it('reads process.env by default', () => {
    const before = process.env.GRADLAB_SIZE;
    try {
      process.env.GRADLAB_SIZE = 'medium';
      assert.equal(gl.sized(knobs).steps, 1500);
      delete process.env.GRADLAB_SIZE;
      assert.equal(gl.sized(knobs).steps, 300);
    } finally {
      if (before === undefined) delete process.env.GRADLAB_SIZE;
      else process.env.GRADLAB_SIZE = before;
    }
  });
});
