/**
 * A chain of modules.
 *
 * Introduced in notebooks/01-backprop/02-tensors.
 */
import type { Operand, Tensor } from '../autograd/tensor';
import { chain, Module } from './module';

/**
 * `y = mₙ(…m₂(m₁(x)))`. Children are named by position (`'0'`, `'1'`, …), so
 * parameters are named `0.weight`, `2.bias`, … as in PyTorch. The first
 * module may take any input (an {@link Embedding} takes indices); the rest take tensors.
 *
 * @example
 * const model = new nn.Sequential(new nn.Linear(784, 256, { rng }), new nn.ReLU(), new nn.Linear(256, 10, { rng }));
 *
 * Reference: `torch.nn.Sequential`. Introduced in notebooks/01-backprop/02-tensors.
 */
export class Sequential<In = Operand> extends Module<In> {
  /** The modules, in order. */
  readonly modules: readonly [Module<In>, ...Module[]];

  constructor(...modules: [Module<In>, ...Module[]]) {
    super();
    if (modules.length === 0) throw new Error('Sequential: pass at least one module');
    const bad = modules.findIndex((m) => !(m instanceof Module));
    if (bad >= 0) throw new Error(`Sequential: argument ${bad} is not an nn.Module (got ${String(modules[bad])})`);
    this.modules = modules;
    this.labelParameters();
  }

  override children(): [string, Module<any>][] {
    return this.modules.map((m, i) => [String(i), m]);
  }

  forward(x: In): Tensor {
    const [first, ...rest] = this.modules;
    const h = first.forward(x);
    return rest.length === 0 ? h : chain(h, rest.map((m) => (t: Operand) => m.forward(t)), h !== (x as unknown)); // h is ours unless first returned x itself
  }
}
