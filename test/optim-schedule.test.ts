/**
 * Learning-rate schedules: the pure functions of the step against the closed
 * forms written independently in Python (float64); the stateful schedulers
 * against torch.optim.lr_scheduler (1.13) on an SGD with two groups of different
 * lr, step for step, with transformers' warmup λs written by hand in Python (not
 * installed here); stateDict round trips mid-schedule; argument errors. All
 * numbers are float64 on both sides, so values agree within 1e-12 relative.
 */
import { strict as assert } from 'assert';
import * as S from '../src/optim/schedule';
import {
  ConstantLR,
  CosineAnnealingLR,
  LambdaLR,
  LinearLR,
  LRScheduler,
  MultiStepLR,
  SequentialLR,
  StepLR,
  cosineScheduleWithWarmup,
  linearScheduleWithWarmup,
  type HasParamGroups,
  type SchedulerState,
} from '../src/optim/scheduler';
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

// ---------------------------------------------------------------------------
// Stateful schedulers against torch.optim.lr_scheduler (1.13), step for step.

/** A stand-in optimiser: two parameter groups of different lr (schedulers only read and write `lr`). */
const BASE_LRS = [0.1, 0.02];
const makeOpt = (): HasParamGroups => ({ paramGroups: BASE_LRS.map((lr) => ({ lr })) });

interface SchedCase {
  name: string;
  ours: (opt: HasParamGroups) => LRScheduler;
  /** Python expression building the same scheduler on `opt` (`L` is torch.optim.lr_scheduler). */
  py: string;
}

const cosLambda = 'lambda s: s / max(1, 5) if s < 5 else max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * float(s - 5) / float(max(1, 30 - 5)))))';
const linLambda = 'lambda s: s / max(1, 5) if s < 5 else max(0.0, float(30 - s) / float(max(1, 30 - 5)))';

