/**
 * InfoNCE: the contrastive loss.
 *
 * Introduced in notebooks/01-backprop/06-losses.
 */
import { add, div, matmul, mul, transpose } from '../../autograd/ops';
import { fmt, sameShape, ShapeError } from '../../autograd/shape';
import { shapeOf, type Operand, type Tensor } from '../../autograd/tensor';
import { normalize as l2normalize } from '../functional';
import { crossEntropy } from './cross-entropy';
import { checkReduction, type Reduction } from './reduction';

/** Options of {@link infoNCE}. */
export interface InfoNCEOptions {
  /** τ > 0: logits are similarities / τ. Default 0.07 (MoCo's and CLIP's initial value). */
  temperature?: number;
  /** L2-normalise each row of a and b first, so similarities are cosines. Default true. */
  normalize?: boolean;
  /** Average the a→b and b→a losses (CLIP's loss). Default false (a→b only). */
  symmetric?: boolean;
  /** 'mean' (default) over the N rows, 'sum', or 'none' (`[N]`). */
  reduction?: Reduction;
}

/**
 * For N pairs `(aᵢ, bᵢ)`, rows of a and b `[N, D]`: each aᵢ must pick its own
 * bᵢ out of all N b's. With `â, b̂` the L2-normalised rows (when `normalize`),
 * `S = â b̂ᵀ / τ` `[N, N]` and the positives on the diagonal:
 * `L = crossEntropy(S, [0, 1, …, N−1])` = `(1/N) Σᵢ (log Σⱼ exp Sᵢⱼ − Sᵢᵢ)`.
 * The other N − 1 rows of the batch serve as negatives. With `symmetric`,
 * `L = ½(crossEntropy(S, i) + crossEntropy(Sᵀ, i))` (CLIP).
 *
 * Reference: `info_nce(query, positive_key, temperature, negative_mode='unpaired')` of the
 * info-nce-pytorch package (normalises both, then `F.cross_entropy(q kᵀ / τ, arange(N))`);
 * van den Oord et al. 2018 (CPC), Radford et al. 2021 (CLIP, symmetric).
 * Introduced in notebooks/01-backprop/06-losses.
 */
export function infoNCE(a: Operand, b: Operand, options: InfoNCEOptions = {}): Tensor {
  const { temperature = 0.07, normalize = true, symmetric = false } = options;
  const reduction = checkReduction('infoNCE', options.reduction ?? 'mean');
  if (!(Number.isFinite(temperature) && temperature > 0)) throw new Error(`infoNCE: temperature must be a positive finite number, got ${String(temperature)}`);
  const [sa, sb] = [shapeOf(a), shapeOf(b)];
  if (sa.length !== 2 || !sameShape(sa, sb)) throw new ShapeError(`infoNCE: a ${fmt(sa)} and b ${fmt(sb)}: expected both [N, D] with the same N and D`);
  const n = sa[0] as number;
  const diag = Array.from({ length: n }, (_, i) => i); //                   positives: S_ii
  const [qa, qb] = normalize ? [l2normalize(a), l2normalize(b)] : [a, b];
  const s = div(matmul(qa, transpose(qb)), temperature); //                S = â b̂ᵀ / τ
  const ce = (z: Operand) => crossEntropy(z, diag, { reduction, checkTargets: false });
  return symmetric ? mul(add(ce(s), ce(transpose(s))), 0.5) : ce(s);
}
