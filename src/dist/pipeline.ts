/**
 * Pipeline parallelism on real ranks: rank r holds stage r (a contiguous slice
 * of an MLP's layers), the batch is cut into m micro-batches, and each stage
 * runs the forwards (F) and backwards (B) in the order of a GPipe or 1F1B
 * schedule from {@link pipelineSchedule}: F receives the activation from rank
 * r−1 and sends its output to r+1; B receives ∂L/∂output from r+1 and sends
 * ∂L/∂input to r−1. Gradients accumulate over the micro-batches in the leaves'
 * `.grad`, so one {@link runPipeline} call gives the full batch's gradients.
 *
 * Every operation is timed (one wall clock shared by the ranks of one machine),
 * so the timeline shows the bubbles, and each stage counts the micro-batches
 * whose activations it holds (forward done, backward not yet) and their bytes.
 *
 * Introduced in notebooks/04-distributed/03-tensor-pipeline.
 *
 * @module
 */
import { tf } from '../backend/tf';
import { gelu, mul, savedBytes, tensor, type Tensor } from '../autograd';
import { linear } from '../nn/functional';
import { mse } from '../nn/losses';
// The machine's monotonic clock (process.hrtime): one clock for every rank process, see runPipeline.
import { now as nowMs } from '../probes/timing';
import { barrier, broadcast, chunkStart } from './collectives';
import type { ProcessGroup } from './group';
import { pipelineSchedule, type PipelineScheduleKind } from './pipeline-schedule';

/** One dense layer `y = x W + b`, `W: [in, out]`, `b: [out]` (gradlab's `Linear` layout). */
export interface DenseLayer {
  weight: tf.Tensor;
  bias: tf.Tensor;
}

/**
 * Stage r of a pipeline over an MLP of L dense layers with GELU between them
 * (none after the last): the layers `[chunkStart(L, p, r), chunkStart(L, p, r+1))`,
 * built from the dense weights (borrowed, copied) so the pipeline can be
 * compared with the unsplit model. L need not be divisible by p (stages differ
 * by one layer) but must be ≥ p.
 *
 * Reference: Huang et al. 2019, "GPipe" (partitioning into consecutive cells).
 * Introduced in notebooks/04-distributed/03-tensor-pipeline.
 */
export class PipelineStage {
  /** This stage's index (= rank). */
  readonly stage: number;
  /** Number of stages p (= world size). */
  readonly stages: number;
  /** Index of this stage's first layer in the whole model. */
  readonly firstLayer: number;
  /** Layers of the whole model. */
  readonly totalLayers: number;
  /** This stage's layers, trainable leaves. */
  readonly layers: Array<{ weight: Tensor; bias: Tensor }>;

  constructor(readonly pg: ProcessGroup, model: DenseLayer[]) {
    const who = 'PipelineStage';
    const L = model.length, p = pg.worldSize, r = pg.rank;
    if (L < p) throw new Error(`${who}: ${L} layers cannot fill ${p} stages (a stage would be empty); use at most ${L} ranks or more layers`);
    for (let i = 1; i < L; i++) {
      if (model[i]!.weight.shape[0] !== model[i - 1]!.weight.shape[1]) throw new Error(`${who}: layer ${i} takes ${model[i]!.weight.shape[0]} inputs but layer ${i - 1} gives ${model[i - 1]!.weight.shape[1]}`);
    }
    this.stage = r;
    this.stages = p;
    this.totalLayers = L;
    this.firstLayer = chunkStart(L, p, r);
    this.layers = model.slice(this.firstLayer, chunkStart(L, p, r + 1)).map((l, k) => ({
      weight: tensor(tf.clone(l.weight), { requiresGrad: true, label: `W${this.firstLayer + k}` }),
      bias: tensor(tf.clone(l.bias), { requiresGrad: true, label: `b${this.firstLayer + k}` }),
    }));
  }

  /** Input width of this stage. */
  get inFeatures(): number {
    return this.layers[0]!.weight.shape[0]!;
  }

  /** Output width of this stage. */
  get outFeatures(): number {
    return this.layers[this.layers.length - 1]!.weight.shape[1]!;
  }

  /** `[W, b]` of each layer, in order. */
  parameters(): Tensor[] {
    return this.layers.flatMap((l) => [l.weight, l.bias]);
  }

