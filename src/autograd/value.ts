/**
 * The scalar engine: one number per node, for deriving backprop by hand.
 * Each op computes its output and, right beside it, the closure that applies
 * its local derivative (the chain rule: `child.grad += ∂out/∂child · out.grad`).
 * `+=` matters: a value used twice receives the sum of both paths.
 *
 * After karpathy/micrograd's engine.py. Introduced in notebooks/01-backprop/01-chain-rule.
 */

/** A number or a {@link Value}: what every op accepts. */
export type Scalar = Value | number;

const lift = (x: Scalar): Value => (x instanceof Value ? x : new Value(x));

/**
 * A scalar in a computation graph: `data` is its value, `grad` is `∂L/∂this`
 * after `L.backward()` (0 before), `op` the op that made it ('' for inputs),
 * `label` a name for displays.
 *
 * @example
 * const x = new Value(2, 'x');
 * const y = x.mul(x).add(x);   // y = x² + x = 6
 * y.backward();                 // x.grad = 2x + 1 = 5
 *
 * Reference: micrograd's `Value`; the PyTorch equivalent is a 0-d tensor with
 * `requires_grad=True`. Introduced in notebooks/01-backprop/01-chain-rule.
 */
export class Value {
  /** `∂L/∂this` after `L.backward()`; 0 before. */
  grad = 0;
  /** Inputs of the op that produced this value (in operand order; may repeat). */
  readonly prev: readonly Value[];
  private backwardStep: () => void = () => {};

  /**
   * @param data the value
   * @param label a name for displays (`'x'`)
   * @param op the op that made it; '' for inputs (set by the ops)
   * @param prev the op's inputs (set by the ops)
   */
  constructor(
    public data: number,
    public label = '',
    public readonly op = '',
    prev: Value[] = [],
  ) {
    this.prev = prev;
  }

  /** `a + b`: ∂/∂a = 1, ∂/∂b = 1. */
  add(other: Scalar): Value {
    const o = lift(other);
    const out = new Value(this.data + o.data, '', '+', [this, o]);
    out.backwardStep = () => {
      this.grad += out.grad;
      o.grad += out.grad;
    };
    return out;
  }

  /** `a · b`: ∂/∂a = b, ∂/∂b = a. */
  mul(other: Scalar): Value {
    const o = lift(other);
    const out = new Value(this.data * o.data, '', '*', [this, o]);
    out.backwardStep = () => {
      this.grad += o.data * out.grad;
      o.grad += this.data * out.grad;
    };
    return out;
  }

  /** `aᵇ`: ∂/∂a = b·aᵇ⁻¹; ∂/∂b = aᵇ·ln a (a Value exponent; 0 when a = 0). A number exponent shows as op `**3`. */
  pow(other: Scalar): Value {
    const o = lift(other);
    const constant = typeof other === 'number';
    const out = new Value(this.data ** o.data, '', constant ? `**${other}` : '**', constant ? [this] : [this, o]);
    out.backwardStep = () => {
      // b = 0: y ≡ 1 and ∂y/∂a = 0 (PyTorch's convention), not 0·0⁻¹ = NaN at a = 0
      this.grad += (o.data === 0 ? 0 : o.data * this.data ** (o.data - 1)) * out.grad;
      if (!constant) o.grad += (this.data === 0 ? 0 : out.data * Math.log(this.data)) * out.grad;
    };
    return out;
  }

  /** `eᵃ`: ∂/∂a = eᵃ (the output itself). */
  exp(): Value {
    const out = new Value(Math.exp(this.data), '', 'exp', [this]);
    out.backwardStep = () => {
      this.grad += out.data * out.grad;
    };
    return out;
  }

  /** `ln a`: ∂/∂a = 1/a. */
  log(): Value {
    const out = new Value(Math.log(this.data), '', 'log', [this]);
    out.backwardStep = () => {
      this.grad += (1 / this.data) * out.grad;
    };
    return out;
  }

  /** `tanh a`: ∂/∂a = 1 − tanh²a. */
  tanh(): Value {
    const out = new Value(Math.tanh(this.data), '', 'tanh', [this]);
    out.backwardStep = () => {
      this.grad += (1 - out.data ** 2) * out.grad;
    };
    return out;
  }

  /** `σ(a) = 1/(1 + e⁻ᵃ)`: ∂/∂a = σ(a)(1 − σ(a)). */
  sigmoid(): Value {
    const out = new Value(1 / (1 + Math.exp(-this.data)), '', 'sigmoid', [this]);
    out.backwardStep = () => {
      this.grad += out.data * (1 - out.data) * out.grad;
    };
    return out;
  }

  /** `max(a, 0)`: ∂/∂a = 1 if a > 0 else 0. */
  relu(): Value {
    const out = new Value(Math.max(this.data, 0), '', 'relu', [this]);
    out.backwardStep = () => {
      this.grad += (out.data > 0 ? 1 : 0) * out.grad;
    };
    return out;
  }

  // Built from the primitives above, as in micrograd:
  /** `−a = a · (−1)`. */
  neg(): Value {
    return this.mul(-1);
  }
  /** `a − b = a + (−b)`. */
  sub(other: Scalar): Value {
    return this.add(lift(other).neg());
  }
  /** `a / b = a · b⁻¹`. */
  div(other: Scalar): Value {
    return this.mul(lift(other).pow(-1));
  }

  /** Give this value a label (for graph displays); returns this. */
  named(label: string): this {
    this.label = label;
    return this;
  }

  /**
   * Backpropagate from this value: set `grad = 1` here and apply each node's
   * local-derivative step in reverse topological order (a node only after every
   * value that used it), so each `grad` is complete before it is passed on.
   * Gradients accumulate: reset them (`grad = 0`) before a second call.
   */
  backward(): void {
    const topo: Value[] = [];
    const visited = new Set<Value>();
    const build = (v: Value): void => {
      if (visited.has(v)) return;
      visited.add(v);
      for (const child of v.prev) build(child);
      topo.push(v);
    };
    build(this);
    this.grad = 1;
    for (const v of topo.reverse()) v.backwardStep();
  }

  /** `Value(x=2, grad=5)`. */
  toString(): string {
    return `Value(${this.label ? `${this.label}=` : ''}${this.data}, grad=${this.grad})`;
  }
}

/** A node of {@link graph}'s output. */
export interface GraphNode {
  id: number;
  label: string;
  op: string;
  data: number;
  grad: number;
}

/**
 * The computation graph under `root`, for plotting: every value once (ids in
 * topological order, inputs first, root last) and one edge `{from, to}` per
 * distinct input → output pair (`x*x` draws one edge from x).
 *
 * Reference: the graph micrograd's `draw_dot` renders. Introduced in notebooks/01-backprop/01-chain-rule.
 */
export function graph(root: Value): { nodes: GraphNode[]; edges: { from: number; to: number }[] } {
  const ids = new Map<Value, number>();
  const nodes: GraphNode[] = [];
  const edges: { from: number; to: number }[] = [];
  const visit = (v: Value): number => {
    const known = ids.get(v);
    if (known !== undefined) return known;
    const inputs = [...new Set(v.prev)].map(visit);
    const id = nodes.length;
    ids.set(v, id);
    nodes.push({ id, label: v.label, op: v.op, data: v.data, grad: v.grad });
    for (const from of inputs) edges.push({ from, to: id });
    return id;
  };
  visit(root);
  return { nodes, edges };
}