const SCHED: SchedCase[] = [
  { name: 'LinearLR, defaults (1/3 to 1 over 5)', ours: (o) => new LinearLR(o), py: 'L.LinearLR(opt)' },
  {
    name: 'LinearLR 0.1 to 0.5 over 12',
    ours: (o) => new LinearLR(o, { startFactor: 0.1, endFactor: 0.5, totalIters: 12 }),
    py: 'L.LinearLR(opt, start_factor=0.1, end_factor=0.5, total_iters=12)',
  },
  {
    name: 'CosineAnnealingLR tMax 10 to 0.001, periodic past tMax',
    ours: (o) => new CosineAnnealingLR(o, { tMax: 10, etaMin: 0.001 }),
    py: 'L.CosineAnnealingLR(opt, T_max=10, eta_min=0.001)',
  },
  { name: 'CosineAnnealingLR tMax 7 to 0', ours: (o) => new CosineAnnealingLR(o, { tMax: 7 }), py: 'L.CosineAnnealingLR(opt, T_max=7)' },
  {
    name: 'SequentialLR: LinearLR warmup for 5, then CosineAnnealingLR tMax 30',
    ours: (o) => new SequentialLR(o, [new LinearLR(o, { startFactor: 0.01, totalIters: 5 }), new CosineAnnealingLR(o, { tMax: 30, etaMin: 1e-4 })], [5]),
    py: 'L.SequentialLR(opt, [L.LinearLR(opt, start_factor=0.01, total_iters=5), L.CosineAnnealingLR(opt, T_max=30, eta_min=1e-4)], milestones=[5])',
  },
  {
    name: 'SequentialLR of three: LinearLR, CosineAnnealingLR tMax 8, LambdaLR 0.9^s (milestones 5, 20)',
    ours: (o) => new SequentialLR(o, [new LinearLR(o), new CosineAnnealingLR(o, { tMax: 8 }), new LambdaLR(o, (s) => 0.9 ** s)], [5, 20]),
    py: 'L.SequentialLR(opt, [L.LinearLR(opt), L.CosineAnnealingLR(opt, T_max=8), L.LambdaLR(opt, lambda s: 0.9 ** s)], milestones=[5, 20])',
  },
  {
    name: 'SequentialLR: CosineAnnealingLR tMax 4, then LinearLR 0.5 to 1 over 6 restarted at 10 (its closed form at 0)',
    ours: (o) => new SequentialLR(o, [new CosineAnnealingLR(o, { tMax: 4, etaMin: 0.005 }), new LinearLR(o, { startFactor: 0.5, totalIters: 6 })], [10]),
    py: 'L.SequentialLR(opt, [L.CosineAnnealingLR(opt, T_max=4, eta_min=0.005), L.LinearLR(opt, start_factor=0.5, total_iters=6)], milestones=[10])',
  },
  { name: 'StepLR stepSize 7, gamma 0.5', ours: (o) => new StepLR(o, { stepSize: 7, gamma: 0.5 }), py: 'L.StepLR(opt, step_size=7, gamma=0.5)' },
  { name: 'StepLR stepSize 3, default gamma 0.1 (13 rounded products)', ours: (o) => new StepLR(o, { stepSize: 3 }), py: 'L.StepLR(opt, step_size=3)' },
  {
    name: 'MultiStepLR milestones 5, 12, 12, 30 (12 repeated: two decays), gamma 0.3',
    ours: (o) => new MultiStepLR(o, { milestones: [5, 12, 12, 30], gamma: 0.3 }),
    py: 'L.MultiStepLR(opt, milestones=[5, 12, 12, 30], gamma=0.3)',
  },
  { name: 'MultiStepLR milestones 10, 20, default gamma', ours: (o) => new MultiStepLR(o, { milestones: [10, 20] }), py: 'L.MultiStepLR(opt, milestones=[10, 20])' },
  { name: 'ConstantLR, defaults (1/3 for 5 steps)', ours: (o) => new ConstantLR(o), py: 'L.ConstantLR(opt)' },
  { name: 'ConstantLR factor 0.3 for 9 steps', ours: (o) => new ConstantLR(o, { factor: 0.3, totalIters: 9 }), py: 'L.ConstantLR(opt, factor=0.3, total_iters=9)' },
  {
    name: 'SequentialLR: ConstantLR 0.1 for 4, then StepLR 5 × 0.5 from 6',
    ours: (o) => new SequentialLR(o, [new ConstantLR(o, { factor: 0.1, totalIters: 4 }), new StepLR(o, { stepSize: 5, gamma: 0.5 })], [6]),
    py: 'L.SequentialLR(opt, [L.ConstantLR(opt, factor=0.1, total_iters=4), L.StepLR(opt, step_size=5, gamma=0.5)], milestones=[6])',
  },
  {
    name: 'SequentialLR of three: LinearLR, MultiStepLR [3, 8], StepLR 4 (milestones 5, 20)',
    ours: (o) => new SequentialLR(o, [new LinearLR(o), new MultiStepLR(o, { milestones: [3, 8], gamma: 0.2 }), new StepLR(o, { stepSize: 4, gamma: 0.7 })], [5, 20]),
    py: 'L.SequentialLR(opt, [L.LinearLR(opt), L.MultiStepLR(opt, milestones=[3, 8], gamma=0.2), L.StepLR(opt, step_size=4, gamma=0.7)], milestones=[5, 20])',
  },
  {
    name: 'SequentialLR: StepLR 3 × 0.5, then ConstantLR 0.25 for 5 restarted at 10 (its closed form at 0)',
    ours: (o) => new SequentialLR(o, [new StepLR(o, { stepSize: 3, gamma: 0.5 }), new ConstantLR(o, { factor: 0.25, totalIters: 5 })], [10]),
    py: 'L.SequentialLR(opt, [L.StepLR(opt, step_size=3, gamma=0.5), L.ConstantLR(opt, factor=0.25, total_iters=5)], milestones=[10])',
  },
  {
    name: 'LambdaLR, one function per group',
    ours: (o) => new LambdaLR(o, [(s) => 1 / (s + 1), (s) => 0.95 ** s]),
    py: 'L.LambdaLR(opt, [lambda s: 1 / (s + 1), lambda s: 0.95 ** s])',
  },
  {
    name: "cosineScheduleWithWarmup (W 5, T 30; transformers' λ written by hand in Python)",
    ours: (o) => cosineScheduleWithWarmup(o, { warmupSteps: 5, totalSteps: 30 }),
    py: `L.LambdaLR(opt, ${cosLambda})`,
  },
  {
    name: "linearScheduleWithWarmup (W 5, T 30; transformers' λ written by hand in Python)",
    ours: (o) => linearScheduleWithWarmup(o, { warmupSteps: 5, totalSteps: 30 }),
    py: `L.LambdaLR(opt, ${linLambda})`,
  },
];

const SCHED_SCRIPT = `
import warnings
from torch.optim import lr_scheduler as L
warnings.simplefilter("ignore")
OUTPUT = {}
for name, expr in INPUT["cases"].items():
    params = [torch.zeros(1, requires_grad=True) for _ in INPUT["lrs"]]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, INPUT["lrs"])], lr=1.0)
    sched = eval(expr)
    lrs = [[g["lr"] for g in opt.param_groups]]
    for _ in range(INPUT["steps"] - 1):
        opt.step()
        sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
    OUTPUT[name] = lrs
for T in INPUT["longTMax"]:
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = L.CosineAnnealingLR(opt, T_max=T, eta_min=0.001)
    lrs = [[opt.param_groups[0]["lr"]]]
    for _ in range(100):
        opt.step()
        sched.step()
        lrs.append([opt.param_groups[0]["lr"]])
    OUTPUT["long CosineAnnealingLR T_max=%d" % T] = lrs
`;

