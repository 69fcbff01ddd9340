/**
 * Memory bandwidth, measured the way STREAM and BabelStream measure it: four
 * simple kernels over arrays of float32, each timed best-of-N, with the bytes
 * counted by the kernel's definition rather than by what the hardware happened to do.
 *
 * | kernel | operation      | arrays counted | bytes per element (float32) |
 * |--------|----------------|----------------|-----------------------------|
 * | copy   | c = a          | 2 (read a, write c)      | 8  |
 * | scale  | b = s·c        | 2 (read c, write b)      | 8  |
 * | add    | c = a + b      | 3 (read a, b, write c)   | 12 |
 * | triad  | a = b + s·c    | 3 (read b, c, write a)   | 12 |
 *
 * GB/s = counted bytes / time / 10^9 (decimal gigabytes, as STREAM prints MB/s = 10^6 B/s).
 *
 * **Allocation, not in place.** STREAM updates three preallocated arrays in place;
 * a tfjs op allocates its output, so `c = a + b` here writes a fresh tensor each call
 * (freed after the repetition). On wasm the freed block is reused by the next
 * allocation of the same size, so the pages are already mapped; on the JavaScript
 * `cpu` backend every output is a new ArrayBuffer whose pages the OS must zero on
 * first touch, which costs bandwidth that STREAM never pays. The counted bytes stay
 * STREAM's (the write-allocate and page-zeroing traffic is not counted, as STREAM
 * does not count the write-allocate read either). Triad has no single tfjs op: it
 * runs as two kernels, `t = s·c` then `a = b + t`, which really move 5 arrays
 * (the temporary is written and read back); it is still counted as 3, so the gap to
 * a fused triad shows up as lower GB/s — the cost of an unfused chain that
 * notebooks/03-gpu measures.
 *
 * **Copy really copies.** `tf.clone` shares the buffer on the cpu and webgpu
 * backends (it only adds a reference) and would report infinite bandwidth. The copy
 * here ({@link copyTensor}) writes a new buffer on every backend: a gradlab kernel
 * `GradlabCopy` on cpu and wasm (one memcpy into a freshly allocated output: on wasm
 * `TypedArray.prototype.set` within the heap, which is also what tfjs-backend-wasm's
 * own Identity kernel does), and `a + 0` (one read, one write, the same traffic) elsewhere.
 *
 * References: J. D. McCalpin, "Memory Bandwidth and Machine Balance in Current High
 * Performance Computers", IEEE TCCA Newsletter 1995 (STREAM); T. Deakin, J. Price,
 * M. Martineau, S. McIntosh-Smith, "GPU-STREAM v2.0: Benchmarking the achievable
 * memory bandwidth of many-core processors across diverse parallel programming
 * models", ISC 2016 (BabelStream).
 *
 * Introduced in notebooks/03-gpu.
 */
import * as os from 'os';
import { tf } from '../backend/tf';
import { timeIt } from './timing';

/** The four STREAM kernels. */
export type StreamKernel = 'copy' | 'scale' | 'add' | 'triad';

/** All four kernels in STREAM's order. */
export const STREAM_KERNELS: readonly StreamKernel[] = ['copy', 'scale', 'add', 'triad'];

/** Arrays each kernel reads or writes, as STREAM and BabelStream count them (copy, scale: 2; add, triad: 3). */
export const STREAM_ARRAYS: Readonly<Record<StreamKernel, number>> = { copy: 2, scale: 2, add: 3, triad: 3 };

/** STREAM's scalar `s` (3.0 in STREAM, 0.4 in BabelStream; the value does not change the traffic). */
export const STREAM_SCALAR = 0.4;

/** One measured point: one kernel at one array size. */
export interface BandwidthRow {
  kernel: StreamKernel;
  /** Bytes of one array (elements × 4). */
  bytes: number;
  /** Elements of one array. */
  elements: number;
  /** Bytes counted per call: {@link STREAM_ARRAYS} × bytes. */
  movedBytes: number;
  /** Fastest repetition, ms per call. */
  best: number;
  /** Median repetition, ms per call. */
  median: number;
  /** movedBytes / best, in GB/s (10^9 B/s): STREAM's figure. */
  gbps: number;
  /** movedBytes / median, in GB/s. */
  gbpsMedian: number;
  /** (slowest − fastest) / median of the repetitions. */
  spread: number;
  /** The tfjs backend that ran it. */
  backend: string;
}

/** Options of {@link measureBandwidth}. */
export interface BandwidthOptions {
  /** Kernels to run; default all four. */
  kernels?: readonly StreamKernel[];
  /** Bytes per array to try; default 4 KiB, 16 KiB, … 1 GiB (powers of 4), capped by {@link maxArrayBytes} and `maxBytes`. */
  sizes?: readonly number[];
  /** Largest bytes per array to try (keeps notebooks and tests small). Default: no extra cap. */
  maxBytes?: number;
  /** Untimed calls per point; default 2. */
  warmup?: number;
  /** Timed repetitions per point; default 10. */
  repeats?: number;
  /**
   * Calls per repetition are chosen so that a repetition moves at least this many
   * counted bytes (small arrays take many calls between syncs, as nvbandwidth does),
   * at most 100. Default 64 MiB.
   */
  bytesPerRepeat?: number;
}

/** Default sizes: 4 KiB to 1 GiB per array in powers of 4. */
export const DEFAULT_SIZES: readonly number[] = Array.from({ length: 10 }, (_, i) => 4096 * 4 ** i);

/**
 * The largest array the active backend can take in these probes, in bytes:
 * - webgpu: min(maxBufferSize, maxStorageBufferBindingSize) of the device, when known;
 * - wasm: 512 MiB (the wasm32 heap is at most 4 GiB, and triad holds 5 arrays plus tfjs's own);
 * - every backend: `os.freemem() / 8` (triad holds up to 5 arrays at once; the rest is headroom).
 */
