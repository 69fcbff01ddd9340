/**
 * Scopes: when a computed tensor's own value is freed.
 *
 * In PyTorch an intermediate is freed as soon as no Python name refers to it,
 * and the graph keeps only what each op's backward saved. JavaScript cannot
 * see when a name goes out of use, so gradlab draws the line at a scope, as
 * `tf.tidy` does: when `ag.tidy(fn)` returns (and every `Module.forward` is
 * one), each tensor computed inside it that `fn` does not return gives up its
 * value. What the graph saved for backward stays (a separate handle on the
 * same buffer), so backward still works; a tensor that nothing saved and that
 * no returned tensor depends on is freed entirely.
 *
 * Introduced in notebooks/01-backprop/05-checkpointing.
 */
import { Tensor } from './tensor';

/** The open scopes, innermost last: each lists the computed tensors made in it. */
const scopes: Tensor[][] = [];

/** @internal Register a computed tensor with the innermost open scope (ops call this). */
export function track(t: Tensor): void {
  scopes[scopes.length - 1]?.push(t);
}

/** Every gradlab tensor in `value`: a tensor, or arrays / plain objects of them (4 levels deep). */
function tensorsIn(value: unknown, out: Set<Tensor>, depth = 0): Set<Tensor> {
  if (value instanceof Tensor) out.add(value);
  else if (depth < 4 && Array.isArray(value)) for (const v of value) tensorsIn(v, out, depth + 1);
  else if (depth < 4 && value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) tensorsIn(v, out, depth + 1);
  }
  return out;
}

/**
 * Run `fn` (synchronous) in a scope: every tensor computed inside it that `fn`
 * does not return (directly, or in an array or plain object) gives up its
 * value when `fn` returns; the graph keeps what backward saved of it. A
 * tensor that nothing returned depends on is freed entirely, saved tensors
 * included, and so is everything computed inside when `fn` throws. Leaves
 * (`tensor`, `param`) and borrowed tfjs tensors are never touched.
 *
 * The lifetime rule in one sentence: a computed tensor's value lives until the
 * scope that computed it ends (or backward passes it), unless the scope returns
 * it; backward keeps only what each op saved.
 *
 * @example
 * const logits = ag.tidy(() => ag.add(ag.matmul(x, W), b)); // the product's [batch, out] buffer is freed here
 *
 * Reference: `tf.tidy` (the same rule for tfjs tensors); PyTorch frees an
 * intermediate when its last Python reference goes. Introduced in notebooks/01-backprop/05-checkpointing.
 */
export function tidy<T>(fn: () => T): T {
  return scoped(fn, 'ag.tidy').result;
}

/** @internal {@link tidy}, also reporting what the block created (`checkpoint` needs it); `why` names the scope in messages. */
export function scoped<T>(fn: () => T, why: string): { result: T; created: Tensor[] } {
  const mine: Tensor[] = [];
  scopes.push(mine);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of mine) t._free(`by the ${why} that threw`);
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of mine) t._free(`by the ${why}`);
    throw new Error(`${why}: the block returned a Promise; it must be synchronous (await outside it)`);
  }
  // What the returned tensors depend on, among the tensors made here: walk parents inside this scope only.
  const made = new Set(mine);
  const kept = tensorsIn(result, new Set());
  const reached = new Set<Tensor>();
  const stack = [...kept].filter((t) => made.has(t));
  while (stack.length > 0) {
    const t = stack.pop() as Tensor;
    if (reached.has(t)) continue;
    reached.add(t);
    for (const p of t._parents) if (made.has(p) && !reached.has(p)) stack.push(p);
  }
  for (const t of mine) {
    if (kept.has(t)) track(t); // returned: it belongs to the enclosing scope now
    else if (reached.has(t)) {
      t._release(`at the end of the ${why} that computed it (return it from the block to keep it)`);
      track(t); // still in a graph: the enclosing scope may free it entirely later
    } else t._free(`at the end of the ${why} that computed it (nothing returned depends on it)`);
  }
  return { result, created: mine };
}
