/** @internal Option checks shared by the layers: each names the layer, the option and the bad value. */

/** `v` if it is a positive integer, else an error naming `who` and `name`. */
export function positiveInt(who: string, name: string, v: number): number {
  if (!(Number.isInteger(v) && v > 0)) throw new Error(`${who}: ${name} must be a positive integer, got ${String(v)}`);
  return v;
}

/** `v` if it is a positive finite number. */
export function positiveNumber(who: string, name: string, v: number): number {
  if (!(Number.isFinite(v) && v > 0)) throw new Error(`${who}: ${name} must be a positive finite number, got ${String(v)}`);
  return v;
}

/** `v` if it is a boolean. */
export function bool(who: string, name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new Error(`${who}: ${name} must be true or false, got ${String(v)}`);
  return v;
}

/** `v` if it is a function (an initializer). */
export function fn<T>(who: string, name: string, v: T): T {
  if (typeof v !== 'function') throw new Error(`${who}: ${name} must be a function (e.g. nn.init.xavierUniform()), got ${String(v)}`);
  return v;
}
