/**
 * Choosing the compute backend: `await gl.init()` once, first thing in every
 * notebook, then `gl.describe()` for the one-line banner.
 *
 * `auto` order (fastest first): tfjs-node-gpu on a visible CUDA GPU; WebGPU
 * (Dawn) on a hardware adapter; tfjs-node on CPU; wasm; cpu. The environment
 * variable `GRADLAB_BACKEND` overrides the option, so the same notebook runs
 * on a laptop and on a GPU box unchanged.
 */
import { tf } from './tf';
import { loadTensorflow } from './tensorflow';
import { loadWasm, loadCpu } from './wasm';
import { loadWebGPU } from './webgpu';
import { BACKENDS, BackendError, type BackendChoice, type BackendInfo, type BackendName, type InitOptions } from './types';
import { gradlabVersion } from './versions';

let current: BackendInfo | null = null;

function parseChoice(value: string, where: string): BackendChoice {
  const v = value.trim().toLowerCase();
  if (v === 'auto' || (BACKENDS as readonly string[]).includes(v)) return v as BackendChoice;
  throw new Error(`${where}: unknown backend '${value}'; use one of auto, ${BACKENDS.join(', ')}`);
}

/** A forced backend: software GPU adapters allowed, tfjs-node-gpu or tfjs-node. */
async function loadForced(name: BackendName): Promise<BackendInfo> {
  switch (name) {
    case 'tensorflow':
      return loadTensorflow('any');
    case 'webgpu':
      return loadWebGPU(true);
    case 'wasm':
      return loadWasm();
    case 'cpu':
      return loadCpu();
  }
}

/** The `auto` order: GPUs first (hardware only), then the fastest CPU path. */
const AUTO_STEPS: { backend: BackendName; load: () => Promise<BackendInfo> }[] = [
  { backend: 'tensorflow', load: () => loadTensorflow('gpu') },
  { backend: 'webgpu', load: () => loadWebGPU(false) },
  { backend: 'tensorflow', load: () => loadTensorflow('cpu') },
  { backend: 'wasm', load: loadWasm },
  { backend: 'cpu', load: loadCpu },
];

/**
 * Pick and initialise the compute backend; returns what was chosen.
 *
 * @example
 * const info = await gl.init();                 // auto
 * await gl.init({ backend: 'cpu' });            // the slow reference backend
 * // GRADLAB_BACKEND=webgpu npm start           // override from outside
 *
 * A forced backend that cannot load throws a {@link BackendError} saying why
 * and what to do. Introduced in notebooks/01-backprop/01-chain-rule.
 */
export async function init(options: InitOptions = {}): Promise<BackendInfo> {
  const env = process.env.GRADLAB_BACKEND;
  const choice = env ? parseChoice(env, 'GRADLAB_BACKEND') : parseChoice(options.backend ?? 'auto', 'init({ backend })');
  let info: BackendInfo;
  if (choice !== 'auto') {
    info = await loadForced(choice);
  } else {
    const skipped: BackendInfo['skipped'] = [];
    let found: BackendInfo | null = null;
    for (const step of AUTO_STEPS) {
      try {
        found = await step.load();
        break;
      } catch (e) {
        skipped.push({ backend: step.backend, reason: e instanceof BackendError ? e.summary : (e as Error).message });
      }
    }
    if (!found) {
      throw new Error(`init: no backend could load:\n${skipped.map((s) => `  ${s.backend}: ${s.reason}`).join('\n')}`);
    }
    info = { ...found, skipped };
  }
  info.versions = { gradlab: gradlabVersion(), tfjs: tf.version.tfjs, ...info.versions, node: process.version };
  current = info;
  return info;
}

/** What the last `init()` chose, or null before it. */
export function backendInfo(): BackendInfo | null {
  return current && current.name === tf.getBackend() ? current : null;
}

/**
 * The one-line banner every notebook prints first, e.g.
 * `gradlab 0.1.0 | backend wasm | CPU, SIMD, 1 thread | tfjs 4.22.0 | Node v20.20.2`,
 * or `... | backend webgpu | GPU: NVIDIA ... | ...` on a GPU.
 */
export function describe(info: BackendInfo | null = backendInfo()): string {
  if (!info) {
    return `gradlab ${gradlabVersion()} | backend ${tf.getBackend() ?? 'none'} (not chosen by gl.init(); call await gl.init() first)`;
  }
  const device = info.isGpu ? `GPU: ${info.device}` : info.device;
  return `gradlab ${info.versions.gradlab} | backend ${info.name} | ${device} | tfjs ${info.versions.tfjs} | Node ${info.versions.node}`;
}

export { BackendError };
