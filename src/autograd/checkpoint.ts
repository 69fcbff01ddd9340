/**
 * Activation checkpointing: trade compute for memory by not storing a block's
 * intermediates and recomputing them during backward.
 *
 * Introduced in notebooks/01-backprop/05-checkpointing.
 */
import { tf } from '../backend/tf';
import { backwardTo } from './backward';
import { castPolicy, withCastPolicy, type CastTag } from './cast';
import { drop, hold, isOwned } from './refs';
import { scoped } from './scope';
import { isGradEnabled, noGrad, withGrad } from './mode';
import { lift, Tensor, type Operand } from './tensor';
import { recordSeeds, replaySeeds, type SeedTape } from './seeds';

/**
 * A leaf over `x`'s value (or `value`) that does not own it (so freeing graphs built on it never frees `x`),
 * with x's emulated dtype (cast.ts).
 */
function view(x: Tensor, requiresGrad: boolean, value: tf.Tensor = x.data): Tensor {
  const v = new Tensor(value, { op: 'input', isLeaf: true, ownsData: false, requiresGrad, label: x.label });
  v._cast = x._cast;
  return v;
}

/**
 * `y = fn(...inputs)`, computed without keeping fn's intermediates: the forward
 * runs under {@link noGrad} and only the inputs and `y` stay alive. When
 * backward reaches `y`, fn is run again with recording on (from the same
 * inputs) and backpropagated, so every gradient equals the unchecked one
 * (bitwise on the same backend) while a chain of n checkpointed blocks keeps
 * one block's activations at a time instead of all n. The price is a second
 * forward of fn.
 *
 * What the block creates is freed, and only that: tensors it reads from outside
 * stay as they are. Parameters that `fn` closes over (a layer's weights) get
 * their `grad` from the recomputation, as they would without checkpointing; a
 * computed tensor that `fn` closes over (not passed as an input) becomes an
 * input of the checkpoint node, so its gradient flows on to its own graph.
 * The node saves one handle on each input's value for the recomputation: that
 * is all a checkpointed block holds for backward. Random seeds that
 * `fn` draws through `drawSeed` (as `nn.Dropout` does) are recorded and
 * replayed, so dropout masks are the same in both runs (see `seeds.ts`);
 * any other randomness in `fn` must be seeded (e.g. `dropout(x, { seed })`).
 *
 * @example
 * let h = x;
 * for (const layer of layers) h = checkpoint((t) => relu(add(matmul(t, layer.W), layer.b)), h);
 *
 * Reference: `torch.utils.checkpoint.checkpoint(fn, *inputs, use_reentrant=False)`;
 * Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost".
 * Introduced in notebooks/01-backprop/05-checkpointing.
 */
export function checkpoint(fn: (...xs: Tensor[]) => Tensor, ...inputs: Operand[]): Tensor {
  const xs = inputs.map(lift);
  // A mixed-precision mode (autocast) active now is active again in the recomputation,
  // which runs in backward, usually after the block (PyTorch's checkpoint does the same).
  const policy = castPolicy();
  let tag: CastTag | null = null;
  // 1. Forward without recording, in a scope that lists what the block creates: only that is freed.
  // Random seeds drawn in fn (nn.Dropout) are recorded here and replayed in step 2.
  let data!: tf.Tensor;
  let dependsOnParams = false;
  let tape!: SeedTape;
  let outer: Tensor[] = [];
  let shared = false;
  noGrad(() => {
    ({ tape } = recordSeeds(() => {
      const views = xs.map((x) => view(x, false));
      const { result: y, created } = scoped(() => fn(...views), 'checkpoint block');
      if (!(y instanceof Tensor)) throw new Error(`checkpoint: fn must return a gradlab Tensor, got ${String(y)}`);
      const made = new Set<Tensor>(created);
      const inputs = new Set<Tensor>(views);
      // What the block read from outside besides its inputs: parameters (leaves) and tensors
      // computed before it (closed over). The latter become inputs of this node, so their
      // gradients flow on and their values are kept for the recomputation.
      const outside = new Set<Tensor>();
      for (const n of made) for (const p of n._parents) if (!made.has(p) && !inputs.has(p)) outside.add(p);
      if (!made.has(y) && !inputs.has(y)) outside.add(y);
      dependsOnParams = [...outside].some((n) => n.isLeaf && n.requiresGrad);
      outer = [...outside].filter((n) => !n.isLeaf && n.requiresGrad);
      tag = y._cast;
      shared = isOwned(y.data);
      data = shared ? hold(y.data) : tf.clone(y.data); // a reference of our own: it survives freeing the block
      for (const n of made) n._free('by checkpoint (recomputed in backward)');
    }));
  });
  const parents = [...xs, ...outer];
  const requiresGrad = isGradEnabled() && (dependsOnParams || parents.some((x) => x.requiresGrad));
  const node: Tensor = new Tensor(data, {
    op: 'checkpoint',
    parents,
    requiresGrad,
    // The recomputation reads every input's value: keep one handle on each (what PyTorch's checkpoint saves).
    savedX: requiresGrad ? parents.map((p) => hold(p.data)) : [],
    // 2. Backward: recompute with recording, backprop dy through it, hand the inputs' grads on.
    backward: requiresGrad
      ? (dy, needs) =>
          withCastPolicy(policy, () => withGrad(() => {
            const views = xs.map((x, i) => view(x, needs[i] ?? false, node._savedX[i] as tf.Tensor));
            // Closed-over tensors are read through their saved values while the block is recomputed.
            const restore = outer.map((o, j) => borrow(o, node._savedX[xs.length + j] as tf.Tensor));
            let reached = new Map<Tensor, tf.Tensor>();
            try {
              const y = replaySeeds(tape, () => fn(...views));
              if (y.requiresGrad) reached = backwardTo(y, dy, {}, new Set(outer));
              if (!y.isLeaf) y.dispose();
            } finally {
              restore.forEach((r) => r());
            }
            const grads = views.map((v) => {
              const g = v.grad;
              v.grad = null;
              return g;
            });
            return [...grads, ...outer.map((o) => reached.get(o) ?? null)];
          }))
      : null,
  });
  node._cast = tag;
  if (shared) drop(data); // the node holds it now
  return node;
}

/** For the recomputation: let `node` read `value` while its own may have been released; returns the undo. */
function borrow(node: Tensor, value: tf.Tensor): () => void {
  if (node._data !== null) return () => {};
  node._data = value;
  const why = node._dataGone;
  node._dataGone = null;
  return () => {
    node._data = null;
    node._dataGone = why;
  };
}
