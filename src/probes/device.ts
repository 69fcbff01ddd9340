/**
 * Device facts for the probes' plots and tables: which machine the numbers come from.
 *
 * - NVIDIA GPUs: model, memory and driver from
 *   `nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader`
 *   when that command exists (one line per GPU);
 * - the WebGPU adapter (vendor, architecture, device, description, and whether it is
 *   a software rasteriser) when the webgpu backend is active;
 * - the CPU: model, logical cores, SIMD flags (avx2, avx512f, fma, neon, …) from
 *   /proc/cpuinfo, and total memory — always.
 *
 * The parsers are pure functions of the text, so they are tested on canned output.
 *
 * Introduced in notebooks/03-gpu.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import { tf } from '../backend/tf';
import { backendInfo } from '../backend/init';
import { describeAdapter } from '../backend/webgpu';

/** One NVIDIA GPU as nvidia-smi reports it. */
export interface NvidiaGpu {
  name: string;
  /** Total memory in MiB (nvidia-smi's "MiB"). */
  memoryMiB: number;
  driver: string;
}

/** The CPU, from /proc/cpuinfo (or `os.cpus()` where that file is missing). */
export interface CpuFacts {
  model: string;
  /** Logical processors. */
  cores: number;
  /** The SIMD-related flags present, among {@link SIMD_FLAGS}. */
  simd: string[];
}

/** The WebGPU adapter's info. */
export interface AdapterFacts {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software rasteriser (llvmpipe, SwiftShader) or a fallback adapter. */
  software: boolean;
}

/** Everything {@link deviceFacts} found. */
export interface DeviceFacts {
  /** The active tfjs backend. */
  backend: string;
  /** NVIDIA GPUs from nvidia-smi; empty where it is missing or fails. */
  gpus: NvidiaGpu[];
  /** The WebGPU adapter when the webgpu backend is active, else null. */
  adapter: AdapterFacts | null;
  cpu: CpuFacts;
  /** Total system memory in bytes (`os.totalmem()`). */
  memoryBytes: number;
  /** One line, e.g. "NVIDIA H200, 143771 MiB, driver 550.90 | backend webgpu" or "AMD EPYC, 2 cores (avx2 avx512f fma), 23.5 GiB | backend wasm". */
  description: string;
}

/** The SIMD flags looked for: x86 (sse4_2 … avx512) and Arm (neon / asimd, sve). */
export const SIMD_FLAGS = ['sse4_2', 'avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_bf16', 'avx512_fp16', 'amx_bf16', 'neon', 'asimd', 'asimdhp', 'sve', 'sve2'] as const;

/**
 * Parse `nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader`,
 * e.g. `NVIDIA H200, 143771 MiB, 550.90.07` (one line per GPU).
 */
export function parseNvidiaSmi(text: string): NvidiaGpu[] {
  const gpus: NvidiaGpu[] = [];
  for (const line of text.split('\n').map((l) => l.trim()).filter((l) => l)) {
    const parts = line.split(',').map((p) => p.trim());
    if (parts.length < 3) throw new Error(`parseNvidiaSmi: expected "name, memory.total, driver_version", got '${line}'`);
    const driver = parts.pop()!;
    const mem = parts.pop()!;
    const m = /^([\d.]+)\s*MiB$/i.exec(mem);
    if (!m) throw new Error(`parseNvidiaSmi: memory.total '${mem}' is not "<number> MiB" in '${line}'`);
    gpus.push({ name: parts.join(', '), memoryMiB: Number(m[1]), driver });
  }
  return gpus;
}

/**
 * Parse /proc/cpuinfo: the model (x86 "model name", or Arm's "Hardware" / "CPU part"
 * when there is no model name), the number of "processor" entries, and the SIMD flags
 * (x86 "flags", Arm "Features") among {@link SIMD_FLAGS}.
 */
export function parseCpuinfo(text: string): CpuFacts {
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'im').exec(text)?.[1]?.trim();
  const cores = (text.match(/^processor\s*:/gim) ?? []).length;
  const flags = new Set((field('flags') ?? field('Features') ?? '').split(/\s+/).filter((f) => f));
  const model = field('model name') ?? field('Hardware') ?? (field('CPU part') ? `Arm CPU part ${field('CPU part')}` : 'unknown CPU');
  return { model, cores, simd: SIMD_FLAGS.filter((f) => flags.has(f)) };
}

/** The GPUs nvidia-smi lists, or [] where it is missing or fails (within 10 s). */
export function queryNvidiaSmi(): NvidiaGpu[] {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    });
    return parseNvidiaSmi(out);
  } catch {
    return [];
  }
}

/** The CPU of this machine: /proc/cpuinfo on Linux, else os.cpus() (no SIMD flags). */
export function cpuFacts(): CpuFacts {
  try {
    const parsed = parseCpuinfo(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    return { ...parsed, cores: parsed.cores || os.cpus().length };
  } catch {
    const cpus = os.cpus();
    return { model: cpus[0]?.model ?? 'unknown CPU', cores: cpus.length, simd: [] };
  }
}

/** The active webgpu backend's adapter info, or null on other backends. */
export function adapterFacts(): AdapterFacts | null {
  if (tf.getBackend() !== 'webgpu') return null;
  // GPUDevice.adapterInfo (WebGPU spec) has all four fields; tfjs's own AdapterInfo keeps only vendor and architecture.
  const be = tf.backend() as unknown as { device?: { adapterInfo?: Record<string, unknown> }; adapterInfo?: Record<string, unknown> };
  const i = be.device?.adapterInfo ?? be.adapterInfo ?? {};
  const str = (k: string) => (typeof i[k] === 'string' ? (i[k] as string).replace(/-+$/, '') : '');
  const f = { vendor: str('vendor'), architecture: str('architecture'), device: str('device'), description: str('description') };
  return { ...f, software: backendInfo()?.software ?? describeAdapter({ info: f }).software };
}

/** One line describing the facts (GPU if any, else the CPU; and the backend). */
export function describeDevice(f: Omit<DeviceFacts, 'description'>): string {
  const gib = (f.memoryBytes / 2 ** 30).toFixed(1);
  const cpu = `${f.cpu.model}, ${f.cpu.cores} core${f.cpu.cores === 1 ? '' : 's'}${f.cpu.simd.length ? ` (${f.cpu.simd.join(' ')})` : ''}, ${gib} GiB`;
  const gpu = f.gpus.map((g) => `${g.name}, ${g.memoryMiB} MiB, driver ${g.driver}`).join('; ');
  const adapter = f.adapter
    ? `adapter ${[f.adapter.vendor, f.adapter.architecture, f.adapter.device, f.adapter.description].filter((s) => s).join(' / ') || 'unknown'}${f.adapter.software ? ' (software)' : ''}`
    : '';
  return [gpu || cpu, adapter, `backend ${f.backend}`].filter((s) => s).join(' | ');
}

/**
 * Device facts of this machine and backend.
 *
 * @example
 * gl.probes.deviceFacts().description
 * // 'AMD EPYC, 2 cores (sse4_2 avx avx2 fma f16c avx512f ...), 23.5 GiB | backend wasm'
 */
export function deviceFacts(): DeviceFacts {
  const f = { backend: tf.getBackend(), gpus: queryNvidiaSmi(), adapter: adapterFacts(), cpu: cpuFacts(), memoryBytes: os.totalmem() };
  return { ...f, description: describeDevice(f) };
}
