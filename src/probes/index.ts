/**
 * Probes: measure the machine the notebook runs on — memory bandwidth, FLOP/s,
 * the roofline, launch overhead and fusion, training memory, device facts — on
 * whichever backend is active, each returning plain data that a plot takes.
 *
 * Introduced in notebooks/03-gpu.
 */
export { now, sync, isAsyncBackend, timeIt, summarise, type Timing, type TimeItOptions } from './timing';
export { measureBandwidth, copyTensor, streamOp, maxArrayBytes, STREAM_KERNELS, STREAM_ARRAYS, STREAM_SCALAR, DEFAULT_SIZES, type StreamKernel, type BandwidthRow, type BandwidthOptions } from './bandwidth';
export { measureMatmul, matmulFlops, squareShapes, llmShapes, saturation, SATURATION_FRACTION, type MatmulShape, type ComputeRow, type ComputeOptions } from './compute';
export { measureRoofline, rooflineOps, ceilingsFrom, classify, attainable, DATASHEET_CEILINGS, ROOFLINE_RULES, type Ceilings, type DatasheetCeiling, type RooflineOp, type RooflinePoint, type RooflineOptions, type RooflineOpsOptions } from './roofline';
export { deviceFacts, describeDevice, parseNvidiaSmi, parseCpuinfo, queryNvidiaSmi, cpuFacts, adapterFacts, SIMD_FLAGS, type DeviceFacts, type NvidiaGpu, type CpuFacts, type AdapterFacts } from './device';
export {
  MEMORY_BLOCKS, TinyLM, SelfAttention, optimizerBuffers, stateBytes, mlpActivationBytes, tinyLMPredicted, tinyLMBatch, tinyLMMemory,
  measureTrainingStep, memoryRows, makeOptimizer, memorySweep, predictSweep, checkpointingEffect, mixedPrecisionAdamBytes,
  transformerLayerActivationBytes, transformerParams, transformerMemoryPlan, llamaLike7B,
  type MemoryBlock, type MemoryBlocks, type MemoryRow, type OptimizerKind, type MlpShape, type TinyLMConfig, type TinyLMPrediction,
  type TrainingStepSpec, type MeasuredStep, type TinyLMMemory, type SweepAxis, type SweepRow, type CheckpointingEffect,
  type Recompute, type ActivationShape, type TransformerSpec, type PlanRow,
} from './memory';
export { LAUNCH_OPS, fitLaunch, launchOverhead, onDevice, type LaunchOp, type LaunchRow, type LaunchFit, type LaunchOptions, type LaunchResult } from './launch';
export { FUSED_TOLERANCE, checkEpilogueInputs, checkFused, dropoutMask, epilogueBytes, epilogueFused, epilogueUnfused, fusionProbe, maxAbsDiff, tanhRational, type EpilogueInputs, type FusionOptions, type FusionRow, type OpTraffic } from './fused';
export { copyShader, defaultCopySizes, rawGpu, wgslCopyBandwidth, type RawGpu, type WgslCopyOptions, type WgslCopyResult, type WgslCopyRow } from './wgsl';
