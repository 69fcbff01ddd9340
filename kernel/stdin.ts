/**
 * Input from the front end (Jupyter's stdin channel), synchronous for the cell as
 * Python's `input()` is in ipykernel.
 *
 * The cell runs on the kernel's main thread and blocks until the answer comes; the
 * server thread (kernel/server.ts) sends `input_request` on the stdin socket, takes
 * the `input_reply` and hands the value over through a SharedArrayBuffer, waking the
 * main thread with `Atomics.notify`. An interrupt or a shutdown while the cell waits
 * wakes it too, and the cell ends with the interrupt error.
 *
 * When the execute_request did not allow input (`allow_stdin: false`: nbconvert,
 * `npm start`, papermill), asking fails at once with a {@link StdinNotAllowedError}
 * instead of hanging.
 */

/** The main thread waits; nothing to read yet. */
const WAITING = 1;
/** The value is in the buffer. */
const ANSWERED = 2;
/** The cell was interrupted (or the kernel stops) while it waited. */
const CANCELLED = 3;
/** The idle state. */
const IDLE = 0;

/** Bytes of the longest answer (longer answers are cut, saying so on stderr). */
export const MAX_INPUT_BYTES = 1 << 20;

/** Raised in the cell when input is asked for but the front end does not accept input requests. */
export class StdinNotAllowedError extends Error {
  override name = 'StdinNotImplementedError';
}

/** Raised in the cell when it is interrupted while waiting for input (reported as an interrupt). */
export class InputInterrupted extends Error {
  readonly code = 'ERR_SCRIPT_EXECUTION_INTERRUPTED';
  constructor() {
    super('Interrupted while waiting for input');
  }
}

/** The shared memory between the two threads: [state, length] then the UTF-8 answer. */
export class InputChannel {
  private readonly state: Int32Array;
  private readonly bytes: Uint8Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(8 + MAX_INPUT_BYTES)) {
    this.state = new Int32Array(buffer, 0, 2);
    this.bytes = new Uint8Array(buffer, 8);
  }

  // ---- main thread ------------------------------------------------------------

  /**
   * Mark a request as pending, call `send` (which posts it to the server thread), and
   * block until the answer or a cancellation. `checkEveryMs` bounds each wait so a
   * lost wake-up cannot hang the kernel.
   */
  waitFor(send: () => void, checkEveryMs = 250): string {
    Atomics.store(this.state, 0, WAITING);
    send();
    while (Atomics.load(this.state, 0) === WAITING) Atomics.wait(this.state, 0, WAITING, checkEveryMs);
    const state = Atomics.exchange(this.state, 0, IDLE);
    if (state === CANCELLED) throw new InputInterrupted();
    return Buffer.from(this.bytes.subarray(0, Atomics.load(this.state, 1))).toString('utf8');
  }

  // ---- server thread ----------------------------------------------------------

  /** True while the main thread waits for an answer. */
  get waiting(): boolean {
    return Atomics.load(this.state, 0) === WAITING;
  }

  /** Hand `value` to the waiting main thread; false if none waits. Returns whether it was cut to fit. */
  answer(value: string): { delivered: boolean; truncated: boolean } {
    if (!this.waiting) return { delivered: false, truncated: false };
    let encoded = Buffer.from(value, 'utf8');
    const truncated = encoded.length > this.bytes.length;
    if (truncated) encoded = encoded.subarray(0, this.bytes.length);
    this.bytes.set(encoded);
    Atomics.store(this.state, 1, encoded.length);
    Atomics.store(this.state, 0, ANSWERED);
    Atomics.notify(this.state, 0);
    return { delivered: true, truncated };
  }

  /** Wake a waiting main thread with a cancellation (interrupt, shutdown); false if none waits. */
  cancel(): boolean {
    if (Atomics.compareExchange(this.state, 0, WAITING, CANCELLED) !== WAITING) return false;
    Atomics.notify(this.state, 0);
    return true;
  }
}
