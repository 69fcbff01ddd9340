/**
 * Reading and writing plain safetensors files (no checkpoint metadata), and
 * converting tfjs tensors to and from the format's tensors.
 *
 * Introduced in notebooks/02-optim.
 */
import * as fs from 'fs';
import { tf } from '../backend/tf';
import { writeAll, writeAtomic } from './atomic';
import { bf16ToFloat32, decodeSafetensors, f16ToFloat32, planSafetensors, SafetensorsError, tensorBytes, type SafeTensor, type SafetensorsFile } from './safetensors';

/**
 * Write tensors (and string metadata) to a safetensors file, atomically (temporary
 * file, fsync, rename, fsync of the directory: a crash leaves the old file or the new one).
 *
 * @example
 * await gl.io.saveSafetensors('w.safetensors', { w: await gl.io.fromTf(W) }, { source: 'gradlab' });
 *
 * Reference: `safetensors.torch.save_file(tensors, path, metadata)`. Introduced in notebooks/02-optim.
 */
export async function saveSafetensors(path: string, tensors: Record<string, SafeTensor> | Iterable<[string, SafeTensor]>, metadata?: Record<string, string>): Promise<void> {
  const plan = planSafetensors(tensors, metadata, `saveSafetensors(${path})`);
  await writeAtomic(path, async ({ handle }) => writeAll(handle.fd, [plan.header, ...plan.order.map((o) => tensorBytes(o.tensor))], 0, true));
}

/**
 * Read and validate a safetensors file (every rule of the format; see `decodeSafetensors`).
 *
 * @example
 * const { tensors, metadata } = await gl.io.loadSafetensors('model.safetensors');
 *
 * Reference: `safetensors.torch.load_file(path)`. Introduced in notebooks/02-optim.
 */
export async function loadSafetensors(path: string): Promise<SafetensorsFile> {
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(path);
  } catch (e) {
    throw new SafetensorsError(`loadSafetensors(${path}): cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the path`);
  }
  return decodeSafetensors(bytes, { source: `loadSafetensors(${path})` });
}

/**
 * A tfjs tensor's values as a safetensors tensor (float32 → F32, int32 → I32,
 * bool → BOOL), read with `await t.data()` (so it works on webgpu). The tensor is not disposed.
 * Introduced in notebooks/02-optim.
 */
export async function fromTf(t: tf.Tensor): Promise<SafeTensor> {
  const shape = [...t.shape];
  if (t.dtype === 'float32') return { dtype: 'F32', shape, data: (await t.data()) as Float32Array };
  if (t.dtype === 'int32') return { dtype: 'I32', shape, data: (await t.data()) as Int32Array };
  if (t.dtype === 'bool') return { dtype: 'BOOL', shape, data: Uint8Array.from((await t.data()) as Uint8Array) };
  throw new SafetensorsError(`fromTf: a ${t.dtype} tensor has no safetensors dtype here; cast it to float32 or int32`);
}

/**
 * A tfjs tensor (yours to dispose) from a safetensors tensor: F32 as float32; F16,
 * BF16 and F64 widened (or rounded, F64) to float32; I32, I16, I8, U16, U8 as int32;
 * I64/U64/U32 as int32 only when every value fits (else an error); BOOL as bool.
 * Reference: `torch.from_numpy` / `safetensors.torch.load_file` (which keep the dtype).
 * Introduced in notebooks/02-optim.
 */
export function toTf(t: SafeTensor, name = 'tensor'): tf.Tensor {
  switch (t.dtype) {
    case 'F32':
      return tf.tensor(t.data as Float32Array, t.shape, 'float32');
    case 'F16':
      return tf.tensor(f16ToFloat32(t.data as Uint16Array), t.shape, 'float32');
    case 'BF16':
      return tf.tensor(bf16ToFloat32(t.data as Uint16Array), t.shape, 'float32');
    case 'F64':
      return tf.tensor(Float32Array.from(t.data as Float64Array), t.shape, 'float32');
    case 'BOOL':
      return tf.tensor(t.data as Uint8Array, t.shape, 'bool');
    case 'I32':
      return tf.tensor(t.data as Int32Array, t.shape, 'int32');
    case 'I16':
    case 'I8':
    case 'U16':
    case 'U8':
      return tf.tensor(Int32Array.from(t.data as ArrayLike<number>), t.shape, 'int32');
    case 'I64':
    case 'U64':
    case 'U32': {
      const out = new Int32Array(t.data.length);
      for (let i = 0; i < out.length; i++) {
        const v = t.data[i]!;
        const n = typeof v === 'bigint' ? Number(v) : v;
        if (n !== (n | 0) || (typeof v === 'bigint' && BigInt(n) !== v)) throw new SafetensorsError(`toTf: ${name} (${t.dtype}) element ${i} is ${String(v)}, outside int32; tfjs has no 64-bit integers (convert it yourself from .data)`);
        out[i] = n;
      }
      return tf.tensor(out, t.shape, 'int32');
    }
    default:
      throw new SafetensorsError(`toTf: ${name} has dtype ${t.dtype}, which has no tfjs equivalent; decode its raw bytes from .data`);
  }
}
