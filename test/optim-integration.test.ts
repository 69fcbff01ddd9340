/**
 * The schedulers on the real optimisers: they set each group's lr exactly as
 * they set a plain `{ paramGroups }` object, the optimiser's step uses that lr,
 * and optimiser + scheduler state saved mid-run resume bit for bit.
 */
import { strict as assert } from 'assert';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';
import * as optim from '../src/optim';
import { useBackend } from './helpers/backend';

/** Warmup for 4 steps, then cosine over 10: the usual LLM shape, from torch's building blocks. */
const schedule = (o: optim.HasParamGroups) =>
  new optim.SequentialLR(o, [new optim.LinearLR(o, { startFactor: 0.25, totalIters: 4 }), new optim.CosineAnnealingLR(o, { tMax: 10 })], [4]);

describe('schedulers driving the optimisers', () => {
  before(async () => {
    await useBackend('cpu');
  });

  it('set AdamW and SGD group lrs exactly as on a plain object, and the step uses them', async () => {
    for (const make of [(g: optim.ParamsInput<optim.AdamOptions>) => new optim.AdamW(g), (g: optim.ParamsInput<optim.SgdOptions>) => new optim.SGD(g, { lr: 1 })]) {
      const p = ag.param([1, 2]);
      const q = ag.param([3]);
      const opt = make([
        { params: [p], lr: 0.1 },
        { params: [q], lr: 0.02 },
      ]);
      const plain = { paramGroups: [{ lr: 0.1 }, { lr: 0.02 }] };
      const [s1, s2] = [schedule(opt), schedule(plain)];
      for (let i = 0; i < 14; i++) {
        assert.deepEqual(
          opt.paramGroups.map((g) => g.lr),
          plain.paramGroups.map((g) => g.lr),
          `step ${i}`,
        );
        const before = Array.from(await q.data.data());
        q.grad = tf.ones([1]);
        p.grad = tf.ones([2]);
        const lr = opt.paramGroups[1]!.lr;
        opt.step();
        const after = Array.from(await q.data.data());
        if (opt instanceof optim.SGD) assert.ok(Math.abs(before[0]! - after[0]! - lr) < 1e-6, `SGD moved q by lr = ${lr}`);
        opt.zeroGrad();
        s1.step();
        s2.step();
      }
      opt.dispose();
      p.dispose();
      q.dispose();
    }
  });

  it('resume from saved optimiser and scheduler state bit for bit', async () => {
    const run = async (stopAt: number | null) => {
      const p = ag.param([0.5, -1.5, 2]);
      let opt = new optim.AdamW([p], { lr: 0.05 });
      let sched = schedule(opt);
      const seen: number[][] = [];
      for (let i = 0; i < 12; i++) {
        if (i === stopAt) {
          // Save, throw both away, rebuild from the saved state (JSON for the scheduler).
          const os = opt.stateDict();
          const ss = JSON.parse(JSON.stringify(sched.stateDict()));
          opt.dispose();
          opt = new optim.AdamW([p], { lr: 0.05 });
          opt.loadStateDict(os);
          Object.values(os.state).forEach((st) => tf.dispose(Object.values(st.buffers)));
          sched = schedule(opt);
          sched.loadStateDict(ss);
        }
        p.grad = tf.tidy(() => tf.mul(p.data, 2)); // ∂(Σp²)/∂p
        opt.step();
        opt.zeroGrad();
        sched.step();
        seen.push([...Array.from(await p.data.data()), opt.paramGroups[0]!.lr]);
      }
      opt.dispose();
      p.dispose();
      return seen;
    };
    const start = tf.memory().numTensors;
    assert.deepEqual(await run(7), await run(null));
    assert.equal(tf.memory().numTensors, start);
  });
});