export function maxArrayBytes(): number {
  let cap = os.freemem() / 8;
  const b = tf.getBackend();
  if (b === 'wasm') cap = Math.min(cap, 512 * 2 ** 20);
  if (b === 'webgpu') {
    const limits = (tf.backend() as unknown as { device?: { limits?: Record<string, number> } }).device?.limits;
    for (const k of ['maxBufferSize', 'maxStorageBufferBindingSize']) {
      if (limits && Number.isFinite(limits[k])) cap = Math.min(cap, limits[k]!);
    }
  }
  return Math.floor(cap);
}

let copyRegistered = false;

/** Register `GradlabCopy` on cpu and wasm: a kernel that writes its input into a new buffer (one memcpy). */
function registerCopy(): void {
  if (copyRegistered) return;
  copyRegistered = true;
  tf.registerKernel({
    kernelName: 'GradlabCopy',
    backendName: 'cpu',
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs.x as tf.TensorInfo;
      const be = backend as unknown as { data: { get(id: object): { values: ArrayLike<number> & { slice(): unknown } } }; makeTensorInfo(s: number[], d: string, v: unknown): tf.TensorInfo };
      return be.makeTensorInfo(x.shape, x.dtype, be.data.get(x.dataId).values.slice());
    },
  });
  tf.registerKernel({
    kernelName: 'GradlabCopy',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs.x as tf.TensorInfo;
      const be = backend as unknown as { makeOutput(s: number[], d: string): tf.TensorInfo; typedArrayFromHeap(t: tf.TensorInfo): Float32Array };
      const out = be.makeOutput(x.shape, x.dtype);
      be.typedArrayFromHeap(out).set(be.typedArrayFromHeap(x));
      return out;
    },
  });
}

/**
 * `c = a` that really writes `a`'s bytes into a new buffer (unlike `tf.clone`, which
 * shares the buffer on cpu and webgpu). cpu and wasm: one memcpy into a fresh output
 * (kernel `GradlabCopy`); other backends: `a + 0`, one read and one write per element.
 * Not differentiable: a probe, not a layer.
 */
export function copyTensor(a: tf.Tensor): tf.Tensor {
  const b = tf.getBackend();
  if ((b === 'cpu' || b === 'wasm') && a.dtype !== 'string') {
    registerCopy();
    return tf.engine().runKernel('GradlabCopy', { x: a }) as tf.Tensor;
  }
  return tf.tidy(() => tf.add(a, tf.scalar(0, a.dtype)));
}

/** The tfjs form of one STREAM kernel on arrays a, b, c and the scalar s. */
export function streamOp(kernel: StreamKernel, a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, s: tf.Tensor): tf.Tensor {
  switch (kernel) {
    case 'copy':
      return copyTensor(a); // c = a
    case 'scale':
      return tf.mul(c, s); // b = s·c
    case 'add':
      return tf.add(a, b); // c = a + b
    case 'triad':
      return tf.tidy(() => tf.add(b, tf.mul(c, s))); // a = b + s·c
  }
}

/**
 * Measure copy / scale / add / triad bandwidth on the active backend over array
 * sizes, returning one row per kernel and size (plain data for a plot).
 * Arrays hold float32 (a = 1, b = 2, c = 0 as in STREAM's initialisation, then c
 * from a copy), created once per size and freed before the next; nothing leaks.
 *
 * @example
 * const rows = await gl.probes.measureBandwidth({ maxBytes: 64 * 2 ** 20, kernels: ['copy', 'triad'] });
 * // rows[i] = { kernel: 'copy', bytes: 4096, movedBytes: 8192, gbps: ..., ... }
 */
export async function measureBandwidth(options: BandwidthOptions = {}): Promise<BandwidthRow[]> {
  const { kernels = STREAM_KERNELS, warmup = 2, repeats = 10, bytesPerRepeat = 64 * 2 ** 20 } = options;
  for (const k of kernels) if (!(k in STREAM_ARRAYS)) throw new Error(`measureBandwidth: unknown kernel '${k}'; use ${STREAM_KERNELS.join(', ')}`);
  const cap = Math.min(maxArrayBytes(), options.maxBytes ?? Infinity);
  const sizes = (options.sizes ?? DEFAULT_SIZES).filter((s) => s <= cap);
  if (sizes.length === 0) {
    throw new Error(`measureBandwidth: no size fits under the cap of ${cap} bytes per array (maxBytes ${options.maxBytes ?? 'unset'}, backend limit ${maxArrayBytes()}); pass smaller sizes or a larger maxBytes`);
  }
  const backend = tf.getBackend();
  const rows: BandwidthRow[] = [];
  for (const bytes of sizes) {
    const elements = Math.max(1, Math.floor(bytes / 4));
    const a = tf.fill([elements], 1);
    const b = tf.fill([elements], 2);
    const c = copyTensor(a);
    const s = tf.scalar(STREAM_SCALAR);
    try {
      for (const kernel of kernels) {
        const movedBytes = STREAM_ARRAYS[kernel] * elements * 4;
        const inner = Math.min(100, Math.max(1, Math.ceil(bytesPerRepeat / movedBytes)));
        const t = await timeIt(() => streamOp(kernel, a, b, c, s), { warmup, repeats, inner });
        rows.push({
          kernel,
          bytes: elements * 4,
          elements,
          movedBytes,
          best: t.best,
          median: t.median,
          gbps: movedBytes / (t.best / 1e3) / 1e9,
          gbpsMedian: movedBytes / (t.median / 1e3) / 1e9,
          spread: t.spread,
          backend,
        });
      }
    } finally {
      tf.dispose([a, b, c, s]);
    }
  }
  return rows;
}
