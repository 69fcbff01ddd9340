/**
 * A TypeScript session: tslab's converter (type checker and transpiler) and
 * executor, wrapped so that a cell's outcome comes back as data instead of
 * console text.
 *
 * tslab's `createExecutor(rootDir, converters, console)` uses its `console`
 * argument for exactly three things: type-check diagnostics, the exception
 * that ended a cell, and the value of the cell's last expression. This
 * session passes a console that captures those, and converters that record
 * each conversion's diagnostics (with positions) and last-expression
 * variable. The cell's own `console.log` goes to the global console, which
 * the kernel sends to Jupyter as stream output.
 *
 * ```ts
 * const s = new TypeScriptSession(process.cwd());
 * await s.run('const x: number = 1; x + 1');  // { status: 'ok', hasValue: true, value: 2 }
 * await s.run("const y: number = 'a'");       // { status: 'error', ename: 'TypeScriptError', ... }
 * ```
 */
import * as fs from 'fs';
import type { Converter, Diagnostic } from 'tslab/dist/converter';
import { cellScripts } from './cellmap';
import { converterModule } from './converter';
import { createExecutor, type ConverterSet, type Executor } from 'tslab/dist/executor';
import { printQuickInfo } from 'tslab/dist/inspect';
import { quickInfoMarkdown, type QuickInfoLike } from './inspect';
import { diagnosticsError, exceptionError, internalError, type CellError } from './errors';
import { installFallbacks } from './resolve';
import { codePointToIndex, indexToCodePoint } from './syntax';

/** How a cell ended. `hasValue` is false when the last expression was undefined (or absent). */
export type RunOutcome =
  | { status: 'ok'; hasValue: boolean; value?: unknown }
  | ({ status: 'error' } & CellError);

/** tslab's converter, with gradlab's fix for shorthands naming an earlier cell's variable (kernel/converter.ts). */
const { createConverter } = converterModule().module;
/** Make TypeScript's folder watchers, held back while the kernel starts (kernel/converter.ts). */
const startWatches = (converterModule().module as { gradlabStartWatches?: () => void }).gradlabStartWatches ?? (() => undefined);

/** tslab prints each diagnostic with this format; the session takes them from the converter instead. */
const DIAGNOSTIC_FORMAT = '%s%d:%d - %s';

export class TypeScriptSession {
  private readonly executor: Executor;
  private node?: Converter;
  private browser?: Converter;
  private diagnostics: Diagnostic[] = [];
  private lastExpressionVar?: string;
  private result: { has: boolean; value?: unknown } = { has: false };
  private thrown: unknown[] = [];
  /** The running cell: its code and execution count (for `Cell In[n]` in tracebacks). */
  private cell?: { code: string; executionCount?: number };
  /** Cells run so far: the execution count when the caller does not give one. */
  private runs = 0;
  /** When (`performance.now()`) the first cell's type check and emit ended: the end of a kernel start (kernel/snapshot.ts). */
  firstConvertedAt?: number;

  /**
   * Builds the type checker now (about 2 s); modules resolve from `rootDir`
   * (the type checker: from the process's working directory), and `gradlab`
   * and TensorFlow.js fall back to the kernel's own copies (kernel/resolve.ts).
   */
  constructor(rootDir: string = process.cwd()) {
    installFallbacks();
    // TensorFlow.js throws ten and more frames deep: keep enough frames to reach the cell's own.
    Error.stackTraceLimit = Math.max(Number.isFinite(Error.stackTraceLimit) ? Error.stackTraceLimit : 10, 50);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    const converters: ConverterSet = {
      get node() {
        return (self.node ??= self.recorded(createConverter({ isJS: false, isBrowser: false })));
      },
      get browser() {
        return (self.browser ??= self.recorded(createConverter({ isJS: false, isBrowser: true })));
      },
      close() {
        self.node?.close();
        self.browser?.close();
      },
    };
    void converters.node;
    this.executor = createExecutor(rootDir, converters, {
      log: (value: unknown) => { this.result = { has: true, value }; },
      error: (first: unknown) => {
        if (first !== DIAGNOSTIC_FORMAT) this.thrown.push(first);
      },
    });
  }

  /** A converter whose conversions leave their diagnostics and last-expression variable here. */
  private recorded(c: Converter): Converter {
    return {
      ...c,
      convert: (prevDecl, src) => {
        const r = c.convert(prevDecl, src);
        this.firstConvertedAt ??= performance.now();
        this.diagnostics = r.diagnostics;
        this.lastExpressionVar = r.lastExpressionVar;
        // Name the cell's script and keep its source maps: runtime errors then show the cell's lines (kernel/cellmap.ts).
        const maps = (r as { sourceMaps?: string[] }).sourceMaps;
        if (r.output && maps?.length && !r.diagnostics.length) {
          // tslab's executor puts `(function(exports, require) { ` (async when awaiting) in front of the first line.
          const prefix = (r.hasToplevelAwait ? '(async function(exports, require) { ' : '(function(exports, require) { ').length;
          const executionCount = this.cell?.code === src ? this.cell.executionCount : undefined;
          try {
            return { ...r, output: r.output + cellScripts.add({ code: src, executionCount, prefix, sourceMaps: maps }) };
          } catch {
            return r; // a map that does not parse: the error shows compiled lines, the cell still runs
          }
        }
        return r;
      },
      addModule: (name, content, meta) => {
        const d = c.addModule(name, content, meta);
        this.diagnostics = d;
        return d;
      },
    };
  }

