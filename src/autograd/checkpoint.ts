/**
 * Activation checkpointing: trade compute for memory by not storing a block's
 * intermediates and recomputing them during backward.
 *
 * Introduced in notebooks/01-backprop/05-checkpointing.
 */
import { tf } from '../backend/tf';
import { backward, disposeGraph, topoOrder } from './backward';
import { isGradEnabled, noGrad, withGrad } from './mode';
import { lift, Tensor, type Operand } from './tensor';
import { recordSeeds, replaySeeds, type SeedTape } from './seeds';

/** A leaf over `x`'s data that does not own it (so freeing graphs built on it never frees `x`). */
function view(x: Tensor, requiresGrad: boolean): Tensor {
  return new Tensor(x.data, { op: 'input', isLeaf: true, ownsData: false, requiresGrad, label: x.label });
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
 * Parameters that `fn` closes over (a layer's weights) get their `grad` from
 * the recomputation, as they would without checkpointing. Random seeds that
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
  // 1. Forward without recording; keep y's values and learn which leaves it depends on.
  // Random seeds drawn in fn (nn.Dropout) are recorded here and replayed in step 2.
  let data!: tf.Tensor;
  let dependsOnParams = false;
  let tape!: SeedTape;
  noGrad(() => {
    ({ tape } = recordSeeds(() => {
      const y = fn(...xs.map((x) => view(x, false)));
      data = tf.clone(y.data); // shares the buffer, survives freeing the graph
      dependsOnParams = topoOrder(y).some((n) => n.isLeaf && n.requiresGrad);
      if (!y.isLeaf) disposeGraph(y);
    }));
  });
  const requiresGrad = isGradEnabled() && (dependsOnParams || xs.some((x) => x.requiresGrad));
  return new Tensor(data, {
    op: 'checkpoint',
    parents: xs,
    requiresGrad,
    // 2. Backward: recompute with recording, backprop dy through it, hand the inputs' grads on.
    backward: requiresGrad
      ? (dy, needs) =>
          withGrad(() => {
            const views = xs.map((x, i) => view(x, needs[i] ?? false));
            const y = replaySeeds(tape, () => fn(...views));
            if (y.requiresGrad) backward(y, dy, {});
            if (!y.isLeaf) y.dispose();
            return views.map((v) => {
              const g = v.grad;
              v.grad = null;
              return g;
            });
          })
      : null,
  });
}
