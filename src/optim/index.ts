/**
 * Optimisers (SGD, Adam, AdamW) as pure update functions and thin stateful
 * classes over them, parameter groups, gradient clipping, and learning-rate
 * schedules (pure functions of the step, and schedulers that drive an optimiser's
 * lr), following torch.optim and torch.optim.lr_scheduler.
 * Introduced in notebooks/02-optim.
 */
export { Optimizer, decayGroups, type DecayGroupsOptions, type OptimizerStateDict, type ParamGroup, type ParamState, type ParamsInput, type UpdateResult } from './optimizer';
export { SGD, sgdUpdate, type SgdOptions } from './sgd';
export { Adam, adamUpdate, type AdamOptions } from './adam';
export { AdamW, adamwUpdate } from './adamw';
export { clipGradNorm, clipGradValue, totalGradNorm } from './clip';
export {
  constant,
  linearWarmup,
  cosineDecay,
  linearDecay,
  warmupCosine,
  warmupLinear,
  stepDecay,
  type ConstantOptions,
  type LinearWarmupOptions,
  type DecayOptions,
  type WarmupDecayOptions,
  type StepDecayOptions,
} from './schedule';
export {
  LRScheduler,
  LinearLR,
  CosineAnnealingLR,
  LambdaLR,
  SequentialLR,
  StepLR,
  MultiStepLR,
  ConstantLR,
  cosineScheduleWithWarmup,
  linearScheduleWithWarmup,
  type HasParamGroups,
  type ParamGroupLr,
  type SchedulerState,
  type LinearLROptions,
  type StepLROptions,
  type MultiStepLROptions,
  type ConstantLROptions,
  type CosineAnnealingLROptions,
  type LrLambda,
  type WarmupScheduleOptions,
} from './scheduler';
