// The on-disk record of one Raft log entry (docs/storage.md, "Entry record").
// The checksum covers every byte before it, so a flipped bit anywhere in the
// record, or a record cut short, is detected when it is read back.
//
// Failure tier: decoding throws TsraftError('TSR_ERR_CORRUPT_LOG') naming the
// index. A corrupt log is an environment failure that makes progress unsafe:
// the caller (the replica) must treat it as fatal — log the message and exit
// with the storage-corruption exit code — and never apply the entry.
import { AssertionError, assert, TsraftError } from '../errors.js';
import type { Entry, EntryKind } from '../raft/types.js';
import { crc32c } from '../tsdb/codec/crc32c.js';

export const ENTRY_RECORD_VERSION = 1;
/** version(1) + index(8) + term(8) + kind(1) + data length(4). */
export const ENTRY_HEADER_BYTES = 22;
export const ENTRY_CHECKSUM_BYTES = 4;
/** Entries larger than this are refused when encoding (the Raft core bounds
 *  appends far below it); a stored length above it is corruption. */
export const MAX_ENTRY_DATA_BYTES = 256 * 1024 * 1024;

const KIND_CODES: Record<EntryKind, number> = { normal: 0, config: 1 };
const KINDS_BY_CODE: readonly EntryKind[] = ['normal', 'config'];

export function encodedEntryBytes(entry: Entry): number {
  return ENTRY_HEADER_BYTES + entry.data.length + ENTRY_CHECKSUM_BYTES;
}

export function encodeEntry(entry: Entry): Uint8Array {
  if (!(Number.isSafeInteger(entry.index) && entry.index >= 1)) throw new AssertionError(`encodeEntry: bad index ${entry.index}`);
  if (!(Number.isSafeInteger(entry.term) && entry.term >= 0)) throw new AssertionError(`encodeEntry: bad term ${entry.term} at index ${entry.index}`);
  if (!(entry.data.length <= MAX_ENTRY_DATA_BYTES)) throw new AssertionError(`encodeEntry: entry ${entry.index} has ${entry.data.length} bytes, over ${MAX_ENTRY_DATA_BYTES}`);
  const kindCode = KIND_CODES[entry.kind];
  if (!(kindCode !== undefined)) throw new AssertionError(`encodeEntry: unknown kind ${String(entry.kind)} at index ${entry.index}`);
  const record = new Uint8Array(encodedEntryBytes(entry));
  const view = new DataView(record.buffer);
  view.setUint8(0, ENTRY_RECORD_VERSION);
  view.setBigUint64(1, BigInt(entry.index));
  view.setBigUint64(9, BigInt(entry.term));
  view.setUint8(17, kindCode);
  view.setUint32(18, entry.data.length);
  record.set(entry.data, ENTRY_HEADER_BYTES);
  const bodyEnd = ENTRY_HEADER_BYTES + entry.data.length;
  view.setUint32(bodyEnd, crc32c(record.subarray(0, bodyEnd)));
  return record;
}

/**
 * Decode and verify one entry record. `expectedIndex` is the index the record
 * was stored under (its key); a record that names another index is corrupt.
 * The returned entry's data is a copy, independent of `record`.
 */
export function decodeEntry(record: Uint8Array, expectedIndex: number): Entry {
  const corrupt = (why: string): TsraftError =>
    new TsraftError('TSR_ERR_CORRUPT_LOG', `log entry ${expectedIndex} is corrupt: ${why}`, { details: { index: expectedIndex } });
  if (record.length < ENTRY_HEADER_BYTES + ENTRY_CHECKSUM_BYTES) throw corrupt(`record is ${record.length} bytes, shorter than the ${ENTRY_HEADER_BYTES + ENTRY_CHECKSUM_BYTES}-byte minimum`);
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const bodyEnd = record.length - ENTRY_CHECKSUM_BYTES;
  const stored = view.getUint32(bodyEnd);
  const computed = crc32c(record.subarray(0, bodyEnd));
  if (stored !== computed) throw corrupt(`checksum mismatch (stored ${hex32(stored)}, computed ${hex32(computed)})`);
  const version = view.getUint8(0);
  if (version !== ENTRY_RECORD_VERSION) throw corrupt(`unknown record version ${version}`);
  const index = Number(view.getBigUint64(1));
  const term = Number(view.getBigUint64(9));
  const kind = KINDS_BY_CODE[view.getUint8(17)];
  const dataLength = view.getUint32(18);
  if (kind === undefined) throw corrupt(`unknown entry kind ${view.getUint8(17)}`);
  if (dataLength !== bodyEnd - ENTRY_HEADER_BYTES) throw corrupt(`data length ${dataLength} does not match the record size`);
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(term)) throw corrupt('index or term beyond 2^53');
  if (index !== expectedIndex) throw corrupt(`record names index ${index}`);
  const entry: Entry = { index, term, kind, data: record.slice(ENTRY_HEADER_BYTES, bodyEnd) };
  assert(entry.data.length === dataLength, 'decodeEntry: data slice length');
  return entry;
}

function hex32(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}
