/**
 * Optimisers (SGD, Adam, AdamW) as pure update functions and thin stateful
 * classes over them, parameter groups, and gradient clipping, following torch.optim.
 * Introduced in notebooks/02-optim.
 */
export { Optimizer, decayGroups, type DecayGroupsOptions, type OptimizerStateDict, type ParamGroup, type ParamState, type ParamsInput, type UpdateResult } from './optimizer';
export { SGD, sgdUpdate, type SgdOptions } from './sgd';
export { Adam, adamUpdate, type AdamOptions } from './adam';
export { AdamW, adamwUpdate } from './adamw';
export { clipGradNorm, clipGradValue } from './clip';
