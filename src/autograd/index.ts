/**
 * Autograd: the scalar {@link Value} engine for derivations, and the tensor
 * engine whose forward runs on tfjs kernels and whose backward rules are
 * gradlab's own (`ops/`, one file per op), with activation checkpointing,
 * finite-difference checks and peak-memory measurement.
 *
 * Lifetimes: see `tensor.ts` (leaves are yours; `backward()` frees a graph's
 * intermediates; `root.dispose()` frees the rest).
 */
export { Value, graph, type Scalar, type GraphNode } from './value';
export { Tensor, tensor, param, zeroGrad, type Operand, type TensorOptions, type BackwardOptions } from './tensor';
export { record, type Rule, type RuleContext, type Forward } from './record';
export { noGrad, isGradEnabled, setDebug, isDebug, checkDebug, debugRun, pendingDebugChecks } from './mode';
export { ShapeError, broadcastShapes, sumToShape } from './shape';
export * from './ops';
export { checkpoint } from './checkpoint';
export { drawSeed } from './seeds';
export { gradcheck, gradcheckAsync, type GradcheckOptions, type GradcheckReport, type GradcheckInput } from './gradcheck';
export { measurePeakBytes, type PeakBytes } from './peak';
