/**
 * The `execute_result` of a cell: what its last expression's value looks like
 * in a notebook.
 *
 * - an object with `[Symbol.for('Jupyter.display')]()` (sync or async; the
 *   convention Deno's kernel uses, and what gradlab figures implement): its
 *   MIME bundle, e.g. a chart's Vega-Lite spec, SVG and text;
 * - a tfjs or gradlab tensor: `text/html` and `text/plain` with shape, dtype,
 *   backend and values, elided when large (src/display/tensor.ts);
 * - anything else: `text/plain`, as Node's REPL prints it (`util.inspect`).
 *
 * `text/plain` is always present (Jupyter requires it; consoles show only it).
 */
import { inspect } from 'util';
import { isDisplayable, toBundle, type DisplayBundle, type MimeBundle } from '../src/display/bundle';
import { isTensor } from '../src/display/tensor';

/** How Node's REPL prints a value. */
export function plainText(value: unknown): string {
  return inspect(value, { depth: 2, colors: false, maxArrayLength: 100, maxStringLength: 10_000, breakLength: 80 });
}

/** The bundle for a cell's value. */
export async function resultBundle(value: unknown): Promise<DisplayBundle> {
  if (!isDisplayable(value) && !isTensor(value)) return { data: { 'text/plain': plainText(value) } };
  const bundle = await toBundle(value);
  if (!('text/plain' in bundle.data)) {
    const name = (value as object).constructor?.name;
    bundle.data['text/plain'] = `<${name && name !== 'Object' ? name : 'object'} shown as ${Object.keys(bundle.data).join(', ')}>`;
  }
  return bundle;
}

/**
 * A bundle ready for the wire: binary payloads (Uint8Array / Buffer, e.g. a
 * PNG) become base64 text, as Jupyter expects for non-JSON MIME types.
 */
export function wireData(data: MimeBundle): MimeBundle {
  const out: MimeBundle = {};
  for (const [mime, v] of Object.entries(data)) {
    out[mime] = v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : v;
  }
  return out;
}
