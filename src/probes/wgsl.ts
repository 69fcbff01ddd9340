/**
 * The GPU's own memory bandwidth, measured with a raw WGSL kernel through the
 * `webgpu` package (Dawn) directly, without tfjs in between: a grid-stride copy of
 * `vec4<f32>` (16 bytes per thread per step, so loads and stores are wide and
 * coalesced), over buffers of several sizes.
 *
 * Counting and timing follow STREAM's Copy (McCalpin 1995) and NVIDIA's
 * nvbandwidth: a copy of B bytes moves 2·B (read + write); many dispatches are
 * queued before one wait, so the launch and submission costs are amortised; warm-up
 * dispatches come first; the best and the median of several timed batches are
 * reported. Time comes from GPU timestamp queries where the adapter offers the
 * `timestamp-query` feature (the time between the compute pass's beginning and its
 * end, on the GPU's clock), else from the wall clock around `queue.submit` and
 * `queue.onSubmittedWorkDone()` — which then includes the submission and the wait.
 * Dawn may quantise timestamps (to guard against timing attacks) and the wall clock
 * adds the submission, so each batch is made to last at least `minBatchMs`: after
 * the warm-up, the number of dispatches per batch is raised (as Python's
 * `timeit.autorange` does) until a batch takes that long.
 *
 * References: J. McCalpin, "Memory Bandwidth and Machine Balance in Current High
 * Performance Computers" (1995) and STREAM; NVIDIA nvbandwidth
 * (github.com/NVIDIA/nvbandwidth); the WebGPU spec's `timestamp-query` feature; the
 * CUDA C++ Best Practices Guide on coalesced access and grid-stride loops.
 *
 * Introduced in notebooks/03-gpu.
 */
import { backendInfo } from '../backend/init';
import { describeAdapter, requestAdapter } from '../backend/webgpu';
import { tf } from '../backend/tf';
import { now, summarise } from './timing';

// The numeric values of the WebGPU spec's flags, so this file does not depend on Dawn's globals.
const BUF = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, STORAGE: 0x80, QUERY_RESOLVE: 0x200 } as const;
const MAP_READ = 0x1;

/* eslint-disable @typescript-eslint/no-explicit-any */
type Gpu = any; // GPUDevice and friends: Dawn's objects, typed loosely to keep @webgpu/types out of the build.

/** A GPU device for raw WGSL work, and where it came from. */
export interface RawGpu {
  /** The GPUDevice. */
  device: Gpu;
  /** The adapter in words (vendor, architecture, description), when known. */
  adapter: string;
  /** `'tfjs'`: the device of the active tfjs webgpu backend; `'own'`: requested here through `webgpu` (Dawn). */
  source: 'tfjs' | 'own';
  /** Dawn objects (instance, adapter) held so they outlive an own device. */
  keepAlive?: unknown[];
}

/** The device requested here, kept for the life of the process (with its Dawn instance, which must outlive it). */
let ownGpu: Promise<RawGpu> | null = null;

async function requestOwn(): Promise<RawGpu> {
  // The same choice as gradlab's webgpu backend: a hardware adapter (Vulkan) first, then OpenGL ES (compatibility).
  const found = await requestAdapter(true).catch((e: Error) => {
    throw new Error(`rawGpu: ${e.message}`);
  });
  if (!found) throw new Error('rawGpu: Dawn found no GPU adapter (no Vulkan driver, and no OpenGL ES through EGL); this probe needs WebGPU');
  const { gpu: instance } = found;
  const adapter = found.adapter as Gpu;
  const names = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupsPerDimension', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup'];
  const device = await adapter.requestDevice({
    requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
    requiredLimits: Object.fromEntries(names.map((k) => [k, adapter.limits[k]])),
  });
  return { device, adapter: describeAdapter(adapter).device, source: 'own', keepAlive: [instance, adapter] };
}

