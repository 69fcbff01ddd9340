/**
 * How dist/kernel/kernel.js starts when run as a program (what kernel.json
 * runs on Windows, and what kernel/launch.sh runs on Linux and macOS when its
 * launch file does not fit): the gradlab kernel from a V8 startup snapshot when a usable one
 * exists (kernel/snapshot.ts: TypeScript loaded and its declarations parsed
 * ahead), in a child Node that this process relays signals to; else in this
 * process as before, also when the kernel's own measurements of earlier starts say that starting
 * without it is faster on this machine (kernel/snapshot.ts `chooseStart`).
 * `GRADLAB_KERNEL_SNAPSHOT=0`: never from a snapshot; `=1`: always when one fits.
 */
import * as path from 'path';
import { blobKey, chooseStart, readStarts, runFromSnapshot, snapshotsEnabled, usableSnapshot } from './snapshot';

function here(args: string[]): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('./kernel') as typeof import('./kernel')).start(args);
}

/** Start the kernel for `args`: from the snapshot when one fits, else (or when it fails to start) here. */
export function launch(args: string[]): void {
  const blob = snapshotsEnabled() ? usableSnapshot() : undefined;
  if (!blob) return here(args);
  // Unless told to use it (GRADLAB_KERNEL_SNAPSHOT=1): from the snapshot only where it measured faster.
  if (process.env.GRADLAB_KERNEL_SNAPSHOT !== '1' && !chooseStart(blobKey(blob), readStarts()).snapshot) return here(args);
  void runFromSnapshot(blob, path.join(__dirname, 'kernel.js'), args).then((ok) => {
    if (!ok) {
      process.stderr.write('gradlab kernel: the startup snapshot did not start (deleted; the next start builds a new one); starting without it\n');
      here(args);
    }
  });
}
