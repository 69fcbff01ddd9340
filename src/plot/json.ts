/**
 * Make figure payloads valid JSON values.
 *
 * JSON has no NaN or Infinity (`JSON.stringify(NaN)` silently gives `null`)
 * and `JSON.stringify(new Float32Array(2))` gives `{"0":0,"1":0}`, not an
 * array. Bundles are sent as JSON, so figures pass their payload through
 * {@link toJsonSafe} first: what you see in the bundle object is what
 * arrives in the notebook.
 */

/** The JSON-safe copy and what was changed on the way. */
export interface JsonSafeResult {
  /** A deep copy with typed arrays as arrays and non-finite numbers as `null`. */
  value: unknown;
  /** How many non-finite numbers became `null`. */
  replaced: number;
  /** Paths such as `data.url` or `layer[1].data.url` where data comes from a URL. */
  urls: string[];
}

/** Deep-copy `x` into plain JSON values (see {@link JsonSafeResult}). */
export function toJsonSafe(x: unknown): JsonSafeResult {
  const out: JsonSafeResult = { value: undefined, replaced: 0, urls: [] };
  out.value = walk(x, '', out);
  return out;
}

function walk(x: unknown, path: string, acc: JsonSafeResult): unknown {
  if (typeof x === 'number') {
    if (Number.isFinite(x)) return x;
    acc.replaced++;
    return null;
  }
  if (x === null || typeof x !== 'object') return x;
  if (ArrayBuffer.isView(x) && !(x instanceof DataView)) {
    return walk(Array.from(x as unknown as ArrayLike<number>), path, acc);
  }
  if (Array.isArray(x)) return x.map((v, i) => walk(v, `${path}[${i}]`, acc));
  const copy: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(x)) {
    const p = path ? `${path}.${k}` : k;
    if (k === 'url' && /(^|\.)data$/.test(path)) acc.urls.push(p);
    if (v !== undefined) copy[k] = walk(v, p, acc);
  }
  return copy;
}
