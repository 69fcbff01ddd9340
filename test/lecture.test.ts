/**
 * Lecture mode in `npm start`: the size knob (--size / GRADLAB_SIZE), the course map
 * out/index.html (notebooks/course.json + out/runs.json) and the readiness check
 * (--check), on the fixture notebooks and on the real chapter's course.json.
 */
import { strict as assert } from 'assert';
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { courseMapPage, exerciseIds, notebookEntries, readCourse, readRuns, recordRuns } from '../kernel/coursemap';
import { listNotebooks, parseNotebook } from '../kernel/notebook';
import { fixFor } from '../kernel/run';

const ROOT = path.resolve(__dirname, '..', '..');
const NOTEBOOKS = path.join(ROOT, 'notebooks');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'notebooks');
const RUN = path.join(ROOT, 'dist', 'kernel', 'run.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-lecture-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [RUN, ...args], { env: { ...process.env, ...env }, cwd: ROOT, timeout: 280_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: stdout + stderr }));
  });
}

/** The stdout text of every code cell of an executed notebook. */
function printed(file: string): string {
  const nb = JSON.parse(fs.readFileSync(file, 'utf8'));
  return nb.cells.flatMap((c: { outputs?: { text?: string[] }[] }) => c.outputs ?? []).map((o: { text?: string[] }) => (o.text ?? []).join('')).join('');
}

describe('the course map (kernel/coursemap.ts) for the real chapters', () => {
  const course = readCourse(NOTEBOOKS)!;
  const topic = listNotebooks(NOTEBOOKS)
    .map((f) => `${path.basename(path.dirname(f))}/${path.basename(f, '.ipynb')}`)
    .filter((k) => !/\/(00-index|99-solutions)$/.test(k));

  it('has the nine sections of the chapter, each naming notebooks that exist', () => {
    assert.equal(course.sections.length, 9);
    for (const en of ['losses', 'backpropagation', 'numerical stability', 'activations', 'optimisers and schedules',
      'regularisation', 'engineering practice', 'GPU and memory', 'distributed training']) {
      assert.ok(course.sections.some((s) => s.title.includes(`(${en})`)), `a section "(${en})"`);
    }
  });

  it('maps every topic notebook to at least one section', () => {
    const mapped = new Set(course.sections.flatMap((s) => s.notebooks));
    assert.deepEqual(topic.filter((k) => !mapped.has(k)), [], 'topic notebooks in no section of notebooks/course.json');
  });

  it('lists every notebook with its title, status and exercise count', () => {
    const entries = notebookEntries(NOTEBOOKS, path.join(tmp, 'none'));
    assert.equal(entries.length, listNotebooks(NOTEBOOKS).length);
    const runs = { '01-backprop/01-chain-rule': { small: { ok: true, seconds: 9.25, when: '2026-01-01T00:00:00Z', backend: 'wasm (CPU)' } } };
    const html = courseMapPage(course, entries, runs);
    for (const e of entries) assert.ok(html.includes(`<code>${e.name}.ipynb</code>`), `${e.chapter}/${e.name} listed`);
    assert.match(html, /small 9\.3 s/);
    const rows = entries.length + course.sections.reduce((a, s) => a + s.notebooks.length, 0);
    assert.equal((html.match(/<span class="muted">not run<\/span>/g) ?? []).length, rows - 2,
      'every row but the two of 01-chain-rule (its section row and its chapter row) says "not run"');
    assert.match(html, new RegExp(`${entries.length} notebooks: 1 ok, 0 failed, ${entries.length - 1} not run · \\d+ exercises`));
    const chainRule = entries.find((e) => e.name === '01-chain-rule')!;
    assert.equal(chainRule.exercises, 3);
    const solutions = entries.filter((e) => e.name === '99-solutions');
    for (const s of solutions) {
      const chapterExercises = entries.filter((e) => e.chapter === s.chapter && e.name !== '99-solutions').reduce((a, e) => a + e.exercises, 0);
      assert.equal(s.exercises, chapterExercises, `${s.chapter}: the solutions check every exercise of the chapter`);
    }
  });

  it('counts distinct exercise ids and rejects a course.json naming a missing notebook', () => {
    const nb = parseNotebook(JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [
      { cell_type: 'code', id: 'a', metadata: {}, outputs: [], execution_count: null,
        source: "gl.exercise.check('9.1-a', x, 1);\ngl.exercise.check(\"9.1-b\", y, 2);\ngl.exercise.check('9.1-a', x, 1, { strict: true });" },
      { cell_type: 'markdown', id: 'b', metadata: {}, source: "gl.exercise.check('not-code', 1, 1)" },
    ] }));
    assert.deepEqual(exerciseIds(nb), ['9.1-a', '9.1-b']);
    const root = fs.mkdtempSync(path.join(tmp, 'root-'));
    fs.writeFileSync(path.join(root, 'course.json'), JSON.stringify({ title: 't', sections: [{ title: 'S', notebooks: ['01-x/01-y'] }] }));
    assert.throws(() => readCourse(root), /section "S" names 01-x\/01-y, but .*01-x\/01-y\.ipynb does not exist/);
    fs.writeFileSync(path.join(root, 'course.json'), '{ "title": ');
    assert.throws(() => readCourse(root), /course\.json: invalid JSON/);
  });

  it('keeps earlier runs in runs.json: one record per notebook and size, the latest replacing', () => {
    const out = fs.mkdtempSync(path.join(tmp, 'runs-'));
    const rec = (size: string, seconds: number) => ({ chapter: 'c', name: 'n', size, ok: true, seconds, when: new Date().toISOString() });
    recordRuns(out, [rec('small', 1)]);
    recordRuns(out, [rec('medium', 5)]);
    recordRuns(out, [rec('small', 2)]);
    const runs = readRuns(out);
    assert.deepEqual(Object.keys(runs['c/n']!), ['small', 'medium']);
    assert.equal(runs['c/n']!.small!.seconds, 2);
    fs.writeFileSync(path.join(out, 'runs.json'), 'garbage');
    assert.deepEqual(readRuns(out), {}, 'a broken runs.json is ignored (and replaced on the next run)');
  });
});

