/**
 * Cross-entropy over a batch of sequences, for next-token prediction trained
 * with teacher forcing.
 *
 * Introduced in notebooks/01-backprop/06-losses.
 */
import { tf } from '../../backend/tf';
import { slice } from '../../autograd/ops';
import { fmt, ShapeError } from '../../autograd/shape';
import { scoped } from '../../autograd/scope';
import { Tensor, type Operand } from '../../autograd/tensor';
import { crossEntropy, type CrossEntropyOptions, type Targets } from './cross-entropy';

/** Options of {@link sequenceCrossEntropy}: those of crossEntropy, plus `shift`. */
export interface SequenceCrossEntropyOptions extends CrossEntropyOptions {
  /**
   * false (default): `targets[b, t]` is already the token that `logits[b, t]` predicts.
   * true: `targets` are the input tokens themselves, and the loss compares
   * `logits[:, :T−1]` with `targets[:, 1:]` (the shift done for you, as Hugging Face
   * causal LMs do with `labels = input_ids`).
   */
  shift?: boolean;
}

/**
 * Teacher forcing: the model reads the true tokens `x₀ … x_{T−1}` and, at every
 * position t at once, predicts the next one; the loss is the cross-entropy of
 * logits `[B, T, V]` against the tokens one step ahead,
 * `L = (1/n) Σ_{b,t} ℓ(logits[b,t], targets[b,t])` over the n non-ignored
 * positions of the whole batch (a token-level mean, not a mean of per-sequence means;
 * use ignoreIndex for padding).
 *
 * The convention, with `tokens: [B, T+1]`:
 * - `shift: false` (default): call with `logits = model(tokens[:, :T])` and
 *   `targets = tokens[:, 1:]`, both T long: `targets[b, t]` is what `logits[b, t]` predicts.
 * - `shift: true`: call with `logits = model(tokens)` and `targets = tokens`
 *   (both T+1 long); the last logit (which has no next token) and the first target
 *   (which nothing predicts) are dropped. 'none' then returns `[B, T]`.
 *
 * Reference: `F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))`, as in
 * nanoGPT and Hugging Face's `ForCausalLMLoss`. Introduced in notebooks/01-backprop/06-losses.
 */
export function sequenceCrossEntropy(logits: Operand, targets: Targets, options: SequenceCrossEntropyOptions = {}): Tensor {
  // A scope: when crossEntropy rejects an option or a target, what was made here is freed.
  return scoped(() => sequenceLoss(logits, targets, options), 'sequenceCrossEntropy').result;
}

function sequenceLoss(logits: Operand, targets: Targets, options: SequenceCrossEntropyOptions): Tensor {
  const { shift = false, ...rest } = options;
  if (typeof shift !== 'boolean') throw new Error(`sequenceCrossEntropy: shift must be true or false, got ${String(shift)}`);
  const sz = typeof logits === 'number' ? [] : logits.shape.slice();
  const st = Array.isArray(targets) ? [targets.length, Array.isArray(targets[0]) ? targets[0].length : -1] : targets.shape.slice();
  if (sz.length !== 3 || st.length !== 2 || st[0] !== sz[0] || st[1] !== sz[1]) {
    throw new ShapeError(`sequenceCrossEntropy: logits ${fmt(sz)} and targets ${fmt(st)}: expected logits [B, T, V] and targets [B, T]`);
  }
  if (!shift) return crossEntropy(logits, targets, rest);
  const [B, T, V] = sz as [number, number, number];
  if (T < 2) throw new ShapeError(`sequenceCrossEntropy: shift needs T >= 2 (a token and its successor), got logits ${fmt(sz)}`);
  let next: Targets;
  if (Array.isArray(targets)) {
    next = (targets as number[][]).map((row) => row.slice(1));
  } else {
    const t = targets instanceof Tensor ? targets.data : targets;
    if (t.dtype !== 'int32') return crossEntropy(logits, targets, rest); // crossEntropy names the dtype error
    next = new Tensor(tf.slice(t, [0, 1], [B, T - 1]), { op: 'const' }); //   owned by the loss's graph
  }
  return crossEntropy(slice(logits, [0, 0, 0], [B, T - 1, V]), next, rest);
}
