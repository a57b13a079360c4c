// The log archive for point-in-time recovery (docs/backup-format.md, "Log
// archive"): every entry a node applies, appended in log order to checksummed
// segment files. The node feeds it from the replica's onApplied hook, which
// runs inside the Ready loop: append() only buffers (bounded) and a single
// writer drains the buffer to disk, so archiving never blocks the replica.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { TsraftError, assert, rethrowIfBug } from '../errors.js';
import type { Entry } from '../raft/types.js';
import { crc32c } from '../tsdb/codec/crc32c.js';
import { decodeEntry, encodeEntry } from '../storage/entry-codec.js';
import { ARCHIVE_MAGIC, ARCHIVE_VERSION, bytesEqual, startsWith } from './constants.js';

const RECORD_ENTRY = 1;
const RECORD_FOOTER = 2;
const FOOTER_BYTES = 1 + 8 + 4 + 32 + 4;
const SEGMENT_NAME = /^log-(\d{20})\.tsla$/;
const MAX_CLUSTER_ID_BYTES = 127;
const GAP = 'gap' as const;

export interface LogArchiverOptions {
  /** Directory of the segment files (created when missing). */
  dir: string;
  clusterId: string;
  /** A segment is sealed once it holds this many bytes. Default 64 MiB; 4 KiB–1 GiB. */
  maxSegmentBytes?: number;
  /** Entry bytes waiting to be written. Past it archiving stops (status().failed says why)
   *  rather than holding more memory: the archive then has a gap. Default 64 MiB; ≥ 1 MiB. */
  maxBufferedBytes?: number;
  /** The open segment is fsynced at most this long after a write, ms. Default 1,000; 10–60,000. */
  flushIntervalMs?: number;
  /** Called once when archiving stops on an error. */
  onError?: (error: unknown) => void;
}

export interface ArchiveStatus {
  dir: string;
  /** Index of the last entry handed to the writer (archived or buffered); 0 before any. */
  lastIndex: number;
  /** Index of the last entry known to be on disk and fsynced. */
  durableIndex: number;
  bufferedBytes: number;
  segments: number;
  /** Why archiving stopped, or null while it works. */
  failed: string | null;
}

export function segmentFileName(firstIndex: number): string {
  return `log-${String(firstIndex).padStart(20, '0')}.tsla`;
}

function archiveCorrupt(file: string, problem: string, details: Record<string, unknown> = {}): TsraftError {
  return new TsraftError('TSR_ERR_ARCHIVE_CORRUPT', `${file}: ${problem}`, { details: { file, ...details } });
}

export function encodeSegmentHeader(firstIndex: number, clusterId: string): Uint8Array {
  const id = new TextEncoder().encode(clusterId);
  assert(id.length <= MAX_CLUSTER_ID_BYTES, 'cluster id too long for an archive header');
  const out = new Uint8Array(4 + 1 + 8 + 1 + id.length + 4);
  const view = new DataView(out.buffer);
  out.set(ARCHIVE_MAGIC, 0);
  out[4] = ARCHIVE_VERSION;
  view.setBigUint64(5, BigInt(firstIndex), true);
  out[13] = id.length; // the varuint length is one byte: ids are at most 127 bytes
  out.set(id, 14);
  view.setUint32(14 + id.length, crc32c(out.subarray(0, 14 + id.length)), true);
  return out;
}

function encodeEntryRecord(entry: Entry): Uint8Array {
  const body = encodeEntry(entry);
  const out = new Uint8Array(5 + body.length);
  out[0] = RECORD_ENTRY;
  new DataView(out.buffer).setUint32(1, body.length, true);
  out.set(body, 5);
  return out;
}

function encodeFooter(lastIndex: number, entryCount: number, digest: Uint8Array): Uint8Array {
  const out = new Uint8Array(FOOTER_BYTES);
  const view = new DataView(out.buffer);
  out[0] = RECORD_FOOTER;
  view.setBigUint64(1, BigInt(lastIndex), true);
  view.setUint32(9, entryCount, true);
  out.set(digest, 13);
  view.setUint32(45, crc32c(out.subarray(0, 45)), true);
  return out;
}

