/**
 * How an op enters the graph: `record(op, inputs, forward, rules)` runs the
 * forward on tfjs kernels and, when gradients are wanted, attaches one backward
 * rule per input (`∂L/∂x_i` from `dy = ∂L/∂y`). Every op in `ops/` is one call
 * to it, and it is public so you can write your own op the same way.
 *
 * Each rule declares what it reads (`saves: [1]` for input 1, `'y'` for the
 * output), as tfjs-core's gradient configs and PyTorch's `ctx.save_for_backward`
 * do, and the node keeps exactly that for the rules whose input needs a
 * gradient, nothing more: `matmul(x, W)` with only W trainable keeps x, not W's
 * product. Inputs have fixed positions: an absent optional input is `null`, so
 * input 2 is always input 2.
 *
 * Introduced in notebooks/01-backprop/02-tensors.
 */
import { tf } from '../backend/tf';
import { castPolicy, currentRegion, type CastPlan, type EmulatedDtype, type RoundFn } from './cast';
import { debugCheckOutput, isDebug, isGradEnabled } from './mode';
import { adopt, hold } from './refs';
import { fmt } from './shape';
import { lift, Tensor, type Operand } from './tensor';

/** What a rule may read: input `i`'s forward value (`x(i)`), the output (`y()`), and the forward's `saved` extras. */
export interface RuleContext {
  /** Input `i`'s forward value; the rule must list `i` in its `saves`. */
  x(i: number): tf.Tensor;
  /** The op's output; the rule must list `'y'` in its `saves`. */
  y(): tf.Tensor;
  /** What the forward returned in `saved`, in order (kept whenever any rule is active). */
  saved: tf.Tensor[];
}

/** A rule's body: `∂L/∂x_i` from `dy = ∂L/∂y`, with exactly `x_i`'s shape. Runs inside `tf.tidy`. */
export type RuleFn = (dy: tf.Tensor, ctx: RuleContext) => tf.Tensor;

/** What a rule keeps from the forward: input indices and/or `'y'` (the output). */
export type Save = number | 'y';

/**
 * The backward rule for one input: `{ saves, grad }`, where `saves` lists the
 * forward values `grad` reads (default none: the rule uses only `dy`). A bare
 * function is a rule that saves every input and the output (simple, and what
 * a quick custom op wants; ops in `ops/` declare exactly). `null` marks an
 * input with no gradient (indices, conditions) or an absent one.
 */
export type Rule = { saves?: readonly Save[]; grad: RuleFn } | RuleFn | null;

/**
 * The forward on tfjs kernels: the output, or the output plus tensors that only
 * the backward rules need (freed with the graph). Absent (`null`) inputs arrive
 * as `null`. Runs inside `tf.tidy`.
 */
export type Forward = (x: tf.Tensor[]) => tf.Tensor | { y: tf.Tensor; saved: tf.Tensor[] };

/** A rule as `{ saves, grad }` (a bare function saves everything). */
function normalise(rule: Exclude<Rule, null>, n: number): { saves: readonly Save[]; grad: RuleFn } {
  if (typeof rule !== 'function') return { saves: rule.saves ?? [], grad: rule.grad };
  return { saves: [...Array.from({ length: n }, (_, i) => i), 'y'], grad: rule };
}

/**
 * Run `forward` on the inputs' data and record the result as a node whose
 * backward applies `rules[i]` for each input `i` that requires grad.
 * Inputs that are numbers become float32 constants; tfjs tensors are borrowed;
 * `null` is an absent optional input (its rule must be `null`).
 * Under {@link noGrad}, or when no input requires grad, nothing is saved.
 * In debug mode a non-finite output throws here, naming this op.
 * Under a cast policy (`precision.autocast`, see cast.ts) the inputs are cast and
 * the output rounded and tagged as the policy plans; inputs tagged with a lower
 * precision follow PyTorch's type promotion even without one.
 *
 * @example
 * // y = x³, ∂y/∂x = 3x²: the rule reads input 0, so it saves it
 * const cube = (x: Operand) =>
 *   record('cube', [x], ([a]) => tf.pow(a, 3), [{ saves: [0], grad: (dy, s) => tf.mul(dy, tf.mul(3, tf.square(s.x(0)))) }]);
 *
 * Reference: `torch.autograd.Function` (forward + `ctx.save_for_backward` + backward).
 * Introduced in notebooks/01-backprop/02-tensors.
 */
