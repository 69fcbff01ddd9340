/**
 * A process group: N ranks that are separate OS processes, configured as
 * `torchrun` does it (environment variables `MASTER_ADDR`, `MASTER_PORT`,
 * `RANK`, `WORLD_SIZE`, `LOCAL_RANK`; see PyTorch's "torchrun (Elastic Launch)"
 * documentation), talking over ZeroMQ (`zeromq` v6).
 *
 * Design (why these sockets):
 * - Rendezvous: rank 0 (the master) binds a ROUTER on `MASTER_PORT`; every rank
 *   (rank 0 included) connects a DEALER to it and registers `{rank, worldSize,
 *   endpoint}`. The master checks that the ranks agree on the world size and
 *   that no rank is missing or duplicated, then sends everyone the table of
 *   endpoints. After that the rendezvous is idle.
 * - Data: every rank binds one ROUTER on an ephemeral port and connects one
 *   DEALER (routing id = its rank) to each peer's ROUTER. A ROUTER receives
 *   from all peers on one socket and the first frame names the sender, so a
 *   receive needs no polling over N sockets; a DEALER per peer keeps the
 *   messages from one rank to another in order (ZeroMQ guarantees order per
 *   pipe), which is all that `send` / `recv` with tags need. Messages are
 *   multipart `[header JSON, payload]`; the payload is the typed array's own
 *   bytes (a `Buffer` view, no copy on send; ZeroMQ frames the message).
 *   The same pipes carry heartbeats, goodbyes and aborts (see ProcessGroup).
 *
 * Introduced in notebooks/04-distributed.
 */
import * as os from 'os';
import * as zmq from 'zeromq';

/** Default timeout of a process group, as `torch.distributed`'s gloo default (30 s here; torch uses 30 min). */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** An error of the process group; `rank` is the rank it is about (the one that failed, or this one). */
export class DistError extends Error {
  constructor(message: string, readonly rank?: number) {
    super(message);
    this.name = 'DistError';
  }
}

/** Options of {@link initProcessGroup}; each defaults to its torchrun environment variable. */
export interface InitOptions {
  /** This process's rank in [0, worldSize). Default: env `RANK`. */
  rank?: number;
  /** Number of ranks. Default: env `WORLD_SIZE`. */
  worldSize?: number;
  /** Host of rank 0's rendezvous. Default: env `MASTER_ADDR`, else 127.0.0.1. */
  masterAddr?: string;
  /** Port of rank 0's rendezvous. Default: env `MASTER_PORT`. */
  masterPort?: number;
  /** Rank within this host. Default: env `LOCAL_RANK`, else `rank`. */
  localRank?: number;
  /**
   * Fault deadline: a rank that sends no heartbeat for timeoutMs/2 (crashed,
   * hung, or its event loop blocked) makes every rank fail with a
   * {@link DistError} naming it; a receive that waits 0.8·timeoutMs for a live
   * peer tells every rank and fails naming that peer (0.1·timeoutMs later). The rendezvous must complete within timeoutMs.
   * Default 30 000 ms (env `GRADLAB_DIST_TIMEOUT_MS` overrides the default).
   */
  timeoutMs?: number;
}

/** A received message: its header (tag, byte length, the sender's declared total element count) and payload bytes. */
export interface RawMessage {
  header: { tag: string; total?: number; len: number };
  payload: Buffer;
}
type Msg = RawMessage;

interface Waiter {
  resolve: (m: Msg) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** Sends on one socket in order (zeromq.js allows one pending send per socket). */
class Sender {
  private chain: Promise<void> = Promise.resolve();
  constructor(private readonly sock: zmq.Dealer) {}
  send(frames: (Buffer | string)[]): Promise<void> {
    const p = this.chain.then(() => this.sock.send(frames));
    this.chain = p.catch(() => undefined);
    return p;
  }
}

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new DistError(`environment variable ${name}=${JSON.stringify(v)} is not an integer; set it as torchrun does (or use gradlab-run)`);
  return n;
}

