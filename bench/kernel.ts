/**
 * `npm run bench -- kernel`: the gradlab kernel against plain tslab (both
 * type-checking) and, where it is installed, Deno's Jupyter kernel (no type
 * checking of cells: a second reference), all measured in the same run:
 *
 * - start to ready: spawn to the first kernel_info_reply (with IOPub live),
 *   median of a few starts (target: ≤ 1.0x tslab);
 * - start to first result: spawn to the reply of a first `1 + 1` (the type
 *   checker is built by then), so the early kernel_info of gradlab's socket
 *   thread is not mistaken for a faster compiler (target: ≤ 0.6x tslab);
 * - warm cell: round trip of `1 + 1` once warm, median of 50 (target: ≤ 0.75x tslab). The
 *   same source every time: TypeScript keeps its program, and gradlab reuses the cell's last
 *   conversion (a cell run again). Two more figures time what most cells cost, a new
 *   expression each time (`${i} * 2`: a new program and type checker) and a new declaration
 *   each time (`const v${i} = ${i};`, the notebook's declarations growing). Each warm-path
 *   speed-up is also measured against the same kernel with it switched off (`SWITCHED_OFF`):
 *   a plain SIGINT listener (GRADLAB_KERNEL_SIGINT=listener, kernel/sigint.ts), tslab's
 *   incremental builder program (GRADLAB_KERNEL_BUILDER=1) and a cell run again converted
 *   again (GRADLAB_KERNEL_MEMO=0), both kernel/converter.ts. Two speed-ups of the start are
 *   measured the same way (`START_SWITCHED_OFF`, start to first result, all three kernels
 *   without the snapshot): declaration files' documentation comments parsed with the files
 *   (GRADLAB_KERNEL_LAZY_JSDOC=0, kernel/lazydoc.ts) and folder watchers made before the
 *   first cell (GRADLAB_KERNEL_WATCH=eager, kernel/converter.ts).
 *
 * The gradlab starts after the first use TypeScript's code cache (kernel/converter.ts)
 * and the startup snapshot (kernel/snapshot.ts), as a learner's kernel does from its
 * second start on: the bench starts one kernel first and waits until the snapshot its
 * first cell set off is built. `gradlab-nosnap` (GRADLAB_KERNEL_SNAPSHOT=0) is the same
 * kernel started without the snapshot (start figures only), and `gradlab-nodelaunch` the kernel started from it
 * by `node kernel.js` (kernel/launch.ts's child Node) rather than by kernel/launch.sh, which execs Node from it. The bench makes `gradlab` start from the snapshot
 * (GRADLAB_KERNEL_SNAPSHOT=1); a kernel left to itself starts from it only where its own measured starts say that
 * is faster (kernel/snapshot.ts `chooseStart`), so a learner's start is about the better of the two figures.
 *
 * Deno: `GRADLAB_DENO=/path/to/deno`, `deno` on PATH, or `npm install --no-save deno`
 * (node_modules/.bin/deno); without it the bench says so and reports tslab ratios only.
 */
import * as fs from 'fs';
import * as path from 'path';
import { KernelClient } from '../kernel/client';
import { usableSnapshot } from '../kernel/snapshot';
import { kernelArgv, launchScript } from '../kernel/spec';
import { median, type BenchResult } from './report';

const ROOT = path.resolve(__dirname, '..', '..');
const STARTS = 5;
const WARM = 50;
/** Deno checks for updates at start unless told not to (it would time a network request). */
const ENV = { ...process.env, DENO_NO_UPDATE_CHECK: '1' };

interface Kernel {
  name: string;
  argv: (connectionFile: string) => string[];
  env?: NodeJS.ProcessEnv;
  /** Measured at start only (not in the warm round trips). */
  startOnly?: boolean;
  /** Measured in the warm round trips only. */
  warmOnly?: boolean;
}

