/**
 * Tensors as MIME bundles: what a notebook shows for a cell that ends in a
 * tensor, or for `display(t)`.
 *
 * ```ts
 * gl.tf.tensor([[1, 2], [3, 4]])   // -> Tensor float32 [2, 2] on wasm
 *                                  //    [[1, 2],
 *                                  //     [3, 4]]
 * ```
 *
 * A bundle has `text/html` (a header line: shape, dtype, backend, size; the
 * values in a `<pre>`) and `text/plain` (the same as text). Big tensors are
 * elided the way NumPy and PyTorch print them: above `threshold` elements,
 * each axis shows its first and last `edgeItems` entries around `...`.
 *
 * Works for tfjs tensors and for gradlab's autograd tensors (which also show
 * their op, label and whether they require a gradient). Detection is by shape
 * (duck typing), so a tensor from another copy of tfjs renders too.
 */
import type { MimeBundle } from './bundle';
import { escapeHtml } from './html';

/** How values are printed. Defaults match `torch.set_printoptions`. */
export interface TensorFormat {
  /** Elide when the tensor has more elements than this. Default 1000. */
  threshold?: number;
  /** Entries kept at each end of an elided axis. Default 3. */
  edgeItems?: number;
  /** Digits after the decimal point for floats. Default 4. */
  precision?: number;
}

/** The part of a tfjs tensor the renderer reads. */
export interface TensorLike {
  shape: number[];
  dtype: string;
  size: number;
  isDisposed: boolean;
  dataId?: object;
  data(): Promise<ArrayLike<number> | string[] | Uint8Array[]>;
}

/** The part of a gradlab autograd tensor (src/autograd) the renderer reads. */
interface GradTensorLike {
  readonly shape: number[];
  readonly requiresGrad: boolean;
  readonly isDisposed: boolean;
  readonly data: TensorLike;
  readonly grad: TensorLike | null;
  describe(): string;
}

/** True for a tfjs tensor (any copy of tfjs). */
export function isTensorLike(x: unknown): x is TensorLike {
  const t = x as Partial<TensorLike> | null;
  return typeof x === 'object' && t !== null && Array.isArray(t.shape) && typeof t.dtype === 'string' &&
    typeof t.size === 'number' && typeof t.data === 'function' && typeof (t as { dataSync?: unknown }).dataSync === 'function';
}

/** True for a gradlab autograd tensor (a graph node holding a tfjs tensor). */
function isGradTensor(x: unknown): x is GradTensorLike {
  const t = x as Partial<GradTensorLike> | null;
  return typeof x === 'object' && t !== null && Array.isArray(t.shape) && typeof t.requiresGrad === 'boolean' &&
    typeof t.isDisposed === 'boolean' && typeof t.describe === 'function' && 'grad' in t;
}

/** True when {@link tensorBundle} can render `x`. */
export function isTensor(x: unknown): boolean {
  return isTensorLike(x) || isGradTensor(x);
}

/** The name of the backend that holds `t` (`wasm`, `cpu`, ...), or undefined when unknown. */
export function backendOf(t: TensorLike): string | undefined {
  try {
    // Lazy: the kernel loads this module at start, tfjs only when a tensor is shown.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tf = require('@tensorflow/tfjs') as { engine(): { state: { tensorInfo: { get(id: object): { backend: unknown } | undefined } }; registry: Record<string, unknown>; backendName: string } };
    const engine = tf.engine();
    const info = t.dataId ? engine.state.tensorInfo.get(t.dataId) : undefined;
    if (!info) return undefined;
    for (const [name, backend] of Object.entries(engine.registry)) if (backend === info.backend) return name;
    return engine.backendName;
  } catch {
    return undefined;
  }
}

