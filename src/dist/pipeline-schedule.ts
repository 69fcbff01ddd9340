/**
 * Pipeline-parallel schedules as pure data: which stage runs which micro-batch's
 * forward or backward when, for GPipe (Huang et al. 2019: all forwards, then all
 * backwards) and 1F1B (PipeDream-Flush, Narayanan et al. 2021: a warm-up of
 * forwards, then one forward one backward, then a cool-down of backwards).
 * Communication is taken as free and every forward (backward) costs the same on
 * every stage, the assumptions under which the papers' bubble formulas hold.
 *
 * Introduced in notebooks/04-distributed.
 *
 * @module
 */

/** A pipeline schedule. */
export type PipelineScheduleKind = 'gpipe' | '1f1b';

/** One operation of a schedule: a plain row for a timeline plot. */
export interface PipelineOp {
  /** Stage 0 … p−1 (stage 0 holds the first layers). */
  stage: number;
  /** Forward or backward. */
  op: 'F' | 'B';
  /** Micro-batch 0 … m−1. */
  microBatch: number;
  /** Start time (units of the forward time when tf = 1). */
  start: number;
  /** End time. */
  end: number;
}

/** Options of {@link pipelineSchedule}. */
export interface PipelineScheduleOptions {
  /** Stages p (≥ 1). */
  stages: number;
  /** Micro-batches m (≥ 1). */
  microBatches: number;
  /** Schedule (default `'1f1b'`). */
  schedule?: PipelineScheduleKind;
  /** Time of one micro-batch's forward on one stage (default 1). */
  tf?: number;
  /** Time of one micro-batch's backward on one stage (default 2·tf: the backward computes two matmuls per forward one). */
  tb?: number;
}

/** The result of {@link pipelineSchedule}. */
export interface PipelineSchedule {
  /** The schedule simulated. */
  schedule: PipelineScheduleKind;
  /** Stages p. */
  stages: number;
  /** Micro-batches m. */
  microBatches: number;
  /** Forward time per micro-batch and stage. */
  tf: number;
  /** Backward time per micro-batch and stage. */
  tb: number;
  /** Every operation, sorted by start time, then stage. */
  ops: PipelineOp[];
  /** End of the last operation. */
  makespan: number;
  /**
   * Idle fraction of the pipeline, measured on the schedule: `1 − busy / (p · makespan)`.
   * Equals GPipe's `(p−1)/(m+p−1)` ({@link bubbleFraction}) for both schedules.
   */
  bubble: number;
  /** Megatron's bubble ratio `(p−1)/m` (bubble time over ideal compute time, {@link bubbleRatio}), for comparison. */
  bubbleRatio: number;
  /** Per stage, the most micro-batches whose activations it holds at once (forward done, backward not yet). */
  peakActivations: number[];
}

