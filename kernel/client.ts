/**
 * A Jupyter client in Node: starts a gradlab kernel and talks to it over
 * ZeroMQ (messaging spec 5.3), the way jupyter_client / nbclient do.
 *
 * ```ts
 * const k = await KernelClient.start({ cwd: 'notebooks/01-backprop' });
 * const r = await k.execute('console.log(1 + 1)', { onOutput: (m) => console.log(m.msg_type) });
 * await k.shutdown();
 * ```
 *
 * Wire format: `[identities..., '<IDS|MSG>', hmac, header, parent_header,
 * metadata, content, buffers...]`, hmac = HMAC-SHA256(key, header + parent +
 * metadata + content). Incoming messages with a bad signature are dropped and
 * logged. A kernel process that exits rejects everything pending with a
 * {@link KernelDiedError} that carries the tail of the kernel's stderr.
 */
import { spawn, type ChildProcess } from 'child_process';
import { randomBytes, randomUUID } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as zmq from 'zeromq';
import { KERNEL_NAME, kernelArgv } from './spec';
import { decode, encode, endpoint, isFailure, newHeader, SignatureHistory, Signer } from './wire';

/** A decoded Jupyter message (buffers omitted). */
export interface KernelMessage {
  header: { msg_id: string; msg_type: string; session: string; [k: string]: unknown };
  parent_header: { msg_id?: string; [k: string]: unknown };
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
  msg_type: string;
}

/** What {@link KernelClient.execute} resolves with. */
export interface ExecuteOutcome {
  /** execute_reply status: 'ok', 'error' or 'aborted' (a request queued behind a failed cell; tslab said 'abort'). */
  status: string;
  /** execution_count from the reply, null if the kernel gave none. */
  executionCount: number | null;
  /** The execute_reply content. */
  reply: Record<string, unknown>;
  /** IOPub messages of this request in arrival order, without `status` and `execute_input`. */
  outputs: KernelMessage[];
}

/** Options of {@link KernelClient.start}. */
export interface StartOptions {
  /** Kernel working directory (modules resolve from here); default process.cwd(). */
  cwd?: string;
  /** Kernel environment; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Command line for a connection file; default kernelArgv from ./spec. */
  argv?: (connectionFile: string) => string[];
  /** Give up when no kernel_info_reply arrived within this time; default 60 000 ms. */
  startTimeoutMs?: number;
  /** Folder for the connection file; default $JUPYTER_RUNTIME_DIR, else the OS temp folder. */
  runtimeDir?: string;
  /** Where warnings go (dropped messages, stray output); default stderr. */
  log?: (line: string) => void;
}

/** The kernel process exited while requests were pending. */
export class KernelDiedError extends Error {
  constructor(
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly stderrTail: string,
  ) {
    super(
      `kernel died (exit code ${exitCode}, signal ${signal})` +
        (stderrTail.trim() ? `\nkernel stderr (last lines):\n${stderrTail.trimEnd().split('\n').slice(-20).join('\n')}` : ''),
    );
    this.name = 'KernelDiedError';
  }
}

/** A request did not finish in time (after an interrupt was attempted for executes). */
export class KernelTimeoutError extends Error {
  constructor(
    message: string,
    readonly timeoutMs: number,
    /** IOPub messages received before giving up. */
    readonly outputs: KernelMessage[] = [],
  ) {
    super(message);
    this.name = 'KernelTimeoutError';
  }
}

const TAIL_BYTES = 8192;
/** Kernels this process started and has not seen exit, and connection files not yet removed. */
const live = new Set<ChildProcess>();
const connectionFiles = new Set<string>();
let exitHookInstalled = false;

