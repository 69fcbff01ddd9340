/**
 * Saving and loading: the safetensors format (read and written by hand, checked
 * strictly), atomic file writes, and training checkpoints (model, optimiser,
 * scheduler, random streams, data loader, step) that resume bit for bit.
 *
 * Introduced in notebooks/02-optim.
 */
export {
  encodeSafetensors,
  decodeSafetensors,
  planSafetensors,
  tensorBytes,
  numel,
  f16ToFloat32,
  bf16ToFloat32,
  float32ToF16,
  float32ToBf16,
  SafetensorsError,
  DTYPE_SIZES,
  MAX_HEADER_BYTES,
  type Dtype,
  type DtypeArrays,
  type DtypeArray,
  type SafeTensor,
  type SafetensorsFile,
  type SafetensorsLayout,
  type DecodeOptions,
} from './safetensors';
export { saveSafetensors, loadSafetensors, fromTf, toTf } from './files';
export { writeAtomic, cleanStaleTemps, type AtomicFile, type WriteAtomicOptions } from './atomic';
export { crc32, crc32Text } from './crc32';
export {
  saveCheckpoint,
  loadCheckpoint,
  readCheckpoint,
  checksumHeaderText,
  CheckpointError,
  CHECKPOINT_FORMAT,
  CHECKPOINT_FORMAT_VERSION,
  type SaveCheckpointOptions,
  type SaveCheckpointResult,
  type LoadCheckpointOptions,
  type LoadCheckpointResult,
  type CheckpointContents,
  type SavedOptimizer,
  type Stateful,
  type StateDictful,
  type HasNamedParameters,
  type Json,
} from './checkpoint';