export function record(op: string, inputs: (Operand | null)[], forward: Forward, rules: Rule[]): Tensor {
  if (rules.length !== inputs.length) throw new Error(`gradlab bug: ${op} has ${inputs.length} inputs but ${rules.length} rules`);
  let lifted = inputs.map((x) => (x === null ? null : lift(x)));
  const policy = castPolicy();
  let plan: CastPlan | null = null;
  let round: RoundFn | null = null;
  if (!casting && (policy !== null || anyTagged(lifted))) {
    // Mixed precision (cast.ts): the policy's plan, or type promotion among tagged inputs.
    const dtypes = lifted.map(dtypeOf);
    plan = policy?.plan(op, currentRegion(), dtypes) ?? { inputs: dtypes.map(() => null), output: promote(dtypes) };
    round = policy?.round ?? lifted.find((p) => p?._cast)?._cast?.round ?? null;
    if (plan !== null && round !== null) lifted = castInputs(lifted, dtypes, plan, round);
  }
  let out: { y: tf.Tensor; saved: tf.Tensor[] };
  try {
    const x = lifted.map((p) => (p ? p.data : null)) as tf.Tensor[];
    out = tf.tidy(() => {
      const r = forward(x);
      const o = r instanceof tf.Tensor ? { y: r, saved: [] as tf.Tensor[] } : r;
      if (plan !== null && round !== null && plan.output !== 'float32' && o.y.dtype === 'float32') o.y = round(o.y, plan.output);
      return o;
    });
    const bad = isDebug() ? debugCheckOutput(op, out.y, lifted.filter((p): p is Tensor => p !== null)) : null;
    if (bad) {
      tf.dispose([out.y, ...out.saved]);
      throw new Error(bad);
    }
  } catch (e) {
    for (const p of lifted) if (p?.op === 'const' || (p?.op === 'cast' && !inputs.includes(p))) p.dispose(); // constants and casts made for this call only
    throw e;
  }
  const active = rules.map((rule, i) => isGradEnabled() && rule !== null && lifted[i]?.requiresGrad === true);
  const requiresGrad = active.some(Boolean);
  const specs = rules.map((rule) => (rule === null ? null : normalise(rule, inputs.length)));
  // Keep what the active rules read: another reference to the same tensor (refs.ts), no copy.
  const keepX = new Set<number>();
  let keepY = false;
  specs.forEach((s, i) => {
    if (!s || !active[i]) return;
    for (const v of s.saves) v === 'y' ? (keepY = true) : keepX.add(v);
  });
  const savedX = lifted.map((p, i) => (requiresGrad && p && keepX.has(i) ? hold(p.data) : null));
  const savedY = requiresGrad && keepY ? adopt(out.y) : null;
  const saved = requiresGrad ? out.saved.map((s) => adopt(s)) : []; // an extra that is y itself is one more reference to it
  if (!requiresGrad) tf.dispose(out.saved.filter((s) => s !== out.y));
  const parents = lifted.filter((p): p is Tensor => p !== null);
  const slot = lifted.map((p, i) => (p ? i : -1)).filter((i) => i >= 0); // parent k is input slot[k]
  const node: Tensor = new Tensor(out.y, {
    op,
    parents,
    requiresGrad,
    saved: requiresGrad ? saved : [],
    savedX,
    savedY,
    backward: requiresGrad
      ? (dy, needs) => {
          const grads: (tf.Tensor | null)[] = [];
          try {
            slot.forEach((i, k) => {
              const spec = specs[i];
              if (!needs[k] || !spec) return void grads.push(null);
              const ctx = context(op, i, spec.saves, node);
              const g = tf.tidy(() => spec.grad(dy, ctx));
              // A rule may pass a tensor straight through (`∂(a+b)/∂a = 1`): give the
              // parent its own handle (tf.clone shares the buffer), so freeing one frees nothing else.
              const held = g === dy || g === node._savedY || node._savedX.includes(g) || node._saved.includes(g);
              grads.push(held ? tf.clone(g) : g);
            });
          } catch (e) {
            tf.dispose(grads.filter((g): g is tf.Tensor => g !== null)); // the gradients already computed
            throw e;
          }
          return grads;
        }
      : null,
  });
  if (plan !== null && round !== null && plan.output !== 'float32' && node.data.dtype === 'float32') node._cast = { dtype: plan.output, round };
  return node;
}

