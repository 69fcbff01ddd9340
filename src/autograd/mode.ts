/**
 * The two switches of the tensor engine: gradient recording (`noGrad`) and the
 * NaN/Inf debug mode (`setDebug`). Like `torch.no_grad()` and
 * `torch.autograd.set_detect_anomaly`, they are process-wide switches; both are
 * restored by the functions that change them.
 */
import { tf } from '../backend/tf';
import { fmt } from './shape';

let gradEnabled = true;
let debug = false;

/**
 * Run `fn` without recording: ops inside still compute on tfjs kernels, but their
 * results have `requiresGrad = false` and keep no saved tensors, so `backward()`
 * cannot reach through them. Use it for evaluation and for parameter updates.
 * `fn` must be synchronous (the switch is restored when it returns or throws).
 *
 * Results still remember their inputs, so `y.dispose()` frees everything
 * computed on the way to `y` (or wrap the block in `tf.tidy`).
 *
 * @example
 * const acc = noGrad(() => accuracy(model(x), labels));
 *
 * Reference: `torch.no_grad()`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function noGrad<T>(fn: () => T): T {
  return withGradEnabled(false, fn);
}

/** @internal Run `fn` with recording on (checkpoint's recompute needs it even inside `noGrad`). */
export function withGrad<T>(fn: () => T): T {
  return withGradEnabled(true, fn);
}

function withGradEnabled<T>(enabled: boolean, fn: () => T): T {
  const before = gradEnabled;
  gradEnabled = enabled;
  try {
    return fn();
  } finally {
    gradEnabled = before;
  }
}

/** Whether ops record the graph now (false inside {@link noGrad}). */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * Debug mode: when on, every op checks its forward output (and every backward
 * rule its gradient) for NaN or ±Inf and reports the FIRST op that produced
 * one, naming the op, the shapes, the first bad element and whether an input
 * was already non-finite. Off by default: each check costs a reduction per
 * tensor and a read-back.
 *
 * On a backend that reads back synchronously (cpu, wasm, tensorflow) the op
 * throws there and then. On one that reads back only asynchronously (webgpu in
 * Node) the checks are queued on the device, in order, and
 * {@link checkDebug} (`await`) reads them and throws the same error for the
 * first bad op; {@link debugRun} does both for a block of code, on any backend.
 *
 * Returns the previous setting so a caller can restore it.
 *
 * @example
 * setDebug(true);
 * log(tensor([1, -1]));   // throws: debug: log produced NaN ... input 0 ([2], leaf) was finite
 * // on any backend, webgpu included:
 * await debugRun(() => exp(log(x)));
 *
 * Reference: `torch.autograd.set_detect_anomaly(True)`. Introduced in notebooks/01-backprop/04-stability.
 */
export function setDebug(on: boolean): boolean {
  const before = debug;
  debug = on;
  if (on && !before && ASYNC_ONLY.has(tf.getBackend()) && !warnedDeferred) {
    warnedDeferred = true;
    console.warn(
      `gradlab debug mode on '${tf.getBackend()}': this backend reads back only asynchronously, so the checks are queued; ` +
        '`await gl.ag.checkDebug()` reports the first non-finite op (or run the code in `await gl.ag.debugRun(fn)`).',
    );
  }
  return before;
}

/** Whether debug mode is on (see {@link setDebug}). */
export function isDebug(): boolean {
  return debug;
}

let warnedDeferred = false;
let deferMode: 'auto' | 'always' = 'auto';

/** Backends whose tensors cannot be read back synchronously (tfjs-backend-webgpu in Node). */
const ASYNC_ONLY = new Set(['webgpu']);

/** Whether debug checks are queued for {@link checkDebug} rather than read back at once. */
export function isDeferred(): boolean {
  return deferMode === 'always' || ASYNC_ONLY.has(tf.getBackend());
}

/** @internal Tests: queue the checks on every backend ('always'), or only where needed ('auto', the default). */
export function setDebugDeferral(mode: 'auto' | 'always'): void {
  deferMode = mode;
}

/** @internal What the engine passes for an op's input or parent: a gradlab Tensor fits. */
export interface DebugInput {
  describe(): string;
  readonly data: tf.Tensor;
}

/**
 * One queued check: a float32 `[k, 3]` tensor of summaries (count of non-finite
 * elements, index of the first, its value), one row per tensor checked, and how to
 * word the error from them. Rows of tensors that are not float32 are all zero.
 */
interface Queued {
  summaries: tf.Tensor;
  message(rows: (Summary | null)[]): string | null;
}
interface Summary {
  count: number;
  first: number;
  value: number;
}
const queue: Queued[] = [];

