/**
 * The Jupyter client, notebook outputs, HTML export and the `npm start` runner,
 * against real gradlab kernels and the fixture notebooks in test/fixtures/notebooks.
 */
import { strict as assert } from 'assert';
import { execFile, execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { KernelClient, KernelDiedError } from '../kernel/client';
import { renderMarkdown, notebookPage } from '../kernel/html';
import { OutputBuilder, parseNotebook, serializeNotebook, type Cell, type Notebook } from '../kernel/notebook';
import { parseCellError } from '../kernel/runner';

const ROOT = path.resolve(__dirname, '..', '..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'notebooks');
const RUN = path.join(ROOT, 'dist', 'kernel', 'run.js');
/** Connection files of every kernel these tests start live here, so `ps` can find leftovers. */
const RUNTIME = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-runner-test-'));

/** Kernel processes started by these tests that are still alive. */
function leftoverKernels(): string[] {
  const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return ps.split('\n').filter((l) => l.includes(RUNTIME) && l.includes('--config-path'));
}

const outDirs: string[] = [];

/** Run the CLI; resolves with its exit code and output (never rejects on a non-zero exit). */
function runCli(args: string[]): Promise<{ code: number; out: string; outDir: string }> {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-out-'));
  outDirs.push(outDir);
  return new Promise((resolve) => {
    execFile(process.execPath, [RUN, '--out', outDir, ...args],
      { env: { ...process.env, JUPYTER_RUNTIME_DIR: RUNTIME }, cwd: ROOT, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, out: stdout + stderr, outDir });
      });
  });
}

