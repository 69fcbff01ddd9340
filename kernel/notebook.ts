/**
 * Notebooks as nbformat 4 JSON: read and validate, collect code cells, build
 * outputs from IOPub messages the way nbclient does, write nbformat 4.5.
 *
 * ```ts
 * const nb = readNotebook('notebooks/01-backprop/01-chain-rule.ipynb');
 * const outputs = new OutputBuilder(nb);
 * outputs.begin(cell);                   // clears the cell's old outputs
 * outputs.add(message);                  // stream, display_data, update_display_data, ...
 * fs.writeFileSync(out, serializeNotebook(nb));
 * ```
 */
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

/** A MIME bundle as stored in a notebook (text may be split into lines). */
export type NotebookData = Record<string, unknown>;

/** One nbformat 4 output. */
export type Output =
  | { output_type: 'stream'; name: string; text: string | string[] }
  | { output_type: 'display_data'; data: NotebookData; metadata: Record<string, unknown> }
  | { output_type: 'execute_result'; data: NotebookData; metadata: Record<string, unknown>; execution_count: number | null }
  | { output_type: 'error'; ename: string; evalue: string; traceback: string[] };

/** One nbformat 4 cell. */
export interface Cell {
  cell_type: 'code' | 'markdown' | 'raw';
  id?: string;
  source: string | string[];
  metadata: Record<string, unknown>;
  outputs?: Output[];
  execution_count?: number | null;
  attachments?: Record<string, NotebookData>;
}

/** An nbformat 4 notebook. */
export interface Notebook {
  nbformat: 4;
  nbformat_minor: number;
  metadata: Record<string, unknown>;
  cells: Cell[];
}

/** A notebook file that is not valid nbformat 4; the message names the file. */
export class NotebookError extends Error {
  constructor(readonly file: string, detail: string) {
    super(`${file}: ${detail}`);
    this.name = 'NotebookError';
  }
}

/** Read and validate an nbformat 4 notebook file. */
export function readNotebook(file: string): Notebook {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new NotebookError(file, `cannot read it (${(e as Error).message})`);
  }
  return parseNotebook(text, file);
}

/** Parse and validate notebook JSON; `file` is only used in error messages. */
export function parseNotebook(text: string, file = '<notebook>'): Notebook {
  let nb: unknown;
  try {
    nb = JSON.parse(text);
  } catch (e) {
    const at = jsonErrorAt(text);
    if (at < 0) throw new NotebookError(file, `invalid JSON: ${(e as Error).message}`);
    const lines = text.slice(0, at).split('\n');
    const line = text.split('\n')[lines.length - 1];
    const col = lines[lines.length - 1].length;
    const what = at >= text.length ? 'unexpected end of file' : `unexpected ${JSON.stringify(text[at])}`;
    throw new NotebookError(file, `invalid JSON at line ${lines.length}, column ${col + 1} (${what}):\n` +
      `  ${line.slice(Math.max(0, col - 60), col + 20)}\n  ${' '.repeat(Math.min(col, 60))}^`);
  }
  if (!isObject(nb)) throw new NotebookError(file, 'not a notebook: the top level must be a JSON object');
  const missing = ['nbformat', 'nbformat_minor', 'metadata', 'cells'].filter((k) => !(k in nb));
  if (missing.length) throw new NotebookError(file, `not an nbformat 4 notebook: missing ${missing.map((k) => `"${k}"`).join(', ')}`);
  if (nb.nbformat !== 4) {
    throw new NotebookError(file, `nbformat ${String(nb.nbformat)} is not supported (need 4); open and save it in Jupyter to convert it`);
  }
  if (!Array.isArray(nb.cells)) throw new NotebookError(file, '"cells" must be an array');
  if (!isObject(nb.metadata)) throw new NotebookError(file, '"metadata" must be an object');
  nb.cells.forEach((c: unknown, i: number) => {
    const where = `cell ${i} (0-based index in the notebook)`;
    if (!isObject(c)) throw new NotebookError(file, `${where} is not an object`);
    if (!['code', 'markdown', 'raw'].includes(c.cell_type as string)) {
      throw new NotebookError(file, `${where} has cell_type ${JSON.stringify(c.cell_type)}; expected "code", "markdown" or "raw"`);
    }
    const s = c.source;
    if (!(typeof s === 'string' || (Array.isArray(s) && s.every((l) => typeof l === 'string')))) {
      throw new NotebookError(file, `${where} has no "source" string or list of strings`);
    }
    if (c.metadata === undefined) c.metadata = {};
    if (c.cell_type === 'code') {
      if (!Array.isArray(c.outputs)) c.outputs = [];
      if (c.execution_count === undefined) c.execution_count = null;
    }
  });
  return nb as unknown as Notebook;
}