// ---------------------------------------------------------------------------
// Reading

export interface ParsedSegment {
  file: string;
  clusterId: string;
  firstIndex: number;
  entries: Entry[];
  sealed: boolean;
  /** Bytes of the file that hold whole, valid records (an unsealed file may have a torn tail beyond). */
  validBytes: number;
  tornTailBytes: number;
}

/** Reads and checks one segment file (TSR_ERR_ARCHIVE_CORRUPT names it). */
export function parseSegment(bytes: Uint8Array, file: string): ParsedSegment {
  if (bytes.length < 19 || !startsWith(bytes, ARCHIVE_MAGIC)) throw archiveCorrupt(file, 'not an archive segment (bad magic or too short)');
  if (bytes[4] !== ARCHIVE_VERSION) throw new TsraftError('TSR_ERR_BACKUP_UNSUPPORTED', `${file}: archive version ${bytes[4]} is not supported`, { details: { file } });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const firstIndex = Number(view.getBigUint64(5, true));
  const idLength = bytes[13]!;
  if (idLength >= 128 || 14 + idLength + 4 > bytes.length) throw archiveCorrupt(file, 'header is cut short');
  if (view.getUint32(14 + idLength, true) !== crc32c(bytes.subarray(0, 14 + idLength))) throw archiveCorrupt(file, 'header checksum mismatch');
  const clusterId = new TextDecoder().decode(bytes.subarray(14, 14 + idLength));
  if (!Number.isSafeInteger(firstIndex) || firstIndex < 1) throw archiveCorrupt(file, `first index ${firstIndex} is invalid`);
  const entries: Entry[] = [];
  let at = 14 + idLength + 4;
  let sealed = false;
  let validBytes = at;
  while (at < bytes.length) {
    const tag = bytes[at]!;
    if (tag === RECORD_FOOTER) {
      if (bytes.length - at !== FOOTER_BYTES) throw archiveCorrupt(file, `footer at byte ${at} is ${bytes.length - at} bytes, expected ${FOOTER_BYTES}`);
      const f = bytes.subarray(at);
      const fv = new DataView(f.buffer, f.byteOffset, f.byteLength);
      if (fv.getUint32(45, true) !== crc32c(f.subarray(0, 45))) throw archiveCorrupt(file, 'footer checksum mismatch');
      const lastIndex = Number(fv.getBigUint64(1, true));
      const count = fv.getUint32(9, true);
      if (count !== entries.length || lastIndex !== firstIndex + entries.length - 1) throw archiveCorrupt(file, `footer says ${count} entries up to ${lastIndex}; the file holds ${entries.length} from ${firstIndex}`);
      const digest = new Uint8Array(createHash('sha256').update(bytes.subarray(0, at)).digest());
      if (!bytesEqual(digest, f.subarray(13, 45))) throw archiveCorrupt(file, 'SHA-256 mismatch: the segment was altered');
      sealed = true;
      validBytes = bytes.length;
      break;
    }
    const expected = firstIndex + entries.length;
    if (tag !== RECORD_ENTRY) throw archiveCorrupt(file, `unknown record tag ${tag} at byte ${at}`, { index: expected });
    // A record cut short can only be the torn tail of the open segment (a crash mid-write).
    if (bytes.length - at < 5) break;
    const length = view.getUint32(at + 1, true);
    if (bytes.length - at - 5 < length) break;
    let entry: Entry;
    try {
      entry = decodeEntry(bytes.subarray(at + 5, at + 5 + length), expected);
    } catch (error) {
      rethrowIfBug(error);
      // A bad last record of the open segment is a torn write; anywhere else it is corruption.
      if (at + 5 + length === bytes.length) break;
      throw archiveCorrupt(file, `entry ${expected}: ${(error as Error).message}`, { index: expected });
    }
    entries.push(entry);
    at += 5 + length;
    validBytes = at;
  }
  return { file, clusterId, firstIndex, entries, sealed, validBytes, tornTailBytes: bytes.length - validBytes };
}