  /** This stage's layers on `x`: linear, then GELU unless it is the model's last layer. */
  forward(x: Tensor): Tensor {
    let h: Tensor = x;
    this.layers.forEach((l, k) => {
      h = linear(h, l.weight, l.bias);
      if (this.firstLayer + k < this.totalLayers - 1) h = gelu(h);
    });
    return h;
  }

  /** Free the parameters. */
  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }
}

/** One operation as it really ran: times in ms since the step's common start. */
export interface PipelineEvent {
  /** Stage (= rank). */
  stage: number;
  /** Forward or backward. */
  op: 'F' | 'B';
  /** Micro-batch. */
  microBatch: number;
  /** When its input was there and the compute began (ms). */
  start: number;
  /** When its output was computed and read back, before it was sent (ms). */
  end: number;
}

/** Options of {@link runPipeline}. */
export interface RunPipelineOptions {
  /** Micro-batches m (≥ 1, ≤ batch size). */
  microBatches: number;
  /** 'gpipe' or '1f1b' (default '1f1b'). */
  schedule?: PipelineScheduleKind;
  /** Rows B of the whole batch (every rank must pass it). */
  batchSize: number;
  /** The whole input `[B, in]` (needed on stage 0 only; borrowed). */
  input?: tf.Tensor;
  /** The whole target `[B, out]` (needed on the last stage only; borrowed). */
  target?: tf.Tensor;
}

/** What {@link runPipeline} returns on each rank. */
export interface RunPipelineResult {
  /** The full-batch loss `mean((y − t)²)` (last stage; null elsewhere). */
  loss: number | null;
  /** This stage's operations, in the order they ran. */
  timeline: PipelineEvent[];
  /** Most micro-batches whose activations this stage held at once. */
  peakActivations: number;
  /** Most bytes of saved activations (all held micro-batches' graphs, parameters excluded) at once. */
  peakActivationBytes: number;
}

/**
 * One training step's forward and backward through the pipeline, as stage
 * `stage.stage`, following `pipelineSchedule({ stages: p, microBatches: m, schedule })`'s
 * order for this stage. The loss is the full batch's mean squared error:
 * micro-batch j (rows `[chunkStart(B, m, j), chunkStart(B, m, j+1))`) contributes
 * `Σ_j (y − t)² / (B · out)`, so the gradients accumulated over the m micro-batches
 * equal the unsplit model's full-batch gradients (they are added to `.grad`; zero
 * them between steps). All ranks must call it with the same m, schedule and B.
 *
 * Communication per micro-batch between stages r and r+1: the activation
 * `[b, width]` forward and its gradient backward (`pg.send` / `pg.recv`, tagged
 * with the micro-batch). Stage 0 reads its micro-batches from `input`, the last
 * stage its targets from `target`.
 *
 * Reference: Huang et al. 2019, "GPipe"; Narayanan et al. 2021 (1F1B,
 * PipeDream-Flush); PyTorch `torch.distributed.pipelining` (ScheduleGPipe, Schedule1F1B).
 * Introduced in notebooks/04-distributed/03-tensor-pipeline.
 */
