/**
 * Data: the seeded random number generator every random draw in gradlab takes
 * (no hidden global seed). Datasets and the DataLoader will live here too.
 */
export { Rng, rng } from './rng';
