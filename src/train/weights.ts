/**
 * What the training helpers accept as "the weights": a module (anything with
 * `namedParameters()`), a list of parameters, or a record of named parameters.
 * Introduced in notebooks/02-optim.
 */
import type { Tensor } from '../autograd';

/** A module (e.g. `gl.nn.MLP`), a list of parameters (named `'0'`, `'1'`, ...), or `{ name: param }`. */
export type WeightsInput = { namedParameters(): [string, Tensor][] } | Iterable<Tensor> | Record<string, Tensor>;

/** The weights as `[name, tensor]` pairs, in order. `who` names the caller in errors. */
export function namedWeights(who: string, w: WeightsInput): [string, Tensor][] {
  if (w === null || typeof w !== 'object') throw new TypeError(`${who}: expected a module, a list of parameters or { name: param }, got ${String(w)}`);
  if (typeof (w as { namedParameters?: unknown }).namedParameters === 'function') return (w as { namedParameters(): [string, Tensor][] }).namedParameters();
  if (Symbol.iterator in w) return Array.from(w as Iterable<Tensor>).map((p, i) => [String(i), p]);
  return Object.entries(w as Record<string, Tensor>);
}
