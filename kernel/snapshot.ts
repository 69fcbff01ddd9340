/**
 * Kernel start from a V8 startup snapshot (Node's `--snapshot-blob`, see
 * Node's docs "Startup snapshot API" and `v8.startupSnapshot`).
 *
 * Most of a kernel start is TypeScript's: loading the compiler (about 9 MB of
 * JavaScript) and parsing the declarations a cell can use (the default lib and
 * @types/node, about 2.9 MB) before the first cell is checked. A snapshot
 * holds both, already done: the compiler loaded (tslab's copy) and those files
 * parsed and bound (their symbols made, about a third of building the type
 * checker) into SourceFiles, which TypeScript's `createSourceFile` hands out
 * instead of parsing again when the program asks for the same file with the
 * same text and options (anything else is parsed as usual, so a stale entry
 * costs time, never correctness).
 *
 * - Built lazily: after the first cell of a kernel started without one, in a
 *   background process at low priority ({@link scheduleSnapshotBuild}), with
 *   the declaration files that kernel's program read; checked by starting once
 *   from it before it is used; written to a temporary name and renamed.
 * - Kept in the code cache's folder ({@link codeCacheDir}: the user's own,
 *   mode 0700); V8 trusts a snapshot as it trusts code, so one in a folder or
 *   file that another user could write is never used.
 * - Keyed ({@link snapshotKey}) by Node's version, architecture and binary,
 *   and the size and time of TypeScript's file and of each parsed file: any
 *   change and the kernel starts without it (and builds a new one).
 * - Used by kernel/launch.ts (what kernel.json runs): it starts
 *   `node --snapshot-blob <blob> kernel.js ...` as a child and relays signals
 *   and the exit code; when that child dies before the kernel started (a
 *   damaged blob), the blob is deleted and the kernel runs without it.
 *   `GRADLAB_KERNEL_SNAPSHOT=0` turns all of this off.
 */
import { execFileSync, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Readable } from 'stream';
import { asciiSource, codeCacheDir, ownedPrivately } from './converter';
import { LAZY_JSDOC_FIXES, LAZY_JSDOC_KEY, patchSource } from './lazydoc';
import { spared } from './procs';
import { kernelEntry } from './spec';

/** Bumped when the snapshot's content or the way it is used changes. */
const FORMAT = 7;
/** The manifest: which files the current snapshot parsed, its key and size. */
export const MANIFEST = 'snapshot.json';
/** What kernel/launch.sh reads to start Node from the snapshot without a second Node choosing ({@link writeLaunchFile}). */
export const LAUNCH_FILE = 'snapshot.launch';
/** Held (with the builder's pid) while a snapshot is built in the background. */
const LOCK = 'snapshot.lock';

interface Manifest {
  format: number;
  key: string;
  files: string[];
  blobSize: number;
}

/** What the snapshot's main function leaves for the kernel (kernel/converter.ts loadTypeScript). */
export interface SnapshotState {
  ts: unknown;
  tsFile: string;
}

/** The snapshot's state when this process started from one. */
export function snapshotState(): SnapshotState | undefined {
  return (globalThis as { __gradlabSnapshot?: SnapshotState }).__gradlabSnapshot;
}

/** tslab's TypeScript (the compiler the kernel checks cells with). */
export function typeScriptFile(): string {
  const tslabDir = path.dirname(require.resolve('tslab/package.json'));
  return require.resolve('@tslab/typescript-for-tslab', { paths: [tslabDir] });
}

/** Whether snapshots are turned on (`GRADLAB_KERNEL_SNAPSHOT=0` turns them off; `1` uses one whenever it fits). */
export function snapshotsEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.GRADLAB_KERNEL_SNAPSHOT !== '0';
}

/** Kernel starts as the kernels measured them, in the cache folder: what {@link chooseStart} decides by. */
export const STARTS = 'starts.json';
/** How many starts of each kind are kept (the newest). */
const KEEP_STARTS = 5;

