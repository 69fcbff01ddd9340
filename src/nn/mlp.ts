/**
 * The multi-layer perceptron.
 *
 * Introduced in notebooks/01-backprop/02-tensors.
 */
import type { Operand, Tensor } from '../autograd/tensor';
import { activation, type ActivationFn, type ActivationName } from './activation';
import type { Initializer } from './init';
import { Linear } from './linear';
import { chain, Module, toRng, type RngLike } from './module';
import { positiveInt } from './validate';

/** Options of {@link MLP}. */
export interface MLPOptions {
  /** Applied between layers (not after the last). A name or a function. Default 'relu'. */
  activation?: ActivationName | ActivationFn;
  /** Where the initial values come from (an Rng, or a seed); layers draw from it in order. Required. */
  rng?: RngLike;
  /** Initializer of every W (see {@link Linear}). Default `init.pytorchDefault()`. */
  init?: Initializer;
  /** Initializer of every b. Default `init.pytorchDefault()`. */
  biasInit?: Initializer;
  /** Whether the layers have biases. Default true. */
  bias?: boolean;
}

/**
 * `sizes = [d₀, d₁, …, d_L]` makes L {@link Linear} layers `dᵢ → dᵢ₊₁` with the
 * activation f between them: `h₀ = x`, `hᵢ₊₁ = f(hᵢ Wᵢ + bᵢ)` for i < L−1, and
 * the output `h_L = h_{L−1} W_{L−1} + b_{L−1}` (logits: no activation).
 * Parameters are named `layers.0.weight`, `layers.0.bias`, ….
 *
 * @example
 * const mlp = new nn.MLP([784, 256, 256, 10], { activation: 'relu', rng: 0 });
 *
 * Reference: `torch.nn.Sequential(Linear, ReLU, Linear, ...)`; torchvision.ops.MLP.
 * Introduced in notebooks/01-backprop/02-tensors.
 */
export class MLP extends Module {
  /** The linear layers, in order. */
  readonly layers: Linear[];
  /** The widths `[d₀, …, d_L]`. */
  readonly sizes: readonly number[];
  private readonly act: ActivationFn;
  private readonly actName: string;

  constructor(sizes: number[], { activation: a = 'relu', rng, init, biasInit, bias = true }: MLPOptions = {}) {
    super();
    if (!Array.isArray(sizes) || sizes.length < 2) throw new Error(`MLP: sizes must list at least an input and an output width, got ${JSON.stringify(sizes)}`);
    sizes.forEach((d, i) => positiveInt('MLP', `sizes[${i}]`, d));
    this.sizes = sizes.slice();
    this.act = activation(a);
    this.actName = typeof a === 'function' ? a.name || 'custom' : a;
    const r = toRng('MLP', rng);
    this.layers = sizes.slice(1).map((out, i) => new Linear(sizes[i] as number, out, { rng: r, bias, ...(init && { init }), ...(biasInit && { biasInit }) }));
    this.labelParameters();
  }

  override children(): [string, Module][] {
    return this.layers.map((l, i) => [`layers.${i}`, l]);
  }

  forward(x: Operand): Tensor {
    const steps: ((h: Operand) => Tensor)[] = [];
    this.layers.forEach((layer, i) => {
      if (i > 0) steps.push(this.act); //  f between layers
      steps.push((h) => layer.forward(h)); // hᵢ Wᵢ + bᵢ
    });
    return chain(x, steps);
  }

  override describe(): string {
    return `MLP([${this.sizes.join(', ')}], activation=${this.actName})`;
  }
}
