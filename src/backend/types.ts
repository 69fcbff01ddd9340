/** The backends gradlab can run on, fastest first in `auto` order. */
export const BACKENDS = ['tensorflow', 'webgpu', 'wasm', 'cpu'] as const;

/** A concrete backend (`tensorflow` is tfjs-node-gpu, or tfjs-node on CPU). */
export type BackendName = (typeof BACKENDS)[number];

/** What `init()` accepts: a concrete backend, or `auto` to pick the fastest available. */
export type BackendChoice = 'auto' | BackendName;

/** What `init()` chose, for banners, benchmarks and plots. */
export interface BackendInfo {
  /** The tfjs backend name now active (`tf.getBackend()`). */
  name: BackendName;
  /** The npm package that provides it. */
  package: string;
  /** The device in words: a GPU model, "Mesa llvmpipe (software ...)", "CPU, SIMD, 1 thread". */
  device: string;
  /** True when tensors live on a GPU (hardware or software rasteriser). */
  isGpu: boolean;
  /** True for a software GPU adapter (llvmpipe, SwiftShader): correct but slow. */
  software: boolean;
  /** CPU threads the backend computes with; null on a GPU. */
  threads: number | null;
  /** Library versions: gradlab, tfjs, the backend package, Node. */
  versions: Record<string, string>;
  /** Under `auto`: the faster backends that were passed over, and why. */
  skipped: { backend: BackendName; reason: string }[];
}

/** Options of `init()`. */
export interface InitOptions {
  /**
   * Which backend to use; default `'auto'`. The environment variable
   * `GRADLAB_BACKEND` overrides it, so a notebook can be re-run elsewhere
   * without editing it.
   */
  backend?: BackendChoice;
}

/** A backend that was asked for and cannot load: says why and what to do. */
export class BackendError extends Error {
  /**
   * @param backend the backend that failed
   * @param message the full explanation: why, and what to do
   * @param summary one line for `auto`'s list of skipped backends (default: the message)
   */
  constructor(
    readonly backend: BackendName,
    message: string,
    readonly summary: string = message,
  ) {
    super(message);
    this.name = 'BackendError';
  }
}
