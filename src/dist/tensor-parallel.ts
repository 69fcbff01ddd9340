/**
 * Tensor parallelism as in Megatron-LM (Shoeybi et al. 2019, §3): one linear
 * layer's weight split across N ranks, by output columns ({@link ColumnParallelLinear})
 * or by input rows ({@link RowParallelLinear}), and the MLP that chains them
 * ({@link TensorParallelMLP}: column → GELU → row) with exactly one all-reduce in
 * the forward pass and one in the backward pass.
 *
 * Layout as gradlab's `Linear`: `W` is `[in, out]`, `y = x W + b`.
 *
 * The engine is synchronous and collectives are async, so the forward and the
 * backward are engine segments joined at the two communication points: a
 * segment is computed, its value all-reduced, and the next segment starts from a
 * fresh leaf; in the backward the earlier segment is seeded with the gradient
 * that arrived at that leaf.
 *
 * Introduced in notebooks/04-distributed/03-tensor-pipeline.
 *
 * @module
 */
import { tf } from '../backend/tf';
import { add, gelu, tensor, type Operand, type Tensor } from '../autograd';
import { linear } from '../nn/functional';
import { allReduce, chunkStart } from './collectives';
import type { ProcessGroup } from './group';

/** The part `[start, end)` of an axis of length `len` that rank `rank` of `n` holds. */
export interface ShardRange {
  /** First index held. */
  start: number;
  /** One past the last index held. */
  end: number;
  /** `end − start`. */
  size: number;
}

/**
 * The slice of an axis of length `len` that rank `rank` of `n` holds, cut as the
 * collectives cut ({@link chunkStart}: sizes differ by at most one, so a width
 * not divisible by `n` is fine). Throws if `len < n` (a rank would hold nothing):
 * use fewer ranks or a wider layer.
 *
 * Introduced in notebooks/04-distributed/03-tensor-pipeline.
 */
export function shardRange(len: number, n: number, rank: number, who = 'shardRange'): ShardRange {
  if (!Number.isInteger(len) || !Number.isInteger(n) || n < 1 || !Number.isInteger(rank) || rank < 0 || rank >= n) {
    throw new Error(`${who}: need integers len, n ≥ 1 and 0 ≤ rank < n, got len = ${len}, n = ${n}, rank = ${rank}`);
  }
  if (len < n) throw new Error(`${who}: cannot split an axis of ${len} across ${n} ranks (a rank would hold nothing); use at most ${len} ranks or a wider layer`);
  const start = chunkStart(len, n, rank), end = chunkStart(len, n, rank + 1);
  return { start, end, size: end - start };
}

/** Communication a tensor-parallel module did: all-reduce calls and the float32 elements they reduced. */
export interface TPComm {
  /** All-reduce calls. */
  allReduces: number;
  /** Elements all-reduced (each call counts its tensor's size once). */
  elements: number;
}

/** All-reduce (sum) a tfjs tensor's values across the group; returns a new tensor (the caller owns it). Reads back asynchronously (works on webgpu). */
async function allReduceValue(pg: ProcessGroup, t: tf.Tensor, comm: TPComm): Promise<tf.Tensor> {
  const v = Float32Array.from(await t.data()); // a copy: the cpu backend hands out its own buffer
  await allReduce(pg, v);
  comm.allReduces++;
  comm.elements += v.length;
  return tf.tensor(v, t.shape, 'float32');
}

function check2d(who: string, name: string, t: tf.Tensor): void {
  if (!(t instanceof tf.Tensor) || t.rank !== 2) throw new Error(`${who}: ${name} must be a 2-D tfjs tensor [in, out], got ${t instanceof tf.Tensor ? `shape [${t.shape}]` : typeof t}`);
}

/**
 * What the column- and row-parallel layers share: a shard of a dense `[in, out]`
 * weight cut along one axis (`'columns'`: output columns, with the matching
 * slice of the bias; `'rows'`: input rows, with the whole bias), its widths and
 * its communication count.
 */
