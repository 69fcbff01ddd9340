/**
 * The tensor ops, one file each, listed from simple to complex: each file holds
 * the op's forward (tfjs kernels) beside its backward rule, with the math in TSDoc.
 */
// elementwise arithmetic (broadcasting)
export { add } from './add';
export { sub } from './sub';
export { mul } from './mul';
export { div } from './div';
export { neg } from './neg';
export { pow } from './pow';
// elementwise functions
export { exp } from './exp';
export { log } from './log';
export { sqrt } from './sqrt';
export { abs } from './abs';
// activations
export { tanh } from './tanh';
export { sigmoid } from './sigmoid';
export { relu } from './relu';
export { silu } from './silu';
export { gelu, type GeluOptions } from './gelu';
// reductions
export { sum } from './sum';
export { mean } from './mean';
export { max } from './max';
// shape and indexing
export { reshape } from './reshape';
export { transpose } from './transpose';
export { broadcastTo } from './broadcast-to';
export { slice } from './slice';
export { concat } from './concat';
export { gather } from './gather';
export { where } from './where';
// linear algebra
export { matmul } from './matmul';
// normalised exponentials
export { logsumexp } from './logsumexp';
export { softmax } from './softmax';
export { logSoftmax } from './log-softmax';
// normalisation and regularisation layers
export { layerNorm, type LayerNormOptions } from './layer-norm';
export { rmsNorm, type RmsNormOptions } from './rms-norm';
export { dropout, type DropoutOptions } from './dropout';