/** On the device: [count of non-finite, index of the first (size if none), value there] for each tensor. */
function summarize(ts: readonly tf.Tensor[]): tf.Tensor {
  return tf.keep(
    tf.tidy(() =>
      tf.stack(
        ts.map((t) => {
          if (t.dtype !== 'float32' || t.size === 0) return tf.zeros([3]);
          const flat = tf.reshape(t, [-1]);
          const bad = tf.logicalNot(tf.isFinite(flat));
          const count = tf.sum(tf.cast(bad, 'float32'));
          // First bad index: the min over bad positions (index math in float32, exact below 2^24 elements).
          const first = tf.min(tf.where(bad, tf.range(0, t.size, 1, 'float32'), tf.fill([t.size], t.size)));
          const value = tf.gather(flat, tf.cast(tf.minimum(first, t.size - 1), 'int32'));
          return tf.stack([count, first, value]);
        }),
      ),
    ),
  );
}

function decode(row: ArrayLike<number>): Summary | null {
  const count = row[0] as number;
  return count > 0 ? { count, first: row[1] as number, value: row[2] as number } : null;
}

/** `NaN at [1,0] (3 of 8 elements non-finite)`: the wording of {@link firstNonFinite}. */
function describeBad(shape: readonly number[], size: number, s: Summary): string {
  const index: number[] = [];
  let rest = s.first;
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d] as number;
    index.unshift(rest % n);
    rest = Math.floor(rest / n);
  }
  return `${String(s.value)} at [${index.join(',')}]${s.count > 1 ? ` (${s.count} of ${size} elements non-finite)` : ''}`;
}

function forwardMessage(op: string, y: { shape: number[]; size: number }, ins: { text: string; shape: number[]; size: number }[], rows: (Summary | null)[]): string | null {
  const bad = rows[0];
  if (!bad) return null;
  const inputs = ins.map((p, i) => {
    const b = rows[i + 1];
    return `input ${i} (${p.text}) ${b ? `was already non-finite: ${describeBad(p.shape, p.size, b)}` : 'was finite'}`;
  });
  return `debug: ${op} produced a non-finite output ${fmt(y.shape)}: ${describeBad(y.shape, y.size, bad)}${inputs.map((i) => `; ${i}`).join('')}`;
}

/**
 * @internal The engine's forward hook: call it in debug mode with each op's output
 * and inputs (record(): `if (isDebug()) { const msg = debugCheckOutput(op, out.y, parents); if (msg) {
 * free out; throw new Error(msg); } }`). On a synchronous backend it returns the error
 * message when `y` is not finite (null when it is); on an asynchronous one it queues the
 * check for {@link checkDebug} and returns null.
 */
export function debugCheckOutput(op: string, y: tf.Tensor, inputs: readonly DebugInput[]): string | null {
  const ins = inputs.map((p) => ({ text: p.describe(), shape: [...p.data.shape], size: p.data.size }));
  const out = { shape: [...y.shape], size: y.size };
  if (isDeferred()) {
    queue.push({ summaries: summarize([y, ...inputs.map((p) => p.data)]), message: (rows) => forwardMessage(op, out, ins, rows) });
    return null;
  }
  const bad = firstNonFiniteSummary(y);
  if (!bad) return null;
  return forwardMessage(op, out, ins, [bad, ...inputs.map((p) => firstNonFiniteSummary(p.data))]);
}

function gradientMessage(node: string, k: number, input: string, pg: { shape: number[]; size: number }, g: { shape: number[]; size: number }, rows: (Summary | null)[]): string | null {
  const bad = rows[0];
  if (!bad) return null;
  const incoming = rows[1];
  return (
    `debug: backward of ${node} produced a non-finite gradient for input ${k} (${input}): ${describeBad(pg.shape, pg.size, bad)}; ` +
    `the incoming gradient was ${incoming ? describeBad(g.shape, g.size, incoming) : 'finite'}`
  );
}

/**
 * @internal The engine's backward hook: call it in debug mode with each gradient a
 * rule returns (`pg`, for input `k`) and the gradient that came in (`g`); node and
 * input are their descriptions (backward(): `const msg = isDebug() ? debugCheckGradient(
 * node.describe(), k, p.describe(), pg, g) : null; if (msg) throw new Error(msg);`).
 * Returns the message or null, or queues the check, as {@link debugCheckOutput}.
 */
export function debugCheckGradient(node: string, k: number, input: string, pg: tf.Tensor, g: tf.Tensor): string | null {
  const a = { shape: [...pg.shape], size: pg.size };
  const b = { shape: [...g.shape], size: g.size };
  if (isDeferred()) {
    queue.push({ summaries: summarize([pg, g]), message: (rows) => gradientMessage(node, k, input, a, b, rows) });
    return null;
  }
  const bad = firstNonFiniteSummary(pg);
  if (!bad) return null;
  return gradientMessage(node, k, input, a, b, [bad, firstNonFiniteSummary(g)]);
}

