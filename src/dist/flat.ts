/**
 * Tensors packed into one flat Float32Array and back: how gradients and
 * parameters travel through the collectives (DDP's buckets, ZeRO's flat
 * vector). Reads are asynchronous (`await t.data()`), so they work on webgpu.
 *
 * Introduced in notebooks/04-distributed/02-data-parallel.
 */
import { tf } from '../backend/tf';

/** The values of `tensors`, one after another, copied into one new Float32Array. */
export async function flatten(tensors: readonly tf.Tensor[]): Promise<Float32Array> {
  const flat = new Float32Array(tensors.reduce((a, t) => a + t.size, 0));
  let o = 0;
  for (const t of tensors) {
    flat.set((await t.data()) as Float32Array, o);
    o += t.size;
  }
  return flat;
}

/** New float32 tensors of the given shapes, cut in order from `flat` (copies; the caller owns them). */
export function unflatten(flat: Float32Array, shapes: readonly (readonly number[])[]): tf.Tensor[] {
  let o = 0;
  return shapes.map((shape) => {
    const size = shape.reduce((a, d) => a * d, 1);
    const t = tf.tensor(flat.slice(o, o + size), shape as number[], 'float32');
    o += size;
    return t;
  });
}
