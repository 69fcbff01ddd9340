/**
 * `Module`: the base of every layer. A module holds its parameters (trainable
 * leaves, see `autograd/tensor.ts`) and its sub-modules, both listed
 * explicitly by the subclass: there is no hidden registry, a reader sees
 * exactly what `parameters()` returns.
 *
 * One training step with a module, leaving `tf.memory().numTensors` unchanged:
 * ```ts
 * const loss = nn.crossEntropy(model.forward(x), y);
 * loss.backward();
 * for (const p of model.parameters()) p.assign(tf.tidy(() => p.data.sub(p.grad!.mul(lr))));
 * loss.dispose();
 * model.zeroGrad();
 * ```
 *
 * Every `forward` runs as a scope (see `ag.tidy`): when it returns, the
 * tensors it computed and did not return give up their values, and the graph
 * keeps only what backward saved of them, as PyTorch frees a layer's
 * temporaries when `forward` returns.
 *
 * Reference: `torch.nn.Module`. Introduced in notebooks/01-backprop/02-tensors.
 */
import { Rng } from '../data/rng';
import { scoped } from '../autograd/scope';
import { Tensor, type Operand } from '../autograd/tensor';

/**
 * A layer: `forward(x)` computes its output from the input and its parameters.
 * Subclasses list their own parameters in {@link ownParameters} and their
 * sub-modules in {@link children}; everything else (names, counting, modes,
 * freeing) is here.
 */
export abstract class Module<In = Operand> {
  /** Training mode (true, the default) or evaluation mode: read by Dropout. Set with {@link train} / {@link eval}. */
  training = true;

  constructor() {
    // Wrap the subclass's forward in a scope (PyTorch wraps it in `__call__`).
    const forward = this.forward;
    const why = `${this.constructor.name}.forward`;
    this.forward = (x: In) => scoped(() => forward.call(this, x), why).result;
  }

  /** The layer's computation. */
  abstract forward(x: In): Tensor;

  /** This module's own parameters by local name (`[['weight', W], ['bias', b]]`). Default none. */
  protected ownParameters(): [string, Tensor][] {
    return [];
  }

  /** Sub-modules by name (`[['layers.0', lin0], ...]`); their parameters are named `<name>.<param>`. Default none. */
  children(): [string, Module<any>][] {
    return [];
  }

  /**
   * Every parameter with its dotted name, own ones first, then each child's in
   * order: `layers.0.weight`, `layers.0.bias`, ... (PyTorch's `named_parameters()`).
   * A parameter shared by two children is listed once, under its first name.
   */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    const visit = (m: Module<any>, pre: string) => {
      for (const [name, p] of m.ownParameters()) {
        if (!seen.has(p)) {
          seen.add(p);
          out.push([pre + name, p]);
        }
      }
      for (const [name, child] of m.children()) visit(child, `${pre}${name}.`);
    };
    visit(this, prefix ? `${prefix}.` : '');
    return out;
  }

  /** Every parameter (the values of {@link namedParameters}), e.g. to hand to an optimiser. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Σ over parameters of their number of elements. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /** Set training mode (default true) on this module and every sub-module; returns this. Reference: `Module.train(mode)`. */
  train(mode = true): this {
    this.training = mode;
    for (const [, c] of this.children()) c.train(mode);
    return this;
  }

  /** Evaluation mode: `train(false)` (Dropout becomes the identity). Reference: `Module.eval()`. */
  eval(): this {
    return this.train(false);
  }

  /** Free every parameter's gradient (`grad = null`). Reference: `Module.zero_grad(set_to_none=True)`. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Free every parameter (data and grad). The module cannot be used afterwards. */
  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }

  /**
   * Set each parameter's `label` to its full dotted name (for displays and
   * error messages). Containers call it in their constructors.
   */
  labelParameters(): this {
    for (const [name, p] of this.namedParameters()) p.label = name;
    return this;
  }

  /** One line about this module (`Linear(784 → 256, bias)`); containers override {@link toString}. */
  describe(): string {
    return this.constructor.name;
  }

  /** A tree like PyTorch's repr: this module, then its children indented. */
  toString(): string {
    const kids = this.children();
    if (kids.length === 0) return this.describe();
    const inner = kids.map(([n, c]) => `  (${n}): ${c.toString().split('\n').join('\n  ')}`);
    return `${this.describe()}(\n${inner.join('\n')}\n)`;
  }
}

/** An {@link Rng}, or a seed to make one. */
export type RngLike = Rng | number;

/** @internal `rng` as an Rng; throws, naming the module, when it is missing. */
export function toRng(who: string, rng: RngLike | undefined): Rng {
  if (rng instanceof Rng) return rng;
  if (typeof rng === 'number') return new Rng(rng);
  throw new Error(`${who}: pass { rng } (a gl.data.Rng or a seed number, e.g. { rng: 0 }): gradlab has no global random seed`);
}

/**
 * @internal Apply `steps` to `x` in order, each to the previous result; every
 * intermediate gives up its value as soon as the next step has read it (what
 * Python's `h = layer(h)` does by dropping the old `h`), so evaluation under
 * `noGrad` holds about one layer's activations at a time. `x` itself is the
 * caller's and is never touched unless `ownsX` (the container computed it);
 * what backward saved of an intermediate stays.
 */
export function chain(x: Operand, steps: ((h: Operand) => Tensor)[], ownsX = false): Tensor {
  let h: Operand = x;
  for (const step of steps) {
    const next = step(h);
    if ((ownsX || h !== x) && h !== next && h instanceof Tensor) h._release('once the next layer read it (containers drop their intermediates)');
    h = next;
  }
  if (!(h instanceof Tensor)) throw new Error('gradlab bug: chain() needs at least one step');
  return h;
}