/**
 * The Deno binary: `GRADLAB_DENO`, else `deno` on PATH, else node_modules/.bin/deno
 * (`npm install --no-save deno`); undefined when none is found.
 */
export function findDeno(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const executable = (f: string) => {
    try {
      fs.accessSync(f, fs.constants.X_OK);
      return fs.statSync(f).isFile();
    } catch {
      return false;
    }
  };
  if (env.GRADLAB_DENO) {
    if (executable(env.GRADLAB_DENO)) return env.GRADLAB_DENO;
    console.log(`  GRADLAB_DENO=${env.GRADLAB_DENO} is not an executable file; looking for deno on PATH`);
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && executable(path.join(dir, 'deno'))) return path.join(dir, 'deno');
  }
  const local = path.join(ROOT, 'node_modules', '.bin', 'deno');
  return executable(local) ? local : undefined;
}

/**
 * The gradlab kernel with one of its warm-path speed-ups switched off (warm round trips only):
 * each compared with the full kernel on the figures that speed-up is for.
 */
const SWITCHED_OFF: { name: string; variable: string; value: string; what: string; figures: ('warm' | 'fresh' | 'declares')[] }[] = [
  { name: 'gradlab-listener', variable: 'GRADLAB_KERNEL_SIGINT', value: 'listener', what: 'a plain SIGINT listener (kernel/sigint.ts)', figures: ['warm'] },
  { name: 'gradlab-builder', variable: 'GRADLAB_KERNEL_BUILDER', value: '1', what: "tslab's incremental builder program (kernel/converter.ts)", figures: ['fresh', 'declares'] },
  { name: 'gradlab-nomemo', variable: 'GRADLAB_KERNEL_MEMO', value: '0', what: 'a cell run again converted again (kernel/converter.ts)', figures: ['warm'] },
];

/**
 * The same, for speed-ups of the start: each a kernel started without the snapshot, compared
 * with `gradlab-nosnap` (start to first result).
 */
const START_SWITCHED_OFF: { name: string; variable: string; value: string; what: string }[] = [
  { name: 'gradlab-eagerdocs', variable: 'GRADLAB_KERNEL_LAZY_JSDOC', value: '0', what: "declaration files' documentation comments parsed with the files (kernel/lazydoc.ts)" },
  { name: 'gradlab-eagerwatch', variable: 'GRADLAB_KERNEL_WATCH', value: 'eager', what: 'folder watchers made before the first cell (kernel/converter.ts)' },
];

const KERNELS: Kernel[] = [
  // From the snapshot always (a kernel left to choose starts the way its own measured starts favour).
  { name: 'gradlab', argv: kernelArgv, env: { ...ENV, GRADLAB_KERNEL_SNAPSHOT: '1' } },
  { name: 'gradlab-nosnap', argv: kernelArgv, env: { ...ENV, GRADLAB_KERNEL_SNAPSHOT: '0' }, startOnly: true },
  // From the snapshot too, but kernel.js started directly (as on Windows): its launcher (kernel/launch.ts) starts the child.
  { name: 'gradlab-nodelaunch', argv: (f) => kernelArgv(f, false), env: { ...ENV, GRADLAB_KERNEL_SNAPSHOT: '1' }, startOnly: true },
  ...SWITCHED_OFF.map((s): Kernel => ({ name: s.name, argv: kernelArgv, env: { ...ENV, [s.variable]: s.value }, warmOnly: true })),
  ...START_SWITCHED_OFF.map((s): Kernel => ({ name: s.name, argv: kernelArgv, env: { ...ENV, GRADLAB_KERNEL_SNAPSHOT: '0', [s.variable]: s.value }, startOnly: true })),
  { name: 'tslab', argv: (f) => [process.execPath, path.join(ROOT, 'node_modules', 'tslab', 'bin', 'tslab'), 'kernel', '--config-path', f] },
];

