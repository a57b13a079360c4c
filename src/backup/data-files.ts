// Encoders and decoders of a backup's data files: root index, group file,
// segment file, sessions file (docs/backup-format.md, "Data files"). Every
// decoder checks magic, version, CRC-32C and every bound, and fails with
// TSR_ERR_BACKUP_CORRUPT naming the file.
import { TsraftError, assert } from '../errors.js';
import { ByteReader, ByteWriter, crc32c } from '../tsdb/byte-io.js';
import { MAX_SERIES_KEY_BYTES } from '../tsdb/write-batch.js';
import {
  DATA_FILE_VERSION,
  GROUP_MAGIC,
  INDEX_MAGIC,
  SEGMENT_MAGIC,
  SESSIONS_MAGIC,
  corruptBackup,
  layoutProblem,
  type BackupLayout,
} from './constants.js';
import { TSSM_OPTION_COUNT } from './tssm.js';

const DIGEST_BYTES = 32;
const BLOCK_OPEN = 1;
const BLOCK_RAW = 2;
/** A series header is a handful of varints. */
const MAX_SERIES_HEADER_BYTES = 64;

export interface RootIndex {
  layout: BackupLayout;
  stateFormatVersion: number;
  appliedIndex: number;
  lastLeaderTimeMs: number;
  options: number[];
  nextSeriesId: number;
  seriesCount: number;
  pointCount: number;
  sessionsId: Uint8Array;
  groups: RootGroup[];
}

export interface RootGroup {
  group: number;
  seriesCount: number;
  pointCount: number;
  fileId: Uint8Array;
}

export interface GroupBlock {
  open: boolean;
  raw: boolean;
  startMs: number;
  pageCount: number;
}

export interface GroupSeries {
  id: number;
  key: string;
  header: Uint8Array;
  /** From the header: every block start is a multiple of it. */
  blockSpanMs: number;
  pointCount: number;
  blocks: GroupBlock[];
}

export interface GroupSegment {
  id: Uint8Array;
  recordCount: number;
  pointCount: number;
}

export interface GroupFile {
  group: number;
  series: GroupSeries[];
  segments: GroupSegment[];
}

export interface SegmentRecord {
  seriesId: number;
  blockStartMs: number;
  pageIndex: number;
  bytes: Uint8Array;
}

export interface SegmentFile {
  group: number;
  records: SegmentRecord[];
}

function reader(bytes: Uint8Array, file: string, magic: Uint8Array, kind: string): ByteReader {
  if (bytes.length < magic.length + 5) throw corruptBackup(file, `${kind} file of ${bytes.length} bytes is too short`);
  const r = new ByteReader(bytes, 'TSR_ERR_BACKUP_CORRUPT', `${file} (${kind} file)`, 0, bytes.length);
  const got = r.bytesView(magic.length, 'magic');
  if (!got.every((b, i) => b === magic[i])) throw corruptBackup(file, `bad magic: not a ${kind} file`);
  const version = r.u8('version');
  if (version !== DATA_FILE_VERSION) throw new TsraftError('TSR_ERR_BACKUP_UNSUPPORTED', `${file}: ${kind} file version ${version} is not supported (this build reads ${DATA_FILE_VERSION})`, { details: { file } });
  const body = bytes.length - 4;
  const stored = new DataView(bytes.buffer, bytes.byteOffset + body, 4).getUint32(0, true);
  if (stored !== crc32c(bytes, 0, body)) throw corruptBackup(file, `${kind} file checksum mismatch`);
  return new ByteReader(bytes, 'TSR_ERR_BACKUP_CORRUPT', `${file} (${kind} file)`, r.offset, body);
}

function writer(magic: Uint8Array, sizeHint: number): ByteWriter {
  const w = new ByteWriter(Math.max(64, sizeHint));
  w.bytes(magic);
  w.u8(DATA_FILE_VERSION);
  return w;
}

function seal(w: ByteWriter): Uint8Array {
  w.crc32c();
  return w.finish().slice();
}

// ---------------------------------------------------------------------------
// Root index

export function encodeRootIndex(index: RootIndex): Uint8Array {
  assert(layoutProblem(index.layout) === null, 'encodeRootIndex: bad layout');
  assert(index.options.length === TSSM_OPTION_COUNT && index.sessionsId.length === DIGEST_BYTES, 'encodeRootIndex: bad options or sessions id');
  const w = writer(INDEX_MAGIC, 128 + index.groups.length * 48);
  w.varuint(index.layout.pagesPerBlock);
  w.varuint(index.layout.seriesPerGroup);
  w.varuint(index.layout.minSegmentBytes);
  w.varuint(index.stateFormatVersion);
  w.varuint(index.appliedIndex);
  w.varuint(index.lastLeaderTimeMs);
  for (const option of index.options) w.varuint(option);
  w.varuint(index.nextSeriesId);
  w.varuint(index.seriesCount);
  w.varuint(index.pointCount);
  w.bytes(index.sessionsId);
  w.varuint(index.groups.length);
  let previous = -1;
  for (const g of index.groups) {
    assert(g.group > previous && g.fileId.length === DIGEST_BYTES, 'encodeRootIndex: groups out of order');
    previous = g.group;
    w.varuint(g.group);
    w.varuint(g.seriesCount);
    w.varuint(g.pointCount);
    w.bytes(g.fileId);
  }
  return seal(w);
}

