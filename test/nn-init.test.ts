/**
 * Initialisation schemes: the statistics of large draws (mean, std, bounds)
 * match the formulas of torch.nn.init in gradlab's [in, out] layout; the same
 * seed gives the same weights and different seeds differ; bad options are named.
 */
import { strict as assert } from 'assert';
import { tf } from '../src/backend/tf';
import { rng } from '../src/data';
import * as nn from '../src/nn';
import { useBackend } from './helpers/backend';

const { init } = nn;

function stats(t: tf.Tensor): { mean: number; std: number; maxAbs: number } {
  const v = t.dataSync();
  let s = 0;
  let s2 = 0;
  let maxAbs = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i] as number;
    s += x;
    s2 += x * x;
    maxAbs = Math.max(maxAbs, Math.abs(x));
  }
  const mean = s / v.length;
  return { mean, std: Math.sqrt(s2 / v.length - mean * mean), maxAbs };
}

const [IN, OUT] = [400, 600]; // 240 000 draws: std estimates within ~0.3%
const SQ = Math.sqrt;

interface Scheme {
  name: string;
  make: nn.Initializer;
  /** Expected std (and bound, for uniform schemes) for fanIn = IN, fanOut = OUT. */
  std: number;
  bound?: number;
}

const SCHEMES: Scheme[] = [
  { name: 'pytorchDefault: U(±1/√fanIn)', make: init.pytorchDefault(), std: 1 / SQ(IN) / SQ(3), bound: 1 / SQ(IN) },
  { name: 'xavierUniform: U(±√(6/(fanIn+fanOut)))', make: init.xavierUniform(), std: SQ(2 / (IN + OUT)), bound: SQ(6 / (IN + OUT)) },
  { name: 'xavierUniform with gain 5/3 (tanh)', make: init.xavierUniform({ gain: init.calculateGain('tanh') }), std: (5 / 3) * SQ(2 / (IN + OUT)), bound: (5 / 3) * SQ(6 / (IN + OUT)) },
  { name: 'xavierNormal: N(0, 2/(fanIn+fanOut))', make: init.xavierNormal(), std: SQ(2 / (IN + OUT)) },
  { name: "kaimingNormal({ nonlinearity: 'relu' }): N(0, 2/fanIn)", make: init.kaimingNormal({ nonlinearity: 'relu' }), std: SQ(2 / IN) },
  { name: "kaimingNormal({ mode: 'fanOut' }): N(0, 2/fanOut)", make: init.kaimingNormal({ mode: 'fanOut' }), std: SQ(2 / OUT) },
  { name: 'kaimingNormal({ a: 0.2 }) (leaky ReLU)', make: init.kaimingNormal({ a: 0.2 }), std: SQ(2 / (1 + 0.04)) / SQ(IN) },
  { name: 'kaimingUniform(): U(±√(6/fanIn))', make: init.kaimingUniform(), std: SQ(2 / IN), bound: SQ(6 / IN) },
  { name: 'smallNormal(): N(0, 0.02²)', make: init.smallNormal(), std: 0.02 },
  { name: 'smallNormal({ std: 0.1 })', make: init.smallNormal({ std: 0.1 }), std: 0.1 },
  { name: 'normal({ std: 0.5 })', make: init.normal({ std: 0.5 }), std: 0.5 },
  { name: 'uniform({ low: -3, high: 3 })', make: init.uniform({ low: -3, high: 3 }), std: SQ(3), bound: 3 },
];