export async function runPipeline(stage: PipelineStage, o: RunPipelineOptions): Promise<RunPipelineResult> {
  const who = 'runPipeline';
  const pg = stage.pg, p = stage.stages, r = stage.stage, last = r === p - 1;
  const m = o.microBatches, B = o.batchSize;
  if (!Number.isInteger(B) || B < 1) throw new Error(`${who}: batchSize must be an integer ≥ 1, got ${String(B)}`);
  if (!Number.isInteger(m) || m < 1 || m > B) throw new Error(`${who}: microBatches must be an integer in 1..${B} (the batch size), got ${String(m)}`);
  if (r === 0 && (!o.input || o.input.rank !== 2 || o.input.shape[0] !== B || o.input.shape[1] !== stage.inFeatures)) {
    throw new Error(`${who}: stage 0 needs input [${B}, ${stage.inFeatures}], got ${o.input ? `[${o.input.shape}]` : 'none'}`);
  }
  if (last && (!o.target || o.target.rank !== 2 || o.target.shape[0] !== B || o.target.shape[1] !== stage.outFeatures)) {
    throw new Error(`${who}: the last stage needs target [${B}, ${stage.outFeatures}], got ${o.target ? `[${o.target.shape}]` : 'none'}`);
  }
  const order = pipelineSchedule({ stages: p, microBatches: m, schedule: o.schedule ?? '1f1b' }).ops.filter((x) => x.stage === r);
  const params = stage.parameters();
  const rows = (j: number) => [chunkStart(B, m, j), chunkStart(B, m, j + 1) - chunkStart(B, m, j)] as const;
  const scale = 1 / (B * stage.outFeatures);

  // A common time origin: rank 0's reading of the machine's monotonic clock (process.hrtime,
  // Linux's CLOCK_MONOTONIC), which every rank process on the machine shares, so the times that
  // different ranks record compare exactly. (`performance.timeOrigin + performance.now()` would
  // not: Node reads two clocks one after the other when a process starts, and a process paused
  // between the two reads is off by that pause — 0.1 ms under light load here, 12 ms once under
  // heavy load.) Sent as two float32s; every rank subtracts the same number.
  await barrier(pg);
  const t = nowMs();
  const hi = Math.floor(t / 1e6);
  const t0parts = await broadcast(pg, Float32Array.of(hi, t - hi * 1e6), 0);
  const t0 = t0parts[0]! * 1e6 + t0parts[1]!;

  const live = new Map<number, { xin: Tensor; out: Tensor; target: tf.Tensor | null; bytes: number }>();
  const timeline: PipelineEvent[] = [];
  let held = 0, heldBytes = 0, peak = 0, peakBytes = 0, loss = 0;
  try {
    for (const { op, microBatch: j } of order) {
      const [row0, b] = rows(j);
      if (op === 'F') {
        const x = r === 0 ? tf.slice(o.input!, [row0, 0], [b, stage.inFeatures]) : tf.tensor(await pg.recv(r - 1, `pp:F:${j}`), [b, stage.inFeatures]);
        const start = nowMs() - t0;
        const xin = tensor(x, { requiresGrad: r > 0, label: `x[mb ${j}]` });
        const y = stage.forward(xin);
        let out = y, target: tf.Tensor | null = null;
        if (last) {
          target = tf.slice(o.target!, [row0, 0], [b, stage.outFeatures]);
          out = mul(mse(y, target, { reduction: 'sum' }), scale);
        }
        const value = await out.data.data(); // wait for the compute (webgpu runs it asynchronously)
        const end = nowMs() - t0;
        if (last) loss += value[0]!;
        else await pg.send(value as Float32Array, r + 1, `pp:F:${j}`);
        const bytes = savedBytes(out, params).bytes;
        live.set(j, { xin, out, target, bytes });
        held++;
        heldBytes += bytes;
        peak = Math.max(peak, held);
        peakBytes = Math.max(peakBytes, heldBytes);
        timeline.push({ stage: r, op, microBatch: j, start, end });
      } else {
        const rec = live.get(j);
        if (!rec) throw new Error(`${who}: stage ${r} has no forward of micro-batch ${j} to backpropagate (a schedule bug)`);
        const dy = last ? null : tf.tensor(await pg.recv(r + 1, `pp:B:${j}`), [b, stage.outFeatures]);
        const start = nowMs() - t0;
        if (dy) rec.out.backward(dy);
        else rec.out.backward();
        dy?.dispose();
        // wait for the compute: the input gradient we send, or (stage 0) one weight gradient
        let dx: tf.TypedArray | null = null;
        if (r > 0) dx = await rec.xin.grad!.data();
        else {
          const probe = tf.slice(stage.layers[0]!.weight.grad!, [0, 0], [1, 1]);
          await probe.data();
          probe.dispose();
        }
        const end = nowMs() - t0;
        if (dx) await pg.send(dx as Float32Array, r - 1, `pp:B:${j}`);
        rec.out.dispose();
        rec.xin.dispose();
        rec.target?.dispose();
        live.delete(j);
        held--;
        heldBytes -= rec.bytes;
        timeline.push({ stage: r, op, microBatch: j, start, end });
      }
    }
  } finally {
    for (const rec of live.values()) {
      rec.out.dispose();
      rec.xin.dispose();
      rec.target?.dispose();
    }
  }
  return { loss: last ? loss : null, timeline, peakActivations: peak, peakActivationBytes: peakBytes };
}

/** What {@link timelineStats} returns. */
export interface TimelineStats {
  /** From the first start to the last end (ms). */
  makespan: number;
  /** Sum of all operations' durations (ms). */
  busy: number;
  /** Measured idle fraction `1 − busy / (p · makespan)`, to set beside `bubbleFraction(p, m)`. */
  bubble: number;
  /** Mean forward duration (ms). */
  meanF: number;
  /** Mean backward duration (ms). */
  meanB: number;
}

