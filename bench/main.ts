/**
 * `npm run bench [-- suite ...]`: run benchmark suites and write
 * `out/bench/<suite>.json` ([{ name, value, unit, reference, ratio }]).
 * With no suite named, all run. Benchmarks are not tests: they measure and
 * report ratios; they never pass or fail on a number.
 */
import { benchAutograd } from './autograd';
import { benchBackends } from './backends';
import { benchCheckpoint } from './checkpoint';
import { benchDist } from './dist';
import { benchKernel } from './kernel';
import { benchOptim } from './optim';
import { benchProbes } from './probes';
import { writeReport, type BenchResult } from './report';

const SUITES: Record<string, { what: string; run: () => Promise<BenchResult[]> }> = {
  backends: { what: 'matmul GFLOP/s per backend, ratio to the cpu backend', run: benchBackends },
  kernel: { what: 'gradlab kernel start and warm cell round trip, ratio to plain tslab and (where installed) Deno', run: benchKernel },
  autograd: { what: 'MLP 784-256-256-10 SGD step: gradlab vs tfjs variableGrads vs PyTorch', run: benchAutograd },
  optim: {
    what: 'AdamW step over 10M parameters: gradlab vs tfjs tf.train.adam vs PyTorch AdamW; checkpoint save / load vs a plain fs write / read of the same bytes',
    run: async () => [...(await benchOptim()), ...(await benchCheckpoint())],
  },
  dist: {
    what: 'ring all-reduce busbw (2 and 4 ranks, 1 KiB-256 MiB) vs raw point-to-point and vs torch.distributed gloo',
    run: benchDist,
  },
  probes: {
    what: 'copy and triad bandwidth: gradlab on the active backend vs STREAM in C (gcc -O3 -march=native, 1 thread; 2-thread OpenMP extra) vs NumPy copyto',
    run: benchProbes,
  },
};

async function main(): Promise<void> {
  const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = asked.filter((a) => !(a in SUITES));
  if (unknown.length) {
    console.error(`bench: unknown suite ${unknown.join(', ')}; available:\n${Object.entries(SUITES).map(([k, v]) => `  ${k}  ${v.what}`).join('\n')}`);
    process.exit(2);
  }
  for (const name of asked.length ? asked : Object.keys(SUITES)) {
    console.log(`bench ${name}: ${SUITES[name]!.what}`);
    writeReport(name, await SUITES[name]!.run());
  }
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