  /**
   * Make TypeScript's folder watchers, held back while the kernel starts (kernel/converter.ts): the
   * kernel calls this once the first cell's reply is out (on Linux the watchers walk the watched
   * folder trees, about 0.1 s), and the second cell's run calls it in any case. Each reports its
   * folder changed once, so nothing that changed before is missed. Idempotent.
   */
  startWatches(): void {
    startWatches();
  }

  /**
   * Type-check and run a cell. Never throws: failures come back as a CellError.
   * `executionCount` labels the cell in runtime errors' tracebacks (`Cell In[3], line 7`);
   * without it the session counts its own runs.
   */
  async run(code: string, executionCount?: number): Promise<RunOutcome> {
    this.runs++;
    // From the second cell on: TypeScript's folder watchers, held back while the kernel starts (kernel/converter.ts).
    if (this.runs > 1) this.startWatches();
    this.cell = { code, executionCount: executionCount ?? this.runs };
    this.diagnostics = [];
    this.lastExpressionVar = undefined;
    this.result = { has: false };
    this.thrown = [];
    let ok: boolean;
    try {
      ok = await this.executor.execute(code);
    } catch (first) {
      // Only the conversion can throw out of tslab's execute (user code's errors are caught
      // inside it), so nothing of the cell has run: rebuild the type checker and try once more.
      fs.writeSync(2, `gradlab kernel: the TypeScript converter failed (${(first as Error).stack ?? first}); rebuilding it\n`);
      this.resetConverters();
      try {
        ok = await this.executor.execute(code);
      } catch (e) {
        this.resetConverters();
        return { status: 'error', ...internalError(e) };
      }
    }
    // A `//%module` cell is registered even with type errors (tslab reports success); report them.
    if (this.diagnostics.length) return { status: 'error', ...diagnosticsError(this.diagnostics, code) };
    if (!ok) {
      if (this.thrown.length) return { status: 'error', ...exceptionError(this.thrown[0]) };
      return { status: 'error', ...internalError(new Error('tslab reported a failure without an error')) };
    }
    if (this.result.has) return { status: 'ok', hasValue: true, value: this.result.value };
    // tslab logs the last expression only when it is not null/undefined; null is a value worth showing.
    const locals = this.executor.locals;
    const name = this.lastExpressionVar;
    if (name && Object.prototype.hasOwnProperty.call(locals, name)) {
      const value = locals[name];
      delete locals[name];
      if (value === null) return { status: 'ok', hasValue: true, value: null };
    }
    return { status: 'ok', hasValue: false };
  }

  /** Drop the converters; the next cell builds new ones (declarations of earlier cells are kept by the executor). */
  private resetConverters(): void {
    for (const c of [this.node, this.browser]) {
      try {
        c?.close();
      } catch {
        // a broken converter may fail to close; it is dropped anyway
      }
    }
    this.node = undefined;
    this.browser = undefined;
  }

  /** Stop the running cell's pending await (a synchronous loop is stopped by SIGINT itself). */
  interrupt(): void {
    this.executor.interrupt();
  }

  /** A complete_reply content; positions are Unicode code points, as Jupyter counts them. */
  complete(code: string, cursorPos: number): Record<string, unknown> {
    const info = this.executor.complete(code, codePointToIndex(code, cursorPos));
    const start = indexToCodePoint(code, info.start);
    const end = indexToCodePoint(code, info.end);
    const kinds = new Map((info.original?.entries ?? []).map((e) => [e.name, String(e.kind)]));
    return {
      status: 'ok', matches: info.candidates, cursor_start: start, cursor_end: end,
      // JupyterLab shows these kinds (function, const, class ...) beside the matches.
      metadata: { _jupyter_types_experimental: info.candidates.map((text) => ({ text, type: kinds.get(text) ?? '', start, end })) },
    };
  }

  /** An inspect_reply content: the type and documentation at the cursor, as the editor's hover shows it. */
  inspect(code: string, cursorPos: number): Record<string, unknown> {
    let data: Record<string, string> | undefined;
    try {
      const at = codePointToIndex(code, cursorPos);
      const info = this.executor.inspect(code, at);
      if (info) {
        data = { 'text/plain': printQuickInfo(info), 'text/markdown': quickInfoMarkdown(info, this.constructorInfo(code, at, info)) };
      }
    } catch {
      data = undefined;
    }
    return data
      ? { status: 'ok', found: true, data, metadata: {} }
      : { status: 'ok', found: false, data: {}, metadata: {} };
  }

  /** For a class name: the quick info of the same name in `new name()` (its constructor's signature). */
  private constructorInfo(code: string, at: number, info: QuickInfoLike & { textSpan?: { start: number; length: number } }): QuickInfoLike | undefined {
    if (!/\bclass\b/.test((info.displayParts ?? []).map((p) => p.text).join('')) || !info.textSpan) return undefined;
    // The whole dotted name ending at the identifier under the cursor (gl.nn.Linear).
    const end = info.textSpan.start + info.textSpan.length;
    const start = end - (/[\w$.]+$/.exec(code.slice(0, end))?.[0].length ?? info.textSpan.length);
    const probe = `new ${code.slice(start, end)}()`;
    try {
      return this.executor.inspect(probe, 4 + (end - start) - 1) ?? undefined;
    } catch {
      return undefined;
    }
  }

  /** The declaration files the type checker read (for the startup snapshot, kernel/snapshot.ts); empty before the first cell. */
  declarationFiles(): string[] {
    const c = this.node as (Converter & { gradlabDeclarationFiles?: () => string[] }) | undefined;
    try {
      return c?.gradlabDeclarationFiles?.() ?? [];
    } catch {
      return [];
    }
  }

  /** Release the type checker's file watchers. */
  close(): void {
    this.executor.close();
  }
}
