/**
 * The kernel's protocol server: a worker thread that owns the five Jupyter
 * sockets, so the kernel answers heartbeats, `kernel_info`, the control
 * channel (interrupt, shutdown) and keeps IOPub output flowing while a cell
 * blocks the main thread (see kernel/bridge.ts for the split).
 *
 * - Every incoming message's HMAC is verified (constant time) before it is
 *   parsed; a mismatch is dropped and logged to stderr, never run.
 * - Sockets bind to the connection file's transport and ip (127.0.0.1 unless
 *   the file says otherwise).
 * - Shell requests run one at a time, in order, each between `status: busy`
 *   and `status: idle`; control requests are answered at once, also between
 *   busy and idle.
 * - After a cell fails (with `stop_on_error`), the execute requests already
 *   queued are answered `status: 'aborted'`; one sent after the error reply
 *   runs normally.
 * - stdout/stderr text from the main thread is batched into `stream`
 *   messages (at most every 30 ms, or before any other message).
 */
import * as fs from 'fs';
import { randomUUID } from 'crypto';
import * as os from 'os';
import { parentPort, workerData } from 'worker_threads';
import * as zmq from 'zeromq';
import type { ServerOptions, ToMain, ToServer } from './bridge';
import { History, type HistoryQuery } from './history';
import { stopDescendants } from './procs';
import { InputChannel, MAX_INPUT_BYTES } from './stdin';
import { decode, encode, endpoint, isFailure, isIPv6, newHeader, readConnectionFile, SignatureHistory, Signer, type ConnectionInfo, type WireMessage } from './wire';

/** How long stream text is held to batch it. */
const STREAM_BATCH_MS = 30;
/** How many finished execute requests keep their header, for output that arrives after the reply. */
const KEEP_PARENTS = 64;

function log(line: string): void {
  fs.writeSync(2, `gradlab kernel: ${line}\n`);
}

const ignoredTypes = new Set<string>();
/** Log an ignored message type once (some frontends poll with types the kernel does not serve). */
function logIgnored(channel: string, msgType: string): void {
  if (ignoredTypes.has(`${channel}/${msgType}`)) return;
  ignoredTypes.add(`${channel}/${msgType}`);
  log(`ignored ${channel} message type "${msgType}" (not supported; logged once)`);
}

/** Sends on one socket in order (zeromq.js allows one pending send per socket). */
class Sender {
  private readonly queue: Buffer[][] = [];
  private busy = false;
  private idle: (() => void)[] = [];

  constructor(private readonly sock: zmq.Writable & zmq.Socket) {}

  send(frames: Buffer[]): void {
    this.queue.push(frames);
    if (!this.busy) void this.pump();
  }

  /** Resolves once everything queued has been handed to ZeroMQ. */
  drained(): Promise<void> {
    return this.busy ? new Promise((ok) => this.idle.push(ok)) : Promise.resolve();
  }

  private async pump(): Promise<void> {
    this.busy = true;
    while (this.queue.length) {
      const frames = this.queue.shift()!;
      try {
        await this.sock.send(frames);
      } catch (e) {
        if (!this.sock.closed) log(`send failed: ${(e as Error).message}`);
      }
    }
    this.busy = false;
    for (const f of this.idle.splice(0)) f();
  }
}

interface Queued {
  msg: WireMessage;
  aborted: boolean;
}

export class KernelServer {
  private readonly session = randomUUID();
  private readonly username = safeUsername();
  private readonly signer: Signer;
  private readonly shell = new zmq.Router();
  private readonly control = new zmq.Router();
  private readonly stdin = new zmq.Router();
  private readonly iopub = new zmq.XPublisher();
  private readonly hb = new zmq.Reply();
  private readonly senders = new Map<zmq.Socket, Sender>();
  private readonly queue: Queued[] = [];
  private pumping = false;
  private readonly history = new History();
  /** Request number -> its header (the parent of what the main thread sends for it). */
  private readonly parents = new Map<number, Buffer>();
  private readonly pending = new Map<number, (m: Extract<ToServer, { t: 'reply' }>) => void>();
  private nextRid = 1;
  private executionCount = 0;
  private runningRid = 0;
  private stream: { rid: number; name: string; text: string; timer: NodeJS.Timeout } | null = null;
  private stopping = false;
  /** Whether any shell or control request has arrived (after that, `starting` is no longer news). */
  private servedAny = false;
  /** When the last stop-on-error failure was reported (ms, this clock); executes created before it are aborted. */
  private abortBefore = -Infinity;
  /** Client session → smallest (arrival − header.date) in ms: its clock offset plus the shortest transit. */
  private readonly clockLag = new Map<string, number>();
  /** The execute_request whose cell runs now (input requests go to its sender). */
  private runningMsg: WireMessage | null = null;
  /** The msg_id of the input_request the running cell waits on. */
  private inputRequest: string | null = null;
  /** Shared with the main thread: where an input_reply's value goes. */
  private readonly input: InputChannel;
  /** Signatures of the messages accepted so far, on every channel (replays are dropped). */
  private readonly signatures = new SignatureHistory();
  /** Messages dropped because their signature did not verify or was a replay. */
  dropped = 0;

