// The state machine snapshot (TSSM, docs/tsdb-commands.md, "Snapshot") of a
// live TimeSeriesStateMachine, one series at a time, without ever holding
// the whole snapshot: the header, one record per series (serialized when its
// turn comes, so sealed blocks that left memory are read back one series at
// a time), then the sessions tail and the CRC. The running CRC-32C, SHA-256
// and FNV-1a 64 cover exactly the bytes snapshot() returns, so the summary a
// backup records (state bytes, sha256, stateHash) is the same either way.
//
// Only the state machine's public API is used. The header and the tail come
// from snapshot({ series: false }) (the same format holding no series), so
// the option order and the optional sections stay the state machine's
// business; the records are encoded by TssmWriter, the writer a rebuild uses.
//
// The state must not change while a stream is read (the replica's Ready loop
// awaits the snapshot before it applies anything more): the stream checks the
// applied index and the series count at the end.
import { createHash, type Hash } from 'node:crypto';
import { assert } from '../errors.js';
import { Fnv1a64 } from '../tsdb/byte-io.js';
import type { TimeSeriesStateMachine } from '../tsdb/state-machine.js';
import type { SeriesData } from '../tsdb/series-data.js';
import { parseTssm, TssmWriter, type TssmHeader, type TssmSeriesRecord } from './tssm.js';

const utf8 = new TextEncoder();

/** Digests of a whole snapshot, as snapshot() would have given it. */
export interface TssmDigests {
  bytes: number;
  crc32c: number;
  sha256: Uint8Array;
  /** FNV-1a 64, hex: TimeSeriesStateMachine.stateHash(). */
  fnv1a64: string;
}