/**
 * One kernel start, measured by the kernel itself: from the launch (kernel.js starting) to the end
 * of its first cell's type check and emit, so that what a snapshot saves later (declarations of
 * an import, parsed ahead) counts too. `key`: the snapshot's, for a start from one.
 */
export interface StartRecord {
  mode: 'snapshot' | 'plain';
  ms: number;
  key?: string;
}

/**
 * Whether to start from the snapshot with this key, by the starts measured on this machine. How
 * much a snapshot saves depends on the machine: it is read page by page, and where a page fault is
 * expensive (some virtual machines) reading it takes as long as the parsing it saves. So: the first
 * two starts from a new snapshot are measured, then two without it, and from then on the kernel
 * starts the way whose last (up to 5) starts have the smaller median.
 */
export function chooseStart(key: string, starts: StartRecord[]): { snapshot: boolean; why: string } {
  const median = (xs: number[]) => {
    const a = [...xs].sort((x, y) => x - y);
    return a.length % 2 ? a[a.length >> 1]! : (a[a.length / 2 - 1]! + a[a.length / 2]!) / 2;
  };
  const snap = starts.filter((r) => r.mode === 'snapshot' && r.key === key).map((r) => r.ms).slice(-KEEP_STARTS);
  const plain = starts.filter((r) => r.mode === 'plain').map((r) => r.ms).slice(-KEEP_STARTS);
  if (snap.length < 2) return { snapshot: true, why: `measuring starts from the snapshot (${snap.length} of 2)` };
  if (plain.length < 2) return { snapshot: false, why: `measuring starts without the snapshot (${plain.length} of 2)` };
  const [a, b] = [median(snap), median(plain)];
  return { snapshot: a <= b, why: `median start ${a.toFixed(0)} ms from the snapshot, ${b.toFixed(0)} ms without it` };
}

/** The starts recorded in `dir` (none when the file is missing, damaged, or others could write it). */
export function readStarts(dir: string = codeCacheDir()): StartRecord[] {
  try {
    const file = path.join(dir, STARTS);
    if (!ownedPrivately(dir) || !ownedPrivately(file)) return [];
    const all = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    if (!Array.isArray(all)) return [];
    return all.filter((r): r is StartRecord => !!r && (r.mode === 'snapshot' || r.mode === 'plain') && Number.isFinite(r.ms) && r.ms > 0 && (r.key === undefined || typeof r.key === 'string'));
  } catch {
    return [];
  }
}

/** Add a start to `dir`'s record (the newest 5 of each kind and snapshot kept; written whole, then renamed). Best effort. */
export function recordStart(start: StartRecord, dir: string = codeCacheDir()): void {
  const tmp = path.join(dir, `${STARTS}.${process.pid}.tmp`);
  try {
    if (!ownedPrivately(dir)) return;
    const all = [...readStarts(dir), start];
    const kind = (r: StartRecord) => `${r.mode}:${r.key ?? ''}`;
    const kept = all.filter((r, i) => all.slice(i + 1).filter((later) => kind(later) === kind(r)).length < KEEP_STARTS).slice(-6 * KEEP_STARTS);
    fs.writeFileSync(tmp, JSON.stringify(kept), { mode: 0o600 });
    fs.renameSync(tmp, path.join(dir, STARTS));
  } catch {
    fs.rmSync(tmp, { force: true });
  }
}

/** The key of a snapshot blob, from its name (`snapshot-<key>.blob`). */
export function blobKey(blob: string): string {
  return path.basename(blob).replace(/^snapshot-/, '').replace(/\.blob$/, '');
}

/** How this kernel was launched (kernel/launch.ts): when, and from which snapshot. */
export interface LaunchInfo {
  /** The launch time (ms on the machine's monotonic clock, {@link monotonicOriginMs}) when a launcher started this process; else this process's start. */
  launched: number;
  /** The key of the snapshot this process started from. */
  from?: string;
}

/**
 * Take the launch information that kernel/launch.ts passed in the environment
 * (`GRADLAB_KERNEL_LAUNCHED`, `GRADLAB_KERNEL_FROM`), and remove it there, so that processes
 * the cells start do not inherit it.
 */