  constructor(
    private readonly info: ConnectionInfo,
    private readonly options: ServerOptions,
    private readonly toMain: (m: ToMain) => void,
  ) {
    this.signer = new Signer(info.key, info.signature_scheme);
    this.input = new InputChannel(options.input);
    for (const s of [this.shell, this.control, this.stdin, this.iopub]) this.senders.set(s, new Sender(s));
    if (info.transport === 'tcp' && isIPv6(info.ip)) for (const s of [this.shell, this.control, this.stdin, this.iopub, this.hb]) s.ipv6 = true;
  }

  /** Bind every socket, publish `starting`, and serve until closed. */
  async start(): Promise<void> {
    const i = this.info;
    await Promise.all([
      this.iopub.bind(endpoint(i, i.iopub_port)),
      this.shell.bind(endpoint(i, i.shell_port)),
      this.control.bind(endpoint(i, i.control_port)),
      this.stdin.bind(endpoint(i, i.stdin_port)),
      this.hb.bind(endpoint(i, i.hb_port)),
    ]);
    if (!this.signer.enabled) log('the connection file has no key: messages are not authenticated');
    void this.announceStart();
    void this.receive(this.shell, 'shell', (m) => {
      this.servedAny = true;
      // An interrupt must not wait behind the cell it interrupts: handled at once, as on control.
      if (m.header.msg_type === 'interrupt_request') void this.onControl(m, this.shell);
      else this.enqueue(m);
    });
    void this.receive(this.control, 'control', (m) => { this.servedAny = true; void this.onControl(m); });
    void this.receive(this.stdin, 'stdin', (m) => this.onStdin(m));
    void this.heartbeat();
    this.watchParent();
  }

  /** A message from the main thread. */
  fromMain(m: ToServer): void {
    switch (m.t) {
      case 'stream':
        return this.onStream(m.rid, m.name, m.text);
      case 'iopub':
        return this.publish(m.msgType, m.content, this.parentOf(m.rid));
      case 'input':
        return this.requestInput(m.rid, m.prompt, m.password);
      case 'reply': {
        for (const o of m.iopub ?? []) this.publish(o.msgType, o.content, this.parentOf(m.rid));
        const done = this.pending.get(m.rid);
        this.pending.delete(m.rid);
        return done?.(m);
      }
    }
  }

  private async receive(sock: zmq.Router, channel: string, on: (m: WireMessage) => void): Promise<void> {
    try {
      for await (const frames of sock) {
        const m = decode(this.signer, frames, this.signatures);
        if (isFailure(m)) {
          if (m.reason === 'bad signature' || m.reason === 'duplicate signature') this.dropped++;
          log(`dropped a message on ${channel}: ${m.reason === 'bad signature'
            ? `its HMAC signature does not match the connection key (${this.dropped} dropped so far); it was not run`
            : m.reason === 'duplicate signature'
              ? `its signature was already used: a replayed message (${this.dropped} dropped so far); it was not run`
              : m.reason}`);
          continue;
        }
        on(m);
      }
    } catch (e) {
      if (!sock.closed) log(`${channel} receive failed: ${(e as Error).message}`);
    }
  }

  /**
   * `status: starting`, once. Published when the first client subscribes to
   * IOPub (XPUB sees subscriptions), so it is not lost to ZeroMQ's slow
   * joiner problem, unless a request came first (then the kernel is past starting).
   */
  private async announceStart(): Promise<void> {
    let announced = false;
    try {
      for await (const [sub] of this.iopub) {
        if (!announced && sub?.[0] === 1) {
          announced = true;
          if (!this.servedAny) this.publish('status', { execution_state: 'starting' }, {});
        }
      }
    } catch (e) {
      if (!this.iopub.closed) log(`iopub subscription read failed: ${(e as Error).message}`);
    }
  }

