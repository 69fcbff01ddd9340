/**
 * The PyTorch reference for gradlab's collectives: runs bench/dist_gloo.py
 * (torch.distributed, gloo backend, loopback, one process and one thread per
 * rank), parses its JSON rows and fits the α–β model (src/dist/cost.ts) to each
 * collective and rank count. gloo in torch 1.13 has no reduce_scatter on CPU
 * ("ProcessGroupGloo does not support reduce_scatter"): that collective comes
 * back in `unsupported`.
 */
import { spawnSync } from 'child_process';
import { join, resolve } from 'path';
import { fitAlphaBeta, type AlphaBetaFit, type Collective } from '../src/dist/cost';

const PYTHON = process.env.GRADLAB_PYTHON ?? '/usr/bin/python3';
const SCRIPT = resolve(__dirname, '..', '..', 'bench', 'dist_gloo.py');

/** gloo's collective names in torch.distributed. */
export type GlooCollective = 'all_reduce' | 'all_gather' | 'reduce_scatter' | 'broadcast';

/** One measured row, as dist_gloo.py prints it (sizes by nccl-tests' convention). */
export interface GlooRow {
  /** The collective (torch.distributed's name). */
  collective: GlooCollective;
  /** Ranks. */
  n: number;
  /** Size in bytes: the all-reduce / broadcast buffer, the all-gather output, the reduce-scatter input. */
  bytes: number;
  /** Best time over the repetitions (each the slowest rank's), seconds. */
  seconds: number;
  /** Best time, seconds (= seconds). */
  best: number;
  /** Median time, seconds. */
  median: number;
  /** bytes / best, bytes/s. */
  algbw: number;
  /** nccl-tests bus bandwidth, bytes/s. */
  busbw: number;
  /** Repetitions timed (after one warm-up). */
  reps: number;
  /** Whether the result equalled the exact sum / gathered / broadcast values. */
  correct: boolean;
}

/** An α–β fit to one collective at one rank count (ring model; gloo's algorithms are rings or close to them at these sizes). */
export interface GlooFit extends AlphaBetaFit {
  /** The collective fitted. */
  collective: GlooCollective;
  /** Ranks. */
  n: number;
}

/** What {@link glooReference} returns. */
export interface GlooReference {
  /** torch.__version__. */
  torch: string;
  /** The measured rows. */
  rows: GlooRow[];
  /** Collectives gloo refused, with its error. */
  unsupported: Array<{ collective: GlooCollective; n: number; error: string }>;
  /** α–β fit per collective and rank count. */
  fits: GlooFit[];
}

/** Options of {@link glooReference}. */
export interface GlooOptions {
  /** World sizes (default [2, 4]). */
  worlds?: number[];
  /** Smallest size in bytes (default 1 KiB); sizes go up by ×4. */
  minBytes?: number;
  /** Largest size in bytes (default 256 MiB). */
  maxBytes?: number;
  /** Collectives (default all four). */
  collectives?: GlooCollective[];
  /** Kill the run after this many ms (default 300 000); the ranks end themselves when the script dies. */
  timeoutMs?: number;
  /** Extra environment variables for the script (GRADLAB_GLOO_CORRUPT=1 perturbs a result, to test its self-check). */
  env?: Record<string, string>;
}

const TO_COST: Record<GlooCollective, Collective> = { all_reduce: 'all-reduce', all_gather: 'all-gather', reduce_scatter: 'reduce-scatter', broadcast: 'broadcast' };

/**
 * Run bench/dist_gloo.py and return its rows, the collectives gloo lacks, and an
 * α–β fit (least squares on relative error, {@link fitAlphaBeta}) per collective
 * and rank count. Throws with the script's stderr if it fails (a wrong collective
 * result makes it fail).
 */
export function glooReference({ worlds = [2, 4], minBytes = 1024, maxBytes = 256 * 2 ** 20, collectives = ['all_reduce', 'all_gather', 'reduce_scatter', 'broadcast'], timeoutMs = 300_000, env = {} }: GlooOptions = {}): GlooReference {
  const args = [SCRIPT, '--world', worlds.join(','), '--min-bytes', String(minBytes), '--max-bytes', String(maxBytes), '--collectives', collectives.join(',')];
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 2 ** 20 });
  if (r.error) throw new Error(`glooReference: could not run ${PYTHON} ${join('bench', 'dist_gloo.py')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`glooReference: bench/dist_gloo.py failed (exit ${r.status ?? r.signal}):\n${r.stderr}\n${r.stdout}`);
  const out: GlooReference = { torch: '', rows: [], unsupported: [], fits: [] };
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const o = JSON.parse(line) as Record<string, unknown>;
    if (typeof o.torch === 'string') out.torch = o.torch;
    else if (typeof o.unsupported === 'string') out.unsupported.push({ collective: o.collective as GlooCollective, n: o.n as number, error: o.unsupported });
    else out.rows.push(o as unknown as GlooRow);
  }
  const groups = new Map<string, GlooRow[]>();
  for (const row of out.rows) {
    const key = `${row.collective}/${row.n}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  for (const rows of groups.values()) {
    if (rows.length < 2) continue;
    const fit = fitAlphaBeta(rows.map((x) => ({ collective: TO_COST[x.collective], n: x.n, bytes: x.bytes, seconds: x.seconds })));
    out.fits.push({ collective: rows[0]!.collective, n: rows[0]!.n, ...fit });
  }
  return out;
}

if (require.main === module) {
  const t0 = Date.now();
  const ref = glooReference();
  for (const row of ref.rows) {
    console.log(`${row.collective.padEnd(15)} n=${row.n} ${String(row.bytes).padStart(10)} B  best ${(row.best * 1e3).toFixed(3)} ms  median ${(row.median * 1e3).toFixed(3)} ms  busbw ${(row.busbw / 1e9).toFixed(3)} GB/s`);
  }
  for (const u of ref.unsupported) console.log(`${u.collective} n=${u.n}: unsupported (${u.error})`);
  for (const f of ref.fits) console.log(`fit ${f.collective} n=${f.n}: α = ${(f.alpha * 1e6).toFixed(1)} µs, 1/β = ${(f.bandwidth / 1e9).toFixed(3)} GB/s, rms rel. error ${(f.rmsRelativeError * 100).toFixed(1)}%`);
  console.log(`torch ${ref.torch}, ${((Date.now() - t0) / 1e3).toFixed(1)} s`);
}
