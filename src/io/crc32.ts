/**
 * CRC-32 (the IEEE 802.3 polynomial, reflected, as in zlib, gzip, PNG and zip;
 * Python's `zlib.crc32`), the checksum of gradlab's checkpoints.
 *
 * Node ≥ 20.15 computes it natively (`zlib.crc32`, several GB/s); older Node
 * uses the table-driven loop below (Sarwate 1988), which gives the same values.
 * Introduced in notebooks/02-optim.
 */
import * as zlib from 'zlib';

let table: Uint32Array | undefined;

/** The 256-entry table of the reflected polynomial 0xEDB88320. */
function crcTable(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** CRC-32 in plain JavaScript (the fallback; exported for the test that compares it with zlib's). */
export function crc32Js(bytes: Uint8Array, previous = 0): number {
  const t = crcTable();
  let c = ~previous >>> 0;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const native = (zlib as { crc32?: (data: Uint8Array | string, value?: number) => number }).crc32;

/**
 * CRC-32 of `bytes`, continuing from `previous` (the CRC of what came before), so
 * `crc32(b, crc32(a))` is the CRC of `a` followed by `b`. Strings are hashed as UTF-8.
 * `crc32('123456789') = 0xCBF43926` (the standard check value).
 */
export function crc32(bytes: Uint8Array | string, previous = 0): number {
  const b = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  return native ? native(b, previous) >>> 0 : crc32Js(b, previous);
}

/** `crc32:` and the value as 8 lowercase hex digits, as stored in a checkpoint. */
export function crc32Text(value: number): string {
  return `crc32:${(value >>> 0).toString(16).padStart(8, '0')}`;
}