export function takeLaunchInfo(env: NodeJS.ProcessEnv = process.env): LaunchInfo {
  const launched = Number(env.GRADLAB_KERNEL_LAUNCHED);
  const from = env.GRADLAB_KERNEL_FROM || undefined;
  delete env.GRADLAB_KERNEL_LAUNCHED;
  delete env.GRADLAB_KERNEL_FROM;
  // GLIBC_TUNABLES as the launcher had it (snapshotChildEnv): cells and their child processes see the user's own.
  if (TUNABLES_WAS in env) {
    const was = env[TUNABLES_WAS]!;
    delete env[TUNABLES_WAS];
    if (was === 'none') delete env.GLIBC_TUNABLES;
    else if (was.startsWith('=')) env.GLIBC_TUNABLES = was.slice(1);
    // else not ours: GLIBC_TUNABLES stays as it is
  }
  return { launched: Number.isFinite(launched) && launched > 0 ? launched : monotonicOriginMs(), from };
}

/**
 * This process's time origin (`performance.now()`'s zero) on the machine's monotonic clock
 * (`process.hrtime`), in ms: a clock the launcher and the kernel it starts share. Node's
 * `performance.timeOrigin` is not one: each process reads the wall clock and the monotonic
 * clock one after the other at its start, and a pause between the two reads offsets it.
 */
export function monotonicOriginMs(): number {
  // performance.now() first, then the clock: a pause between the two reads (the first touch of
  // `performance` loads a module, 1.6 ms) can only make the difference larger, so take the least of three.
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const now = performance.now();
    best = Math.min(best, Number(process.hrtime.bigint()) / 1e6 - now);
  }
  return best;
}

/** The launcher's GLIBC_TUNABLES, for takeLaunchInfo to restore: `none` when it had none, else `=` and its value (kernel/launch.sh writes the same). */
const TUNABLES_WAS = 'GRADLAB_KERNEL_GLIBC_TUNABLES';

/**
 * The environment of a kernel started from the snapshot: the launcher's, with glibc's malloc asked to
 * back its large blocks with transparent huge pages (`glibc.malloc.hugetlb=1`, glibc 2.35 and later;
 * older glibc and other C libraries ignore it, and a value the user set for it is kept). Node reads
 * the whole blob into one such block: on a VM where a page fault is expensive that halved the faults
 * of a start (40 000 to 20 000) and its time to read the blob (0.84 s to 0.63 s, 38 MB). The value the
 * launcher had comes back before any cell runs (takeLaunchInfo).
 */
export function snapshotChildEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const was = env.GLIBC_TUNABLES;
  if (process.platform !== 'linux' || (was !== undefined && /(^|:)glibc\.malloc\.hugetlb=/.test(was))) return { ...env };
  return { ...env, GLIBC_TUNABLES: was ? `${was}:glibc.malloc.hugetlb=1` : 'glibc.malloc.hugetlb=1', [TUNABLES_WAS]: was === undefined ? 'none' : `=${was}` };
}

/**
 * Record this kernel's start (kernel/kernel.ts calls it after the first cell): from the launch to
 * `convertedAt` (a `performance.now()` of this process). A start without the snapshot counts only
 * when TypeScript came from its code cache: a first start, which compiles it and writes that cache,
 * is slower for a reason the next starts do not share.
 */
export function recordKernelStart(convertedAt: number, typeScriptFromCache: boolean, launch: LaunchInfo, dir: string = codeCacheDir()): void {
  // Not while a snapshot is being built: the build takes a core from the start it would be compared with.
  if (!snapshotsEnabled() || fs.existsSync(path.join(dir, LOCK))) return;
  const ms = monotonicOriginMs() + convertedAt - launch.launched;
  if (snapshotState() && launch.from) recordStart({ mode: 'snapshot', ms, key: launch.from }, dir);
  else if (!snapshotState() && typeScriptFromCache) recordStart({ mode: 'plain', ms }, dir);
}