/** HTML minus inline script bodies: what the browser would fetch. */
function remoteLoads(html: string): string[] {
  const tags = html.replace(/<script>[\s\S]*?<\/script>/g, '<script></script>');
  return tags.match(/<(script|link|img|iframe|source)\b[^>]*\b(src|href)\s*=\s*["']?(https?:)?\/\/[^>]*>|url\(\s*["']?(https?:)?\/\/[^)]*\)|@import/gi) ?? [];
}

describe('the Jupyter client', function () {
  let kernel: KernelClient;
  before(async () => {
    kernel = await KernelClient.start({ cwd: FIXTURES, runtimeDir: RUNTIME });
  });
  after(async () => kernel?.shutdown());

  it('gets a kernel_info_reply from the gradlab kernel and a heartbeat echo', async () => {
    const info = await kernel.kernelInfo();
    assert.equal(info.implementation, 'gradlab');
    assert.equal((info.language_info as { name: string }).name, 'typescript');
    assert.equal(await kernel.heartbeat(), true);
    assert.equal(kernel.droppedMessages, 0);
  });

  it('receives console.log(1+1) as the stdout stream "2"', async () => {
    const seen: string[] = [];
    const r = await kernel.execute('console.log(1+1)', { onOutput: (m) => seen.push(m.msg_type) });
    assert.equal(r.status, 'ok');
    assert.equal(typeof r.executionCount, 'number');
    assert.deepEqual(r.outputs.map((m) => [m.msg_type, m.content.name, m.content.text]), [['stream', 'stdout', '2\n']]);
    assert.deepEqual(seen, ['stream']);
  });

  it('receives a library display bundle as ONE display_data with all its MIME keys', async () => {
    const r = await kernel.execute(
      "import { display } from 'gradlab';\n" +
        "await display({ [Symbol.for('Jupyter.display')]: () => ({ 'text/plain': 'p', 'text/html': '<i>h</i>', 'image/svg+xml': '<svg/>' }) });",
    );
    assert.equal(r.status, 'ok', JSON.stringify(r.outputs.map((m) => m.content)));
    const displays = r.outputs.filter((m) => m.msg_type === 'display_data');
    assert.equal(displays.length, 1);
    assert.deepEqual(Object.keys(displays[0].content.data as object).sort(), ['image/svg+xml', 'text/html', 'text/plain']);
  });

  it('rejects a pending execute with "kernel died (exit code, signal)" when the kernel process is killed', async () => {
    const k = await KernelClient.start({ cwd: FIXTURES, runtimeDir: RUNTIME });
    try {
      const pending = k.execute('await new Promise((r) => setTimeout(r, 60_000))');
      setTimeout(() => process.kill(k.child.pid!, 'SIGKILL'), 300);
      await assert.rejects(pending, (e: Error) =>
        e instanceof KernelDiedError && /kernel died \(exit code null, signal SIGKILL\)/.test(e.message));
    } finally {
      await k.shutdown();
    }
  });
});

describe('notebook outputs', () => {
  const code = (): Cell => ({ cell_type: 'code', source: '', metadata: {}, outputs: [], execution_count: null });
  const msg = (msg_type: string, content: Record<string, unknown>) => ({ msg_type, content });

  it('merges consecutive streams of the same name and keeps other streams apart', () => {
    const cell = code();
    const b = new OutputBuilder();
    b.begin(cell);
    b.add(msg('stream', { name: 'stdout', text: 'a\n' }));
    b.add(msg('stream', { name: 'stdout', text: 'b\n' }));
    b.add(msg('stream', { name: 'stderr', text: 'c\n' }));
    assert.deepEqual(cell.outputs, [
      { output_type: 'stream', name: 'stdout', text: 'a\nb\n' },
      { output_type: 'stream', name: 'stderr', text: 'c\n' },
    ]);
  });

  it('updates every output with the same display_id, across cells, without saving the id', () => {
    const [c1, c2] = [code(), code()];
    const b = new OutputBuilder();
    const show = (text: string, type = 'display_data') =>
      b.add(msg(type, { data: { 'text/plain': text }, metadata: {}, transient: { display_id: 'd1' } }));
    b.begin(c1);
    show('one');
    b.begin(c2);
    show('two');
    show('three', 'update_display_data');
    assert.deepEqual(c1.outputs, [{ output_type: 'display_data', data: { 'text/plain': 'three' }, metadata: {} }]);
    assert.deepEqual(c2.outputs, [{ output_type: 'display_data', data: { 'text/plain': 'three' }, metadata: {} }]);
  });

  it('clears at once, or with wait=true just before the next output', () => {
    const cell = code();
    const b = new OutputBuilder();
    b.begin(cell);
    b.add(msg('stream', { name: 'stdout', text: 'old\n' }));
    b.add(msg('clear_output', { wait: true }));
    assert.equal(cell.outputs!.length, 1);
    b.add(msg('execute_result', { data: { 'text/plain': '2' }, metadata: {}, execution_count: 7 }));
    assert.deepEqual(cell.outputs, [{ output_type: 'execute_result', data: { 'text/plain': '2' }, metadata: {}, execution_count: 7 }]);
    b.add(msg('clear_output', { wait: false }));
    assert.deepEqual(cell.outputs, []);
  });

  it('writes nbformat 4.5 like Jupyter: sorted keys, 1-space indent, split lines, cell ids, trailing newline', () => {
    const nb: Notebook = { nbformat: 4, nbformat_minor: 2, metadata: {}, cells: [{ ...code(), source: 'a\nb', outputs: [
      { output_type: 'error', ename: 'E', evalue: 'v', traceback: [] }] }] };
    const text = serializeNotebook(nb);
    assert.ok(text.endsWith('}\n'));
    assert.ok(text.startsWith('{\n "cells": [\n  {\n   "cell_type": "code",\n   "execution_count": null,\n   "id": "'));
    const back = JSON.parse(text);
    assert.equal(back.nbformat_minor, 5);
    assert.deepEqual(back.cells[0].source, ['a\n', 'b']);
    assert.match(back.cells[0].id, /^[a-zA-Z0-9-_]{1,64}$/);
  });

  it('names the file, line and column of invalid JSON and what an nbformat 4 notebook lacks', () => {
    assert.throws(() => parseNotebook('{\n "cells": [,]\n}', 'x.ipynb'), /^NotebookError: x\.ipynb: invalid JSON at line 2, column 12/);
    assert.throws(() => parseNotebook('{"cells": []}', 'y.ipynb'), /y\.ipynb: .*missing "nbformat", "nbformat_minor", "metadata"/);
    assert.throws(() => parseNotebook('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code"}]}', 'z.ipynb'),
      /z\.ipynb: cell 0 .* no "source"/);
  });
});

describe('cell errors from tslab stderr', () => {
  it('turns type-check diagnostics into a TypeScriptError with line:col', () => {
    const e = parseCellError("2:7 - Type 'string' is not assignable to type 'number'.\n");
    assert.equal(e.ename, 'TypeScriptError');
    assert.equal(e.evalue, "2:7 - Type 'string' is not assignable to type 'number'.");
  });

  it('keeps the name and message of a printed exception and its stack as the trace', () => {
    const e = parseCellError('a warning\nTypeError: x is not a function\n    at evalmachine.<anonymous>:3:1\n    at run (node:vm:1:1)\n');
    assert.deepEqual([e.ename, e.evalue, e.traceback.length], ['TypeError', 'x is not a function', 3]);
  });

  it('falls back to Error with the printed text when no exception header is found', () => {
    assert.deepEqual([parseCellError('oops\n').ename, parseCellError('oops\n').evalue], ['Error', 'oops']);
  });
});

describe('HTML export', () => {
  it('renders Markdown with LaTeX as MathML and leaves math in code spans alone', () => {
    const html = renderMarkdown('# T\n\n$a_*b_*$ and \\(x^2\\)\n\n$$\\sum_i w_i$$\n\n`$x_1$`');
    assert.match(html, /<h1>T<\/h1>/);
    assert.equal((html.match(/<math/g) ?? []).length, 3);
    assert.match(html, /display="block"/);
    assert.match(html, /<code>\$x_1\$<\/code>/);
    assert.doesNotMatch(html, /<em>/);
  });

  it('prefers Vega-Lite over SVG over plain text and inlines plotly.js only when a page needs it', () => {
    const nb = (data: Record<string, unknown>): Notebook => ({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [
      { cell_type: 'code', source: 'x', metadata: {}, execution_count: 1, outputs: [{ output_type: 'display_data', data, metadata: {} }] }] });
    const opts = { title: 't', ok: true, seconds: 1 };
    const vl = notebookPage(nb({ 'application/vnd.vegalite.v5+json': { mark: 'point' }, 'image/svg+xml': '<svg id="s"/>', 'text/plain': 'p' }), opts);
    assert.match(vl, /class="vega"[^>]*><div class="static"><div class="svg"><svg id="s"\/>/);
    assert.match(vl, /vegaLite/);
    assert.ok(vl.length < 2_000_000, 'vega and vega-lite are inlined, plotly.js is not');
    const plain = notebookPage(nb({ 'text/plain': 'p' }), opts);
    assert.ok(plain.length < 20_000, 'a page without charts inlines no libraries');
    const plotly = notebookPage(nb({ 'application/vnd.plotly.v1+json': { data: [] }, 'text/plain': 'fig' }), opts);
    assert.ok(plotly.length > 1_000_000 && /class="plotly"/.test(plotly));
    assert.deepEqual(remoteLoads(plotly), []);
  });
});

describe('npm start (dist/kernel/run.js) on fixtures', () => {
  after(() => {
    for (const d of [RUNTIME, ...outDirs]) fs.rmSync(d, { recursive: true, force: true });
  });

  it('executes a passing notebook and writes a valid .ipynb and a self-contained .html', async () => {
    const r = await runCli([path.join(FIXTURES, 'ok', 'pass.ipynb')]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /\[1\/1\] ok\/pass\.ipynb/);
    assert.match(r.out, /cell 6\/6 ok \d+\.\d\d s/);
    const nb = JSON.parse(fs.readFileSync(path.join(r.outDir, 'ok', 'pass.ipynb'), 'utf8'));
    assert.equal(nb.nbformat, 4);
    assert.equal(nb.nbformat_minor, 5);
    const code = nb.cells.filter((c: Cell) => c.cell_type === 'code');
    assert.deepEqual(code.map((c: Cell) => c.execution_count), [1, 2, 3, 4, null, 5]);
    assert.deepEqual(code[0].outputs, [{ name: 'stdout', output_type: 'stream', text: ['2\n'] }]);
    assert.deepEqual(code[2].outputs.map((o: { data: object }) => o.data), [{ 'text/plain': ['step 3 of 3'] }]);
    assert.ok(!JSON.stringify(nb).includes('display_id'));
    const html = fs.readFileSync(path.join(r.outDir, 'ok', 'pass.html'), 'utf8');
    assert.deepEqual(remoteLoads(html), []);
    assert.match(html, /<b id="fixture-html">fixture bundle<\/b>/);
    assert.match(html, /<rect id="fixture-svg"/);
    assert.match(html, /<pre class="stream stdout">2\n<\/pre>/);
    assert.match(html, /<math/);
    const index = fs.readFileSync(path.join(r.outDir, 'index.html'), 'utf8');
    assert.match(index, /<a href="ok\/pass\.html">夹具：通过 \(passing fixture\)<\/a>/);
  });

  it('records each cell\'s start and end in its metadata (nbclient\'s keys) and writes a timing table', async () => {
    const t0 = Date.now();
    const r = await runCli([path.join(FIXTURES, 'ok', 'pass.ipynb')]);
    const t1 = Date.now();
    assert.equal(r.code, 0, r.out);
    const nb = JSON.parse(fs.readFileSync(path.join(r.outDir, 'ok', 'pass.ipynb'), 'utf8'));
    const code = nb.cells.filter((c: Cell) => c.cell_type === 'code') as { metadata: { execution?: Record<string, string> } }[];
    const spans = code.map((c) => c.metadata.execution && [Date.parse(c.metadata.execution['iopub.execute_input']), Date.parse(c.metadata.execution['shell.execute_reply'])]);
    assert.equal(spans[4], undefined, 'the empty cell is not run, so it has no times');
    const run = spans.filter((s): s is number[] => s !== undefined);
    assert.equal(run.length, 5);
    let last = t0;
    for (const [start, end] of run) {
      assert.ok(Number.isFinite(start) && Number.isFinite(end), 'ISO timestamps');
      assert.ok(last <= start && start <= end && end <= t1, `cells run one after another within the run: ${[last, start, end, t1]}`);
      last = end;
    }
    const table = fs.readFileSync(path.join(r.outDir, 'ok', 'pass.small.timing.md'), 'utf8');
    const rows = table.split('\n').filter((l) => /^\| \d+ \|/.test(l));
    assert.equal(rows.length, 6, table);
    assert.match(rows[0], /^\| 1 \| \d+\.\d\d \| \d+% \| ok \| `console\.log\(1 \+ 1\);` \|$/);
    assert.match(rows[4], /^\| 5 \| 0\.00 \| 0% \| skipped \(empty\) \|/);
    // The table's seconds are the metadata's spans (to the 10 ms it prints).
    run.forEach(([start, end], i) => {
      const secs = Number(rows[i < 4 ? i : i + 1].split('|')[2]);
      assert.ok(Math.abs(secs - (end - start) / 1000) <= 0.011, `cell ${i + 1}: table ${secs} s, metadata ${(end - start) / 1000} s`);
    });
  });

  it('exits 1 naming the notebook, the cell number, the error name and message when a cell throws', async () => {
    const r = await runCli([path.join(FIXTURES, 'bad', 'fail.ipynb')]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /FAILED test\/fixtures\/notebooks\/bad\/fail\.ipynb in code cell 2 of 3 \(notebook cell index 3\)/);
    assert.match(r.out, /TypeError: notAFunction is not a function/);
    assert.doesNotMatch(r.out, /never runs/);
    const nb = JSON.parse(fs.readFileSync(path.join(r.outDir, 'bad', 'fail.ipynb'), 'utf8'));
    assert.equal(nb.cells[4].execution_count, null);
  });

  it('explains an invalid JSON notebook with its path and position and exits 1', async () => {
    const r = await runCli([path.join(FIXTURES, 'bad', 'invalid.ipynb')]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /bad\/invalid\.ipynb: invalid JSON at line 3, column 43/);
  });

  it('interrupts a hanging cell after --timeout, reports it, and goes on with the next notebook', async () => {
    // 10 s: a first cell compiles with the type checker, a few seconds on a loaded 2-core machine.
    const r = await runCli(['--timeout', '10', path.join(FIXTURES, 'bad', 'hang.ipynb'), path.join(FIXTURES, 'ok', 'pass.ipynb')]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /hang\.ipynb in code cell 2 of 3[\s\S]*TimeoutError: timeout after 10 s in cell 2/);
    assert.match(r.out, /\[2\/2\] ok\/pass\.ipynb[\s\S]*2 notebook\(s\) in [\d.]+ s: 1 ok, 1 failed/);
  });

  it('reports a kernel that dies in a cell with its exit signal', async () => {
    const r = await runCli([path.join(FIXTURES, 'bad', 'die.ipynb')]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /die\.ipynb in code cell 1 of 2[\s\S]*KernelDied: kernel died \(exit code null, signal SIGKILL\)/);
  });

  it('rejects an unknown target with exit 2 and lists the notebooks that exist', async () => {
    const r = await runCli(['--root', FIXTURES, 'no-such-notebook']);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /unknown target "no-such-notebook"/);
    assert.match(r.out, /Chapters under .*: bad, ok/);
  });

  it('runs a chapter by name under --root', async () => {
    const r = await runCli(['--root', FIXTURES, 'ok']);
    assert.equal(r.code, 0, r.out);
    assert.ok(fs.existsSync(path.join(r.outDir, 'ok', 'pass.html')));
  });

  it('leaves no kernel processes behind', () => {
    assert.deepEqual(leftoverKernels(), []);
    assert.deepEqual(fs.readdirSync(RUNTIME), [], 'connection files are removed');
  });
});
