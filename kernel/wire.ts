/**
 * The Jupyter wire protocol (messaging spec 5.3), shared by gradlab's kernel
 * server (kernel/server.ts) and its client (kernel/client.ts): the connection
 * file, socket addresses, HMAC signing and the multipart message layout.
 *
 * A message on a ZeroMQ socket is the frames
 * `[identities..., '<IDS|MSG>', signature, header, parent_header, metadata, content, buffers...]`
 * where signature = hex HMAC(key, header + parent_header + metadata + content)
 * with the connection file's `signature_scheme` (`hmac-sha256`). An empty key
 * disables signing (the signature is the empty string).
 */
import { createHmac, randomUUID, timingSafeEqual } from 'crypto';
import * as fs from 'fs';

/** What a Jupyter connection file holds. */
export interface ConnectionInfo {
  transport: 'tcp' | 'ipc';
  /** Address to bind (kernel) or connect to (client); 127.0.0.1 when the file does not say. */
  ip: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: string;
  kernel_name?: string;
}

/** The delimiter between routing identities and the signed message. */
export const DELIM = Buffer.from('<IDS|MSG>');

/** The protocol version gradlab speaks. */
export const PROTOCOL_VERSION = '5.3';

/**
 * Read and check a connection file. Missing `transport`, `ip` and
 * `signature_scheme` take Jupyter's defaults (tcp, 127.0.0.1, hmac-sha256);
 * a missing port or an unknown transport is an error naming the file.
 */
export function readConnectionFile(file: string): ConnectionInfo {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`cannot read the connection file ${file}: ${(e as Error).message}`);
  }
  const transport = (raw.transport ?? 'tcp') as string;
  if (transport !== 'tcp' && transport !== 'ipc') {
    throw new Error(`connection file ${file}: unknown transport "${transport}" (tcp or ipc)`);
  }
  const info = {
    ...raw,
    transport,
    ip: typeof raw.ip === 'string' && raw.ip ? raw.ip : '127.0.0.1',
    key: typeof raw.key === 'string' ? raw.key : '',
    signature_scheme: typeof raw.signature_scheme === 'string' ? raw.signature_scheme : 'hmac-sha256',
  } as ConnectionInfo;
  for (const p of ['shell_port', 'iopub_port', 'stdin_port', 'control_port', 'hb_port'] as const) {
    if (!Number.isInteger(info[p])) throw new Error(`connection file ${file}: "${p}" is missing or not an integer`);
  }
  return info;
}

/** The ZeroMQ address of one channel: `tcp://ip:port` or `ipc://ip-port` (Jupyter's ipc naming). */
export function endpoint(info: Pick<ConnectionInfo, 'transport' | 'ip'>, port: number): string {
  if (info.transport === 'ipc') return `ipc://${info.ip}-${port}`;
  return isIPv6(info.ip) ? `tcp://[${info.ip}]:${port}` : `tcp://${info.ip}:${port}`;
}

/** An IPv6 address (`::1`), which ZeroMQ needs in brackets and with its ipv6 option on. */
export function isIPv6(ip: string): boolean {
  return ip.includes(':');
}

/** Signs and verifies messages with the connection key. */
export class Signer {
  private readonly algorithm: string;

  constructor(
    private readonly key: string,
    scheme = 'hmac-sha256',
  ) {
    const m = /^hmac-([a-z0-9-]+)$/.exec(scheme);
    if (!m) throw new Error(`unsupported signature_scheme "${scheme}" (expected hmac-<hash>, e.g. hmac-sha256)`);
    this.algorithm = m[1]!;
    createHmac(this.algorithm, 'probe'); // throws now for a hash Node does not know
  }

  /** True when messages are signed (a non-empty key). */
  get enabled(): boolean {
    return this.key.length > 0;
  }

  /** Hex signature of the four signed frames ('' without a key). */
  sign(parts: (Buffer | string)[]): string {
    if (!this.enabled) return '';
    const h = createHmac(this.algorithm, this.key);
    for (const p of parts) h.update(p);
    return h.digest('hex');
  }

  /** Constant-time check of `signature` against the frames (always true without a key). */
  verify(signature: Buffer, parts: Buffer[]): boolean {
    if (!this.enabled) return true;
    const want = Buffer.from(this.sign(parts));
    return signature.length === want.length && timingSafeEqual(signature, want);
  }
}

