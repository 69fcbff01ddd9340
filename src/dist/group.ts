/**
 * A process group: N ranks that are separate OS processes, configured as
 * `torchrun` does it (environment variables `MASTER_ADDR`, `MASTER_PORT`,
 * `RANK`, `WORLD_SIZE`, `LOCAL_RANK`; see PyTorch's "torchrun (Elastic Launch)"
 * documentation).
 *
 * Design (why these sockets):
 * - Rendezvous, over ZeroMQ (`zeromq` v6): rank 0 (the master) binds a ROUTER
 *   on `MASTER_PORT`; every rank (rank 0 included) connects a DEALER to it and
 *   registers `{rank, worldSize, endpoint}`. The master checks that the ranks
 *   agree on the world size and that no rank is missing or duplicated, then
 *   sends everyone the table of endpoints. After that the rendezvous is idle.
 * - Data, over plain byte streams (Node's `net`): a Unix domain socket when
 *   every rank is on one Linux host, TCP otherwise (as gloo does). Every rank
 *   listens, and connects once to every peer: the connection from rank a to
 *   rank b carries b's messages to a, in order, so `send` / `recv` with tags
 *   need nothing more. A frame is a length, a JSON header (tag, byte length,
 *   the sender's total element count) and the payload: the typed array's own
 *   bytes, written without a copy; `send` resolves once the operating system
 *   has taken them. The receiver reads a payload straight into the array a
 *   posted receive names, or adds it there as it arrives (see `Inbound`).
 *   The same streams carry heartbeats, goodbyes and aborts (see ProcessGroup).
 *   Why not ZeroMQ for the data too (it was, at first): ZeroMQ receives each
 *   message into its own buffer, so every payload was copied once more, and
 *   its I/O thread competed with the ranks for the cores; measured with
 *   `npm run bench -- dist`, the streams below are faster (README, "dist").
 *
 * Introduced in notebooks/04-distributed.
 */
import * as net from 'net';
import * as os from 'os';
import * as zmq from 'zeromq';
import { SimdAdder, addF32 } from './simd';

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

/**
 * A frame's header on the wire, as JSON after its length (u32, little-endian):
 * a message (`len` payload bytes follow), a heartbeat (`w`: the rank this one
 * waits for, −1 for none), a goodbye, or an abort naming the failed rank.
 */
type Frame =
  | { k: 'm'; tag: string; len: number; total?: number }
  | { k: 'hb'; w: number }
  | { k: 'bye' }
  | { k: 'abort'; why: string; rank: number };

/** Where a payload's bytes go as they arrive: copied into `bytes`, or added (float32) into `floats`; exactly the payload's size. */
interface Sink {
  bytes?: Uint8Array;
  floats?: Float32Array;
  done(): void;
}

/** Bytes of the first buffer a stream's headers are read into (grown for a larger header). */
const SCRATCH_BYTES = 1 << 16;

/**
 * The receiving end of the stream from one peer (a Node socket with
 * `onread`, so every read goes where {@link next} says). Headers and small
 * payloads are read into a scratch buffer and parsed; once a header names
 * its destination, the payload is read straight into it: a copy lands in
 * place (no copy in JavaScript at all), and an addition is read into a
 * {@link SimdAdder}'s stage and added from there, read by read, so the
 * additions overlap the transfer.
 * @internal exported for tests.
 */
export class Inbound {
  private scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  /** Bytes in `scratch` not yet parsed. */
  private have = 0;
  private sink: Sink | null = null;
  /** Payload bytes of the current frame, and how many of them were read. */
  private len = 0;
  private got = 0;
  /** Bytes of an incomplete float kept at the start of the stage (add sinks). */
  private carry = 0;
  private readInto: 'scratch' | 'bytes' | 'stage' = 'scratch';
  private readonly adder = new SimdAdder();

  constructor(
    private readonly onFrame: (f: Frame) => Sink | null,
    /** Bytes arrived (`data`: message bytes, not only headers of heartbeats and the like). */
    private readonly onBytes: (data: boolean) => void,
    private readonly onError: (e: Error) => void,
  ) {}

