/**
 * The lookup table of learned vectors.
 *
 * Introduced in notebooks/01-backprop/02-tensors.
 */
import { gather } from '../autograd/ops';
import { param, type Operand, type Tensor } from '../autograd/tensor';
import { normal, type Initializer } from './init';
import { Module, toRng, type RngLike } from './module';
import { fn, positiveInt } from './validate';

/** Options of {@link Embedding}. */
export interface EmbeddingOptions {
  /** Where the initial values come from (an Rng, or a seed). Required. */
  rng?: RngLike;
  /**
   * Initializer of the table `[num, dim]`, called with fans `{fanIn: num, fanOut: dim}`
   * (the table is a linear map from one-hot vectors; PyTorch's fan functions read
   * `[num, dim]` the other way round). Default `init.normal()`: N(0, 1), as PyTorch.
   */
  init?: Initializer;
}

/**
 * `y = table[indices]`: row `i` of the table for each index, so
 * `indices: [...] (int32) → y: [..., dim]`. The gradient scatter-adds into the
 * rows that were picked (see `gl.ag.gather`).
 *
 * Init (PyTorch's default): table ~ N(0, 1).
 *
 * Reference: `torch.nn.Embedding(num_embeddings, embedding_dim)` (no padding_idx,
 * no max_norm). Introduced in notebooks/01-backprop/02-tensors.
 */
export class Embedding extends Module<Operand | number[] | number[][]> {
  /** Number of rows (vocabulary size). */
  readonly numEmbeddings: number;
  /** Width of each row. */
  readonly dim: number;
  /** The table `[numEmbeddings, dim]`. */
  readonly weight: Tensor;

  constructor(numEmbeddings: number, dim: number, { rng, init = normal() }: EmbeddingOptions = {}) {
    super();
    const who = `Embedding(${numEmbeddings}, ${dim})`;
    this.numEmbeddings = positiveInt(who, 'numEmbeddings', numEmbeddings);
    this.dim = positiveInt(who, 'dim', dim);
    fn(who, 'init', init);
    this.weight = param(init([numEmbeddings, dim], toRng(who, rng), { fanIn: numEmbeddings, fanOut: dim }), { label: 'weight' });
  }

  protected override ownParameters(): [string, Tensor][] {
    return [['weight', this.weight]];
  }

  /** Rows of the table for int32 `indices` (a tensor or nested arrays of integers in [0, numEmbeddings)). */
  forward(indices: Operand | number[] | number[][]): Tensor {
    return gather(this.weight, indices);
  }

  override describe(): string {
    return `Embedding(${this.numEmbeddings}, ${this.dim})`;
  }
}
