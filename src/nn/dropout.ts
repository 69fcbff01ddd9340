/**
 * Dropout as a module: on in training mode, the identity in eval mode.
 *
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
import { dropout } from '../autograd/ops';
import { drawSeed } from '../autograd/seeds';
import type { Operand, Tensor } from '../autograd/tensor';
import type { Rng } from '../data/rng';
import { Module, toRng, type RngLike } from './module';

/** Options of {@link Dropout}. */
export interface DropoutModuleOptions {
  /** Where each forward's mask seed comes from (an Rng, or a seed). Required when p > 0. */
  rng?: RngLike;
}

/**
 * Inverted dropout: in training mode `y = x·m/(1 − p)`, `m_i ~ Bernoulli(1 − p)`,
 * a fresh mask per forward; in eval mode (`module.eval()`) `y = x`. Each forward
 * draws the mask's seed from `rng`, so a run is reproducible from its seed.
 *
 * The seed goes through `gl.ag.drawSeed`, so inside `gl.ag.checkpoint` the
 * recomputation replays the forward's mask (as PyTorch's checkpoint restores its
 * RNG state) and the gradients are those of the network that ran.
 *
 * Reference: `torch.nn.Dropout(p=0.5)` (its masks come from a different RNG);
 * Srivastava et al. 2014. Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export class Dropout extends Module {
  /** Probability of zeroing an element. */
  readonly p: number;
  private readonly rng: Rng | null;

  constructor(p = 0.5, { rng }: DropoutModuleOptions = {}) {
    super();
    if (!(typeof p === 'number' && p >= 0 && p <= 1)) throw new Error(`Dropout: p must be a number in [0, 1], got ${String(p)}`);
    this.p = p;
    this.rng = p > 0 ? toRng(`Dropout(${p})`, rng) : null;
  }

  forward(x: Operand): Tensor {
    if (!this.training || this.rng === null) return dropout(x, { p: this.p, train: false });
    const rng = this.rng;
    const seed = drawSeed(() => 1 + rng.int(2 ** 31 - 1)); // tfjs reads a seed of 0 as "no seed"
    return dropout(x, { p: this.p, train: true, seed });
  }

  override describe(): string {
    return `Dropout(p=${this.p})`;
  }
}