/** Deno's kernel, when installed (`deno jupyter --kernel --conn <file>`). */
function denoKernel(): Kernel | undefined {
  const deno = findDeno();
  if (!deno) {
    console.log('  Deno is not installed: reporting tslab ratios only (add it with `npm install --no-save deno`, or GRADLAB_DENO=/path/to/deno)');
    return undefined;
  }
  console.log(`  Deno: ${deno}`);
  return { name: 'deno', argv: (f) => [deno, 'jupyter', '--kernel', '--conn', f] };
}

interface Times {
  ready: number[];
  first: number[];
  warm: number[];
  /** A warm cell whose source is new (`${i} * 2`): TypeScript builds a new program and checker for it. */
  fresh: number[];
  /** A warm cell that declares a variable (`const v${i} = ${i};`), one more each time. */
  declares: number[];
}

function emptyTimes(): Times {
  return { ready: [], first: [], warm: [], fresh: [], declares: [] };
}

/** One cold start: spawn to ready, and to the result of a first cell. */
async function measureStart(k: Kernel, t: Times): Promise<void> {
  const t0 = performance.now();
  const client = await KernelClient.start({ cwd: ROOT, argv: k.argv, env: k.env ?? ENV, log: () => undefined });
  t.ready.push(performance.now() - t0);
  try {
    const r = await client.execute('1 + 1');
    t.first.push(performance.now() - t0);
    if (r.status !== 'ok') throw new Error(`${k.name}: 1 + 1 failed: ${JSON.stringify(r.reply)}`);
  } finally {
    await client.shutdown();
  }
}

/** Warm round trips, both kernels running, one cell on each in turn (drift hits both alike). */
async function measureWarm(kernels: Kernel[], times: Map<string, Times>): Promise<void> {
  const open = async (k: Kernel) => {
    const c = await KernelClient.start({ cwd: ROOT, argv: k.argv, env: k.env ?? ENV, log: () => undefined });
    for (let i = 0; i < 10; i++) await c.execute('1 + 1');
    return c;
  };
  const clients = await Promise.all(kernels.map(open));
  const kinds: [keyof Times, (i: number) => string][] = [['warm', () => '1 + 1'], ['fresh', (i) => `${i} * 2`], ['declares', (i) => `const v${i} = ${i};`]];
  try {
    for (const [kind, code] of kinds) {
      for (let i = 0; i < WARM; i++) {
        for (const [j, k] of kernels.entries()) {
          for (;;) {
            const a = performance.now();
            try {
              await clients[j]!.execute(code(i), { timeoutMs: 5000 });
              times.get(k.name)![kind].push(performance.now() - a);
              break;
            } catch (e) {
              // Plain tslab sometimes loses a reply under a stream of requests (its sends are not
              // serialised); that kernel is stuck: replace it and measure the cell again.
              console.log(`  ${k.name} did not answer (${(e as Error).message}); restarting it`);
              await clients[j]!.kill();
              clients[j] = await open(k);
            }
          }
        }
      }
    }
  } finally {
    await Promise.all(clients.map((c) => c.shutdown()));
  }
}

