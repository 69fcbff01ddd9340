/**
 * gradcheck itself: it must pass correct rules, catch wrong ones (down to an
 * approximation-level error: a tanh-GELU backward under an erf forward) and say
 * where, skip integer inputs, and leave inputs and memory as they were; and
 * gradcheckAsync must be the same check on every backend, webgpu included
 * (in a child process, where Dawn loads).
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as path from 'path';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';
import { suiteBackends, useBackend, webgpuSuite } from './helpers/backend';
import { ROOT } from './helpers/child';

/** y = x² with a rule we choose: the right one (2x) or a wrong one. */
const square = (wrongBy: number) => (x: ag.Tensor) =>
  ag.record('square', [x], ([a]) => tf.square(a as tf.Tensor), [{ saves: [0], grad: (dy, s) => tf.mul(dy, tf.mul(2 * wrongBy, s.x(0))) }]);

/**
 * GELU with the exact forward x·Φ(x), Φ(x) = (1 + erf(x/√2))/2, and a backward rule we choose:
 * the exact derivative Φ(x) + x·φ(x), or the derivative of the tanh approximation
 * 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))), which differs by up to 8.7e-4 (at |x| ≈ 2).
 */
const geluErf = (rule: 'exact' | 'tanh') => (x: ag.Tensor) =>
  ag.record(
    'gelu',
    [x],
    ([a]) => tf.mul(tf.mul(0.5, a as tf.Tensor), tf.add(1, tf.erf(tf.mul(a as tf.Tensor, Math.SQRT1_2)))),
    [
      (dy, s) => {
        const v = s.x(0);
        if (rule === 'exact') {
          const cdf = tf.mul(0.5, tf.add(1, tf.erf(tf.mul(v, Math.SQRT1_2))));
          const pdf = tf.mul(1 / Math.sqrt(2 * Math.PI), tf.exp(tf.mul(-0.5, tf.square(v))));
          return tf.mul(dy, tf.add(cdf, tf.mul(v, pdf)));
        }
        const c = Math.sqrt(2 / Math.PI);
        const t = tf.tanh(tf.mul(c, tf.add(v, tf.mul(0.044715, tf.pow(v, 3)))));
        const dInner = tf.mul(c, tf.add(1, tf.mul(3 * 0.044715, tf.square(v))));
        const d = tf.add(tf.mul(0.5, tf.add(1, t)), tf.mul(tf.mul(0.5, v), tf.mul(tf.sub(1, tf.square(t)), dInner)));
        return tf.mul(dy, d);
      },
    ],
  );

/** Points where the tanh rule is off by about 1% or more of GELU's derivative (x ≤ −1.5). */
const NEGATIVE = [[-3, -2.5, -2, -1.5]];
/** Points where it is off by under 0.1% of the derivative (x ≥ 0.5): below rtol, so it passes. */
const POSITIVE = [[0.5, 1, 2, 3]];