/**
 * The GPU device to measure on: the active tfjs webgpu backend's own device when
 * webgpu is the active backend (`tf.backend().device`), else a device requested
 * here through the `webgpu` package (Dawn) the same way gradlab's backend does:
 * a hardware adapter (Vulkan) first, then OpenGL ES in compatibility mode (Mesa's
 * software renderer on a machine without a GPU), with `timestamp-query` when
 * offered and the adapter's own limits. That own device is created once and reused
 * for the life of the process (creating and dropping Dawn instances repeatedly has
 * crashed Dawn in native code here); do not destroy it.
 */
export async function rawGpu(): Promise<RawGpu> {
  if (tf.getBackend() === 'webgpu') {
    const be = tf.backend() as unknown as { device: Gpu; adapterInfo?: Record<string, string> };
    if (be.device) return { device: be.device, adapter: backendInfo()?.device ?? describeAdapter({ info: be.adapterInfo }).device, source: 'tfjs' };
  }
  ownGpu ??= requestOwn().catch((e) => {
    ownGpu = null;
    throw e;
  });
  return ownGpu;
}

/** The copy kernel: grid-stride over vec4<f32>, `wg` threads per workgroup. */
export function copyShader(wg: number): string {
  return `
@group(0) @binding(0) var<storage, read> src : array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst : array<vec4<f32>>;

@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {
  let n = arrayLength(&src);
  let stride = nwg.x * ${wg}u;
  for (var i = gid.x; i < n; i = i + stride) {
    dst[i] = src[i];
  }
}
`;
}

/** Options of {@link wgslCopyBandwidth}. */
export interface WgslCopyOptions {
  /** Bytes per buffer (each rounded down to a multiple of 16). Default 1 MiB · 4^k up to `maxBytes`, plus `maxBytes` itself. */
  sizes?: number[];
  /** Cap on a buffer's size, bytes; the device's maxStorageBufferBindingSize and maxBufferSize cap it further. Default 1 GiB. */
  maxBytes?: number;
  /** Copies queued per timed batch before the one wait (nvbandwidth's approach), at least. Default 20. */
  dispatches?: number;
  /**
   * Raise the copies per batch (up to `maxDispatches`) until a warm-up batch lasts
   * this long, ms, so timestamp quantisation and submission cost stay small. 0 keeps
   * `dispatches`. Default 10.
   */
  minBatchMs?: number;
  /** Upper bound on the copies per batch. Default 4096. */
  maxDispatches?: number;
  /** Timed batches per size. Default 5. */
  repeats?: number;
  /** Untimed batches first (pipeline creation, first touch). Default 1. */
  warmup?: number;
  /** Workgroups per dispatch (the grid; each thread then strides). Default min(⌈n/wg⌉, 32768, the device limit). */
  workgroups?: number;
  /** Read the destination back and compare with the source. Default true. */
  verify?: boolean;
  /** A device to use (see {@link rawGpu}); default: {@link rawGpu}'s choice. */
  gpu?: RawGpu;
}

/** One buffer size: a plain row for plotting. */
export interface WgslCopyRow {
  /** Bytes per buffer. */
  bytes: number;
  /** Bytes moved per copy: 2 · bytes (read + write, as STREAM counts Copy). */
  moved: number;
  /** Best time per copy, ms. */
  bestMs: number;
  /** Median time per copy, ms. */
  medianMs: number;
  /** moved / best time, GB/s (10⁹ B/s). */
  bestGBs: number;
  /** moved / median time, GB/s. */
  medianGBs: number;
  /** Copies queued per timed batch at this size. */
  dispatches: number;
  /** Wall-clock time per copy of the best batch, submission and wait included, ms. */
  wallBestMs: number;
  /** Workgroups per dispatch (the grid). */
  workgroups: number;
  /** Threads per workgroup: min(256, the device's maxComputeWorkgroupSizeX and maxComputeInvocationsPerWorkgroup). */
  workgroupSize: number;
  /** Whether the destination equalled the source on read-back (null: not checked). */
  verified: boolean | null;
  /** The clock of bestMs / medianMs: `'gpu'` (timestamp queries) or `'wall'` (no timestamps, or a non-positive GPU interval in a batch). */
  clock: 'gpu' | 'wall';
}