  /** The buffer the next socket read fills (Node's `onread.buffer`; called after every read). */
  next(): Uint8Array {
    const s = this.sink;
    if (s?.bytes) {
      this.readInto = 'bytes';
      return s.bytes.subarray(this.got);
    }
    if (s?.floats) {
      this.readInto = 'stage';
      return this.adder.stage.subarray(this.carry, Math.min(this.adder.stageBytes, this.carry + this.len - this.got));
    }
    this.readInto = 'scratch';
    if (this.have === this.scratch.length) {
      const bigger = Buffer.allocUnsafe(2 * this.scratch.length);
      this.scratch.copy(bigger, 0, 0, this.have);
      this.scratch = bigger;
    }
    return this.scratch.subarray(this.have);
  }

  /** A read of `n` bytes landed in what {@link next} returned (Node's `onread.callback`). */
  onRead(n: number): void {
    this.onBytes(this.readInto !== 'scratch');
    try {
      if (this.readInto === 'bytes') {
        this.got += n;
        if (this.got === this.len) this.finish();
      } else if (this.readInto === 'stage') {
        this.staged(n);
      } else {
        this.have += n;
        this.parse();
      }
    } catch (e) {
      this.onError(e as Error);
    }
  }

  /** `n` new bytes follow the carried ones in the stage: add every whole float, keep the rest. */
  private staged(n: number): void {
    const total = this.carry + n, whole = total - (total % 4);
    const at = (this.got - this.carry) / 4;
    this.adder.addStaged(this.sink!.floats!.subarray(at, at + whole / 4));
    this.carry = total - whole;
    if (this.carry) this.adder.stage.copyWithin(0, whole, total);
    this.got += n;
    if (this.got === this.len) this.finish();
  }

  private finish(): void {
    const s = this.sink!;
    this.sink = null;
    s.done();
  }

  /** Parse frames from the scratch buffer; payload bytes that came with them go to their sink. */
  private parse(): void {
    let p = 0;
    for (;;) {
      if (this.sink) {
        const s = this.sink;
        let k = Math.min(this.have - p, this.len - this.got);
        if (k === 0) break;
        if (s.bytes) {
          s.bytes.set(this.scratch.subarray(p, p + k), this.got);
          this.got += k;
          p += k;
          if (this.got === this.len) this.finish();
        } else {
          k = Math.min(k, this.adder.stageBytes - this.carry);
          this.scratch.copy(this.adder.stage, this.carry, p, p + k);
          p += k;
          this.staged(k);
        }
        continue;
      }
      if (this.have - p < 4) break;
      const hl = this.scratch.readUInt32LE(p);
      if (this.have - p < 4 + hl) break;
      const f = JSON.parse(this.scratch.toString('utf8', p + 4, p + 4 + hl)) as Frame;
      p += 4 + hl;
      const sink = this.onFrame(f);
      if (f.k !== 'm') continue;
      if (!Number.isInteger(f.len) || f.len < 0) throw new Error(`a message header with length ${f.len}`);
      if (f.len === 0) sink!.done();
      else ((this.sink = sink), (this.len = f.len), (this.got = 0), (this.carry = 0));
    }
    if (p > 0) {
      this.scratch.copyWithin(0, p, this.have);
      this.have -= p;
    }
  }
}

interface Waiter {
  resolve: (m: Msg) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  /** For {@link ProcessGroup.recvInto}: where the payload goes when its header matches. */
  into?: Into;
}

/** A receive's destination: `target` gets the payload copied or added, if the header says `target.byteLength` bytes and `total`. */
interface Into {
  target: Float32Array;
  add: boolean;
  total: number;
}

/** A message that arrived before anyone asked for it (its payload may still be arriving). */
interface Early {
  msg: Msg;
  complete: boolean;
  then: Array<() => void>;
}

