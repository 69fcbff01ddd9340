/**
 * Per-rank training memory under ZeRO (stages 0–3) and combined data, tensor and
 * pipeline parallelism, on paper, and a planner that proposes a parallelism plan
 * for a model and a cluster and says why. Pure functions; bytes are bytes, GB are
 * 10⁹ bytes. Model states are mixed-precision Adam's (2 + 2 + K)Ψ, K = 12
 * ({@link mixedPrecisionAdamBytes}); activations are Korthikanti et al. 2022's
 * per-layer formula ({@link transformerLayerActivationBytes}).
 *
 * Introduced in notebooks/04-distributed.
 *
 * @module
 */
import { mixedPrecisionAdamBytes, transformerLayerActivationBytes, type Recompute } from '../probes/memory';
import { bubbleFraction } from './pipeline-schedule';

/** ZeRO stage: 0 (plain data parallelism), 1 (optimiser states sharded), 2 (+ gradients), 3 (+ parameters; FSDP's FULL_SHARD). */
export type ZeroStage = 0 | 1 | 2 | 3;

/** Per-rank model-state bytes. */
export interface ZeroBytes {
  /** fp16/bf16 parameters. */
  parameters: number;
  /** fp16/bf16 gradients. */
  gradients: number;
  /** Optimiser states (fp32 master weights, momentum, variance: KΨ). */
  optimizer: number;
  /** The sum. */
  total: number;
}

function num(who: string, name: string, v: unknown, { integer = false, min = 0, open = true } = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || (open ? v <= min : v < min)) {
    throw new Error(`${who}: ${name} must be a finite ${integer ? 'integer' : 'number'} ${open ? '>' : '≥'} ${min}, got ${String(v)}`);
  }
  return v;
}

function stageOf(who: string, stage: unknown): ZeroStage {
  if (stage !== 0 && stage !== 1 && stage !== 2 && stage !== 3) throw new Error(`${who}: ZeRO stage must be 0, 1, 2 or 3, got ${String(stage)}`);
  return stage;
}

/**
 * Per-rank model-state bytes of mixed-precision Adam under ZeRO stage 0–3 with
 * Ψ parameters and N_d data-parallel ranks (Rajbhandari et al. 2020, §5, Figure 1):
 * - stage 0: `(2 + 2 + K)Ψ`;
 * - stage 1 (P_os): `2Ψ + 2Ψ + KΨ/N_d`;
 * - stage 2 (P_os+g): `2Ψ + (2 + K)Ψ/N_d`;
 * - stage 3 (P_os+g+p): `(2 + 2 + K)Ψ/N_d`.
 * K = 12 (fp32 master weights, momentum and variance); another K scales the optimiser term.
 *
 * @example
 * zeroBytes(7.5e9, 3, 64).total / 1e9; // 1.875 (the paper's 1.9 GB)
 *
 * Reference: Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training
 * Trillion Parameter Models". Introduced in notebooks/04-distributed.
 */
export function zeroBytes(numParams: number, stage: ZeroStage, dataParallel: number, { k = 12 }: { k?: number } = {}): ZeroBytes {
  const who = 'zeroBytes';
  num(who, 'numParams', numParams);
  const s = stageOf(who, stage);
  const nd = num(who, 'dataParallel', dataParallel, { integer: true, min: 1, open: false });
  num(who, 'k', k, { min: 0, open: false });
  const base = mixedPrecisionAdamBytes(numParams);
  const optimizer = (base.optimizer * k) / 12;
  const parameters = s >= 3 ? base.parameters / nd : base.parameters;
  const gradients = s >= 2 ? base.gradients / nd : base.gradients;
  const opt = s >= 1 ? optimizer / nd : optimizer;
  return { parameters, gradients, optimizer: opt, total: parameters + gradients + opt };
}

/** One row of {@link zeroMemoryRows}: a block of per-rank model states in GB (10⁹ bytes). */
export interface ZeroRow {
  /** ZeRO stage. */
  stage: ZeroStage;
  /** Data-parallel ranks N_d. */
  dataParallel: number;
  /** The block. */
  block: 'parameters' | 'gradients' | 'optimizer';
  /** Size in GB (10⁹ bytes). */
  gb: number;
}

/**
 * Per-rank model states of every ZeRO stage at each data-parallel size, as plain
 * rows for a stacked bar or a line against N_d ({@link zeroBytes} per cell),
 * e.g. a 7B model on 8 to 1024 GPUs.
 *
 * Introduced in notebooks/04-distributed.
 */