abstract class ParallelLinear {
  /** This rank's shard of the weight, a trainable leaf. */
  readonly weight: Tensor;
  /** This rank's bias (a slice for columns, the whole bias for rows), or null. */
  readonly bias: Tensor | null;
  /** The part of the split axis this rank holds. */
  readonly range: ShardRange;
  /** Full input width. */
  readonly inFeatures: number;
  /** Full output width. */
  readonly outFeatures: number;
  /** Communication done so far. */
  readonly comm: TPComm = { allReduces: 0, elements: 0 };

  protected constructor(readonly pg: ProcessGroup, weight: tf.Tensor, bias: tf.Tensor | null, who: string, split: 'columns' | 'rows') {
    check2d(who, 'weight', weight);
    const [inF, outF] = weight.shape as [number, number];
    if (bias && (bias.rank !== 1 || bias.shape[0] !== outF)) throw new Error(`${who}: bias must be [${outF}] to match weight [${inF}, ${outF}], got [${bias.shape}]`);
    this.inFeatures = inF;
    this.outFeatures = outF;
    if (split === 'columns') {
      this.range = shardRange(outF, pg.worldSize, pg.rank, `${who} (output columns)`);
      const { start, size } = this.range;
      this.weight = tensor(tf.slice(weight, [0, start], [inF, size]), { requiresGrad: true, label: `W[:, ${start}:${start + size}]` });
      this.bias = bias ? tensor(tf.slice(bias, [start], [size]), { requiresGrad: true, label: `b[${start}:${start + size}]` }) : null;
    } else {
      this.range = shardRange(inF, pg.worldSize, pg.rank, `${who} (input rows)`);
      const { start, size } = this.range;
      this.weight = tensor(tf.slice(weight, [start, 0], [size, outF]), { requiresGrad: true, label: `W[${start}:${start + size}, :]` });
      this.bias = bias ? tensor(tf.clone(bias), { requiresGrad: true, label: 'b' }) : null;
    }
  }

  /** This rank's parameters. */
  parameters(): Tensor[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }

  /** Free the shards. */
  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }
}

/**
 * A linear layer whose weight is split by output columns (Megatron's column
 * parallelism): rank r of N holds `W[:, c_r]` and `b[c_r]`, the columns
 * `c_r = [chunkStart(out, N, r), chunkStart(out, N, r+1))`, and computes
 * `Y_r = X W[:, c_r] + b[c_r]`, its columns of the output, with no communication.
 *
 * - Forward: Megatron's `f` is the identity (every rank already has the whole `X`).
 * - Backward: `∂L/∂X = Σ_r ∂L/∂Y_r · W[:, c_r]ᵀ`, each rank holding one term, so
 *   `f`'s backward is an all-reduce (sum) of the input gradient
 *   ({@link ColumnParallelLinear.reduceInputGrad}): `B · in` floats per layer.
 *   The weight and bias gradients of a shard need no communication.
 *
 * Built from a dense layer's `[in, out]` weight (borrowed, sliced) so it can be
 * compared with that layer. The output width need not be divisible by N (shards
 * differ by one column), but must be ≥ N.
 *
 * Reference: Shoeybi et al. 2019, "Megatron-LM", §3 and Figure 3a (f);
 * `megatron.core.tensor_parallel.ColumnParallelLinear`.
 * Introduced in notebooks/04-distributed/03-tensor-pipeline.
 */
export class ColumnParallelLinear extends ParallelLinear {
  /** Shards `W[:, c_r]` (`[in, size]`) and `b[c_r]` of a dense `[in, out]` weight and `[out]` bias (borrowed). */
  constructor(pg: ProcessGroup, weight: tf.Tensor, bias: tf.Tensor | null = null) {
    super(pg, weight, bias, 'ColumnParallelLinear', 'columns');
  }

  /** `X W[:, c_r] + b[c_r]`: this rank's output columns (`f` = identity, no communication). */
  forward(x: Operand): Tensor {
    return linear(x, this.weight, this.bias);
  }

  /** `f`'s backward: all-reduce (sum) the partial input gradients. Returns a new tensor (yours to dispose); `g` is borrowed. */
  reduceInputGrad(g: tf.Tensor): Promise<tf.Tensor> {
    return allReduceValue(this.pg, g, this.comm);
  }
}

