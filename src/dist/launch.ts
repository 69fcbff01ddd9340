/**
 * Start N ranks as separate Node processes with torchrun's environment
 * (`MASTER_ADDR`, `MASTER_PORT`, `RANK`, `WORLD_SIZE`, `LOCAL_RANK`), prefix
 * their output with `[rank k]`, stop them all when one fails. Used by the
 * `gradlab-run` command and by {@link spawnRanks} in notebooks.
 *
 * Introduced in notebooks/04-distributed.
 */
import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

/** A free TCP port on 127.0.0.1 (asks the OS for port 0, then releases it). */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => ok(port));
    });
  });
}

/** Options of {@link launch}. */
export interface LaunchOptions {
  /** Number of ranks on this host. */
  nproc: number;
  /** The JavaScript file each rank runs. */
  script: string;
  /** Arguments after the script. */
  args?: string[];
  /** Default: env `MASTER_PORT`, else a free port. */
  masterPort?: number;
  /** Default: env `MASTER_ADDR`, else 127.0.0.1. */
  masterAddr?: string;
  /** Extra environment for every rank. */
  env?: Record<string, string>;
  /** Each output line, already without its newline; `stream` is 'stdout' or 'stderr'. Default: print `[rank k] line`. */
  onOutput?: (rank: number, line: string, stream: 'stdout' | 'stderr') => void;
  /**
   * After a rank fails, wait this long for the others to exit by themselves (so
   * they can print the process group's error naming the failed rank) before
   * stopping them. Default 0 (stop at once, as torchrun does).
   */
  graceMs?: number;
  /** Kill every rank after this many ms (0 = never). Default 0. */
  killAfterMs?: number;
}

/** What {@link launch} returns: one entry per rank. */
export interface RankOutcome {
  rank: number;
  pid: number;
  /** Exit code (null if killed by a signal). */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the launcher stopped this rank because another failed. */
  stopped: boolean;
  stdout: string[];
}

/** Overall result of {@link launch}: `failedRank` is the first rank that exited non-zero (or -1). */
export interface LaunchResult {
  ranks: RankOutcome[];
  failedRank: number;
  message: string;
}

/**
 * Run `script` in `nproc` processes; resolves once all have exited. When one
 * exits non-zero (or by a signal), the others get SIGTERM, then SIGKILL 2 s
 * later, so no process is left behind.
 */
export async function launch(o: LaunchOptions): Promise<LaunchResult> {
  const port = o.masterPort ?? (process.env.MASTER_PORT ? Number(process.env.MASTER_PORT) : await freePort());
  const addr = o.masterAddr ?? process.env.MASTER_ADDR ?? '127.0.0.1';
  const print = o.onOutput ?? ((r, line, s) => (s === 'stdout' ? process.stdout : process.stderr).write(`[rank ${r}] ${line}\n`));
  const children: ChildProcess[] = [];
  const outcomes: RankOutcome[] = [];
  let failedRank = -1;
  let stopping = false;
  const killed = new Set<number>();
  const stopAll = (graceMs = 0) => {
    if (stopping) return;
    stopping = true;
    if (graceMs > 0) return void setTimeout(() => ((stopping = false), stopAll()), graceMs).unref();
    children.forEach((c, r) => {
      if (c.exitCode === null && c.signalCode === null) (killed.add(r), c.kill('SIGTERM'));
    });
    setTimeout(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }, 2000).unref();
  };
  const exits: Promise<void>[] = [];
  for (let r = 0; r < o.nproc; r++) {
    const c = spawn(process.execPath, [o.script, ...(o.args ?? [])], {
      env: { ...process.env, ...o.env, MASTER_ADDR: addr, MASTER_PORT: String(port), RANK: String(r), LOCAL_RANK: String(r), WORLD_SIZE: String(o.nproc) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(c);
    const out: RankOutcome = { rank: r, pid: c.pid ?? -1, code: null, signal: null, stopped: false, stdout: [] };
    outcomes.push(out);
    for (const stream of ['stdout', 'stderr'] as const) {
      let buf = '';
      c[stream]!.setEncoding('utf8');
      c[stream]!.on('data', (d: string) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (stream === 'stdout') out.stdout.push(line);
          print(r, line, stream);
        }
      });
      c[stream]!.on('end', () => {
        if (buf) (stream === 'stdout' && out.stdout.push(buf), print(r, buf, stream));
      });
    }
    exits.push(
      new Promise<void>((ok) =>
        c.on('close', (code, signal) => {
          out.code = code;
          out.signal = signal;
          if (code !== 0 && failedRank < 0) {
            failedRank = r;
            stopAll(o.graceMs);
          } else if (code !== 0 && killed.has(r)) out.stopped = true;
          ok();
        }),
      ),
    );
  }
  const timer = o.killAfterMs ? setTimeout(() => stopAll(), o.killAfterMs) : null;
  await Promise.all(exits);
  if (timer) clearTimeout(timer);
  const f = outcomes[failedRank];
  const message =
    failedRank < 0
      ? `all ${o.nproc} ranks exited with code 0`
      : `rank ${failedRank} exited with ${f.code !== null ? `code ${f.code}` : `signal ${f.signal}`}; stopped the other ranks`;
  return { ranks: outcomes, failedRank, message };
}

