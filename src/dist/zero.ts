/**
 * ZeRO stages 1 and 2 for real across ranks: AdamW whose state (and, at stage 2,
 * whose gradients) each rank keeps only for its own shard of the parameters.
 *
 * Reference: Rajbhandari, Rasley, Ruwase & He 2020, "ZeRO: Memory Optimizations
 * Toward Training Trillion Parameter Models" (SC20), §5.1–5.2; PyTorch 1.13's
 * `torch.distributed.optim.ZeroRedundancyOptimizer` (stage 1). Stage 3 (FSDP's
 * FULL_SHARD) is on paper only: {@link zeroBytes}, {@link zeroCommunication}.
 *
 * Introduced in notebooks/04-distributed/04-zero.ipynb.
 *
 * @module
 */
import { tf } from '../backend/tf';
import type { Tensor } from '../autograd';
import { checkAdam, type AdamOptions } from '../optim/adam';
import { adamwUpdate } from '../optim/adamw';
import { allGather, allGatherRingInPlace, broadcast, chunkStart, reduceScatterRing } from './collectives';
import { flatten, unflatten } from './flat';
import { DistError, type ProcessGroup } from './group';

/** The ZeRO stages {@link ZeroAdamW} runs: 1 (optimiser states sharded) and 2 (+ gradients). */
export type ZeroRunStage = 1 | 2;

/** Options of {@link ZeroAdamW.create}: the stage and AdamW's hyper-parameters (torch.optim.AdamW's defaults). */
export interface ZeroAdamWOptions extends Partial<AdamOptions> {
  /** 1: shard the optimiser states (P_os); 2: shard the optimiser states and the gradients (P_os+g). Required. */
  stage: ZeroRunStage;
}

/**
 * What one rank holds, in bytes, counted from the real buffers (float32, 4 bytes an element).
 * Plain data (JSON), so ranks can return it from `spawnRanks`.
 */
export interface ZeroMemory {
  rank: number;
  worldSize: number;
  stage: ZeroRunStage;
  /** Ψ: elements of the flat parameter vector. */
  numParams: number;
  /** This rank's shard `[lo, hi)` of the flat vector ({@link chunkStart}). */
  shard: [number, number];
  /** The model's parameter tensors (full on every rank at stages 1–2): 4Ψ. */
  parameters: number;
  /**
   * The gradient buffer the optimiser holds after the reduction: the full averaged
   * flat gradient at stage 1 (4Ψ), this rank's shard at stage 2 (4·(hi − lo)); 0 before
   * the first step and after {@link ZeroAdamW.zeroGrad}.
   */
  gradients: number;
  /** AdamW's exp_avg and exp_avg_sq of this rank's shard: 8·(hi − lo); 0 before the first step. The step count is a host number (not counted). */
  optimizer: number;
}

/** The one parameter group of a {@link ZeroAdamW}, as schedulers (gl.optim.StepLR, …) read and write it. */
export type ZeroParamGroup = AdamOptions & { initialLr?: number };

const NAME = 'ZeroAdamW';

