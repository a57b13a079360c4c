// Reads and writes the state machine snapshot (`TSSM`, docs/tsdb-commands.md,
// "Snapshot") as parts: its header, one record per series, and the sessions
// tail. A backup stores the parts in separate files (docs/backup-format.md);
// rebuilding writes the exact same bytes back, so the state digest matches.
//
// Only the documented byte layout is used: the state machine's own restore()
// stays the one place that interprets a snapshot fully.
import { TsraftError, assert } from '../errors.js';
import { ByteReader, ByteWriter } from '../tsdb/byte-io.js';
import { SNAPSHOT_FORMAT_VERSION, SNAPSHOT_MAGIC } from '../tsdb/state-machine.js';
import { MAX_SERIES_KEY_BYTES } from '../tsdb/write-batch.js';
import { crc32c, crc32cContinue } from '../tsdb/codec/crc32c.js';

/** The state machine options in snapshot order (docs/tsdb-commands.md). */
export const TSSM_OPTION_COUNT = 8;

export interface TssmHeader {
  formatVersion: number;
  appliedIndex: number;
  lastLeaderTimeMs: number;
  /** The 8 options, in snapshot order. */
  options: number[];
  nextSeriesId: number;
  seriesCount: number;
}

export interface TssmSeriesRecord {
  id: number;
  key: string;
  /** SeriesData.serialize() bytes (a view into the snapshot). */
  data: Uint8Array;
}

export interface ParsedTssm {
  header: TssmHeader;
  series: TssmSeriesRecord[];
  /** From evictedSessionCount to just before the CRC (a view). */
  sessions: Uint8Array;
}

function corrupt(message: string): TsraftError {
  return new TsraftError('TSR_ERR_CORRUPT_SNAPSHOT', `state machine snapshot: ${message}`, { details: { reason: message } });
}

/** Splits snapshot bytes into parts, checking the CRC, magic and version
 *  (TSR_ERR_CORRUPT_SNAPSHOT). The series data are views, not copies. */
export function parseTssm(bytes: Uint8Array): ParsedTssm {
  if (bytes.length < SNAPSHOT_MAGIC.length + 5) throw corrupt(`${bytes.length} bytes is too short`);
  const body = bytes.length - 4;
  const stored = new DataView(bytes.buffer, bytes.byteOffset + body, 4).getUint32(0, true);
  if (crc32c(bytes, 0, body) !== stored) throw corrupt('checksum mismatch');
  const r = new ByteReader(bytes, 'TSR_ERR_CORRUPT_SNAPSHOT', 'state machine snapshot', 0, body);
  const magic = r.bytesView(SNAPSHOT_MAGIC.length, 'magic');
  if (!magic.every((b, i) => b === SNAPSHOT_MAGIC[i])) throw corrupt('bad magic (not a TSSM snapshot)');
  const formatVersion = r.u8('format version');
  if (formatVersion !== SNAPSHOT_FORMAT_VERSION) {
    throw new TsraftError('TSR_ERR_BACKUP_UNSUPPORTED', `state machine snapshot format version ${formatVersion} is not supported (this build reads ${SNAPSHOT_FORMAT_VERSION})`);
  }
  const appliedIndex = r.varuint('appliedIndex');
  const lastLeaderTimeMs = r.varuint('lastLeaderTimeMs');
  const options: number[] = [];
  for (let i = 0; i < TSSM_OPTION_COUNT; i++) options.push(r.varuint(`option ${i}`));
  const nextSeriesId = r.varuint('nextSeriesId');
  const seriesCount = r.varuintAtMost(r.remainingBytes, 'seriesCount');
  const series: TssmSeriesRecord[] = [];
  let previousId = -1;
  for (let s = 0; s < seriesCount; s++) {
    const id = r.varuint('series id');
    if (id <= previousId) throw corrupt(`series id ${id} is not above ${previousId}`);
    previousId = id;
    const key = r.string(MAX_SERIES_KEY_BYTES, 'series key');
    const length = r.varuint('series data length');
    series.push({ id, key, data: r.bytesView(length, 'series data') });
  }
  const sessions = bytes.subarray(r.offset, body);
  assert(series.length === seriesCount, 'parseTssm: series count');
  return { header: { formatVersion, appliedIndex, lastLeaderTimeMs, options, nextSeriesId, seriesCount }, series, sessions };
}

/**
 * Writes snapshot bytes part by part to a sink, keeping the running CRC, so a
 * rebuild can stream (verify only hashes) or collect (restore).
 */
export class TssmWriter {
  private crc = 0;
  private bytesWritten = 0;
  private seriesWritten = 0;
  private expectedSeries = -1;
  private finished = false;

  constructor(private readonly sink: (chunk: Uint8Array) => void) {}

  get sizeBytes(): number {
    return this.bytesWritten;
  }

  private emit(chunk: Uint8Array): void {
    assert(!this.finished, 'TssmWriter: write after finish');
    this.crc = crc32cContinue(this.crc, chunk);
    this.bytesWritten += chunk.length;
    this.sink(chunk);
  }

  header(h: TssmHeader): void {
    assert(this.bytesWritten === 0, 'TssmWriter: header twice');
    assert(h.options.length === TSSM_OPTION_COUNT, 'TssmWriter: option count');
    const w = new ByteWriter(128);
    w.bytes(SNAPSHOT_MAGIC);
    w.u8(h.formatVersion);
    w.varuint(h.appliedIndex);
    w.varuint(h.lastLeaderTimeMs);
    for (const option of h.options) w.varuint(option);
    w.varuint(h.nextSeriesId);
    w.varuint(h.seriesCount);
    this.expectedSeries = h.seriesCount;
    this.emit(w.finish().slice());
  }

  series(id: number, key: string, data: Uint8Array): void {
    assert(this.expectedSeries >= 0 && this.seriesWritten < this.expectedSeries, 'TssmWriter: more series than the header announced');
    const w = new ByteWriter(32 + key.length * 3);
    w.varuint(id);
    w.string(key);
    w.varuint(data.length);
    this.emit(w.finish().slice());
    this.emit(data);
    this.seriesWritten++;
  }

  /** Appends the sessions and the CRC; returns the total size. */
  finish(sessions: Uint8Array): number {
    assert(this.seriesWritten === this.expectedSeries, `TssmWriter: ${this.seriesWritten} of ${this.expectedSeries} series written`);
    this.emit(sessions);
    const tail = new Uint8Array(4);
    new DataView(tail.buffer).setUint32(0, this.crc, true);
    this.bytesWritten += 4;
    this.sink(tail);
    this.finished = true;
    return this.bytesWritten;
  }
}
