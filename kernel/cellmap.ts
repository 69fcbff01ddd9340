/**
 * Runtime errors at the learner's line: stack frames of the JavaScript that
 * tslab compiled from a cell are mapped back to the cell's own line and
 * column (`Cell In[5], line 7, col 3`, IPython's style), frames in gradlab's
 * compiled files to their `.ts` source when a `.js.map` lies next to them.
 *
 * Each cell runs as one script named by a `//# sourceURL=gradlab-cell-<n>`
 * comment (kernel/session.ts adds it), so a frame names its cell even when a
 * function of an earlier cell runs. The converter (kernel/converter.ts)
 * returns the cell's source maps, outermost first: one (the type checker's
 * emit writes the CommonJS that runs), or two (tslab's two steps: the
 * CommonJS step's and the type checker's emit); {@link CellScripts.frame}
 * composes them.
 */
import * as fs from 'fs';
import * as path from 'path';

/** A position: zero-based line and column. */
export interface Position {
  line: number;
  column: number;
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DIGIT = new Map([...BASE64].map((c, i) => [c, i]));

/**
 * A source map's `mappings` (version 3, Base64 VLQ) decoded: for each
 * generated line, its segments `[generatedColumn, sourceIndex, sourceLine, sourceColumn]`
 * (segments without a source are dropped), sorted by column.
 */
export function decodeMappings(mappings: string): number[][][] {
  const lines: number[][][] = [];
  const state = [0, 0, 0, 0];
  for (const text of mappings.split(';')) {
    const segments: number[][] = [];
    state[0] = 0;
    for (const seg of text.split(',')) {
      if (!seg) continue;
      const fields: number[] = [];
      let value = 0;
      let shift = 0;
      for (const c of seg) {
        const d = DIGIT.get(c);
        if (d === undefined) throw new Error(`source map: bad Base64 digit '${c}'`);
        value += (d & 31) << shift;
        if (d & 32) {
          shift += 5;
        } else {
          fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      for (let i = 0; i < Math.min(4, fields.length); i++) state[i] += fields[i];
      if (fields.length >= 4) segments.push(state.slice(0, 4));
    }
    lines.push(segments.sort((a, b) => a[0] - b[0]));
  }
  return lines;
}

/** One source map, for looking up where a generated position came from. */
export class SourceMap {
  private json?: string | { sources: string[]; mappings: string; sourceRoot?: string };
  private decoded?: { sources: string[]; lines: number[][][] };

  /**
   * `json`: the map's text or object (`sources`, `mappings`, optional `sourceRoot`).
   * `lazy`: parse and decode on the first lookup (every cell keeps its maps, few are ever
   * looked up: only when an error's stack names the cell); a bad map then throws there.
   */
  constructor(json: string | { sources: string[]; mappings: string; sourceRoot?: string }, lazy = false) {
    this.json = json;
    if (!lazy) this.decode();
  }

  private decode(): { sources: string[]; lines: number[][][] } {
    if (this.decoded) return this.decoded;
    const json = this.json!;
    const m = typeof json === 'string' ? JSON.parse(json) : json;
    const sources = (m.sources as string[]).map((s) => (m.sourceRoot ? `${m.sourceRoot.replace(/\/?$/, '/')}${s}` : s));
    this.decoded = { sources, lines: decodeMappings(String(m.mappings)) };
    this.json = undefined;
    return this.decoded;
  }

  /** The map's sources (with `sourceRoot` in front). */
  get sources(): string[] {
    return this.decode().sources;
  }

  /**
   * The source position of a generated one: the last segment of the line
   * that starts at or before the column (the first one when the column is
   * before all of them), plus the column's distance from that segment's start.
   */
  find(line: number, column: number): (Position & { source: string }) | undefined {
    const segs = this.decode().lines[line];
    if (!segs || !segs.length) return undefined;
    let seg = segs[0];
    for (const s of segs) if (s[0] <= column) seg = s;
    const delta = Math.max(0, column - seg[0]);
    return { source: this.sources[seg[1]], line: seg[2], column: seg[3] + delta };
  }
}

/** A cell's compiled script, as run. */
interface CellScript {
  /** `Cell In[5]`, or `Cell In[?]` when the execution count is not known. */
  label: string;
  code: string;
  /** Characters in front of the compiled code on its first line (tslab's function wrapper). */
  prefix: number;
  /** The maps from the JavaScript that runs back to the emitted cell, outermost first. */
  maps: SourceMap[];
  /** Lines of tslab's own in front of the cell in the emitted source (`export {};`). */
  headLines: number;
}

/** A stack frame mapped into a cell. */
export interface CellFrame extends Position {
  label: string;
  code: string;
}

/** The URL prefix of cells' scripts: frames show `gradlab-cell-<n>:line:col` before mapping. */
export const CELL_URL = 'gradlab-cell-';

/** Cells' scripts of this process, by their `gradlab-cell-<n>` name. */
export class CellScripts {
  private readonly cells = new Map<string, CellScript>();
  private next = 1;

  /**
   * Record a compiled cell; returns the comment that names its script
   * (append it to the compiled code). `sourceMaps`: the converter's maps,
   * outermost first: `[commonJsMap]` or `[commonJsMap, esModuleMap]`.
   */
  add(cell: { code: string; executionCount?: number; prefix: number; sourceMaps: string[] }): string {
    if (!cell.sourceMaps.length) throw new Error('cellmap: a cell needs at least one source map');
    const url = `${CELL_URL}${this.next++}`;
    this.cells.set(url, {
      label: `Cell In[${cell.executionCount ?? '?'}]`,
      code: cell.code,
      prefix: cell.prefix,
      // Decoded when an error first needs them: most cells never throw.
      maps: cell.sourceMaps.map((m) => new SourceMap(m, true)),
      headLines: 1,
    });
    return `\n//# sourceURL=${url}`;
  }

  /**
   * The cell position of a frame at `url:line:column` (1-based, as V8 prints
   * them); undefined for a frame of tslab's wrapper around the cell.
   */
  frame(url: string, line: number, column: number): CellFrame | undefined {
    const cell = this.cells.get(url);
    if (!cell) return undefined;
    try {
      return this.mapFrame(cell, line, column);
    } catch {
      return undefined; // a map that does not parse: the frame stays as compiled
    }
  }

  private mapFrame(cell: CellScript, line: number, column: number): CellFrame | undefined {
    const col = column - 1 - (line === 1 ? cell.prefix : 0);
    let src: Position | undefined = { line: line - 1, column: Math.max(0, col) };
    for (const map of cell.maps) {
      src = map.find(src.line, src.column);
      if (!src) return undefined;
    }
    const cellLine = src.line - cell.headLines;
    const lines = cell.code.split('\n');
    if (cellLine < 0 || cellLine >= lines.length) return undefined;
    return { label: cell.label, code: cell.code, line: cellLine, column: Math.min(src.column, lines[cellLine].length) };
  }
}

/** The process's cells (one kernel, one session). */
export const cellScripts = new CellScripts();

const fileMaps = new Map<string, SourceMap | null>();

/**
 * A frame in a compiled `.js` file with a `.js.map` next to it (gradlab's
 * dist/): the `.ts` source's path and 1-based line and column, when that
 * source exists; undefined otherwise.
 */
export function fileFrame(file: string, line: number, column: number): { file: string; line: number; column: number } | undefined {
  if (!file.endsWith('.js') || !path.isAbsolute(file) || file.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
  let map = fileMaps.get(file);
  if (map === undefined) {
    try {
      map = new SourceMap(fs.readFileSync(`${file}.map`, 'utf8'));
    } catch {
      map = null;
    }
    fileMaps.set(file, map);
  }
  const p = map?.find(line - 1, column - 1);
  if (!p) return undefined;
  const source = path.resolve(path.dirname(file), p.source);
  if (!fs.existsSync(source)) return undefined;
  return { file: source, line: p.line + 1, column: p.column + 1 };
}
