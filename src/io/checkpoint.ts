/**
 * Training checkpoints: the model's parameters, the optimiser's state, the
 * scheduler, the random streams, the data loader's position, the step and
 * anything else (JSON) in one safetensors file, written atomically and checked
 * on load, so a run killed at any point resumes bit for bit.
 *
 * The file is a plain safetensors file (see {@link decodeSafetensors}), readable by
 * `safetensors.torch.load_file`:
 *   - each parameter as a tensor under its `namedParameters()` name (`layers.0.weight`);
 *   - each optimiser buffer as `optim.state.<i>.<buffer>` (i: the parameter's index in
 *     the optimiser's groups, as in `torch.optim.Optimizer.state_dict()`);
 *   - everything else as JSON strings in `__metadata__`: `format` ("gradlab.checkpoint"),
 *     `format_version`, `gradlab_version`, `step`, `params` (the parameter names in
 *     order), `optimizer` (class, param groups, per-parameter steps, parameter names),
 *     `scheduler`, `rng`, `loader`, `extra`, `saved_at`, and `checksum`.
 *
 * The checksum is `crc32:<8 hex digits>`, the CRC-32 (zlib's, Python's `zlib.crc32`)
 * of the data bytes (everything after the header, in file order) followed by the UTF-8 of
 * `JSON.stringify([tensors, metadata])`, where `tensors` lists
 * `[name, dtype, shape, data_offsets]` sorted by name and `metadata` lists the
 * `[key, value]` pairs of `__metadata__` except `checksum`, sorted by key (Python:
 * `json.dumps(..., separators=(',', ':'), ensure_ascii=False)`). So a flipped bit in
 * the data, and an edited header (a renamed tensor, a changed step), are both caught.
 *
 * Why CRC-32 and not a cryptographic hash: the checksum guards against accidental
 * damage (a flipped bit, a truncated copy, a hand-edited header), which CRC-32 detects
 * (every burst of up to 32 bits, anything else with probability 1 − 2⁻³²), as gzip, zip
 * and PNG rely on. It cannot stop deliberate tampering, and neither could SHA-256
 * stored in the same file: whoever edits the file can rewrite the hash too. CRC-32
 * runs at several GB/s, SHA-256 at about 1.4 GB/s here, which would make the check
 * cost as much as reading the file.
 *
 * Reference: `torch.save({'model': model.state_dict(), 'optimizer': opt.state_dict(), ...})`
 * and `torch.load` + `load_state_dict(strict=True)`; Hugging Face Accelerate's
 * `save_state` / `load_state` (which also saves RNG states).
 * Introduced in notebooks/02-optim.
 */
import * as fs from 'fs';
import { tf } from '../backend/tf';
import { gradlabVersion } from '../backend/versions';
import type { Tensor } from '../autograd';
import { Rng } from '../data/rng';
import type { Optimizer, OptimizerStateDict } from '../optim/optimizer';
import { writeAll, writeAtomic } from './atomic';
import { crc32, crc32Text } from './crc32';
import { decodeSafetensors, planSafetensors, tensorBytes, type Dtype, type SafeTensor } from './safetensors';

/** The value of the `format` metadata key of every gradlab checkpoint. */
export const CHECKPOINT_FORMAT = 'gradlab.checkpoint';
/** The checkpoint layout version this code writes (and the only one it reads). */
export const CHECKPOINT_FORMAT_VERSION = 1;

/** A JSON value (what `extra`, loader and scheduler states must be). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Anything whose state is JSON: a data loader, a sampler, a custom counter. `loadState(state())` must restore it. */
export interface Stateful {
  state(): unknown;
  loadState(state: any): void;
}

/** A scheduler (or anything) with PyTorch-style `stateDict()` / `loadStateDict()` of plain JSON. */
export interface StateDictful {
  stateDict(): unknown;
  loadStateDict(state: any): void;
}

