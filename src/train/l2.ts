/**
 * The coupled L2 penalty as an engine op, to contrast with decoupled weight decay.
 * Introduced in notebooks/02-optim.
 */
import { tf } from '../backend/tf';
import { record, type Tensor } from '../autograd';

/**
 * The L2 penalty `(λ/2)·Σ_i ‖w_i‖²` over `params` as one op of the engine, a
 * scalar to add to the loss. Its gradient is `∂/∂w_i = λ·w_i`, so
 * `loss + l2Penalty(params, λ)` gives every parameter the gradient `g + λw`:
 * exactly the coupled weight decay of `SGD({ weightDecay: λ })` and
 * `Adam({ weightDecay: λ })` (the tests check SGD bit for bit, Adam within float32
 * rounding). With Adam that decay is then divided by `√v̂`, so weights with large
 * gradients are decayed less; AdamW's decoupled `θ ← θ(1 − γλ)` is not a term
 * of the loss at all, and decays every weight at the same rate (Loshchilov & Hutter 2019).
 *
 * Forward: `λ/2 · Σ_i sum(w_i²)` (float32). Backward: `∂L/∂w_i = dy·(w_i·λ)`
 * (the rule saves each `w_i`, no copy). Parameters without `requiresGrad` add to
 * the value and get no gradient. λ must be a finite number ≥ 0.
 * ```ts
 * const loss = ag.add(nn.crossEntropy(model.forward(x), y), train.l2Penalty(model.parameters(), 1e-4));
 * ```
 * Reference: PyTorch's `weight_decay` in `torch.optim.SGD` / `Adam` (the same gradient);
 * Krogh & Hertz 1991, "A Simple Weight Decay Can Improve Generalization".
 * Introduced in notebooks/02-optim.
 */
export function l2Penalty(params: Iterable<Tensor> | { parameters(): Tensor[] }, lambda: number): Tensor {
  if (typeof lambda !== 'number' || !Number.isFinite(lambda) || lambda < 0) {
    throw new RangeError(`l2Penalty: lambda must be a finite number >= 0 (got ${String(lambda)}); pass the L2 coefficient λ, e.g. 1e-4`);
  }
  const list = params !== null && typeof params === 'object' && typeof (params as { parameters?: unknown }).parameters === 'function'
    ? (params as { parameters(): Tensor[] }).parameters()
    : Array.from(params as Iterable<Tensor>);
  if (list.length === 0) throw new RangeError('l2Penalty: got no parameters; pass model.parameters() or a list of ag.param tensors');
  list.forEach((p, i) => {
    if (p.dtype !== 'float32') throw new TypeError(`l2Penalty: params[${i}] (${p.toString()}) is ${p.dtype}; the penalty needs float32 weights`);
  });
  return record(
    'l2Penalty',
    list,
    // λ/2 · Σ ‖w‖². Not tf.addN: on webgpu it binds every input at once, and with more inputs than the
    // device's storage buffers per shader stage (8 on many adapters) the command buffer is invalid and the sum reads 0.
    (ws) => tf.mul(tf.sum(tf.stack(ws.map((w) => tf.sum(tf.square(w))))), lambda / 2),
    list.map((_, i) => ({ saves: [i], grad: (dy: tf.Tensor, s) => tf.mul(dy, tf.mul(s.x(i), lambda)) })), // ∂/∂w_i = λ·w_i
  );
}