/** `[2, 3]` */
function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** A MIME bundle (text/html + text/plain) for a tfjs tensor or a gradlab autograd tensor. */
export async function tensorBundle(x: unknown, format: TensorFormat = {}): Promise<MimeBundle> {
  let head: string;
  let t: TensorLike | undefined;
  const notes: string[] = [];
  if (isGradTensor(x)) {
    head = `Tensor ${x.describe()}`;
    if (!x.isDisposed) t = x.data;
    if (x.requiresGrad) notes.push('requiresGrad');
    if (x.grad) notes.push(`grad ${shapeText(x.grad.shape)}`);
  } else if (isTensorLike(x)) {
    head = `Tensor ${shapeText(x.shape)}`;
    t = x;
  } else {
    throw new TypeError(`tensorBundle: expected a tfjs or gradlab tensor, got ${Object.prototype.toString.call(x)}`);
  }
  let body: string;
  if (!t || t.isDisposed) {
    head += ' (disposed: its data has been freed)';
    body = '';
  } else {
    const backend = backendOf(t);
    head += ` ${t.dtype}${backend ? ` on ${backend}` : ''}, ${t.size} value${t.size === 1 ? '' : 's'}`;
    body = formatValues(await t.data(), t.shape, t.dtype, format);
  }
  if (notes.length) head += `, ${notes.join(', ')}`;
  const plain = body ? `${head}\n${body}` : head;
  const html =
    `<div class="gradlab-tensor"><div style="font-family:monospace;color:#555">${escapeHtml(head)}</div>` +
    (body ? `<pre style="margin:0.2em 0 0 0">${escapeHtml(body)}</pre>` : '') +
    '</div>';
  return { 'text/html': html, 'text/plain': plain };
}

/**
 * The values of a tensor as nested brackets, NumPy style, with elision:
 * `formatValues([1, 2, 3, 4], [2, 2], 'float32')` is `[[1, 2],\n [3, 4]]`.
 */
export function formatValues(
  values: ArrayLike<unknown>,
  shape: readonly number[],
  dtype: string,
  { threshold = 1000, edgeItems = 3, precision = 4 }: TensorFormat = {},
): string {
  const size = shape.reduce((a, b) => a * b, 1);
  const elide = size > threshold;
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const complex = dtype === 'complex64';
  const cell = (i: number): string => {
    if (complex) return `${num(values[2 * i], precision)}${signed(values[2 * i + 1], precision)}j`;
    const v = values[i];
    if (dtype === 'bool') return v ? 'true' : 'false';
    if (dtype === 'string') return JSON.stringify(typeof v === 'string' ? v : new TextDecoder().decode(v as Uint8Array));
    if (dtype === 'int32') return String(v);
    return num(v, precision);
  };
  // Collect the printed cells first, so columns can be padded to one width.
  const texts = new Map<number, string>();
  const indices = (axis: number, base: number): number[] => {
    const n = shape[axis]!;
    const keep = elide && n > 2 * edgeItems
      ? [...Array(edgeItems).keys(), -1, ...Array.from({ length: edgeItems }, (_, k) => n - edgeItems + k)]
      : [...Array(n).keys()];
    return keep.map((k) => (k < 0 ? -1 : base + k * strides[axis]!));
  };
  const visit = (axis: number, base: number): void => {
    for (const i of indices(axis, base)) {
      if (i < 0) continue;
      if (axis === shape.length - 1) texts.set(i, cell(i));
      else visit(axis + 1, i);
    }
  };
  if (shape.length === 0) return cell(0);
  if (size === 0) return `[]`;
  visit(0, 0);
  const width = Math.max(...[...texts.values()].map((s) => s.length));
  const render = (axis: number, base: number, indent: string): string => {
    const parts = indices(axis, base);
    if (axis === shape.length - 1) {
      return `[${parts.map((i) => (i < 0 ? '...' : texts.get(i)!.padStart(width))).join(', ')}]`;
    }
    const sep = ',' + '\n'.repeat(shape.length - 1 - axis) + indent + ' ';
    return `[${parts.map((i) => (i < 0 ? '...' : render(axis + 1, i, indent + ' '))).join(sep)}]`;
  };
  return render(0, 0, '');
}

function num(v: unknown, precision: number): string {
  const x = Number(v);
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity';
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a < 10 ** -precision || a >= 1e8)) return x.toExponential(precision);
  return String(Number(x.toFixed(precision)));
}

function signed(v: unknown, precision: number): string {
  const s = num(v, precision);
  return s.startsWith('-') ? s : `+${s}`;
}