/** Something with named parameters: a `gl.nn.Module`. */
export interface HasNamedParameters {
  namedParameters(): [string, Tensor][];
}

/** The error of every checkpoint function: what is wrong, where, and what to do. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** What {@link saveCheckpoint} saves. */
export interface SaveCheckpointOptions {
  /** The model: its `namedParameters()` are saved under their names. */
  model?: HasNamedParameters;
  /** More named tensors (gradlab leaves or tf.Tensors), saved under their names alongside the model's. */
  tensors?: Record<string, Tensor | tf.Tensor>;
  /** An optimiser (`gl.optim.AdamW`, ...): its buffers as tensors, its groups and steps as JSON. */
  optimizer?: Optimizer<any>;
  /** A learning-rate scheduler (its `stateDict()`, JSON). */
  scheduler?: StateDictful;
  /** One random stream (saved as `rng`), or several by name. */
  rng?: Rng | Record<string, Rng>;
  /** A data loader or sampler: its `state()` (JSON). */
  loader?: Stateful;
  /** The training step (an integer ≥ 0); {@link loadCheckpoint} returns it. */
  step: number;
  /** Anything else, as JSON (config, best loss, a run id). */
  extra?: Json;
  /**
   * For crash-safety tests: called after the temporary file is complete and fsync'd,
   * just before it is renamed over `path`. Default none.
   */
  beforeRename?: (tmpPath: string) => void | Promise<void>;
}

/** What {@link saveCheckpoint} reports. */
export interface SaveCheckpointResult {
  /** The file's size in bytes. */
  bytes: number;
  /** `crc32:<8 hex digits>` (see the module documentation for what it covers). */
  checksum: string;
  /** Names of the tensors written, in file order. */
  tensors: string[];
}

const TF_TO_DTYPE: Record<string, Dtype> = { float32: 'F32', int32: 'I32', bool: 'BOOL' };
const DTYPE_TO_TF: Partial<Record<Dtype, 'float32' | 'int32' | 'bool'>> = { F32: 'float32', I32: 'int32', BOOL: 'bool' };
const CHECKSUM_PLACEHOLDER = crc32Text(0);
const OPTIM_PREFIX = 'optim.state.';

function isTf(t: Tensor | tf.Tensor): t is tf.Tensor {
  return t instanceof tf.Tensor;
}

/** Read a tensor's values (async, so webgpu works) as a safetensors tensor. */
async function toSafe(where: string, name: string, t: Tensor | tf.Tensor): Promise<SafeTensor> {
  const data = isTf(t) ? t : t.data;
  if (data.isDisposed) throw new CheckpointError(`${where}: tensor '${name}' is disposed; save before disposing it`);
  const dtype = TF_TO_DTYPE[data.dtype];
  if (!dtype) throw new CheckpointError(`${where}: tensor '${name}' has dtype ${data.dtype}; checkpoints hold float32, int32 and bool tensors (cast it first)`);
  let values = (await data.data()) as Float32Array | Int32Array | Uint8Array;
  if (dtype === 'BOOL' && !(values instanceof Uint8Array)) values = Uint8Array.from(values as ArrayLike<number>);
  return { dtype, shape: [...data.shape], data: values } as SafeTensor;
}

/** The canonical header text the checksum covers after the data (see the module documentation). */
export function checksumHeaderText(tensors: Iterable<[string, { dtype: string; shape: number[]; begin: number; end: number }]>, metadata: Record<string, string>): string {
  const ts = Array.from(tensors)
    .map(([name, t]) => [name, t.dtype, t.shape, [t.begin, t.end]] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const ms = Object.entries(metadata)
    .filter(([k]) => k !== 'checksum')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([ts, ms]);
}

function json(where: string, what: string, v: unknown): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch (e) {
    throw new CheckpointError(`${where}: ${what} is not JSON-serialisable (${(e as Error).message}); make it plain data`);
  }
  if (s === undefined) throw new CheckpointError(`${where}: ${what} is ${String(v)}, not JSON; make it plain data`);
  return s;
}