/** Bytes of an unsigned LEB128 varint (tsdb byte-io varuint, codec varint). */
export function varuintBytes(value: number): number {
  assert(Number.isInteger(value) && value >= 0 && value <= 2 ** 53, `varuintBytes(${value})`);
  let n = 1;
  let v = value;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** Bytes of a zigzag varint (codec svarint) of |value| ≤ 2^52. */
export function svarintBytes(value: number): number {
  return varuintBytes(value >= 0 ? value * 2 : -value * 2 - 1);
}

/**
 * Exact length of series.serialize() without reading or copying a sealed
 * block (docs/segment-format.md, "Series snapshot"): the head record
 * (serialize({ sealed: false }): header, open block count, open blocks, CRC)
 * plus, per sealed block, its state byte, start, length and bytes, with the
 * block count re-counted.
 */
export function serializedSeriesBytes(series: SeriesData): number {
  const headBytes = series.serialize({ sealed: false }).length;
  const open = series.openBlockCount();
  const summaries = series.sealedBlockSummaries();
  let bytes = headBytes - varuintBytes(open) + varuintBytes(open + summaries.length);
  for (const s of summaries) bytes += 1 + svarintBytes(s.startMs) + varuintBytes(s.byteLength) + s.byteLength;
  return bytes;
}

/**
 * One snapshot of `sm`, streamed. The constructor walks the series once
 * (count and exact size: a backup's layout depends on the size); records()
 * or pieces() then reads each series once. A stream is read once.
 */
export class TssmStream {
  readonly header: TssmHeader;
  /** The bytes after the series: sessions and optional sections. */
  readonly sessions: Uint8Array;
  /** Exactly snapshot().length. */
  readonly sizeBytes: number;
  private readonly appliedIndexAtStart: number;
  private started = false;

  constructor(private readonly sm: TimeSeriesStateMachine) {
    const emptySnapshot = sm.snapshot({ series: false });
    const empty = parseTssm(emptySnapshot);
    assert(empty.series.length === 0, 'snapshot({ series: false }) holds series');
    let seriesCount = 0;
    let seriesBytes = 0;
    for (let id = 0; id < sm.nextSeriesId; id++) {
      const key = sm.seriesKeyOf(id);
      if (key === undefined) continue;
      const data = sm.seriesDataOf(id);
      assert(data !== undefined, `series ${id} has a key and no data`);
      const dataBytes = serializedSeriesBytes(data);
      const keyBytes = utf8.encode(key).length;
      seriesBytes += varuintBytes(id) + varuintBytes(keyBytes) + keyBytes + varuintBytes(dataBytes) + dataBytes;
      seriesCount++;
    }
    this.header = { ...empty.header, seriesCount };
    this.sessions = empty.sessions.slice();
    // The empty snapshot less its zero series count, plus the real count and the records.
    this.sizeBytes = emptySnapshot.length - varuintBytes(0) + varuintBytes(seriesCount) + seriesBytes;
    this.appliedIndexAtStart = sm.appliedIndex;
  }

  /** The series records in id order (each serialize()d in its turn); returns
   *  the digests of the whole snapshot once the last one was taken. */
  *records(): Generator<TssmSeriesRecord, TssmDigests, void> {
    const digest = new RunningDigest();
    const writer = new TssmWriter((chunk) => digest.update(chunk));
    this.begin(writer);
    for (const record of this.seriesRecords()) {
      writer.series(record.id, record.key, record.data);
      yield record;
    }
    return this.end(writer, digest);
  }

  /** Every byte of snapshot(), in order, as a few pieces per series. */
  *pieces(): Generator<Uint8Array, TssmDigests, void> {
    const digest = new RunningDigest();
    const pieces: Uint8Array[] = [];
    const writer = new TssmWriter((chunk) => {
      digest.update(chunk);
      pieces.push(chunk);
    });
    const drain = function* (): Generator<Uint8Array, void, void> {
      for (const p of pieces) yield p;
      pieces.length = 0;
    };
    this.begin(writer);
    yield* drain();
    for (const record of this.seriesRecords()) {
      writer.series(record.id, record.key, record.data);
      yield* drain();
    }
    const digests = this.end(writer, digest);
    yield* drain();
    return digests;
  }

  private begin(writer: TssmWriter): void {
    assert(!this.started, 'a TssmStream is read once');
    this.started = true;
    writer.header(this.header);
  }

  private *seriesRecords(): Generator<TssmSeriesRecord, void, void> {
    let count = 0;
    for (let id = 0; id < this.sm.nextSeriesId; id++) {
      const key = this.sm.seriesKeyOf(id);
      if (key === undefined) continue;
      count++;
      assert(count <= this.header.seriesCount, `the state changed while it was streamed: more than the ${this.header.seriesCount} series at the start`);
      yield { id, key, data: this.sm.seriesDataOf(id)!.serialize() };
    }
    assert(count === this.header.seriesCount, `the state changed while it was streamed: ${count} series, ${this.header.seriesCount} at the start`);
  }

  private end(writer: TssmWriter, digest: RunningDigest): TssmDigests {
    const bytes = writer.finish(this.sessions);
    assert(this.sm.appliedIndex === this.appliedIndexAtStart, `the state changed while it was streamed: applied index ${this.sm.appliedIndex}, ${this.appliedIndexAtStart} at the start`);
    assert(bytes === this.sizeBytes && digest.bytes === bytes, `streamed snapshot of ${bytes} bytes, ${this.sizeBytes} computed`);
    return digest.finish();
  }
}

class RunningDigest {
  private readonly sha: Hash = createHash('sha256');
  private readonly fnv = new Fnv1a64();
  private last: Uint8Array | null = null;

  get bytes(): number {
    return this.fnv.bytes;
  }

  update(chunk: Uint8Array): void {
    this.sha.update(chunk);
    this.fnv.update(chunk);
    this.last = chunk;
  }

  /** The last chunk was the snapshot's CRC (TssmWriter.finish writes it last). */
  finish(): TssmDigests {
    assert(this.last !== null && this.last.length === 4, 'the snapshot ends with its CRC');
    const crc = new DataView(this.last.buffer, this.last.byteOffset, 4).getUint32(0, true);
    return { bytes: this.fnv.bytes, crc32c: crc, sha256: new Uint8Array(this.sha.digest()), fnv1a64: this.fnv.hex() };
  }
}
