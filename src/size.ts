/**
 * The size knob: one setting, `GRADLAB_SIZE` (`npm start -- --size ...`), that scales the
 * notebooks' experiments — widths, depths, steps, data — for the machine at hand.
 *
 * ```ts
 * const size = gl.sized({
 *   steps: { small: 300, medium: 1500, large: 6000 },   // training steps
 *   width: { small: 32, medium: 128, large: 512 },      // hidden width
 * });
 * console.log(size.describe());
 * // size small (GRADLAB_SIZE not set): steps 300, width 32 | medium: steps 1500, width 128 | large: steps 6000, width 512
 * for (let i = 0; i < size.steps; i++) { ... }
 * ```
 *
 * - `small` (the default) runs the whole course on a laptop CPU in minutes;
 * - `medium` is a few times bigger: smoother curves on a fast CPU or a small GPU;
 * - `large` is meant to fill a GPU for a lecture-hall demo.
 *
 * Every notebook reads the size once, in its first cell, and prints what it chose.
 * Introduced in every chapter's notebooks (first cell); the runner's `--size` sets it.
 */

/** The three sizes, smallest first. */
export const SIZES = ['small', 'medium', 'large'] as const;

/** One of {@link SIZES}. */
export type Size = (typeof SIZES)[number];

/** A knob's value at each size. */
export type Choice<V> = { readonly [S in Size]: V };

/** What {@link sized} returns: each knob's value at the chosen size, plus the size itself. */
export type Sized<T extends Record<string, Choice<unknown>>> = {
  readonly [K in keyof T]: T[K] extends Choice<infer V> ? V : never;
} & {
  /** The size these values are for. */
  readonly size: Size;
  /** Where the size came from: `GRADLAB_SIZE=medium`, or `GRADLAB_SIZE not set`. */
  readonly source: string;
  /** One line: the chosen size and values, then what the other sizes would run. */
  describe(): string;
};

/** A bad `GRADLAB_SIZE` or knob table. */
export class SizeError extends Error {
  override name = 'SizeError';
}

/**
 * The size this process runs at: `GRADLAB_SIZE` (case-insensitive, surrounding spaces
 * ignored), `small` when it is unset or empty. Throws {@link SizeError} naming the bad
 * value and the choices.
 */
export function currentSize(env: NodeJS.ProcessEnv = process.env): Size {
  const raw = (env.GRADLAB_SIZE ?? '').trim().toLowerCase();
  if (!raw) return 'small';
  if ((SIZES as readonly string[]).includes(raw)) return raw as Size;
  throw new SizeError(
    `GRADLAB_SIZE="${env.GRADLAB_SIZE}" is not a size: use one of ${SIZES.join(', ')} ` +
      `(npm start -- --size medium, or unset it for small)`,
  );
}

const RESERVED = new Set(['size', 'source', 'describe']);

function show(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) >= 1e4 ? v.toLocaleString('en-US') : String(v);
  if (v && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${k}: ${show(x)}`).join(', ')}}`;
  return String(v);
}

/**
 * Pick each knob's value for the current size (see {@link currentSize}).
 *
 * @param knobs  name → `{ small, medium, large }`. Every knob needs all three sizes; the
 *   names `size`, `source` and `describe` are taken by the result.
 * @param env  where `GRADLAB_SIZE` is read (default `process.env`).
 * @returns a frozen object with each knob's value, `size`, `source` and `describe()`.
 * @throws SizeError for a bad `GRADLAB_SIZE`, a knob missing a size, or a reserved name.
 */
export function sized<T extends Record<string, Choice<unknown>>>(knobs: T, env: NodeJS.ProcessEnv = process.env): Sized<T> {
  const size = currentSize(env);
  const out: Record<string, unknown> = {};
  for (const [name, choice] of Object.entries(knobs)) {
    if (RESERVED.has(name)) throw new SizeError(`gl.sized: the knob name "${name}" is taken by the result; rename it`);
    if (!choice || typeof choice !== 'object') {
      throw new SizeError(`gl.sized: knob "${name}" must be { small, medium, large }, got ${show(choice)}`);
    }
    const missing = SIZES.filter((s) => !(s in choice));
    if (missing.length) {
      throw new SizeError(`gl.sized: knob "${name}" has no value for ${missing.join(', ')}; give all of ${SIZES.join(', ')}`);
    }
    out[name] = (choice as Choice<unknown>)[size];
  }
  const source = env.GRADLAB_SIZE?.trim() ? `GRADLAB_SIZE=${env.GRADLAB_SIZE.trim()}` : 'GRADLAB_SIZE not set';
  const values = (s: Size) => {
    const parts = Object.entries(knobs).map(([k, c]) => `${k} ${show(c[s])}`);
    return parts.length ? parts.join(', ') : 'no size-dependent experiments here';
  };
  const others = Object.keys(knobs).length ? SIZES.filter((s) => s !== size).map((s) => ` | ${s}: ${values(s)}`).join('') : '';
  const line = `size ${size} (${source}): ${values(size)}${others}`;
  Object.defineProperties(out, {
    size: { value: size, enumerable: false },
    source: { value: source, enumerable: false },
    describe: { value: () => line, enumerable: false },
  });
  return Object.freeze(out) as Sized<T>;
}
