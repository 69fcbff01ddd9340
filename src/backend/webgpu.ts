/**
 * WebGPU in Node through Dawn (npm `webgpu`) and `@tensorflow/tfjs-backend-webgpu`.
 *
 * Dawn picks Vulkan, Metal or D3D12 on a real GPU. Without one it can still
 * run on Mesa's software OpenGL ES (llvmpipe) in WebGPU "compatibility" mode
 * with `EGL_PLATFORM=surfaceless`: correct, slow, and how CI exercises this
 * path. `auto` never picks a software or fallback adapter; forcing `webgpu`
 * does, and the device description then says "software".
 *
 * Known fragility (seen on Mesa llvmpipe): the process can crash in native
 * code; tests run this backend in a child process. Read results with
 * `await t.data()` (WebGPU has no synchronous read-back).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { tf } from './tf';
import { BackendError, type BackendInfo } from './types';
import { packageVersion } from './versions';

const SOFTWARE = /llvmpipe|lavapipe|softpipe|swiftshader|software|microsoft basic render/i;

/** What gradlab uses of a WebGPU adapter (Dawn's GPUAdapter). */
export interface AdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
  features: { has(f: string): boolean };
  limits: Record<string, number>;
  requestDevice(d: unknown): Promise<unknown>;
}
/** What gradlab uses of a Dawn instance (navigator.gpu's GPU). */
export interface GpuLike {
  requestAdapter(o?: Record<string, unknown>): Promise<AdapterLike | null>;
}

// A real dynamic import(): `webgpu` is an ES module, and tsc would turn a
// plain import() into require() under CommonJS.
const importEsm = new Function('url', 'return import(url)') as (url: string) => Promise<unknown>;

/** Describe an adapter in words, and whether it is a software rasteriser. */
export function describeAdapter(a: Pick<AdapterLike, 'info' | 'isFallbackAdapter'>): { device: string; software: boolean } {
  const i = a.info ?? {};
  const words = [i.vendor, i.architecture, i.device, i.description]
    .map((s) => (s ?? '').replace(/-+$/, '').trim())
    .filter((s) => s);
  let text = [...new Set(words)].join(', ') || 'unknown adapter';
  const software = Boolean(a.isFallbackAdapter || i.isFallbackAdapter || SOFTWARE.test(text));
  // Dawn reports Mesa's rasteriser as e.g. "llvmpipe-llvm-15-0-6-256-bits".
  if (/llvmpipe/i.test(text)) text = `Mesa llvmpipe, ${i.description ?? ''}`.replace(/,\s*$/, '');
  return { device: software ? `${text} (software)` : text, software };
}

/**
 * True when a Vulkan loader (libvulkan.so.1) can be found: on `LD_LIBRARY_PATH` (a
 * loader copied along with a kit) or in the linker cache (`ldconfig -p`). Without one,
 * Dawn's Vulkan backend only warns and finds nothing. Always true off Linux.
 */
export function hasVulkanLoader(): boolean {
  if (process.platform !== 'linux') return true;
  const dirs = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter((d) => d);
  if (dirs.some((d) => fs.existsSync(path.join(d, 'libvulkan.so.1')))) return true;
  try {
    return /libvulkan\.so\.1/.test(execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  } catch {
    return false;
  }
}

/**
 * Load Dawn and request an adapter: a hardware one through Dawn's default
 * backends (Vulkan on Linux); with `allowSoftware`, then OpenGL ES in
 * compatibility mode, which is Mesa llvmpipe on a machine without a GPU.
 */
export async function requestAdapter(allowSoftware: boolean): Promise<{ gpu: GpuLike; adapter: AdapterLike } | null> {
  process.env.EGL_PLATFORM ??= 'surfaceless';
  let mod: { create(o: string[]): GpuLike; globals: Record<string, unknown> };
  try {
    mod = (await importEsm(pathToFileURL(require.resolve('webgpu')).href)) as typeof mod;
  } catch (e) {
    throw new BackendError('webgpu', `backend 'webgpu' cannot load: the npm package 'webgpu' (Dawn) failed to load: ${(e as Error).message}. Run \`npm install\` in the gradlab folder.`);
  }
  Object.assign(globalThis, mod.globals);
  if (hasVulkanLoader()) {
    const gpu = mod.create([]);
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (adapter) return { gpu, adapter };
  }
  if (!allowSoftware) return null;
  const gpu = mod.create(['backend=opengles']);
  const adapter = await gpu.requestAdapter({ featureLevel: 'compatibility' });
  return adapter ? { gpu, adapter } : null;
}

/** Load the WebGPU backend; `allowSoftware` false rejects llvmpipe and fallback adapters. */
export async function loadWebGPU(allowSoftware: boolean): Promise<BackendInfo> {
  const found = await requestAdapter(allowSoftware);
  if (!found) {
    throw new BackendError(
      'webgpu',
      "backend 'webgpu' cannot load: Dawn found no " + (allowSoftware ? 'GPU adapter (no Vulkan GPU driver, and no ' +
        'software OpenGL ES through EGL). On Debian/Ubuntu install libvulkan1 and your GPU\'s Vulkan driver ' +
        "(mesa-vulkan-drivers, or NVIDIA's), or libegl-mesa0 and libgles2 for the slow software path; or use backend 'wasm'."
        : 'hardware GPU adapter (Vulkan loader or GPU driver missing)'),
      'no hardware GPU adapter',
    );
  }
  const { gpu, adapter } = found;
  const nav = ((globalThis as { navigator?: object }).navigator ??= {}) as Record<string, unknown>;
  Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, writable: true });
  const { device: name, software } = describeAdapter(adapter);
  if (software && !allowSoftware) {
    throw new BackendError('webgpu', `only a software adapter is available (${name}); 'auto' skips it`, 'software adapter only');
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { WebGPUBackend } = require('@tensorflow/tfjs-backend-webgpu') as {
    WebGPUBackend: new (device: unknown, info: unknown) => tf.KernelBackend;
  };
  const l = adapter.limits;
  const limitNames = [
    'maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize',
    'maxBufferSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup',
    'maxStorageBuffersPerShaderStage', // tfjs ops that bind many inputs (addN, concat) need them
  ];
  const device = await adapter.requestDevice({
    requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
    requiredLimits: Object.fromEntries(limitNames.map((k) => [k, l[k]])),
  });
  // Replace the package's own factory, which asks for an adapter without
  // compatibility mode, by one that uses the adapter chosen here.
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new WebGPUBackend(device, adapter.info), 3);
  if (!(await tf.setBackend('webgpu'))) {
    throw new BackendError('webgpu', `backend 'webgpu' failed to initialise on ${name}`);
  }
  const probe = tf.add(tf.scalar(1), tf.scalar(2));
  const value = (await probe.data())[0];
  probe.dispose();
  if (value !== 3) throw new BackendError('webgpu', `webgpu smoke test on ${name} computed 1 + 2 = ${value}`);
  return {
    name: 'webgpu',
    package: '@tensorflow/tfjs-backend-webgpu',
    device: name,
    isGpu: true,
    software,
    threads: null,
    versions: { '@tensorflow/tfjs-backend-webgpu': packageVersion('@tensorflow/tfjs-backend-webgpu'), webgpu: packageVersion('webgpu') },
    skipped: [],
  };
}
