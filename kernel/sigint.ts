/**
 * SIGINT for the kernel without a thread per cell.
 *
 * A cell runs in `vm.runInThisContext(code, { breakOnSigint: true })` (tslab's
 * executor), so that an interrupt stops a synchronous loop. Node implements
 * `breakOnSigint` with one process-wide helper thread (src/node_watchdog.cc,
 * `SigintWatchdogHelper`) that owns SIGINT while at least one "watchdog" is
 * registered: each run registers one, and when the count of registered
 * watchdogs goes from 0 to 1 the thread is created and SIGINT's handler is
 * installed; from 1 to 0 the thread is joined and SIGINT's default action
 * comes back. Node also removes and re-adds every `process.on('SIGINT')`
 * listener around each run (vm.js `sigintHandlersWrap`). A kernel that keeps
 * a SIGINT listener (it must survive an interrupt between cells) pays all of
 * that on every cell: 0.1-0.5 ms of a 2.5-5 ms warm round trip here (measured
 * with two kernels side by side, one per mode), more when the machine is busy.
 *
 * The relay keeps the count above 0 instead: two worker threads ("parkers")
 * each sit in a `breakOnSigint` run that waits on an atomic, so the helper
 * thread stays up, and the main thread drops its own SIGINT listener. Then a
 * cell's run only adds and removes its watchdog (microseconds). On SIGINT the
 * helper tells the most recently registered watchdog, and only it:
 *
 * - while a cell runs synchronously, that is the cell's: the cell stops with
 *   "Script execution was interrupted by `SIGINT`", as before;
 * - otherwise (between cells, during a type check, while a cell awaits) it is a
 *   parker's: the parker wakes, reports to the main thread (which interrupts a
 *   pending await, as the listener did) and parks again. The other parker holds
 *   the count meanwhile, so SIGINT never falls back to its default action.
 *
 * A parker that registered after a cell's run began (a SIGINT between cells,
 * then a run starting within microseconds) would take the SIGINT meant for the
 * cell: the main thread flags its runs, and a parker woken during one raises
 * SIGINT again (now the cell's watchdog is the newest) and parks once the run
 * ends.
 *
 * A cell's own `process.on('SIGINT', f)`: Node would give it a libuv signal
 * handle, which takes SIGINT from the helper thread (and Node's per-run
 * listener juggling would then leave SIGINT to its default action during
 * runs). While armed, Node's hook that creates those handles skips SIGINT, and
 * the kernel calls the listeners itself for a SIGINT between cells (what Node
 * does too: during a synchronous run they are set aside).
 *
 * `GRADLAB_KERNEL_SIGINT=listener` keeps the listener (to compare). With the
 * listener, a cell that adds a SIGINT listener during its run leaves Node's
 * exit handler in place after the run; {@link SigintRelay.check} puts the
 * listeners' handler back.
 */
import { Worker } from 'worker_threads';
// The module object itself (not an import namespace, whose members are read-only): patchVm sets one.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const vm = require('vm') as typeof import('vm');

/** Slots of the shared Int32Array. */
const GATE = 0; // 1: parkers may park
const PARKED = 1; // parkers inside their breakOnSigint run
const STOP = 2; // 1: parkers leave
const IN_RUN = 3; // 1: the main thread is inside a breakOnSigint run

/** The parker's code (CommonJS, run with `eval: true`). */
const PARKER = `
const { parentPort, workerData } = require('worker_threads');
const vm = require('vm');
const s = new Int32Array(workerData.shared);
const [GATE, PARKED, STOP, IN_RUN] = [${GATE}, ${PARKED}, ${STOP}, ${IN_RUN}];
while (Atomics.load(s, GATE) === 0) Atomics.wait(s, GATE, 0);
let counted = false; // whether this parker is counted in PARKED
const leave = () => {
  if (!counted) return;
  counted = false;
  Atomics.sub(s, PARKED, 1);
  Atomics.notify(s, PARKED);
};
globalThis.gradlabPark = () => {
  counted = true;
  Atomics.add(s, PARKED, 1);
  Atomics.notify(s, PARKED);
  while (Atomics.load(s, STOP) === 0) Atomics.wait(s, STOP, 0);
};
while (Atomics.load(s, STOP) === 0) {
  try {
    vm.runInThisContext('gradlabPark()', { breakOnSigint: true });
    leave();
    break;
  } catch {
    // SIGINT: this parker's watchdog was the newest one
    leave();
    if (Atomics.load(s, STOP) !== 0) break;
    if (Atomics.load(s, IN_RUN) !== 0) {
      // meant for the cell running on the main thread: raise it again, park when the run ends
      process.kill(process.pid, 'SIGINT');
      parentPort.postMessage('passed on');
      while (Atomics.load(s, IN_RUN) !== 0) Atomics.wait(s, IN_RUN, 1, 1000);
    } else {
      parentPort.postMessage('sigint');
    }
  }
}
`;

