/**
 * The tensor engine's node: a tfjs tensor (`data`) plus what backward needs
 * (`parents`, the op's backward closure, the tensors it saved) and, for
 * leaves, `grad`.
 *
 * ## Who frees what (the lifetime rule)
 * In one sentence: **a computed tensor's value lives until the scope that
 * computed it ends, unless the scope returns it; backward keeps only what each
 * op saved, until backward has used it.**
 * - **Leaves** (`tensor()`, `param()`) own their data and their `grad`; they live
 *   until you call `leaf.dispose()`, which frees them at once (a graph that
 *   saved one can then no longer backward through it). Parameters are leaves.
 * - **Scopes** are `ag.tidy(fn)` and every `Module.forward`. A tensor computed
 *   inside one and not returned gives up its value when the scope ends (reading
 *   it then throws, saying so); at the top level of a notebook no scope ends, so
 *   values live until backward or dispose, as before.
 * - **Saved tensors**: each op keeps, on a handle of its own, exactly what its
 *   backward rules read (`matmul` keeps its operands, `relu` its output, `add`
 *   nothing), as PyTorch's `save_for_backward` does. The bytes they hold are
 *   what training memory counts (`savedBytes(root)`).
 * - `root.backward()` frees every intermediate (value and saved tensors) as
 *   soon as the pass is past it and keeps only the root readable
 *   (`await loss.item()`); `root.dispose()` then frees the root. Without a
 *   backward (evaluation), `root.dispose()` frees the whole graph.
 *   `backward({ retainGraph: true })` frees nothing, for a second backward.
 * - A tfjs tensor passed to an op is borrowed, never freed; a number becomes
 *   a constant owned by the graph.
 *
 * So one training step is: forward -> `loss.backward()` -> read `p.grad` and
 * update `p` -> `loss.dispose()` -> `zeroGrad(params)`, and it leaves
 * `tf.memory().numTensors` unchanged. Read any intermediate you want to keep
 * (e.g. logits for accuracy) before `backward()`, or `detach()` it.
 *
 * Introduced in notebooks/01-backprop/02-tensors.
 */
import { tf } from '../backend/tf';
import { backward as runBackward, backwardAsync as runBackwardAsync, disposeGraph, freeNode } from './backward';
import type { CastTag } from './cast';
import { adopt, drop, free } from './refs';
import { track } from './scope';
import { fmt } from './shape';

/** What an op accepts: a gradlab tensor, a borrowed tfjs tensor, or a number (a float32 constant). */
export type Operand = Tensor | tf.Tensor | number;

/** @internal An op's backward closure: the gradient for each parent (null where `needs[i]` is false). */
export type NodeBackward = (dy: tf.Tensor, needs: readonly boolean[]) => (tf.Tensor | null)[];

/** Options of {@link Tensor.backward}. */
export interface BackwardOptions {
  /** Keep the graph (intermediates and saved tensors) for another backward. Default false. */
  retainGraph?: boolean;
}

/** Options of {@link Tensor.backwardAsync}. */
export interface BackwardAsyncOptions extends BackwardOptions {
  /**
   * Let the event loop run (sockets, timers, promise callbacks such as an
   * all-reduce a gradient hook started) whenever this many milliseconds of
   * backward have passed since it last did. Default 1.
   */
  yieldMs?: number;
}

/** @internal How a node is built; use {@link tensor}, {@link param} or an op instead. */
export interface NodeInit {
  op: string;
  parents?: Tensor[];
  requiresGrad?: boolean;
  isLeaf?: boolean;
  ownsData?: boolean;
  backward?: NodeBackward | null;
  saved?: tf.Tensor[];
  savedX?: (tf.Tensor | null)[];
  savedY?: tf.Tensor | null;
  label?: string;
}

/**
 * A node of the tensor graph. Its forward value is `data` (a tfjs tensor on the
 * current backend); `grad` is filled by `backward()` on leaves that require it,
 * and gradients accumulate (`grad += ...`) across backward calls until
 * {@link zeroGrad}.
 *
 * Reference: `torch.Tensor` with `requires_grad`. Introduced in notebooks/01-backprop/02-tensors.
 */