/** Five free TCP ports on 127.0.0.1 (bound, read, released). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((ok, fail) => {
      const s = net.createServer();
      s.once('error', fail);
      s.listen(0, '127.0.0.1', () => ok(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))));
  return ports;
}

interface Waiter {
  outputs: KernelMessage[];
  onOutput?: (m: KernelMessage) => void;
  onInput?: (prompt: string, password: boolean) => string | Promise<string>;
  reply?: Record<string, unknown>;
  idle: boolean;
  replyOnly: boolean;
  resolve: (o: ExecuteOutcome) => void;
  reject: (e: Error) => void;
}

/** One running kernel process and the five sockets connected to it. */
export class KernelClient {
  /** Messages dropped because their signature did not verify or was a replay. */
  droppedMessages = 0;
  /** IOPub messages received so far (any: the first proves the subscription is live). */
  private iopubMessages = 0;
  /** Signatures of the messages received so far (a replayed one is dropped). */
  private readonly signatures = new SignatureHistory();
  /** How the process ended, once it has. */
  exit: { code: number | null; signal: string | null } | null = null;
  private readonly session = randomUUID();
  private readonly signer: Signer;
  private readonly waiters = new Map<string, Waiter>();
  private readonly sendChains = new Map<zmq.Socket, Promise<unknown>>();
  private tail = '';
  private readonly exited: Promise<void>;
  private closed = false;

