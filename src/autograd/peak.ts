/**
 * Measuring memory: the peak number of tensor bytes alive during a step.
 *
 * Introduced in notebooks/01-backprop/05-checkpointing.
 */
import { tf } from '../backend/tf';

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
