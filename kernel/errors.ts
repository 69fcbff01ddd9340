/**
 * A failed cell as Jupyter reports it: `ename`, `evalue` and `traceback`
 * (the lines a notebook shows, ANSI-coloured), for the three ways a cell
 * fails: type-check diagnostics, a thrown exception, an interrupt.
 */
import * as path from 'path';
import { inspect } from 'util';
import { CELL_URL, cellScripts, fileFrame, type CellFrame } from './cellmap';

/** The error fields of an `error` message and an `execute_reply` with status 'error'. */
export interface CellError {
  ename: string;
  evalue: string;
  traceback: string[];
}

/** A tslab diagnostic (tslab/dist/converter's Diagnostic): positions are zero-based, in the cell. */
export interface Diagnostic {
  start: { line: number; character: number };
  end?: { line: number; character: number };
  messageText: string;
  code: number;
  fileName?: string;
}

const RED = '\u001b[0;31m';
const CYAN = '\u001b[0;36m';
const RESET = '\u001b[0m';

/** The ename of type-check failures. */
export const TYPE_ERROR_NAME = 'TypeScriptError';
/** The ename of an interrupted cell. */
export const INTERRUPT_NAME = 'Interrupted';

/**
 * Type-check diagnostics as one error: evalue lists each as
 * `line:column - message (TScode)` (1-based, in the cell), and the traceback
 * shows the cell line with a caret under the column.
 */
export function diagnosticsError(diags: readonly Diagnostic[], code: string): CellError {
  const lines = code.split('\n');
  const where = (d: Diagnostic) => `${d.fileName ? `${d.fileName} ` : ''}${d.start.line + 1}:${d.start.character + 1}`;
  const summary = diags.map((d) => `${where(d)} - ${d.messageText} (TS${d.code})`);
  const traceback: string[] = [];
  diags.forEach((d, i) => {
    traceback.push(`${RED}${TYPE_ERROR_NAME}${RESET}: ${summary[i]}`);
    if (d.fileName) return; // an imported file: its line is not in this cell
    const src = lines[d.start.line];
    if (src === undefined) return;
    const num = String(d.start.line + 1);
    const endCol = d.end && d.end.line === d.start.line ? d.end.character : src.length;
    const width = Math.max(1, endCol - d.start.character);
    traceback.push(`${CYAN}${num} |${RESET} ${src}`);
    traceback.push(`${' '.repeat(num.length)} | ${' '.repeat(d.start.character)}${RED}${'^'.repeat(width)}${RESET}`);
  });
  return { ename: TYPE_ERROR_NAME, evalue: summary.join('\n'), traceback };
}

/**
 * Stack frames of the kernel's own machinery (Node internals, `vm`, tslab, the kernel's
 * own files), hidden from learners: in a cell's traceback here, and in the headless
 * runner's failure reports (kernel/runner.ts).
 */
