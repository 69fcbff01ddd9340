/**
 * `facts`: what this machine offers WebGPU, and what loaded. Reports the Node
 * version, the NVIDIA driver (nvidia-smi, /proc), the loader libraries and
 * driver manifests the Vulkan and EGL loaders would find, every adapter Dawn
 * offers per Dawn backend (vendor, architecture, device, description,
 * software or hardware, features such as timestamp-query, limits such as
 * maxBufferSize), and the adapter gradlab's forced `webgpu` backend chose.
 * When webgpu cannot load it says which of loader library, ICD, driver or
 * adapter is missing, instead of failing.
 */
import { execFileSync } from 'child_process';
import { existsSync, readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import { pathToFileURL } from 'url';
import { describeAdapter } from '../../src/backend/webgpu';
import { nvidiaGpu } from '../../src/backend';
import { tf } from '../../src/backend/tf';
import type { KitContext } from '../context';

/** Where the Vulkan loader looks for driver manifests (ICDs), plus the NVIDIA container path. */
const ICD_DIRS = ['/etc/vulkan/icd.d', '/usr/share/vulkan/icd.d', '/usr/local/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
/** Where glvnd's libEGL looks for vendor manifests. */
const EGL_DIRS = ['/etc/glvnd/egl_vendor.d', '/usr/share/glvnd/egl_vendor.d'];
/** Where NVIDIA's container runtime puts its manifests (not on the loaders' search paths). */
const NVIDIA_ICD = '/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json';

// A real dynamic import(): `webgpu` is an ES module, and tsc would turn a
// plain import() into require() under CommonJS.
const importEsm = new Function('url', 'return import(url)') as (url: string) => Promise<unknown>;

interface DawnAdapter {
  info?: Record<string, unknown>;
  isFallbackAdapter?: boolean;
  features: Iterable<string> & { has(f: string): boolean };
  limits: Record<string, number>;
}
interface DawnModule {
  create(o: string[]): { requestAdapter(o?: Record<string, unknown>): Promise<DawnAdapter | null> };
}

/** The shared objects `ldconfig -p` lists whose name starts with `name`. */
function ldconfigHas(name: string): string[] {
  try {
    const out = execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out.split('\n').filter((l) => l.trim().startsWith(name)).map((l) => l.split('=>')[1]?.trim() ?? l.trim());
  } catch {
    return [];
  }
}

/** JSON manifests in `dirs`, plus the files a colon-separated environment variable names. */
function manifests(dirs: string[], envNames: string[]): string[] {
  const found = dirs.flatMap((d) => {
    try {
      return readdirSync(d).filter((f) => f.endsWith('.json')).map((f) => join(d, f));
    } catch {
      return [];
    }
  });
  for (const e of envNames) for (const f of (process.env[e] ?? '').split(':').filter(Boolean)) found.push(`${f} (from ${e}${existsSync(f) ? '' : ', MISSING'})`);
  return found;
}

/** An adapter as plain data: identity, software or not, features, numeric limits. */
export function adapterFacts(a: DawnAdapter): Record<string, unknown> {
  const info = a.info ?? {};
  const limits: Record<string, number> = {};
  // WebIDL attributes are enumerable getters on the prototype.
  for (const k in a.limits) if (typeof a.limits[k] === 'number') limits[k] = a.limits[k]!;
  let features: string[];
  try {
    features = [...a.features].sort();
  } catch {
    features = ['timestamp-query', 'shader-f16', 'subgroups', 'float32-filterable'].filter((f) => a.features.has(f));
  }
  const { device, software } = describeAdapter(a as Parameters<typeof describeAdapter>[0]);
  return {
    vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description,
    described: device, software, fallback: Boolean(a.isFallbackAdapter ?? info.isFallbackAdapter),
    timestampQuery: features.includes('timestamp-query'), features, limits,
  };
}

/** Ask Dawn for an adapter through one of its backends; null when it offers none. */
async function probeDawn(mod: DawnModule, backend: 'vulkan' | 'opengles'): Promise<Record<string, unknown> | null> {
  const gpu = mod.create([`backend=${backend}`]);
  const a = await gpu.requestAdapter(backend === 'opengles' ? { featureLevel: 'compatibility' } : { powerPreference: 'high-performance' });
  return a ? adapterFacts(a) : null;
}

/** The `facts` task. */
export async function facts(ctx: KitContext): Promise<Record<string, unknown>> {
  process.env.EGL_PLATFORM ??= 'surfaceless';
  const nvidia = nvidiaGpu();
  let procDriver: string | null = null;
  try {
    procDriver = readFileSync('/proc/driver/nvidia/version', 'utf8').split('\n')[0]!.trim();
  } catch {
    /* no NVIDIA kernel driver */
  }
  const vulkanLoader = ldconfigHas('libvulkan.so.1');
  const eglLoader = ldconfigHas('libEGL.so.1');
  const icds = manifests(ICD_DIRS, ['VK_DRIVER_FILES', 'VK_ICD_FILENAMES']);
  const eglVendors = manifests(EGL_DIRS, ['__EGL_VENDOR_LIBRARY_FILENAMES']);
  const env = Object.fromEntries(
    ['VK_DRIVER_FILES', 'VK_ICD_FILENAMES', '__EGL_VENDOR_LIBRARY_FILENAMES', 'EGL_PLATFORM', 'GRADLAB_KIT_ALLOW_SOFTWARE'].filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]),
  );

  // Every adapter Dawn offers, per Dawn backend.
  const adapters: Record<string, unknown> = {};
  let dawn: string;
  try {
    const mod = (await importEsm(pathToFileURL(require.resolve('webgpu')).href)) as DawnModule;
    dawn = 'loaded';
    adapters.vulkan = vulkanLoader.length ? await probeDawn(mod, 'vulkan') : 'not tried: no Vulkan loader (libvulkan.so.1)';
    if (ctx.options['skip-gles'] === undefined) adapters.opengles = await probeDawn(mod, 'opengles');
  } catch (e) {
    dawn = `failed to load: ${(e as Error).message}`;
  }

  const missing: string[] = [];
  if (!nvidia && !procDriver) missing.push('NVIDIA driver (no nvidia-smi, no /proc/driver/nvidia/version)');
  if (!vulkanLoader.length) missing.push('Vulkan loader library (libvulkan.so.1: install the kit\'s libvulkan1 .deb)');
  if (!icds.length) missing.push(`Vulkan ICD manifest (none in ${ICD_DIRS.join(', ')}; on NVIDIA containers set VK_DRIVER_FILES=${NVIDIA_ICD})`);
  if (!eglLoader.length) missing.push('EGL loader library (libEGL.so.1: the kit\'s libegl1 and libglvnd0 .debs)');
  if (dawn !== 'loaded') missing.push('Dawn (dawn.node)');
  else if (!adapters.vulkan || typeof adapters.vulkan === 'string') missing.push('hardware Vulkan adapter (Dawn found none)');
  else if ((adapters.vulkan as { software: boolean }).software) missing.push(`hardware Vulkan adapter (Dawn's is software: ${(adapters.vulkan as { described: string }).described})`);

  // What gradlab's forced webgpu backend chose, and the device it made.
  let backend: Record<string, unknown>;
  try {
    const info = await ctx.webgpu();
    const b = tf.backend() as unknown as { device?: { features: Iterable<string>; limits: Record<string, number> } };
    const limits: Record<string, number> = {};
    if (b.device) for (const k in b.device.limits) if (typeof b.device.limits[k] === 'number') limits[k] = b.device.limits[k]!;
    backend = {
      name: tf.getBackend(), device: info.device, software: info.software, versions: info.versions,
      deviceFeatures: b.device ? [...b.device.features].sort() : null, deviceLimits: limits,
    };
  } catch (e) {
    backend = { name: null, error: (e as Error).message };
    missing.push('a webgpu backend (gradlab could not initialise it)');
  }

  return {
    node: process.version, platform: `${process.platform}-${process.arch}`, execPath: process.execPath,
    nvidia, procDriver, loaders: { vulkan: vulkanLoader, egl: eglLoader }, icds, eglVendors, env, dawn, adapters, backend, missing,
  };
}