  private async heartbeat(): Promise<void> {
    try {
      for await (const frames of this.hb) await this.hb.send(frames);
    } catch (e) {
      if (!this.hb.closed) log(`heartbeat failed: ${(e as Error).message}`);
    }
  }

  // ---- sending -------------------------------------------------------------

  private send(sock: zmq.Socket, frames: Buffer[]): void {
    this.senders.get(sock)!.send(frames);
  }

  /** Publish on IOPub (pending stream text first, to keep order). */
  private publish(msgType: string, content: object | string, parent: Buffer | object): void {
    if (msgType !== 'stream') this.flushStream();
    this.send(this.iopub, encode(this.signer, {
      identities: [Buffer.from(`kernel.${this.session}.${msgType}`)],
      header: newHeader(msgType, this.session, this.username),
      parent_header: parent, content,
    }));
  }

  private status(state: 'busy' | 'idle', parent: WireMessage): void {
    this.publish('status', { execution_state: state }, parent.rawHeader);
  }

  private reply(sock: zmq.Socket, req: WireMessage, msgType: string, content: object): void {
    this.flushStream();
    this.send(sock, encode(this.signer, {
      identities: req.identities,
      header: newHeader(msgType, this.session, this.username),
      parent_header: req.rawHeader, content,
    }));
  }

  private onStream(rid: number, name: string, text: string): void {
    if (this.stream && (this.stream.rid !== rid || this.stream.name !== name)) this.flushStream();
    if (!this.stream) this.stream = { rid, name, text: '', timer: setTimeout(() => this.flushStream(), STREAM_BATCH_MS) };
    this.stream.text += text;
    if (this.stream.text.length > 1 << 16) this.flushStream();
  }

  private flushStream(): void {
    const s = this.stream;
    if (!s) return;
    this.stream = null;
    clearTimeout(s.timer);
    this.publish('stream', { name: s.name, text: s.text }, this.parentOf(s.rid));
  }

  private parentOf(rid: number): Buffer | object {
    return this.parents.get(rid) ?? {};
  }

  // ---- shell ---------------------------------------------------------------

  private enqueue(msg: WireMessage): void {
    this.noteClock(msg);
    this.queue.push({ msg, aborted: false });
    void this.pump();
  }

  /**
   * Track each client session's clock against this one: the smallest (arrival − header.date)
   * seen, i.e. its clock offset plus the shortest transit. Bounded to 1000 sessions.
   */
  private noteClock(msg: WireMessage): void {
    const sent = Date.parse(String(msg.header.date ?? ''));
    if (!Number.isFinite(sent)) return;
    const lag = Date.now() - sent;
    const session = String(msg.header.session ?? '');
    const known = this.clockLag.get(session);
    if (known === undefined && this.clockLag.size >= 1000) this.clockLag.delete(this.clockLag.keys().next().value!);
    if (known === undefined || lag < known) this.clockLag.set(session, lag);
  }

