/**
 * One buffer, several holders: a computed tensor's value and the slots that
 * saved it for backward (`relu` saves its output, the next `matmul` saves the
 * same tensor as its input) are one tfjs tensor with a count of gradlab
 * references, freed when the last one lets go. No extra tfjs handles are made,
 * so `tf.memory().numBytes`, which counts bytes per handle, stays equal to the
 * bytes of the buffers that exist.
 *
 * A tfjs tensor gradlab did not create (one you pass to an op) is borrowed: it
 * is never counted and never freed here.
 */
import type { tf } from '../backend/tf';

const refs = new WeakMap<tf.Tensor, number>(); // weak: a tensor tfjs freed (tf.tidy) and nobody holds goes with it

/** @internal Take a reference to `t`: the first makes it gradlab's (created or handed over), later ones share it. */
export function adopt<T extends tf.Tensor>(t: T): T {
  refs.set(t, (refs.get(t) ?? 0) + 1);
  return t;
}

/** @internal Another reference to `t` if gradlab owns it; a borrowed tensor is returned as it is. */
export function hold<T extends tf.Tensor>(t: T): T {
  const n = refs.get(t);
  if (n !== undefined) refs.set(t, n + 1);
  return t;
}

/** @internal Let go of one reference; the last one frees `t`. Borrowed tensors are left alone. */
export function drop(t: tf.Tensor): void {
  const n = refs.get(t);
  if (n === undefined) return;
  if (n > 1) refs.set(t, n - 1);
  else {
    refs.delete(t);
    t.dispose();
  }
}

/** @internal Whether gradlab owns `t` (it was adopted and not yet freed). */
export function isOwned(t: tf.Tensor): boolean {
  return refs.has(t);
}

/** @internal Free `t` now, whoever else holds it (a leaf's `dispose()`: yours, so it goes when you say). */
export function free(t: tf.Tensor): void {
  refs.delete(t);
  t.dispose();
}
