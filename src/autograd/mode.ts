/**
 * The two switches of the tensor engine: gradient recording (`noGrad`) and the
 * NaN/Inf debug mode (`setDebug`). Like `torch.no_grad()` and
 * `torch.autograd.set_detect_anomaly`, they are process-wide switches; both are
 * restored by the functions that change them.
 */
import { tf } from '../backend/tf';

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
 * rule its gradient) for NaN or ±Inf and throws at the FIRST op that produced
 * one, naming the op, the shapes, the first bad element and whether an input
 * was already non-finite. Off by default: each check reads the tensor back
 * (`dataSync`), which is slow and, on a GPU, forces a device sync.
 *
 * Returns the previous setting so a caller can restore it.
 *
 * @example
 * setDebug(true);
 * log(tensor([1, -1]));   // throws: debug: log produced NaN ... input 0 ([2], leaf) was finite
 *
 * Reference: `torch.autograd.set_detect_anomaly(True)`. Introduced in notebooks/01-backprop/04-stability.
 */
export function setDebug(on: boolean): boolean {
  const before = debug;
  debug = on;
  return before;
}

/** Whether debug mode is on (see {@link setDebug}). */
export function isDebug(): boolean {
  return debug;
}

/**
 * @internal Describe the first non-finite element of `t` (`NaN at [1,0]`, `Inf at [3]`,
 * with the count), or null when every element is finite or `t` is not float.
 */
export function firstNonFinite(t: tf.Tensor): string | null {
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
  if (first < 0) return null;
  const index: number[] = [];
  let rest = first;
  for (let d = t.rank - 1; d >= 0; d--) {
    const n = t.shape[d] as number;
    index.unshift(rest % n);
    rest = Math.floor(rest / n);
  }
  return `${String(v[first])} at [${index.join(',')}]${count > 1 ? ` (${count} of ${v.length} elements non-finite)` : ''}`;
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
