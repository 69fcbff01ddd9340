/**
 * Layer normalisation as a module.
 *
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
import { tf } from '../backend/tf';
import { layerNorm } from '../autograd/ops';
import { param, type Operand, type Tensor } from '../autograd/tensor';
import { Module } from './module';
import { bool, positiveInt, positiveNumber } from './validate';

/** Options of {@link LayerNorm}. */
export interface LayerNormModuleOptions {
  /** Added to the variance. Default 1e-5 (PyTorch's). */
  eps?: number;
  /** Learn a per-feature scale γ (init 1) and shift β (init 0). Default true. */
  affine?: boolean;
}

/**
 * `y = (x − μ)/√(σ² + eps)·γ + β` over the last axis of size `dim` (μ and the
 * biased σ² per row); see `gl.ag.layerNorm` for the backward rule.
 *
 * Reference: `torch.nn.LayerNorm(dim, eps=1e-5, elementwise_affine=True)`; Ba et al. 2016.
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export class LayerNorm extends Module {
  /** Size D of the normalised (last) axis. */
  readonly dim: number;
  /** The eps added under the square root. */
  readonly eps: number;
  /** γ `[dim]` (ones), or null when not affine. */
  readonly weight: Tensor | null;
  /** β `[dim]` (zeros), or null when not affine. */
  readonly bias: Tensor | null;

  constructor(dim: number, { eps = 1e-5, affine = true }: LayerNormModuleOptions = {}) {
    super();
    const who = `LayerNorm(${dim})`;
    this.dim = positiveInt(who, 'dim', dim);
    this.eps = positiveNumber(who, 'eps', eps);
    bool(who, 'affine', affine);
    this.weight = affine ? param(tf.ones([dim]), { label: 'weight' }) : null;
    this.bias = affine ? param(tf.zeros([dim]), { label: 'bias' }) : null;
  }

  protected override ownParameters(): [string, Tensor][] {
    return this.weight && this.bias ? [['weight', this.weight], ['bias', this.bias]] : [];
  }

  forward(x: Operand): Tensor {
    return layerNorm(x, this.weight, this.bias, { eps: this.eps });
  }

  override describe(): string {
    return `LayerNorm(${this.dim}, eps=${this.eps}${this.weight ? '' : ', affine=false'})`;
  }
}