/** The key of a snapshot of `files`: Node, TypeScript's file, each file's size and time. Throws when a file is gone. */
export function snapshotKey(files: string[], tsFile: string = typeScriptFile()): string {
  const h = crypto.createHash('sha1');
  h.update([FORMAT, LAZY_JSDOC_KEY, process.version, process.arch, process.execPath].join('\0'));
  for (const f of [tsFile, ...files]) {
    const st = fs.statSync(f);
    h.update(`\0${f}\0${st.size}\0${st.mtimeMs}`);
  }
  return h.digest('hex').slice(0, 16);
}

/** The snapshot to start from, when there is one that fits this Node, TypeScript and these files; else undefined. */
export function usableSnapshot(dir: string = codeCacheDir()): string | undefined {
  try {
    if (!ownedPrivately(dir)) return undefined;
    const m = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), 'utf8')) as Manifest;
    if (m.format !== FORMAT || !Array.isArray(m.files) || typeof m.key !== 'string') return undefined;
    if (snapshotKey(m.files) !== m.key) return undefined;
    const blob = path.join(dir, `snapshot-${m.key}.blob`);
    if (fs.statSync(blob).size !== m.blobSize || !ownedPrivately(blob)) return undefined;
    return blob;
  } catch {
    return undefined;
  }
}

/**
 * A file's size and modification time to the nanosecond, as GNU `stat -c '%s %.9Y'` (and BSD
 * `stat -f '%z %.9Fm'`) print them: a file written again in place within the same second differs.
 */
export function statSignature(file: string): string {
  const st = fs.statSync(file, { bigint: true });
  const ns = st.mtimeNs;
  return `${st.size} ${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`;
}

/**
 * Write (or remove) `dir`'s launch file for kernel/launch.sh: the usable snapshot ({@link usableSnapshot}:
 * its key, its blob's size and time), this checkout's kernel.js, this Node and TypeScript's file with their
 * sizes and times, and whether the
 * measured starts favour it ({@link chooseStart}). The launcher starts Node from the blob only while
 * all of these still match and only this user can write the folder, the file and the blob; otherwise
 * it runs kernel.js, which decides as kernel/launch.ts always has. The kernel writes it after each
 * first reply, the snapshot builder after a build. Best effort: removed when there is no usable
 * snapshot or a path holds a line break.
 */
