/**
 * The TensorFlow C library backend (`@tensorflow/tfjs-node-gpu` on an NVIDIA
 * GPU, `@tensorflow/tfjs-node` on CPU). Both are optional dependencies: their
 * install scripts download libtensorflow, which fails on machines without
 * access to Google's storage, and npm then simply leaves them out.
 */
import { execFileSync } from 'child_process';
import * as os from 'os';
import { tf } from './tf';
import { BackendError, type BackendInfo } from './types';
import { packageVersion } from './versions';

/** What tfjs-node-gpu 4.x needs: it links libtensorflow 2.9.1 (CUDA 11.2, cuDNN 8.1). */
export const TFJS_NODE_GPU_NEEDS =
  '@tensorflow/tfjs-node-gpu 4.22 links libtensorflow 2.9.1, built for CUDA 11.2 and cuDNN 8.1 ' +
  '(Linux x86-64, an NVIDIA driver >= 450.80). To install it: put CUDA 11.2 and cuDNN 8.1 on the ' +
  'library path (e.g. the cuda-11-2 / libcudnn8 packages from NVIDIA\'s repository, or ' +
  'LD_LIBRARY_PATH pointing at them), make sure the machine can reach the host its install script downloads libtensorflow from, then run ' +
  '`npm install @tensorflow/tfjs-node-gpu` in the gradlab folder (package.json already allows its ' +
  'install script). Check with `nvidia-smi` that the GPU is visible.';

/** A visible NVIDIA GPU as nvidia-smi reports it, or null. */
export function nvidiaGpu(): { name: string; memoryMiB: number; driver: string } | null {
  try {
    const out = execFileSync(
      'nvidia-smi',
      ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader,nounits'],
      { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const first = out.trim().split('\n')[0];
    if (!first) return null;
    const [name, mem, driver] = first.split(',').map((s) => s.trim());
    return { name: name ?? 'NVIDIA GPU', memoryMiB: Number(mem), driver: driver ?? '?' };
  } catch {
    return null;
  }
}

function tryRequire(name: string): { ok: true } | { ok: false; error: string } {
  try {
    require(name);
    return { ok: true };
  } catch (e) {
    return { ok: false, error: (e as Error).message.split('\n')[0] ?? String(e) };
  }
}

/**
 * Load the TensorFlow backend: `gpu` accepts only tfjs-node-gpu on a visible
 * GPU (the first step of `auto`), `cpu` only tfjs-node (a later step of
 * `auto`), `any` tries tfjs-node-gpu then tfjs-node (a forced 'tensorflow').
 */
export async function loadTensorflow(mode: 'gpu' | 'cpu' | 'any'): Promise<BackendInfo> {
  const gpu = nvidiaGpu();
  const reasons: string[] = [];
  const candidates = { gpu: ['@tensorflow/tfjs-node-gpu'], cpu: ['@tensorflow/tfjs-node'], any: ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] }[mode];
  for (const pkg of candidates) {
    const isGpuPkg = pkg.endsWith('-gpu');
    if (isGpuPkg && !gpu) {
      reasons.push(`${pkg}: no NVIDIA GPU visible (nvidia-smi not found or lists no GPU)`);
      continue;
    }
    const loaded = tryRequire(pkg);
    if (!loaded.ok) {
      reasons.push(`${pkg}: ${/Cannot find module/.test(loaded.error) ? 'not installed' : loaded.error}`);
      continue;
    }
    if (!(await tf.setBackend('tensorflow'))) {
      reasons.push(`${pkg}: loaded, but tf.setBackend('tensorflow') failed`);
      continue;
    }
    return {
      name: 'tensorflow',
      package: pkg,
      device:
        isGpuPkg && gpu
          ? `${gpu.name}, ${(gpu.memoryMiB / 1024).toFixed(0)} GiB, driver ${gpu.driver}`
          : `CPU (${os.cpus()[0]?.model.trim() ?? 'unknown'}), libtensorflow`,
      isGpu: isGpuPkg,
      software: false,
      threads: isGpuPkg ? null : os.cpus().length,
      versions: { [pkg]: packageVersion(pkg) },
      skipped: [],
    };
  }
  throw new BackendError(
    'tensorflow',
    `backend 'tensorflow' cannot load here:\n  - ${reasons.join('\n  - ')}\n` +
      `${TFJS_NODE_GPU_NEEDS}\nWithout it, use backend 'auto' (or GRADLAB_BACKEND=auto), which picks webgpu, wasm or cpu.`,
    reasons.join('; '),
  );
}
