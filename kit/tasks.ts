/**
 * The GPU kit's tasks, by name. Adding a task is one line here: a name, what
 * it measures, and an async function of the {@link KitContext} that returns a
 * plain object (printed as one JSON line). `all` runs every task in order.
 */
import type { KitTask } from './context';
import { facts } from './tasks/facts';
import { mlp } from './tasks/mlp';
import { precision } from './tasks/precision';
import { probes } from './tasks/probes';

/** A registered task. */
export interface KitTaskEntry {
  /** One line: what it measures. */
  about: string;
  run: KitTask;
}

/** Every task, in the order `all` runs them. */
export const TASKS: Record<string, KitTaskEntry> = {
  facts: { about: 'node, driver, loaders, ICDs, every Dawn adapter (features, limits) and the one webgpu chose', run: facts },
  mlp: { about: 'autograd MLP 784-256-256-10 training step, batch 128, SGD: ms per step, checked against cpu', run: mlp },
  probes: { about: 'raw WGSL copy GB/s (and its fraction of the datasheets), STREAM copy/triad, matmul GFLOP/s, roofline points, launch overhead, fusion', run: probes },
  precision: { about: 'fp32 / emulated fp16 without and with dynamic loss scaling / bf16 training of one MLP: final losses, skipped steps, the scale, underflow, ms per step', run: precision },
};