/** What {@link wgslCopyBandwidth} returns. */
export interface WgslCopyResult {
  /** The adapter in words. */
  adapter: string;
  /** Whose device was used: the tfjs backend's or one requested here. */
  source: 'tfjs' | 'own';
  /** How time was measured. */
  timing: 'timestamp-query' | 'wall-clock around onSubmittedWorkDone';
  /** The device's maxStorageBufferBindingSize, bytes. */
  maxStorageBufferBindingSize: number;
  /** One row per buffer size. */
  rows: WgslCopyRow[];
}

/** The default buffer sizes: 1 MiB · 4^k below the cap, then the cap. */
export function defaultCopySizes(cap: number): number[] {
  const sizes: number[] = [];
  for (let b = 1 << 20; b < cap; b *= 4) sizes.push(b);
  sizes.push(cap);
  return sizes;
}

/**
 * Measure device-memory bandwidth with a raw WGSL vec4 grid-stride copy (see the
 * module TSDoc for the counting and timing rules). Works on a real GPU (Vulkan) and
 * on Mesa's software renderer (compatibility mode, no timestamps), where it
 * measures the CPU's memory through llvmpipe.
 *
 * @example
 * const r = await gl.probes.wgslCopyBandwidth({ maxBytes: 256 << 20 });
 * r.timing;                                 // 'timestamp-query' on most GPUs
 * Math.max(...r.rows.map((x) => x.bestGBs)); // compare with the datasheet
 */
