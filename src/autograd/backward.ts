/**
 * The backward pass of the tensor engine and the freeing of graphs.
 *
 * `backward(root)`: order the graph topologically, seed `∂root/∂root = 1`, then
 * visit nodes from the root down: each node hands its gradient to its op's rule,
 * which returns one gradient per parent; a parent reached from several children
 * sums them (`+=`, the multivariate chain rule). Leaves that require grad
 * accumulate into `leaf.grad`. Once a node has been visited, no later step can
 * need its data (its consumers were visited before it), so it is freed there
 * and then: peak memory falls as the pass proceeds.
 *
 * Introduced in notebooks/01-backprop/02-tensors.
 */
import { tf } from '../backend/tf';
import { debugCheckGradient, isDebug } from './mode';
import { drop } from './refs';
import { fmt, sameShape } from './shape';
import type { BackwardAsyncOptions, BackwardOptions, Tensor } from './tensor';

/** Roots whose graph a backward() has freed (so a second backward() can say so). */
const spent = new WeakSet<Tensor>();

/**
 * Every node `root` depends on, each after all of its parents (leaves included; iterative DFS).
 * Nodes in `stopAt` are listed but not looked through.
 */
export function topoOrder(root: Tensor, stopAt?: ReadonlySet<Tensor>): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, boolean][] = [[root, false]];
  while (stack.length > 0) {
    const [node, done] = stack.pop() as [Tensor, boolean];
    if (done) {
      order.push(node);
      continue;
    }
    if (seen.has(node)) continue;
    seen.add(node);
    stack.push([node, true]);
    if (stopAt?.has(node)) continue;
    for (const p of node._parents) if (!seen.has(p)) stack.push([p, false]);
  }
  return order;
}

/**
 * `g` rounded to the emulated dtype of `node` (cast.ts), freeing `g` when a new tensor
 * was made: a gradient has its tensor's dtype, as in PyTorch. Plain float32: `g` itself.
 */
function roundGrad(node: Tensor, g: tf.Tensor): tf.Tensor {
  const tag = node._cast;
  if (tag === null) return g;
  const r = tag.round(g, tag.dtype);
  if (r !== g) g.dispose();
  return r;
}

/**
 * `g` added into `map` at `node` (`+=` on fan-out), freeing the summands. For a node
 * tagged fp16 / bf16, each contribution is rounded to its format (a rule's output has
 * its input's dtype) and so is each sum (the `+=` runs in that format), as PyTorch does.
 */
function accumulate(map: Map<Tensor, tf.Tensor>, node: Tensor, g: tf.Tensor): void {
  const old = map.get(node);
  const r = roundGrad(node, g);
  if (!old) {
    map.set(node, r);
    return;
  }
  map.set(node, roundGrad(node, tf.add(old, r)));
  old.dispose();
  r.dispose();
}

/** Free a computed node: its data (if owned), its saved tensors, its links to parents. */
export function freeNode(node: Tensor, why: string): void {
  if (node._freed !== null) return;
  node._release(why);
  dropSaved(node);
  node._parents = [];
  node._freed = why;
}

/** Free what a node saved for backward, and its backward closure. */
function dropSaved(node: Tensor): void {
  for (const t of [...node._saved, ...node._savedX, node._savedY]) if (t) drop(t);
  node._saved = [];
  node._savedX = [];
  node._savedY = null;
  node._backward = null;
}

/** See {@link Tensor.backward}. */
export function backward(root: Tensor, seed: tf.Tensor | undefined, options: BackwardOptions = {}): void {
  backwardTo(root, seed, options, new Set());
}

/**
 * @internal {@link backward} that stops at the nodes in `stopAt`: the gradients
 * reaching them are returned (the caller owns them) instead of being passed on,
 * and those nodes are neither visited nor freed. `checkpoint` uses it to hand
 * gradients from its recomputation back to tensors computed outside its block.
 */
