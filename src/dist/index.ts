/**
 * Distributed communication between real OS processes: a torchrun-style process
 * group over ZeroMQ, point-to-point send / recv, collectives (all-reduce three
 * ways, broadcast, reduce-scatter, all-gather, barrier) and a launcher.
 * Introduced in notebooks/04-distributed.
 */
export { DEFAULT_TIMEOUT_MS, DistError, ProcessGroup, initProcessGroup, bufferToF32, type InitOptions, type RawMessage } from './group';
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