describe('npm start -- --size and --check (fixtures)', function () {
  this.timeout(300_000);

  it('--size medium reaches the notebook (GRADLAB_SIZE), the timing table, runs.json and the course map', async () => {
    const out = path.join(tmp, 'sized');
    const small = await runCli(['--out', out, '--root', FIXTURES, 'ok/sized']);
    assert.equal(small.code, 0, small.out);
    const medium = await runCli(['--out', out, '--root', FIXTURES, '--size', 'medium', 'ok/sized'], { GRADLAB_SIZE: '' });
    assert.equal(medium.code, 0, medium.out);
    const text = printed(path.join(out, 'ok', 'sized.ipynb'));
    assert.match(text, /size medium \(GRADLAB_SIZE=medium\): points 5 \| small: points 3 \| large: points 9/);
    assert.match(text, /points: 5, sum 2\.50/, 'the experiment ran at the medium size');
    assert.match(fs.readFileSync(path.join(out, 'ok', 'sized.small.timing.md'), 'utf8'), /· size small ·/);
    assert.match(fs.readFileSync(path.join(out, 'ok', 'sized.medium.timing.md'), 'utf8'), /backend \w+ .* · size medium ·/);
    const runs = readRuns(out)['ok/sized']!;
    assert.deepEqual(Object.keys(runs).sort(), ['medium', 'small']);
    const map = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
    assert.match(map, /small \d+\.\d s<br>medium \d+\.\d s/);
    assert.match(map, /<code>fail\.ipynb<\/code><\/td><td><span class="muted">not run<\/span>/, 'notebooks never run are listed too');
  });

  it('rejects a bad --size with exit 2', async () => {
    const r = await runCli(['--size', 'huge']);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /--size needs one of small, medium, large, got "huge"/);
  });

  it('--check runs on the default backend and webgpu and prints a readiness report with the failing cell and a fix', async () => {
    const out = path.join(tmp, 'check');
    const r = await runCli(['--out', out, '--root', FIXTURES, '--check', 'ok/sized', 'bad/fail'], { GRADLAB_SIZE: 'large', GRADLAB_BACKEND: '' });
    assert.equal(r.code, 1, r.out);
    const report = r.out.slice(r.out.indexOf('gradlab readiness check'));
    assert.match(report, /^gradlab readiness check · size small ·/, '--check runs at size small whatever GRADLAB_SIZE says');
    assert.match(report, /✗ default +\w+ \(.+\)\n {2}1\/2 notebooks ok in [\d.]+ min/);
    assert.match(report, /✗ webgpu +webgpu \(.+\)\n {2}1\/2 notebooks ok/);
    assert.match(report, /✗ bad\/fail cell 2\/3: TypeError: notAFunction is not a function\n {4}fix: .*npm start -- fail\n {4}see: .*check\/webgpu\/bad\/fail\.html#cell-3/);
    assert.match(report, /NOT READY/);
    assert.ok(report.split('\n').length <= 24, 'fits one screen');
    assert.match(printed(path.join(out, 'check', 'webgpu', 'ok', 'sized.ipynb')), /backend webgpu .*\n.*size small/);
    const ok = await runCli(['--out', out, '--root', FIXTURES, '--check', '--backends', 'cpu', 'ok/sized']);
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /✓ cpu +cpu \(.*\)[\s\S]*READY: every notebook runs on cpu\./);
  });

  it('fixFor names what to do for a backend that cannot start, a timeout and a dead kernel', () => {
    const base = { ename: 'BackendError', evalue: "backend 'webgpu' cannot load: Dawn found no GPU adapter", traceback: [] };
    assert.match(fixFor({ kind: 'error', ...base }, 'webgpu', 300), /webgpu cannot start on this machine .*npm run doctor/);
    assert.match(fixFor({ kind: 'timeout', ename: 'TimeoutError', evalue: 'x', traceback: [] }, 'default', 60), /past the 60 s limit: raise --timeout/);
    assert.match(fixFor({ kind: 'died', ename: 'KernelDied', evalue: 'x', traceback: [] }, 'default', 60), /died/);
    assert.match(fixFor({ kind: 'error', ename: 'Error', evalue: "Cannot find module 'vega'", traceback: [] }, 'default', 60), /npm install/);
  });
});