function rngRecord(rng: Rng | Record<string, Rng>): Record<string, Rng> {
  return rng instanceof Rng ? { rng } : rng;
}

/**
 * Save a training checkpoint to `path`, atomically: the file is written as
 * `<path>.tmp-<pid>-<random>`, fsync'd, renamed over `path` and the directory is
 * fsync'd (see `writeAtomic`). `rename` replaces a name atomically, and the bytes are
 * on disk before the name points at them, so a crash (or SIGKILL, or power loss) at
 * any moment leaves either the previous checkpoint or the new one, never a mix; a
 * crashed save's temporary file is removed by the next save to the same path. Reads tensors with `await t.data()`
 * (works on webgpu). Returns the size, checksum and tensor names.
 *
 * The data goes to the temporary file while its CRC-32 is computed; the header, whose
 * length does not depend on the checksum's value, is written last; then one fsync.
 *
 * @example
 * await gl.io.saveCheckpoint('run/ckpt.safetensors', { model, optimizer: opt, scheduler: sched, rng, loader, step });
 *
 * Reference: `torch.save({...}, path)` with the model's, optimiser's and scheduler's
 * `state_dict()`; Accelerate's `save_state`. Introduced in notebooks/02-optim.
 */
export async function saveCheckpoint(path: string, options: SaveCheckpointOptions): Promise<SaveCheckpointResult> {
  const where = `saveCheckpoint(${path})`;
  const { model, tensors = {}, optimizer, scheduler, rng, loader, step, extra, beforeRename } = options;
  if (!Number.isSafeInteger(step) || step < 0) throw new CheckpointError(`${where}: step must be an integer ≥ 0, got ${String(step)}; pass the number of steps done`);
  const named: [string, Tensor | tf.Tensor][] = [...(model ? model.namedParameters() : []), ...Object.entries(tensors)];
  if (named.length === 0 && !optimizer) throw new CheckpointError(`${where}: nothing to save; pass model (or tensors)`);
  const names = new Set<string>();
  for (const [name] of named) {
    if (names.has(name)) throw new CheckpointError(`${where}: two tensors are named '${name}' (model and tensors overlap?); rename one`);
    if (name.startsWith(OPTIM_PREFIX)) throw new CheckpointError(`${where}: the name '${name}' is reserved for optimiser state (${OPTIM_PREFIX}*); rename it`);
    names.add(name);
  }
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    format_version: String(CHECKPOINT_FORMAT_VERSION),
    gradlab_version: gradlabVersion(),
    step: String(step),
    params: JSON.stringify(named.map(([n]) => n)),
    saved_at: new Date().toISOString(),
  };
  const entries: [string, SafeTensor][] = [];
  for (const [name, t] of named) entries.push([name, await toSafe(where, name, t)]);
  if (optimizer) {
    const sd = optimizer.stateDict();
    try {
      const byTensor = new Map<unknown, string>(named.map(([n, t]) => [t, n]));
      const paramNames = optimizer.paramGroups.flatMap((g) => g.params.map((p: Tensor) => byTensor.get(p) ?? null));
      const steps: Record<string, number> = {};
      for (const [i, st] of Object.entries(sd.state)) {
        steps[i] = st.step;
        for (const [b, t] of Object.entries(st.buffers)) entries.push([`${OPTIM_PREFIX}${i}.${b}`, await toSafe(where, `${OPTIM_PREFIX}${i}.${b}`, t)]);
      }
      metadata.optimizer = json(where, 'the optimiser state', { name: optimizer.name, paramGroups: sd.paramGroups, steps, paramNames });
    } finally {
      for (const st of Object.values(sd.state)) tf.dispose(Object.values(st.buffers));
    }
  }
  if (scheduler) metadata.scheduler = json(where, 'scheduler.stateDict()', scheduler.stateDict());
  if (rng) metadata.rng = json(where, 'the rng state', Object.fromEntries(Object.entries(rngRecord(rng)).map(([k, r]) => [k, r.state()])));
  if (loader) metadata.loader = json(where, 'loader.state()', loader.state());
  if (extra !== undefined) metadata.extra = json(where, 'extra', extra);
  metadata.checksum = CHECKSUM_PLACEHOLDER;

  const plan = planSafetensors(entries, metadata, where);
  let checksum = '';
  await writeAtomic(
    path,
    async ({ handle }) => {
      // The threadpool writes the data while this thread computes its CRC-32 (measured:
      // 0.8x a plain write + fsync, against 0.7x one after the other); then the header,
      // whose length does not depend on the checksum's value. writeAtomic fsyncs once.
      const parts = plan.order.map((o) => tensorBytes(o.tensor));
      const io = writeAll(handle.fd, parts, plan.header.length, false);
      let crc = 0;
      try {
        for (const b of parts) crc = crc32(b, crc);
      } finally {
        await io;
      }
      crc = crc32(checksumHeaderText(plan.order.map((o) => [o.name, { dtype: o.tensor.dtype, shape: o.tensor.shape, begin: o.begin, end: o.end }]), metadata), crc);
      checksum = crc32Text(crc);
      const header = planSafetensors(entries, { ...metadata, checksum }, where).header;
      if (header.length !== plan.header.length) throw new Error(`${where}: internal error: the header changed length`);
      writeAll(handle.fd, [header], 0, true);
    },
    { beforeRename },
  );
  return { bytes: plan.header.length + plan.dataBytes, checksum, tensors: plan.order.map((o) => o.name) };
}

