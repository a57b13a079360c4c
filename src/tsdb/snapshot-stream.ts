// Reads a state machine snapshot (TSSM, docs/tsdb-commands.md "Snapshot") as
// it streams in, one series at a time, so a snapshot larger than memory can be
// installed: memory holds the header, one series' bytes and the sessions tail.
// The CRC-32C trailer is checked at end(); until then nothing read may be
// trusted as complete (the installer writes it under a restore marker).
import { TsraftError, assert } from '../errors.js';
import { ByteWriter } from './byte-io.js';
import { crc32cContinue } from './codec/crc32c.js';
import { DEFAULT_STATE_MACHINE_OPTIONS, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_MAGIC } from './state-machine.js';
import { MAX_SERIES_KEY_BYTES } from './write-batch.js';

const OPTION_COUNT = Object.keys(DEFAULT_STATE_MACHINE_OPTIONS).length;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface SnapshotHeader {
  appliedIndex: number;
  lastLeaderTimeMs: number;
  /** The replicated options in snapshot order. */
  options: number[];
  nextSeriesId: number;
  seriesCount: number;
}

export interface SnapshotSeries {
  id: number;
  key: string;
  /** SeriesData.serialize() bytes (a copy the caller may keep). */
  data: Uint8Array;
}

function corrupt(message: string, details: Record<string, unknown> = {}): TsraftError {
  return new TsraftError('TSR_ERR_CORRUPT_SNAPSHOT', `state machine snapshot: ${message}`, { details: { reason: message, ...details } });
}

/** A varuint at `at`, or null when the bytes end first. */
function varuintAt(buf: Uint8Array, at: number, end: number): [number, number] | null {
  let value = 0;
  let scale = 1;
  for (let i = at; i < end; i++) {
    const byte = buf[i]!;
    value += (byte & 0x7f) * scale;
    if (!Number.isSafeInteger(value)) throw corrupt('a varuint exceeds 2^53', { offset: i });
    if ((byte & 0x80) === 0) return [value, i + 1];
    scale *= 128;
    if (i - at >= 8) throw corrupt('a varuint is too long', { offset: i });
  }
  return null;
}

/**
 * Push the snapshot's bytes in order; take() returns what became complete
 * (the header once, then series records); end() checks the trailer and
 * returns the sessions tail (the bytes between the last series and the CRC).
 */
export class SnapshotStreamParser {
  private buf = new Uint8Array(64 * 1024);
  private start = 0;
  private end = 0;
  /** Bytes consumed before buf[start] (for the offsets in errors). */
  private consumed = 0;
  private crc = 0;
  private headerValue: SnapshotHeader | null = null;
  private seriesRead = 0;
  private previousId = -1;
  private readonly ready: Array<{ header: SnapshotHeader } | { series: SnapshotSeries }> = [];
  private finished = false;

  get header(): SnapshotHeader | null {
    return this.headerValue;
  }

  push(chunk: Uint8Array): void {
    assert(!this.finished, 'SnapshotStreamParser.push after end');
    this.append(chunk);
    this.parse();
  }

  /** What became complete since the last call, in order. */
  take(): Array<{ header: SnapshotHeader } | { series: SnapshotSeries }> {
    return this.ready.splice(0);
  }

  /** Checks that every series arrived and the CRC matches; returns the sessions tail. */
  finish(): Uint8Array {
    assert(!this.finished, 'SnapshotStreamParser.finish twice');
    this.finished = true;
    const header = this.headerValue;
    if (header === null || this.seriesRead !== header.seriesCount) {
      throw corrupt(`the snapshot ends early (${header === null ? 'no header' : `${this.seriesRead} of ${header.seriesCount} series`})`);
    }
    const available = this.end - this.start;
    if (available < 4) throw corrupt('the snapshot has no checksum');
    const tail = this.buf.slice(this.start, this.end - 4);
    const crc = crc32cContinue(this.crc, tail);
    const stored = new DataView(this.buf.buffer, this.buf.byteOffset + this.end - 4, 4).getUint32(0, true);
    if (crc !== stored) throw corrupt('checksum mismatch', { stored, computed: crc });
    return tail;
  }

