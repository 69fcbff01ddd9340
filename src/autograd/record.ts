/**
 * How an op enters the graph: `record(op, inputs, forward, rules)` runs the
 * forward on tfjs kernels and, when gradients are wanted, attaches one backward
 * rule per input (`∂L/∂x_i` from `dy = ∂L/∂y`). Every op in `ops/` is one call
 * to it, and it is public so you can write your own op the same way.
 *
 * Introduced in notebooks/01-backprop/02-tensors.
 */
import { tf } from '../backend/tf';
import { firstNonFinite, isDebug, isGradEnabled } from './mode';
import { fmt } from './shape';
import { lift, Tensor, type Operand } from './tensor';

/** What a backward rule may read: the inputs' values `x`, the output `y`, and the forward's saved tensors. */
export interface RuleContext {
  /** The inputs' forward values, in order. */
  x: tf.Tensor[];
  /** The op's output. */
  y: tf.Tensor;
  /** What the forward returned in `saved`, in order. */
  saved: tf.Tensor[];
}

/**
 * The backward rule for one input: given `dy = ∂L/∂y`, return `∂L/∂x_i`
 * (a vector-Jacobian product) with exactly `x_i`'s shape. `null` marks an input
 * with no gradient (indices, conditions). Runs inside `tf.tidy`.
 */
export type Rule = ((dy: tf.Tensor, ctx: RuleContext) => tf.Tensor) | null;

/**
 * The forward on tfjs kernels: the output, or the output plus tensors that only
 * the backward rules need (freed with the graph). Runs inside `tf.tidy`.
 */
export type Forward = (x: tf.Tensor[]) => tf.Tensor | { y: tf.Tensor; saved: tf.Tensor[] };

/**
 * Run `forward` on the inputs' data and record the result as a node whose
 * backward applies `rules[i]` for each input `i` that requires grad.
 * Inputs that are numbers become float32 constants; tfjs tensors are borrowed.
 * Under {@link noGrad}, or when no input requires grad, nothing is saved.
 * In debug mode a non-finite output throws here, naming this op.
 *
 * @example
 * // y = x³, ∂y/∂x = 3x²
 * const cube = (x: Operand) =>
 *   record('cube', [x], ([a]) => tf.pow(a, 3), [(dy, { x: [a] }) => tf.mul(dy, tf.mul(3, tf.square(a)))]);
 *
 * Reference: `torch.autograd.Function` (forward + backward). Introduced in notebooks/01-backprop/02-tensors.
 */
export function record(op: string, inputs: Operand[], forward: Forward, rules: Rule[]): Tensor {
  if (rules.length !== inputs.length) throw new Error(`gradlab bug: ${op} has ${inputs.length} inputs but ${rules.length} rules`);
  const parents = inputs.map(lift);
  let out: { y: tf.Tensor; saved: tf.Tensor[] };
  try {
    const x = parents.map((p) => p.data);
    out = tf.tidy(() => {
      const r = forward(x);
      if (r instanceof tf.Tensor) return { y: r, saved: [] as tf.Tensor[] };
      // A saved tensor that is the output itself gets its own handle, so freeing saved never frees y.
      return { y: r.y, saved: r.saved.map((s) => (s === r.y ? tf.clone(s) : s)) };
    });
    if (isDebug()) checkForward(op, parents, out);
  } catch (e) {
    for (const p of parents) if (p.op === 'const') p.dispose(); // constants made for this call only
    throw e;
  }
  const requiresGrad = isGradEnabled() && parents.some((p, i) => p.requiresGrad && rules[i] !== null);
  if (!requiresGrad) tf.dispose(out.saved);
  const node: Tensor = new Tensor(out.y, {
    op,
    parents,
    requiresGrad,
    saved: requiresGrad ? out.saved : [],
    backward: requiresGrad
      ? (dy, needs) => {
          const ctx: RuleContext = { x: parents.map((p) => p.data), y: node.data, saved: node._saved };
          return rules.map((rule, i) => {
            if (!needs[i] || !rule) return null;
            const g = tf.tidy(() => rule(dy, ctx));
            // A rule may pass a tensor straight through (`∂(a+b)/∂a = 1`): give the
            // parent its own handle (tf.clone shares the buffer), so freeing one frees nothing else.
            return g === dy || g === ctx.y || ctx.x.includes(g) || ctx.saved.includes(g) ? tf.clone(g) : g;
          });
        }
      : null,
  });
  return node;
}

/** Debug mode: throw at the first op whose output is NaN or Inf, saying whether an input already was. */
function checkForward(op: string, parents: Tensor[], out: { y: tf.Tensor; saved: tf.Tensor[] }): void {
  const bad = firstNonFinite(out.y);
  if (!bad) return;
  const inputs = parents.map((p, i) => {
    const b = firstNonFinite(p.data);
    return `input ${i} (${p.describe()}) ${b ? `was already non-finite: ${b}` : 'was finite'}`;
  });
  tf.dispose([out.y, ...out.saved]);
  throw new Error(`debug: ${op} produced a non-finite output ${fmt(out.y.shape)}: ${bad}; ${inputs.join('; ')}`);
}