export interface ArchiveSegmentInfo {
  file: string;
  firstIndex: number;
}

/** The segment files of an archive directory, by first index. */
export function listSegments(dir: string): ArchiveSegmentInfo[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    rethrowIfBug(error);
    throw new TsraftError('TSR_ERR_ARCHIVE_GAP', `cannot read the log archive ${dir}: ${(error as Error).message}`, { details: { dir } });
  }
  const out: ArchiveSegmentInfo[] = [];
  for (const name of names) {
    const m = SEGMENT_NAME.exec(name);
    if (m !== null) out.push({ file: join(dir, name), firstIndex: Number(m[1]) });
  }
  return out.sort((a, b) => a.firstIndex - b.firstIndex);
}

/**
 * Archived entries from `fromIndex` on, contiguous, each checked. Stops at the
 * archive's end; throws TSR_ERR_ARCHIVE_GAP when `fromIndex` or a later index
 * is missing while later entries exist (the caller decides whether it needed them).
 */
export function* readArchive(dir: string, fromIndex: number, clusterId: string | null = null): Generator<{ entry: Entry; file: string }, { lastIndex: number }, void> {
  const segments = listSegments(dir);
  let next = fromIndex;
  for (let i = 0; i < segments.length; i++) {
    const info = segments[i]!;
    const following = segments[i + 1];
    if (following !== undefined && following.firstIndex <= next) continue; // every entry we need is later
    const parsed = parseSegment(new Uint8Array(readFileSync(info.file)), info.file);
    if (parsed.firstIndex !== info.firstIndex) throw archiveCorrupt(info.file, `file name says first index ${info.firstIndex}, its header ${parsed.firstIndex}`);
    if (clusterId !== null && parsed.clusterId !== clusterId) throw archiveCorrupt(info.file, `belongs to cluster ${parsed.clusterId}, the backup to ${clusterId}`);
    const last = parsed.firstIndex + parsed.entries.length - 1;
    if (last < next) continue;
    if (parsed.firstIndex > next) {
      throw new TsraftError('TSR_ERR_ARCHIVE_GAP', `the log archive ${dir} is missing entries ${next}–${parsed.firstIndex - 1} (the next segment starts at ${parsed.firstIndex})`, {
        details: { dir, firstMissingIndex: next, nextAvailableIndex: parsed.firstIndex },
      });
    }
    for (const entry of parsed.entries) {
      if (entry.index < next) continue;
      assert(entry.index === next, 'parseSegment checks contiguity');
      yield { entry, file: info.file };
      next++;
    }
  }
  return { lastIndex: next - 1 };
}

// ---------------------------------------------------------------------------
// Writing

interface OpenSegment {
  handle: FileHandle;
  file: string;
  firstIndex: number;
  entryCount: number;
  bytes: number;
  hash: Hash;
}

export class LogArchiver {
  private readonly dir: string;
  private readonly clusterId: string;
  private readonly maxSegmentBytes: number;
  private readonly maxBufferedBytes: number;
  private readonly flushIntervalMs: number;
  private readonly onError: (error: unknown) => void;
  /** Entries to write; GAP seals the open segment so the next entry starts a new one. */
  private queue: Array<Entry | typeof GAP> = [];
  private queuedBytes = 0;
  private lastIndex: number;
  private durableIndex: number;
  private segmentCount: number;
  private current: OpenSegment | null = null;
  private writing: Promise<void> = Promise.resolve();
  private draining = false;
  private dirty = false;
  private flushTimer: NodeJS.Timeout | null = null;
  private failure: string | null = null;
  private closed = false;