export class Tensor {
  /** Accumulated gradient ∂L/∂this (leaves only; null until the first backward). */
  grad: tf.Tensor | null = null;
  /** A name for displays and error messages (`'W1'`). */
  label: string;
  /** The op that produced this tensor: `'leaf'`, `'const'`, `'matmul'`, ... */
  readonly op: string;
  /** Shape, known even after the data was freed. */
  readonly shape: number[];
  /** Whether gradients flow to or through this tensor. */
  readonly requiresGrad: boolean;
  /** True for tensors you created (`tensor`, `param`): never freed by a graph. */
  readonly isLeaf: boolean;
  /** @internal */ _data: tf.Tensor | null;
  /** @internal */ _parents: Tensor[];
  /** @internal */ _backward: NodeBackward | null;
  /** @internal The forward's extra saved tensors (a rule reads them as `ctx.saved`). */ _saved: tf.Tensor[];
  /** @internal Input i's value, kept for the rules that read it (null where none does). */ _savedX: (tf.Tensor | null)[];
  /** @internal The output, kept for the rules that read it. */ _savedY: tf.Tensor | null;
  /** @internal */ readonly _ownsData: boolean;
  /** @internal Why the node's graph part (saved tensors, backward) is gone, or null while it is alive. */ _freed: string | null = null;
  /** @internal The emulated lower-precision dtype of the values (cast.ts), or null for plain float32 (and non-float data). */ _cast: CastTag | null = null;
  /** @internal Why the value is gone, or null while it is alive. */ _dataGone: string | null = null;
  /** @internal Hooks called after backward has accumulated this leaf's gradient (see {@link registerPostAccumulateGradHook}). */ _postAccHooks: ((p: Tensor) => void)[] | null = null;

  /** @internal Use {@link tensor}, {@link param} or an op. */
  constructor(data: tf.Tensor, init: NodeInit) {
    this._data = data;
    this.shape = data.shape.slice();
    this.op = init.op;
    this.label = init.label ?? '';
    this.isLeaf = init.isLeaf ?? false;
    this.requiresGrad = init.requiresGrad ?? false;
    this._ownsData = init.ownsData ?? true;
    if (this._ownsData) adopt(data); // see refs.ts: one buffer, counted holders
    if (!this.isLeaf) track(this); //  the enclosing scope (ag.tidy, Module.forward) frees it unless returned
    this._parents = init.parents ?? [];
    this._backward = init.backward ?? null;
    this._saved = init.saved ?? [];
    this._savedX = init.savedX ?? [];
    this._savedY = init.savedY ?? null;
  }

  /** The forward value. Throws, saying who freed it, once the graph has been freed. */
  get data(): tf.Tensor {
    if (this._data === null) {
      throw new Error(
        `${this.describe()} was freed ${this._dataGone ?? this._freed}. ` +
          (this.isLeaf
            ? 'Create a new leaf.'
            : 'Read intermediates before backward() (or detach() them), or pass backward({ retainGraph: true }) and dispose the root when done.'),
      );
    }
    return this._data;
  }

  /** Parents in the graph (the op's inputs); empty for leaves, constants and freed nodes. */
  get parents(): readonly Tensor[] {
    return this._parents;
  }

  /** Data type of `data` ('float32' for anything that takes gradients). */
  get dtype(): tf.DataType {
    return this.data.dtype;
  }

  /** Number of axes. */
  get rank(): number {
    return this.shape.length;
  }