function int(who: string, name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new Error(`${who}: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
  return v;
}

/**
 * The pipeline bubble as a fraction of the total time: `(p−1)/(m+p−1)` (GPipe,
 * Huang et al. 2019, §2.3; the same for 1F1B). This is what {@link pipelineSchedule}'s
 * `bubble` measures.
 *
 * Introduced in notebooks/04-distributed.
 */
export function bubbleFraction(stages: number, microBatches: number): number {
  const p = int('bubbleFraction', 'stages', stages, 1);
  const m = int('bubbleFraction', 'microBatches', microBatches, 1);
  return (p - 1) / (m + p - 1);
}

/**
 * The pipeline bubble as Megatron-LM states it: bubble time over ideal compute
 * time, `(p−1)/m` (Narayanan et al. 2021, §2.2.1). Larger than {@link bubbleFraction}:
 * `f = r / (1 + r)`.
 *
 * Introduced in notebooks/04-distributed.
 */
export function bubbleRatio(stages: number, microBatches: number): number {
  const p = int('bubbleRatio', 'stages', stages, 1);
  const m = int('bubbleRatio', 'microBatches', microBatches, 1);
  return (p - 1) / m;
}

/** Each stage's operations in the order the schedule runs them. */
function stageOrders(p: number, m: number, schedule: PipelineScheduleKind): Array<Array<{ op: 'F' | 'B'; mb: number }>> {
  const orders: Array<Array<{ op: 'F' | 'B'; mb: number }>> = [];
  for (let s = 0; s < p; s++) {
    const order: Array<{ op: 'F' | 'B'; mb: number }> = [];
    if (schedule === 'gpipe') {
      for (let j = 0; j < m; j++) order.push({ op: 'F', mb: j });
      for (let j = m - 1; j >= 0; j--) order.push({ op: 'B', mb: j }); // last forward's backward first, as in GPipe's Figure 2
    } else {
      const warmup = Math.min(p - s - 1, m);
      for (let j = 0; j < warmup; j++) order.push({ op: 'F', mb: j });
      for (let i = 0; i < m - warmup; i++) {
        order.push({ op: 'F', mb: warmup + i });
        order.push({ op: 'B', mb: i });
      }
      for (let j = m - warmup; j < m; j++) order.push({ op: 'B', mb: j });
    }
    orders.push(order);
  }
  return orders;
}

/**
 * Simulate a GPipe or 1F1B schedule for p stages and m micro-batches. Each stage
 * runs its operations in the schedule's order, each as soon as the stage is free
 * and its inputs exist: forward of micro-batch j on stage s after the forward of
 * j on s−1; backward of j on s after the backward of j on s+1 (on the last stage,
 * after its own forward of j). Returns the timeline, the measured bubble and each
 * stage's peak of micro-batches whose activations it holds: GPipe m on every
 * stage; 1F1B `min(m, p − s)` on stage s, which is why 1F1B needs less memory for
 * the same bubble.
 *
 * With uniform times both schedules take `(m+p−1)(tf+tb)`, so `bubble` is
 * `(p−1)/(m+p−1)` ({@link bubbleFraction}); `bubbleRatio` is Megatron's `(p−1)/m`.
 *
 * @example
 * pipelineSchedule({ stages: 4, microBatches: 8, schedule: '1f1b' }).bubble; // 3/11
 *
 * Reference: Huang et al. 2019, "GPipe" (Figure 2); Narayanan et al. 2021,
 * "Efficient Large-Scale Language Model Training on GPU Clusters Using
 * Megatron-LM" (§2.2, Figure 4); Shoeybi et al. 2019 (Megatron-LM).
 * Introduced in notebooks/04-distributed.
 */
export function pipelineSchedule({ stages, microBatches, schedule = '1f1b', tf = 1, tb }: PipelineScheduleOptions): PipelineSchedule {
  const who = 'pipelineSchedule';
  const p = int(who, 'stages', stages, 1);
  const m = int(who, 'microBatches', microBatches, 1);
  if (schedule !== 'gpipe' && schedule !== '1f1b') throw new Error(`${who}: schedule must be 'gpipe' or '1f1b', got '${String(schedule)}'`);
  if (typeof tf !== 'number' || !(tf > 0) || !Number.isFinite(tf)) throw new Error(`${who}: tf must be a finite number > 0, got ${String(tf)}`);
  const tB = tb ?? 2 * tf;
  if (typeof tB !== 'number' || !(tB > 0) || !Number.isFinite(tB)) throw new Error(`${who}: tb must be a finite number > 0, got ${String(tb)}`);

  const orders = stageOrders(p, m, schedule);
  const fEnd = Array.from({ length: p }, () => new Array<number>(m).fill(NaN));
  const bEnd = Array.from({ length: p }, () => new Array<number>(m).fill(NaN));
  const next = new Array<number>(p).fill(0);
  const free = new Array<number>(p).fill(0);
  const held = new Array<number>(p).fill(0);
  const peak = new Array<number>(p).fill(0);
  const ops: PipelineOp[] = [];
  let remaining = 2 * p * m;
  while (remaining > 0) {
    let progressed = false;
    for (let s = 0; s < p; s++) {
      while (next[s]! < orders[s]!.length) {
        const { op, mb } = orders[s]![next[s]!]!;
        const ready = op === 'F' ? (s === 0 ? 0 : fEnd[s - 1]![mb]!) : Math.max(fEnd[s]![mb]!, s === p - 1 ? 0 : bEnd[s + 1]![mb]!);
        if (Number.isNaN(ready)) break; // its input is not computed yet
        const start = Math.max(free[s]!, ready);
        const end = start + (op === 'F' ? tf : tB);
        (op === 'F' ? fEnd : bEnd)[s]![mb] = end;
        free[s] = end;
        held[s]! += op === 'F' ? 1 : -1;
        peak[s] = Math.max(peak[s]!, held[s]!);
        ops.push({ stage: s, op, microBatch: mb, start, end });
        next[s]!++;
        remaining--;
        progressed = true;
      }
    }
    if (!progressed) throw new Error(`${who}: the ${schedule} order deadlocked (a bug in the schedule)`);
  }
  ops.sort((x, y) => x.start - y.start || x.stage - y.stage);
  const makespan = Math.max(...free);
  const busy = p * m * (tf + tB);
  return {
    schedule, stages: p, microBatches: m, tf, tb: tB, ops, makespan,
    bubble: 1 - busy / (p * makespan),
    bubbleRatio: bubbleRatio(p, m),
    peakActivations: peak,
  };
}