  private append(chunk: Uint8Array): void {
    if (this.end + chunk.length > this.buf.length) {
      // Move the unconsumed bytes to the front, into a larger buffer if needed.
      const live = this.end - this.start;
      const needed = live + chunk.length;
      if (needed <= this.buf.length) {
        this.buf.copyWithin(0, this.start, this.end);
      } else {
        const next = new Uint8Array(Math.max(this.buf.length * 2, needed));
        next.set(this.buf.subarray(this.start, this.end), 0);
        this.buf = next;
      }
      this.start = 0;
      this.end = live;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  /** Marks buf[start, to) consumed (checksummed). */
  private consume(to: number): void {
    this.crc = crc32cContinue(this.crc, this.buf.subarray(this.start, to));
    this.consumed += to - this.start;
    this.start = to;
  }

  private parse(): void {
    if (this.headerValue === null && !this.parseHeader()) return;
    const header = this.headerValue!;
    while (this.seriesRead < header.seriesCount) {
      const buf = this.buf;
      const end = this.end;
      const id = varuintAt(buf, this.start, end);
      if (id === null) return;
      const keyLength = varuintAt(buf, id[1], end);
      if (keyLength === null) return;
      if (keyLength[0] > MAX_SERIES_KEY_BYTES) throw corrupt(`series key of ${keyLength[0]} bytes`, { offset: this.consumed });
      const keyEnd = keyLength[1] + keyLength[0];
      if (keyEnd > end) return;
      const dataLength = varuintAt(buf, keyEnd, end);
      if (dataLength === null) return;
      const dataEnd = dataLength[1] + dataLength[0];
      if (dataEnd > end) return;
      if (id[0] <= this.previousId || id[0] >= header.nextSeriesId) throw corrupt(`series id ${id[0]} out of order or ≥ nextSeriesId ${header.nextSeriesId}`, { offset: this.consumed });
      let key: string;
      try {
        key = utf8.decode(buf.subarray(keyLength[1], keyEnd));
      } catch {
        throw corrupt('a series key is not valid UTF-8', { offset: this.consumed });
      }
      const data = buf.slice(dataLength[1], dataEnd);
      this.previousId = id[0];
      this.seriesRead++;
      this.consume(dataEnd);
      this.ready.push({ series: { id: id[0], key, data } });
    }
  }

  private parseHeader(): boolean {
    const buf = this.buf;
    const end = this.end;
    let at = this.start + SNAPSHOT_MAGIC.length + 1;
    if (at > end) return false;
    for (let i = 0; i < SNAPSHOT_MAGIC.length; i++) if (buf[this.start + i] !== SNAPSHOT_MAGIC[i]) throw corrupt('bad magic (not a TSSM snapshot)');
    const version = buf[this.start + SNAPSHOT_MAGIC.length]!;
    if (version !== SNAPSHOT_FORMAT_VERSION) throw corrupt(`format version ${version} is not supported (this build reads ${SNAPSHOT_FORMAT_VERSION})`);
    const values: number[] = [];
    for (let i = 0; i < 2 + OPTION_COUNT + 2; i++) {
      const v = varuintAt(buf, at, end);
      if (v === null) return false;
      values.push(v[0]);
      at = v[1];
    }
    const [appliedIndex, lastLeaderTimeMs] = values as [number, number];
    const options = values.slice(2, 2 + OPTION_COUNT);
    const nextSeriesId = values[2 + OPTION_COUNT]!;
    const seriesCount = values[3 + OPTION_COUNT]!;
    if (seriesCount > nextSeriesId) throw corrupt(`${seriesCount} series but nextSeriesId ${nextSeriesId}`);
    this.headerValue = { appliedIndex, lastLeaderTimeMs, options, nextSeriesId, seriesCount };
    this.consume(at);
    this.ready.push({ header: this.headerValue });
    return true;
  }
}

/** The snapshot format holding no series, with `header`'s fields and `tail`:
 *  what TimeSeriesStateMachine.snapshot({series: false}) gives for that state. */
export function snapshotWithoutSeries(header: SnapshotHeader, tail: Uint8Array): Uint8Array {
  const w = new ByteWriter(64 + tail.length);
  w.bytes(SNAPSHOT_MAGIC);
  w.u8(SNAPSHOT_FORMAT_VERSION);
  w.varuint(header.appliedIndex);
  w.varuint(header.lastLeaderTimeMs);
  for (const option of header.options) w.varuint(option);
  w.varuint(header.nextSeriesId);
  w.varuint(0);
  w.bytes(tail);
  w.crc32c();
  return w.finish().slice();
}
