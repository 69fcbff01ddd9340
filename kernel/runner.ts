/**
 * The headless notebook runner: one fresh gradlab kernel per notebook (cwd =
 * the notebook's folder, as Jupyter does), code cells in order, the first
 * failing cell stops that notebook. Writes executed .ipynb and .html files.
 *
 * ```ts
 * const run = await runNotebook('notebooks/01-backprop/01-chain-rule.ipynb', { timeoutMs: 300_000 });
 * const summary = await runAll([notebookTarget(file)], { outDir: 'out' });
 * ```
 */
import * as fs from 'fs';
import * as path from 'path';
import { KernelClient, KernelDiedError, KernelTimeoutError, type ExecuteOutcome } from './client';
import { writeCourseMap } from './coursemap';
import { isInternalFrame, shortPath } from './errors';
import { notebookPage, notebookTitle, stripAnsi } from './html';
import { cellSource, codeCells, joinText, OutputBuilder, readNotebook, serializeNotebook, type Notebook } from './notebook';
import { currentSize } from '../src/size';
import { DISPLAY_NAME, KERNEL_NAME } from './spec';

const NOTEBOOKS = path.resolve(__dirname, '..', '..', 'notebooks');

/** Why a notebook failed. `cell` is absent when no cell ran (bad file, kernel did not start). */
export interface RunFailure {
  kind: 'error' | 'abort' | 'timeout' | 'died' | 'invalid' | 'start';
  /** number: 1-based among code cells; index: 0-based among all cells; total: code cells. */
  cell?: { number: number; index: number; total: number };
  ename: string;
  evalue: string;
  traceback: string[];
}

/** Progress of one notebook, for printing. */
export type RunProgress =
  | { type: 'kernel'; seconds: number }
  | { type: 'cell'; number: number; total: number; index: number; status: string; seconds: number };

/** How long one code cell took (see {@link NotebookRun.cells}). */
export interface CellTiming {
  /** 1-based among code cells. */
  number: number;
  /** 0-based among all cells. */
  index: number;
  /** The cell's first non-empty line (at most 80 characters), to recognise it in a table. */
  label: string;
  /** 'ok', 'skipped (empty)', or the failure kind in capitals ('ERROR', 'TIMEOUT', ...). */
  status: string;
  /** Wall time from sending execute_request to the reply, in seconds (0 for an empty cell). */
  seconds: number;
}

/** The result of {@link runNotebook}. */
export interface NotebookRun {
  file: string;
  /** The executed notebook (absent when the file could not be read). */
  notebook?: Notebook;
  ok: boolean;
  seconds: number;
  failure?: RunFailure;
  /**
   * Each code cell that was reached, in order, with its time. The executed notebook
   * also carries each run cell's start and end in `metadata.execution`
   * (`iopub.execute_input`, `shell.execute_reply`: the keys nbclient and
   * JupyterLab's "record timing" write).
   */
  cells?: CellTiming[];
}