/** The optimiser part of a checkpoint's metadata. */
export interface SavedOptimizer {
  /** The optimiser's class name (`AdamW`). */
  name: string;
  paramGroups: ({ params: number[] } & Record<string, unknown>)[];
  /** Per parameter index: its step count (parameters never updated are absent). */
  steps: Record<string, number>;
  /** The name of each optimiser parameter in the model (null where it was not one of the saved tensors). */
  paramNames: (string | null)[];
}

/** A checkpoint as read: the tensors and the parsed metadata. */
export interface CheckpointContents {
  /** Every tensor of the file (parameters and `optim.state.*`), by name. */
  tensors: Map<string, SafeTensor>;
  /** The raw `__metadata__` strings. */
  metadata: Record<string, string>;
  step: number;
  formatVersion: number;
  gradlabVersion: string;
  /** Names of the parameters / named tensors saved (not the optimiser's), in order. */
  params: string[];
  optimizer?: SavedOptimizer;
  scheduler?: unknown;
  rng?: Record<string, ReturnType<Rng['state']>>;
  loader?: unknown;
  extra?: Json;
  /** When it was saved (ISO 8601). */
  savedAt: string;
  checksum: string;
  /** File size in bytes. */
  bytes: number;
}

/** Bytes read (and checksummed) per synchronous read; the event loop runs between chunks. */
const READ_CHUNK = 64 << 20;

/**
 * Read the whole file and the CRC-32 of its data part. Synchronous reads in large
 * chunks, each checksummed while still in cache, with the event loop let through
 * between chunks: measured faster than the threadpool's asynchronous reads, whose
 * per-chunk round trips left this thread idle for as long as the copy took.
 */