export async function benchKernel(): Promise<BenchResult[]> {
  const deno = denoKernel();
  const kernels = deno ? [...KERNELS, deno] : KERNELS;
  const times = new Map<string, Times>(kernels.map((k) => [k.name, emptyTimes()]));
  // A first start sets off the startup snapshot's build (kernel/snapshot.ts); wait for it.
  if (!usableSnapshot()) {
    await measureStart(KERNELS[0]!, emptyTimes());
    const t0 = performance.now();
    while (!usableSnapshot() && performance.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 500));
  }
  console.log(`  startup snapshot: ${usableSnapshot() ?? 'none (gradlab starts without it)'}`);
  // Alternate the kernels so that drift on a shared machine hits all alike.
  for (let i = 0; i < STARTS; i++) {
    for (const k of kernels.filter((k) => !k.warmOnly)) {
      await measureStart(k, times.get(k.name)!);
      const t = times.get(k.name)!;
      console.log(`  start ${i + 1}/${STARTS} ${k.name}: ready ${t.ready.at(-1)!.toFixed(0)} ms, first result ${t.first.at(-1)!.toFixed(0)} ms`);
    }
  }
  await measureWarm(kernels.filter((k) => !k.startOnly), times);
  const g = times.get('gradlab')!;
  const refs: [string, string, Times][] = [['tslab', 'plain tslab', times.get('tslab')!]];
  if (deno) refs.push(['deno', 'Deno (no type checking)', times.get('deno')!]);
  const figures: [keyof Times, string, string][] = [
    ['ready', `start to ready (first kernel_info_reply, median of ${STARTS})`, 'start to ready'],
    ['first', `start to first cell result (median of ${STARTS})`, 'start to first result'],
    ['warm', `warm cell round trip of 1 + 1, the same cell again (median of ${WARM})`, 'warm 1 + 1'],
    ['fresh', `warm cell round trip of a new expression \`\${i} * 2\` (median of ${WARM})`, 'new expression'],
    ['declares', `warm cell round trip of a declaration \`const v\${i} = \${i};\` (median of ${WARM}, after 0 to ${WARM - 1} earlier ones)`, 'declaration'],
  ];
  const results: BenchResult[] = [];
  const whats = { warm: '1 + 1 (the same cell again)', fresh: 'a new expression', declares: 'a declaration' };
  for (const off of SWITCHED_OFF) {
    const t = times.get(off.name)!;
    for (const key of off.figures) {
      results.push({
        name: `gradlab kernel warm cell round trip of ${whats[key]} (median of ${WARM}) vs the same kernel with ${off.what}`,
        value: median(g[key]),
        unit: 'ms',
        reference: `${off.variable}=${off.value} ${whats[key]}, same run (${median(t[key]).toFixed(2)} ms)`,
        ratio: median(g[key]) / median(t[key]),
      });
    }
  }
  const nl = times.get('gradlab-nodelaunch')!;
  results.push({
    name: `gradlab kernel start to first cell result from the snapshot (median of ${STARTS}) vs the same kernel started by kernel.js's own launcher instead of ${launchScript() ? 'kernel/launch.sh' : 'kernel/launch.sh (missing here: both are kernel.js)'}`,
    value: median(g.first),
    unit: 'ms',
    reference: `node kernel.js, GRADLAB_KERNEL_SNAPSHOT=1, same run (${median(nl.first).toFixed(1)} ms)`,
    ratio: median(g.first) / median(nl.first),
  });
  const ns = times.get('gradlab-nosnap')!;
  results.push({
    name: `gradlab kernel start to first cell result without the startup snapshot (median of ${STARTS})`,
    value: median(ns.first),
    unit: 'ms',
    reference: `plain tslab start to first result, same run (${median(times.get('tslab')!.first).toFixed(1)} ms)`,
    ratio: median(ns.first) / median(times.get('tslab')!.first),
  });
  for (const off of START_SWITCHED_OFF) {
    const t = times.get(off.name)!;
    results.push({
      name: `gradlab kernel start to first cell result without the startup snapshot (median of ${STARTS}) vs the same kernel with ${off.what}`,
      value: median(ns.first),
      unit: 'ms',
      reference: `${off.variable}=${off.value}, same run (${median(t.first).toFixed(1)} ms)`,
      ratio: median(ns.first) / median(t.first),
    });
  }
  for (const [key0, refName, ref] of refs) {
    for (const [key, what, short] of figures) {
      results.push({
        name: `gradlab kernel ${what}${refs.length > 1 ? ` vs ${key0}` : ''}`,
        value: median(g[key]),
        unit: 'ms',
        reference: `${refName} ${short}, same run (${median(ref[key]).toFixed(1)} ms; spread ${Math.min(...ref[key]).toFixed(1)}-${Math.max(...ref[key]).toFixed(1)})`,
        ratio: median(g[key]) / median(ref[key]),
      });
    }
  }
  return results;
}
