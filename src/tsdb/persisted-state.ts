// The state machine as key/value records (docs/storage.md, "State machine"):
// what a checkpoint writes, and how the records are read back at start-up.
// Pure: it turns a StateCheckpoint into operations and records into
// PersistedStateParts; the store (src/storage/state-machine-store.ts) runs
// the operations as one atomic batch and reads the records.
//
// Keys (bytes; series ids u32 big-endian, block starts as u64 big-endian of
// startMs + 2^53 so that keys sort by time):
//   00                    restore marker: a snapshot is being installed into
//                         the store; what else is stored is incomplete
//   01                    meta: TimeSeriesStateMachine.snapshot({series: false})
//   01 01                 covered index: the last committed entry the state
//                         reflects, applied or skipped (≥ the meta's applied index)
//   02 <id>               series head: key and open blocks
//   02 <id> <seq>         series journal record seq (u32): points appended
//                         to the open blocks since the head was written
//   03 <id> <start>       written sealed block's metadata (count, length, CRC)
//   04 <id> <start>       written sealed block's bytes (docs/segment-format.md)
// Start-up reads every key below 04 (memory: indexes and open blocks); block
// bytes are read one at a time when a query, a snapshot or the scrubber needs them.
import { TsraftError, assert } from '../errors.js';
import { ByteReader, ByteWriter } from './byte-io.js';
import type { WrittenBlockMeta } from './series-data.js';
import type { PersistedStateParts, StateCheckpoint } from './state-machine.js';
import { MAX_SERIES_KEY_BYTES } from './write-batch.js';

export const KEY_RESTORE_MARKER = 0x00;
export const KEY_META = 0x01;
export const KEY_SERIES_HEAD = 0x02;
export const KEY_BLOCK_META = 0x03;
export const KEY_BLOCK_BYTES = 0x04;
/** Record format version of heads and block metadata. */
const RECORD_VERSION = 1;
const START_BIAS = 2 ** 53;
const TWO_POW_32 = 2 ** 32;

export type StateKvOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

export interface CheckpointWrite {
  /** Delete every stored record before applying `ops` (same atomic batch). */
  replaceAll: boolean;
  ops: StateKvOp[];
  /** Bytes of the values written (for metrics). */
  bytes: number;
}

function corrupt(message: string, details: Record<string, unknown> = {}): TsraftError {
  return new TsraftError('TSR_ERR_CORRUPT_STATE', `persisted state machine: ${message}`, { details });
}

export function metaKey(): Uint8Array {
  return Uint8Array.of(KEY_META);
}

export function seriesHeadKey(seriesId: number): Uint8Array {
  const key = new Uint8Array(5);
  key[0] = KEY_SERIES_HEAD;
  writeU32be(key, 1, seriesId);
  return key;
}

export function journalKey(seriesId: number, seq: number): Uint8Array {
  const key = new Uint8Array(9);
  key[0] = KEY_SERIES_HEAD;
  writeU32be(key, 1, seriesId);
  writeU32be(key, 5, seq);
  return key;
}

export function blockKey(kind: typeof KEY_BLOCK_META | typeof KEY_BLOCK_BYTES, seriesId: number, startMs: number): Uint8Array {
  assert(Number.isSafeInteger(startMs) && Math.abs(startMs) < START_BIAS, `block start ${startMs} cannot be keyed`);
  const key = new Uint8Array(13);
  key[0] = kind;
  writeU32be(key, 1, seriesId);
  const biased = startMs + START_BIAS;
  writeU32be(key, 5, Math.floor(biased / TWO_POW_32));
  writeU32be(key, 9, biased % TWO_POW_32);
  return key;
}

function writeU32be(into: Uint8Array, at: number, value: number): void {
  assert(Number.isInteger(value) && value >= 0 && value < TWO_POW_32, `u32 key part ${value}`);
  into[at] = value >>> 24;
  into[at + 1] = (value >>> 16) & 0xff;
  into[at + 2] = (value >>> 8) & 0xff;
  into[at + 3] = value & 0xff;
}

function readU32be(from: Uint8Array, at: number): number {
  return from[at]! * 0x1000000 + ((from[at + 1]! << 16) | (from[at + 2]! << 8) | from[at + 3]!);
}

function encodeHead(key: string, head: Uint8Array): Uint8Array {
  return encodeRecord((w) => {
    w.string(key);
    w.varuint(head.length);
    w.bytes(head);
  }, head.length + key.length * 3 + 16);
}

