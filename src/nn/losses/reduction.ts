/** How a loss reduces its per-element values, shared by every loss. */
import { mean, sum } from '../../autograd/ops';
import type { Tensor } from '../../autograd/tensor';

/** `'mean'` (default): the average; `'sum'`: the total; `'none'`: the per-element losses. As PyTorch's `reduction`. */
export type Reduction = 'mean' | 'sum' | 'none';

/** @internal `reduction` if it is one of the three, else an error naming the loss. */
export function checkReduction(loss: string, reduction: unknown): Reduction {
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new Error(`${loss}: reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'`);
  }
  return reduction;
}

/** @internal Apply `reduction` to elementwise losses with gradlab ops. */
export function reduce(values: Tensor, reduction: Reduction): Tensor {
  return reduction === 'mean' ? mean(values) : reduction === 'sum' ? sum(values) : values;
}
