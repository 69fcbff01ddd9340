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