export function zeroMemoryRows(numParams: number, dataParallel: readonly number[], stages: readonly ZeroStage[] = [0, 1, 2, 3]): ZeroRow[] {
  if (!Array.isArray(dataParallel) || dataParallel.length === 0) throw new Error(`zeroMemoryRows: dataParallel must be a non-empty array of rank counts, got ${String(dataParallel)}`);
  const rows: ZeroRow[] = [];
  for (const stage of stages) {
    for (const nd of dataParallel) {
      const z = zeroBytes(numParams, stage, nd);
      for (const block of ['parameters', 'gradients', 'optimizer'] as const) rows.push({ stage, dataParallel: nd, block, gb: z[block] / 1e9 });
    }
  }
  return rows;
}

/**
 * Elements each rank sends (and receives) per training step for gradients and
 * parameters under ZeRO, with Ψ parameters and N_d ranks (Rajbhandari et al. 2020, §7):
 * stages 0–2 one all-reduce (or reduce-scatter + all-gather) of Ψ: `2Ψ`;
 * stage 3 adds a parameter all-gather in forward and again in backward: `3Ψ`.
 * `exact` is the ring's figure, `2(N_d−1)/N_d·Ψ` and `3(N_d−1)/N_d·Ψ`;
 * multiply by 2 for fp16/bf16 bytes.
 *
 * Introduced in notebooks/04-distributed.
 */
export function zeroCommunication(numParams: number, stage: ZeroStage, dataParallel: number): { elements: number; exact: number } {
  const who = 'zeroCommunication';
  num(who, 'numParams', numParams);
  const s = stageOf(who, stage);
  const nd = num(who, 'dataParallel', dataParallel, { integer: true, min: 1, open: false });
  const factor = s === 3 ? 3 : 2;
  return { elements: factor * numParams, exact: (factor * (nd - 1) * numParams) / nd };
}

/** A model on paper, as the planner takes it. */
export interface ModelShape {
  /** Parameters Ψ. */
  params: number;
  /** Transformer layers L. */
  layers: number;
  /** Hidden size h. */
  hidden: number;
  /** Attention heads a. */
  heads: number;
  /** Sequence length s. */
  seq: number;
}

/** A parallel layout: data × tensor × pipeline, with a ZeRO stage over the data-parallel ranks. */
export interface ParallelLayout {
  /** Data-parallel ranks (default 1). */
  dp?: number;
  /** Tensor-parallel ranks t (default 1). */
  tp?: number;
  /** Pipeline stages p (default 1). */
  pp?: number;
  /** ZeRO stage over the dp ranks (default 0). */
  zero?: ZeroStage;
  /** Micro-batch size b (default 1). */
  microBatch?: number;
  /** Micro-batches per step m (default 1; with pp > 1 the first stage holds min(m, p) of them, 1F1B). */
  microBatches?: number;
  /** Sequence parallelism with tensor parallelism (default true, as Megatron-LM uses it). */
  sequenceParallel?: boolean;
  /** Activation recomputation (default `'selective'`). */
  recompute?: Recompute;
}

/** Per-rank bytes of a layout (the first pipeline stage, the fullest). */
export interface RankMemory extends ZeroBytes {
  /** Activations held for backward. */
  activations: number;
  /** Model states + activations. */
  total: number;
}

/**
 * Activation bytes of one transformer layer on one tensor-parallel rank
 * (Korthikanti et al. 2022, §4.2, eqs. 2–3), from the unsplit `A = sbh(34 + 5as/h)`:
 * - t = 1: `A` (eq. 1, {@link transformerLayerActivationBytes});
 * - tensor parallel without sequence parallelism: `sbh·10 + (A − 10·sbh)/t`
 *   = `sbh(10 + 24/t + 5as/(ht))` (the LayerNorm and dropout inputs, 10sbh, stay replicated);
 * - with sequence parallelism: `A/t` = `sbh/t·(34 + 5as/h)`.
 * Recomputation as in {@link transformerLayerActivationBytes}: selective keeps 34sbh
 * (split as above), full keeps the layer input 2sbh (divided by t with sequence parallelism).
 *
 * Introduced in notebooks/04-distributed.
 */