/** The text of a cell's source (nbformat allows a string or a list of lines). */
export function cellSource(cell: Pick<Cell, 'source'>): string {
  return Array.isArray(cell.source) ? cell.source.join('') : cell.source;
}

/** A text field that may be stored as a list of lines. */
export function joinText(x: unknown): string {
  return Array.isArray(x) ? x.join('') : typeof x === 'string' ? x : JSON.stringify(x);
}

/** A code cell with its place: `index` in all cells, `number` 1-based among code cells. */
export interface CodeCellRef {
  cell: Cell;
  index: number;
  number: number;
}

/** The code cells of `nb`, in order. */
export function codeCells(nb: Notebook): CodeCellRef[] {
  const out: CodeCellRef[] = [];
  nb.cells.forEach((cell, index) => {
    if (cell.cell_type === 'code') out.push({ cell, index, number: out.length + 1 });
  });
  return out;
}

/** A message as {@link OutputBuilder.add} needs it (a KernelMessage fits). */
export interface OutputMessage {
  msg_type: string;
  content: Record<string, unknown>;
}

/**
 * Turns IOPub messages into nbformat outputs, like nbclient: consecutive
 * streams of the same name merge; `clear_output` clears now or, with
 * `wait`, just before the next output; `update_display_data` (and a new
 * display with a known id) rewrites every output in the notebook that was
 * shown with the same `transient.display_id`. Display ids live only here,
 * never in saved outputs.
 */
export class OutputBuilder {
  private cell: Cell | undefined;
  private clearPending = false;
  private readonly displays = new Map<string, { cell: Cell; output: Output & { data: NotebookData } }[]>();

  /** Start collecting into `cell`: its outputs are cleared, its execution_count reset. */
  begin(cell: Cell): void {
    this.cell = cell;
    this.clearPending = false;
    cell.outputs = [];
    cell.execution_count = null;
    this.forgetDisplays(cell);
  }

  /** Apply one IOPub message to the current cell; unknown types are ignored. */
  add(msg: OutputMessage): void {
    const cell = this.cell;
    if (!cell) throw new Error('OutputBuilder.add called before begin(cell)');
    const c = msg.content;
    if (msg.msg_type === 'clear_output') {
      if (c.wait) this.clearPending = true;
      else this.clear(cell);
      return;
    }
    const transient = isObject(c.transient) ? c.transient : {};
    const displayId = typeof transient.display_id === 'string' ? transient.display_id : undefined;
    if (displayId && ['display_data', 'update_display_data', 'execute_result'].includes(msg.msg_type)) {
      for (const ref of this.displays.get(displayId) ?? []) {
        ref.output.data = structuredClone(asData(c.data));
        (ref.output as { metadata: unknown }).metadata = structuredClone(asData(c.metadata));
      }
    }
    if (msg.msg_type === 'update_display_data') return;
    const out = toOutput(msg);
    if (!out) return;
    if (this.clearPending) {
      this.clearPending = false;
      this.clear(cell);
    }
    const outs = (cell.outputs ??= []);
    const last = outs[outs.length - 1];
    if (out.output_type === 'stream' && last?.output_type === 'stream' && last.name === out.name) {
      last.text = joinText(last.text) + joinText(out.text);
      return;
    }
    outs.push(out);
    if (displayId && 'data' in out) {
      const refs = this.displays.get(displayId) ?? [];
      refs.push({ cell, output: out });
      this.displays.set(displayId, refs);
    }
  }

  private clear(cell: Cell): void {
    cell.outputs = [];
    this.forgetDisplays(cell);
  }

  private forgetDisplays(cell: Cell): void {
    for (const [id, refs] of this.displays) {
      const kept = refs.filter((r) => r.cell !== cell);
      if (kept.length) this.displays.set(id, kept);
      else this.displays.delete(id);
    }
  }
}

function toOutput(msg: OutputMessage): Output | undefined {
  const c = msg.content;
  switch (msg.msg_type) {
    case 'stream':
      return { output_type: 'stream', name: String(c.name ?? 'stdout'), text: joinText(c.text ?? '') };
    case 'display_data':
      return { output_type: 'display_data', data: structuredClone(asData(c.data)), metadata: structuredClone(asData(c.metadata)) };
    case 'execute_result':
      return {
        output_type: 'execute_result', data: structuredClone(asData(c.data)), metadata: structuredClone(asData(c.metadata)),
        execution_count: typeof c.execution_count === 'number' ? c.execution_count : null,
      };
    case 'error':
      return {
        output_type: 'error', ename: String(c.ename ?? 'Error'), evalue: String(c.evalue ?? ''),
        traceback: Array.isArray(c.traceback) ? c.traceback.map(String) : [],
      };
    default:
      return undefined;
  }
}

