/**
 * The course map `out/index.html`: the chapter's sections (from `notebooks/course.json`)
 * mapped to the notebooks that teach them, and every notebook by chapter, each with its
 * status, time at each size it was run at, backend and exercise count.
 *
 * Results persist across runs in `out/runs.json` (one record per notebook and size), so
 * `npm start -- 03-gpu` updates chapter 03's rows and keeps what earlier runs found for
 * the rest; a notebook never run shows "not run".
 *
 * ```ts
 * recordRuns('out', [{ chapter: '01-backprop', name: '01-chain-rule', ok: true, seconds: 9.2, ... }]);
 * fs.writeFileSync('out/index.html', courseMapPage(readCourse('notebooks'), notebookEntries('notebooks', 'out'), readRuns('out')));
 * ```
 */
import * as fs from 'fs';
import * as path from 'path';
import { escapeHtml, notebookTitle, page } from './html';
import { cellSource, listNotebooks, readNotebook, type Notebook } from './notebook';

/** One section of the chapter and the notebooks (`<chapter>/<name>`) that teach it. */
export interface CourseSection {
  title: string;
  /** What the section covers, one line. */
  topics?: string;
  notebooks: string[];
}

/** `notebooks/course.json`. */
export interface Course {
  title: string;
  sections: CourseSection[];
}

/** A notebook's last run at one size. */
export interface RunRecord {
  ok: boolean;
  seconds: number;
  /** The backend the notebook printed (`wasm (CPU, 2 cores)`), when it printed one. */
  backend?: string;
  /** ISO time the run ended. */
  when: string;
  /** `Name: message` of the failure. */
  error?: string;
}

/** `out/runs.json`: `<chapter>/<name>` → size → its last run. */
export type RunRecords = Record<string, Partial<Record<string, RunRecord>>>;

/** A run to record (see {@link recordRuns}). */
export interface RunToRecord extends RunRecord {
  chapter: string;
  name: string;
  size: string;
}

const RUNS = 'runs.json';

/**
 * `<root>/course.json`, validated: null when the file does not exist (the map then lists
 * the notebooks by chapter only). Throws naming the file and what is wrong: bad JSON, a
 * section without title or notebooks, or a notebook that does not exist under `root`.
 */
export function readCourse(root: string): Course | null {
  const file = path.join(root, 'course.json');
  if (!fs.existsSync(file)) return null;
  let course: Course;
  try {
    course = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: invalid JSON (${(e as Error).message}); fix the file or delete it to list notebooks by chapter only`);
  }
  if (typeof course?.title !== 'string' || !Array.isArray(course.sections)) {
    throw new Error(`${file}: needs "title" (a string) and "sections" (a list of { title, topics, notebooks })`);
  }
  course.sections.forEach((s, i) => {
    if (typeof s?.title !== 'string' || !Array.isArray(s.notebooks) || !s.notebooks.length) {
      throw new Error(`${file}: section ${i + 1} needs "title" and a non-empty "notebooks" list`);
    }
    for (const nb of s.notebooks) {
      if (!fs.existsSync(path.join(root, `${nb}.ipynb`))) {
        throw new Error(`${file}: section "${s.title}" names ${nb}, but ${path.join(root, `${nb}.ipynb`)} does not exist (write <chapter>/<name> without .ipynb)`);
      }
    }
  });
  return course;
}

/** `out/runs.json`, or {} when there is none or it cannot be read (a broken file is replaced on the next run). */
export function readRuns(outDir: string): RunRecords {
  try {
    const runs = JSON.parse(fs.readFileSync(path.join(outDir, RUNS), 'utf8'));
    return runs && typeof runs === 'object' && !Array.isArray(runs) ? runs : {};
  } catch {
    return {};
  }
}

/** Merge runs into `out/runs.json` (a notebook's earlier record at the same size is replaced); returns the whole record. */
export function recordRuns(outDir: string, runs: RunToRecord[]): RunRecords {
  const all = readRuns(outDir);
  for (const { chapter, name, size, ...rec } of runs) (all[`${chapter}/${name}`] ??= {})[size] = rec;
  fs.mkdirSync(outDir, { recursive: true });
  const tmp = path.join(outDir, `${RUNS}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(all, null, 1) + '\n');
  fs.renameSync(tmp, path.join(outDir, RUNS));
  return all;
}

