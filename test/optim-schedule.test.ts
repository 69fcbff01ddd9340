/**
 * Learning-rate schedules: the pure functions of the step against the closed
 * forms written independently in Python (float64), and their argument errors.
 * All numbers are float64 on both sides, so values agree within 1e-12 relative.
 */
import { strict as assert } from 'assert';
import * as S from '../src/optim/schedule';
import { needTorch, runTorch, type TorchRun } from './helpers/torch';

const STEPS = 41; // steps 0..40

/** Assert two float64 sequences agree within `rel` relative (zeros must be exactly zero). */
function close(ours: number[], ref: number[], what: string, rel = 1e-12): void {
  assert.equal(ours.length, ref.length, `${what}: length`);
  for (let i = 0; i < ref.length; i++) {
    const a = ours[i] as number;
    const b = ref[i] as number;
    assert.ok(Math.abs(a - b) <= rel * Math.abs(b), `${what}: step ${i}: ours ${a}, reference ${b} (diff ${a - b})`);
  }
}

interface PureCase {
  name: string;
  ours: (s: number) => number;
  /** Python expression of `s` (float step) giving the lr; `math` is imported. */
  py: string;
}

const PURE: PureCase[] = [
  { name: 'constant lr 0.1', ours: (s) => S.constant(s, { lr: 0.1 }), py: '0.1' },
  { name: 'linearWarmup lr 0.1 over 10 from 0', ours: (s) => S.linearWarmup(s, { lr: 0.1, warmupSteps: 10 }), py: '0.1 * s / 10 if s < 10 else 0.1' },
  {
    name: 'linearWarmup lr 0.1 over 10 from 0.25',
    ours: (s) => S.linearWarmup(s, { lr: 0.1, warmupSteps: 10, startFactor: 0.25 }),
    py: '0.1 * (0.25 + 0.75 * s / 10) if s < 10 else 0.1',
  },
  {
    name: 'cosineDecay 0.1 to 0.01 over 30 (held after)',
    ours: (s) => S.cosineDecay(s, { lr: 0.1, totalSteps: 30, minLr: 0.01 }),
    py: '0.01 + 0.5 * (0.1 - 0.01) * (1 + math.cos(math.pi * min(s, 30) / 30))',
  },
  {
    name: 'linearDecay 0.1 to 0.01 over 30 (held after)',
    ours: (s) => S.linearDecay(s, { lr: 0.1, totalSteps: 30, minLr: 0.01 }),
    py: '0.01 + (0.1 - 0.01) * (1 - min(s, 30) / 30)',
  },
  {
    name: 'warmupCosine 5 warmup, 30 total, to 0.001',
    ours: (s) => S.warmupCosine(s, { lr: 0.1, warmupSteps: 5, totalSteps: 30, minLr: 0.001 }),
    py: '0.1 * s / 5 if s < 5 else 0.001 + 0.5 * (0.1 - 0.001) * (1 + math.cos(math.pi * min(1, (s - 5) / 25)))',
  },
  {
    // transformers' get_cosine_schedule_with_warmup λ, times the base lr, up to totalSteps (it is not clamped after)
    name: "warmupCosine minLr 0 is lr·λ of transformers' cosine schedule (steps 0..30)",
    ours: (s) => (s <= 30 ? S.warmupCosine(s, { lr: 0.1, warmupSteps: 5, totalSteps: 30 }) : 0),
    py: '(0.1 * (s / max(1, 5) if s < 5 else max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * (s - 5) / max(1, 30 - 5)))))) if s <= 30 else 0',
  },
  {
    name: "warmupLinear is lr·λ of transformers' linear schedule",
    ours: (s) => S.warmupLinear(s, { lr: 0.1, warmupSteps: 5, totalSteps: 30 }),
    py: '0.1 * (s / max(1, 5) if s < 5 else max(0.0, (30 - s) / max(1, 30 - 5)))',
  },
  {
    name: 'warmupLinear to 0.002',
    ours: (s) => S.warmupLinear(s, { lr: 0.1, warmupSteps: 5, totalSteps: 30, minLr: 0.002 }),
    py: '0.1 * s / 5 if s < 5 else 0.002 + (0.1 - 0.002) * (1 - min(1, (s - 5) / 25))',
  },
  { name: 'stepDecay ×0.5 every 7', ours: (s) => S.stepDecay(s, { lr: 0.1, stepSize: 7, gamma: 0.5 }), py: '0.1 * 0.5 ** (s // 7)' },
  { name: 'warmupCosine with no warmup', ours: (s) => S.warmupCosine(s, { lr: 1, warmupSteps: 0, totalSteps: 40 }), py: '0.5 * (1 + math.cos(math.pi * s / 40))' },
];

