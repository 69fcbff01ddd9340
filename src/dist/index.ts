/**
 * Distributed communication between real OS processes: a torchrun-style process
 * group (rendezvous over ZeroMQ, data over Unix-socket or TCP streams),
 * point-to-point send / recv, collectives (all-reduce three ways, broadcast,
 * reduce-scatter, all-gather, barrier), the SIMD addition they reduce with,
 * and a launcher.
 * Introduced in notebooks/04-distributed.
 */
export { DEFAULT_TIMEOUT_MS, DistError, ProcessGroup, initProcessGroup, bufferToF32, type InitOptions, type RawMessage, type Transport } from './group';
export { addF32, simdAvailable } from './simd';
export {
  allGather,
  allGatherRingInPlace,
  allReduce,
  allReduceHalvingDoubling,
  allReduceNaive,
  allReduceRing,
  barrier,
  broadcast,
  chunkStart,
  reduceScatter,
  reduceScatterRing,
  type AllReduceAlgorithm,
  type TensorLike,
} from './collectives';
export { freePort, launch, spawnRanks, type LaunchOptions, type LaunchResult, type RankOutcome, type RankResult, type SpawnRanksOptions } from './launch';
export * from './cost';
export * from './plan';
export * from './pipeline-schedule';
export * from './tensor-parallel';
export * from './pipeline';
export { DistributedDataParallel, bucketAssignment, overlapTimeline, MB, type Bucket, type DDPOptions, type SyncReport } from './ddp';
export * from './zero';
