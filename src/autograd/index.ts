/**
 * Autograd: the scalar {@link Value} engine for derivations, and the tensor
 * engine whose forward runs on tfjs kernels and whose backward rules are
 * gradlab's own (`ops/`, one file per op), with activation checkpointing,
 * finite-difference checks and peak-memory measurement.
 *
 * Lifetimes: see `tensor.ts` (leaves are yours; a computed value lives until
 * the scope that computed it ends unless returned; backward keeps only what
 * each op saved, and `backward()` frees it; `root.dispose()` frees the rest).
 */
export { Value, graph, type Scalar, type GraphNode } from './value';
export { Tensor, tensor, param, zeroGrad, type Operand, type TensorOptions, type BackwardOptions } from './tensor';
export { record, type Rule, type RuleContext, type Forward } from './record';
export { castRegion, withCastPolicy, type CastPolicy, type CastPlan, type CastTag, type EmulatedDtype, type RoundFn } from './cast';
export { noGrad, isGradEnabled, setDebug, isDebug, checkDebug, debugRun, pendingDebugChecks } from './mode';
export { ShapeError, broadcastShapes, sumToShape } from './shape';
export * from './ops';
export { checkpoint } from './checkpoint';
export { drawSeed } from './seeds';
export { gradcheck, gradcheckAsync, type GradcheckOptions, type GradcheckReport, type GradcheckInput } from './gradcheck';
export { measurePeakBytes, savedBytes, type PeakBytes, type SavedBytes } from './peak';
export { tidy } from './scope';