/**
 * The notebook as nbformat 4.5 JSON text, written like Jupyter: keys sorted,
 * 1-space indent, multi-line text split into lists of lines, every cell with
 * an id, a trailing newline.
 */
export function serializeNotebook(nb: Notebook): string {
  const seen = new Set<string>();
  const cells = nb.cells.map((cell) => {
    let id = cell.id && /^[a-zA-Z0-9-_]{1,64}$/.test(cell.id) && !seen.has(cell.id) ? cell.id : undefined;
    while (!id || seen.has(id)) id = randomBytes(4).toString('hex');
    seen.add(id);
    const out: Record<string, unknown> = { ...cell, id, source: splitLines(cellSource(cell)) };
    if (cell.cell_type === 'code') {
      out.outputs = (cell.outputs ?? []).map(splitOutput);
      out.execution_count = cell.execution_count ?? null;
    }
    if (cell.attachments) out.attachments = mapValues(cell.attachments, splitData);
    return out;
  });
  const doc = { ...nb, nbformat: 4, nbformat_minor: Math.max(5, nb.nbformat_minor ?? 0), cells };
  return JSON.stringify(sortKeys(doc), null, 1) + '\n';
}

function splitOutput(o: Output): Output {
  if (o.output_type === 'stream') return { ...o, text: splitLines(joinText(o.text)) };
  if ('data' in o) return { ...o, data: splitData(o.data) };
  return o;
}

/** As nbformat's split_lines: text/* and a few others become line lists, JSON stays JSON. */
function splitData(data: NotebookData): NotebookData {
  return mapValues(data, (v, mime) =>
    typeof v === 'string' && (mime.startsWith('text/') || mime === 'image/svg+xml' || mime === 'application/javascript')
      ? splitLines(v)
      : v,
  );
}

function splitLines(s: string): string[] {
  return s.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function sortKeys(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(sortKeys);
  if (!isObject(x)) return x;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(x).sort()) out[k] = sortKeys(x[k]);
  return out;
}

function mapValues<T>(o: Record<string, T>, f: (v: T, k: string) => unknown): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v, k)]));
}

function asData(x: unknown): NotebookData {
  return isObject(x) ? x : {};
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Index of the first JSON syntax error in `t`, or -1 when it is valid JSON. */
function jsonErrorAt(t: string): number {
  let i = 0;
  const LITERAL = /true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const fail = (): never => { throw i; };
  const ws = () => { while (' \t\n\r'.includes(t[i] ?? 'x')) i++; };
  const str = () => {
    for (i++; i < t.length; i++) {
      if (t[i] === '"') return void i++;
      if (t[i] < ' ') fail();
      if (t[i] === '\\') {
        i++;
        if (t[i] === 'u' ? !/^[0-9a-fA-F]{4}$/.test(t.slice(i + 1, i + 5)) : !'"\\/bfnrt'.includes(t[i] ?? 'x')) fail();
        if (t[i] === 'u') i += 4;
      }
    }
    fail();
  };
  const list = (close: string, item: () => void) => {
    i++;
    ws();
    if (t[i] === close) return void i++;
    for (;;) {
      item();
      ws();
      if (t[i] === close) return void i++;
      if (t[i] !== ',') fail();
      i++;
    }
  };
  const value = (): void => {
    ws();
    if (t[i] === '{') return list('}', () => { ws(); if (t[i] !== '"') fail(); str(); ws(); if (t[i] !== ':') fail(); i++; value(); });
    if (t[i] === '[') return list(']', value);
    if (t[i] === '"') return str();
    LITERAL.lastIndex = i;
    const m = LITERAL.exec(t);
    if (!m) fail();
    i += m![0].length;
  };
  try {
    value();
    ws();
    return i < t.length ? i : -1;
  } catch (e) {
    if (typeof e === 'number') return e;
    throw e;
  }
}

/** Every .ipynb under `dir` sorted by path (chapter folders, then files); skips checkpoints and hidden folders. */
export function listNotebooks(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith('.ipynb')) out.push(p);
    }
  };
  if (fs.existsSync(dir) && fs.statSync(dir).isDirectory()) walk(dir);
  const key = (p: string) => path.relative(dir, p).split(path.sep);
  return out.sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      const c = x[i].localeCompare(y[i], 'en', { numeric: true });
      if (c) return c;
    }
    return x.length - y.length;
  });
}