  /** Number of elements. */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Whether the data has been freed (by backward, dispose, or a leaf's dispose). */
  get isDisposed(): boolean {
    return this._data === null;
  }

  /** `matmul [32,256]` or `leaf 'W1' [784,256]`: how messages name this tensor. */
  describe(): string {
    return `${this.op}${this.label ? ` '${this.label}'` : ''} ${fmt(this.shape)}`;
  }

  /** `Tensor(matmul [32,256], requiresGrad)`: for logs and notebook output. */
  toString(): string {
    return `Tensor(${this.describe()}${this.requiresGrad ? ', requiresGrad' : ''}${this.isDisposed ? ', freed' : ''})`;
  }

  /** The value of a one-element tensor (async: reads the backend). */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item(): ${this.describe()} has ${this.size} elements; item() needs exactly 1`);
    return (await this.data.data())[0] as number;
  }

  /**
   * Backpropagate from this tensor: for every leaf L that requires grad,
   * `L.grad += ∂this/∂L · grad` (vector-Jacobian product), visiting nodes in
   * reverse topological order and summing (`+=`) where a tensor fans out.
   * `grad` defaults to 1 and may be omitted only for a one-element tensor
   * (a loss). It is borrowed, never freed.
   *
   * Frees the graph's intermediates as it goes unless `retainGraph` (see the
   * lifetime rule in this file's header); this tensor stays readable until
   * `dispose()`.
   *
   * Reference: `torch.Tensor.backward(gradient, retain_graph=False)`.
   */
  backward(grad?: tf.Tensor, options: BackwardOptions = {}): void {
    runBackward(this, grad, options);
  }

  /**
   * {@link backward}, the same steps in the same order with the same result,
   * but the event loop runs between nodes (every `yieldMs`, default 1 ms), so
   * asynchronous work started during backward makes progress while it goes
   * on: the all-reduce of a data-parallel bucket whose gradients are ready
   * (see {@link registerPostAccumulateGradHook}) overlaps the gradients of the
   * layers still to come. Do not use the graph (or start another backward)
   * until it resolves.
   *
   * Reference: PyTorch's autograd engine runs backward on its own threads,
   * which is what lets DDP overlap communication with it (Li et al. 2020, §3.2.3).
   */
  backwardAsync(grad?: tf.Tensor, options: BackwardAsyncOptions = {}): Promise<void> {
    return runBackwardAsync(this, grad, options);
  }

  /**
   * Call `hook(this)` each time a backward has finished accumulating this
   * leaf's gradient into `.grad` (once per backward that reaches it, after
   * the `+=`, so `.grad` is final for that backward). Hooks run in the order
   * registered; one that throws fails the backward. Returns a handle whose
   * `remove()` unregisters the hook. Only leaves have one (their gradient is
   * accumulated); data-parallel training uses it to start a bucket's all-reduce
   * as soon as its gradients are ready.
   *
   * Reference: `torch.Tensor.register_post_accumulate_grad_hook` (PyTorch 2.1).
   */
  registerPostAccumulateGradHook(hook: (p: Tensor) => void): { remove(): void } {
    if (!this.isLeaf) {
      throw new Error(`registerPostAccumulateGradHook: ${this.describe()} is not a leaf; only leaves accumulate a gradient (register the hook on a parameter)`);
    }
    if (!this.requiresGrad) {
      throw new Error(`registerPostAccumulateGradHook: ${this.describe()} does not require grad, so backward never accumulates into it; create it with requiresGrad (gl.ag.param)`);
    }
    (this._postAccHooks ??= []).push(hook);
    return {
      remove: () => {
        const i = this._postAccHooks?.indexOf(hook) ?? -1;
        if (i >= 0) this._postAccHooks!.splice(i, 1);
      },
    };
  }

  /**
   * Free this tensor. A leaf frees its data and grad at once. A computed tensor frees
   * itself and every intermediate it was computed from (never leaves, never
   * borrowed tfjs tensors). Safe to call twice.
   */
  dispose(): void {
    if (this.isLeaf) {
      if (this._ownsData && this._data) free(this._data); // yours: it goes now, even if a graph saved it
      this.grad?.dispose();
      this.grad = null;
      this._data = null;
      this._freed ??= 'by dispose()';
      this._dataGone ??= 'by dispose()';
      return;
    }
    disposeGraph(this);
  }

  /** @internal Give up this computed tensor's value (like `del t` in Python); what the graph saved stays. */
  _release(why: string): void {
    if (this.isLeaf || this._data === null) return;
    if (this._ownsData) drop(this._data);
    this._data = null;
    this._dataGone = why;
  }

  /** @internal Free this computed node entirely: value, saved tensors, links to parents. */
  _free(why: string): void {
    freeNode(this, why);
  }

  /** Set `grad` to null, freeing it (PyTorch's `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  /**
   * A new leaf with the same values and no history (`requiresGrad` false),
   * which you own and must `dispose()`. It shares the buffer with this tensor
   * (tfjs reference counting), so it stays valid when the graph is freed.
   *
   * Reference: `torch.Tensor.detach()`.
   */
  detach(): Tensor {
    const t = new Tensor(tf.clone(this.data), { op: 'leaf', isLeaf: true, label: this.label });
    t._cast = this._cast; // the same values, so the same emulated dtype (torch's detach keeps the dtype)
    return t;
  }

  /**
   * Replace a leaf's data with `value` (same shape and dtype), freeing the old
   * data and taking ownership of `value`. This is how an optimiser writes
   * `θ ← θ − lr·g` without leaking: `p.assign(tf.tidy(() => p.data.sub(p.grad.mul(lr))))`.
   */
  assign(value: tf.Tensor): void {
    if (!this.isLeaf) throw new Error(`assign: ${this.describe()} is computed by an op; only leaves can be assigned`);
    const old = this.data;
    if (value.dtype !== old.dtype || value.shape.length !== this.shape.length || value.shape.some((d, i) => d !== this.shape[i])) {
      throw new Error(`assign: ${this.describe()} (${old.dtype}) cannot take a ${value.dtype} ${fmt(value.shape)}`);
    }
    if (value === old) return;
    if (this._ownsData) drop(old);
    this._data = this._ownsData ? adopt(value) : value;
  }
}

/** Options of {@link tensor}. */
export interface TensorOptions {
  /** Whether `backward()` fills `grad` for this leaf. Default false. */
  requiresGrad?: boolean;
  /** Name for displays and error messages. Default ''. */
  label?: string;
  /** Shape, when `values` is a flat array. */
  shape?: number[];
  /** Data type of a new tensor built from `values`. Default 'float32'. */
  dtype?: 'float32' | 'int32' | 'bool';
}

/**
 * A leaf tensor. From a tfjs tensor it takes ownership (pass `t.clone()` to
 * keep yours); from numbers it creates one. `requiresGrad` needs float32.
 *
 * @example
 * const x = tensor([[1, 2], [3, 4]]);
 * const w = tensor(tf.randomNormal([2, 3]), { requiresGrad: true, label: 'w' });
 *
 * Reference: `torch.tensor(data, requires_grad=False)`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function tensor(values: tf.Tensor | tf.TensorLike, options: TensorOptions = {}): Tensor {
  const { requiresGrad = false, label = '', shape, dtype = 'float32' } = options;
  const data = values instanceof tf.Tensor ? values : tf.tensor(values, shape, dtype);
  if (requiresGrad && data.dtype !== 'float32') {
    throw new Error(`tensor${label ? ` '${label}'` : ''}: requiresGrad needs float32 data, got ${data.dtype}`);
  }
  return new Tensor(data, { op: 'leaf', isLeaf: true, requiresGrad, label });
}

/**
 * A trainable leaf: `tensor(values, { requiresGrad: true })`.
 *
 * Reference: `torch.nn.Parameter`. Introduced in notebooks/01-backprop/02-tensors.
 */
export function param(values: tf.Tensor | tf.TensorLike, options: Omit<TensorOptions, 'requiresGrad'> = {}): Tensor {
  return tensor(values, { ...options, requiresGrad: true });
}

/**
 * Free the gradients of `params` (set each `grad` to null), ready for the next
 * step's accumulation.
 *
 * Reference: `torch.optim.Optimizer.zero_grad(set_to_none=True)`.
 */
export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) p.zeroGrad();
}

/** @internal An operand as a node: tensors as they are, tfjs tensors borrowed, numbers as owned float32 constants. */
export function lift(x: Operand): Tensor {
  if (x instanceof Tensor) return x;
  if (typeof x === 'number') return new Tensor(tf.scalar(x), { op: 'const' });
  return new Tensor(x, { op: 'input', isLeaf: true, ownsData: false });
}

/** @internal The shape of an operand without touching its data. */
export function shapeOf(x: Operand): number[] {
  return typeof x === 'number' ? [] : x.shape.slice();
}
