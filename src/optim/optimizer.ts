/**
 * The shared base of the optimisers: parameter groups with per-group
 * hyper-parameters, per-parameter state (step count and buffers), `step()`,
 * `zeroGrad()`, `stateDict()` / `loadStateDict()` and `dispose()`.
 *
 * Reference: `torch.optim.Optimizer` (PyTorch 1.13). Introduced in notebooks/02-optim.
 */
import { tf } from '../backend/tf';
import type { Tensor } from '../autograd';

/** A parameter group: the tensors it updates and the hyper-parameters it overrides (PyTorch's `param_groups`). */
export type ParamGroup<H> = { params: Tensor[] } & H;

/** What a constructor takes: a list of parameters, or a list of groups that override some hyper-parameters. */
export type ParamsInput<H> = Iterable<Tensor> | ({ params: Iterable<Tensor> } & Partial<H>)[];

/** One parameter's state: how many updates it has had, and its named buffers (e.g. `expAvg`). */
export interface ParamState {
  step: number;
  buffers: Record<string, tf.Tensor>;
}

/** The result of a pure update function: the new parameter value and the new buffers. */
export interface UpdateResult {
  param: tf.Tensor;
  state: Record<string, tf.Tensor>;
}

/**
 * An optimiser's state as plain data: `state[i]` for the i-th parameter in group
 * order (absent until its first update), its buffers as tf.Tensors that the caller
 * owns (clones), and each group's hyper-parameters with `params` as indices.
 * Reference: `torch.optim.Optimizer.state_dict()`.
 */
export interface OptimizerStateDict<H> {
  state: Record<number, { step: number; buffers: Record<string, tf.Tensor> }>;
  paramGroups: ({ params: number[] } & H)[];
}

/** Throw `Name: what must hold, got value` unless `ok`. */
export function check(ok: boolean, name: string, what: string, value: unknown): void {
  if (!ok) throw new Error(`${name}: ${what}, got ${Array.isArray(value) ? `[${value.join(', ')}]` : String(value)}`);
}

/**
 * The base class. Subclasses give the defaults, a validator for one group's
 * hyper-parameters, the buffer names and the pure update function.
 */
export abstract class Optimizer<H extends { lr: number }> {
  /** The groups; `paramGroups[i].lr` (and the others) may be read and written, e.g. by a scheduler. */
  readonly paramGroups: ParamGroup<H>[];
  /** @internal Per-parameter state, keyed by the parameter. */
  protected readonly state = new Map<Tensor, ParamState>();

  protected constructor(
    /** The class name, for error messages. */ readonly name: string,
    params: ParamsInput<H>,
    defaults: H,
  ) {
    const list = Array.from(params as Iterable<unknown>);
    const isGroups = list.length > 0 && list.every((x) => typeof x === 'object' && x !== null && 'params' in x && !('shape' in x));
    const groups = isGroups
      ? (list as ({ params: Iterable<Tensor> } & Partial<H>)[]).map((g) => ({ ...defaults, ...g, params: Array.from(g.params) }))
      : [{ ...defaults, params: list as Tensor[] }];
    const seen = new Set<Tensor>();
    groups.forEach((g, gi) => {
      check(g.params.length > 0 || !isGroups, this.name, `paramGroups[${gi}] has no parameters; give it at least one`, g.params.length);
      for (const p of g.params) {
        check(!seen.has(p), this.name, `a parameter appears twice (in paramGroups[${gi}]); give each parameter to one group only`, p.toString());
        seen.add(p);
        check(p.isLeaf && p.requiresGrad, this.name, `parameters must be leaves with requiresGrad (make them with ag.param)`, p.toString());
      }
      this.validate(g as unknown as H, isGroups ? `paramGroups[${gi}].` : '');
    });
    check(seen.size > 0, this.name, 'got an empty parameter list; pass model.parameters() or a list of ag.param tensors', '[]');
    this.paramGroups = groups as unknown as ParamGroup<H>[];
  }

  /** Throw a named error for a bad hyper-parameter; `where` prefixes the name (`paramGroups[1].`). */
  protected abstract validate(h: H, where: string): void;
  /** The buffers an update keeps for a parameter with these hyper-parameters (for loadStateDict). */
  protected abstract bufferNames(h: H): string[];
  /** The pure update: new param and buffers, in a tf.tidy; `state` is null at the first update, `step` is 1-based. */
  protected abstract update(param: tf.Tensor, grad: tf.Tensor, state: Record<string, tf.Tensor> | null, h: H, step: number): UpdateResult;

  /**
   * One update of every parameter that has a gradient (those with `grad === null`
   * are skipped and keep their state, as in PyTorch). Values are written with
   * `p.assign`, so nothing leaks.
   */
  step(): void {
    for (const g of this.paramGroups) {
      this.validate(g, '');
      for (const p of g.params) {
        if (p.grad === null) continue;
        const st = this.state.get(p);
        const t = (st?.step ?? 0) + 1;
        const res = this.update(p.data, p.grad, st ? st.buffers : null, g, t);
        p.assign(res.param);
        if (st) for (const [k, b] of Object.entries(st.buffers)) if (res.state[k] !== b) b.dispose();
        this.state.set(p, { step: t, buffers: res.state });
      }
    }
  }

  /** Set every parameter's `grad` to null (PyTorch's `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    for (const g of this.paramGroups) for (const p of g.params) p.zeroGrad();
  }

  /** The state of parameter `p` (step and buffers, owned by the optimiser), or undefined before its first update. */
  stateOf(p: Tensor): Readonly<ParamState> | undefined {
    return this.state.get(p);
  }

