/**
 * The engine's cast hook: how a mixed-precision mode (an autocast) changes what
 * `record` computes, without the engine knowing any number format.
 *
 * A registered {@link CastPolicy} is asked, for every op that `record` runs, which
 * emulated dtype each floating input must have and which dtype the output gets.
 * The engine then
 * 1. casts each input whose dtype changes to a lower precision through a `cast`
 *    node (`y = round(x)`, backward passes the gradient through): the rounded copy is
 *    what the op reads and what its backward saves, as `torch.autocast`'s casts do;
 *    a cast up to float32 changes no value and needs no node;
 * 2. runs the forward on float32 storage and rounds the output to its dtype;
 * 3. tags the output with that dtype (the tensor stays float32 in tfjs, with values
 *    exactly representable in the tagged format).
 * In backward, the gradient flowing into a tensor tagged with a lower precision is
 * rounded to that format, and again after each `+=` where the tensor fans out, so
 * gradients have their tensor's dtype as in PyTorch, whether or not the policy is
 * still registered when backward runs (the rounding function travels with the tag).
 *
 * With no policy registered (the default) `record` does one `null` check and nothing
 * else: the hook costs nothing when unused.
 *
 * The policy itself (which ops run in fp16 / bf16) lives outside the engine:
 * `precision.autocast` (notebooks/03-gpu).
 *
 * Reference: `torch.autocast` (its per-op casts and the `ToCopyBackward` node of a cast).
 * Introduced in notebooks/03-gpu.
 */
import type { tf } from '../backend/tf';

/** An emulated floating dtype: the values are float32 in storage, exactly representable in this format. */
export type EmulatedDtype = 'float32' | 'float16' | 'bfloat16';

/** Round float32 values to `dtype` exactly (round to nearest even), returned as float32; identity for 'float32'. */
export type RoundFn = (x: tf.Tensor, dtype: EmulatedDtype) => tf.Tensor;

/** A tensor's lower-precision tag and the rounding that keeps its gradients in that format. */
export interface CastTag {
  readonly dtype: Exclude<EmulatedDtype, 'float32'>;
  readonly round: RoundFn;
}

/** What a policy decides for one op: the dtype each input must have (null: leave it) and the output's dtype. */
export interface CastPlan {
  /** One entry per input: the dtype it is cast to, or null to pass it as it is (non-float inputs, constants). */
  inputs: (EmulatedDtype | null)[];
  /** The output's dtype: it is rounded to it and tagged with it. */
  output: EmulatedDtype;
}

/**
 * A mixed-precision mode as the engine sees it.
 * `plan` gets the op's name (`'matmul'`, `'crossEntropy'`), the composite op it runs
 * inside (see {@link castRegion}; null at top level), and each input's dtype (null for
 * inputs that are not float32 tensors of the graph: numbers, int32 indices, bool masks).
 * It returns null to leave the op alone.
 */
export interface CastPolicy {
  plan(op: string, region: string | null, dtypes: readonly (EmulatedDtype | null)[]): CastPlan | null;
  round: RoundFn;
}

let policy: CastPolicy | null = null;
let region: string | null = null;

/** @internal The policy `record` consults now, or null (the default). */
export function castPolicy(): CastPolicy | null {
  return policy;
}

/** @internal The composite op being recorded now (see {@link castRegion}). */
export function currentRegion(): string | null {
  return region;
}

/**
 * Run `fn` with `p` as the cast policy (null: none), restoring the previous one
 * when `fn` returns or throws. `fn` must be synchronous. For a mixed-precision mode;
 * learners use `precision.autocast`.
 */
export function withCastPolicy<T>(p: CastPolicy | null, fn: () => T): T {
  const before = policy;
  policy = p;
  try {
    return fn();
  } finally {
    policy = before;
  }
}

/**
 * Run `fn`, a composite op built from several engine ops (`linear` is matmul + add),
 * telling a cast policy that its ops belong to `name`, so that they are cast as the one
 * op PyTorch has (`F.linear` casts its bias too). The outermost region wins. Without a
 * policy this only calls `fn`.
 */
export function castRegion<T>(name: string, fn: () => T): T {
  if (policy === null || region !== null) return fn();
  region = name;
  try {
    return fn();
  } finally {
    region = null;
  }
}
