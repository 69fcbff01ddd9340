/**
 * The fully connected layer.
 *
 * Introduced in notebooks/01-backprop/02-tensors.
 */
import { param, type Operand, type Tensor } from '../autograd/tensor';
import { fmt, ShapeError } from '../autograd/shape';
import { linear } from './functional';
import { pytorchDefault, type Initializer } from './init';
import { Module, toRng, type RngLike } from './module';
import { bool, fn, positiveInt } from './validate';

/** Options of {@link Linear}. */
export interface LinearOptions {
  /** Whether the layer adds a bias b. Default true. */
  bias?: boolean;
  /** Where the initial values come from (an Rng, or a seed). Required: gradlab has no global seed. */
  rng?: RngLike;
  /** Initializer of W `[in, out]`, called with fans `{fanIn: in, fanOut: out}`. Default `init.pytorchDefault()`: U(±1/√in). */
  init?: Initializer;
  /** Initializer of b `[out]`, called with the same fans. Default `init.pytorchDefault()`: U(±1/√in), as PyTorch. */
  biasInit?: Initializer;
}

/**
 * `y = x W + b` over the last axis: `x: [..., in] → y: [..., out]`.
 *
 * Layout: W is stored `[in, out]`, so the forward is a plain product `x W`
 * (no transpose; on wasm a transposed-operand product is ~10x slower).
 * PyTorch's `nn.Linear` stores `weight: [out, in]` and computes `x weightᵀ`:
 * to copy a PyTorch layer, `W = weight.T` (and to go back, transpose again).
 *
 * Init (PyTorch's default): W ~ U(−1/√in, 1/√in), b ~ U(−1/√in, 1/√in), W drawn
 * first, then b, from `rng` (which advances).
 *
 * @example
 * const layer = new nn.Linear(784, 256, { rng: gl.data.rng(0) });
 * const y = layer.forward(x);           // x: [batch, 784] -> [batch, 256]
 *
 * Reference: `torch.nn.Linear(in_features, out_features, bias=True)`.
 * Introduced in notebooks/01-backprop/02-tensors.
 */
export class Linear extends Module {
  /** Input width `in`. */
  readonly inFeatures: number;
  /** Output width `out`. */
  readonly outFeatures: number;
  /** W `[in, out]`. */
  readonly weight: Tensor;
  /** b `[out]`, or null without bias. */
  readonly bias: Tensor | null;

  constructor(inFeatures: number, outFeatures: number, { bias = true, rng, init = pytorchDefault(), biasInit = pytorchDefault() }: LinearOptions = {}) {
    super();
    const who = `Linear(${inFeatures} → ${outFeatures})`;
    this.inFeatures = positiveInt(who, 'inFeatures', inFeatures);
    this.outFeatures = positiveInt(who, 'outFeatures', outFeatures);
    bool(who, 'bias', bias);
    fn(who, 'init', init);
    fn(who, 'biasInit', biasInit);
    const r = toRng(who, rng);
    const fans = { fanIn: inFeatures, fanOut: outFeatures };
    this.weight = param(init([inFeatures, outFeatures], r, fans), { label: 'weight' });
    this.bias = bias ? param(biasInit([outFeatures], r, fans), { label: 'bias' }) : null;
  }

  protected override ownParameters(): [string, Tensor][] {
    return this.bias ? [['weight', this.weight], ['bias', this.bias]] : [['weight', this.weight]];
  }

  /** `x W + b`; x's last axis must be `in`. */
  forward(x: Operand): Tensor {
    const s = typeof x === 'number' ? [] : x.shape;
    if (s[s.length - 1] !== this.inFeatures) {
      throw new ShapeError(`${this.describe()}: input ${fmt(s)} has last axis ${s[s.length - 1] ?? 'none'}, expected ${this.inFeatures}`);
    }
    return linear(x, this.weight, this.bias);
  }

  override describe(): string {
    return `Linear(${this.inFeatures} → ${this.outFeatures}${this.bias ? '' : ', no bias'})`;
  }
}