async function readAndChecksum(path: string, where: string): Promise<{ bytes: Buffer; crc: number; dataStart: number }> {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(`${where}: cannot open the file (${code ?? (e as Error).message})${code === 'ENOENT' ? '; check the path, or save a checkpoint first' : ''}`);
  }
  try {
    const size = fs.fstatSync(fd).size;
    const bytes = Buffer.allocUnsafe(size);
    const readAt = (off: number, len: number): void => {
      let got = 0;
      while (got < len) {
        const n = fs.readSync(fd, bytes, off + got, len - got, off + got);
        if (n === 0) throw new CheckpointError(`${where}: the file shrank while being read (at byte ${off + got} of ${size}); is another process writing it?`);
        got += n;
      }
    };
    const first = Math.min(size, 8);
    readAt(0, first);
    let dataStart = size;
    if (size >= 8) dataStart = Math.min(size, 8 + Number(bytes.readBigUInt64LE(0) > BigInt(size) ? BigInt(size) : bytes.readBigUInt64LE(0)));
    readAt(first, dataStart - first);
    let crc = 0;
    for (let o = dataStart; o < size; o += READ_CHUNK) {
      const end = Math.min(o + READ_CHUNK, size);
      readAt(o, end - o);
      crc = crc32(bytes.subarray(o, end), crc);
      if (end < size) await new Promise((r) => setImmediate(r));
    }
    return { bytes, crc, dataStart };
  } finally {
    fs.closeSync(fd);
  }
}

function parseJson<T>(where: string, metadata: Record<string, string>, key: string): T | undefined {
  const s = metadata[key];
  if (s === undefined) return undefined;
  try {
    return JSON.parse(s) as T;
  } catch (e) {
    throw new CheckpointError(`${where}: __metadata__.${key} is not valid JSON (${(e as Error).message}); the file is damaged`);
  }
}

/**
 * Read and verify a checkpoint without loading it into anything: structure (every
 * safetensors rule), format and version, and the checksum. Returns the tensors (as
 * typed arrays) and the parsed metadata. Throws a {@link CheckpointError} (or a
 * `SafetensorsError` for a malformed file) that says what is wrong.
 *
 * @example
 * const ck = await gl.io.readCheckpoint('run/ckpt.safetensors');
 * ck.step; ck.tensors.get('layers.0.weight')!.shape;
 *
 * Reference: `torch.load(path)` (returns the saved dict). Introduced in notebooks/02-optim.
 */