const INTERNAL_FRAME = /^\s*at (?:.*\()?node:|^\s*at .*(?:node_modules[\\/]tslab[\\/]|[\\/]dist[\\/]kernel[\\/]|processTicksAndRejections|sigintHandlersWrap)/;

/** Whether a stack line (`    at f (file:1:2)`) is a frame of the kernel's own machinery (see INTERNAL_FRAME). */
export function isInternalFrame(line: string): boolean {
  return INTERNAL_FRAME.test(line);
}

/** `    at name (file:line:col)` or `    at file:line:col`, name optionally `async ...`. */
const FRAME = /^(\s+at )(?:(.+) \((.+):(\d+):(\d+)\)|(async )?(.+):(\d+):(\d+))$/;

/**
 * Stack frames as the learner reads them: a frame in a cell becomes
 * `at f (Cell In[2], line 3, col 9)` and the innermost one is followed by
 * its line with a caret under the column; a frame in a compiled file with a
 * source map names the .ts source; tslab's wrapper around a cell and other
 * scripts run by vm (`evalmachine.<anonymous>`) are hidden.
 */
export function mapFrames(frames: readonly string[]): string[] {
  const out: string[] = [];
  let shown = false;
  for (const l of frames) {
    const m = FRAME.exec(l);
    if (!m) {
      out.push(l);
      continue;
    }
    const name = m[2] ?? (m[6] ? m[6].trim() : undefined);
    const file = m[3] ?? m[7];
    const line = Number(m[4] ?? m[8]);
    const col = Number(m[5] ?? m[9]);
    if (file.startsWith('evalmachine.')) continue;
    if (file.startsWith(CELL_URL)) {
      const f = cellScripts.frame(file, line, col);
      if (!f) continue; // tslab's wrapper: the call of the cell's function
      const where = `${f.label}, line ${f.line + 1}, col ${f.column + 1}`;
      // A function of an earlier cell is called as `exports.f(...)` on tslab's Proxy: `Proxy.f` is `f`.
      const fn = name?.replace(/^(async )?Proxy\./, '$1');
      out.push(`${m[1]}${fn ? `${fn} (${where})` : where}`);
      if (!shown) out.push(...excerpt(f));
      shown = true;
      continue;
    }
    const src = fileFrame(file, line, col) ?? { file, line, column: col };
    const where = `${shortPath(src.file)}:${src.line}:${src.column}`;
    out.push(`${m[1]}${name ? `${name} (${where})` : where}`);
  }
  return collapseLibraryFrames(out);
}

/** A path under the working directory relative to it (`src/nn/dropout.ts`), others as they are. */
export function shortPath(file: string): string {
  if (!path.isAbsolute(file)) return file;
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/** More than 3 frames in a row inside node_modules (TensorFlow.js's engine): the first, a count, the last. */
function collapseLibraryFrames(frames: string[]): string[] {
  const lib = (l: string) => /^\s+at .*node_modules[\\/]/.test(l);
  const out: string[] = [];
  for (let i = 0; i < frames.length;) {
    if (!lib(frames[i])) {
      out.push(frames[i++]);
      continue;
    }
    let j = i;
    while (j < frames.length && lib(frames[j])) j++;
    if (j - i > 3) out.push(frames[i], `    ... ${j - i - 2} more frames inside node_modules`, frames[j - 1]);
    else out.push(...frames.slice(i, j));
    i = j;
  }
  return out;
}

/** A cell's line with a caret under the column (under the word there), as {@link diagnosticsError} shows them. */
function excerpt(f: CellFrame): string[] {
  const src = f.code.split('\n')[f.line] ?? '';
  const num = String(f.line + 1);
  const word = /^[\w$]+/.exec(src.slice(f.column));
  const width = Math.max(1, word ? word[0].length : 1);
  return [`      ${CYAN}${num} |${RESET} ${src}`, `      ${' '.repeat(num.length)} | ${' '.repeat(f.column)}${RED}${'^'.repeat(width)}${RESET}`];
}

/** True for the errors an interrupt produces (sync: vm's breakOnSigint; async: tslab's executor). */
export function isInterrupt(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown } | null;
  return typeof e === 'object' && err !== null &&
    (err.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED' || err.message === 'Interrupted asynchronously');
}

/** The error of an interrupted cell. */
export function interruptError(): CellError {
  const evalue = 'the cell was interrupted; variables defined by earlier cells are kept';
  return { ename: INTERRUPT_NAME, evalue, traceback: [`${RED}${INTERRUPT_NAME}${RESET}: ${evalue}`] };
}

/** A thrown value: its name, message and its stack without kernel-internal frames. */
export function exceptionError(e: unknown): CellError {
  if (isInterrupt(e)) return interruptError();
  if (!(e instanceof Error) && !(typeof e === 'object' && e !== null && 'stack' in e && 'message' in e)) {
    // `throw 'text'` or `throw 42`: no name, no stack.
    const evalue = typeof e === 'string' ? e : inspect(e, { depth: 2 });
    return { ename: 'Error', evalue, traceback: [`${RED}Uncaught${RESET} ${evalue}`] };
  }
  const err = e as Error;
  const ename = String(err.name || err.constructor?.name || 'Error');
  const evalue = String(err.message ?? '');
  const stack = typeof err.stack === 'string' ? err.stack.split('\n') : [];
  const frames = mapFrames(stack.filter((l) => /^\s+at /.test(l) && !isInternalFrame(l)));
  const head = `${RED}${ename}${RESET}: ${evalue}`.split('\n');
  const extra = Object.keys(err).filter((k) => k !== 'stack' && k !== 'message');
  // Keep what Node prints after the stack (`{ code: 'ERR_...' }`) when the error carries fields.
  const props = extra.length ? inspect(Object.fromEntries(extra.map((k) => [k, (err as unknown as Record<string, unknown>)[k]])), { depth: 2 }).split('\n') : [];
  return { ename, evalue, traceback: [...head, ...frames, ...props] };
}

/** A failure of the kernel itself while running a cell (a bug in gradlab or tslab). */
export function internalError(e: unknown): CellError {
  const inner = exceptionError(e);
  return {
    ename: 'KernelError',
    evalue: `the kernel failed while running the cell: ${inner.ename}: ${inner.evalue}`,
    traceback: [`${RED}KernelError${RESET}: the kernel failed while running the cell`, ...inner.traceback,
      'Restart the kernel; if it happens again, report it with the cell.'],
  };
}