export function decodeRootIndex(bytes: Uint8Array, file: string): RootIndex {
  const r = reader(bytes, file, INDEX_MAGIC, 'index');
  const layout: BackupLayout = { pagesPerBlock: r.varuint('pagesPerBlock'), seriesPerGroup: r.varuint('seriesPerGroup'), minSegmentBytes: r.varuint('minSegmentBytes') };
  const problem = layoutProblem(layout);
  if (problem !== null) throw corruptBackup(file, `index layout: ${problem}`);
  const stateFormatVersion = r.varuint('stateFormatVersion');
  const appliedIndex = r.varuint('appliedIndex');
  const lastLeaderTimeMs = r.varuint('lastLeaderTimeMs');
  const options: number[] = [];
  for (let i = 0; i < TSSM_OPTION_COUNT; i++) options.push(r.varuint(`option ${i}`));
  const nextSeriesId = r.varuint('nextSeriesId');
  const seriesCount = r.varuint('seriesCount');
  const pointCount = r.varuint('pointCount');
  const sessionsId = r.bytesView(DIGEST_BYTES, 'sessions id').slice();
  const groupCount = r.varuintAtMost(Math.floor(r.remainingBytes / (3 + DIGEST_BYTES)), 'group count');
  const groups: RootGroup[] = [];
  let previous = -1;
  let seriesSum = 0;
  let pointSum = 0;
  for (let i = 0; i < groupCount; i++) {
    const group = r.varuint('group');
    if (group <= previous) throw corruptBackup(file, `index groups out of order (${group} after ${previous})`);
    previous = group;
    const g: RootGroup = { group, seriesCount: r.varuint('group series count'), pointCount: r.varuint('group point count'), fileId: r.bytesView(DIGEST_BYTES, 'group file id').slice() };
    seriesSum += g.seriesCount;
    pointSum += g.pointCount;
    groups.push(g);
  }
  r.expectEnd();
  if (seriesSum !== seriesCount || pointSum !== pointCount) {
    throw corruptBackup(file, `index totals (${seriesCount} series, ${pointCount} points) differ from its groups (${seriesSum}, ${pointSum})`);
  }
  return { layout, stateFormatVersion, appliedIndex, lastLeaderTimeMs, options, nextSeriesId, seriesCount, pointCount, sessionsId, groups };
}

// ---------------------------------------------------------------------------
// Group file

export function encodeGroupFile(g: GroupFile): Uint8Array {
  const w = writer(GROUP_MAGIC, 256 + g.series.length * 96 + g.segments.length * 40);
  w.varuint(g.group);
  w.varuint(g.series.length);
  let previous = -1;
  for (const s of g.series) {
    assert(s.id > previous, 'encodeGroupFile: series out of order');
    previous = s.id;
    w.varuint(s.id);
    w.string(s.key);
    w.varuint(s.header.length);
    w.bytes(s.header);
    w.varuint(s.pointCount);
    w.varuint(s.blocks.length);
    let previousStart = 0;
    s.blocks.forEach((b, i) => {
      assert(b.startMs % s.blockSpanMs === 0 && (i === 0 || b.startMs > previousStart), 'encodeGroupFile: block start not aligned or not increasing');
      w.u8((b.open ? BLOCK_OPEN : 0) | (b.raw ? BLOCK_RAW : 0));
      if (i === 0) w.varint(b.startMs / s.blockSpanMs);
      else w.varuint((b.startMs - previousStart) / s.blockSpanMs);
      previousStart = b.startMs;
      w.varuint(b.pageCount);
    });
  }
  w.varuint(g.segments.length);
  for (const seg of g.segments) {
    assert(seg.id.length === DIGEST_BYTES, 'encodeGroupFile: segment id');
    w.bytes(seg.id);
    w.varuint(seg.recordCount);
    w.varuint(seg.pointCount);
  }
  return seal(w);
}

/** `spanOf(header)` reads a series header's block span (series-pages.ts).
 *  `expectedGroup` null: the group is not known yet (a streamed pack lists
 *  its root index last); the caller checks the group number later. */