/** View a Buffer's bytes as a Float32Array (copies only if the bytes are not 4-byte aligned). */
export function bufferToF32(b: Buffer): Float32Array {
  if (b.byteOffset % 4 === 0) return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** The bytes of a typed array as a Buffer view (no copy). */
function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * A live process group (what {@link initProcessGroup} returns). Point-to-point
 * `send` / `recv` are here; the collectives are in `collectives.ts` and take
 * the group as their first argument.
 *
 * Fault detection: every rank sends a small heartbeat to every peer every
 * timeoutMs/10 on the data sockets; a peer silent for timeoutMs/2 (crashed,
 * hung, or its event loop blocked that long) makes this rank fail everything
 * pending and later with a {@link DistError} naming it. All-to-all heartbeats
 * (n(n−1) tiny messages per period) need no relay, so a dead master is found
 * like any other rank, and no rank depends on another to pass the news on.
 */
export class ProcessGroup {
  /** Per (src, tag) queue of arrived messages and of waiting receivers. */
  private readonly inbox = new Map<string, Msg[]>();
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly senders: Sender[] = [];
  private aborted: DistError | null = null;
  private closed = false;
  private hbTimer: NodeJS.Timeout | null = null;
  private readonly lastSeen: number[] = [];
  private readonly byes = new Set<number>();
  /** Whom each peer said (in its last heartbeat) it is waiting for; -1: nobody. */
  private readonly peerWaits: number[] = [];
  /** Counter that makes the tags of successive collectives distinct. */
  seq = 0;
  /**
   * What this rank has sent and received since the group started (payload
   * bytes and messages of `send` / `recv`, heartbeats excluded): the numbers
   * a learner checks the cost formulas against, e.g. a ring all-reduce of S
   * bytes sends 2(n−1)/n·S bytes from every rank. Reset it by assigning zeros.
   */
  traffic = { bytesSent: 0, messagesSent: 0, bytesReceived: 0, messagesReceived: 0 };

  /** @internal use {@link initProcessGroup}. */
  constructor(
    /** This process's rank, in [0, worldSize) (`RANK`). */
    readonly rank: number,
    /** Number of ranks (`WORLD_SIZE`). */
    readonly worldSize: number,
    /** Rank within this host (`LOCAL_RANK`). */
    readonly localRank: number,
    /** The fault deadline in ms (see {@link InitOptions.timeoutMs}). */
    readonly timeoutMs: number,
    private readonly data: zmq.Router,
    private readonly peers: zmq.Dealer[],
    private readonly others: zmq.Socket[],
  ) {
    for (const p of peers) this.senders.push(new Sender(p));
    void this.readData();
  }

  /** @internal start heartbeats and the watchdog. */
  start(): void {
    const now = Date.now();
    for (let r = 0; r < this.worldSize; r++) this.lastSeen[r] = now;
    const beat = Math.max(50, Math.min(1000, this.timeoutMs / 10));
    const silence = this.timeoutMs / 2;
    this.hbTimer = setInterval(() => {
      if (this.closed) return;
      const t = Date.now();
      for (let r = 0; r < this.worldSize; r++) {
        if (r === this.rank || this.byes.has(r)) continue;
        void this.senders[r].send(['hb', String(this.waitingFor())]).catch(() => undefined);
        if (t - this.lastSeen[r] > silence) {
          this.fail(new DistError(`rank ${this.rank}: rank ${r} sent no heartbeat for ${t - this.lastSeen[r]} ms (limit timeoutMs/2 = ${silence} ms): rank ${r} crashed, hangs, or blocks its event loop (see its output)`, r));
        }
      }
    }, beat);
    this.hbTimer.unref();
  }

  private async readData(): Promise<void> {
    try {
      for await (const [id, h, payload, extra] of this.data) {
        const src = Number(id.toString());
        this.lastSeen[src] = Date.now();
        const kind = h.toString();
        if (kind === 'hb') {
          this.peerWaits[src] = Number(payload?.toString() ?? -1);
          continue;
        }
        if (kind === 'bye') {
          this.byes.add(src);
          continue;
        }
        if (kind === 'abort') {
          this.fail(new DistError(`rank ${this.rank}: ${payload.toString()}`, Number(extra?.toString() ?? src)));
          continue;
        }
        const header = JSON.parse(kind) as Msg['header'];
        const key = `${src}|${header.tag}`;
        const w = this.waiters.get(key);
        const msg = { header, payload: payload ?? Buffer.alloc(0) };
        if (w && w.length) {
          const first = w.shift()!;
          clearTimeout(first.timer);
          first.resolve(msg);
        } else {
          if (!this.inbox.has(key)) this.inbox.set(key, []);
          this.inbox.get(key)!.push(msg);
        }
      }
    } catch {
      /* closed */
    }
  }

  /** The rank this one waits for (the oldest pending receive), or -1. */
  private waitingFor(): number {
    for (const [key, ws] of this.waiters) if (ws.length) return Number(key.split('|')[0]);
    return -1;
  }

  /**
   * Follow "who waits for whom" (from the heartbeats) from `src` to the rank at
   * the end of the chain: the one that is alive but not sending.
   */
  private blame(src: number): { rank: number; chain: number[] } {
    const chain = [src];
    let r = src;
    while ((this.peerWaits[r] ?? -1) >= 0 && this.peerWaits[r] !== this.rank && !chain.includes(this.peerWaits[r])) {
      r = this.peerWaits[r];
      chain.push(r);
    }
    return { rank: r, chain };
  }

  /** Reject everything pending and every later operation with `e`. */
  private fail(e: DistError): void {
    if (this.aborted) return;
    this.aborted = e;
    for (const ws of this.waiters.values()) for (const w of ws) (clearTimeout(w.timer), w.reject(e));
    this.waiters.clear();
  }

  /**
   * Tell every other rank that this one failed, so they fail at once naming
   * this rank instead of waiting for a timeout. Collectives call it on a size
   * mismatch; scripts may call it from a `catch`.
   */
  abort(why: string): void {
    for (let r = 0; r < this.worldSize; r++) {
      if (r !== this.rank) void this.senders[r].send(['abort', `rank ${this.rank} failed: ${why}`, String(this.rank)]).catch(() => undefined);
    }
  }

  private check(peer: number, what: string): void {
    if (this.closed) throw new DistError(`rank ${this.rank}: ${what} after destroy()`, this.rank);
    if (this.aborted) throw this.aborted;
    if (!Number.isInteger(peer) || peer < 0 || peer >= this.worldSize || peer === this.rank) {
      throw new DistError(`rank ${this.rank}: ${what} with peer ${peer}; the peer must be another rank in [0, ${this.worldSize})`, this.rank);
    }
  }

  /**
   * Send a typed array (or a tfjs tensor, through its `dataSync()`) to rank
   * `dst`. Resolves when ZeroMQ has queued it. The bytes are copied first:
   * ZeroMQ sends a Buffer without copying it and may still be reading it after
   * this resolves, so without the copy a caller that changes the array right
   * after a collective returns (an in-place mean, a reused buffer) would send
   * the changed values to a peer. Like `torch.distributed.send`, the array is
   * free to change once this resolves. `total` is for collectives' size checks.
   */
  async send(data: ArrayBufferView | { dataSync(): ArrayBufferView }, dst: number, tag: string | number = 0, total?: number): Promise<void> {
    const arr = 'dataSync' in data ? data.dataSync() : data;
    return this.sendView(Buffer.from(bytesOf(arr)), dst, tag, total);
  }

  /**
   * @internal {@link send} without the copy: ZeroMQ reads `arr` while it sends
   * it, possibly after this resolves, so the caller must not change `arr` until
   * the receiver has it. The collectives use it where their own steps guarantee
   * that (and end with {@link fence}).
   */
  async sendView(arr: ArrayBufferView, dst: number, tag: string | number = 0, total?: number): Promise<void> {
    this.check(dst, 'send');
    const header = JSON.stringify({ tag: String(tag), len: arr.byteLength, total });
    this.traffic.bytesSent += arr.byteLength;
    this.traffic.messagesSent++;
    await this.senders[dst].send([header, bytesOf(arr)]);
  }

  /**
   * Receive the next message with `tag` from rank `src` as raw bytes
   * (`header.total` is the sender's declared full size, for checks).
   * Rejects with a {@link DistError} naming `src` after 0.9·`timeoutMs` (or
   * naming the rank `src` itself waits for, if `src` reports that first).
   */
  recvRaw(src: number, tag: string | number = 0): Promise<Msg> {
    this.check(src, 'recv');
    return this.take(src, tag).then((m) => {
      this.traffic.bytesReceived += m.payload.byteLength;
      this.traffic.messagesReceived++;
      return m;
    });
  }

  /** The next message from `src` with `tag`: queued already, or awaited with the deadline described at {@link recvRaw}. */
  private take(src: number, tag: string | number): Promise<Msg> {
    const key = `${src}|${String(tag)}`;
    const q = this.inbox.get(key);
    if (q && q.length) {
      const m = q.shift()!;
      if (!q.length) this.inbox.delete(key);
      return Promise.resolve(m);
    }
    return new Promise<Msg>((resolve, reject) => {
      // Deadline 0.8·timeoutMs, then tell the others and wait 0.1·timeoutMs more:
      // if the rank we wait for is itself stuck waiting on a third one, its own
      // abort (naming that one) arrives first and is the error reported here.
      const wait = Math.round(0.8 * this.timeoutMs);
      const timer = setTimeout(() => {
        const ws = this.waiters.get(key) ?? [];
        const i = ws.findIndex((w) => w.timer === timer);
        if (i >= 0) ws.splice(i, 1);
        const { rank: culprit, chain } = this.blame(src);
        const via = chain.length > 1 ? `; rank ${chain.slice(0, -1).join(' waits for rank ')} waits for rank ${culprit}` : '';
        const e = new DistError(`rank ${this.rank}: waited ${wait} ms for rank ${src} (tag ${tag})${via}; rank ${culprit} is alive but never sends: does every rank call the same collectives in the same order?`, culprit);
        if (!this.aborted) this.abort(e.message);
        setTimeout(() => {
          this.fail(e);
          reject(this.aborted ?? e);
        }, Math.round(0.1 * this.timeoutMs)).unref();
      }, wait);
      if (!this.waiters.has(key)) this.waiters.set(key, []);
      this.waiters.get(key)!.push({ resolve, reject, timer });
    });
  }

  /** Receive the next Float32Array sent by rank `src` with `tag`. Like `torch.distributed.recv`. */
  async recv(src: number, tag: string | number = 0): Promise<Float32Array> {
    return bufferToF32((await this.recvRaw(src, tag)).payload);
  }

  /**
   * Leave the group, like `destroy_process_group`: a barrier (so that every
   * message a peer still waits for has arrived before the sockets close),
   * then a goodbye to each peer (so its watchdog stops expecting heartbeats),
   * then close. After a failure it just closes.
   */
  async destroy(): Promise<void> {
    if (this.closed) return;
    if (!this.aborted && this.worldSize > 1) {
      // the token-ring barrier of collectives.ts, inlined to avoid an import cycle
      const tag = `destroy:${this.seq++}`, n = this.worldSize;
      try {
        for (let s = 0; s < n - 1; s++) await Promise.all([this.send(new Float32Array(0), (this.rank + 1) % n, tag), this.recvRaw((this.rank + n - 1) % n, tag)]);
        await Promise.all(this.senders.map((s, r) => (r === this.rank ? undefined : s.send(['bye']))));
      } catch {
        /* a peer failed: close anyway */
      }
      await new Promise((ok) => setTimeout(ok, 50));
    }
    this.closed = true;
    if (this.hbTimer) clearInterval(this.hbTimer);
    for (const ws of this.waiters.values()) for (const w of ws) clearTimeout(w.timer);
    for (const s of [...this.peers, this.data, ...this.others]) s.close();
  }
}

/**
 * Join the process group (like `torch.distributed.init_process_group(backend,
 * init_method='env://')`): rank 0 starts the rendezvous on `MASTER_PORT`, every
 * rank registers its data endpoint there, receives everyone's and connects to
 * each peer. Errors name the rank and what to do: port in use, a rank outside
 * [0, WORLD_SIZE), ranks that disagree on WORLD_SIZE, a rank registered twice,
 * ranks missing after `timeoutMs`.
 *
 * Call `destroy()` when done (or end the process with `process.exit`): the open
 * sockets keep a Node process alive, and its peers would wait for it.
 *
 * Introduced in notebooks/04-distributed.
 */
export async function initProcessGroup(opts: InitOptions = {}): Promise<ProcessGroup> {
  const rank = opts.rank ?? envInt('RANK');
  const worldSize = opts.worldSize ?? envInt('WORLD_SIZE');
  const masterPort = opts.masterPort ?? envInt('MASTER_PORT');
  const masterAddr = opts.masterAddr ?? process.env.MASTER_ADDR ?? '127.0.0.1';
  const timeoutMs = opts.timeoutMs ?? envInt('GRADLAB_DIST_TIMEOUT_MS') ?? DEFAULT_TIMEOUT_MS;
  if (rank === undefined || worldSize === undefined || masterPort === undefined) {
    throw new DistError('initProcessGroup needs RANK, WORLD_SIZE and MASTER_PORT (environment, as torchrun sets them, or options); start the script with `npx gradlab-run --nproc-per-node N script.js`');
  }
  const localRank = opts.localRank ?? envInt('LOCAL_RANK') ?? rank;
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new DistError(`WORLD_SIZE=${worldSize} must be an integer ≥ 1`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new DistError(`rank ${rank}: RANK must be in [0, WORLD_SIZE=${worldSize}); give each process a distinct rank below the world size (or use gradlab-run)`, rank);
  }
  let master: zmq.Router | null = null;
  if (rank === 0) {
    master = new zmq.Router({ linger: 0 });
    try {
      await master.bind(`tcp://${masterAddr === 'localhost' ? '127.0.0.1' : masterAddr}:${masterPort}`);
    } catch (e) {
      master.close();
      throw new DistError(`rank 0: cannot start the rendezvous on ${masterAddr}:${masterPort} (${(e as Error).message}); the port is in use or the address is not this host's: choose another MASTER_PORT (gradlab-run picks a free one when MASTER_PORT is unset)`, 0);
    }
  }
  const loopback = masterAddr === '127.0.0.1' || masterAddr === 'localhost';
  const data = new zmq.Router({ linger: 0 });
  await data.bind(loopback ? 'tcp://127.0.0.1:*' : 'tcp://0.0.0.0:*');
  const port = Number(/:(\d+)$/.exec(data.lastEndpoint!)![1]);
  const endpoint = `tcp://${loopback ? '127.0.0.1' : os.hostname()}:${port}`;
  const ctrl = new zmq.Dealer({ linger: 0, routingId: `r${rank}` });
  ctrl.connect(`tcp://${masterAddr}:${masterPort}`);
  const closeAll = () => (data.close(), ctrl.close(), master?.close());
  const deadline = (what: string) =>
    new Promise<never>((_, rej) => setTimeout(() => rej(new DistError(what, rank)), timeoutMs).unref());

  const ids = new Map<number, Buffer>();
  // Master: gather registrations, check them, answer with the table.
  const masterWork = master
    ? (async () => {
        const eps: string[] = new Array(worldSize);
        for (;;) {
          const [id, kind, body] = await master!.receive();
          if (kind.toString() !== 'hello') continue;
          const h = JSON.parse(body.toString()) as { rank: number; worldSize: number; endpoint: string };
          const err = (m: string) => master!.send([id, 'error', m]).then(() => Promise.reject(new DistError(m, h.rank)));
          if (h.worldSize !== worldSize) await err(`rank ${h.rank} says WORLD_SIZE=${h.worldSize} but rank 0 says ${worldSize}; start every rank with the same WORLD_SIZE`);
          if (ids.has(h.rank)) await err(`rank ${h.rank} registered twice; give each process a distinct RANK`);
          ids.set(h.rank, id);
          eps[h.rank] = h.endpoint;
          if (ids.size === worldSize) break;
        }
        for (const id of ids.values()) await master!.send([id, 'table', JSON.stringify(eps)]);
      })()
    : null;
  let eps: string[];
  try {
    await ctrl.send(['hello', JSON.stringify({ rank, worldSize, endpoint })]);
    const reply = (async () => {
      const [kind, body] = await ctrl.receive();
      if (kind.toString() === 'error') throw new DistError(`rank ${rank}: ${body.toString()}`, rank);
      return JSON.parse(body.toString()) as string[];
    })();
    const tasks: Promise<unknown>[] = [reply];
    if (masterWork) tasks.push(masterWork);
    const waitFor = `rank ${rank}: the rendezvous at ${masterAddr}:${masterPort} did not complete within ${timeoutMs} ms; ${rank === 0 ? `only ranks [${[...ids.keys()].sort()}] of ${worldSize} registered: start the others with the same MASTER_ADDR/MASTER_PORT/WORLD_SIZE` : 'is rank 0 running with the same MASTER_ADDR/MASTER_PORT?'}`;
    await Promise.race([Promise.all(tasks), deadline(waitFor)]).catch((e) => {
      throw e instanceof DistError && e.message.startsWith('rank') ? e : new DistError(`rank ${rank}: ${(e as Error).message}`, rank);
    });
    eps = await reply;
  } catch (e) {
    closeAll();
    if (e instanceof DistError && /did not complete/.test(e.message) && rank === 0) {
      throw new DistError(`rank 0: the rendezvous did not complete within ${timeoutMs} ms; only ranks [${[...ids.keys()].sort()}] of WORLD_SIZE=${worldSize} registered: start the others with the same MASTER_ADDR/MASTER_PORT/WORLD_SIZE`, 0);
    }
    throw e;
  }
  const peers: zmq.Dealer[] = [];
  for (let r = 0; r < worldSize; r++) {
    const d = new zmq.Dealer({ linger: 0, routingId: String(rank), sendHighWaterMark: 0, receiveHighWaterMark: 0 });
    if (r !== rank) d.connect(eps[r]);
    peers.push(d);
  }
  const g = new ProcessGroup(rank, worldSize, localRank, timeoutMs, data, peers, master ? [ctrl, master] : [ctrl]);
  g.start();
  return g;
}