/** The bytes of a typed array as a Buffer view (no copy). */
function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** A buffer for `n` received bytes, 4-byte aligned where Node allows (`bufferToF32` copies otherwise); every byte is overwritten before anyone reads it. */
function alignedBytes(n: number): Buffer {
  return Buffer.allocUnsafe(n);
}

/** Whether `m` is what `into` expects (so its payload can go straight to the target). */
function fits(h: Msg['header'], into: Into): boolean {
  return h.len === into.target.byteLength && h.total === into.total;
}

/** Copy or add `payload` into `into.target`. */
function deliver(payload: Buffer, into: Into): void {
  const y = bufferToF32(payload);
  if (into.add) addF32(into.target, y);
  else into.target.set(y);
}

/**
 * A live process group (what {@link initProcessGroup} returns). Point-to-point
 * `send` / `recv` are here; the collectives are in `collectives.ts` and take
 * the group as their first argument.
 *
 * Fault detection: every rank sends a small heartbeat to every peer every
 * timeoutMs/10; a peer silent for timeoutMs/2 (hung, or its event loop
 * blocked that long) makes this rank fail everything pending and later with a
 * {@link DistError} naming it, and so does a peer whose connection closes
 * without a goodbye (it crashed or exited). All-to-all heartbeats (n(n−1)
 * tiny messages per period) need no relay, so a dead master is found like any
 * other rank, and no rank depends on another to pass the news on.
 */