/** The distinct exercise ids a notebook checks (`gl.exercise.check('1.1-a', ...)`), in order. */
export function exerciseIds(nb: Notebook): string[] {
  const ids: string[] = [];
  for (const c of nb.cells) {
    if (c.cell_type !== 'code') continue;
    for (const m of cellSource(c).matchAll(/\bexercise\.check\(\s*(['"`])([^'"`]+)\1/g)) if (!ids.includes(m[2])) ids.push(m[2]);
  }
  return ids;
}

/** One notebook on the map. `html` is relative to the map page, present when an HTML export exists. */
export interface MapNotebook {
  chapter: string;
  name: string;
  title: string;
  exercises: number;
  html?: string;
}

/**
 * Every notebook under `root` (and the `extra` files, e.g. ones run by path from elsewhere)
 * with its title, exercise count and (when `outDir` has it) its HTML page. A notebook's
 * chapter is its folder's name, as the runner names its outputs.
 */
export function notebookEntries(root: string, outDir: string, extra: string[] = []): MapNotebook[] {
  const files = listNotebooks(root);
  const seen = new Set(files.map((f) => path.resolve(f)));
  for (const f of extra) if (!seen.has(path.resolve(f))) { seen.add(path.resolve(f)); files.push(f); }
  return files.map((file) => {
    const chapter = path.basename(path.dirname(path.resolve(file)));
    const name = path.basename(file, '.ipynb');
    let title = name;
    let exercises = 0;
    try {
      const nb = readNotebook(file);
      title = notebookTitle(nb, name);
      exercises = exerciseIds(nb).length;
    } catch {
      // an unreadable notebook is still listed; its run says why it failed
    }
    const html = path.join(outDir, chapter, `${name}.html`);
    return { chapter, name, title, exercises, html: fs.existsSync(html) ? `${chapter}/${name}.html` : undefined };
  });
}

const SIZE_ORDER = ['small', 'medium', 'large'];

function latest(rec: RunRecords[string] | undefined): RunRecord | undefined {
  return Object.values(rec ?? {}).filter((r): r is RunRecord => !!r).sort((a, b) => b.when.localeCompare(a.when))[0];
}

function row(nb: MapNotebook, runs: RunRecords, withChapter: boolean): string {
  const rec = runs[`${nb.chapter}/${nb.name}`];
  const last = latest(rec);
  const href = (p: string) => escapeHtml(p.split('/').map(encodeURIComponent).join('/'));
  const title = nb.html ? `<a href="${href(nb.html)}">${escapeHtml(nb.title)}</a>` : escapeHtml(nb.title);
  const status = !last ? '<span class="muted">not run</span>' : last.ok ? '<span class="ok">ok</span>' : '<span class="bad">failed</span>';
  const sizes = Object.keys(rec ?? {}).sort((a, b) => SIZE_ORDER.indexOf(a) - SIZE_ORDER.indexOf(b));
  const times = sizes.map((s) => {
    const r = rec![s]!;
    return `${escapeHtml(s)} ${r.seconds.toFixed(1)} s${r.ok ? '' : ' ✗'}`;
  }).join('<br>');
  const err = last && !last.ok && last.error ? `<div class="err">${escapeHtml(last.error)}</div>` : '';
  return `<tr><td>${title}${err}</td>${withChapter ? `<td><code>${escapeHtml(nb.chapter)}</code></td>` : `<td><code>${escapeHtml(nb.name)}.ipynb</code></td>`}` +
    `<td>${status}</td><td class="num">${times || '—'}</td><td>${escapeHtml(last?.backend ?? '—')}</td><td class="num">${nb.exercises || '—'}</td></tr>`;
}

const MAP_STYLE = `<style>
table.list { table-layout: fixed; } .list th:nth-child(1) { width: 46%; } .list th:nth-child(2) { width: 17%; }
.list th:nth-child(3) { width: 8%; } .list th:nth-child(4) { width: 11%; } .list th:nth-child(6) { width: 8%; }
.list td { vertical-align: top; } .list td:nth-child(2), .list td:nth-child(3) { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.list td:nth-child(5) { font-size: 13px; color: var(--muted); }
</style>`;

const HEAD = (first: string) =>
  `<tr><th>notebook</th><th>${first}</th><th>status</th><th class="num">time (size)</th><th>backend</th><th class="num">exercises</th></tr>`;

/**
 * The course map page: the sections of `course` (when given) with the notebooks that
 * teach them, then every notebook by chapter; each row has status (ok / failed / not
 * run), the time of its last run at each size, the backend and the exercise count.
 */
export function courseMapPage(course: Course | null, notebooks: MapNotebook[], runs: RunRecords, now = new Date()): string {
  const byKey = new Map(notebooks.map((n) => [`${n.chapter}/${n.name}`, n]));
  const ran = notebooks.map((n) => latest(runs[`${n.chapter}/${n.name}`]));
  const ok = ran.filter((r) => r?.ok).length;
  const failed = ran.filter((r) => r && !r.ok).length;
  const exercises = notebooks.filter((n) => !/^99-/.test(n.name)).reduce((a, n) => a + n.exercises, 0);
  const summary = `${notebooks.length} notebooks: ${ok} ok, ${failed} failed, ${notebooks.length - ok - failed} not run · ` +
    `${exercises} exercises · ${now.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  const sections = course
    ? `<h2>章节地图 (course map)</h2>\n` + course.sections.map((s, i) => {
      const rows = s.notebooks.map((k) => byKey.get(k)).filter((n): n is MapNotebook => !!n).map((n) => row(n, runs, true)).join('\n');
      return `<h3>${i + 1}. ${escapeHtml(s.title)}</h3>\n${s.topics ? `<p class="muted">${escapeHtml(s.topics)}</p>\n` : ''}` +
        `<table class="list">${HEAD('chapter')}\n${rows}</table>`;
    }).join('\n')
    : '';
  const chapters = [...new Set(notebooks.map((n) => n.chapter))];
  const list = `<h2>${course ? '全部笔记本 (all notebooks)' : 'notebooks'}</h2>\n` + chapters.map((ch) =>
    `<h3>${escapeHtml(ch)}</h3>\n<table class="list">${HEAD('file')}\n` +
    notebooks.filter((n) => n.chapter === ch).map((n) => row(n, runs, false)).join('\n') + '</table>').join('\n');
  const title = course ? course.title : 'gradlab notebooks';
  return page(title, `<span>${escapeHtml(summary)}</span>`, `${MAP_STYLE}\n<h1>${escapeHtml(title)}</h1>\n${sections}\n${list}`);
}

/**
 * Record `runs`, then write `<outDir>/index.html` for every notebook under `root` and the
 * `extra` notebook files; returns its path.
 */
export function writeCourseMap(outDir: string, root: string, runs: RunToRecord[], extra: string[] = []): string {
  const all = recordRuns(outDir, runs);
  const file = path.join(outDir, 'index.html');
  fs.writeFileSync(file, courseMapPage(readCourse(root), notebookEntries(root, outDir, extra), all));
  return file;
}