export function backwardTo(
  root: Tensor,
  seed: tf.Tensor | undefined,
  options: BackwardOptions,
  stopAt: ReadonlySet<Tensor>,
): Map<Tensor, tf.Tensor> {
  const run = start(root, seed, options, stopAt);
  for (const _ of run.steps);
  return run.finish();
}

/** See {@link Tensor.backwardAsync}: {@link backward}, letting the event loop run every `yieldMs`. */
export async function backwardAsync(root: Tensor, seed: tf.Tensor | undefined, options: BackwardAsyncOptions = {}): Promise<void> {
  const yieldMs = options.yieldMs ?? 1;
  if (!(yieldMs >= 0) || !Number.isFinite(yieldMs)) throw new Error(`backwardAsync: yieldMs must be a finite number ≥ 0, got ${yieldMs}`);
  const run = start(root, seed, options, new Set());
  let last = performance.now();
  for (const _ of run.steps) {
    if (performance.now() - last >= yieldMs) {
      await new Promise<void>((ok) => setImmediate(ok));
      last = performance.now();
    }
  }
  run.finish();
}

/**
 * Check `root` and `seed`, order the graph and seed the gradient; returns the
 * pass as a generator of steps (one per node) and `finish`, to call after the
 * last step. A step that throws frees what is left (nothing leaks; the root
 * stays readable) before the error reaches the caller.
 */
function start(
  root: Tensor,
  seed: tf.Tensor | undefined,
  { retainGraph = false }: BackwardOptions,
  stopAt: ReadonlySet<Tensor>,
): { steps: Generator<void>; finish: () => Map<Tensor, tf.Tensor> } {
  if (!root.requiresGrad) {
    throw new Error(
      `backward: ${root.describe()} does not require grad: none of its inputs has requiresGrad, or it was computed under noGrad()`,
    );
  }
  if (spent.has(root)) {
    throw new Error(
      `backward: backward() was already called on ${root.describe()} and freed its graph; ` +
        'pass { retainGraph: true } to the first backward() to call it twice',
    );
  }
  if (seed === undefined && root.size !== 1) {
    throw new Error(`backward: ${root.describe()} is not a scalar; pass the gradient of the loss with respect to it: backward(dy)`);
  }
  if (seed !== undefined && !sameShape(seed.shape, root.shape)) {
    throw new Error(`backward: the gradient ${fmt(seed.shape)} does not match ${root.describe()}`);
  }
  const order = topoOrder(root, stopAt);
  for (const node of order) {
    if (node._freed !== null && node.requiresGrad && !node.isLeaf && !stopAt.has(node)) {
      throw new Error(
        `backward: ${node.describe()} in this graph was already freed ${node._freed}; ` +
          'to backward twice through a graph, pass { retainGraph: true } to the first backward()',
      );
    }
  }
  const grads = new Map<Tensor, tf.Tensor>();
  grads.set(root, roundGrad(root, seed ? tf.clone(seed) : tf.ones(root.shape)));
  const reached = new Map<Tensor, tf.Tensor>();
  function* steps(): Generator<void> {
    try {
      yield* pass(root, order, grads, retainGraph, stopAt, reached);
    } catch (e) {
      // A rule, a hook or a debug check threw: free what is left so nothing leaks; the root stays readable.
      tf.dispose([...grads.values(), ...reached.values()]);
      for (const node of order) if (!node.isLeaf && node !== root && !stopAt.has(node)) freeNode(node, 'by a backward() that failed');
      dropSaved(root);
      root._parents = [];
      if (!root.isLeaf) spent.add(root);
      throw e;
    }
  }
  return {
    steps: steps(),
    finish: () => {
      if (!retainGraph && !root.isLeaf) spent.add(root);
      return reached;
    },
  };
}

/** A rule's gradient for input k must have the input's shape (and, in debug mode, be finite). */
function check(node: Tensor, k: number, pg: tf.Tensor, g: tf.Tensor): void {
  const p = node._parents[k] as Tensor;
  if (!sameShape(pg.shape, p.shape)) {
    throw new Error(`gradlab bug: backward of ${node.op} gave ${fmt(pg.shape)} for input ${k} of shape ${fmt(p.shape)}`);
  }
  const bad = isDebug() ? debugCheckGradient(node.describe(), k, p.describe(), pg, g) : null;
  if (bad) throw new Error(bad);
}