const PARKERS = 2;

/** Whether the relay is turned on (`GRADLAB_KERNEL_SIGINT=listener` turns it off). */
export function relayEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.GRADLAB_KERNEL_SIGINT !== 'listener';
}

/** Node's process hooks `startListeningIfSignal` / `stopListeningIfSignal`: they give a signal listener its libuv handle. */
interface SignalHooks {
  start: (type: string | symbol) => void;
  stop: (type: string | symbol) => void;
  /** The same, skipping SIGINT (installed while armed). */
  startButSigint: (type: string | symbol) => void;
  stopButSigint: (type: string | symbol) => void;
}

/** Node's two process hooks, found by name; undefined where this Node has none such. */
function nodeSignalHooks(): SignalHooks | undefined {
  const emitter = process as NodeJS.EventEmitter;
  const start = emitter.listeners('newListener').find((f) => f.name === 'startListeningIfSignal') as SignalHooks['start'] | undefined;
  const stop = emitter.listeners('removeListener').find((f) => f.name === 'stopListeningIfSignal') as SignalHooks['stop'] | undefined;
  if (!start || !stop) return undefined;
  return {
    start,
    stop,
    startButSigint: (type) => (type === 'SIGINT' ? undefined : start.call(process, type)),
    stopButSigint: (type) => (type === 'SIGINT' ? undefined : stop.call(process, type)),
  };
}

export type SigintMode = 'listener' | 'arming' | 'armed';

/**
 * The kernel's SIGINT handling: a plain `process.on('SIGINT')` listener until
 * {@link arm} hands SIGINT to the parkers (see the file's comment).
 */
export class SigintRelay {
  private readonly shared = new Int32Array(new SharedArrayBuffer(4 * 4));
  private workers: Worker[] = [];
  private state: SigintMode = 'listener';
  private readonly listener: () => void;
  private patched = false;
  /** SIGINTs the parkers took between cells, and those they passed on to a run that had just begun. */
  readonly counts = { betweenCells: 0, passedOn: 0 };
  /** The SIGINT listeners after the last check (a cell may add some). */
  private seen: Function[] = [];

  /** `onSigint`: a SIGINT that came while no cell ran synchronously (interrupt a pending await). */
  constructor(private readonly onSigint: () => void, private readonly log: (line: string) => void = () => undefined) {
    this.listener = () => this.onSigint();
    process.on('SIGINT', this.listener);
    this.seen = process.rawListeners('SIGINT');
  }

  /** 'armed' once the parkers hold SIGINT. */
  get mode(): SigintMode {
    return this.state;
  }

  /**
   * Start the parkers and hand SIGINT to them. Resolves to whether it armed (false when
   * turned off, when a SIGINT listener other than the kernel's exists, when this Node lacks
   * the hooks it relies on, or when a parker failed to start; the listener then stays).
   */
  async arm(timeoutMs = 2000): Promise<boolean> {
    if (this.state !== 'listener' || !relayEnabled()) return false;
    const hooks = nodeSignalHooks();
    if (!hooks) {
      this.log('SIGINT relay not armed (this Node has no startListeningIfSignal hook); keeping the SIGINT listener');
      return false;
    }
    this.state = 'arming';
    const s = this.shared;
    s.fill(0);
    try {
      this.patchVm();
      // Boot the parkers (they wait at the gate, outside any run) before touching SIGINT.
      this.workers = Array.from({ length: PARKERS }, () => new Worker(PARKER, { eval: true, workerData: { shared: s.buffer } }));
      for (const w of this.workers) {
        w.unref();
        w.on('message', (m) => {
          if (m === 'sigint') this.betweenCells();
          else if (m === 'passed on') this.counts.passedOn++;
        });
        w.on('error', (e) => this.log(`SIGINT parker failed: ${e.stack ?? e}`));
      }
      await Promise.all(this.workers.map((w) => new Promise<void>((ok, fail) => {
        w.once('online', ok);
        w.once('error', fail);
      })));
      if (process.listeners('SIGINT').some((l) => l !== this.listener)) throw new Error("a SIGINT listener other than the kernel's exists");
      // The switch, inside one breakOnSigint run of this thread: the run's own watchdog holds
      // SIGINT (Node installs its handler as the run starts) until the parkers hold it.
      process.removeListener('SIGINT', this.listener);
      const n = this.guarded(() => {
        Atomics.store(s, GATE, 1);
        Atomics.notify(s, GATE);
        const until = Date.now() + timeoutMs;
        while (Atomics.load(s, PARKED) < PARKERS && Date.now() < until) Atomics.wait(s, PARKED, Atomics.load(s, PARKED), 50);
        return Atomics.load(s, PARKED);
      });
      if (n < PARKERS) throw new Error(`${n} of ${PARKERS} SIGINT parkers started in ${timeoutMs} ms`);
      // From now on a cell's SIGINT listener gets no libuv handle (it would take SIGINT from the helper).
      const emitter = process as NodeJS.EventEmitter;
      emitter.removeListener('newListener', hooks.start);
      emitter.removeListener('removeListener', hooks.stop);
      emitter.prependListener('newListener', hooks.startButSigint);
      emitter.prependListener('removeListener', hooks.stopButSigint);
      this.state = 'armed';
      return true;
    } catch (e) {
      this.log(`SIGINT relay not armed (${(e as Error).message}); keeping the SIGINT listener`);
      this.fallBack();
      return false;
    }
  }

