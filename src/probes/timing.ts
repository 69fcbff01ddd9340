/**
 * Honest timing of tensor work on any backend. On cpu and wasm an op has finished
 * when it returns; on webgpu (and tfjs-node-gpu) it has only been queued, so a
 * clock read right after measures the queueing, not the work. {@link sync} waits for
 * the device by reading back one element of the last result (a queue runs in order,
 * so everything queued before it has finished too), and {@link timeIt} brackets
 * every timed repetition with it.
 *
 * Introduced in notebooks/03-gpu.
 */
import { tf } from '../backend/tf';

/**
 * Milliseconds since an arbitrary origin, with sub-microsecond resolution: the machine's monotonic
 * clock (`process.hrtime`), the same in every process on the machine.
 */
export function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * Wait until the device has finished `t` (and everything queued before it). On a
 * backend that computes synchronously this returns at once without a kernel.
 *
 * @example
 * const y = tf.add(a, b); await sync(y); // y is computed now, on every backend
 */
export async function sync(t?: tf.Tensor | tf.Tensor[] | null): Promise<void> {
  const last = Array.isArray(t) ? t[t.length - 1] : t;
  if (!last || !isAsyncBackend()) return;
  if (last.size === 0) {
    await tf.zeros([1]).data().catch(() => undefined);
    return;
  }
  const one = tf.tidy(() => tf.slice(tf.reshape(last, [-1]), [0], [1]));
  try {
    await one.data();
  } finally {
    one.dispose();
  }
}

/** Whether the active backend queues work and reads back only asynchronously (webgpu, webgl, tensorflow's GPU). */
export function isAsyncBackend(): boolean {
  const b = tf.getBackend();
  return b === 'webgpu' || b === 'webgl' || (b === 'tensorflow' && process.env.GRADLAB_TF_GPU === '1');
}

/** What {@link timeIt} reports, in milliseconds per call of the timed function. */
export interface Timing {
  /** Each timed repetition (warm-ups excluded), ms per call. */
  times: number[];
  /** Fastest repetition: the figure STREAM and BabelStream report. */
  best: number;
  /** Median repetition. */
  median: number;
  /** Mean repetition. */
  mean: number;
  /** Spread: (slowest − fastest) / median, 0 for perfectly steady runs. */
  spread: number;
  /** Calls per timed repetition (see {@link TimeItOptions.inner}). */
  inner: number;
}

/** Options of {@link timeIt}. */
export interface TimeItOptions {
  /** Untimed calls first (compilation, allocation, caches). Default 2. */
  warmup?: number;
  /** Timed repetitions. Default 10. */
  repeats?: number;
  /**
   * Calls queued back to back inside one repetition before the single sync; the time
   * is divided by it. Raise it for tiny ops so the read-back's own latency is spread
   * out (as nvbandwidth holds the stream until everything is queued). Default 1.
   */
  inner?: number;
}

/**
 * Time `fn` — a function that returns the tensor(s) it computed — with warm-ups,
 * several repetitions and a device sync around each, and dispose what it returned.
 *
 * @example
 * const t = await timeIt(() => tf.add(a, b), { repeats: 20 });
 * const gbs = (3 * a.size * 4) / (t.best / 1e3) / 1e9; // add moves 3 arrays
 *
 * Reference: BabelStream's timing loop (best of N after dropping the first);
 * `torch.cuda.synchronize()` around `time.perf_counter()`.
 */
export async function timeIt(fn: () => tf.Tensor | tf.Tensor[], { warmup = 2, repeats = 10, inner = 1 }: TimeItOptions = {}): Promise<Timing> {
  for (const [name, v, min] of [['warmup', warmup, 0], ['repeats', repeats, 1], ['inner', inner, 1]] as const) {
    if (!Number.isInteger(v) || v < min) throw new Error(`timeIt: ${name} must be an integer ≥ ${min}, got ${v}`);
  }
  const times: number[] = [];
  for (let r = 0; r < warmup + repeats; r++) {
    const outs: tf.Tensor[] = [];
    const t0 = now();
    try {
      for (let i = 0; i < inner; i++) {
        const y = fn();
        for (const t of Array.isArray(y) ? y : [y]) outs.push(t);
      }
      await sync(outs);
    } finally {
      tf.dispose(outs);
    }
    const dt = (now() - t0) / inner;
    if (r >= warmup) times.push(dt);
  }
  return summarise(times, inner);
}

/** Best, median, mean and spread of a list of times (ms). */
export function summarise(times: number[], inner = 1): Timing {
  if (times.length === 0) throw new Error('summarise: no times given');
  const s = [...times].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return { times, best: s[0]!, median, mean, spread: median > 0 ? (s[s.length - 1]! - s[0]!) / median : 0, inner };
}
