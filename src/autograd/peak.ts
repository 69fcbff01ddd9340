/**
 * Measuring memory: the peak number of tensor bytes alive during a step, and
 * the bytes a graph holds for its backward pass.
 *
 * Introduced in notebooks/01-backprop/05-checkpointing.
 */
import { tf } from '../backend/tf';
import { topoOrder } from './backward';
import type { Tensor } from './tensor';

/** What {@link measurePeakBytes} reports. */
export interface PeakBytes<T> {
  /** What `fn` returned. */
  result: T;
  /** Most tensor bytes alive at once during `fn` (all tensors, including those alive before it). */
  peakBytes: number;
  /** Tensor bytes alive when `fn` started. */
  startBytes: number;
  /** `peakBytes − startBytes`: what the step itself added at its worst moment. */
  extraBytes: number;
  /** Tensor bytes alive after `fn` minus `startBytes` (0 for a leak-free step). */
  newBytes: number;
}

/**
 * Run `fn` (sync or async) and report the peak of `tf.memory().numBytes` over
 * it, sampled after every kernel by tfjs's profiler (`tf.profile`), so
 * temporaries that live only inside one op count too. Profiling reads each
 * kernel's output back, so time `fn` separately.
 *
 * @example
 * const { extraBytes } = await measurePeakBytes(() => { const loss = step(); loss.backward(); loss.dispose(); });
 *
 * Reference: `torch.cuda.max_memory_allocated()` after `reset_peak_memory_stats()`.
 */
export async function measurePeakBytes<T>(fn: () => T | Promise<T>): Promise<PeakBytes<T>> {
  const startBytes = tf.memory().numBytes;
  let result: T | undefined;
  let failure: { error: unknown } | null = null;
  const info = await tf.profile(async () => {
    try {
      result = await fn();
    } catch (error) {
      failure = { error }; // tf.profile would stay switched on if the query threw
    }
    return [] as tf.Tensor[];
  });
  if (failure) throw (failure as { error: unknown }).error;
  const peakBytes = Math.max(startBytes, info.peakBytes);
  return { result: result as T, peakBytes, startBytes, extraBytes: peakBytes - startBytes, newBytes: info.newBytes };
}

/** What {@link savedBytes} reports. */
export interface SavedBytes {
  /** Bytes of the distinct buffers the graph keeps for backward, parameters excluded. */
  bytes: number;
  /** How many distinct buffers that is. */
  buffers: number;
  /** Bytes per op that saved them (a buffer saved by two ops counts once, under the first). */
  byOp: Record<string, number>;
}

/**
 * The bytes a graph holds for its backward pass: every tensor its ops saved
 * (inputs, outputs and extras their rules read), counted once per distinct
 * buffer, without the parameters (`parameters`, by default every leaf that
 * requires grad), which exist whether or not you train. This is what activation memory means, and what
 * `torch.autograd.graph.saved_tensors_hooks` sees in PyTorch.
 *
 * @example
 * const logits = model.forward(x);
 * ag.savedBytes(logits).bytes; // MLP 784-256-256-10, batch 128, ReLU: 663,552 (x and two hidden activations)
 *
 * Reference: `torch.autograd.graph.saved_tensors_hooks` (counting distinct storages).
 * Introduced in notebooks/01-backprop/05-checkpointing.
 */
export function savedBytes(root: Tensor, parameters?: Iterable<Tensor>): SavedBytes {
  const nodes = topoOrder(root);
  const params = new Set<DataId>();
  for (const n of parameters ?? nodes.filter((n) => n.isLeaf && n.requiresGrad)) if (n._data) params.add(n._data.dataId);
  const seen = new Set<DataId>();
  const byOp: Record<string, number> = {};
  let bytes = 0;
  for (const n of nodes) {
    for (const t of [...n._savedX, n._savedY, ...n._saved]) {
      if (!t || t.isDisposed || params.has(t.dataId) || seen.has(t.dataId)) continue;
      seen.add(t.dataId);
      const b = t.size * tf.util.bytesPerElement(t.dtype);
      bytes += b;
      byOp[n.op] = (byOp[n.op] ?? 0) + b;
    }
  }
  return { bytes, buffers: seen.size, byOp };
}

type DataId = tf.Tensor['dataId'];
