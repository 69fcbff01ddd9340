/**
 * Training helpers: early stopping with the best weights kept, a monitor of scalar
 * series (smoothing, best values, charts), and the coupled L2 penalty as an op.
 * Introduced in notebooks/02-optim.
 */
export { EarlyStopping, type EarlyStoppingOptions, type EarlyStoppingState } from './early-stopping';
export { Monitor, smooth, type LoggedValue, type MonitorOptions, type MonitorPlotOptions, type MonitorRow, type MonitorSeries } from './monitor';
export { l2Penalty } from './l2';
export { namedWeights, type WeightsInput } from './weights';
