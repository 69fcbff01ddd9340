/**
 * gradcheck itself: it must pass correct rules, catch wrong ones and say
 * where, skip integer inputs, and leave inputs and memory as they were.
 */
import { strict as assert } from 'assert';
import * as gl from '../src';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';

/** y = x² with a rule we choose: the right one (2x) or a wrong one. */
const square = (wrongBy: number) => (x: ag.Tensor) =>
  ag.record('square', [x], ([a]) => tf.square(a as tf.Tensor), [{ saves: [0], grad: (dy, s) => tf.mul(dy, tf.mul(2 * wrongBy, s.x(0))) }]);

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`gradcheck on ${backend}`, () => {
    before(async () => {
      await gl.init({ backend });
    });

    it('passes a correct rule', () => {
      const report = ag.gradcheck(square(1), [tf.tensor([[0.5, -1.5, 2]])]);
      assert.equal(report.ok, true, report.summary);
      assert.equal(report.inputs[0]?.checked, true);
      assert.ok((report.inputs[0]?.worstRelError as number) < 1e-3);
    });

    it('fails a rule that is off by a factor, naming the input, the element and both numbers', () => {
      const report = ag.gradcheck(square(0.5), [tf.tensor([[0.5, -1.5, 2]])]); // rule says x, truth is 2x
      assert.equal(report.ok, false);
      const [r] = report.inputs as [ag.GradcheckInput];
      assert.equal(r.ok, false);
      assert.equal(r.at.length, 2);
      assert.ok(Math.abs(r.numeric - 2 * r.analytic) < 1e-2 * Math.abs(r.numeric), `${r.analytic} vs ${r.numeric}`);
      assert.ok(Math.abs(r.worstRelError - 0.5) < 1e-2); // |x − 2x| / |2x|
      assert.match(report.summary, /^input 0: NOT OK, worst at \[0,\d\]: analytic -?[\d.]+, numeric -?[\d.]+, rel\. error 5\.0\de-1/);
    });

    it('skips integer inputs and reports on each float input', () => {
      const report = ag.gradcheck((t, i) => ag.gather(t, i), [tf.tensor([[1, 2], [3, 4], [5, 6]]), tf.tensor([2, 0, 2], undefined, 'int32')]);
      assert.equal(report.ok, true, report.summary);
      assert.deepEqual(report.inputs.map((i) => i.checked), [true, false]);
      assert.match(report.summary, /input 1: not checked \(int32\)/);
    });

    it('leaves its inputs unchanged and no tensors behind', () => {
      const x = tf.tensor([0.3, -0.4, 1.2]);
      const w = ag.param([[1, 2, 3]]);
      const start = tf.memory().numTensors;
      ag.gradcheck((a, b) => ag.sum(ag.mul(ag.softmax(a), b)), [x, w]);
      assert.equal(tf.memory().numTensors, start);
      assert.deepEqual(Array.from(x.dataSync()), [0.30000001192092896, -0.4000000059604645, 1.2000000476837158]);
      assert.equal(w.grad, null, 'the inputs are copied, so their own grads stay untouched');
      x.dispose();
      w.dispose();
    });
  });
}