/**
 * A linear layer whose weight is split by input rows (Megatron's row
 * parallelism): rank r holds `W[c_r, :]` and takes the matching columns of its
 * input, `X[:, c_r]` (exactly what a {@link ColumnParallelLinear} before it
 * produced), and computes the partial product `Z_r = X[:, c_r] W[c_r, :]`.
 *
 * - Forward: Megatron's `g` is an all-reduce, `Z = Σ_r Z_r` (`B · out` floats
 *   per layer), then the bias, which every rank holds whole, is added once:
 *   `Y = Z + b` ({@link RowParallelLinear.reduce}).
 * - Backward: `g`'s backward is the identity: `∂L/∂Z_r = ∂L/∂Y` on every rank;
 *   `∂L/∂W[c_r, :] = X[:, c_r]ᵀ ∂L/∂Y` and `∂L/∂X[:, c_r] = ∂L/∂Y W[c_r, :]ᵀ` are
 *   local. The bias gradient `Σ_batch ∂L/∂Y` is the same on every rank.
 *
 * Reference: Shoeybi et al. 2019, "Megatron-LM", §3 and Figure 3a (g);
 * `megatron.core.tensor_parallel.RowParallelLinear`.
 * Introduced in notebooks/04-distributed/03-tensor-pipeline.
 */
export class RowParallelLinear extends ParallelLinear {
  /** Shard `W[c_r, :]` (`[size, out]`) of a dense `[in, out]` weight and the whole `[out]` bias (borrowed; the bias is copied). */
  constructor(pg: ProcessGroup, weight: tf.Tensor, bias: tf.Tensor | null = null) {
    super(pg, weight, bias, 'RowParallelLinear', 'rows');
  }

  /** The partial product `X[:, c_r] W[c_r, :]` (no bias: it is added once, after `g`). Ends an engine segment. */
  forward(xShard: Operand): Tensor {
    return linear(xShard, this.weight, null);
  }

  /**
   * `g`: all-reduce the partial products' values into `Z`, a fresh leaf that
   * requires grad (the start of the next segment), and return `{ z, y: Z + b }`.
   * After the backward of `y`'s graph, `z.grad` is `∂L/∂Y`: seed the partial
   * product with it (`partial.backward(z.grad)`, `g`'s identity backward), then
   * dispose `z`.
   */
  async reduce(partial: Tensor): Promise<{ z: Tensor; y: Tensor }> {
    const z = tensor(await allReduceValue(this.pg, partial.data, this.comm), { requiresGrad: true, label: 'Σ_r X_r W_r' });
    return { z, y: this.bias ? add(z, this.bias) : z };
  }
}

/** A dense two-layer MLP's weights, `[in, hidden]`, `[hidden]`, `[hidden, out]`, `[out]`, as gradlab's `Linear` stores them. */
export interface DenseMLPWeights {
  W1: tf.Tensor;
  b1: tf.Tensor;
  W2: tf.Tensor;
  b2: tf.Tensor;
}

/**
 * Megatron's tensor-parallel MLP: `Y = GELU(X W1 + b1) W2 + b2` with `W1` split
 * by columns ({@link ColumnParallelLinear}) and `W2` by rows
 * ({@link RowParallelLinear}) along the same hidden slice `c_r`:
 *
 * `Y = Σ_r GELU(X W1[:, c_r] + b1[c_r]) W2[c_r, :] + b2`
 *
 * GELU acts elementwise, so each rank can apply it to its own hidden columns:
 * no communication between the two matmuls (a row split of `W1` would need an
 * all-reduce before the GELU, because GELU(a + b) ≠ GELU(a) + GELU(b)). So one
 * forward + backward pair does exactly two all-reduces: `g` in the forward
 * (`B · out` floats) and `f`'s backward (`B · in` floats). With a ring all-reduce
 * each rank sends `2(N−1)/N` times that many floats.
 *
 * Use: `const y = await mlp.forward(x)`; compute the loss from `y` and call
 * `loss.backward()`; then `const dx = await mlp.backward()` (the all-reduced
 * `∂L/∂X`, yours to dispose, or null with `inputGrad: false`); then
 * `loss.dispose()`. Parameter gradients accumulate in `.grad` of
 * {@link TensorParallelMLP.parameters} like any leaf.
 *
 * Reference: Shoeybi et al. 2019, "Megatron-LM", §3, Figure 3a.
 * Introduced in notebooks/04-distributed/03-tensor-pipeline.
 */