  /**
   * Whether `msg` was created before `time` (this process's clock): its header date moved
   * onto this clock with its session's offset (see noteClock). Deterministic where message
   * timing is not: a request queued before an error was reported is aborted even when it
   * reaches the kernel after the error, and one sent after the client saw the error runs,
   * whatever the two clocks say. A request without a usable date is never aborted by this rule.
   */
  private createdBefore(msg: WireMessage, time: number): boolean {
    const sent = Date.parse(String(msg.header.date ?? ''));
    const lag = this.clockLag.get(String(msg.header.session ?? ''));
    return Number.isFinite(sent) && lag !== undefined && sent + lag < time;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length && !this.stopping) {
        const item = this.queue.shift()!;
        this.status('busy', item.msg);
        try {
          await this.onShell(item);
        } catch (e) {
          log(`${item.msg.header.msg_type} failed: ${(e as Error).stack ?? e}`);
        } finally {
          if (!this.stopping) this.status('idle', item.msg);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private async onShell({ msg, aborted }: Queued): Promise<void> {
    const c = msg.content;
    const code = typeof c.code === 'string' ? c.code : '';
    const cursorPos = typeof c.cursor_pos === 'number' ? c.cursor_pos : [...code].length;
    switch (msg.header.msg_type) {
      case 'execute_request':
        if (aborted || this.createdBefore(msg, this.abortBefore)) return this.reply(this.shell, msg, 'execute_reply', { status: 'aborted' });
        return this.execute(msg, code);
      case 'kernel_info_request':
        return this.reply(this.shell, msg, 'kernel_info_reply', this.options.kernelInfo);
      case 'complete_request':
        return this.forward(msg, 'complete_reply', (rid) => ({ t: 'complete', rid, code, cursorPos }));
      case 'inspect_request':
        return this.forward(msg, 'inspect_reply', (rid) => ({ t: 'inspect', rid, code, cursorPos, detailLevel: Number(c.detail_level ?? 0) }));
      case 'is_complete_request':
        return this.forward(msg, 'is_complete_reply', (rid) => ({ t: 'is_complete', rid, code }));
      case 'history_request':
        return this.reply(this.shell, msg, 'history_reply', { status: 'ok', history: this.history.query(c as unknown as HistoryQuery) });
      case 'comm_info_request':
        return this.reply(this.shell, msg, 'comm_info_reply', { status: 'ok', comms: {} });
      case 'comm_open':
        // No comm targets (ipywidgets is not supported): close it, as ipykernel does for unknown targets.
        return this.publish('comm_close', { comm_id: c.comm_id, data: {} }, msg.rawHeader);
      case 'comm_msg':
      case 'comm_close':
        return;
      case 'shutdown_request': // belongs on control, but older clients send it here
        return this.shutdown(this.shell, msg);
      default:
        logIgnored('shell', msg.header.msg_type);
    }
  }

  /** Hand a request to the main thread and wait for its answer. */
  private ask(msg: WireMessage, make: (rid: number) => ToMain): Promise<Extract<ToServer, { t: 'reply' }>> {
    const rid = this.nextRid++;
    this.parents.set(rid, msg.rawHeader);
    const answer = new Promise<Extract<ToServer, { t: 'reply' }>>((ok) => this.pending.set(rid, ok));
    this.toMain(make(rid));
    return answer;
  }

  private async forward(msg: WireMessage, replyType: string, make: (rid: number) => ToMain): Promise<void> {
    const r = await this.ask(msg, make);
    this.parents.delete(r.rid);
    this.reply(this.shell, msg, replyType, r.content);
  }

  private async execute(msg: WireMessage, code: string): Promise<void> {
    const c = msg.content;
    const silent = c.silent === true;
    const stored = !silent && c.store_history !== false;
    if (stored) this.executionCount++;
    const count = this.executionCount;
    this.runningMsg = msg;
    const reply = this.ask(msg, (rid) => {
      this.runningRid = rid;
      return { t: 'execute', rid, code, count, silent, storeHistory: c.store_history !== false,
        userExpressions: (c.user_expressions ?? {}) as Record<string, string>, allowStdin: c.allow_stdin === true };
    });
    // The cell starts in the main thread now; its outputs reach this thread only after this
    // tick, so execute_input still comes first, right behind busy.
    if (!silent) this.publish('execute_input', { code, execution_count: count }, msg.rawHeader);
    const r = await reply;
    this.runningRid = 0;
    this.runningMsg = null;
    this.inputRequest = null;
    // Keep the headers of recent cells: output that arrives after a cell finished still belongs to it.
    for (const rid of this.parents.keys()) if (rid <= r.rid - KEEP_PARENTS) this.parents.delete(rid);
    if (stored) this.history.add(count, code, r.output ?? null);
    if (r.content.status === 'error' && c.stop_on_error !== false) {
      // Abort every execute_request created before this error is reported, whether it is
      // queued here or still on its way (see createdBefore); later requests run normally.
      this.abortBefore = Date.now();
      for (const q of this.queue) if (q.msg.header.msg_type === 'execute_request') q.aborted = true;
    }
    this.reply(this.shell, msg, 'execute_reply', r.content);
  }

  // ---- stdin -----------------------------------------------------------------

  /**
   * The running cell asks for input: send input_request on the stdin socket to the
   * front end that sent the execute_request (Jupyter clients give their shell and stdin
   * sockets the same identity), parented to it. Output written before comes first.
   */
  private requestInput(rid: number, prompt: string, password: boolean): void {
    const msg = this.runningMsg;
    if (!msg || rid !== this.runningRid) {
      log(`input asked for by request ${rid}, which is not the running cell; cancelled`);
      this.input.cancel();
      return;
    }
    this.flushStream();
    const header = newHeader('input_request', this.session, this.username);
    this.inputRequest = header.msg_id;
    this.send(this.stdin, encode(this.signer, { identities: msg.identities, header, parent_header: msg.rawHeader, content: { prompt, password } }));
  }

  /** An input_reply: the value goes to the waiting cell. Anything else on stdin is logged and ignored. */
  private onStdin(msg: WireMessage): void {
    if (msg.header.msg_type !== 'input_reply') return logIgnored('stdin', msg.header.msg_type);
    if (!this.inputRequest || msg.parent_header.msg_id !== this.inputRequest) {
      log('dropped an input_reply that answers no pending input_request');
      return;
    }
    this.inputRequest = null;
    const value = typeof msg.content.value === 'string' ? msg.content.value : '';
    const { truncated } = this.input.answer(value);
    if (truncated) log(`an input_reply of ${Buffer.byteLength(value)} bytes was cut to ${MAX_INPUT_BYTES}`);
  }

  // ---- control ---------------------------------------------------------------

  /** A control request (or an interrupt_request that came on shell: `sock` is where the reply goes). */
  private async onControl(msg: WireMessage, sock: zmq.Router = this.control): Promise<void> {
    this.status('busy', msg);
    try {
      switch (msg.header.msg_type) {
        case 'interrupt_request':
          return this.interrupt(sock, msg);
        case 'shutdown_request':
          return await this.shutdown(this.control, msg);
        case 'kernel_info_request':
          return this.reply(this.control, msg, 'kernel_info_reply', this.options.kernelInfo);
        default:
          logIgnored('control', msg.header.msg_type);
      }
    } finally {
      if (!this.stopping) this.status('idle', msg);
    }
  }

  /**
   * Interrupt the running cell: SIGINT to this process, which the main thread
   * handles (vm's breakOnSigint stops synchronous code; the executor rejects a
   * pending await). Sent again once if the same cell still runs a second later
   * (a signal that came while the cell was being type-checked).
   */
  private interrupt(sock: zmq.Socket, msg: WireMessage): void {
    const rid = this.runningRid;
    if (this.input.cancel()) {
      // A cell waiting for input wakes with the interrupt. No SIGINT as well: Node would keep
      // a signal that lands after the cell's vm run for the next cell it runs.
      this.inputRequest = null;
      this.reply(sock, msg, 'interrupt_reply', { status: 'ok' });
      return;
    }
    process.kill(process.pid, 'SIGINT');
    if (rid) setTimeout(() => { if (this.runningRid === rid) process.kill(process.pid, 'SIGINT'); }, 1000).unref();
    this.reply(sock, msg, 'interrupt_reply', { status: 'ok' });
  }

  private async shutdown(sock: zmq.Socket, msg: WireMessage): Promise<void> {
    const restart = msg.content.restart === true;
    this.reply(sock, msg, 'shutdown_reply', { status: 'ok', restart });
    this.status('idle', msg);
    await this.stop(restart ? 'restart requested' : 'shutdown requested');
  }

  /** Flush, close the sockets, and have the main thread exit (forcibly if a cell blocks it). */
  async stop(why: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.flushStream();
    await Promise.all([...this.senders.values()].map((s) => s.drained()));
    await new Promise((ok) => setTimeout(ok, 20)); // let ZeroMQ put the last replies on the wire
    for (const s of [this.shell, this.control, this.stdin, this.iopub, this.hb]) s.close();
    this.input.cancel();
    this.toMain({ t: 'exit', why });
    // A synchronous cell keeps the main thread from seeing that: break it, and if that fails, end the process.
    process.kill(process.pid, 'SIGINT');
    setTimeout(() => {
      log(`the main thread did not exit (${why}); killing the process`);
      stopDescendants(200);
      process.kill(process.pid, 'SIGKILL');
    }, 3000).unref();
  }

  /** Exit with the process that started the kernel: a kernel whose parent was killed must not linger. */
  private watchParent(): void {
    const parent = this.options.parentPid;
    const timer = setInterval(() => {
      if (process.ppid !== parent) {
        clearInterval(timer);
        void this.stop('the parent process exited');
      }
    }, 1000);
    timer.unref();
  }
}

function safeUsername(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'gradlab';
  }
}

/** Worker entry: started by kernel/kernel.ts with ServerOptions as workerData. */
if (parentPort && workerData && typeof (workerData as ServerOptions).configPath === 'string') {
  const port = parentPort;
  const options = workerData as ServerOptions;
  try {
    const server = new KernelServer(readConnectionFile(options.configPath), options, (m) => port.postMessage(m));
    port.on('message', (m: ToServer) => server.fromMain(m));
    server.start().catch((e: Error) => {
      port.postMessage({ t: 'exit', why: `cannot listen: ${e.message}`, code: 1 } satisfies ToMain);
    });
  } catch (e) {
    port.postMessage({ t: 'exit', why: (e as Error).message, code: 1 } satisfies ToMain);
  }
}
