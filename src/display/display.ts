/**
 * `display(x)` and updatable displays for notebooks.
 *
 * ```ts
 * await gl.display(fig);                 // one rich output (a whole MIME bundle)
 * const d = gl.newDisplay();             // an output you can overwrite
 * await d.show(textFigure('step 1'));    // display_data with a display_id
 * await d.show(textFigure('step 2'));    // update_display_data: same output, new content
 * await gl.updateDisplay(d.id, 'done');  // update any output by its display_id
 * gl.clearOutput({ wait: true });        // clear the cell's output when the next one arrives
 * ```
 */
import { randomBytes } from 'crypto';
import { toBundle } from './bundle';
import { currentSink, type DisplaySink } from './sink';

/** Show `x` as one output: its whole MIME bundle in a single display_data message. */
export async function display(x: unknown, sink: DisplaySink = currentSink()): Promise<void> {
  sink(await toBundle(x), { update: false });
}

/**
 * An output that can be replaced in place (Jupyter `display_id`). The first
 * `show` creates it, later ones send `update_display_data`, so a saved
 * notebook keeps the last state.
 */
export class DisplayHandle {
  /** The Jupyter display_id of this output. */
  readonly id: string;
  private shown = false;

  constructor(
    private readonly sink: DisplaySink = currentSink(),
    id: string = randomBytes(8).toString('hex'),
  ) {
    this.id = id;
  }

  /** Display `x` (first call) or replace what this handle shows (later calls). */
  async show(x: unknown): Promise<void> {
    const bundle = await toBundle(x);
    this.sink(bundle, { displayId: this.id, update: this.shown });
    this.shown = true;
  }
}

/** A new updatable display in the current kernel (or the console outside one); `id` picks its display_id. */
export function newDisplay(sink?: DisplaySink, id?: string): DisplayHandle {
  return new DisplayHandle(sink, id);
}

/**
 * Replace what the output with `displayId` shows, wherever it is (this cell
 * or an earlier one): Jupyter `update_display_data`. The output must have been
 * created with that id ({@link DisplayHandle}, or `newDisplay(sink, id)`).
 */
export async function updateDisplay(displayId: string, x: unknown, sink: DisplaySink = currentSink()): Promise<void> {
  sink(await toBundle(x), { displayId, update: true });
}

/** Options of {@link clearOutput}. */
export interface ClearOptions {
  /**
   * false (default): clear now. true: clear when the next output arrives, so
   * a redrawn output does not flicker (what progress displays use).
   */
  wait?: boolean;
}

/**
 * Clear the running cell's output (Jupyter `clear_output`). Outside a kernel
 * (or with a sink that cannot clear) it does nothing.
 */
export function clearOutput({ wait = false }: ClearOptions = {}, sink: DisplaySink = currentSink()): void {
  sink.clear?.(wait);
}