export function layerActivationBytes(
  shape: { seq: number; batch: number; hidden: number; heads: number },
  { tp = 1, sequenceParallel = true, recompute = 'selective' }: { tp?: number; sequenceParallel?: boolean; recompute?: Recompute } = {},
): number {
  const t = num('layerActivationBytes', 'tp', tp, { integer: true, min: 1, open: false });
  const A = transformerLayerActivationBytes(shape, recompute);
  if (t === 1) return A;
  if (sequenceParallel) return A / t;
  const sbh = shape.seq * shape.batch * shape.hidden;
  if (recompute === 'full') return A; // the layer input is replicated across the tensor-parallel ranks
  return 10 * sbh + (A - 10 * sbh) / t;
}

/**
 * Per-rank memory of a DP × TP × PP layout with a ZeRO stage over the data-parallel
 * ranks. Assumptions, stated: parameters, gradients and optimiser states split
 * evenly over t·p (embeddings and head counted in Ψ but not treated apart), then
 * ZeRO over dp ({@link zeroBytes} of Ψ/(t·p)); activations of the first pipeline
 * stage under 1F1B, which holds min(m, p) micro-batches of ⌈L/p⌉ layers
 * ({@link layerActivationBytes}); no memory for communication buffers, fragmentation,
 * the CUDA context or the logits.
 *
 * Reference: Rajbhandari et al. 2020 (ZeRO); Korthikanti et al. 2022 (activations,
 * sequence parallelism); Narayanan et al. 2021 (1F1B). Introduced in notebooks/04-distributed.
 */
export function rankMemory(model: ModelShape, layout: ParallelLayout = {}): RankMemory {
  const who = 'rankMemory';
  const m0 = checkModel(who, model);
  const { dp = 1, tp = 1, pp = 1, zero = 0, microBatch = 1, microBatches = 1, sequenceParallel = true, recompute = 'selective' } = layout;
  for (const [k, v] of Object.entries({ dp, tp, pp, microBatch, microBatches })) num(who, k, v, { integer: true, min: 1, open: false });
  if (pp > m0.layers) throw new Error(`${who}: pp = ${pp} is more stages than layers (${m0.layers})`);
  const states = zeroBytes(m0.params / (tp * pp), zero, dp);
  const perLayer = layerActivationBytes({ seq: m0.seq, batch: microBatch, hidden: m0.hidden, heads: m0.heads }, { tp, sequenceParallel, recompute });
  const inFlight = pp > 1 ? Math.min(microBatches, pp) : 1;
  const activations = inFlight * Math.ceil(m0.layers / pp) * perLayer;
  return { ...states, activations, total: states.total + activations };
}

function checkModel(who: string, model: ModelShape): ModelShape {
  if (model === null || typeof model !== 'object') throw new Error(`${who}: model must be {params, layers, hidden, heads, seq}, got ${String(model)}`);
  num(who, 'model.params', model.params);
  for (const k of ['layers', 'hidden', 'heads', 'seq'] as const) num(who, `model.${k}`, model[k], { integer: true, min: 1, open: false });
  if (model.hidden % model.heads !== 0) throw new Error(`${who}: model.hidden (${model.hidden}) must be a multiple of model.heads (${model.heads})`);
  return model;
}

/** Options of {@link proposePlan}. */
export interface PlanOptions {
  /** GPUs per node (default 8): tensor parallelism stays within a node. */
  gpusPerNode?: number;
  /** Fraction of each GPU's memory the plan may use (default 0.9: the rest for the CUDA context, buffers, fragmentation). */
  usable?: number;
  /** Micro-batch size b (default 1). */
  microBatch?: number;
  /** Activation recomputation (default `'selective'`, Korthikanti et al. 2022). */
  recompute?: Recompute;
}

/** A proposed plan. */
export interface ParallelPlan {
  /** What the plan is, in a few words, e.g. 'DP', 'ZeRO-2', 'TP 8 × PP 4 × DP 2'. */
  kind: string;
  /** Data-parallel ranks (model replicas). */
  dp: number;
  /** Tensor-parallel ranks (within a node). */
  tp: number;
  /** Pipeline stages. */
  pp: number;
  /** ZeRO stage over the data-parallel ranks. */
  zero: ZeroStage;
  /** Micro-batches per step (4p with pipeline parallelism, GPipe's rule; 1 without). */
  microBatches: number;
  /** Pipeline bubble fraction (p−1)/(m+p−1). */
  bubble: number;
  /** Per-rank memory of the plan. */
  memory: RankMemory;
  /** Usable bytes per GPU. */
  budget: number;
  /** Whether the plan fits the budget. */
  fits: boolean;
  /** Why, one decision a line. */
  reasons: string[];
}

const gb = (b: number) => `${(b / 1e9).toFixed(1)} GB`;