/**
 * The measured bubble of a timeline (all stages' {@link PipelineEvent}s):
 * `1 − busy / (p · makespan)`, the quantity {@link pipelineSchedule}'s `bubble`
 * computes on the ideal schedule. On real ranks it also counts the time spent
 * sending and receiving and any uneven stage times.
 *
 * Introduced in notebooks/04-distributed/03-tensor-pipeline.
 */
export function timelineStats(events: readonly PipelineEvent[], stages: number): TimelineStats {
  if (events.length === 0) throw new Error('timelineStats: no events');
  const t0 = Math.min(...events.map((e) => e.start)), t1 = Math.max(...events.map((e) => e.end));
  const busy = events.reduce((a, e) => a + (e.end - e.start), 0);
  const mean = (op: 'F' | 'B') => {
    const d = events.filter((e) => e.op === op).map((e) => e.end - e.start);
    return d.length ? d.reduce((a, x) => a + x, 0) / d.length : NaN;
  };
  return { makespan: t1 - t0, busy, bubble: 1 - busy / (stages * (t1 - t0)), meanF: mean('F'), meanB: mean('B') };
}

/**
 * The dependencies a pipeline timeline violates (empty if none): every stage
 * runs each F and B once per micro-batch, one at a time; F of micro-batch j on
 * stage s starts after it ended on s−1; B of j on s starts after B of j ended
 * on s+1 and after F of j ended on s.
 *
 * Times on different stages come from different processes. {@link runPipeline}
 * records them on the machine's monotonic clock, which all its processes share,
 * and a stage's end is read before it sends while the next stage's start is read
 * after it received: so the cross-stage order is exact (`clockSkewMs` = 0, the
 * default). Pass a tolerance in ms for timelines from clocks that are not shared
 * (ranks on different machines). Same-stage checks are always exact.
 *
 * Introduced in notebooks/04-distributed/03-tensor-pipeline.
 */
export function timelineViolations(events: readonly PipelineEvent[], stages: number, microBatches: number, clockSkewMs = 0): string[] {
  if (!(clockSkewMs >= 0 && Number.isFinite(clockSkewMs))) throw new Error(`timelineViolations: clockSkewMs must be a finite number of ms ≥ 0 (0 for runPipeline's shared clock), got ${String(clockSkewMs)}`);
  const bad: string[] = [];
  const at = new Map<string, PipelineEvent>();
  for (const e of events) {
    const k = `${e.op}${e.stage}:${e.microBatch}`;
    if (at.has(k)) bad.push(`${e.op} of micro-batch ${e.microBatch} ran twice on stage ${e.stage}`);
    at.set(k, e);
    if (!(e.end >= e.start)) bad.push(`${e.op} of micro-batch ${e.microBatch} on stage ${e.stage} ends (${e.end}) before it starts (${e.start})`);
  }
  for (let s = 0; s < stages; s++) {
    const mine = events.filter((e) => e.stage === s).sort((a, b) => a.start - b.start);
    for (let i = 1; i < mine.length; i++) if (mine[i]!.start < mine[i - 1]!.end) bad.push(`stage ${s} overlaps ${mine[i - 1]!.op}${mine[i - 1]!.microBatch} and ${mine[i]!.op}${mine[i]!.microBatch}`);
    for (let j = 0; j < microBatches; j++) {
      const f = at.get(`F${s}:${j}`), b = at.get(`B${s}:${j}`);
      if (!f || !b) {
        bad.push(`stage ${s} misses ${!f ? 'F' : 'B'} of micro-batch ${j}`);
        continue;
      }
      if (b.start < f.end) bad.push(`B${j} on stage ${s} starts before its F ends`);
      const fPrev = at.get(`F${s - 1}:${j}`), bNext = at.get(`B${s + 1}:${j}`);
      if (s > 0 && fPrev && f.start < fPrev.end - clockSkewMs) bad.push(`F${j} on stage ${s} starts (${f.start.toFixed(3)}) before it ends on stage ${s - 1} (${fPrev.end.toFixed(3)})`);
      if (s < stages - 1 && bNext && b.start < bNext.end - clockSkewMs) bad.push(`B${j} on stage ${s} starts (${b.start.toFixed(3)}) before it ends on stage ${s + 1} (${bNext.end.toFixed(3)})`);
    }
  }
  return bad;
}