export async function wgslCopyBandwidth(opts: WgslCopyOptions = {}): Promise<WgslCopyResult> {
  const { maxBytes = 2 ** 30, dispatches = 20, repeats = 5, warmup = 1, verify = true, minBatchMs = 10, maxDispatches = 4096 } = opts;
  if (!(minBatchMs >= 0)) throw new Error(`wgslCopyBandwidth: minBatchMs must be ≥ 0, got ${minBatchMs}`);
  for (const [name, v, min] of [['dispatches', dispatches, 1], ['repeats', repeats, 1], ['warmup', warmup, 0], ['maxDispatches', maxDispatches, dispatches]] as const) {
    if (!Number.isInteger(v) || v < min) throw new Error(`wgslCopyBandwidth: ${name} must be an integer ≥ ${min}, got ${v}`);
  }
  if (!(maxBytes >= 16)) throw new Error(`wgslCopyBandwidth: maxBytes must be ≥ 16, got ${maxBytes}`);
  const gpu = opts.gpu ?? (await rawGpu());
  const { device } = gpu;
  const limits = device.limits;
  const cap = Math.floor(Math.min(maxBytes, limits.maxStorageBufferBindingSize, limits.maxBufferSize) / 16) * 16;
  const sizes = (opts.sizes ?? defaultCopySizes(cap)).map((b) => {
    if (!(Number.isFinite(b) && b >= 16)) throw new Error(`wgslCopyBandwidth: each size must be ≥ 16 bytes (one vec4<f32>), got ${b}`);
    if (b > cap) {
      throw new Error(`wgslCopyBandwidth: size ${b} bytes exceeds the cap ${cap} (min of maxBytes and the device's maxStorageBufferBindingSize / maxBufferSize)`);
    }
    return Math.floor(b / 16) * 16;
  });
  const wg = Math.min(256, limits.maxComputeWorkgroupSizeX, limits.maxComputeInvocationsPerWorkgroup);
  const useTimestamps: boolean = device.features.has('timestamp-query');
  const module = device.createShaderModule({ code: copyShader(wg), label: 'gradlab copy' });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: 'gradlab copy' });
  const rows: WgslCopyRow[] = [];
  const own: Gpu[] = [];
  const make = (size: number, usage: number, label: string) => {
    const b = device.createBuffer({ size, usage, label });
    own.push(b);
    return b;
  };
  try {
    const querySet = useTimestamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : null;
    if (querySet) own.push(querySet);
    const resolve = useTimestamps ? make(16, BUF.QUERY_RESOLVE | BUF.COPY_SRC, 'ts resolve') : null;
    const tsRead = useTimestamps ? make(16, BUF.MAP_READ | BUF.COPY_DST, 'ts read') : null;
    for (const bytes of sizes) {
      const n4 = bytes / 16;
      const workgroups = Math.max(1, Math.min(opts.workgroups ?? Math.min(Math.ceil(n4 / wg), 32768), limits.maxComputeWorkgroupsPerDimension));
      const src = make(bytes, BUF.STORAGE | BUF.COPY_DST | BUF.COPY_SRC, 'src');
      const dst = make(bytes, BUF.STORAGE | BUF.COPY_SRC, 'dst');
      const pattern = new Uint32Array(bytes / 4);
      for (let i = 0; i < pattern.length; i++) pattern[i] = (Math.imul(i, 2654435761) ^ 0x5bd1e995) >>> 0 || 1;
      device.queue.writeBuffer(src, 0, pattern);
      const bindGroup = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: dst } }],
      });
      let k = dispatches;
      const batch = async (): Promise<{ gpuMs: number | null; wallMs: number }> => {
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass(querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
        for (let d = 0; d < k; d++) pass.dispatchWorkgroups(workgroups);
        pass.end();
        if (querySet) {
          enc.resolveQuerySet(querySet, 0, 2, resolve, 0);
          enc.copyBufferToBuffer(resolve, 0, tsRead, 0, 16);
        }
        const t0 = now();
        device.queue.submit([enc.finish()]);
        await device.queue.onSubmittedWorkDone();
        const wallMs = now() - t0;
        if (!tsRead) return { gpuMs: null, wallMs };
        await tsRead.mapAsync(MAP_READ);
        const ts = new BigInt64Array(tsRead.getMappedRange().slice(0));
        tsRead.unmap();
        return { gpuMs: Number(ts[1]! - ts[0]!) / 1e6, wallMs };
      };
      for (let w = 0; w < warmup; w++) await batch();
      // Autorange: lengthen the batch until it lasts minBatchMs (at most two rounds).
      for (let round = 0; round < 2 && minBatchMs > 0 && k < maxDispatches; round++) {
        const b = await batch();
        const ms = b.gpuMs !== null && b.gpuMs > 0 ? b.gpuMs : b.wallMs;
        if (ms >= minBatchMs) break;
        k = Math.min(maxDispatches, Math.ceil((k * minBatchMs * 1.2) / Math.max(ms, 1e-3)));
      }
      const times: number[] = [];
      const walls: number[] = [];
      let clock: 'gpu' | 'wall' = useTimestamps ? 'gpu' : 'wall';
      for (let r = 0; r < repeats; r++) {
        const b = await batch();
        // A zero or negative GPU interval (timestamps quantised or reset) falls back to the wall clock.
        const gpuOk = b.gpuMs !== null && b.gpuMs > 0;
        if (!gpuOk) clock = 'wall';
        times.push((gpuOk ? b.gpuMs! : b.wallMs) / k);
        walls.push(b.wallMs / k);
      }
      let verified: boolean | null = null;
      if (verify) {
        const read = make(bytes, BUF.MAP_READ | BUF.COPY_DST, 'read back');
        const enc = device.createCommandEncoder();
        enc.copyBufferToBuffer(dst, 0, read, 0, bytes);
        device.queue.submit([enc.finish()]);
        await read.mapAsync(MAP_READ);
        const got = new Uint32Array(read.getMappedRange());
        verified = got.length === pattern.length && got.every((v, i) => v === pattern[i]);
        read.unmap();
        read.destroy();
      }
      src.destroy();
      dst.destroy();
      const s = summarise(times);
      const moved = 2 * bytes;
      rows.push({
        bytes,
        moved,
        bestMs: s.best,
        medianMs: s.median,
        bestGBs: moved / (s.best * 1e-3) / 1e9,
        medianGBs: moved / (s.median * 1e-3) / 1e9,
        dispatches: k,
        wallBestMs: Math.min(...walls),
        workgroups,
        workgroupSize: wg,
        verified,
        clock,
      });
    }
  } finally {
    for (const o of own) o.destroy();
  }
  return {
    adapter: gpu.adapter,
    source: gpu.source,
    timing: useTimestamps ? 'timestamp-query' : 'wall-clock around onSubmittedWorkDone',
    maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
    rows,
  };
}