export function writeLaunchFile(dir: string = codeCacheDir()): void {
  const file = path.join(dir, LAUNCH_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    if (!ownedPrivately(dir)) return;
    const blob = usableSnapshot(dir);
    if (!blob) return void fs.rmSync(file, { force: true });
    const tsFile = typeScriptFile();
    const key = blobKey(blob);
    // kernel.js of this checkout: another checkout sharing the cache folder may load another TypeScript.
    const lines = [
      'gradlab-launch 2', key, blob, statSignature(blob), kernelEntry(), process.execPath, statSignature(process.execPath),
      tsFile, statSignature(tsFile), chooseStart(key, readStarts(dir)).snapshot ? '1' : '0',
    ];
    if (lines.some((l) => /[\r\n]|^\s|\s$/.test(l))) return void fs.rmSync(file, { force: true });
    fs.writeFileSync(tmp, lines.join('\n') + '\n', { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Run `entry args` in a child Node started from `blob`, relaying SIGINT,
 * SIGTERM and SIGHUP to it and exiting with its exit code (or its signal). Resolves false,
 * with the blob deleted, when the child ended before the snapshot's main
 * function ran (a damaged blob): the caller then runs the kernel itself.
 */
export function runFromSnapshot(blob: string, entry: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    let ready = false;
    let settled = false;
    const child = spawn(process.execPath, ['--snapshot-blob', blob, entry, ...args], {
      stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
      // When this launch began and from which snapshot: the kernel measures its start (recordKernelStart).
      // GRADLAB_KERNEL_READY_FD: the snapshot's main function writes a byte there once it runs.
      env: { ...snapshotChildEnv(process.env), GRADLAB_KERNEL_LAUNCHED: String(monotonicOriginMs()), GRADLAB_KERNEL_FROM: blobKey(blob), GRADLAB_KERNEL_READY_FD: '3' },
    });
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
    const relay = signals.map((s) => [s, () => child.kill(s)] as const);
    for (const [s, f] of relay) process.on(s, f);
    const fail = () => {
      if (settled) return;
      settled = true;
      for (const [s, f] of relay) process.off(s, f);
      try {
        fs.unlinkSync(blob);
      } catch {
        // already gone
      }
      resolve(false);
    };
    const marker = child.stdio[3] as Readable | null;
    marker?.on('error', () => undefined);
    marker?.once('data', () => {
      ready = true;
      settled = true;
      marker.destroy();
      // The kernel exits with the process that started it: this launcher too (the kernel then sees its parent gone).
      const parent = process.ppid;
      setInterval(() => {
        if (process.ppid !== parent) process.exit(0);
      }, 1000).unref();
      resolve(true);
    });
    child.on('error', () => fail());
    child.on('exit', (code, signal) => {
      if (!ready) return fail();
      if (signal) {
        // End the same way (a front end reports a kernel killed by SIGKILL as such).
        for (const [s, f] of relay) process.off(s, f);
        process.kill(process.pid, signal);
        setTimeout(() => process.exit(128 + (os.constants.signals[signal] ?? 0)), 200);
        return;
      }
      process.exit(code ?? 1);
    });
  });
}

/** The text TypeScript's `createSourceFile` starts with (the snapshot's copy answers from its parsed files first). */
const PARSE_ANCHOR = 'function createSourceFile(fileName, sourceText, languageVersionOrOptions, setParentNodes = false, scriptKind) {';
const PARSE_FIX = `${PARSE_ANCHOR}
    const gradlabParsed = gradlabPreparsed(fileName, sourceText, languageVersionOrOptions, setParentNodes, scriptKind);
    if (gradlabParsed) return gradlabParsed;`;
/**
 * Looks up a file parsed (and bound) when the snapshot was built: same name, text, language
 * version and format; used once. The program's own module test must agree with the one the file
 * was bound with (a script's declarations are global, a module's are not); else it is parsed again.
 */
const PARSE_FN = `
function gradlabPreparsed(fileName, sourceText, options, setParentNodes, scriptKind) {
  const cache = globalThis.__gradlabPreparsed;
  const hit = cache && cache.get(fileName);
  if (!hit || setParentNodes || scriptKind !== undefined || hit.file.text !== sourceText) return undefined;
  const o = typeof options === "object" ? options : { languageVersion: options };
  if (o.languageVersion !== hit.languageVersion || o.impliedNodeFormat !== undefined) return undefined;
  cache.delete(fileName);
  const boundAs = hit.file.externalModuleIndicator;
  if (o.setExternalModuleIndicator) o.setExternalModuleIndicator(hit.file);
  if (hit.file.externalModuleIndicator !== boundAs) return undefined;
  return hit.file;
}
`;

/**
 * The snapshot's entry script (run by `node --build-snapshot`; it may only
 * require Node's own modules, so TypeScript is read and evaluated as text):
 * loads TypeScript, parses `files`, and sets the main function that starts
 * the kernel script named on the command line.
 */
export function entrySource(tsFile: string, files: string[]): string {
  return `'use strict';
const fs = require('fs');
const path = require('path');
const v8 = require('v8');
const TS_FILE = ${JSON.stringify(tsFile)};
const FILES = ${JSON.stringify(files)};
// One byte per character, and declaration files' comments parsed when read: kernel/converter.ts
// asciiSource and kernel/lazydoc.ts patchSource, the same functions and fixes.
const asciiSource = ${asciiSource.toString()};
const patchSource = ${patchSource.toString()};
const escaped = asciiSource(fs.readFileSync(TS_FILE, 'utf8'));
const source = patchSource(escaped, ${JSON.stringify(LAZY_JSDOC_FIXES)}) || escaped;
const parseHook = patchSource(source, [[${JSON.stringify(PARSE_ANCHOR)}, ${JSON.stringify(PARSE_FIX)}]]);
if (parseHook === undefined) throw new Error('gradlab snapshot: TypeScript is not the version gradlab patches');
const patched = parseHook + ${JSON.stringify(PARSE_FN)};
const mod = { exports: {} };
(0, eval)('(function (exports, require, module, __filename, __dirname) {' + patched + '\\n})')(mod.exports, require, mod, TS_FILE, path.dirname(TS_FILE));
const ts = mod.exports;
// tslab's target for Node >= 18 (tslab/dist/converter.js getTranspileTargets).
const languageVersion = ts.ScriptTarget.ES2022;
const parsed = new Map();
for (const f of FILES) {
  // Read as the program reads it (ts.sys.readFile: a byte order mark dropped), with the size and time it had.
  const st = fs.statSync(f);
  const file = ts.createSourceFile(f, ts.sys.readFile(f), { languageVersion });
  // Bound too (symbols and parents), as a file reused from an earlier program is: the type
  // checker binds only files not bound yet. Of the compiler options only the target (and
  // alwaysStrict, for files other than declarations) shapes a declaration file's binding.
  ts.bindSourceFile(file, { target: languageVersion });
  parsed.set(f, { languageVersion, file, size: st.size, mtimeMs: st.mtimeMs });
}
globalThis.__gradlabPreparsed = parsed;
// The program reads each file before it parses it: a parsed file whose size and time are still those
// it had is not read again, its text is the parsed one (the same test as the snapshot's own key).
const readFile = ts.sys.readFile;
ts.sys.readFile = function (fileName, encoding) {
  const hit = encoding === undefined ? parsed.get(fileName) : undefined;
  if (hit) {
    try {
      const st = fs.statSync(fileName);
      if (st.size === hit.size && st.mtimeMs === hit.mtimeMs) return hit.file.text;
    } catch {
      // gone: read as usual (and fail as usual)
    }
  }
  return readFile.call(this, fileName, encoding);
};
v8.startupSnapshot.setDeserializeMainFunction(() => {
  if (process.env.GRADLAB_SNAPSHOT_VERIFY === '1') {
    process.stdout.write('gradlab-snapshot-ok ' + parsed.size + ' ' + ts.version + '\\n');
    return;
  }
  // Node leaves Error.stackTraceLimit out of a snapshot: without it errors carry no stack frames.
  if (typeof Error.stackTraceLimit !== 'number') Error.stackTraceLimit = 10;
  globalThis.__gradlabSnapshot = { ts, tsFile: TS_FILE };
  // Tell runFromSnapshot's launcher that the snapshot loaded: only when it asked (fd 3 is another
  // file in a kernel kernel/launch.sh started, e.g. libuv's own).
  const readyFd = process.env.GRADLAB_KERNEL_READY_FD;
  delete process.env.GRADLAB_KERNEL_READY_FD;
  if (readyFd === '3') {
    try {
      fs.writeSync(3, 'R');
      fs.closeSync(3);
    } catch {}
  }
  const entry = path.resolve(process.argv[1]);
  require('module').createRequire(entry)(entry).startFromSnapshot(process.argv.slice(2));
});
`;
}

/**
 * Build the snapshot of `files` into `dir` (synchronously: the background
 * process of {@link scheduleSnapshotBuild} runs this), check that Node starts
 * from it, then rename it into place and write the manifest. Returns the blob.
 */
export function buildSnapshot(dir: string, files: string[]): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const tsFile = typeScriptFile();
  const key = snapshotKey(files, tsFile);
  const entry = path.join(dir, `snapshot-entry.${process.pid}.js`);
  const tmp = path.join(dir, `snapshot-${key}.${process.pid}.tmp`);
  const blob = path.join(dir, `snapshot-${key}.blob`);
  try {
    fs.writeFileSync(entry, entrySource(tsFile, files), { mode: 0o600 });
    execFileSync(process.execPath, ['--snapshot-blob', tmp, '--build-snapshot', entry], { stdio: 'ignore', timeout: 300_000 });
    fs.chmodSync(tmp, 0o600);
    const out = execFileSync(process.execPath, ['--snapshot-blob', tmp, entry], {
      env: { ...process.env, GRADLAB_SNAPSHOT_VERIFY: '1' }, encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'ignore'],
    });
    if (!out.startsWith(`gradlab-snapshot-ok ${files.length} `)) throw new Error(`gradlab snapshot: the check run printed ${JSON.stringify(out)}`);
    const size = fs.statSync(tmp).size;
    fs.renameSync(tmp, blob);
    const manifest: Manifest = { format: FORMAT, key, files, blobSize: size };
    const mtmp = path.join(dir, `${MANIFEST}.${process.pid}.tmp`);
    fs.writeFileSync(mtmp, JSON.stringify(manifest), { mode: 0o600 });
    fs.renameSync(mtmp, path.join(dir, MANIFEST));
    for (const f of fs.readdirSync(dir)) {
      if (/^snapshot-[0-9a-f]+\.blob$/.test(f) && path.join(dir, f) !== blob) fs.rmSync(path.join(dir, f), { force: true });
    }
    writeLaunchFile(dir);
    return blob;
  } finally {
    fs.rmSync(entry, { force: true });
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * After the first cell of a kernel that started without a snapshot: build one
 * in a background process (low priority, one at a time per folder), for the
 * declaration files the kernel's program read. Best effort: failures are ignored.
 */
export function scheduleSnapshotBuild(files: string[], dir: string = codeCacheDir()): void {
  if (!snapshotsEnabled() || snapshotState()) return;
  try {
    // Files on disk only (tslab's __prev__.d.ts of earlier cells lives in memory).
    files = files.filter((f) => path.isAbsolute(f) && fs.statSync(f, { throwIfNoEntry: false })?.isFile());
    if (!files.length) return;
    if (usableSnapshot(dir)) return;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!ownedPrivately(dir)) return;
    const lock = path.join(dir, LOCK);
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx', mode: 0o600 });
    } catch {
      // Another kernel builds; take over when its builder is gone or took more than ten minutes.
      if (builderAlive(lock) && Date.now() - fs.statSync(lock).mtimeMs < 600_000) return;
      fs.writeFileSync(lock, String(process.pid), { mode: 0o600 });
    }
    const list = path.join(dir, `snapshot-files.${process.pid}.json`);
    fs.writeFileSync(list, JSON.stringify(files), { mode: 0o600 });
    const child = spawn(process.execPath, [__filename, '--build', dir, list, lock], { detached: true, stdio: 'ignore' });
    child.on('error', () => undefined);
    if (child.pid) {
      // A kernel's shutdown stops the processes it started: not this one (a few seconds, then it exits).
      spared.add(child.pid);
      fs.writeFileSync(lock, String(child.pid), { mode: 0o600 });
      try {
        os.setPriority(child.pid, 19);
      } catch {
        // not allowed: it runs at normal priority
      }
    }
    child.unref();
  } catch {
    // no snapshot this time
  }
}

/** Whether the process named in a lock file (its pid) still runs. */
function builderAlive(lock: string): boolean {
  try {
    process.kill(Number(fs.readFileSync(lock, 'utf8')), 0);
    return true;
  } catch {
    return false;
  }
}

/** Background builder: `node snapshot.js --build <dir> <files.json> <lock>`. */
if (require.main === module && process.argv[2] === '--build') {
  const [dir, list, lock] = process.argv.slice(3) as [string, string, string];
  try {
    buildSnapshot(dir, JSON.parse(fs.readFileSync(list, 'utf8')) as string[]);
  } catch {
    // best effort: the next kernel start tries again
  } finally {
    fs.rmSync(list, { force: true });
    fs.rmSync(lock, { force: true });
  }
}