describe('nn.init', () => {
  before(async () => {
    await useBackend('cpu');
  });

  for (const s of SCHEMES) {
    describe(s.name, () => {
      it(`draws a [${IN},${OUT}] weight with mean 0 and the formula's std${s.bound ? ', inside ±bound and reaching it' : ''}`, () => {
        const w = s.make([IN, OUT], rng(1));
        assert.deepEqual([w.shape, w.dtype], [[IN, OUT], 'float32']);
        const st = stats(w);
        assert.ok(Math.abs(st.mean) < 4 * (s.std / SQ(IN * OUT)), `mean ${st.mean}`);
        assert.ok(Math.abs(st.std / s.std - 1) < 0.01, `std ${st.std}, expected ${s.std}`);
        if (s.bound) {
          assert.ok(st.maxAbs <= s.bound, `max |w| ${st.maxAbs} exceeds the bound ${s.bound}`);
          assert.ok(st.maxAbs > 0.999 * s.bound, `max |w| ${st.maxAbs} does not reach the bound ${s.bound}`);
        }
        w.dispose();
      });

      it('gives the same weights for the same seed and different ones for another seed', () => {
        const [a, b, c] = [rng(7), rng(7), rng(8)].map((r) => s.make([20, 30], r)) as [tf.Tensor, tf.Tensor, tf.Tensor];
        assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
        assert.notDeepEqual(Array.from(a.dataSync()), Array.from(c.dataSync()));
        tf.dispose([a, b, c]);
      });
    });
  }

  it('zeros, ones and constant draw nothing and fill', () => {
    const r = rng(0);
    const before = r.state();
    const t = [init.zeros()([2], r), init.ones()([2], r), init.constant(0.5)([2], r)];
    assert.deepEqual(t.map((x) => Array.from(x.dataSync())), [[0, 0], [1, 1], [0.5, 0.5]]);
    assert.deepEqual(r.state(), before);
    tf.dispose(t);
  });

  it('uses explicit fans for shapes that are not [in, out] and says so when they are missing', () => {
    const b = init.pytorchDefault()([1000], rng(2), { fanIn: 16, fanOut: 4 });
    assert.ok(stats(b).maxAbs <= 0.25 && stats(b).maxAbs > 0.24);
    b.dispose();
    assert.throws(() => init.xavierUniform()([10], rng(0)), /^Error: init: cannot tell fanIn\/fanOut of a rank-1 tensor \[10\]; pass \{ fanIn, fanOut \} as the third argument$/);
  });

  it('Linear draws W ~ U(±1/√in) and b ~ U(±1/√in) by default, W [in, out]', () => {
    const lin = new nn.Linear(IN, OUT, { rng: 3 });
    assert.deepEqual([lin.weight.shape, lin.bias!.shape], [[IN, OUT], [OUT]]);
    const [w, b] = [stats(lin.weight.data), stats(lin.bias!.data)];
    assert.ok(w.maxAbs <= 1 / SQ(IN) && w.maxAbs > 0.999 / SQ(IN));
    assert.ok(b.maxAbs <= 1 / SQ(IN) && b.maxAbs > 0.9 / SQ(IN));
    assert.ok(Math.abs(w.std * SQ(3 * IN) - 1) < 0.01);
    lin.dispose();
  });

  it('Linear, MLP and Embedding are reproducible from their seed and pass init and biasInit through', () => {
    const vals = (m: nn.Module<any>) => m.parameters().map((p) => Array.from(p.data.dataSync()));
    const mk = (seed: number) => new nn.MLP([5, 6, 3], { rng: seed, init: init.xavierNormal(), biasInit: init.zeros() });
    const [a, b, c] = [mk(1), mk(1), mk(2)];
    assert.deepEqual(vals(a), vals(b));
    assert.notDeepEqual(vals(a), vals(c));
    assert.ok(a.layers.every((l) => Array.from(l.bias!.data.dataSync()).every((v) => v === 0)));
    const emb = new nn.Embedding(1000, 200, { rng: 4 });
    const e = stats(emb.weight.data);
    assert.ok(Math.abs(e.std - 1) < 0.01 && Math.abs(e.mean) < 0.01, `Embedding N(0, 1): ${JSON.stringify(e)}`);
    [a, b, c, emb].forEach((m) => m.dispose());
  });

  it('computes the gains of torch.nn.init.calculate_gain', () => {
    assert.deepEqual(
      (['linear', 'identity', 'sigmoid', 'tanh', 'relu', 'selu'] as const).map((n) => init.calculateGain(n)),
      [1, 1, 1, 5 / 3, Math.SQRT2, 0.75],
    );
    assert.equal(init.calculateGain('leaky_relu'), SQ(2 / (1 + 0.01 ** 2)));
    assert.equal(init.calculateGain('leaky_relu', 0.2), SQ(2 / 1.04));
    assert.throws(() => init.calculateGain('gelu' as 'relu'), /^Error: calculateGain: unknown nonlinearity 'gelu'/);
  });

  it('names the bad option', () => {
    assert.throws(() => init.xavierUniform({ gain: -1 }), /^Error: init\.xavierUniform: gain must be a positive finite number, got -1$/);
    assert.throws(() => init.smallNormal({ std: 0 }), /^Error: init\.smallNormal: std must be a positive finite number, got 0$/);
    assert.throws(() => init.kaimingNormal({ mode: 'fan_in' as 'fanIn' }), /^Error: init\.kaimingNormal: mode must be 'fanIn' or 'fanOut', got 'fan_in'$/);
    assert.throws(() => init.uniform({ low: 1, high: 0 }), /^Error: init\.uniform: need finite low <= high, got low 1, high 0$/);
  });
});