/**
 * The loop of {@link backward}: reverse topological order, one rule call per
 * node; yields after each node. A leaf is visited as soon as the last node
 * that uses it has been: its gradient is complete then, so its `.grad` is
 * written and its post-accumulate hooks run as early as possible (the
 * reverse topological order alone may leave every leaf to the end). Leaves
 * have no parents, so when they are visited changes no value.
 */
function* pass(
  root: Tensor,
  order: Tensor[],
  grads: Map<Tensor, tf.Tensor>,
  retainGraph: boolean,
  stopAt: ReadonlySet<Tensor>,
  reached: Map<Tensor, tf.Tensor>,
): Generator<void> {
  const waiting = new Map<Tensor, number>(); // leaf -> nodes using it not yet visited
  const leafParents = new Map<Tensor, Tensor[]>();
  for (const node of order) {
    if (node.isLeaf || stopAt.has(node)) continue;
    const leaves = [...new Set(node._parents)].filter((q) => q.isLeaf);
    if (leaves.length) leafParents.set(node, leaves);
    for (const q of leaves) waiting.set(q, (waiting.get(q) ?? 0) + 1);
  }
  const visitLeaf = (node: Tensor) => {
    const g = grads.get(node);
    grads.delete(node);
    if (g && node.requiresGrad) {
      const old = node.grad;
      node.grad = tf.keep(old ? roundGrad(node, tf.add(old, g)) : g); // grad += g, kept even inside a tf.tidy
      if (old) {
        old.dispose();
        g.dispose();
      }
      if (node._postAccHooks) for (const hook of [...node._postAccHooks]) hook(node);
    } else {
      g?.dispose();
    }
  };
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i] as Tensor;
    if (node.isLeaf) {
      if (!waiting.has(node)) {
        visitLeaf(node); // a leaf root, or one no visited node uses
        yield;
      }
      continue;
    }
    const g = grads.get(node);
    grads.delete(node);
    if (stopAt.has(node) && node !== root) {
      if (g) reached.set(node, g);
      continue;
    }
    if (g && !node._backward && node.requiresGrad) {
      g.dispose();
      throw new Error(
        `backward: a gradient reached ${node.describe()}, whose graph was already freed ${node._freed ?? '(its backward is gone)'}; ` +
          'gradients through it would be lost. To backward twice through a graph, pass { retainGraph: true } to the first backward()',
      );
    }
    if (g && node._backward) {
      const parents = node._parents;
      let pgs: (tf.Tensor | null)[] = [];
      try {
        pgs = node._backward(g, parents.map((q) => q.requiresGrad));
        pgs.forEach((pg, k) => pg && check(node, k, pg, g));
      } catch (e) {
        tf.dispose([g, ...pgs.filter((pg): pg is tf.Tensor => pg !== null)]);
        throw e;
      }
      pgs.forEach((pg, k) => pg && accumulate(grads, parents[k] as Tensor, pg));
    }
    g?.dispose();
    if (!retainGraph) {
      if (node === root) {
        // The root stays readable (`await loss.item()`); what only backward needed goes.
        dropSaved(node);
        node._parents = [];
      } else {
        freeNode(node, 'by backward()');
      }
    }
    yield;
    for (const q of leafParents.get(node) ?? []) {
      const left = waiting.get(q)! - 1;
      waiting.set(q, left);
      if (left === 0) {
        visitLeaf(q);
        yield;
      }
    }
  }
}


/** Free `root` and every computed node it depends on (never leaves). See {@link Tensor.dispose}. */
export function disposeGraph(root: Tensor): void {
  const stack = [root];
  const seen = new Set<Tensor>();
  while (stack.length > 0) {
    const node = stack.pop() as Tensor;
    if (seen.has(node) || node.isLeaf) continue;
    seen.add(node);
    stack.push(...node._parents);
    freeNode(node, 'by dispose()');
  }
}