  /** A snapshot: steps and cloned buffers (yours to dispose) per parameter index, and the groups' hyper-parameters. */
  stateDict(): OptimizerStateDict<H> {
    const state: OptimizerStateDict<H>['state'] = {};
    const paramGroups: OptimizerStateDict<H>['paramGroups'] = [];
    let i = 0;
    for (const g of this.paramGroups) {
      const { params, ...h } = g;
      const idx: number[] = [];
      for (const p of params) {
        const st = this.state.get(p);
        if (st) state[i] = { step: st.step, buffers: Object.fromEntries(Object.entries(st.buffers).map(([k, b]) => [k, tf.clone(b)])) };
        idx.push(i++);
      }
      paramGroups.push({ ...(JSON.parse(JSON.stringify(h)) as H), params: idx }); // a copy: editing it leaves the optimiser alone
    }
    return { state, paramGroups };
  }

  /**
   * Load a {@link stateDict} (its tensors are cloned; you still own and dispose
   * yours). Checks group count, parameter counts, buffer names and shapes first,
   * and throws naming the mismatch without changing anything.
   */
  loadStateDict(sd: OptimizerStateDict<H>): void {
    const n = this.name;
    check(sd.paramGroups.length === this.paramGroups.length, n, `loadStateDict: the state has ${sd.paramGroups.length} parameter groups, this optimiser ${this.paramGroups.length}`, sd.paramGroups.length);
    const params: Tensor[] = [];
    this.paramGroups.forEach((g, gi) => {
      const got = sd.paramGroups[gi]!.params.length;
      check(got === g.params.length, n, `loadStateDict: paramGroups[${gi}] has ${g.params.length} parameters here but ${got} in the state`, got);
      params.push(...g.params);
    });
    const groupOf = (i: number) => this.paramGroups.findIndex((g) => g.params.includes(params[i]!));
    const next = new Map<Tensor, ParamState>();
    for (const [key, st] of Object.entries(sd.state)) {
      const i = Number(key);
      const p = params[i];
      check(p !== undefined, n, `loadStateDict: state for parameter ${i}, but there are only ${params.length}`, key);
      check(Number.isInteger(st.step) && st.step >= 1, n, `loadStateDict: state[${i}].step must be an integer ≥ 1`, st.step);
      const want = this.bufferNames({ ...this.paramGroups[groupOf(i)]!, ...sd.paramGroups[groupOf(i)]! } as unknown as H).sort();
      const have = Object.keys(st.buffers).sort();
      check(want.join() === have.join(), n, `loadStateDict: state[${i}] must have buffers [${want.join(', ')}]`, have);
      for (const [k, b] of Object.entries(st.buffers)) {
        const ok = b.shape.length === p!.shape.length && b.shape.every((d, j) => d === p!.shape[j]) && b.dtype === 'float32';
        check(ok, n, `loadStateDict: state[${i}].buffers.${k} must be float32 [${p!.shape.join(', ')}] like its parameter ${p!.toString()}`, `${b.dtype} [${b.shape.join(', ')}]`);
      }
      next.set(p!, { step: st.step, buffers: Object.fromEntries(Object.entries(st.buffers).map(([k, b]) => [k, tf.clone(b)])) });
    }
    this.paramGroups.forEach((g, gi) => {
      const { params: _p, ...h } = sd.paramGroups[gi]!;
      const merged = { ...g, ...h, params: g.params } as ParamGroup<H>;
      this.validate(merged, `loadStateDict: paramGroups[${gi}].`);
    });
    this.paramGroups.forEach((g, gi) => {
      const { params: _p, ...h } = sd.paramGroups[gi]!;
      Object.assign(g, JSON.parse(JSON.stringify(h)));
    });
    this.disposeState();
    for (const [p, st] of next) this.state.set(p, st);
  }

  private disposeState(): void {
    for (const st of this.state.values()) for (const b of Object.values(st.buffers)) b.dispose();
    this.state.clear();
  }

  /** Free all state (buffers); the optimiser starts afresh at its next step. */
  dispose(): void {
    this.disposeState();
  }
}

/** Options of {@link decayGroups}. */
export interface DecayGroupsOptions {
  /** Weight decay of the first group. */
  weightDecay: number;
  /** Which parameters get no decay. Default: rank ≤ 1 (biases, norm scales and shifts). */
  noDecay?: (name: string, p: Tensor) => boolean;
}

/**
 * Split named parameters into `[{ params: decayed, weightDecay }, { params: rest, weightDecay: 0 }]`,
 * the usual "no weight decay on biases and norms" (e.g. nanoGPT's `configure_optimizers`).
 * Empty groups are left out.
 * ```ts
 * const opt = new optim.AdamW(optim.decayGroups(model.namedParameters(), { weightDecay: 0.1 }), { lr: 3e-4 });
 * ```
 * Introduced in notebooks/02-optim.
 */
export function decayGroups(
  named: Iterable<[string, Tensor]>,
  { weightDecay, noDecay = (_n, p) => p.shape.length <= 1 }: DecayGroupsOptions,
): { params: Tensor[]; weightDecay: number }[] {
  const decay: Tensor[] = [];
  const rest: Tensor[] = [];
  for (const [name, p] of named) (noDecay(name, p) ? rest : decay).push(p);
  return [
    { params: decay, weightDecay },
    { params: rest, weightDecay: 0 },
  ].filter((g) => g.params.length > 0);
}

/** Check a learning rate / weight decay style value: a finite number ≥ 0. */
export function checkNonNegative(name: string, key: string, v: number): void {
  check(typeof v === 'number' && Number.isFinite(v) && v >= 0, name, `${key} must be a finite number ≥ 0`, v);
}
