/**
 * Where display bundles go.
 *
 * The library never talks to Jupyter itself (plot builders return bundles).
 * The gradlab kernel (`kernel/kernel.ts`) registers a sink under
 * `Symbol.for('gradlab.display.sink')` on `globalThis` before it runs any
 * cell: this is the one piece of process-wide state gradlab relies on, and
 * it belongs to the kernel process, which owns the Jupyter connection.
 * Outside a kernel (a plain Node script) bundles are printed as text.
 */
import type { DisplayBundle } from './bundle';

/** Options for one send: a display id makes the output updatable. */
export interface SinkOptions {
  /** Jupyter `transient.display_id`; outputs with the same id can be updated. */
  displayId?: string;
  /** true: send `update_display_data` (replace), false: `display_data` (new output). */
  update: boolean;
}

/**
 * Receives bundles; the kernel forwards them to IOPub. A sink may also clear
 * the running cell's output (Jupyter `clear_output`); one that cannot simply
 * has no `clear`.
 */
export interface DisplaySink {
  (bundle: DisplayBundle, options: SinkOptions): void;
  /** Clear the cell's output: now, or with `wait` just before the next output arrives. */
  clear?: (wait: boolean) => void;
}

/** The global key the gradlab kernel registers its sink under. */
export const SINK_KEY = Symbol.for('gradlab.display.sink');

/** The sink of the running gradlab kernel, or undefined outside one. */
export function kernelSink(): DisplaySink | undefined {
  const s = (globalThis as Record<symbol, unknown>)[SINK_KEY];
  return typeof s === 'function' ? (s as DisplaySink) : undefined;
}

/** A sink for plain Node: prints `text/plain` (updates are printed again). */
export const consoleSink: DisplaySink = (bundle) => {
  const text = bundle.data['text/plain'];
  const others = Object.keys(bundle.data).filter((k) => k !== 'text/plain');
  process.stdout.write(
    (typeof text === 'string' ? text : JSON.stringify(text)) +
      (others.length ? `  [also ${others.join(', ')}]` : '') +
      '\n',
  );
};

/** The sink in effect: the kernel's, else the console. */
export function currentSink(): DisplaySink {
  return kernelSink() ?? consoleSink;
}
