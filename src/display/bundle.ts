/**
 * MIME bundles: the unit of rich output that gradlab hands to Jupyter.
 *
 * A bundle maps MIME types (`text/plain`, `image/svg+xml`,
 * `application/vnd.vegalite.v5+json`, ...) to their payloads, exactly as the
 * `data` field of a Jupyter `display_data` message. Figures and other rich
 * objects offer their bundle through `Symbol.for('Jupyter.display')`, the
 * convention Deno's Jupyter kernel uses, so any kernel that knows the
 * convention can render them.
 */
import { isTensor, tensorBundle } from './tensor';

/** MIME type -> payload (string, or JSON for `application/*+json`). */
export type MimeBundle = Record<string, unknown>;

/** What one `display_data` message carries. */
export interface DisplayBundle {
  data: MimeBundle;
  metadata?: Record<string, unknown>;
}

/** The well-known symbol under which an object offers its MIME bundle. */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for('Jupyter.display') as never;

/** An object that can render itself as a MIME bundle (sync or async). */
export interface Displayable {
  [JUPYTER_DISPLAY](): MimeBundle | Promise<MimeBundle>;
}

/** True when `x` offers a bundle through `Symbol.for('Jupyter.display')`. */
export function isDisplayable(x: unknown): x is Displayable {
  return (
    (typeof x === 'object' || typeof x === 'function') &&
    x !== null &&
    typeof (x as Record<symbol, unknown>)[JUPYTER_DISPLAY] === 'function'
  );
}

/**
 * Turn any value into a display bundle: a Displayable gives its own bundle,
 * a tensor (tfjs or gradlab autograd) its values as HTML and text (see
 * ./tensor), a string is shown as `text/plain`, anything else through
 * `util.inspect`.
 */
export async function toBundle(x: unknown): Promise<DisplayBundle> {
  if (isDisplayable(x)) {
    const data = await x[JUPYTER_DISPLAY]();
    if (data === null || typeof data !== 'object') {
      throw new TypeError(
        `display: [Symbol.for('Jupyter.display')]() returned ${String(data)}; ` +
          `it must return a MIME bundle such as { 'text/plain': '...' }`,
      );
    }
    return { data: { ...data } };
  }
  if (isTensor(x)) return { data: await tensorBundle(x) };
  if (typeof x === 'string') return { data: { 'text/plain': x } };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { inspect } = require('util') as typeof import('util');
  return { data: { 'text/plain': inspect(x, { depth: 4, colors: false }) } };
}