/**
 * AdamW sharded over the ranks of a process group, ZeRO stage 1 or 2
 * (Rajbhandari et al. 2020). The parameters (leaves of the gradlab engine, the
 * same values on every rank) are seen as one flat float32 vector θ of Ψ elements,
 * cut into N nearly equal shards: rank r owns `[chunkStart(Ψ, N, r), chunkStart(Ψ, N, r + 1))`
 * (sizes differ by at most one) and keeps AdamW's state — exp_avg m, exp_avg_sq v,
 * the step count t — for its shard only: 8Ψ/N bytes instead of 8Ψ.
 *
 * One {@link step}, given each rank's local gradients g⁽ʳ⁾ in `p.grad` (from its part of the batch):
 * - stage 1: all-reduce (mean) of the gradients, done as the ring does it: reduce-scatter, each
 *   rank divides its shard by N, all-gather; every rank holds the full ḡ = (1/N) Σ_r g⁽ʳ⁾ (4Ψ bytes);
 * - stage 2: reduce-scatter (ring) only: rank r gets its shard of Σ_r g⁽ʳ⁾, divides it by N,
 *   and releases the full flat buffer (4Ψ/N bytes held). Both stages do the same additions
 *   in the same order, so they see bitwise the same ḡ;
 * - then rank r updates its shard with exactly gl.optim.AdamW's math
 *   ({@link adamwUpdate}, PyTorch 1.13's order of float32 operations):
 *   θ ← θ(1 − γλ); m ← β₁m + (1 − β₁)ḡ; v ← β₂v + (1 − β₂)ḡ²;
 *   θ ← θ − (γ/(1 − β₁ᵗ))·m/(√v/√(1 − β₂ᵗ) + ε);
 * - and an all-gather (ring) of the updated shards gives every rank the full new θ,
 *   written back into the parameter tensors.
 *
 * Communication per step and rank (ring, Ψ elements): stage 1 all-reduce 2(N−1)/N·Ψ plus
 * all-gather (N−1)/N·Ψ, about what PyTorch's DDP + ZeroRedundancyOptimizer send (it broadcasts each rank's
 * updated parameters instead of all-gathering them); stage 2
 * reduce-scatter + all-gather 2(N−1)/N·Ψ, the same as plain data parallelism (ZeRO §7).
 *
 * Defaults (torch.optim.AdamW's): `{ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2 }`.
 * `paramGroups[0].lr` may be driven by a gl.optim scheduler. One group only; decayGroups-style
 * per-group weight decay is not supported.
 *
 * `step()` takes the gradients: it reads every `p.grad` and releases it (sets it to null), so
 * the next backward starts from nothing. What a rank holds is in {@link memory}. Gradients are
 * produced whole by backward here and reduced after it; real ZeRO-2 reduce-scatters buckets
 * during backward so the full gradient never exists at once.
 *
 * ```ts
 * const opt = await gl.dist.ZeroAdamW.create(pg, params, { stage: 2, lr: 1e-2 });
 * loss.backward(); await opt.step(); loss.dispose();
 * ```
 *
 * Reference: Rajbhandari et al. 2020, §5 (P_os, P_os+g); `torch.distributed.optim.ZeroRedundancyOptimizer`
 * (PyTorch 1.13, stage 1 with DDP); `torch.optim.AdamW`. Introduced in notebooks/04-distributed/04-zero.ipynb.
 */
export class ZeroAdamW {
  /** The one group's hyper-parameters (a scheduler may change `lr`). */
  readonly paramGroups: [ZeroParamGroup];
  /** Ψ, the elements of all parameters together. */
  readonly numParams: number;
  /** This rank's shard `[lo, hi)` of the flat vector. */
  readonly shard: [number, number];
  private t = 0;
  private expAvg: tf.Tensor | null = null;
  private expAvgSq: tf.Tensor | null = null;
  private grads: Float32Array | null = null;
  private readonly offsets: number[];

  private constructor(
    /** The process group. */ readonly pg: ProcessGroup,
    /** The parameters, in flattening order. */ readonly params: readonly Tensor[],
    /** The stage. */ readonly stage: ZeroRunStage,
    hp: AdamOptions,
  ) {
    this.paramGroups = [{ ...hp }];
    this.offsets = [0];
    for (const p of params) this.offsets.push(this.offsets[this.offsets.length - 1]! + p.size);
    this.numParams = this.offsets[params.length]!;
    const n = pg.worldSize, r = pg.rank;
    this.shard = [chunkStart(this.numParams, n, r), chunkStart(this.numParams, n, r + 1)];
  }