/** A message header (spec 5.3). */
export interface Header {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  date: string;
  version: string;
  [k: string]: unknown;
}

/** A decoded message. `identities` are the ROUTER routing frames (reply to them). */
export interface WireMessage {
  identities: Buffer[];
  header: Header;
  parent_header: Partial<Header>;
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
  buffers: Buffer[];
  /** The header frame as received (to use as a parent_header without re-encoding). */
  rawHeader: Buffer;
}

/** A new header for a message this side sends. */
export function newHeader(msgType: string, session: string, username = 'gradlab'): Header {
  return { msg_id: randomUUID(), msg_type: msgType, session, username, date: new Date().toISOString(), version: PROTOCOL_VERSION };
}

/**
 * The frames of a message. Parts may be given pre-encoded as JSON text (a
 * string or Buffer), which lets the kernel pass a reply's content through
 * without parsing it again.
 */
export function encode(
  signer: Signer,
  msg: {
    identities?: Buffer[];
    header: object | string | Buffer;
    parent_header?: object | string | Buffer;
    metadata?: object | string | Buffer;
    content?: object | string | Buffer;
    buffers?: Buffer[];
  },
): Buffer[] {
  const json = (x: object | string | Buffer | undefined) =>
    Buffer.isBuffer(x) ? x : Buffer.from(typeof x === 'string' ? x : JSON.stringify(x ?? {}));
  const parts = [json(msg.header), json(msg.parent_header), json(msg.metadata), json(msg.content)];
  return [...(msg.identities ?? []), DELIM, Buffer.from(signer.sign(parts)), ...parts, ...(msg.buffers ?? [])];
}

/**
 * The signatures of the messages already accepted, so that a signed message sent a
 * second time (a replay) is refused, as jupyter_client's `Session` does with its
 * `digest_history`. Bounded: beyond `capacity` (default 65536, jupyter_client's
 * `digest_history_size`) the oldest signatures are forgotten.
 */
export class SignatureHistory {
  private readonly seen = new Set<string>();

  constructor(readonly capacity = 1 << 16) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new Error(`SignatureHistory: capacity must be a positive integer, got ${capacity}`);
  }

  /** How many signatures are remembered. */
  get size(): number {
    return this.seen.size;
  }

  /** Remember `signature`; false when it was already remembered (a replay). */
  add(signature: string): boolean {
    if (this.seen.has(signature)) return false;
    this.seen.add(signature);
    if (this.seen.size > this.capacity) this.seen.delete(this.seen.values().next().value!);
    return true;
  }
}

/** Why a message was not accepted. */
export type DecodeFailure = { reason: 'no delimiter' | 'bad signature' | 'duplicate signature' | 'bad JSON'; identities: Buffer[] };

/**
 * Split, verify and parse received frames. The signature is checked before
 * anything is parsed; a message that fails is returned as a failure, never
 * as content. With a `history` (and a key), a signature seen before is a
 * replay: 'duplicate signature'.
 */
export function decode(signer: Signer, frames: Buffer[], history?: SignatureHistory): WireMessage | DecodeFailure {
  const at = frames.findIndex((f) => f.equals(DELIM));
  const identities = at < 0 ? frames : frames.slice(0, at);
  if (at < 0 || frames.length < at + 6) return { reason: 'no delimiter', identities };
  const parts = frames.slice(at + 2, at + 6);
  if (!signer.verify(frames[at + 1]!, parts)) return { reason: 'bad signature', identities };
  if (history && signer.enabled && !history.add(frames[at + 1]!.toString('latin1'))) return { reason: 'duplicate signature', identities };
  try {
    const [header, parent_header, metadata, content] = parts.map((p) => JSON.parse(p.toString('utf8')));
    if (typeof header?.msg_type !== 'string') return { reason: 'bad JSON', identities };
    return { identities, header, parent_header: parent_header ?? {}, metadata: metadata ?? {}, content: content ?? {},
      buffers: frames.slice(at + 6), rawHeader: parts[0]! };
  } catch {
    return { reason: 'bad JSON', identities };
  }
}

/** True when `decode` failed. */
export function isFailure(d: WireMessage | DecodeFailure): d is DecodeFailure {
  return 'reason' in d;
}