/** How many debug checks are queued, waiting for {@link checkDebug} (each holds one small tensor). */
export function pendingDebugChecks(): number {
  return queue.length;
}

/**
 * Read every queued debug check (one read-back for all) and throw, for the first op
 * in execution order whose output or gradient was NaN or ±Inf, the error that a
 * synchronous backend would have thrown at that op. Frees the queue either way.
 * Nothing is queued on synchronous backends, where this returns at once.
 *
 * @example
 * setDebug(true);
 * const loss = model.forward(x);   // on webgpu: nothing thrown yet
 * loss.backward();
 * await checkDebug();              // throws: debug: log produced a non-finite output [4,3]: NaN at [2,1]; ...
 *
 * Reference: `torch.autograd.set_detect_anomaly`. Debug mode is introduced in notebooks/01-backprop/04-stability.
 */
export async function checkDebug(): Promise<void> {
  const items = queue.splice(0);
  if (items.length === 0) return;
  let all: Float32Array;
  try {
    const joined = tf.tidy(() => tf.concat(items.map((q) => tf.reshape(q.summaries, [-1]))));
    try {
      all = (await joined.data()) as Float32Array;
    } finally {
      joined.dispose();
    }
  } finally {
    tf.dispose(items.map((q) => q.summaries));
  }
  let offset = 0;
  for (const q of items) {
    const k = q.summaries.shape[0] as number;
    const rows: (Summary | null)[] = [];
    for (let i = 0; i < k; i++) rows.push(decode(all.subarray(offset + 3 * i, offset + 3 * i + 3)));
    offset += 3 * k;
    const msg = q.message(rows);
    if (msg) throw new Error(msg);
  }
}

/**
 * Run `fn` (sync or async) in debug mode on any backend, then {@link checkDebug}:
 * throws, naming the first op that produced NaN or ±Inf, or returns fn's result.
 * If fn itself throws, a queued debug error (the likely cause) is thrown instead,
 * with fn's error as its `cause`. Restores the previous debug setting.
 *
 * @example
 * await debugRun(() => { const y = exp(log(x)); y.dispose(); });   // debug: log produced a non-finite output ...
 *
 * Reference: `torch.autograd.detect_anomaly()` (the context manager). Debug mode is introduced in notebooks/01-backprop/04-stability.
 */
export async function debugRun<T>(fn: () => T | Promise<T>): Promise<T> {
  const before = setDebug(true);
  try {
    let result: T;
    try {
      result = await fn();
    } catch (e) {
      try {
        await checkDebug();
      } catch (found) {
        (found as Error & { cause?: unknown }).cause = e;
        throw found;
      }
      throw e;
    }
    await checkDebug();
    return result;
  } finally {
    setDebug(before);
  }
}

/** firstNonFinite's read-back, as a summary. */
function firstNonFiniteSummary(t: tf.Tensor): Summary | null {
  if (t.dtype !== 'float32') return null;
  const v = readSync(t, 'debug mode (setDebug(true))') as Float32Array;
  let first = -1;
  let count = 0;
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) {
      if (first < 0) first = i;
      count++;
    }
  }
  return first < 0 ? null : { count, first, value: v[first] as number };
}

/**
 * @internal Describe the first non-finite element of `t` (`NaN at [1,0]`, `Inf at [3]`,
 * with the count), or null when every element is finite or `t` is not float.
 * Reads back synchronously.
 */
export function firstNonFinite(t: tf.Tensor): string | null {
  const s = firstNonFiniteSummary(t);
  return s ? describeBad(t.shape, t.size, s) : null;
}

/**
 * `t.dataSync()`, with a clear error where the backend cannot read back
 * synchronously (tfjs-backend-webgpu in Node: "OffscreenCanvas is not
 * defined"). `who` names the feature that needed it.
 */
export function readSync(t: tf.Tensor, who: string): tf.TypedArray {
  try {
    return t.dataSync();
  } catch (e) {
    throw new Error(
      `${who} reads tensors synchronously (dataSync), which the '${tf.getBackend()}' backend cannot do here ` +
        `(${(e as Error).message}). Run it on a CPU backend: GRADLAB_BACKEND=wasm (or cpu), or gl.init({ backend: 'wasm' }).`,
    );
  }
}

/**
 * @internal `t`'s values where the backend can read them synchronously (cpu, wasm,
 * tensorflow; on webgpu, values not yet uploaded to the device), else null: a range
 * check on indices or targets then runs where it can and is skipped, not failed,
 * where it cannot. {@link readSync} is the variant that must read, and says why it cannot.
 */
export function readIfSync(t: tf.Tensor): tf.TypedArray | null {
  try {
    return t.dataSync() as tf.TypedArray;
  } catch {
    return null;
  }
}
