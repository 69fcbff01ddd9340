/**
 * What the kernel's two threads say to each other.
 *
 * The **server thread** (kernel/server.ts, a worker) owns the five ZeroMQ
 * sockets: it verifies signatures, answers heartbeats, kernel_info, history,
 * comm_info and the control channel (interrupt, shutdown) at once, even while
 * a cell blocks the main thread, and hands the main thread one shell request
 * at a time. The **main thread** (kernel/kernel.ts) runs cells in tslab's
 * executor and posts their outputs back. Requests are numbered (`rid`); the
 * server keeps each request's header and uses it as the parent of every
 * message the main thread sends for it.
 */

/** Server -> main: one shell request to run. */
export type ToMain =
  /** Run a cell; `count` is its execution count (the server counts, and has sent execute_input). */
  | {
    t: 'execute'; rid: number; code: string; count: number; silent: boolean; storeHistory: boolean;
    userExpressions: Record<string, string>;
    /** The request's `allow_stdin`: whether the front end answers input_request. */
    allowStdin: boolean;
  }
  | { t: 'complete'; rid: number; code: string; cursorPos: number }
  | { t: 'inspect'; rid: number; code: string; cursorPos: number; detailLevel: number }
  | { t: 'is_complete'; rid: number; code: string }
  /** Stop: shutdown_request, the parent process is gone (code 0), or the server cannot run (code 1). */
  | { t: 'exit'; why: string; code?: number };

/** Main -> server. */
export type ToServer =
  /** An IOPub message for request `rid`; `content` is JSON text. */
  | { t: 'iopub'; rid: number; msgType: string; content: string }
  /** Text the cell wrote to stdout or stderr (the server batches it into `stream` messages). */
  | { t: 'stream'; rid: number; name: 'stdout' | 'stderr'; text: string }
  /**
   * The reply to request `rid`. `iopub`: messages to publish just before it (a cell's
   * execute_result or error: one message between the threads instead of two).
   * `output`: for executes, the text/plain result the history keeps.
   */
  | { t: 'reply'; rid: number; content: Record<string, unknown>; iopub?: { msgType: string; content: string }[]; output?: string | null }
  /**
   * The running cell asks the front end for input (kernel/stdin.ts): the server sends
   * input_request and answers through the shared {@link ServerOptions.input} buffer.
   */
  | { t: 'input'; rid: number; prompt: string; password: boolean };

/** What the main thread passes the server thread at start. */
export interface ServerOptions {
  configPath: string;
  /** The kernel_info_reply content. */
  kernelInfo: Record<string, unknown>;
  /** The pid of the process that started the kernel (its exit stops the kernel). */
  parentPid: number;
  /** The shared memory of the stdin channel (kernel/stdin.ts InputChannel). */
  input: SharedArrayBuffer;
}
