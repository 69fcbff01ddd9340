/**
 * Questions about a cell's text that need only the parser: is it complete
 * (`is_complete_request`), is it a help request (`name?`), and the mapping
 * between Jupyter's cursor positions (Unicode code points) and JavaScript
 * string offsets (UTF-16 units).
 *
 * The parser is tslab's bundled TypeScript, the one that checks the cells.
 */
import * as path from 'path';
import { converterModule } from './converter';

const { isCompleteCode } = converterModule().module;

type TS = typeof import('@tslab/typescript-for-tslab');

let tsModule: TS | undefined;
/** tslab's TypeScript (loaded once; the converter has usually loaded it already). */
export function typescript(): TS {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (tsModule ??= require(require.resolve('@tslab/typescript-for-tslab', { paths: [path.dirname(require.resolve('tslab/package.json'))] })) as TS);
}

/** An `is_complete_reply` content. */
export interface IsCompleteReply {
  status: 'complete' | 'incomplete' | 'invalid';
  indent?: string;
}

/** Parse errors that more input can fix, when they sit at the very end of the text. */
const CONTINUABLE = [1005 /* 'x' expected */, 1003 /* Identifier expected */, 1109 /* Expression expected */,
  1160 /* Unterminated template literal */, 1010 /* '*\/' expected */, 1126 /* Unexpected end of text */];

/**
 * `complete` when the code parses, `incomplete` (with the indent of the next
 * line) when the only parse errors are at its end and more text could close
 * them (an open block, bracket, template or comment), `invalid` otherwise.
 * A help request (`Math.max?`) is complete. As in tslab, code that ends with
 * an empty line counts as complete, so a console can force it to run.
 */
export function isComplete(code: string): IsCompleteReply {
  if (helpRequest(code)) return { status: 'complete' };
  const ts = typescript();
  const sf = ts.createSourceFile('cell.ts', code, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const diags = (sf as unknown as { parseDiagnostics: { start: number; length: number; code: number }[] }).parseDiagnostics;
  if (!diags.length) return { status: 'complete' };
  const end = code.trimEnd().length;
  const atEnd = diags.every((d) => d.start >= end && CONTINUABLE.includes(d.code));
  if (!atEnd) return { status: 'invalid' };
  if (/(^|\n)[ \t]*\n[ \t]*$/.test(code)) return { status: 'complete' };
  const r = isCompleteCode(code);
  return { status: 'incomplete', indent: r.completed ? '' : (r.indent ?? '') };
}

/**
 * The expression of a help request, IPython style: `Math.max?`, `?Math.max`
 * or `Math.max??` (a single expression; a trailing `?` is never valid
 * TypeScript, so nothing else is caught). Undefined for ordinary code.
 */
export function helpRequest(code: string): { expr: string; detail: number } | undefined {
  const m = /^\s*(\?{1,2})?\s*([A-Za-z_$][\w$]*(?:\s*\.\s*[A-Za-z_$][\w$]*|\[\d+\])*)\s*(\?{1,2})?\s*$/.exec(code);
  if (!m || (!m[1] && !m[3]) || (m[1] && m[3])) return undefined;
  return { expr: m[2]!, detail: (m[1] ?? m[3])!.length - 1 };
}

/** The UTF-16 offset in `s` of code point `cp` (Jupyter cursor_pos -> JavaScript index). */
export function codePointToIndex(s: string, cp: number): number {
  let i = 0;
  for (let n = 0; n < cp && i < s.length; n++) i += s.codePointAt(i)! > 0xffff ? 2 : 1;
  return i;
}

/** The code point index of UTF-16 offset `i` in `s` (JavaScript index -> Jupyter cursor_pos). */
export function indexToCodePoint(s: string, i: number): number {
  return [...s.slice(0, i)].length;
}