function encodeBlockMeta(pointCount: number, byteLength: number, crc: number): Uint8Array {
  return encodeRecord((w) => {
    w.varuint(pointCount);
    w.varuint(byteLength);
    w.u32le(crc);
  });
}

export function coveredIndexKey(): Uint8Array {
  return Uint8Array.of(KEY_META, 1);
}

export function encodeCoveredIndex(index: number): Uint8Array {
  return encodeRecord((w) => w.varuint(index));
}

/** The fields of a small record (`u8 version · fields · u32le CRC-32C`),
 *  checksum and version checked; TSR_ERR_CORRUPT_STATE naming `what`. */
function recordFields(value: Uint8Array, what: string, details: Record<string, unknown> = {}): ByteReader {
  if (value.length < 5) throw corrupt(`${what} is ${value.length} bytes`, details);
  const r = new ByteReader(value, 'TSR_ERR_CORRUPT_STATE', `persisted state machine: ${what}`);
  r.offset = value.length - 4;
  r.expectCrc32c(0, 'record checksum');
  const body = new ByteReader(value, 'TSR_ERR_CORRUPT_STATE', `persisted state machine: ${what}`, 0, value.length - 4);
  const version = body.u8('version');
  if (version !== RECORD_VERSION) throw body.corrupt(`version ${version} is not supported (this build reads ${RECORD_VERSION})`);
  return body;
}

/** A small record: the version, what `write` adds, the CRC-32C. */
function encodeRecord(write: (w: ByteWriter) => void, capacity = 24): Uint8Array {
  const w = new ByteWriter(capacity);
  w.u8(RECORD_VERSION);
  write(w);
  w.crc32c();
  return w.finish().slice();
}

function decodeCoveredIndex(value: Uint8Array): number {
  const body = recordFields(value, 'covered index record');
  const index = body.varuint('covered index');
  body.expectEnd();
  return index;
}

export function restoreMarkerKey(): Uint8Array {
  return Uint8Array.of(KEY_RESTORE_MARKER);
}

/** The restore marker's value: the index of the snapshot being installed. */
export function encodeRestoreMarker(snapshotIndex: number): Uint8Array {
  return encodeRecord((w) => w.varuint(snapshotIndex));
}

/** The operations that write one series' changes (head, journal, blocks). */
export function seriesOps(series: StateCheckpoint['series'][number]): CheckpointWrite {
  const ops: StateKvOp[] = [];
  let bytes = 0;
  const put = (key: Uint8Array, value: Uint8Array): void => {
    ops.push({ type: 'put', key, value });
    bytes += value.length;
  };
  for (const start of series.deleteBlocks) {
    ops.push({ type: 'del', key: blockKey(KEY_BLOCK_META, series.id, start) });
    ops.push({ type: 'del', key: blockKey(KEY_BLOCK_BYTES, series.id, start) });
  }
  for (const block of series.putBlocks) {
    // Bytes before metadata: a record names only a block that exists.
    put(blockKey(KEY_BLOCK_BYTES, series.id, block.startMs), block.bytes);
    put(blockKey(KEY_BLOCK_META, series.id, block.startMs), encodeBlockMeta(block.pointCount, block.bytes.length, block.crc));
  }
  if (series.head !== null) {
    put(seriesHeadKey(series.id), encodeHead(series.key, series.head));
    for (let seq = 1; seq <= series.dropJournalThrough; seq++) ops.push({ type: 'del', key: journalKey(series.id, seq) });
  }
  if (series.journal !== null) put(journalKey(series.id, series.journal.seq), series.journal.bytes);
  return { replaceAll: false, ops, bytes };
}

/** The operations that write `cp` (one atomic batch, in this order). */
export function checkpointOps(cp: StateCheckpoint): CheckpointWrite {
  const ops: StateKvOp[] = [];
  let bytes = 0;
  const put = (key: Uint8Array, value: Uint8Array): void => {
    ops.push({ type: 'put', key, value });
    bytes += value.length;
  };
  for (const removed of cp.removedSeries) {
    ops.push({ type: 'del', key: seriesHeadKey(removed.id) });
    for (let seq = 1; seq <= removed.journalRecords; seq++) ops.push({ type: 'del', key: journalKey(removed.id, seq) });
    for (const start of removed.blockStarts) {
      ops.push({ type: 'del', key: blockKey(KEY_BLOCK_META, removed.id, start) });
      ops.push({ type: 'del', key: blockKey(KEY_BLOCK_BYTES, removed.id, start) });
    }
  }
  for (const series of cp.series) {
    const written = seriesOps(series);
    for (const op of written.ops) ops.push(op);
    bytes += written.bytes;
  }
  // Last: the applied index names a state every record above belongs to.
  put(coveredIndexKey(), encodeCoveredIndex(cp.coveredIndex));
  put(metaKey(), cp.meta);
  return { replaceAll: cp.full, ops, bytes };
}