for (const backend of suiteBackends(['cpu', 'wasm'])) {
  describe(`gradcheck on ${backend}`, () => {
    before(async () => {
      await useBackend(backend);
    });

    // The synchronous gradcheck needs dataSync: on webgpu only its error is tested.
    if (backend !== 'webgpu') {
      it('passes a correct rule', () => {
        const report = ag.gradcheck(square(1), [tf.tensor([[0.5, -1.5, 2]])]);
        assert.equal(report.ok, true, report.summary);
        assert.equal(report.inputs[0]?.checked, true);
        assert.ok((report.inputs[0]?.worstRelError as number) < 1e-4, report.summary);
      });

      it('fails a rule that is off by a factor, naming the input, the element and both numbers', () => {
        const report = ag.gradcheck(square(0.5), [tf.tensor([[0.5, -1.5, 2]])]); // rule says x, truth is 2x
        assert.equal(report.ok, false);
        const [r] = report.inputs as [ag.GradcheckInput];
        assert.equal(r.ok, false);
        assert.equal(r.at.length, 2);
        assert.ok(Math.abs(r.numeric - 2 * r.analytic) < 1e-4 * Math.abs(r.numeric), `${r.analytic} vs ${r.numeric}`);
        assert.ok(Math.abs(r.worstRelError - 0.5) < 1e-4); // |x − 2x| / |2x|
        assert.match(report.summary, /^input 0: NOT OK, worst at \[0,\d\]: analytic -?[\d.]+, numeric -?[\d.]+, rel\. error 5\.00e-1/);
      });

      it('fails, with its default options, a tanh-GELU backward under the exact (erf) GELU forward', () => {
        const exact = ag.gradcheck(geluErf('exact'), [tf.tensor(NEGATIVE)]);
        assert.equal(exact.ok, true, `the exact rule must pass: ${exact.summary}`);
        const approx = ag.gradcheck(geluErf('tanh'), [tf.tensor(NEGATIVE)]);
        assert.equal(approx.ok, false, `the tanh rule must fail: ${approx.summary}`);
        const [r] = approx.inputs as [ag.GradcheckInput];
        assert.ok(r.worstRelError > 5e-3, approx.summary); // about 1% of the derivative, or more
        // What the defaults were before (atol 1e-3, rtol 1e-2) let it through:
        assert.equal(ag.gradcheck(geluErf('tanh'), [tf.tensor(NEGATIVE)], { atol: 1e-3, rtol: 1e-2 }).ok, true);
      });

      it('cannot catch a relative error below rtol: the tanh-GELU rule passes at x > 0 (as its docs say)', () => {
        const r = ag.gradcheck(geluErf('tanh'), [tf.tensor(POSITIVE)]);
        assert.equal(r.ok, true, r.summary);
        assert.ok((r.inputs[0]?.worstRelError as number) < 1e-3, r.summary);
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

      it('leaves no tensors behind when fn throws half-way through the evaluations', () => {
        const x = tf.tensor([0.5, 1.5]);
        const start = tf.memory().numTensors;
        let calls = 0;
        const flaky = (a: ag.Tensor) => {
          if (++calls === 4) throw new Error('fn failed on call 4');
          return ag.mul(a, a);
        };
        assert.throws(() => ag.gradcheck(flaky, [x]), /fn failed on call 4/);
        assert.equal(tf.memory().numTensors, start);
        x.dispose();
      });
    } else {
      it('says that the synchronous gradcheck cannot read back here and names gradcheckAsync, leaking nothing', () => {
        const a = tf.tensor([[0.5, -1], [2, 1]]);
        const b = tf.tensor([[1, 0.5], [-1, 2]]);
        const start = tf.memory().numTensors;
        // matmul runs on the device (small elementwise ops may run on the CPU and read back fine)
        assert.throws(() => ag.gradcheck((p, q) => ag.matmul(p, q), [a, b]), /gradcheck reads tensors synchronously .*'webgpu'.*await gradcheckAsync/);
        assert.equal(tf.memory().numTensors, start);
        tf.dispose([a, b]);
      });
    }

    describe('gradcheckAsync (reads back with await data(), so it runs on webgpu too)', () => {
      it('passes a correct rule and fails a wrong factor, as gradcheck does', async () => {
        const ok = await ag.gradcheckAsync(square(1), [tf.tensor([[0.5, -1.5, 2]])]);
        assert.equal(ok.ok, true, ok.summary);
        assert.ok((ok.inputs[0]?.worstRelError as number) < 1e-4, ok.summary);
        const bad = await ag.gradcheckAsync(square(0.5), [tf.tensor([[0.5, -1.5, 2]])]);
        assert.equal(bad.ok, false, bad.summary);
        assert.ok(Math.abs((bad.inputs[0]?.worstRelError as number) - 0.5) < 1e-4, bad.summary);
      });

      it('catches the tanh-GELU backward under the erf forward and passes the exact one', async () => {
        const exact = await ag.gradcheckAsync(geluErf('exact'), [tf.tensor(NEGATIVE)]);
        assert.equal(exact.ok, true, exact.summary);
        const approx = await ag.gradcheckAsync(geluErf('tanh'), [tf.tensor(NEGATIVE)]);
        assert.equal(approx.ok, false, approx.summary);
      });

      it('checks a matmul and a softmax through ag ops, and leaves no tensors behind', async () => {
        const a = tf.tensor([[0.5, -1, 0.3], [2, 1, -0.7]]);
        const b = tf.tensor([[1, 0.5], [-1, 2], [0.2, -0.4]]);
        const start = tf.memory().numTensors;
        const r = await ag.gradcheckAsync((p, q) => ag.softmax(ag.matmul(p, q)), [a, b]);
        assert.equal(r.ok, true, r.summary);
        assert.deepEqual(r.inputs.map((i) => i.checked), [true, true]);
        assert.equal(tf.memory().numTensors, start);
        tf.dispose([a, b]);
      });

      it('gives the same verdicts and numbers as gradcheck where both can run', async function () {
        if (backend === 'webgpu') this.skip(); // no synchronous gradcheck to compare with
        const x = () => [tf.tensor([[0.3, -0.8], [1.1, 0.4]])];
        const fn = (t: ag.Tensor) => ag.tanh(ag.mul(t, t));
        const s = ag.gradcheck(fn, x());
        const a = await ag.gradcheckAsync(fn, x());
        assert.deepEqual(a, s);
      });
    });
  });
}

webgpuSuite(__filename, 'gradcheck');

describe('the test helper useBackend', () => {
  it('fails loudly, naming both backends and GRADLAB_BACKEND, when the environment overrides the suite\'s backend', () => {
    const helper = path.join(ROOT, 'dist', 'test', 'helpers', 'backend.js');
    const r = spawnSync(
      process.execPath,
      ['-e', `require(${JSON.stringify(helper)}).useBackend('wasm').then(() => console.log('no error'), (e) => console.log('ERR ' + e.message))`],
      { cwd: ROOT, env: { ...process.env, GRADLAB_BACKEND: 'cpu' }, encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.trim(), /^ERR this suite runs on 'wasm', but the active backend is 'cpu' because GRADLAB_BACKEND=cpu overrides gl\.init\(\{ backend \}\); unset GRADLAB_BACKEND to run the tests\n/);
  });
});