export function decodeGroupFile(bytes: Uint8Array, file: string, expectedGroup: number | null, spanOf: (header: Uint8Array) => number): GroupFile {
  const r = reader(bytes, file, GROUP_MAGIC, 'group');
  const group = r.varuint('group');
  if (expectedGroup !== null && group !== expectedGroup) throw corruptBackup(file, `group file is for group ${group}, the index says ${expectedGroup}`);
  const seriesCount = r.varuintAtMost(r.remainingBytes, 'series count');
  const series: GroupSeries[] = [];
  let previous = -1;
  for (let s = 0; s < seriesCount; s++) {
    const id = r.varuint('series id');
    if (id <= previous) throw corruptBackup(file, `series ${id} out of order (after ${previous})`);
    previous = id;
    const key = r.string(MAX_SERIES_KEY_BYTES, 'series key');
    const header = r.bytesView(r.varuintAtMost(MAX_SERIES_HEADER_BYTES, 'series header length'), 'series header').slice();
    let blockSpanMs: number;
    try {
      blockSpanMs = spanOf(header);
    } catch (error) {
      if (error instanceof TsraftError) throw corruptBackup(file, `series ${id}: ${error.message}`);
      throw error;
    }
    const pointCount = r.varuint('series point count');
    const blockCount = r.varuintAtMost(r.remainingBytes, 'block count');
    const blocks: GroupBlock[] = [];
    let start = 0;
    for (let b = 0; b < blockCount; b++) {
      const flags = r.u8('block flags');
      if ((flags & ~(BLOCK_OPEN | BLOCK_RAW)) !== 0) throw corruptBackup(file, `series ${id} block ${b} has unknown flags ${flags}`);
      start = b === 0 ? r.varint('first block start') * blockSpanMs : start + r.varuintAtMost(2 ** 40, 'block start step') * blockSpanMs;
      if (b > 0 && start <= blocks[b - 1]!.startMs) throw corruptBackup(file, `series ${id} blocks out of order`);
      if (!Number.isSafeInteger(start)) throw corruptBackup(file, `series ${id} block ${b} starts outside the safe range`);
      const pageCount = r.varuint('page count');
      if (pageCount < 1 || ((flags & BLOCK_RAW) !== 0 && pageCount !== 1)) throw corruptBackup(file, `series ${id} block ${b} has ${pageCount} pages`);
      blocks.push({ open: (flags & BLOCK_OPEN) !== 0, raw: (flags & BLOCK_RAW) !== 0, startMs: start, pageCount });
    }
    series.push({ id, key, header, blockSpanMs, pointCount, blocks });
  }
  const segmentCount = r.varuintAtMost(Math.floor(r.remainingBytes / (DIGEST_BYTES + 2)), 'segment count');
  const segments: GroupSegment[] = [];
  for (let i = 0; i < segmentCount; i++) {
    segments.push({ id: r.bytesView(DIGEST_BYTES, 'segment id').slice(), recordCount: r.varuint('segment record count'), pointCount: r.varuint('segment point count') });
  }
  r.expectEnd();
  return { group, series, segments };
}

// ---------------------------------------------------------------------------
// Segment file

export function encodeSegmentFile(group: number, records: readonly SegmentRecord[]): Uint8Array {
  let size = 32;
  for (const rec of records) size += rec.bytes.length + 24;
  const w = writer(SEGMENT_MAGIC, size);
  w.varuint(group);
  w.varuint(records.length);
  let previousStart = 0;
  for (const rec of records) {
    w.varuint(rec.seriesId);
    // Records are sorted by block start: the step is usually 0 (one byte).
    w.varint(rec.blockStartMs - previousStart);
    previousStart = rec.blockStartMs;
    w.varuint(rec.pageIndex);
    w.varuint(rec.bytes.length);
    w.bytes(rec.bytes);
  }
  return seal(w);
}

/** Record bytes are views into `bytes`. */
export function decodeSegmentFile(bytes: Uint8Array, file: string, expectedGroup: number): SegmentFile {
  const r = reader(bytes, file, SEGMENT_MAGIC, 'segment');
  const group = r.varuint('group');
  if (group !== expectedGroup) throw corruptBackup(file, `segment file is for group ${group}, its group file says ${expectedGroup}`);
  const count = r.varuintAtMost(Math.floor(r.remainingBytes / 4), 'record count');
  const records: SegmentRecord[] = [];
  let blockStartMs = 0;
  for (let i = 0; i < count; i++) {
    const seriesId = r.varuint('series id');
    blockStartMs += r.varint('block start step');
    if (!Number.isSafeInteger(blockStartMs) || Math.abs(blockStartMs) > 2 ** 52) throw corruptBackup(file, `record ${i} block start ${blockStartMs} is out of range`);
    const pageIndex = r.varuint('page index');
    const length = r.varuint('record length');
    records.push({ seriesId, blockStartMs, pageIndex, bytes: r.bytesView(length, 'record bytes') });
  }
  r.expectEnd();
  return { group, records };
}

// ---------------------------------------------------------------------------
// Sessions file

export function encodeSessionsFile(sessions: Uint8Array): Uint8Array {
  const w = writer(SESSIONS_MAGIC, sessions.length + 16);
  w.varuint(sessions.length);
  w.bytes(sessions);
  return seal(w);
}

export function decodeSessionsFile(bytes: Uint8Array, file: string): Uint8Array {
  const r = reader(bytes, file, SESSIONS_MAGIC, 'sessions');
  const length = r.varuintAtMost(r.remainingBytes, 'sessions length');
  const sessions = r.bytesView(length, 'sessions');
  r.expectEnd();
  return sessions;
}