export type DecodedState = { kind: 'empty' } | { kind: 'incomplete-restore'; snapshotIndex: number } | { kind: 'state'; parts: PersistedStateParts };

/** Rebuilds the parts from every record with a key below KEY_BLOCK_BYTES, in
 *  key order: 'empty' when nothing was ever written, 'incomplete-restore' when
 *  a snapshot install was cut short (the records are to be discarded).
 *  TSR_ERR_CORRUPT_STATE names the damaged record. */
export function decodeStoredState(records: ReadonlyArray<readonly [Uint8Array, Uint8Array]>): DecodedState {
  const first = records[0];
  if (first !== undefined && first[0].length === 1 && first[0][0] === KEY_RESTORE_MARKER) {
    const body = recordFields(first[1], 'restore marker');
    return { kind: 'incomplete-restore', snapshotIndex: body.varuint('snapshot index') };
  }
  const parts = decodePersistedState(records);
  return parts === null ? { kind: 'empty' } : { kind: 'state', parts };
}

/** decodeStoredState without a restore marker: the parts, or null when empty. */
export function decodePersistedState(records: Iterable<readonly [Uint8Array, Uint8Array]>): PersistedStateParts | null {
  let meta: Uint8Array | null = null;
  let coveredIndex = 0;
  const series: PersistedStateParts['series'] = [];
  const blocksOf = new Map<number, WrittenBlockMeta[]>();
  for (const [key, value] of records) {
    const kind = key[0];
    if (kind === KEY_META && key.length === 1) {
      meta = value;
    } else if (kind === KEY_META && key.length === 2 && key[1] === 1) {
      coveredIndex = decodeCoveredIndex(value);
    } else if (kind === KEY_SERIES_HEAD && key.length === 5) {
      const id = readU32be(key, 1);
      const body = recordFields(value, `head record of series ${id}`, { seriesId: id });
      const seriesKey = body.string(MAX_SERIES_KEY_BYTES, 'series key');
      const head = body.bytesView(body.varuintAtMost(body.remainingBytes, 'head length'), 'head');
      body.expectEnd();
      if (series.length > 0 && series[series.length - 1]!.id >= id) throw corrupt(`head records out of order at series ${id}`, { seriesId: id });
      series.push({ id, key: seriesKey, head, blocks: [], journals: [] });
    } else if (kind === KEY_SERIES_HEAD && key.length === 9) {
      // Journal records sort right after their head record, in seq order.
      const id = readU32be(key, 1);
      const seq = readU32be(key, 5);
      const owner = series[series.length - 1];
      if (owner === undefined || owner.id !== id || seq !== owner.journals.length + 1) {
        throw corrupt(`journal record ${seq} of series ${id} has no head record or is out of sequence`, { seriesId: id, seq });
      }
      owner.journals.push(value);
    } else if (kind === KEY_BLOCK_META && key.length === 13) {
      const id = readU32be(key, 1);
      const startMs = readU32be(key, 5) * TWO_POW_32 + readU32be(key, 9) - START_BIAS;
      const body = recordFields(value, `metadata of block ${startMs} ms of series ${id}`, { seriesId: id, blockStartMs: startMs });
      const pointCount = body.varuint('point count');
      const byteLength = body.varuint('byte length');
      const crc = body.u32le('block crc');
      body.expectEnd();
      let list = blocksOf.get(id);
      if (list === undefined) blocksOf.set(id, (list = []));
      list.push({ startMs, pointCount, byteLength, crc });
    } else {
      throw corrupt(`unknown record key ${hex(key)}`, { key: hex(key) });
    }
  }
  if (meta === null) {
    if (series.length > 0 || blocksOf.size > 0) throw corrupt('series records without a meta record');
    return null;
  }
  for (const s of series) {
    s.blocks = blocksOf.get(s.id) ?? [];
    blocksOf.delete(s.id);
  }
  if (blocksOf.size > 0) {
    const orphan = [...blocksOf.keys()][0]!;
    throw corrupt(`block metadata of series ${orphan}, which has no head record`, { seriesId: orphan });
  }
  return { meta, coveredIndex, series };
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 16), (b) => b.toString(16).padStart(2, '0')).join('');
}
