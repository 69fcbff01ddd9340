/**
 * RMS normalisation as a module.
 *
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
import { tf } from '../backend/tf';
import { rmsNorm } from '../autograd/ops';
import { param, type Operand, type Tensor } from '../autograd/tensor';
import { Module } from './module';
import { bool, positiveInt, positiveNumber } from './validate';

/** Options of {@link RMSNorm}. */
export interface RMSNormOptions {
  /** Added to the mean square. Default 2⁻²³ ≈ 1.19e-7 (float32's machine epsilon: PyTorch's eps=None). */
  eps?: number;
  /** Learn a per-feature scale γ (init 1). Default true. */
  affine?: boolean;
}

/**
 * `y = x/√(mean(x²) + eps)·γ` over the last axis of size `dim` (no mean
 * subtracted, no bias); see `gl.ag.rmsNorm` for the backward rule.
 *
 * Reference: `torch.nn.RMSNorm(dim, eps=None, elementwise_affine=True)` (PyTorch ≥ 2.4);
 * Zhang & Sennrich 2019. Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export class RMSNorm extends Module {
  /** Size D of the normalised (last) axis. */
  readonly dim: number;
  /** The eps added under the square root. */
  readonly eps: number;
  /** γ `[dim]` (ones), or null when not affine. */
  readonly weight: Tensor | null;

  constructor(dim: number, { eps = 2 ** -23, affine = true }: RMSNormOptions = {}) {
    super();
    const who = `RMSNorm(${dim})`;
    this.dim = positiveInt(who, 'dim', dim);
    this.eps = positiveNumber(who, 'eps', eps);
    bool(who, 'affine', affine);
    this.weight = affine ? param(tf.ones([dim]), { label: 'weight' }) : null;
  }

  protected override ownParameters(): [string, Tensor][] {
    return this.weight ? [['weight', this.weight]] : [];
  }

  forward(x: Operand): Tensor {
    return rmsNorm(x, this.weight, { eps: this.eps });
  }

  override describe(): string {
    return `RMSNorm(${this.dim}, eps=${this.eps}${this.weight ? '' : ', affine=false'})`;
  }
}