export async function readCheckpoint(path: string): Promise<CheckpointContents> {
  const where = `readCheckpoint(${path})`;
  const { bytes, crc, dataStart } = await readAndChecksum(path, where);
  const file = decodeSafetensors(bytes, { source: where });
  if (file.dataStart !== dataStart) throw new Error(`${where}: internal error: data start ${file.dataStart} ≠ ${dataStart}`);
  const m = file.metadata;
  if (m.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(`${where}: this safetensors file is not a gradlab checkpoint (__metadata__.format is ${JSON.stringify(m.format)}, not "${CHECKPOINT_FORMAT}"); read its tensors with gl.io.loadSafetensors`);
  }
  const version = Number(m.format_version);
  if (version !== CHECKPOINT_FORMAT_VERSION) {
    throw new CheckpointError(`${where}: checkpoint format version ${m.format_version}, but this gradlab (${gradlabVersion()}) reads version ${CHECKPOINT_FORMAT_VERSION}; load it with the gradlab that wrote it (${m.gradlab_version})`);
  }
  if (!/^crc32:[0-9a-f]{8}$/.test(m.checksum ?? '')) throw new CheckpointError(`${where}: __metadata__.checksum is ${JSON.stringify(m.checksum)}, not crc32:<8 hex digits>; the header is damaged`);
  const headerJson = JSON.parse(bytes.subarray(8, dataStart).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
  const infos = Array.from(file.tensors, ([name, t]) => {
    const [begin, end] = headerJson[name]!.data_offsets;
    return [name, { dtype: t.dtype, shape: t.shape, begin, end }] as [string, { dtype: string; shape: number[]; begin: number; end: number }];
  });
  const actual = crc32Text(crc32(checksumHeaderText(infos, m), crc));
  if (actual !== m.checksum) {
    throw new CheckpointError(
      `${where}: checksum mismatch: the file records ${m.checksum} but its data and header hash to ${actual}; the file is corrupt (a flipped bit, an interrupted copy, or an edited header): restore it or load an earlier checkpoint`,
    );
  }
  const step = Number(m.step);
  if (!Number.isSafeInteger(step) || step < 0) throw new CheckpointError(`${where}: __metadata__.step is ${JSON.stringify(m.step)}, not an integer ≥ 0; the header is damaged`);
  const params = parseJson<string[]>(where, m, 'params') ?? [];
  return {
    tensors: file.tensors,
    metadata: m,
    step,
    formatVersion: version,
    gradlabVersion: m.gradlab_version ?? 'unknown',
    params,
    optimizer: parseJson<SavedOptimizer>(where, m, 'optimizer'),
    scheduler: parseJson<unknown>(where, m, 'scheduler'),
    rng: parseJson<Record<string, ReturnType<Rng['state']>>>(where, m, 'rng'),
    loader: parseJson<unknown>(where, m, 'loader'),
    extra: parseJson<Json>(where, m, 'extra'),
    savedAt: m.saved_at ?? '',
    checksum: m.checksum!,
    bytes: bytes.length,
  };
}

/** What {@link loadCheckpoint} loads into (each optional part is loaded only when given). */
export interface LoadCheckpointOptions {
  /** The model to load the parameters into (by `namedParameters()` name). */
  model?: HasNamedParameters;
  /** More named gradlab leaves to load into (those saved with `tensors`). */
  tensors?: Record<string, Tensor>;
  optimizer?: Optimizer<any>;
  scheduler?: StateDictful;
  /** One random stream or several by name, as saved; restored in place (a Dropout holding it continues the saved stream). */
  rng?: Rng | Record<string, Rng>;
  loader?: Stateful;
  /**
   * Require that every parameter saved is loaded (default true, PyTorch's
   * `strict=True`). With false, saved parameters the model lacks are ignored; a
   * parameter of the model missing from the file is an error either way.
   */
  strict?: boolean;
}

/** What {@link loadCheckpoint} returns. */
export interface LoadCheckpointResult {
  /** The step saved. */
  step: number;
  /** The `extra` JSON saved (undefined if none). */
  extra?: Json;
  /** Everything else read from the file (versions, checksum, saved_at, raw metadata). */
  info: Omit<CheckpointContents, 'tensors'>;
}

const fmtShape = (s: readonly number[]) => `[${s.join(', ')}]`;

/**
 * Load a checkpoint into a model (and optimiser, scheduler, random streams, loader):
 * reads and verifies the file ({@link readCheckpoint}), then checks that the
 * parameter names match (listing the missing and the unexpected ones), that every
 * shape and dtype matches, that the optimiser's parameters are the same ones in the
 * same order, and that every part asked for was saved. If anything does not match
 * it throws one {@link CheckpointError} listing every problem and what to do, and
 * **nothing is changed**: the model, optimiser, scheduler, streams and loader keep
 * their values (parts loaded before a later part fails are rolled back).
 *
 * @example
 * const { step } = await gl.io.loadCheckpoint('run/ckpt.safetensors', { model, optimizer: opt, scheduler: sched, rng, loader });
 * for (let s = step + 1; s <= total; s++) { ... }
 *
 * Reference: `model.load_state_dict(ckpt['model'], strict=True)`,
 * `optimizer.load_state_dict(...)`, `scheduler.load_state_dict(...)`,
 * `torch.set_rng_state(...)`; Accelerate's `load_state`. Introduced in notebooks/02-optim.
 */
export async function loadCheckpoint(path: string, options: LoadCheckpointOptions): Promise<LoadCheckpointResult> {
  const where = `loadCheckpoint(${path})`;
  const { model, tensors: extraTensors = {}, optimizer, scheduler, rng, loader, strict = true } = options;
  const ck = await readCheckpoint(path);
  const problems: string[] = [];
  const hints = new Set<string>();

  const targets: [string, Tensor][] = [...(model ? model.namedParameters() : []), ...Object.entries(extraTensors)];
  const targetNames = new Set(targets.map(([n]) => n));
  const saved = new Set(ck.params);
  const missing = targets.map(([n]) => n).filter((n) => !saved.has(n) || !ck.tensors.has(n));
  const unexpected = ck.params.filter((n) => !targetNames.has(n));
  if (missing.length) {
    problems.push(`missing from the checkpoint: ${missing.join(', ')}`);
    hints.add('build the model exactly as in the run that saved it (same layers, same order)');
  }
  if (unexpected.length && strict) {
    problems.push(`in the checkpoint but not in the model: ${unexpected.join(', ')}`);
    hints.add('build the same model, or pass strict: false to ignore extra saved parameters');
  }
  for (const [name, p] of targets) {
    const t = ck.tensors.get(name);
    if (!t || !saved.has(name)) continue;
    const want = TF_TO_DTYPE[p.dtype];
    const shapeOk = t.shape.length === p.shape.length && t.shape.every((d, i) => d === p.shape[i]);
    if (!shapeOk || t.dtype !== want) {
      problems.push(`'${name}' is ${t.dtype} ${fmtShape(t.shape)} in the checkpoint but ${want ?? p.dtype} ${fmtShape(p.shape)} in the model`);
      hints.add('build the model with the sizes of the run that saved it');
    }
  }

  let sd: OptimizerStateDict<any> | null = null;
  const ownedTf: tf.Tensor[] = [];
  if (optimizer) {
    const so = ck.optimizer;
    if (!so) {
      problems.push('an optimiser was given but the checkpoint has no optimiser state');
      hints.add('leave out optimizer (it then starts afresh), or load a checkpoint saved with one');
    } else {
      if (so.name !== optimizer.name) {
        problems.push(`the optimiser state is of ${so.name}, the optimiser given is ${optimizer.name}`);
        hints.add(`construct a ${so.name}`);
      }
      const here = optimizer.paramGroups.flatMap((g) => g.params);
      if ((model || Object.keys(extraTensors).length) && !missing.length && !(unexpected.length && strict)) {
        // (Only when the names agree: otherwise every line would repeat the name mismatch above.)
        const byTensor = new Map<unknown, string>(targets.map(([n, t]) => [t, n]));
        here.forEach((p, i) => {
          const a = byTensor.get(p) ?? null;
          const b = so.paramNames[i];
          if (b !== undefined && a !== b) problems.push(`optimiser parameter ${i} is ${a ?? 'not a model parameter'} here but was ${b ?? 'not a saved parameter'} when saved`);
        });
        if (here.length !== so.paramNames.length) problems.push(`the optimiser has ${here.length} parameters here but had ${so.paramNames.length} when saved`);
        if (problems.some((p) => p.startsWith('optimiser parameter') || p.startsWith('the optimiser has'))) hints.add('give the optimiser the same parameters in the same groups and order (e.g. model.parameters())');
      }
      const state: OptimizerStateDict<any>['state'] = {};
      for (const [i, step] of Object.entries(so.steps)) {
        const buffers: Record<string, tf.Tensor> = {};
        for (const [name, t] of ck.tensors) {
          if (!name.startsWith(`${OPTIM_PREFIX}${i}.`)) continue;
          if (t.dtype !== 'F32') {
            problems.push(`'${name}' is ${t.dtype}, optimiser buffers are F32`);
            continue;
          }
          buffers[name.slice(`${OPTIM_PREFIX}${i}.`.length)] = tf.tensor(t.data as Float32Array, t.shape, 'float32');
          ownedTf.push(buffers[name.slice(`${OPTIM_PREFIX}${i}.`.length)]!);
        }
        state[Number(i)] = { step, buffers };
      }
      const orphans = [...ck.tensors.keys()].filter((n) => n.startsWith(OPTIM_PREFIX) && !(n.slice(OPTIM_PREFIX.length).split('.')[0]! in so.steps));
      if (orphans.length) problems.push(`optimiser tensors without a saved step: ${orphans.join(', ')}`);
      sd = { state, paramGroups: so.paramGroups as OptimizerStateDict<any>['paramGroups'] };
    }
  }
  const need = (what: string, given: unknown, savedValue: unknown) => {
    if (given !== undefined && savedValue === undefined) {
      problems.push(`a ${what} was given but the checkpoint has no ${what} state`);
      hints.add(`leave out ${what}, or load a checkpoint saved with one`);
    }
  };
  need('scheduler', scheduler, ck.scheduler);
  need('loader', loader, ck.loader);
  need('rng', rng, ck.rng);
  const rngs = rng ? rngRecord(rng) : {};
  const restored: [Rng, ReturnType<Rng['state']>][] = [];
  if (rng && ck.rng) {
    const want = Object.keys(rngs);
    const have = Object.keys(ck.rng);
    const miss = want.filter((k) => !(k in ck.rng!));
    const extra = have.filter((k) => !(k in rngs));
    if (miss.length || extra.length) {
      problems.push(`random streams: ${miss.length ? `missing from the checkpoint: ${miss.join(', ')}` : ''}${miss.length && extra.length ? '; ' : ''}${extra.length ? `saved but not given: ${extra.join(', ')}` : ''}`);
      hints.add(`pass rng with the names saved (${have.join(', ')})`);
    } else {
      for (const k of want) {
        try {
          Rng.fromState(ck.rng[k]!); // validates the saved state; nothing is written until every part has passed
          restored.push([rngs[k]!, ck.rng[k]!]);
        } catch (e) {
          problems.push(`random stream '${k}': ${(e as Error).message}`);
        }
      }
    }
  }

  const newValues: [Tensor, tf.Tensor][] = [];
  const undo: (() => void)[] = [];
  const snapshots: OptimizerStateDict<any>[] = [];
  try {
    if (problems.length) {
      throw new CheckpointError(`${where}: the checkpoint does not match what you are loading it into; nothing was loaded:\n  - ${problems.join('\n  - ')}\nTo fix: ${[...hints].join('; ') || 'see above'}.`);
    }
    for (const [name, p] of targets) {
      const t = ck.tensors.get(name)!;
      newValues.push([p, tf.tensor(t.data as Float32Array | Int32Array | Uint8Array, t.shape, DTYPE_TO_TF[t.dtype])]);
    }
    const step = (what: string, f: () => void) => {
      try {
        f();
      } catch (e) {
        throw new CheckpointError(`${where}: loading the ${what} state failed, so nothing was loaded: ${(e as Error).message}`);
      }
    };
    if (optimizer && sd) {
      const prev = optimizer.stateDict();
      snapshots.push(prev);
      step('optimiser', () => optimizer.loadStateDict(sd!));
      undo.push(() => optimizer.loadStateDict(prev));
    }
    if (scheduler && ck.scheduler !== undefined) {
      const prev = scheduler.stateDict();
      step('scheduler', () => scheduler.loadStateDict(ck.scheduler));
      undo.push(() => scheduler.loadStateDict(prev));
    }
    if (loader && ck.loader !== undefined) {
      const prev = loader.state();
      step('loader', () => loader.loadState(ck.loader));
      undo.push(() => loader.loadState(prev));
    }
    // Cannot fail from here on.
    for (const [target, saved] of restored) target.setState(saved);
    for (const [p, v] of newValues) p.assign(v);
    newValues.length = 0;
  } catch (e) {
    for (const u of undo.reverse()) {
      try {
        u();
      } catch {
        /* best effort: the original error matters */
      }
    }
    tf.dispose(newValues.map(([, v]) => v));
    throw e;
  } finally {
    tf.dispose(ownedTf);
    for (const s of snapshots) for (const st of Object.values(s.state)) tf.dispose(Object.values(st.buffers));
  }
  const { tensors: _t, ...info } = ck;
  return { step: ck.step, extra: ck.extra, info };
}
