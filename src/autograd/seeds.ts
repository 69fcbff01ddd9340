/**
 * Random seeds that survive recomputation.
 *
 * `checkpoint(fn)` runs `fn` twice: once in the forward (not recorded) and
 * again in backward (recorded). A layer that draws a fresh random seed on each
 * call (`nn.Dropout`) would draw a different mask the second time, and the
 * gradients would belong to a different network. PyTorch's checkpoint saves and
 * restores its global RNG state (`preserve_rng_state=True`); gradlab's RNGs are
 * objects you own, so instead every seed drawn through {@link drawSeed} inside a
 * checkpointed block is recorded on a tape in the first run and replayed, in
 * order, in the recomputation. Nested checkpoints pass draws through to the
 * enclosing tape, so an outer recomputation replays the inner blocks too.
 *
 * Introduced in notebooks/01-backprop/05-checkpointing.
 */

/** Seeds drawn during one checkpointed forward, replayed by its recomputation. */
export interface SeedTape {
  mode: 'record' | 'replay';
  seeds: number[];
  next: number;
  /** The tape of an enclosing checkpoint, if any: recording draws through it. */
  parent: SeedTape | null;
}

let current: SeedTape | null = null;

function drawOn(tape: SeedTape | null, draw: () => number): number {
  if (!tape) return draw();
  if (tape.mode === 'record') {
    const seed = drawOn(tape.parent, draw);
    tape.seeds.push(seed);
    return seed;
  }
  if (tape.next >= tape.seeds.length) {
    throw new Error(
      `checkpoint: the recomputation drew random seed #${tape.next + 1}, but the forward drew only ` +
        `${tape.seeds.length}; the checkpointed function must make the same random draws each time it runs`,
    );
  }
  return tape.seeds[tape.next++]!;
}

/**
 * A seed for a random op: `draw()` outside checkpointed code; inside, the
 * seed recorded in the forward is replayed by the recomputation. Layers that
 * draw seeds (e.g. `nn.Dropout`) call this, so they are safe under checkpoint.
 */
export function drawSeed(draw: () => number): number {
  return drawOn(current, draw);
}

/** A fresh tape that records the seeds `fn` draws (checkpoint's first forward). */
export function recordSeeds<T>(fn: () => T): { result: T; tape: SeedTape } {
  const tape: SeedTape = { mode: 'record', seeds: [], next: 0, parent: current };
  return { result: withTape(tape, fn), tape };
}

/** Run `fn` replaying `tape`'s seeds (checkpoint's recomputation). */
export function replaySeeds<T>(tape: SeedTape, fn: () => T): T {
  return withTape({ ...tape, mode: 'replay', next: 0, parent: current }, fn);
}

function withTape<T>(tape: SeedTape, fn: () => T): T {
  const before = current;
  current = tape;
  try {
    return fn();
  } finally {
    current = before;
  }
}