const PURE_SCRIPT = `
OUTPUT = {}
for name, expr in INPUT["pure"].items():
    f = eval("lambda s: " + expr)
    OUTPUT[name] = [float(f(float(s))) for s in range(INPUT["steps"])]
`;

describe('optim schedules: pure functions of the step', function () {
  let run: TorchRun<Record<string, number[]>> | undefined;
  before(function () {
    run = runTorch<Record<string, number[]>>(PURE_SCRIPT, { steps: STEPS, pure: Object.fromEntries(PURE.map((c) => [c.name, c.py])) });
  });

  for (const c of PURE) {
    it(`${c.name}: matches the float64 closed form over 41 steps`, function () {
      const ref = needTorch(this, run)[c.name] as number[];
      close(Array.from({ length: STEPS }, (_, s) => c.ours(s)), ref, c.name);
    });
  }

  it('warmupCosine peaks at lr at the end of warmup and ends at minLr', function () {
    const o = { lr: 0.3, warmupSteps: 4, totalSteps: 20, minLr: 0.03 };
    assert.equal(S.warmupCosine(0, o), 0);
    // minLr + ½(lr − minLr)·2 = 0.03 + 0.27 rounds to 0.30000000000000004: equal within an ulp, not bit for bit
    assert.ok(Math.abs(S.warmupCosine(4, o) - 0.3) <= 1e-16);
    assert.ok(Math.abs(S.warmupCosine(20, o) - 0.03) <= 1e-17);
    assert.equal(S.warmupCosine(100, o), S.warmupCosine(20, o));
  });

  it('throws named errors for bad arguments', function () {
    const cases: [() => number, RegExp][] = [
      [() => S.constant(-1, { lr: 0.1 }), /^RangeError: constant: step must be a finite number >= 0 \(got -1\)/],
      [() => S.constant(0, { lr: NaN }), /constant: lr must be a finite number >= 0 \(got NaN\)/],
      [() => S.linearWarmup(0, { lr: 0.1, warmupSteps: 2.5 }), /linearWarmup: warmupSteps must be an integer >= 0 \(got 2.5\)/],
      [() => S.linearWarmup(0, { lr: 0.1, warmupSteps: 3, startFactor: 1.5 }), /linearWarmup: startFactor must be in \[0, 1\] \(got 1.5\)/],
      [() => S.cosineDecay(0, { lr: 0.1, totalSteps: 0 }), /cosineDecay: totalSteps must be an integer >= 1 \(got 0\)/],
      [() => S.linearDecay(0, { lr: 0.1, totalSteps: 10, minLr: 0.2 }), /linearDecay: minLr must not exceed lr \(0.1\) \(got 0.2\)/],
      [() => S.warmupCosine(0, { lr: 0.1, warmupSteps: 20, totalSteps: 10 }), /warmupCosine: warmupSteps must not exceed totalSteps \(10\) \(got 20\)/],
      [() => S.warmupLinear(Infinity, { lr: 0.1, warmupSteps: 1, totalSteps: 10 }), /warmupLinear: step must be a finite number >= 0 \(got Infinity\)/],
      [() => S.stepDecay(0, { lr: 0.1, stepSize: 5, gamma: 0 }), /stepDecay: gamma must be in \(0, 1\] \(got 0\)/],
      [() => S.stepDecay(0, { lr: 0.1, stepSize: 0 }), /stepDecay: stepSize must be an integer >= 1 \(got 0\)/],
    ];
    for (const [f, re] of cases) assert.throws(f, (e: Error) => re.test(String(e)), `expected ${re}`);
  });
});
