/**
 * Activations as modules (for {@link Sequential}) and a lookup by name (for
 * {@link MLP}). Each is a shell over the `gl.ag` op of the same name, whose
 * file states the math and its derivative.
 *
 * Introduced in notebooks/01-backprop/06-losses (GELU, SiLU, ReLU and their
 * derivatives) and 03-vanishing-gradients (sigmoid, tanh).
 */
import { gelu, relu, sigmoid, silu, tanh, type GeluOptions } from '../autograd/ops';
import type { Operand, Tensor } from '../autograd/tensor';
import { Module } from './module';

/** An activation function on gradlab tensors. */
export type ActivationFn = (x: Operand) => Tensor;

/** Activations known by name: 'gelu' is exact (erf), 'gelu-tanh' the tanh approximation. */
export type ActivationName = 'relu' | 'gelu' | 'gelu-tanh' | 'silu' | 'tanh' | 'sigmoid';

const BY_NAME: Record<ActivationName, ActivationFn> = {
  relu,
  gelu: (x) => gelu(x),
  'gelu-tanh': (x) => gelu(x, { approximate: 'tanh' }),
  silu,
  tanh,
  sigmoid,
};

/**
 * The activation function named `name` (a function passes through). Throws, listing the names, for an unknown one.
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function activation(name: ActivationName | ActivationFn): ActivationFn {
  if (typeof name === 'function') return name;
  const fn = BY_NAME[name];
  if (!fn) throw new Error(`activation: unknown activation '${String(name)}'; use one of ${Object.keys(BY_NAME).join(', ')} or pass a function`);
  return fn;
}

/** `y = max(x, 0)`. Reference: `torch.nn.ReLU`. Introduced in notebooks/01-backprop/03-vanishing-gradients. */
export class ReLU extends Module {
  forward(x: Operand): Tensor {
    return relu(x);
  }
}

/**
 * `y = x·Φ(x)` (exact, default) or `½x(1 + tanh(√(2/π)(x + 0.044715x³)))` with
 * `{ approximate: 'tanh' }`. Reference: `torch.nn.GELU(approximate='none')`.
 * Introduced in notebooks/01-backprop/06-losses.
 */
export class GELU extends Module {
  /** 'none' (exact, erf) or 'tanh'. */
  readonly approximate: 'none' | 'tanh';
  constructor({ approximate = 'none' }: GeluOptions = {}) {
    super();
    if (approximate !== 'none' && approximate !== 'tanh') throw new Error(`GELU: approximate must be 'none' or 'tanh', got '${String(approximate)}'`);
    this.approximate = approximate;
  }
  forward(x: Operand): Tensor {
    return gelu(x, { approximate: this.approximate });
  }
  override describe(): string {
    return `GELU(approximate='${this.approximate}')`;
  }
}

/** `y = x·σ(x)` (Swish). Reference: `torch.nn.SiLU`. Introduced in notebooks/01-backprop/06-losses. */
export class SiLU extends Module {
  forward(x: Operand): Tensor {
    return silu(x);
  }
}

/** `y = tanh x`. Reference: `torch.nn.Tanh`. Introduced in notebooks/01-backprop/03-vanishing-gradients. */
export class Tanh extends Module {
  forward(x: Operand): Tensor {
    return tanh(x);
  }
}

/** `y = σ(x) = 1/(1 + e^(−x))`. Reference: `torch.nn.Sigmoid`. Introduced in notebooks/01-backprop/03-vanishing-gradients. */
export class Sigmoid extends Module {
  forward(x: Operand): Tensor {
    return sigmoid(x);
  }
}