/** Options of {@link runNotebook}. */
export interface RunOptions {
  /** Per-cell limit; default 300 000 ms. */
  timeoutMs?: number;
  onProgress?: (p: RunProgress) => void;
  /** Kernel environment; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** The backend banner a notebook printed (`gl.describe()`: `gradlab 0.1.0 | backend wasm | CPU, ...`), or null. */
export function printedBackend(nb: Notebook | undefined): string | null {
  for (const c of nb?.cells ?? []) {
    for (const o of (c as { outputs?: { text?: string | string[] }[] }).outputs ?? []) {
      const m = /gradlab \S+ \| backend (\S+) \| ([^|\n]+)/.exec(joinText(o.text ?? ''));
      if (m) return `${m[1]} (${m[2].trim()})`;
    }
  }
  return null;
}

/**
 * A Markdown table of a run's cell times: what an instructor reads to know how
 * long each cell takes on this machine, with the backend the notebook printed,
 * the date and the size (`GRADLAB_SIZE`). `npm start` writes it next to the
 * executed notebook as `<name>.<size>.timing.md`.
 */
export function timingTable(title: string, run: NotebookRun, size = 'small', when = new Date()): string {
  const cells = run.cells ?? [];
  const backend = printedBackend(run.notebook) ?? 'unknown (the notebook printed no gl.describe() banner)';
  const inCells = cells.reduce((a, c) => a + c.seconds, 0);
  const esc = (t: string) => t.replace(/\|/g, '\\|').replace(/`/g, "'");
  return [
    `# ${title}: cell times`,
    '',
    `backend ${backend} · size ${size} · ${when.toISOString()} · ${run.ok ? 'ok' : 'FAILED'} · ${run.seconds.toFixed(1)} s in all ` +
      `(${inCells.toFixed(1)} s in cells, the rest starting the kernel)`,
    '',
    '| code cell | seconds | share | status | first line |',
    '|---:|---:|---:|---|---|',
    ...cells.map((c) => `| ${c.number} | ${c.seconds.toFixed(2)} | ${inCells > 0 ? ((100 * c.seconds) / inCells).toFixed(0) : '0'}% | ${c.status} | \`${esc(c.label)}\` |`),
    '',
  ].join('\n');
}

/** Run every code cell of `file` in a fresh kernel; never throws for notebook or kernel failures. */
export async function runNotebook(file: string, opts: RunOptions = {}): Promise<NotebookRun> {
  const t0 = Date.now();
  const seconds = () => (Date.now() - t0) / 1000;
  const timeoutMs = opts.timeoutMs ?? 300_000;
  let nb: Notebook;
  try {
    nb = readNotebook(file);
  } catch (e) {
    return { file, ok: false, seconds: seconds(), failure: fromException('invalid', e) };
  }
  let client: KernelClient | undefined;
  try {
    client = await KernelClient.start({ cwd: path.dirname(path.resolve(file)), env: opts.env });
    const info = await client.kernelInfo();
    nb.metadata.kernelspec ??= { name: KERNEL_NAME, display_name: DISPLAY_NAME, language: 'typescript' };
    if (info.language_info) nb.metadata.language_info = info.language_info;
  } catch (e) {
    await client?.kill();
    return { file, notebook: nb, ok: false, seconds: seconds(), failure: fromException('start', e) };
  }
  opts.onProgress?.({ type: 'kernel', seconds: seconds() });
  try {
    const cells: CellTiming[] = [];
    const failure = await runCells(client, nb, timeoutMs, opts.onProgress, cells);
    if (failure?.kind === 'timeout' || failure?.kind === 'died') await client.kill();
    return { file, notebook: nb, ok: !failure, seconds: seconds(), failure, cells };
  } finally {
    await client.shutdown();
  }
}

/** Execute the code cells of `nb` in order, filling in outputs; the first failure stops. */
async function runCells(
  client: KernelClient, nb: Notebook, timeoutMs: number, onProgress?: (p: RunProgress) => void, timings: CellTiming[] = [],
): Promise<RunFailure | undefined> {
  const cells = codeCells(nb);
  for (const { cell } of cells) {
    cell.outputs = [];
    cell.execution_count = null;
    delete cell.metadata.execution;
  }
  const outputs = new OutputBuilder();
  let failure: RunFailure | undefined;
  for (const { cell, index, number } of cells) {
    const where = { number, index, total: cells.length };
    const started = Date.now();
    const code = cellSource(cell);
    const label = (code.split('\n').find((l) => l.trim()) ?? '').trim().slice(0, 80);
    const report = (status: string) => {
      const seconds = (Date.now() - started) / 1000;
      timings.push({ number, index, label, status, seconds: code.trim() ? seconds : 0 });
      onProgress?.({ type: 'cell', number, total: cells.length, index, status, seconds });
    };
    if (!code.trim()) {
      report('skipped (empty)');
      continue;
    }
    outputs.begin(cell);
    try {
      const r = await client.execute(code, { timeoutMs, onOutput: (m) => outputs.add(m) });
      cell.execution_count = r.executionCount;
      if (r.status !== 'ok') failure = { kind: isAborted(r.status) ? 'abort' : 'error', cell: where, ...cellError(r) };
    } catch (e) {
      const kind = e instanceof KernelTimeoutError ? 'timeout' : 'died';
      failure = { ...fromException(kind, e), cell: where };
      if (e instanceof KernelTimeoutError) {
        failure.ename = 'TimeoutError';
        failure.evalue = `${e.message.replace(/^timeout after [\d.]+ s/, `timeout after ${timeoutMs / 1000} s in cell ${number}`)}; the kernel was killed`;
        failure.traceback = parseCellError(stderrOf(e.outputs)).traceback;
      }
      (cell.outputs ??= []).push({ output_type: 'error', ename: failure.ename, evalue: failure.evalue, traceback: failure.traceback });
    }
    cell.metadata.execution = { 'iopub.execute_input': new Date(started).toISOString(), 'shell.execute_reply': new Date().toISOString() };
    report(failure ? failure.kind.toUpperCase() : 'ok');
    if (failure) break;
  }
  return failure;
}

/** What a failed execute_reply says: from the reply, an `error` output, else parsed from stderr. */
function cellError(r: ExecuteOutcome): Pick<RunFailure, 'ename' | 'evalue' | 'traceback'> {
  if (typeof r.reply.ename === 'string') {
    return { ename: r.reply.ename, evalue: String(r.reply.evalue ?? ''), traceback: asLines(r.reply.traceback) };
  }
  const err = [...r.outputs].reverse().find((m) => m.msg_type === 'error');
  if (err) {
    return { ename: String(err.content.ename), evalue: String(err.content.evalue ?? ''), traceback: asLines(err.content.traceback) };
  }
  if (isAborted(r.status)) return { ename: 'Aborted', evalue: `the kernel aborted the request (status "${r.status}")`, traceback: [] };
  return parseCellError(stderrOf(r.outputs));
}

/** 'aborted' (the spec's spelling, ipykernel and gradlab) or 'abort' (tslab). */
function isAborted(status: string): boolean {
  return status === 'aborted' || status === 'abort';
}

function stderrOf(messages: { msg_type: string; content: Record<string, unknown> }[]): string {
  return messages
    .filter((m) => m.msg_type === 'stream' && m.content.name === 'stderr')
    .map((m) => joinText(m.content.text))
    .join('');
}


const DIAGNOSTIC = /^(?:\S+ )?(\d+):(\d+) - /;
const ERROR_HEAD = /^([A-Za-z_$][\w$]*(?:Error|Exception)|Error)(?: \[[\w.-]+\])?: ?(.*)$/;

/**
 * Name, message and trace of a failed tslab cell from its stderr text:
 * type-check diagnostics (`2:7 - Type 'string' is not ...`) become a
 * `TypeScriptError`; a printed exception (`TypeError: x is not a function`
 * followed by `    at ...` lines) keeps its own name; anything else is `Error`.
 */
export function parseCellError(stderr: string): Pick<RunFailure, 'ename' | 'evalue' | 'traceback'> {
  const lines = stripAnsi(stderr).replace(/\r\n/g, '\n').replace(/\n+$/, '').split('\n');
  const firstDiag = lines.findIndex((l) => DIAGNOSTIC.test(l));
  if (firstDiag >= 0) {
    const diag = lines.slice(firstDiag);
    return { ename: 'TypeScriptError', evalue: diag.join('\n'), traceback: diag };
  }
  let head = -1;
  for (let i = lines.length - 1; i >= 0 && head < 0; i--) if (ERROR_HEAD.test(lines[i])) head = i;
  if (head >= 0) {
    const m = ERROR_HEAD.exec(lines[head])!;
    const rest = lines.slice(head + 1);
    const stackAt = rest.findIndex((l) => /^\s+at /.test(l));
    const more = stackAt < 0 ? [] : rest.slice(0, stackAt);
    return { ename: m[1], evalue: [m[2], ...more].join('\n').trim(), traceback: lines.slice(head) };
  }
  const text = lines.join('\n').trim();
  return {
    ename: 'Error',
    evalue: text || 'the cell failed without printing an error (execute_reply status "error")',
    traceback: text ? lines : [],
  };
}

function fromException(kind: RunFailure['kind'], e: unknown): RunFailure {
  const err = e instanceof Error ? e : new Error(String(e));
  const [first, ...rest] = err.message.split('\n');
  const ename = err instanceof KernelDiedError ? 'KernelDied' : err.name;
  return { kind, ename, evalue: first, traceback: rest };
}

function asLines(x: unknown): string[] {
  return Array.isArray(x) ? x.map((l) => stripAnsi(String(l))) : [];
}

/** A readable multi-line report of a failure, naming notebook, cell, error and trace. */
export function formatFailure(file: string, f: RunFailure): string {
  const where = f.cell ? ` in code cell ${f.cell.number} of ${f.cell.total} (notebook cell index ${f.cell.index})` : '';
  const head = `${f.ename}: ${f.evalue}`.split('\n');
  const trace = f.traceback
    .map((l) => (isInternalFrame(l) && l.endsWith(' {') ? '{' : stripAnsi(l))) // keep an error's "{ code: ... }" readable
    .filter((l) => l.trim() && !head.includes(l) && !isInternalFrame(l));
  const hidden = f.traceback.filter((l) => isInternalFrame(l)).length;
  return [
    `FAILED ${file}${where}`,
    ...head.map((l) => `  ${l}`),
    ...trace.slice(0, 20).map((l) => `  ${l}`),
    ...(trace.length > 20 ? [`  ... ${trace.length - 20} more lines`] : []),
    ...(hidden ? [`      (${hidden} frames inside the kernel, tslab and Node hidden)`] : []),
  ].join('\n');
}

/** A notebook to run and where its outputs go: `<outDir>/<chapter>/<name>.{ipynb,html}`. */
export interface NotebookTarget {
  file: string;
  chapter: string;
  name: string;
}

/** The target for a notebook file: chapter = its folder's name. */
export function notebookTarget(file: string): NotebookTarget {
  const abs = path.resolve(file);
  return { file: abs, chapter: path.basename(path.dirname(abs)), name: path.basename(abs, '.ipynb') };
}

/** Options of {@link runAll}. */
export interface RunAllOptions extends RunOptions {
  outDir: string;
  /** Progress lines (default stdout). */
  log?: (line: string) => void;
  /** Failure reports (default stderr). */
  logError?: (text: string) => void;
  /** Where chapters live, for the course map (default: notebooks/ in the gradlab checkout). */
  root?: string;
}

/** The result of {@link runAll}. */
export interface RunSummary {
  ok: boolean;
  runs: (NotebookRun & NotebookTarget & { html?: string; ipynb?: string; timing?: string })[];
  index: string;
}

/**
 * Run notebooks one after the other; write each one's executed .ipynb, .html and
 * `<name>.<size>.timing.md`, record the runs in `<outDir>/runs.json` and redraw the
 * course map `<outDir>/index.html` (see kernel/coursemap.ts).
 */
export async function runAll(targets: NotebookTarget[], opts: RunAllOptions): Promise<RunSummary> {
  const log = opts.log ?? ((l: string) => process.stdout.write(l + '\n'));
  const logError = opts.logError ?? ((t: string) => process.stderr.write(t + '\n'));
  const t0 = Date.now();
  const size = currentSize(opts.env ?? process.env);
  const runs: RunSummary['runs'] = [];
  for (const [i, t] of targets.entries()) {
    log(`[${i + 1}/${targets.length}] ${t.chapter}/${t.name}.ipynb`);
    const run = await runNotebook(t.file, {
      ...opts,
      onProgress: (p) => log(p.type === 'kernel'
        ? `  kernel ready ${p.seconds.toFixed(2)} s`
        : `  cell ${p.number}/${p.total} ${p.status} ${p.seconds.toFixed(2)} s`),
    });
    const entry: RunSummary['runs'][number] = { ...t, ...run };
    if (run.notebook) {
      const dir = path.join(opts.outDir, t.chapter);
      fs.mkdirSync(dir, { recursive: true });
      entry.ipynb = path.join(dir, `${t.name}.ipynb`);
      entry.html = path.join(dir, `${t.name}.html`);
      fs.writeFileSync(entry.ipynb, serializeNotebook(run.notebook));
      entry.timing = path.join(dir, `${t.name}.${size}.timing.md`);
      fs.writeFileSync(entry.timing, timingTable(`${t.chapter}/${t.name}`, run, size));
      fs.writeFileSync(entry.html, notebookPage(run.notebook, {
        title: notebookTitle(run.notebook, t.name), ok: run.ok, seconds: run.seconds,
        failure: run.failure && formatFailure(shortPath(t.file), run.failure), failedCell: run.failure?.cell?.index,
        indexHref: '../index.html',
      }));
    }
    if (run.failure) logError(formatFailure(shortPath(t.file), run.failure));
    log(`  ${run.ok ? 'ok' : 'FAILED'} ${run.seconds.toFixed(1)} s${entry.html ? ` -> ${shortPath(entry.html)}` : ''}`);
    runs.push(entry);
  }
  const index = writeCourseMap(opts.outDir, opts.root ?? NOTEBOOKS, runs.map((r) => ({
    chapter: r.chapter, name: r.name, size, ok: r.ok, seconds: r.seconds, when: new Date().toISOString(),
    backend: printedBackend(r.notebook) ?? undefined, error: r.failure && `${r.failure.ename}: ${r.failure.evalue.split('\n')[0]}`,
  })), runs.map((r) => r.file));
  const failed = runs.filter((r) => !r.ok);
  log(`\n${runs.length} notebook(s) in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${runs.length - failed.length} ok, ${failed.length} failed`);
  for (const r of failed) {
    const c = r.failure?.cell;
    logError(`  FAILED ${shortPath(r.file)}${c ? ` cell ${c.number}/${c.total}` : ''}: ${r.failure?.ename}: ${r.failure?.evalue.split('\n')[0]}`);
  }
  log(`Executed notebooks and HTML in ${shortPath(opts.outDir)}/ ; open ${shortPath(index)}`);
  return { ok: failed.length === 0, runs, index };
}
