/**
 * Reading values back for checks that are worth doing where they are free.
 */
import { tf } from '../backend/tf';

/**
 * @internal `t`'s values when the backend can read them synchronously (cpu, wasm,
 * tensorflow; on webgpu, values not yet uploaded to the device), else null: a
 * range check on indices or targets then runs where it can and is skipped,
 * not failed, where it cannot.
 */
export function readIfSync(t: tf.Tensor): tf.TypedArray | null {
  try {
    return t.dataSync() as tf.TypedArray;
  } catch {
    return null;
  }
}
