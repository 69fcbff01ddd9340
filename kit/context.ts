/**
 * What every GPU-kit task receives: its command-line options and a lazily
 * initialised, forced `webgpu` backend.
 */
import { init, type BackendInfo } from '../src/backend';
import { tf } from '../src/backend/tf';

/** A kit task: takes the context, returns one plain JSON-able object. */
export type KitTask = (ctx: KitContext) => Promise<Record<string, unknown>>;

/** Options and shared state of one kit run. */
export class KitContext {
  private info: Promise<BackendInfo> | null = null;

  /**
   * @param options `--key=value` arguments (`--flag` alone is `'1'`).
   * @param allowSoftware accept a software adapter (Mesa llvmpipe) for
   *   measuring tasks; from `--allow-software` or `GRADLAB_KIT_ALLOW_SOFTWARE=1`.
   */
  constructor(readonly options: Record<string, string>, readonly allowSoftware: boolean) {}

  /** A numeric option, or `fallback` when absent; throws on a non-number. */
  num(name: string, fallback: number): number {
    const v = this.options[name];
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`gpu-kit: option --${name}=${v} is not a number`);
    return n;
  }

  /**
   * Initialise gradlab on `webgpu` (forced: `GRADLAB_BACKEND` is set to it),
   * once per run; later calls return the same info and re-activate webgpu.
   * The error of a failed load is kept and thrown again by every caller.
   */
  async webgpu(): Promise<BackendInfo> {
    process.env.GRADLAB_BACKEND = 'webgpu';
    this.info ??= init({ backend: 'webgpu' });
    const info = await this.info;
    if (tf.getBackend() !== 'webgpu') await tf.setBackend('webgpu');
    return info;
  }

  /**
   * Like {@link webgpu}, for tasks that measure: refuses a software adapter
   * unless it was allowed, so a GPU machine never silently times llvmpipe.
   */
  async measuringWebgpu(): Promise<BackendInfo> {
    const info = await this.webgpu();
    if (info.software && !this.allowSoftware) {
      throw new Error(
        `gpu-kit: only a software adapter loaded (${info.device}); timings would measure the CPU. ` +
          'Run the `facts` task to see what is missing (Vulkan loader, ICD, driver), or set GRADLAB_KIT_ALLOW_SOFTWARE=1 to measure it anyway.',
      );
    }
    return info;
  }
}
