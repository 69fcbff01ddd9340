/**
 * CPU backends: `@tensorflow/tfjs-backend-wasm` (XNNPACK, SIMD; one thread in
 * Node) and tfjs's plain-JavaScript `cpu` kernels (slow, but every op and
 * every gradient exists there: the reference).
 */
import { tf } from './tf';
import { BackendError, type BackendInfo } from './types';
import { packageVersion } from './versions';

/**
 * Run `f` (which instantiates the wasm module) and remove the process handlers it
 * added. tfjs-backend-wasm's Emscripten glue registers `uncaughtException` and
 * `unhandledRejection` handlers that rethrow, which makes every stray error fatal
 * even where the process has its own handler: in the gradlab kernel, a timer that
 * throws or a rejected promise nobody awaited would kill the kernel and every
 * variable of the session. Without them Node behaves as it does by default (both
 * are fatal in a plain script), and the kernel's own handlers report the error and
 * keep the session. (tfjs means to remove them on dispose, but its filter of the
 * added listeners is always empty.)
 */
export async function withoutRethrowingHandlers<T>(f: () => Promise<T>): Promise<T> {
  const exceptions = new Set(process.listeners('uncaughtException'));
  const rejections = new Set(process.listeners('unhandledRejection'));
  try {
    return await f();
  } finally {
    for (const l of process.listeners('uncaughtException')) if (!exceptions.has(l)) process.removeListener('uncaughtException', l);
    for (const l of process.listeners('unhandledRejection')) if (!rejections.has(l)) process.removeListener('unhandledRejection', l);
  }
}

/** Load the WebAssembly backend (the wasm binaries ship inside the package). */
export async function loadWasm(): Promise<BackendInfo> {
  let wasm: { getThreadsCount?: () => number };
  try {
    wasm = require('@tensorflow/tfjs-backend-wasm') as typeof wasm;
  } catch (e) {
    throw new BackendError('wasm', `backend 'wasm' cannot load: ${(e as Error).message}. Run \`npm install\`.`);
  }
  const ok = await withoutRethrowingHandlers(() => tf.setBackend('wasm'));
  if (!ok) {
    throw new BackendError('wasm', "backend 'wasm' failed to initialise (its .wasm file could not be instantiated)");
  }
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const threads = wasm.getThreadsCount?.() ?? 1;
  return {
    name: 'wasm',
    package: '@tensorflow/tfjs-backend-wasm',
    device: `CPU, ${simd ? 'SIMD' : 'no SIMD'}, ${threads} thread${threads === 1 ? '' : 's'}`,
    isGpu: false,
    software: false,
    threads,
    versions: { '@tensorflow/tfjs-backend-wasm': packageVersion('@tensorflow/tfjs-backend-wasm') },
    skipped: [],
  };
}

/** Select tfjs's plain-JavaScript CPU backend. */
export async function loadCpu(): Promise<BackendInfo> {
  if (!(await tf.setBackend('cpu'))) throw new BackendError('cpu', "backend 'cpu' failed to initialise");
  // The cpu backend prints a "install tfjs-node" banner on first use in Node;
  // gradlab has already told the user which backend runs, so mark it as used.
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  return {
    name: 'cpu',
    package: '@tensorflow/tfjs-backend-cpu',
    device: 'CPU, plain JavaScript, 1 thread',
    isGpu: false,
    software: false,
    threads: 1,
    versions: {},
    skipped: [],
  };
}