/**
 * Propose a parallelism plan for training `model` on `gpus` GPUs of `gpuMemoryBytes`
 * each, by the usual decision tree, and say why at each step:
 * 1. a full replica (mixed-precision Adam states + activations) fits one GPU → data parallelism (DP) on all GPUs;
 * 2. else, with all GPUs data-parallel, the lowest ZeRO stage that fits: ZeRO-1, ZeRO-2, then ZeRO-3 / FSDP
 *    (communication 2Ψ per step for 1–2, 3Ψ for 3);
 * 3. else (activations or a layer's share of the states do not fit even with ZeRO-3):
 *    tensor parallelism with sequence parallelism within a node, t = 2, 4, … ≤ gpusPerNode
 *    (and dividing the heads), the smallest t that fits, the remaining factor data-parallel
 *    with ZeRO-1 or ZeRO-2 over it where that is what makes it fit (they cost no extra
 *    communication, unlike a larger t); then, if even t = gpusPerNode does not fit,
 *    pipeline stages across nodes, the smallest p that fits (ZeRO-1 over the data-parallel
 *    ranks if needed: with pipelining, ZeRO-2 would reduce-scatter the gradients once per
 *    micro-batch, which DeepSpeed's pipeline engine does not allow), with m = 4p
 *    micro-batches (GPipe's rule; bubble (p−1)/(m+p−1)), 1F1B;
 * 4. else the plan says it does not fit, and by how much.
 *
 * Reference: Rajbhandari et al. 2020 (ZeRO); Shoeybi et al. 2019 and Narayanan
 * et al. 2021 (Megatron-LM: tensor parallelism within a node, pipeline across nodes);
 * Huang et al. 2019 (GPipe); Korthikanti et al. 2022. Introduced in notebooks/04-distributed.
 */