/** Whether an input carries a lower-precision tag (a plain loop: this runs for every op). */
function anyTagged(lifted: readonly (Tensor | null)[]): boolean {
  for (let i = 0; i < lifted.length; i++) if (lifted[i]?._cast) return true;
  return false;
}

/** True while castInputs records a cast node (which the plan must not touch). */
let casting = false;

/** An input's emulated dtype for a cast policy: null for numbers (constants) and non-float data. */
function dtypeOf(p: Tensor | null): EmulatedDtype | null {
  if (p === null || p.op === 'const' || p.data.dtype !== 'float32') return null;
  return p._cast?.dtype ?? 'float32';
}

/**
 * PyTorch's type promotion among floating dtypes: the one dtype when all agree,
 * else float32 (float16 with bfloat16 gives float32, as `torch.result_type`).
 */
export function promote(dtypes: readonly (EmulatedDtype | null)[]): EmulatedDtype {
  let out: EmulatedDtype | null = null;
  for (const d of dtypes) {
    if (d === null || d === out) continue;
    if (out === null) out = d;
    else return 'float32';
  }
  return out ?? 'float32';
}

/**
 * The inputs as the plan wants them: an input cast to a lower precision goes through
 * a `cast` node (`y = round(x)`, tagged; its backward passes dy on, and the gradient
 * reaching the cast is already rounded to its dtype); a cast up to float32 changes no
 * value and is left to the op, whose gradient for that input is rounded where it arrives.
 */
function castInputs(lifted: (Tensor | null)[], dtypes: readonly (EmulatedDtype | null)[], plan: CastPlan, round: RoundFn): (Tensor | null)[] {
  return lifted.map((p, i) => {
    const to = plan.inputs[i] ?? null;
    if (p === null || to === null || to === 'float32' || dtypes[i] === null || dtypes[i] === to) return p;
    casting = true;
    try {
      const c = record('cast', [p], ([a]) => round(a as tf.Tensor, to), [{ grad: (dy) => dy }]);
      c._cast = { dtype: to, round };
      return c;
    } finally {
      casting = false;
    }
  });
}

/** The context rule `i` sees: only the values it declared in `saves`. */
function context(op: string, i: number, saves: readonly Save[], node: Tensor): RuleContext {
  const missing = (what: string) =>
    new Error(`gradlab bug: the backward rule of ${op} for input ${i} reads ${what}, which it does not list in saves [${saves.join(', ')}]`);
  return {
    x: (j) => {
      const t = saves.includes(j) ? node._savedX[j] : null;
      if (!t) throw missing(`input ${j}`);
      if (t.isDisposed) {
        throw new Error(
          `backward of ${op}: input ${j} (a tfjs tensor ${fmt(t.shape)} passed to ${op}, borrowed) was disposed before backward; ` +
            'keep it alive until backward() has run, or pass it as a gradlab tensor (ag.tensor)',
        );
      }
      return t;
    },
    y: () => {
      if (!saves.includes('y') || !node._savedY) throw missing('the output y');
      return node._savedY;
    },
    saved: node._saved,
  };
}
