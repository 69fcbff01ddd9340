/**
 * Mean squared error: the regression loss.
 *
 * Introduced in notebooks/01-backprop/06-losses.
 */
import { castRegion } from '../../autograd/cast';
import { mul, sub } from '../../autograd/ops';
import { fmt, sameShape, ShapeError } from '../../autograd/shape';
import { shapeOf, type Operand, type Tensor } from '../../autograd/tensor';
import { checkReduction, reduce, type Reduction } from './reduction';

/** Options of {@link mse}. */
export interface MseOptions {
  /** 'mean' (default), 'sum' or 'none'. */
  reduction?: Reduction;
}

/**
 * `L = (1/n) Σᵢ (xᵢ − yᵢ)²` ('mean', over all n elements), `Σᵢ (xᵢ − yᵢ)²` ('sum'),
 * or the squares ('none'). `∂L/∂xᵢ = 2(xᵢ − yᵢ)/n`; the target gets the negative
 * when it requires grad. Input and target must have the same shape (PyTorch
 * would broadcast with a warning, a common silent bug: `[N,1]` against `[N]`).
 *
 * Reference: `torch.nn.functional.mse_loss(input, target, reduction='mean')`.
 * Introduced in notebooks/01-backprop/06-losses.
 */
export function mse(input: Operand, target: Operand, { reduction = 'mean' }: MseOptions = {}): Tensor {
  checkReduction('mse', reduction);
  const [a, b] = [shapeOf(input), shapeOf(target)];
  if (!sameShape(a, b)) throw new ShapeError(`mse: input ${fmt(a)} and target ${fmt(b)}: expected the same shape`);
  return castRegion('mse', () => {
    // one op for autocast: float32, as PyTorch's mse_loss
    const d = sub(input, target);
    return reduce(mul(d, d), reduction);
  });
}