export function proposePlan(model: ModelShape, gpuMemoryBytes: number, gpus: number, options: PlanOptions = {}): ParallelPlan {
  const who = 'proposePlan';
  checkModel(who, model);
  num(who, 'gpuMemoryBytes', gpuMemoryBytes);
  num(who, 'gpus', gpus, { integer: true, min: 1, open: false });
  const { gpusPerNode = 8, usable = 0.9, microBatch = 1, recompute = 'selective' } = options;
  num(who, 'gpusPerNode', gpusPerNode, { integer: true, min: 1, open: false });
  num(who, 'microBatch', microBatch, { integer: true, min: 1, open: false });
  if (typeof usable !== 'number' || !(usable > 0 && usable <= 1)) throw new Error(`${who}: usable must be in (0, 1], got ${String(usable)}`);
  const budget = usable * gpuMemoryBytes;
  const reasons: string[] = [];
  const plan = (kind: string, layout: Required<Pick<ParallelLayout, 'dp' | 'tp' | 'pp' | 'zero' | 'microBatches'>>, memory: RankMemory, fits: boolean): ParallelPlan => ({
    kind, ...layout, bubble: bubbleFraction(layout.pp, layout.microBatches), memory, budget, fits, reasons,
  });
  const base = { microBatch, recompute, sequenceParallel: true };
  reasons.push(`budget ${gb(budget)} per GPU (${Math.round(usable * 100)}% of ${gb(gpuMemoryBytes)}); mixed-precision Adam, 16 bytes a parameter; '${recompute}' recomputation; micro-batch ${microBatch}`);

  const replica = rankMemory(model, { ...base, dp: gpus });
  if (replica.total <= budget) {
    reasons.push(`a full replica needs ${gb(replica.total)} (states ${gb(replica.total - replica.activations)} + activations ${gb(replica.activations)}) and fits one GPU → plain data parallelism on ${gpus === 1 ? 'the one GPU' : `all ${gpus} GPUs`}, one all-reduce of the gradients (2Ψ) per step`);
    return plan('DP', { dp: gpus, tp: 1, pp: 1, zero: 0, microBatches: 1 }, replica, true);
  }
  reasons.push(`a full replica needs ${gb(replica.total)} > ${gb(budget)}: it does not fit one GPU`);

  if (gpus > 1) {
    for (const zero of [1, 2, 3] as const) {
      const mem = rankMemory(model, { ...base, dp: gpus, zero });
      if (mem.total <= budget) {
        const what = zero === 1 ? 'optimiser states' : zero === 2 ? 'optimiser states and gradients' : 'optimiser states, gradients and parameters';
        reasons.push(`ZeRO-${zero} shards the ${what} over ${gpus} GPUs: ${gb(mem.total)} per GPU fits${zero > 1 ? ` (ZeRO-${zero - 1} does not)` : ''}; communication ${zero === 3 ? '3Ψ' : '2Ψ'} per step`);
        return plan(zero === 3 ? 'ZeRO-3 / FSDP' : `ZeRO-${zero}`, { dp: gpus, tp: 1, pp: 1, zero, microBatches: 1 }, mem, true);
      }
    }
    const z3 = rankMemory(model, { ...base, dp: gpus, zero: 3 });
    reasons.push(`even ZeRO-3 over ${gpus} GPUs needs ${gb(z3.total)} per GPU (activations ${gb(z3.activations)} are not sharded by ZeRO) → split the layers themselves`);
  }

  const maxTp = Math.min(gpusPerNode, gpus);
  let last: { layout: { dp: number; tp: number; pp: number; zero: ZeroStage; microBatches: number }; mem: RankMemory } | undefined;
  const withZero = (zero: ZeroStage, dp: number) => (zero ? `, with ZeRO-${zero} over the ${dp} data-parallel ranks (no extra communication)` : '');
  const zeroTag = (zero: ZeroStage) => (zero ? ` (ZeRO-${zero})` : '');
  for (let tp = 2; tp <= maxTp; tp *= 2) {
    if (model.heads % tp !== 0 || gpus % tp !== 0) continue;
    const dp = gpus / tp;
    for (const zero of (dp > 1 ? [0, 1, 2] : [0]) as ZeroStage[]) {
      const mem = rankMemory(model, { ...base, tp, dp, zero });
      if (zero === 0) last = { layout: { dp, tp, pp: 1, zero: 0, microBatches: 1 }, mem };
      if (mem.total <= budget) {
        reasons.push(`tensor parallelism (Megatron-LM, with sequence parallelism) over ${tp} GPUs within a node splits each layer's weights and activations: ${gb(mem.total)} per GPU fits${gpus > tp ? `; the remaining ×${dp} is data parallelism${withZero(zero, dp)}` : ''}`);
        return plan(gpus > tp ? `TP ${tp} × DP ${dp}${zeroTag(zero)}` : `TP ${tp}`, { dp, tp, pp: 1, zero, microBatches: 1 }, mem, true);
      }
    }
  }
  const tp = last?.layout.tp ?? 1;
  if (tp > 1) reasons.push(`tensor parallelism up to ${tp} (the most within a node of ${gpusPerNode} that divides the heads) still needs ${gb(last!.mem.total)} per GPU → add pipeline stages across nodes`);
  for (let pp = 2; pp <= model.layers && tp * pp <= gpus; pp++) {
    if (gpus % (tp * pp) !== 0) continue;
    const microBatches = 4 * pp;
    const dp = gpus / (tp * pp);
    for (const zero of (dp > 1 ? [0, 1] : [0]) as ZeroStage[]) {
      const mem = rankMemory(model, { ...base, tp, pp, dp, microBatches, zero });
      if (zero === 0) last = { layout: { dp, tp, pp, zero: 0, microBatches }, mem };
      if (mem.total <= budget) {
        reasons.push(`pipeline parallelism with ${pp} stages of ≤ ${Math.ceil(model.layers / pp)} layers: ${gb(mem.total)} per GPU fits (1F1B: the first stage holds ${Math.min(pp, microBatches)} micro-batches' activations)`);
        reasons.push(`${microBatches} micro-batches per step (m = 4p, GPipe's rule) keep the bubble at (p−1)/(m+p−1) = ${(bubbleFraction(pp, microBatches) * 100).toFixed(1)}%`);
        if (dp > 1) reasons.push(`the remaining ×${dp} is data parallelism across model replicas${withZero(zero, dp)}`);
        return plan(`${tp > 1 ? `TP ${tp} × ` : ''}PP ${pp}${dp > 1 ? ` × DP ${dp}${zeroTag(zero)}` : ''}`, { dp, tp, pp, zero, microBatches }, mem, true);
      }
    }
  }
  const best = last ?? { layout: { dp: gpus, tp: 1, pp: 1, zero: 3 as ZeroStage, microBatches: 1 }, mem: rankMemory(model, { ...base, dp: gpus, zero: 3 }) };
  reasons.push(`no layout of ${gpus} GPU(s) fits: the closest (TP ${best.layout.tp} × PP ${best.layout.pp} × DP ${best.layout.dp}) needs ${gb(best.mem.total)} per GPU > ${gb(budget)}; use more GPUs, full recomputation, or a smaller micro-batch`);
  return plan('does not fit', best.layout, best.mem, false);
}