  private constructor(options: LogArchiverOptions, lastIndex: number, segments: number, current: OpenSegment | null) {
    this.dir = options.dir;
    this.clusterId = options.clusterId;
    this.maxSegmentBytes = options.maxSegmentBytes ?? 64 * 1024 * 1024;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 64 * 1024 * 1024;
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.onError = options.onError ?? (() => {});
    this.lastIndex = lastIndex;
    this.durableIndex = lastIndex;
    this.segmentCount = segments;
    this.current = current;
  }

  /** Opens (or creates) an archive; continues an open segment after a crash, dropping its torn tail. */
  static async open(options: LogArchiverOptions): Promise<LogArchiver> {
    const maxSegmentBytes = options.maxSegmentBytes ?? 64 * 1024 * 1024;
    const maxBufferedBytes = options.maxBufferedBytes ?? 64 * 1024 * 1024;
    const flushIntervalMs = options.flushIntervalMs ?? 1000;
    if (!(maxSegmentBytes >= 4096 && maxSegmentBytes <= 1 << 30)) throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `archive maxSegmentBytes ${maxSegmentBytes} outside [4096, 2^30]`);
    if (!(maxBufferedBytes >= 1 << 20)) throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `archive maxBufferedBytes ${maxBufferedBytes} below 1 MiB`);
    if (!(flushIntervalMs >= 10 && flushIntervalMs <= 60_000)) throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `archive flushIntervalMs ${flushIntervalMs} outside [10, 60000]`);
    if (new TextEncoder().encode(options.clusterId).length >= 128) throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', 'archive: cluster id longer than 127 bytes');
    mkdirSync(options.dir, { recursive: true });
    const segments = listSegments(options.dir);
    const last = segments[segments.length - 1];
    if (last === undefined) return new LogArchiver(options, 0, 0, null);
    const parsed = parseSegment(new Uint8Array(readFileSync(last.file)), last.file);
    if (parsed.clusterId !== options.clusterId) throw archiveCorrupt(last.file, `belongs to cluster ${parsed.clusterId}, this node to ${options.clusterId}: use another archive directory`);
    const lastIndex = parsed.entries.length === 0 ? parsed.firstIndex - 1 : parsed.entries[parsed.entries.length - 1]!.index;
    if (parsed.sealed) return new LogArchiver(options, lastIndex, segments.length, null);
    // Continue the open segment: cut the torn tail, re-hash what stays.
    if (parsed.tornTailBytes > 0) {
      const fd = openSync(last.file, 'r+');
      try {
        ftruncateSync(fd, parsed.validBytes);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    const kept = new Uint8Array(readFileSync(last.file));
    assert(kept.length === parsed.validBytes, 'archive: truncation left another size');
    const handle = await open(last.file, 'a');
    const current: OpenSegment = { handle, file: last.file, firstIndex: parsed.firstIndex, entryCount: parsed.entries.length, bytes: kept.length, hash: createHash('sha256').update(kept) };
    return new LogArchiver(options, lastIndex, segments.length, current);
  }

  status(): ArchiveStatus {
    return { dir: this.dir, lastIndex: this.lastIndex, durableIndex: this.durableIndex, bufferedBytes: this.queuedBytes, segments: this.segmentCount, failed: this.failure };
  }

  /**
   * Hands one applied entry to the archive. Synchronous and cheap (it runs in
   * the replica's Ready loop). Entries at or below the last archived index
   * are skipped (a restarted node replays its log); an entry past the next
   * expected index (after a snapshot install) starts a new segment.
   */
  append(entry: Entry): void {
    if (this.failure !== null || this.closed) return;
    if (entry.index <= this.lastIndex) return;
    if (this.lastIndex > 0 && entry.index !== this.lastIndex + 1) this.queue.push(GAP);
    const size = entry.data.length + 32;
    if (this.queuedBytes + size > this.maxBufferedBytes) {
      this.fail(new TsraftError('TSR_ERR_INTERNAL', `log archive ${this.dir} fell ${this.queuedBytes} bytes behind (limit ${this.maxBufferedBytes}); archiving stopped at index ${this.lastIndex}: take a new base backup once the disk keeps up`));
      return;
    }
    this.queue.push(entry);
    this.queuedBytes += size;
    this.lastIndex = entry.index;
    this.scheduleDrain();
  }

  private fail(error: unknown): void {
    if (this.failure !== null) return;
    this.failure = (error as Error).message;
    this.queue = [];
    this.queuedBytes = 0;
    this.onError(error);
  }

  private scheduleDrain(): void {
    if (this.draining) return;
    this.draining = true;
    this.writing = this.writing.then(() => this.drain()).catch((error: unknown) => {
      rethrowIfBug(error);
      this.fail(error);
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 && this.failure === null) {
        const batch = this.queue;
        this.queue = [];
        this.queuedBytes = 0;
        await this.writeBatch(batch);
      }
    } finally {
      this.draining = false;
    }
    this.armFlush();
  }

  private async writeBatch(batch: Array<Entry | typeof GAP>): Promise<void> {
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const flushPending = async (): Promise<void> => {
      if (pending.length === 0) return;
      assert(this.current !== null, 'archive: writing without a segment');
      const bytes = Buffer.concat(pending);
      await this.current.handle.write(bytes);
      this.current.hash.update(bytes);
      this.current.bytes += bytes.length;
      pending = [];
      pendingBytes = 0;
      this.dirty = true;
    };
    for (const entry of batch) {
      if (entry === GAP) {
        await flushPending();
        await this.sealCurrent();
        continue;
      }
      if (this.current === null) await this.openSegment(entry.index);
      const record = encodeEntryRecord(entry);
      pending.push(record);
      pendingBytes += record.length;
      this.current!.entryCount++;
      if (this.current!.bytes + pendingBytes >= this.maxSegmentBytes) {
        await flushPending();
        await this.sealCurrent();
      }
    }
    await flushPending();
  }

  private async openSegment(firstIndex: number): Promise<void> {
    const file = join(this.dir, segmentFileName(firstIndex));
    const header = encodeSegmentHeader(firstIndex, this.clusterId);
    const handle = await open(file, 'wx');
    await handle.write(header);
    await handle.sync();
    this.current = { handle, file, firstIndex, entryCount: 0, bytes: header.length, hash: createHash('sha256').update(header) };
    this.segmentCount++;
    const dirHandle = await open(this.dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }

  private async sealCurrent(): Promise<void> {
    const seg = this.current;
    if (seg === null) return;
    this.current = null;
    const lastIndex = seg.firstIndex + seg.entryCount - 1;
    await seg.handle.write(encodeFooter(lastIndex, seg.entryCount, new Uint8Array(seg.hash.digest())));
    await seg.handle.sync();
    await seg.handle.close();
    if (lastIndex > this.durableIndex) this.durableIndex = lastIndex;
  }

  private armFlush(): void {
    if (this.flushTimer !== null || this.closed || !this.dirty) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.writing = this.writing.then(() => this.syncCurrent()).catch((error: unknown) => {
        rethrowIfBug(error);
        this.fail(error);
      });
    }, this.flushIntervalMs);
    this.flushTimer.unref();
  }

  private async syncCurrent(): Promise<void> {
    if (!this.dirty || this.current === null) return;
    this.dirty = false;
    await this.current.handle.sync();
    this.durableIndex = this.current.firstIndex + this.current.entryCount - 1;
  }

  /** Writes and fsyncs everything handed over so far. */
  async flush(): Promise<void> {
    this.scheduleDrain();
    await this.writing;
    await (this.writing = this.writing.then(() => this.syncCurrent()));
    if (this.failure !== null) throw new TsraftError('TSR_ERR_INTERNAL', `log archive stopped: ${this.failure}`);
  }

  /** Flushes and seals the open segment. Later appends are ignored. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    await this.flush().catch((error: unknown) => rethrowIfBug(error));
    this.closed = true;
    await (this.writing = this.writing.then(() => this.sealCurrent()));
  }
}

/** Size of a segment file (for status pages). */
export function segmentBytes(file: string): number {
  return statSync(file).size;
}