  /**
   * After each cell. With the listener, a SIGINT listener that a cell added during its run
   * leaves Node's exit handler in place after the run: put the listeners' handler back.
   */
  check(): SigintMode {
    const now = process.rawListeners('SIGINT');
    const changed = now.length !== this.seen.length || now.some((l, i) => l !== this.seen[i]);
    if (changed && this.state === 'listener') this.resync();
    this.seen = process.rawListeners('SIGINT');
    return this.state;
  }

  /** A SIGINT between cells (armed): interrupt a pending await, and tell the cells' own SIGINT listeners. */
  private betweenCells(): void {
    this.counts.betweenCells++;
    this.onSigint();
    if (this.state === 'armed' && process.listenerCount('SIGINT') > 0) process.emit('SIGINT', 'SIGINT');
  }

  /** Arming failed: stop the parkers and give SIGINT back to the listener. */
  private fallBack(): void {
    const s = this.shared;
    Atomics.store(s, STOP, 1);
    Atomics.store(s, GATE, 1);
    for (const slot of [GATE, STOP, IN_RUN]) Atomics.notify(s, slot);
    // Wait (briefly, in this thread) until the parked ones have left their runs, then give
    // SIGINT back to the listener at once: the last parker to leave set Node's exit handler.
    const until = Date.now() + 2000;
    while (Atomics.load(s, PARKED) > 0 && Date.now() < until) Atomics.wait(s, PARKED, Atomics.load(s, PARKED), 20);
    this.state = 'listener';
    this.resync();
    this.seen = process.rawListeners('SIGINT');
    const workers = this.workers;
    this.workers = [];
    // A parker that was still starting may have parked and left after that: once all have
    // exited, make sure once more.
    void Promise.all(workers.map((w) => w.terminate())).then(() => {
      if (this.state === 'listener') this.resync();
    });
  }

  /**
   * Give SIGINT to the listeners: with the kernel's listener in place, one empty breakOnSigint
   * run (Node takes the listeners off, holds SIGINT for the run, restores its exit handler at
   * the end, and adds the listeners back, which installs libuv's handler for them).
   */
  private resync(): void {
    if (!process.listeners('SIGINT').includes(this.listener)) process.on('SIGINT', this.listener);
    vm.runInThisContext('0', { breakOnSigint: true });
  }

  /** Run `fn` inside a breakOnSigint run of this thread (so that its watchdog holds SIGINT meanwhile). */
  private guarded<T>(fn: () => T): T {
    const g = globalThis as Record<symbol, unknown>;
    const key = Symbol.for('gradlab.sigint.guarded');
    g[key] = fn;
    try {
      return vm.runInThisContext("globalThis[Symbol.for('gradlab.sigint.guarded')]()", { breakOnSigint: true }) as T;
    } finally {
      delete g[key];
    }
  }

  /** Flag this thread's breakOnSigint runs in the shared array (a parker woken during one passes SIGINT on). */
  private patchVm(): void {
    if (this.patched) return;
    this.patched = true;
    const s = this.shared;
    const original = vm.runInThisContext;
    const flagged = function (this: unknown, code: string, options?: import('vm').RunningScriptOptions | string): unknown {
      if (typeof options !== 'object' || !options?.breakOnSigint) return original.call(vm, code, options);
      Atomics.store(s, IN_RUN, 1);
      try {
        return original.call(vm, code, options);
      } finally {
        Atomics.store(s, IN_RUN, 0);
        Atomics.notify(s, IN_RUN);
      }
    };
    (vm as { runInThisContext: typeof vm.runInThisContext }).runInThisContext = flagged as typeof vm.runInThisContext;
  }
}