  private constructor(
    readonly child: ChildProcess,
    readonly connectionFile: string,
    key: string,
    private readonly shell: zmq.Dealer,
    private readonly iopub: zmq.Subscriber,
    private readonly control: zmq.Dealer,
    private readonly stdin: zmq.Dealer,
    private readonly hb: zmq.Request,
    private readonly log: (line: string) => void,
  ) {
    this.signer = new Signer(key);
    this.exited = new Promise((done) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.exit = { code, signal };
        const err = new KernelDiedError(code, signal, this.stderrTail());
        for (const w of this.waiters.values()) w.reject(err);
        this.waiters.clear();
        done();
      });
    });
    const keep = (d: Buffer) => { this.tail = (this.tail + d.toString('utf8')).slice(-TAIL_BYTES); };
    child.stderr?.on('data', keep);
    child.stdout?.on('data', keep);
    for (const s of [shell, control, stdin]) void this.receiveLoop(s, (m) => this.onReply(m, s));
    void this.receiveLoop(iopub, (m) => {
      this.iopubMessages++;
      this.onIopub(m);
    });
  }

  /** Write a connection file, spawn the kernel, connect, and wait for its kernel_info_reply. */
  static async start(options: StartOptions = {}): Promise<KernelClient> {
    const log = options.log ?? ((l: string) => process.stderr.write(`gradlab client: ${l}\n`));
    const dir = options.runtimeDir ?? process.env.JUPYTER_RUNTIME_DIR ?? os.tmpdir();
    fs.mkdirSync(dir, { recursive: true });
    const [shell_port, iopub_port, stdin_port, control_port, hb_port] = await freePorts(5);
    const key = randomBytes(32).toString('hex');
    const info = { transport: 'tcp', ip: '127.0.0.1', shell_port, iopub_port, stdin_port,
      control_port, hb_port, key, signature_scheme: 'hmac-sha256', kernel_name: KERNEL_NAME };
    const file = path.join(dir, `kernel-gradlab-${randomUUID()}.json`);
    fs.writeFileSync(file, JSON.stringify(info, null, 1), { mode: 0o600 });
    const argv = (options.argv ?? kernelArgv)(file);
    const child = spawn(argv[0], argv.slice(1), {
      cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group: a Ctrl+C in the terminal reaches the runner, not the kernel
    });
    live.add(child);
    connectionFiles.add(file);
    installExitHook();
    const url = (p: number) => endpoint({ transport: 'tcp', ip: '127.0.0.1' }, p);
    // Shell and stdin share one identity, as jupyter_client's do: the kernel sends an
    // input_request to the identity that sent the execute_request.
    const identity = `gradlab-client-${randomUUID()}`;
    // The kernel binds its ports a moment after it starts: try to connect again after 10 ms, then
    // 20, 40, 80 and every 100 ms (ZeroMQ's default is every 100 ms from the start, which can
    // add up to 0.1 s to a fast kernel's start).
    const retry = { reconnectInterval: 10, reconnectMaxInterval: 100 };
    const shell = new zmq.Dealer({ linger: 0, routingId: identity, ...retry });
    const control = new zmq.Dealer({ linger: 0, ...retry });
    const stdin = new zmq.Dealer({ linger: 0, routingId: identity, ...retry });
    const iopub = new zmq.Subscriber({ linger: 0, ...retry });
    const hb = new zmq.Request({ linger: 0, relaxed: true, correlate: true, receiveTimeout: 1000, ...retry });
    shell.connect(url(shell_port));
    control.connect(url(control_port));
    stdin.connect(url(stdin_port));
    iopub.connect(url(iopub_port));
    iopub.subscribe();
    hb.connect(url(hb_port));
    const client = new KernelClient(child, file, key, shell, iopub, control, stdin, hb, log);
    const spawnError = new Promise<never>((_, fail) => child.once('error', fail));
    try {
      await Promise.race([client.waitReady(options.startTimeoutMs ?? 60_000), spawnError]);
    } catch (e) {
      await client.kill();
      throw e;
    }
    return client;
  }

  /**
   * The last 8 KB the kernel process wrote to its own stderr/stdout (start-up
   * errors, crashes); output of running cells goes to IOPub instead.
   */
  stderrTail(): string {
    return this.tail;
  }

  /** Send kernel_info_request and wait for the reply. */
  async kernelInfo(timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const { reply } = await this.sendRequest(this.shell, 'kernel_info_request', {}, { timeoutMs }).done;
    return reply;
  }

  /**
   * Run `code`; resolves when the execute_reply arrived AND IOPub reported idle
   * for this request. `onOutput` sees each IOPub message (stream, display_data,
   * update_display_data, execute_result, error, clear_output) as it arrives.
   * After `timeoutMs` the kernel is interrupted, given 2 s to reply, and the
   * promise rejects with a {@link KernelTimeoutError} carrying partial outputs.
   */
  async execute(
    code: string,
    opts: {
      onOutput?: (m: KernelMessage) => void;
      timeoutMs?: number;
      silent?: boolean;
      storeHistory?: boolean;
      stopOnError?: boolean;
      userExpressions?: Record<string, string>;
      /**
       * Answers the cell's input requests (`allow_stdin: true`); without it the request
       * says `allow_stdin: false` and a cell asking for input fails at once.
       */
      onInput?: (prompt: string, password: boolean) => string | Promise<string>;
    } = {},
  ): Promise<ExecuteOutcome> {
    const content = { code, silent: opts.silent ?? false, store_history: opts.storeHistory ?? true,
      user_expressions: opts.userExpressions ?? {}, allow_stdin: !!opts.onInput, stop_on_error: opts.stopOnError ?? true };
    const { done: p, waiter } = this.sendRequest(this.shell, 'execute_request', content, { onOutput: opts.onOutput });
    waiter.onInput = opts.onInput;
    if (!opts.timeoutMs) return p;
    const limit = opts.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'timeout'>((ok) => { timer = setTimeout(() => ok('timeout'), limit); });
    try {
      const first = await Promise.race([p, expired]);
      if (first !== 'timeout') return first;
    } finally {
      clearTimeout(timer);
    }
    this.interrupt();
    const late = await Promise.race([p.then(() => 'replied', () => 'failed'), delay(2000)]);
    throw new KernelTimeoutError(
      `timeout after ${limit / 1000} s` + (late === 'replied' ? ' (interrupted)' : ' (the interrupt did not stop it)'),
      limit, waiter.outputs);
  }

  /** Interrupt the running cell (the kernelspec's interrupt_mode is 'signal': SIGINT). */
  interrupt(): void {
    if (!this.exit && this.child.pid) this.child.kill('SIGINT');
  }

  /**
   * Send any request on shell (default) or control and wait for its reply and
   * the IOPub idle that follows it: complete, inspect, is_complete, history,
   * comm_info, interrupt ...
   */
  async request(
    msgType: string,
    content: Record<string, unknown> = {},
    opts: { channel?: 'shell' | 'control'; timeoutMs?: number; onOutput?: (m: KernelMessage) => void } = {},
  ): Promise<ExecuteOutcome> {
    const sock = opts.channel === 'control' ? this.control : this.shell;
    return this.sendRequest(sock, msgType, content, { timeoutMs: opts.timeoutMs ?? 30_000, onOutput: opts.onOutput }).done;
  }

  /** Ping the heartbeat socket; true when the kernel echoed within `timeoutMs`. */
  async heartbeat(timeoutMs = 1000): Promise<boolean> {
    this.hb.receiveTimeout = timeoutMs;
    try {
      const ping = Buffer.from(randomUUID());
      await this.hb.send(ping);
      const [pong] = await this.hb.receive();
      return pong.equals(ping);
    } catch {
      return false;
    }
  }

  /**
   * shutdown_request on control, then wait `graceMs` for the process to exit,
   * then SIGKILL it. Closes the sockets and removes the connection file.
   */
  async shutdown(graceMs = 3000): Promise<void> {
    if (!this.exit) {
      const reply = this.sendRequest(this.control, 'shutdown_request', { restart: false }, { timeoutMs: graceMs, replyOnly: true });
      reply.done.catch(() => undefined);
      await Promise.race([this.exited, delay(graceMs)]);
    }
    await this.kill();
  }

  /** Kill the kernel's process group now (SIGKILL), close sockets, remove the connection file. */
  async kill(): Promise<void> {
    if (!this.exit && this.child.pid) {
      killGroup(this.child);
      await Promise.race([this.exited, delay(5000)]);
    }
    if (this.closed) return;
    this.closed = true;
    for (const s of [this.shell, this.iopub, this.control, this.stdin, this.hb]) s.close();
    fs.rmSync(this.connectionFile, { force: true });
    connectionFiles.delete(this.connectionFile);
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // Retry: the reply proves the shell works; an IOPub message (any: the status the kernel
    // publishes around each request) proves our subscription is live (ZeroMQ's slow-joiner
    // problem: a kernel that answers at once publishes before the subscription reaches it, and
    // those messages are lost). As jupyter_client's wait_for_ready, but asking again after
    // 30 ms rather than 0.2 s: a fast kernel's start should not wait on its client.
    while (Date.now() < deadline) {
      const r = this.sendRequest(this.shell, 'kernel_info_request', {}, { timeoutMs: deadline - Date.now(), replyOnly: true });
      try {
        await r.done;
      } catch (e) {
        if (e instanceof KernelTimeoutError) break;
        throw e;
      }
      for (let i = 0; i < 3 && this.iopubMessages === 0; i++) await delay(10);
      if (this.iopubMessages > 0) return;
    }
    throw new KernelTimeoutError(
      `kernel did not answer kernel_info_request within ${timeoutMs / 1000} s` +
        (this.stderrTail().trim() ? `; kernel output:\n${this.stderrTail()}` : ''),
      timeoutMs,
    );
  }

  /**
   * Send a request; `done` resolves with the reply once IOPub also went idle
   * for it (or at the reply alone with `replyOnly`), rejects on timeout or death.
   */
  private sendRequest(
    sock: zmq.Dealer,
    msgType: string,
    content: Record<string, unknown>,
    opts: { timeoutMs?: number; replyOnly?: boolean; onOutput?: (m: KernelMessage) => void } = {},
  ): { done: Promise<ExecuteOutcome>; waiter: Waiter } {
    const header = newHeader(msgType, this.session);
    let timer: NodeJS.Timeout | undefined;
    const waiter: Waiter = {
      outputs: [], idle: false, replyOnly: !!opts.replyOnly,
      onOutput: opts.onOutput, resolve: () => undefined, reject: () => undefined,
    };
    const done = new Promise<ExecuteOutcome>((resolve, reject) => {
      const finish = (f: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(header.msg_id);
        f();
      };
      waiter.resolve = (o) => finish(() => resolve(o));
      waiter.reject = (e) => finish(() => reject(e));
    });
    if (this.exit) {
      waiter.reject(new KernelDiedError(this.exit.code, this.exit.signal, this.stderrTail()));
      return { done, waiter };
    }
    this.waiters.set(header.msg_id, waiter);
    if (opts.timeoutMs !== undefined) {
      const ms = opts.timeoutMs;
      timer = setTimeout(() => waiter.reject(new KernelTimeoutError(
        `no ${msgType.replace('_request', '_reply')} within ${ms / 1000} s`, ms, waiter.outputs)), ms);
    }
    this.send(sock, header, content).catch((e: Error) => waiter.reject(e));
    return { done, waiter };
  }

  private send(sock: zmq.Socket & zmq.Writable, header: object, content: object, parent: object = {}): Promise<unknown> {
    const frames = encode(this.signer, { header, content, parent_header: parent });
    // zeromq.js allows one pending send per socket: chain them.
    const prev = this.sendChains.get(sock) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => sock.send(frames));
    this.sendChains.set(sock, next);
    return next;
  }

  private decode(frames: Buffer[]): KernelMessage | undefined {
    const m = decode(this.signer, frames, this.signatures);
    if (isFailure(m)) {
      if (m.reason === 'bad signature' || m.reason === 'duplicate signature') {
        this.droppedMessages++;
        this.log(`dropped a message with ${m.reason === 'bad signature' ? 'an invalid signature' : 'a signature already seen (a replay)'} (${this.droppedMessages} so far)`);
      } else {
        this.log(`dropped a message: ${m.reason}`);
      }
      return undefined;
    }
    return { header: m.header, parent_header: m.parent_header, metadata: m.metadata, content: m.content, msg_type: m.header.msg_type };
  }

  private async receiveLoop(sock: zmq.Socket & zmq.Readable, on: (m: KernelMessage) => void) {
    try {
      for await (const frames of sock) {
        const m = this.decode(frames);
        if (m) on(m);
      }
    } catch (e) {
      if (!this.closed) this.log(`socket receive failed: ${(e as Error).message}`);
    }
  }

  /** An input_request: the execute's `onInput` answers it (an empty line when it has none). */
  private async answerInput(m: KernelMessage): Promise<void> {
    const w = this.waiters.get(m.parent_header.msg_id ?? '');
    let value = '';
    try {
      if (w?.onInput) value = await w.onInput(String(m.content.prompt ?? ''), m.content.password === true);
      else this.log('the kernel asked for input, but this execute has no onInput: sending an empty line');
    } catch (e) {
      this.log(`onInput failed (${(e as Error).message}): sending an empty line`);
    }
    await this.send(this.stdin, newHeader('input_reply', this.session), { value }, m.header)
      .catch((e: Error) => this.log(`input_reply failed: ${e.message}`));
  }

  private onReply(m: KernelMessage, sock: zmq.Socket): void {
    if (sock === this.stdin && m.msg_type === 'input_request') {
      void this.answerInput(m);
      return;
    }
    const w = this.waiters.get(m.parent_header.msg_id ?? '');
    if (!w) return;
    w.reply = m.content;
    this.settle(w);
  }

  private onIopub(m: KernelMessage): void {
    const w = this.waiters.get(m.parent_header.msg_id ?? '');
    if (!w) return;
    if (m.msg_type === 'status') {
      if (m.content.execution_state === 'idle') w.idle = true;
      this.settle(w);
      return;
    }
    if (m.msg_type === 'execute_input') return;
    w.outputs.push(m);
    w.onOutput?.(m);
  }

  private settle(w: Waiter): void {
    if (!w.reply || (!w.idle && !w.replyOnly)) return;
    const count = w.reply.execution_count;
    w.resolve({
      status: String(w.reply.status ?? 'ok'),
      executionCount: typeof count === 'number' ? count : null,
      reply: w.reply,
      outputs: w.outputs,
    });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms).unref());
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

/** Kill every kernel this process started when it exits, so none is left behind. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) killGroup(child);
    for (const file of connectionFiles) fs.rmSync(file, { force: true });
  });
}