/** Our lrs per step, [step][group], checking that getLastLr() is what the groups hold. */
function trace(opt: HasParamGroups, sched: LRScheduler, steps: number, what: string): number[][] {
  const out: number[][] = [];
  for (let s = 0; s < steps; s++) {
    if (s > 0) sched.step();
    const lrs = opt.paramGroups.map((g) => g.lr);
    assert.deepEqual(sched.getLastLr(), lrs, `${what}: getLastLr() at step ${s}`);
    out.push(lrs);
  }
  return out;
}

describe('optim schedulers: against torch.optim.lr_scheduler, step for step', function () {
  let run: TorchRun<Record<string, number[][]>> | undefined;
  before(function () {
    run = runTorch<Record<string, number[][]>>(SCHED_SCRIPT, { steps: STEPS, lrs: BASE_LRS, longTMax: [10, 30], cases: Object.fromEntries(SCHED.map((c) => [c.name, c.py])) });
  });

  for (const c of SCHED) {
    it(`${c.name}: both groups match PyTorch over 41 steps`, function () {
      const ref = needTorch(this, run)[c.name] as number[][];
      const opt = makeOpt();
      const ours = trace(opt, c.ours(opt), STEPS, c.name);
      for (let g = 0; g < BASE_LRS.length; g++) close(ours.map((r) => r[g] as number), ref.map((r) => r[g] as number), `${c.name}, group ${g}`);
    });

    it(`${c.name}: a stateDict saved at step 17 and loaded into a fresh scheduler continues identically`, function () {
      const opt = makeOpt();
      const sched = c.ours(opt);
      for (let s = 0; s < 17; s++) sched.step();
      const saved = JSON.parse(JSON.stringify(sched.stateDict())) as SchedulerState;
      const rest = trace(opt, sched, STEPS - 17, 'uninterrupted');
      const opt2 = makeOpt(); // fresh: its lrs are the base lrs, the scheduler's own state brings the rest
      const resumed = c.ours(opt2);
      resumed.loadStateDict(saved);
      assert.deepEqual(trace(opt2, resumed, STEPS - 17, 'resumed'), rest); // bit for bit
    });
  }

  it('CosineAnnealingLR follows PyTorch\'s recursion, not the closed form, over 100 steps', function () {
    // Measured: ours vs PyTorch within ~1e-15 relative (not bit for bit: V8's Math.cos and glibc's cos
    // differ in the last bit for some arguments); the closed form drifts ~2e-14 from PyTorch's recursion.
    for (const T of [10, 30]) {
      const ref = (needTorch(this, run)[`long CosineAnnealingLR T_max=${T}`] as number[][]).map((r) => r[0] as number);
      const opt: HasParamGroups = { paramGroups: [{ lr: 0.1 }] };
      const ours = trace(opt, new CosineAnnealingLR(opt, { tMax: T, etaMin: 0.001 }), 101, `T ${T}`).map((r) => r[0] as number);
      close(ours, ref, `CosineAnnealingLR tMax ${T}, 100 steps`, 3e-15);
      const closed = ref.map((_, t) => 0.001 + ((0.1 - 0.001) * (1 + Math.cos((Math.PI * t) / T))) / 2);
      assert.throws(() => close(closed, ref, 'closed form', 3e-15), /closed form: step/, 'the closed form should be told apart at this tolerance');
    }
  });

  it('CosineAnnealingLR: PyTorch-style recursion vs the closed form differs only in the last bits', function () {
    const opt = makeOpt();
    const sched = new CosineAnnealingLR(opt, { tMax: 10, etaMin: 0.001 });
    let worst = 0;
    for (let t = 1; t < STEPS; t++) {
      sched.step();
      const closed = 0.001 + ((0.1 - 0.001) * (1 + Math.cos((Math.PI * t) / 10))) / 2;
      worst = Math.max(worst, Math.abs((opt.paramGroups[0] as { lr: number }).lr - closed) / closed);
    }
    assert.ok(worst < 1e-13, `worst relative difference ${worst}`);
  });

  it('throws named errors for bad arguments and mismatched states', function () {
    const o = makeOpt();
    const cases: [() => unknown, RegExp][] = [
      [() => new LinearLR(o, { startFactor: 0 }), /^RangeError: LinearLR: startFactor must be in \(0, 1\] \(0 would divide by zero.*\(got 0\)/],
      [() => new LinearLR(o, { endFactor: 1.5 }), /LinearLR: endFactor must be in \[0, 1\] \(got 1.5\)/],
      [() => new LinearLR(o, { totalIters: 0 }), /LinearLR: totalIters must be an integer >= 1 \(got 0\)/],
      [() => new CosineAnnealingLR(o, { tMax: 2.5 }), /CosineAnnealingLR: tMax must be an integer >= 1 \(got 2.5\)/],
      [() => new CosineAnnealingLR(o, { tMax: 5, etaMin: -1 }), /CosineAnnealingLR: etaMin must be a finite number >= 0 \(got -1\)/],
      [() => new LambdaLR(o, [(s) => s]), /LambdaLR: expected one lrLambda per group \(2\)/],
      [() => new LambdaLR(o, () => NaN), /LambdaLR: lrLambda 0 returned a non-finite factor at step 0/],
      [() => new LinearLR({ paramGroups: [] }), /LinearLR: the optimiser must have a non-empty paramGroups array/],
      [() => new LinearLR({ paramGroups: [{ lr: -0.1 }] }), /LinearLR: paramGroups\[0\].lr must be a finite number >= 0 \(got -0.1\)/],
      [() => new SequentialLR(o, [new LinearLR(o), new LinearLR(o)], []), /SequentialLR: expected 1 milestones for 2 schedulers \(got \[\]\)/],
      [() => new SequentialLR(o, [new LinearLR(o), new LinearLR(makeOpt())], [3]), /SequentialLR: schedulers\[1\] drives a different optimiser/],
      [() => new SequentialLR(o, [new LinearLR(o), new LinearLR(o), new LinearLR(o)], [5, 5]), /SequentialLR: milestones must increase/],
      [() => new StepLR(o, { stepSize: 0 }), /^RangeError: StepLR: stepSize must be an integer >= 1 \(got 0\)/],
      [() => new StepLR(o, { stepSize: 3, gamma: 1.5 }), /StepLR: gamma must be in \(0, 1\] \(got 1.5\)/],
      [() => new StepLR(o, { stepSize: 3, gamma: NaN }), /StepLR: gamma must be in \(0, 1\] \(got null\)/],
      [() => new MultiStepLR(o, { milestones: [] }), /MultiStepLR: milestones must be a non-empty array of steps \(got \[\]\)/],
      [() => new MultiStepLR(o, { milestones: [5, 3] }), /MultiStepLR: milestones must not decrease, but milestones\[1\] < milestones\[0\] \(got \[5,3\]\); sort them/],
      [() => new MultiStepLR(o, { milestones: [0, 3] }), /MultiStepLR: milestones\[0\] must be an integer >= 1 \(got 0\)/],
      [() => new MultiStepLR(o, { milestones: [3], gamma: 0 }), /MultiStepLR: gamma must be in \(0, 1\] \(got 0\)/],
      [() => new ConstantLR(o, { factor: 0 }), /ConstantLR: factor must be in \(0, 1\] \(0 would divide by zero.*\(got 0\)/],
      [() => new ConstantLR(o, { totalIters: 1.5 }), /ConstantLR: totalIters must be an integer >= 1 \(got 1.5\)/],
      [() => new StepLR(makeOpt(), { stepSize: 3 }).loadStateDict(new StepLR(makeOpt(), { stepSize: 4 }).stateDict()), /StepLR.loadStateDict: setting stepSize is 3 here but differs in the state \(got 4\)/],
      [() => new MultiStepLR(makeOpt(), { milestones: [3] }).loadStateDict(new MultiStepLR(makeOpt(), { milestones: [3, 4] }).stateDict()), /MultiStepLR.loadStateDict: setting milestones is \[3\] here but differs/],
      [() => cosineScheduleWithWarmup(o, { warmupSteps: -1, totalSteps: 10 }), /cosineScheduleWithWarmup: warmupSteps must be an integer >= 0 \(got -1\)/],
      [() => new LinearLR(makeOpt()).loadStateDict(new CosineAnnealingLR(makeOpt(), { tMax: 3 }).stateDict()), /LinearLR.loadStateDict: the state is of a CosineAnnealingLR, not a LinearLR/],
      [() => new LinearLR(makeOpt()).loadStateDict(new LinearLR(makeOpt(), { totalIters: 9 }).stateDict()), /LinearLR.loadStateDict: setting totalIters is 5 here but differs in the state \(got 9\)/],
      [() => new LinearLR(makeOpt()).loadStateDict(new LinearLR({ paramGroups: [{ lr: 1 }] }).stateDict()), /LinearLR.loadStateDict: the state has 1 groups, the optimiser 2/],
    ];
    for (const [f, re] of cases) assert.throws(f, (e: Error) => re.test(String(e)), `expected ${re}`);
  });

  it('a second scheduler on the same optimiser sees the initial lr, not the first one\'s (PyTorch\'s initial_lr)', function () {
    const opt = makeOpt();
    new LinearLR(opt, { startFactor: 0.5 });
    assert.deepEqual(opt.paramGroups.map((g) => g.lr), [0.05, 0.01]);
    const cos = new CosineAnnealingLR(opt, { tMax: 4 });
    assert.deepEqual(cos.baseLrs, BASE_LRS);
  });
});
