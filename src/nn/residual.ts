/**
 * The residual connection.
 *
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
import { add } from '../autograd/ops';
import { fmt, ShapeError } from '../autograd/shape';
import type { Operand, Tensor } from '../autograd/tensor';
import { Module } from './module';

/**
 * `y = x + block(x)`. The gradient reaching x is `dy + (∂block/∂x)ᵀ dy`: the
 * identity path carries dy unchanged however deep the stack, which is why
 * residual networks train at depths where plain ones vanish.
 *
 * Reference: He et al. 2016, "Deep Residual Learning" (PyTorch has no module for it:
 * `x + block(x)` in a forward). Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export class Residual extends Module {
  constructor(readonly block: Module) {
    super();
    if (!(block instanceof Module)) throw new Error(`Residual: block must be an nn.Module, got ${String(block)}`);
    this.labelParameters();
  }

  override children(): [string, Module][] {
    return [['block', this.block]];
  }

  forward(x: Operand): Tensor {
    const h = this.block.forward(x);
    const s = typeof x === 'number' ? [] : x.shape;
    if (h.shape.length !== s.length || h.shape.some((d, i) => d !== s[i])) {
      h.dispose();
      throw new ShapeError(`Residual: block ${this.block.describe()} maps ${fmt(s)} to ${fmt(h.shape)}; x + block(x) needs the same shape`);
    }
    return add(x, h);
  }
}