/** Options of {@link spawnRanks}. */
export interface SpawnRanksOptions {
  /** Number of ranks. */
  nproc: number;
  /** A script file to run (it calls `initProcessGroup` itself)... */
  script?: string;
  /**
   * ...or an async function `(pg, gl, args) => result` (or its source), run in
   * each rank after `initProcessGroup` and `gl.init()`; its return value (JSON)
   * is the rank's result. `gl` is the whole gradlab library (`gl.dist`, `gl.nn`,
   * `gl.tf`, ...), already initialised on {@link SpawnRanksOptions.backend}.
   * The function is sent to the ranks as source text, so it must use only its
   * parameters, never variables of the notebook around it.
   */
  fn?: string | ((...a: never[]) => unknown);
  /**
   * The backend each rank computes on. Default: the backend the calling process
   * chose with `gl.init()` (so a notebook's ranks run where the notebook runs),
   * or `'auto'` before `init()`. `GRADLAB_BACKEND`, inherited, overrides both.
   * `'none'` skips `gl.init()` in the ranks: for code that only moves typed
   * arrays (the collectives themselves), it saves each rank the backend's start
   * (about 7 s for WebGPU on a software adapter).
   */
  backend?: string;
  /** Arguments: command-line args for `script`, the third parameter of `fn`. */
  args?: unknown[];
  /** The process group timeout of each rank (ms). Default 30 000. */
  timeoutMs?: number;
  /** Called with each output line of each rank (default: none; lines are kept). */
  onOutput?: (rank: number, line: string, stream: 'stdout' | 'stderr') => void;
}

/** The backend this process chose with `gl.init()`, or 'auto' (loaded lazily: `gradlab-run` never loads tfjs). */
function parentBackend(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('../backend/init') as typeof import('../backend/init')).backendInfo()?.name ?? 'auto';
}

/** One rank's result from {@link spawnRanks}: `result` is the last stdout line that parses as JSON. */
export interface RankResult extends RankOutcome {
  result: unknown;
}

/**
 * Spawn `nproc` ranks from a notebook (or a test) and return each rank's
 * result: the last stdout line that is valid JSON (for `fn`, its return
 * value). Rejects with an Error naming the failed rank (and its last output)
 * if any rank fails; all ranks are stopped by then.
 *
 * Introduced in notebooks/04-distributed.
 */
export async function spawnRanks(o: SpawnRanksOptions): Promise<RankResult[]> {
  let script = o.script;
  let tmp: string | null = null;
  const timeoutMs = o.timeoutMs ?? 30_000;
  if (!script) {
    if (!o.fn) throw new Error('spawnRanks needs `script` (a file) or `fn` (an async function or its source)');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-ranks-'));
    script = path.join(tmp, 'rank.js');
    const lib = JSON.stringify(path.resolve(__dirname, '..', 'index.js'));
    fs.writeFileSync(
      script,
      `const gl = require(${lib});\nconst backend = ${JSON.stringify(o.backend ?? parentBackend())};\n` +
        `(async () => {\n  if (backend !== 'none') await gl.init({ backend });\n` +
        `  const pg = await gl.dist.initProcessGroup({ timeoutMs: ${timeoutMs} });\n` +
        `  const fn = (${String(o.fn)});\n  let r;\n  try { r = await fn(pg, gl, ${JSON.stringify(o.args ?? [])}); }\n` +
        `  catch (e) { pg.abort(String(e && e.message)); throw e; }\n  await pg.destroy();\n` +
        `  await new Promise((ok) => process.stdout.write(JSON.stringify(r === undefined ? null : r) + '\\n', ok));\n` +
        `})().then(() => process.exit(0), (e) => { console.error(e && e.stack || e); process.exit(1); });\n`,
    );
  }
  const lines: string[][] = Array.from({ length: o.nproc }, () => []);
  try {
    const res = await launch({
      nproc: o.nproc,
      script,
      args: o.script ? (o.args ?? []).map(String) : [],
      env: { GRADLAB_DIST_TIMEOUT_MS: String(timeoutMs) },
      onOutput: (r, line, s) => {
        lines[r].push(line);
        if (lines[r].length > 20) lines[r].shift();
        o.onOutput?.(r, line, s);
      },
    });
    if (res.failedRank >= 0) {
      // the last lines of each rank, without stack frames (they point into the generated rank.js)
      const tails = res.ranks.map((x) => `[rank ${x.rank}] ${lines[x.rank].filter((l) => !/^\s+at /.test(l)).slice(-3).join(' | ')}`).join('\n');
      throw new Error(`spawnRanks: ${res.message}\n${tails}`);
    }
    return res.ranks.map((x) => {
      let result: unknown = null;
      for (let i = x.stdout.length - 1; i >= 0; i--) {
        try {
          result = JSON.parse(x.stdout[i]);
          break;
        } catch {
          /* not JSON */
        }
      }
      return { ...x, result };
    });
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}