export class ProcessGroup {
  /** Per (src, tag) queue of messages that arrived early, and of waiting receivers. */
  private readonly inbox = new Map<string, Early[]>();
  private readonly waiters = new Map<string, Waiter[]>();
  /** Rejecters of sends in flight and of receives waiting for an early message's last bytes. */
  private readonly pending = new Set<(e: Error) => void>();
  private aborted: DistError | null = null;
  private closed = false;
  private hbTimer: NodeJS.Timeout | null = null;
  private readonly lastSeen: number[] = [];
  /** When each peer last sent message bytes (heartbeats excluded): a receive's deadline counts from then. */
  private readonly lastData: number[] = [];
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
    /** How the data travels: `unix` (a Unix domain socket, ranks on one host) or `tcp`. */
    readonly transport: Transport,
    private readonly links: Links,
    private readonly others: { close(): void }[],
  ) {}

  /** @internal the frame handler of the stream from `src` (see {@link Inbound}). */
  inbound(src: number): Inbound {
    return new Inbound(
      (f) => this.onFrame(src, f),
      (data) => {
        const now = Date.now();
        this.lastSeen[src] = now;
        if (data) this.lastData[src] = now;
      },
      (e) => this.fail(new DistError(`rank ${this.rank}: a malformed frame from rank ${src} (${e.message}); do all ranks run the same gradlab version?`, src)),
    );
  }

  /** @internal the stream from `src` ended: a failure unless `src` said goodbye. */
  peerClosed(src: number): void {
    if (this.closed || this.byes.has(src)) return;
    this.fail(new DistError(`rank ${this.rank}: rank ${src} closed its connection without leaving the group: rank ${src} crashed or exited before destroy() (see its output)`, src));
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
        void this.write(r, { k: 'hb', w: this.waitingFor() }).catch(() => undefined);
        if (t - this.lastSeen[r] > silence) {
          this.fail(new DistError(`rank ${this.rank}: rank ${r} sent no heartbeat for ${t - this.lastSeen[r]} ms (limit timeoutMs/2 = ${silence} ms): rank ${r} crashed, hangs, or blocks its event loop (see its output)`, r));
        }
      }
    }, beat);
    this.hbTimer.unref();
  }

  /** A frame header arrived from `src`: where its payload goes. */
  private onFrame(src: number, f: Frame): Sink | null {
    if (f.k === 'hb') {
      this.peerWaits[src] = f.w;
      return null;
    }
    if (f.k === 'bye') {
      this.byes.add(src);
      return null;
    }
    if (f.k === 'abort') {
      this.fail(new DistError(`rank ${this.rank}: ${f.why}`, f.rank));
      return null;
    }
    this.lastData[src] = Date.now();
    const header = { tag: f.tag, len: f.len, total: f.total };
    const key = `${src}|${f.tag}`;
    const w = this.waiters.get(key)?.shift();
    if (w) {
      clearTimeout(w.timer);
      if (w.into && fits(header, w.into)) {
        const { target, add } = w.into;
        const done = () => w.resolve({ header, payload: bytesOf(target) });
        return add ? { floats: target, done } : { bytes: bytesOf(target), done };
      }
      const payload = alignedBytes(f.len);
      return { bytes: payload, done: () => w.resolve({ header, payload }) };
    }
    const early: Early = { msg: { header, payload: alignedBytes(f.len) }, complete: false, then: [] };
    if (!this.inbox.has(key)) this.inbox.set(key, []);
    this.inbox.get(key)!.push(early);
    return {
      bytes: early.msg.payload,
      done: () => {
        early.complete = true;
        for (const t of early.then) t();
      },
    };
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

  /**
   * Reject everything pending and every later operation with `e`, and pass
   * `e` on to every peer first: a rank that fails and exits must not look, to
   * the others, like the rank at fault (its connection closes right after).
   */
  private fail(e: DistError): void {
    if (this.aborted) return;
    this.aborted = e;
    if (!this.closed) {
      for (let r = 0; r < this.worldSize; r++) {
        if (r !== this.rank && !this.byes.has(r)) void this.write(r, { k: 'abort', why: e.message, rank: e.rank ?? this.rank }).catch(() => undefined);
      }
    }
    for (const ws of this.waiters.values()) for (const w of ws) (clearTimeout(w.timer), w.reject(e));
    this.waiters.clear();
    for (const reject of this.pending) reject(e);
    this.pending.clear();
  }

  /**
   * Tell every other rank that this one failed, so they fail at once naming
   * this rank instead of waiting for a timeout. Collectives call it on a size
   * mismatch; scripts may call it from a `catch`.
   */
  abort(why: string): void {
    for (let r = 0; r < this.worldSize; r++) {
      if (r !== this.rank) void this.write(r, { k: 'abort', why: `rank ${this.rank} failed: ${why}`, rank: this.rank }).catch(() => undefined);
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
   * Write one frame (and its payload) to `dst`'s stream; resolves once the
   * operating system has taken every byte (copied them into the socket), so
   * the payload's memory is free to change then.
   */
  private write(dst: number, f: Frame, payload?: ArrayBufferView): Promise<void> {
    const sock = this.links.out[dst]!;
    const json = Buffer.from(JSON.stringify(f));
    const head = Buffer.allocUnsafe(4 + json.length);
    head.writeUInt32LE(json.length, 0);
    json.copy(head, 4);
    return new Promise<void>((resolve, reject) => {
      const settle = (e?: Error | null) => {
        this.pending.delete(reject);
        if (e) reject(e instanceof DistError ? e : new DistError(`rank ${this.rank}: sending to rank ${dst} failed (${e.message}): rank ${dst} has gone`, dst));
        else resolve();
      };
      this.pending.add(reject);
      if (sock.destroyed || !sock.writable) return settle(new Error('connection closed'));
      sock.cork();
      if (payload && payload.byteLength) {
        sock.write(head);
        sock.write(bytesOf(payload), settle);
      } else sock.write(head, settle);
      sock.uncork();
    });
  }

  /**
   * Send a typed array (or a tfjs tensor, through its `dataSync()`) to rank
   * `dst`, without copying it. Resolves when the operating system has taken
   * all of its bytes (they are in the socket), so, like
   * `torch.distributed.send`, the array is free to change once this resolves,
   * and not before. `total` is for collectives' size checks.
   */
  async send(data: ArrayBufferView | { dataSync(): ArrayBufferView }, dst: number, tag: string | number = 0, total?: number): Promise<void> {
    const arr = 'dataSync' in data ? data.dataSync() : data;
    this.check(dst, 'send');
    this.traffic.bytesSent += arr.byteLength;
    this.traffic.messagesSent++;
    await this.write(dst, { k: 'm', tag: String(tag), len: arr.byteLength, total }, arr);
  }

  /**
   * Receive the next message with `tag` from rank `src` as raw bytes
   * (`header.total` is the sender's declared full size, for checks).
   * Rejects with a {@link DistError} naming `src` after 0.9·`timeoutMs` (or
   * naming the rank `src` itself waits for, if `src` reports that first).
   */
  recvRaw(src: number, tag: string | number = 0): Promise<Msg> {
    this.check(src, 'recv');
    return this.take(src, String(tag));
  }

  /**
   * Receive the next message with `tag` from `src` into `target`: its floats
   * are copied over `target`, or added to it (`add`), as they arrive, when the
   * header says `target.length` floats and `total` (the collectives' size
   * check); otherwise `target` is left alone. Returns the header, which the
   * caller checks. Several receives may be posted at once: messages with the
   * same source and tag fill them in order.
   */
  async recvInto(src: number, tag: string, target: Float32Array, add: boolean, total: number): Promise<Msg['header']> {
    this.check(src, 'recv');
    return (await this.take(src, tag, { target, add, total })).header;
  }

  /** The next message from `src` with `tag`: arrived already, or awaited with the deadline described at {@link recvRaw}. */
  private take(src: number, tag: string, into?: Into): Promise<Msg> {
    const key = `${src}|${tag}`;
    const counted = (m: Msg) => {
      this.traffic.bytesReceived += m.header.len;
      this.traffic.messagesReceived++;
      return m;
    };
    const q = this.inbox.get(key);
    if (q && q.length) {
      const early = q.shift()!;
      if (!q.length) this.inbox.delete(key);
      const use = () => {
        if (into && fits(early.msg.header, into)) deliver(early.msg.payload, into);
        return counted(early.msg);
      };
      if (early.complete) return Promise.resolve(use());
      return new Promise<Msg>((resolve, reject) => {
        this.pending.add(reject);
        early.then.push(() => {
          this.pending.delete(reject);
          resolve(use());
        });
      });
    }
    return new Promise<Msg>((resolve, reject) => {
      // Deadline: 0.8·timeoutMs without message bytes from `src` while waiting
      // (receives posted ahead of time wait while `src` sends earlier ones),
      // then tell the others and wait 0.1·timeoutMs more: if the rank we wait
      // for is itself stuck waiting on a third one, its own abort (naming that
      // one) arrives first and is the error reported here.
      const wait = Math.round(0.8 * this.timeoutMs), posted = Date.now();
      const w: Waiter = { resolve: (m) => resolve(counted(m)), reject, timer: undefined as unknown as NodeJS.Timeout, into };
      const expire = () => {
        const left = Math.max(posted, this.lastData[src] ?? 0) + wait - Date.now();
        if (left > 0) return void (w.timer = setTimeout(expire, left)).unref();
        const ws = this.waiters.get(key) ?? [];
        const i = ws.indexOf(w);
        if (i >= 0) ws.splice(i, 1);
        const { rank: culprit, chain } = this.blame(src);
        const via = chain.length > 1 ? `; rank ${chain.slice(0, -1).join(' waits for rank ')} waits for rank ${culprit}` : '';
        const e = new DistError(`rank ${this.rank}: waited ${wait} ms for rank ${src} (tag ${tag})${via}; rank ${culprit} is alive but never sends: does every rank call the same collectives in the same order?`, culprit);
        if (!this.aborted) this.abort(e.message);
        setTimeout(() => {
          this.fail(e);
          reject(this.aborted ?? e);
        }, Math.round(0.1 * this.timeoutMs)).unref();
      };
      w.timer = setTimeout(expire, wait);
      w.timer.unref();
      if (!this.waiters.has(key)) this.waiters.set(key, []);
      this.waiters.get(key)!.push(w);
    });
  }

  /** Receive the next Float32Array sent by rank `src` with `tag`. Like `torch.distributed.recv`. */
  async recv(src: number, tag: string | number = 0): Promise<Float32Array> {
    return bufferToF32((await this.recvRaw(src, tag)).payload);
  }

  /**
   * Leave the group, like `destroy_process_group`: a barrier (so that every
   * message a peer still waits for has arrived before the sockets close),
   * then a goodbye to each peer (so it expects neither heartbeats nor its
   * connection), then close. After a failure it just closes.
   */
  async destroy(): Promise<void> {
    if (this.closed) return;
    if (!this.aborted && this.worldSize > 1) {
      // the token-ring barrier of collectives.ts, inlined to avoid an import cycle
      const tag = `destroy:${this.seq++}`, n = this.worldSize;
      try {
        for (let s = 0; s < n - 1; s++) await Promise.all([this.send(new Float32Array(0), (this.rank + 1) % n, tag), this.recvRaw((this.rank + n - 1) % n, tag)]);
        await Promise.all(Array.from({ length: n }, (_, r) => (r === this.rank ? undefined : this.write(r, { k: 'bye' }))));
      } catch {
        /* a peer failed: close anyway */
      }
      await new Promise((ok) => setTimeout(ok, 50));
    }
    this.closed = true;
    if (this.hbTimer) clearInterval(this.hbTimer);
    for (const ws of this.waiters.values()) for (const w of ws) clearTimeout(w.timer);
    this.links.close();
    for (const s of this.others) s.close();
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
  const loopback = masterAddr === '127.0.0.1' || masterAddr === 'localhost';
  const transport = chooseTransport(loopback, rank);
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
  const links = new Links(worldSize);
  let endpoint: string;
  try {
    endpoint = await links.listen(transport, loopback, rank);
  } catch (e) {
    links.close();
    master?.close();
    throw new DistError(`rank ${rank}: cannot open its data socket (${(e as Error).message}); set GRADLAB_DIST_TRANSPORT=tcp or check the host's network settings`, rank);
  }
  const ctrl = new zmq.Dealer({ linger: 0, routingId: `r${rank}` });
  ctrl.connect(`tcp://${masterAddr}:${masterPort}`);
  const closeAll = () => (links.close(), ctrl.close(), master?.close());
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
  const g = new ProcessGroup(rank, worldSize, localRank, timeoutMs, transport, links, master ? [ctrl, master] : [ctrl]);
  try {
    await Promise.race([links.connect(g, eps, rank), deadline(`rank ${rank}: could not connect to every peer's data socket within ${timeoutMs} ms; is a firewall between the hosts, or did a rank stop?`)]);
  } catch (e) {
    closeAll();
    throw e instanceof DistError ? e : new DistError(`rank ${rank}: connecting to the peers failed (${(e as Error).message}); did a rank stop during start-up?`, rank);
  }
  g.start();
  return g;
}

/** How the ranks' data travels: a Unix domain socket (ranks on one Linux host) or TCP. */
export type Transport = 'unix' | 'tcp';

/** `unix` on one Linux host, `tcp` otherwise; `GRADLAB_DIST_TRANSPORT=tcp|unix` chooses. */
function chooseTransport(loopback: boolean, rank: number): Transport {
  const v = process.env.GRADLAB_DIST_TRANSPORT;
  if (v === 'tcp' || v === 'unix') {
    if (v === 'unix' && !(loopback && process.platform === 'linux')) {
      throw new DistError(`rank ${rank}: GRADLAB_DIST_TRANSPORT=unix needs every rank on this Linux host (MASTER_ADDR=127.0.0.1); unset it or use tcp`, rank);
    }
    return v;
  }
  if (v !== undefined && v !== '') throw new DistError(`rank ${rank}: GRADLAB_DIST_TRANSPORT=${JSON.stringify(v)}; use tcp or unix (or unset it)`, rank);
  return loopback && process.platform === 'linux' ? 'unix' : 'tcp';
}

/**
 * One rank's data sockets: a server that peers connect to, `out[r]` (accepted
 * from rank r, written to) and `inn[r]` (connected to rank r's server, read
 * with `onread`). A connection carries data one way, so a rank reads each
 * peer's stream into exactly where its messages belong (see {@link Inbound}).
 * Unix sockets use Linux's abstract namespace: no file to clean up.
 */
class Links {
  readonly server = net.createServer();
  readonly out: (net.Socket | undefined)[];
  readonly inn: (net.Socket | undefined)[];
  private accepted = 0;
  private allAccepted!: () => void;
  private readonly acceptedAll = new Promise<void>((ok) => (this.allAccepted = ok));

  constructor(private readonly worldSize: number) {
    this.out = new Array(worldSize).fill(undefined);
    this.inn = new Array(worldSize).fill(undefined);
  }

  /** Start the server; returns the endpoint peers connect to (`unix:<name>` or `tcp://host:port`). */
  async listen(transport: Transport, loopback: boolean, rank: number): Promise<string> {
    if (this.worldSize === 1) this.allAccepted();
    this.server.on('connection', (sock) => {
      sock.on('error', () => undefined);
      if (transport === 'tcp') sock.setNoDelay(true);
      let hello = Buffer.alloc(0);
      const onHello = (d: Buffer) => {
        hello = Buffer.concat([hello, d]);
        if (hello.length < 4) return;
        sock.off('data', onHello);
        const r = hello.readUInt32LE(0);
        if (r >= this.worldSize || r === rank || this.out[r]) return void sock.destroy();
        this.out[r] = sock;
        if (++this.accepted === this.worldSize - 1) this.allAccepted();
      };
      sock.on('data', onHello);
    });
    const listening = (opts: net.ListenOptions) =>
      new Promise<void>((ok, fail) => {
        this.server.once('error', fail);
        this.server.listen(opts, () => (this.server.off('error', fail), ok()));
      });
    if (transport === 'unix') {
      const name = `gradlab-${process.pid}-${rank}-${Math.random().toString(36).slice(2, 10)}`;
      await listening({ path: `\0${name}` });
      return `unix:${name}`;
    }
    await listening({ host: loopback ? '127.0.0.1' : '0.0.0.0', port: 0 });
    return `tcp://${loopback ? '127.0.0.1' : os.hostname()}:${(this.server.address() as net.AddressInfo).port}`;
  }

  /** Connect to every peer's server and wait until every peer has connected to ours. */
  async connect(g: ProcessGroup, eps: string[], rank: number): Promise<void> {
    const hello = Buffer.alloc(4);
    hello.writeUInt32LE(rank, 0);
    const connected: Promise<void>[] = [];
    for (let r = 0; r < this.worldSize; r++) {
      if (r === rank) continue;
      const parser = g.inbound(r);
      const ep = eps[r];
      const where: net.NetConnectOpts = ep.startsWith('unix:') ? { path: `\0${ep.slice(5)}` } : { host: /^tcp:\/\/(.*):\d+$/.exec(ep)![1], port: Number(/:(\d+)$/.exec(ep)![1]) };
      const onread = { buffer: () => parser.next(), callback: (n: number) => (parser.onRead(n), true) };
      const sock = net.connect({ ...where, onread });
      this.inn[r] = sock;
      connected.push(
        new Promise<void>((ok, fail) => {
          sock.once('connect', () => {
            if (!ep.startsWith('unix:')) sock.setNoDelay(true);
            sock.write(hello);
            ok();
          });
          sock.once('error', fail);
        }),
      );
      sock.on('error', () => undefined);
      sock.on('close', () => g.peerClosed(r));
    }
    await Promise.all([...connected, this.acceptedAll]);
  }

  close(): void {
    for (const s of this.out) s?.end();
    for (const s of this.inn) s?.destroy();
    this.server.close();
  }
}