export class TensorParallelMLP {
  /** `X W1[:, c_r] + b1[c_r]`. */
  readonly fc1: ColumnParallelLinear;
  /** `H[:, c_r] W2[c_r, :]`, all-reduced, `+ b2`. */
  readonly fc2: RowParallelLinear;
  private pending: { xin: Tensor; partial: Tensor; z: Tensor } | null = null;

  /** Shards of the dense MLP `w` (borrowed) for rank `pg.rank`. The hidden width must be ≥ N; it need not be divisible by N. */
  constructor(readonly pg: ProcessGroup, w: DenseMLPWeights) {
    const who = 'TensorParallelMLP';
    check2d(who, 'W1', w.W1);
    check2d(who, 'W2', w.W2);
    if (w.W1.shape[1] !== w.W2.shape[0]) throw new Error(`${who}: W1 [${w.W1.shape}] and W2 [${w.W2.shape}] disagree on the hidden width`);
    this.fc1 = new ColumnParallelLinear(pg, w.W1, w.b1);
    this.fc2 = new RowParallelLinear(pg, w.W2, w.b2);
  }

  /** `[W1 shard, b1 shard, W2 shard, b2]`. */
  parameters(): Tensor[] {
    return [...this.fc1.parameters(), ...this.fc2.parameters()];
  }

  /** Both layers' communication: after k forward + backward pairs, `allReduces = 2k`. */
  get comm(): TPComm {
    return { allReduces: this.fc1.comm.allReduces + this.fc2.comm.allReduces, elements: this.fc1.comm.elements + this.fc2.comm.elements };
  }

  /**
   * Forward: segment 1 (`f` = identity, column matmul, GELU, row matmul), `g`
   * (all-reduce), segment 2 (`+ b2`). `x` (`[B, in]`, the same on every rank) is
   * copied, never freed. Returns `Y`, the start of your loss's graph.
   */
  async forward(x: tf.Tensor | Tensor, { inputGrad = true }: { inputGrad?: boolean } = {}): Promise<Tensor> {
    if (this.pending) throw new Error('TensorParallelMLP.forward: the previous forward has not been backpropagated; call loss.backward() and then await mlp.backward() first');
    const xv = x instanceof tf.Tensor ? x : x.data;
    const xin = tensor(tf.clone(xv), { requiresGrad: inputGrad, label: 'X' });
    const partial = this.fc2.forward(gelu(this.fc1.forward(xin)));
    const { z, y } = await this.fc2.reduce(partial);
    this.pending = { xin, partial, z };
    return y;
  }

  /**
   * Backward, after `loss.backward()` filled `∂L/∂Y`: seed the first segment
   * with it (`g`'s backward = identity), then all-reduce the input gradient
   * (`f`'s backward). Returns `∂L/∂X` (yours to dispose) or null.
   */
  async backward(): Promise<tf.Tensor | null> {
    const p = this.pending;
    if (!p) throw new Error('TensorParallelMLP.backward: no forward to backpropagate; call await mlp.forward(x) first');
    if (!p.z.grad) throw new Error('TensorParallelMLP.backward: ∂L/∂Y is missing; call loss.backward() on a loss computed from the forward output first');
    this.pending = null;
    p.partial.backward(p.z.grad);
    p.partial.dispose();
    p.z.dispose();
    const dx = p.xin.grad ? await this.fc1.reduceInputGrad(p.xin.grad) : null;
    p.xin.dispose();
    return dx;
  }

  /** Free the shards (and a pending forward). */
  dispose(): void {
    if (this.pending) {
      this.pending.partial.dispose();
      this.pending.z.dispose();
      this.pending.xin.dispose();
      this.pending = null;
    }
    this.fc1.dispose();
    this.fc2.dispose();
  }
}