  /**
   * Make the optimiser on every rank (a collective: all ranks call it, with their
   * copy of the same parameters). Checks the stage and the hyper-parameters, then
   * that every rank has the same parameter shapes and bitwise the same values, and
   * throws on every rank, naming the first rank that differs, if not.
   */
  static async create(pg: ProcessGroup, params: Iterable<Tensor>, options: ZeroAdamWOptions): Promise<ZeroAdamW> {
    const where = `${NAME}: rank ${pg.rank}`;
    const stage = (options as { stage?: unknown })?.stage;
    if (stage === 3) {
      throw new Error(`${where}: ZeRO stage 3 (parameters sharded too, FSDP's FULL_SHARD) is calculator-only in gradlab: use gl.dist.zeroBytes(Ψ, 3, N) for its memory and gl.dist.zeroCommunication(Ψ, 3, N) for its traffic; ZeroAdamW runs stages 1 and 2`);
    }
    if (stage === 0) throw new Error(`${where}: stage 0 is plain data parallelism: all-reduce the gradients (gl.dist.allReduce, op 'mean') and use gl.optim.AdamW; ZeroAdamW runs stages 1 and 2`);
    if (stage !== 1 && stage !== 2) throw new Error(`${where}: options.stage must be 1 (optimiser states sharded) or 2 (states and gradients sharded), got ${String(stage)}`);
    const { stage: _s, ...rest } = options;
    const hp: AdamOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, ...rest };
    checkAdam(where, hp, '');
    const list = Array.from(params);
    if (list.length === 0) throw new Error(`${where}: got an empty parameter list; pass model.parameters() or a list of gl.ag.param tensors`);
    const seen = new Set<Tensor>();
    list.forEach((p, i) => {
      if (seen.has(p)) throw new Error(`${where}: parameter ${i} appears twice in the list; give each parameter once`);
      seen.add(p);
      if (!p.isLeaf || !p.requiresGrad) throw new Error(`${where}: parameter ${i} (${p.toString()}) must be a leaf with requiresGrad (make it with gl.ag.param)`);
      if (p.data.dtype !== 'float32') throw new Error(`${where}: parameter ${i} is ${p.data.dtype}; ZeroAdamW flattens float32 parameters only`);
    });
    const opt = new ZeroAdamW(pg, list, stage, hp);
    await opt.checkSameEverywhere();
    return opt;
  }

  /** All ranks: same count of tensors, same Ψ, same shapes (a fingerprint), same values bitwise. */
  private async checkSameEverywhere(): Promise<void> {
    const pg = this.pg, n = pg.worldSize;
    if (n === 1) return;
    let shapeCode = 0;
    for (const p of this.params) for (const d of [p.shape.length, ...p.shape]) shapeCode = (shapeCode * 31 + d + 1) % 8388593; // < 2^23: exact in float32
    const meta = await allGather(pg, Float32Array.of(this.params.length, this.numParams, shapeCode));
    for (let q = 1; q < n; q++) {
      const [count, psi, code] = [meta[3 * q]!, meta[3 * q + 1]!, meta[3 * q + 2]!];
      if (count !== meta[0] || psi !== meta[1] || code !== meta[2]) {
        throw new DistError(
          `${NAME}: rank ${pg.rank}: rank ${q} has ${count} parameter tensors with Ψ = ${psi} elements but rank 0 has ${meta[0]} with Ψ = ${meta[1]}` +
            `${count === meta[0] && psi === meta[1] ? ' (the shapes differ)' : ''}; every rank must pass the same model's parameters, in the same order`,
          q,
        );
      }
    }
    const mine = await this.flatParams();
    const ref = await broadcast(pg, mine.slice(), 0);
    let first = -1;
    for (let i = 0; i < mine.length; i++) if (!Object.is(mine[i], ref[i])) { first = i; break; }
    const report = await allGather(pg, Float32Array.of(first, first >= 0 ? mine[first]! : 0, first >= 0 ? ref[first]! : 0));
    for (let q = 0; q < n; q++) {
      const idx = report[3 * q]!;
      if (idx >= 0) {
        const pi = this.offsets.findIndex((o, k) => idx >= o && idx < this.offsets[k + 1]!);
        throw new DistError(
          `${NAME}: rank ${pg.rank}: the parameters differ across ranks: rank ${q}'s element ${idx} (parameter ${pi} ${JSON.stringify(this.params[pi]!.shape)}, index ${idx - this.offsets[pi]!}) ` +
            `is ${report[3 * q + 1]} but rank 0's is ${report[3 * q + 2]}; initialise every rank from the same seed, or broadcast rank 0's parameters (gl.dist.broadcast) before creating the optimiser`,
          q,
        );
      }
    }
  }

  /** The parameters as one flat float32 vector (a copy, read asynchronously, so it works on webgpu). */
  private flatParams(): Promise<Float32Array> {
    return flatten(this.params.map((p) => p.data));
  }

  /** Read every `p.grad` into one flat vector and release the per-parameter gradients. */
  private async takeGradients(): Promise<Float32Array> {
    const i = this.params.findIndex((p) => p.grad === null);
    if (i >= 0) {
      throw new DistError(`${NAME}.step: rank ${this.pg.rank}: parameter ${i} ${JSON.stringify(this.params[i]!.shape)} has no gradient; call loss.backward() before step() (every rank needs a gradient for every parameter)`, this.pg.rank);
    }
    const flat = await flatten(this.params.map((p) => p.grad!));
    for (const p of this.params) p.zeroGrad();
    return flat;
  }

  /** The step count t (updates so far). */
  get steps(): number {
    return this.t;
  }

  /**
   * The gradient the optimiser holds since the last step (a copy): the full
   * averaged flat gradient at stage 1, this rank's averaged shard at stage 2; null before
   * the first step or after {@link zeroGrad}.
   */
  gradient(): Float32Array | null {
    return this.grads ? this.grads.slice() : null;
  }

  /** This rank's exp_avg and exp_avg_sq (copies, read asynchronously), or null before the first step. */
  async shardState(): Promise<{ step: number; expAvg: Float32Array; expAvgSq: Float32Array } | null> {
    if (!this.expAvg || !this.expAvgSq) return null;
    return { step: this.t, expAvg: (await this.expAvg.data()) as Float32Array, expAvgSq: (await this.expAvgSq.data()) as Float32Array };
  }

  /**
   * One optimisation step (a collective: every rank calls it after its backward):
   * reduce the gradients (stage 1 all-reduce, stage 2 reduce-scatter), AdamW on this
   * rank's shard, all-gather the parameters. Releases every `p.grad`. Keeps
   * `tf.memory().numTensors` constant from the second step on (the first creates m and v).
   */
  async step(): Promise<void> {
    const pg = this.pg, n = pg.worldSize, [lo, hi] = this.shard;
    const hp = this.paramGroups[0];
    checkAdam(`${NAME}.step: rank ${pg.rank}`, hp, 'paramGroups[0].');
    this.grads = null;
    // Ring reduce-scatter in place on the local gradients: chunk r becomes Σ_q g⁽q⁾ over chunk r;
    // the average of this rank's chunk goes to a new array (stage 2 keeps only that).
    const flatGrad = await this.takeGradients();
    if (n > 1) await reduceScatterRing(pg, flatGrad);
    const shardGrad = new Float32Array(hi - lo);
    for (let i = 0; i < shardGrad.length; i++) shardGrad[i] = flatGrad[lo + i]! / n;
    if (this.stage === 1) {
      // all-gather of the averaged shards: every rank holds the full ḡ (the all-reduce's second half)
      const full = new Float32Array(this.numParams);
      full.set(shardGrad, lo);
      if (n > 1) await allGatherRingInPlace(pg, full);
      this.grads = full;
    } else {
      this.grads = shardGrad; // the full flat buffer is dropped: only the shard stays
    }
    const theta = await this.flatParams();
    const t = this.t + 1;
    const p0 = tf.tensor1d(theta.slice(lo, hi), 'float32');
    const g0 = tf.tensor1d(shardGrad.slice(), 'float32');
    const state = this.expAvg && this.expAvgSq ? { expAvg: this.expAvg, expAvgSq: this.expAvgSq } : null;
    const res = adamwUpdate(p0, g0, state, hp, t);
    p0.dispose();
    g0.dispose();
    try {
      theta.set((await res.param.data()) as Float32Array, lo);
    } finally {
      res.param.dispose();
    }
    if (this.expAvg && this.expAvg !== res.state.expAvg) this.expAvg.dispose();
    if (this.expAvgSq && this.expAvgSq !== res.state.expAvgSq) this.expAvgSq.dispose();
    this.expAvg = res.state.expAvg!;
    this.expAvgSq = res.state.expAvgSq!;
    this.t = t;
    if (n > 1) await allGatherRingInPlace(pg, theta);
    unflatten(theta, this.params.map((p) => p.shape)).forEach((t, i) => this.params[i]!.assign(t));
  }

  /** Release the held gradient buffer and every `p.grad` (PyTorch's `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    this.grads = null;
    for (const p of this.params) p.zeroGrad();
  }

  /** What this rank holds, counted from the real buffers (see {@link ZeroMemory}). */
  memory(): ZeroMemory {
    const bytes = (t: tf.Tensor | null) => (t ? t.size * 4 : 0);
    return {
      rank: this.pg.rank,
      worldSize: this.pg.worldSize,
      stage: this.stage,
      numParams: this.numParams,
      shard: [this.shard[0], this.shard[1]],
      parameters: this.params.reduce((s, p) => s + p.data.size * 4, 0),
      gradients: this.grads ? this.grads.byteLength : 0,
      optimizer: bytes(this.expAvg) + bytes(this.expAvgSq),
    };
  }

  /** Free the optimiser state (exp_avg, exp_avg_sq) and the gradient buffer; the next step starts afresh (t = 0). */
  dispose(): void {
    this.expAvg?.dispose();
    this.expAvgSq?.dispose();
    this.expAvg = this.expAvgSq = null;
    this.grads = null;
    this.t = 0;
  }
}
