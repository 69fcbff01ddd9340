/**
 * The processes a kernel started (from cells: `child_process.spawn`, a
 * Python reference, a shell), so shutdown can stop them instead of leaving
 * them orphaned. Linux reads /proc; elsewhere nothing is found (the kernel
 * still exits).
 */
import * as fs from 'fs';

/**
 * Processes the kernel started for itself that may outlive it (the startup snapshot's
 * background builder, kernel/snapshot.ts): {@link descendants} leaves them and their
 * children out, so a shutdown does not stop them.
 */
export const spared = new Set<number>();

/** Pids of every live descendant of `pid` (children, grandchildren, ...), parents before children; {@link spared} ones left out. */
export function descendants(pid: number = process.pid): number[] {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [...(children.get(pid) ?? [])];
  while (queue.length) {
    const p = queue.shift()!;
    if (spared.has(p)) continue;
    out.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return out;
}

/** Running (a zombie, exited but not yet reaped by its parent, counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/**
 * Stop every descendant: SIGTERM, up to `graceMs` for them to exit, then
 * SIGKILL. Synchronous, so it can run while the process is exiting. Returns
 * the pids it signalled.
 */
export function stopDescendants(graceMs = 500, pid: number = process.pid): number[] {
  const pids = descendants(pid);
  for (const p of pids) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      // gone already
    }
  }
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; waited < graceMs && pids.some(alive); waited += 20) Atomics.wait(sleeper, 0, 0, 20);
  for (const p of pids) {
    if (!alive(p)) continue;
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  return pids;
}
