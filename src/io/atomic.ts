/**
 * Atomic file replacement: write a temporary file next to the target, make it
 * durable, rename it over the target, make the rename durable.
 *
 * Why a crash cannot leave a half-written target: `rename(2)` within one
 * directory replaces the name atomically (POSIX), so a reader sees either the
 * old file or the new one, never a mix; the new file's bytes are fsync'd
 * *before* the rename, so after a power loss the name cannot point at a file
 * whose data never reached the disk (the classic ext4 "zero-length file" case);
 * and the directory is fsync'd after the rename, so the rename itself survives.
 * A crash before the rename leaves the previous target untouched plus a stray
 * temporary file `<target>.tmp-<pid>-<hex>`, which the next write to the same
 * target removes once its process is gone.
 *
 * Reference: the same protocol as `torch.save` users get from
 * `torch.distributed.checkpoint`'s FileSystemWriter / `os.replace` recipes,
 * and SQLite's and LevelDB's "write, fsync, rename, fsync dir".
 * Introduced in notebooks/02-optim.
 */
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

/** What a writer callback gets: the open temporary file. */
export interface AtomicFile {
  /** The file handle (write with `handle.write` / `handle.writev` at explicit positions). */
  handle: fs.promises.FileHandle;
  /** The temporary file's path. */
  tmpPath: string;
}

/** Options of {@link writeAtomic}. */
export interface WriteAtomicOptions {
  /**
   * Called after the temporary file is written and fsync'd, just before the rename.
   * For tests of crash safety (a test can stop the process here); default none.
   */
  beforeRename?: (tmpPath: string) => void | Promise<void>;
}

/** Temporary files this process is writing now (never cleaned while in flight). */
const inFlight = new Set<string>();

/** True if a process with this id exists (and could still be writing). */
function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove the temporary files that crashed writes to `target` left behind:
 * `<target>.tmp-<pid>-<hex>` whose process is gone (or is this process, and not
 * writing it now). Returns the paths removed. A file whose process id now belongs to
 * another live process is left alone (it might be a concurrent save).
 * Introduced in notebooks/02-optim.
 */
export function cleanStaleTemps(target: string): string[] {
  const dir = path.dirname(path.resolve(target));
  const base = path.basename(target);
  const re = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.tmp-(\\d+)-[0-9a-f]+$`);
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = re.exec(name);
    if (!m) continue;
    const full = path.join(dir, name);
    const pid = Number(m[1]);
    if (inFlight.has(full) || (pid !== process.pid && alive(pid))) continue;
    try {
      fs.unlinkSync(full);
      removed.push(full);
    } catch {
      /* someone else removed it */
    }
  }
  return removed;
}

/**
 * @internal Write all of `bufs` at `position`: writev in groups of up to 256 buffers,
 * finishing short writes; with `sync`, on this thread, else on libuv's threadpool (so
 * this thread can work meanwhile).
 */
export function writeAll(fd: number, bufs: Uint8Array[], position: number, sync: true): void;
export function writeAll(fd: number, bufs: Uint8Array[], position: number, sync: false): Promise<void>;
export function writeAll(fd: number, bufs: Uint8Array[], position: number, sync: boolean): void | Promise<void> {
  const groups: Uint8Array[][] = [];
  for (let g = 0; g < bufs.length; g += 256) groups.push(bufs.slice(g, g + 256).filter((b) => b.length > 0));
  let pos = position;
  /** Drop the `n` bytes just written from the front of `group`. */
  const advance = (group: Uint8Array[], n: number) => {
    pos += n;
    while (group.length > 0 && n >= group[0]!.length) n -= group.shift()!.length;
    if (n > 0) group[0] = group[0]!.subarray(n);
  };
  if (sync) {
    for (const group of groups) while (group.length > 0) advance(group, fs.writevSync(fd, group, pos));
    return;
  }
  return (async () => {
    for (const group of groups) {
      while (group.length > 0) {
        const n = await new Promise<number>((ok, ko) => fs.writev(fd, group, pos, (e, written) => (e ? ko(e) : ok(written))));
        advance(group, n);
      }
    }
  })();
}

/** fsync a directory (so a rename in it is durable); ignored where directories cannot be opened (Windows). */
async function fsyncDir(dir: string): Promise<void> {
  let h: fs.promises.FileHandle | undefined;
  try {
    h = await fs.promises.open(dir, 'r');
    await h.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw e;
  } finally {
    await h?.close();
  }
}

/**
 * Replace `target` atomically with what `write` writes: a temporary file
 * `<target>.tmp-<pid>-<random>` is created (exclusively), `write` fills it, it is
 * fsync'd and closed, renamed over `target`, and the directory is fsync'd. On any
 * error the temporary file is removed and `target` is left as it was. Stale
 * temporary files of crashed writes are removed first ({@link cleanStaleTemps}).
 *
 * Reference: Python's `os.replace` after `os.fsync`. Introduced in notebooks/02-optim.
 */
export async function writeAtomic(target: string, write: (f: AtomicFile) => Promise<void>, { beforeRename }: WriteAtomicOptions = {}): Promise<void> {
  const abs = path.resolve(target);
  const dir = path.dirname(abs);
  if (!fs.existsSync(dir)) throw new Error(`writeAtomic(${target}): the directory ${dir} does not exist; create it first (fs.mkdirSync(dir, { recursive: true }))`);
  cleanStaleTemps(abs);
  const tmpPath = `${abs}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  inFlight.add(tmpPath);
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(tmpPath, 'wx', 0o644);
    await write({ handle, tmpPath });
    await handle.sync();
    await handle.close();
    handle = undefined;
    if (beforeRename) await beforeRename(tmpPath);
    await fs.promises.rename(tmpPath, abs);
    await fsyncDir(dir);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await fs.promises.unlink(tmpPath).catch(() => undefined);
    throw e;
  } finally {
    inFlight.delete(tmpPath);
  }
}
