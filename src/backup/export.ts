// Cuts a state machine snapshot (TSSM bytes) into the content-addressed data
// files of a backup (docs/backup-format.md, "Data files"): one segment, group,
// sessions and root index file at a time, so a caller can stream them out with
// backpressure and memory holds one group's files at most.
//
// The snapshot comes as bytes in memory or as parts streamed from a live
// state machine (TssmParts): the files and the summary are the same either
// way. Synchronous: a caller that writes the files out (the HTTP route, the
// streamed Raft snapshot) pauses between them.
import { assert } from '../errors.js';
import { fnv1a64Hex } from '../tsdb/byte-io.js';
import {
  SEGMENT_HARD_CAP_FACTOR,
  checkLayout,
  defaultLayout,
  fnv1a32,
  sha256,
  toHex,
  type BackupLayout,
  type FileRole,
} from './constants.js';
import { storedFileName } from './crypto.js';
import {
  encodeGroupFile,
  encodeRootIndex,
  encodeSegmentFile,
  encodeSessionsFile,
  type GroupSegment,
  type GroupSeries,
  type RootGroup,
  type SegmentRecord,
} from './data-files.js';
import { PageCache, effectivePages, parseSeriesSnapshot, splitBlock } from './series-pages.js';
import { parseTssm, type TssmHeader, type TssmSeriesRecord } from './tssm.js';
import type { TssmDigests } from './tssm-stream.js';

export interface ExportedFile {
  /** data/<content id>.<ext> */
  name: string;
  role: FileRole;
  /** SHA-256 of `bytes`, hex: the content id. */
  id: string;
  bytes: Uint8Array;
}

export interface ExportSummary {
  layout: BackupLayout;
  appliedIndex: number;
  lastLeaderTimeMs: number;
  seriesCount: number;
  pointCount: number;
  stateBytes: number;
  stateSha256: string;
  stateHash: string;
}

export interface ExportOptions {
  /** Keep the base backup's layout; default: chosen from the state size. */
  layout?: BackupLayout | null;
  /** Remembers the pages of sealed blocks between exports. */
  cache?: PageCache | null;
}

interface PendingRecord extends SegmentRecord {
  pointCount: number;
}

function file(role: FileRole, bytes: Uint8Array): ExportedFile {
  const id = toHex(sha256(bytes));
  return { name: storedFileName(id, role, null), role, id, bytes };
}

/**
 * A state machine snapshot given in parts: what the export reads, whether
 * the snapshot is in memory (partsOfTssm) or streamed from a live state
 * machine one series at a time (TssmStream, tssm-stream.ts).
 */
export interface TssmParts {
  header: TssmHeader;
  /** Exactly the length of the whole snapshot: the default layout depends on it. */
  sizeBytes: number;
  /** The bytes after the series (sessions and sections). */
  sessions: Uint8Array;
  /** The series records in id order, once; returns the whole snapshot's digests. */
  records(): Generator<TssmSeriesRecord, TssmDigests, void>;
}

/** The parts of snapshot bytes held in memory (checked by parseTssm). */
export function partsOfTssm(tssm: Uint8Array): TssmParts {
  const parsed = parseTssm(tssm);
  return {
    header: parsed.header,
    sizeBytes: tssm.length,
    sessions: parsed.sessions,
    *records() {
      yield* parsed.series;
      return {
        bytes: tssm.length,
        crc32c: new DataView(tssm.buffer, tssm.byteOffset + tssm.length - 4, 4).getUint32(0, true),
        sha256: sha256(tssm),
        fnv1a64: fnv1a64Hex(tssm),
      };
    },
  };
}

/** Yields every data file of the backup of `tssm`, and `null` between series
 *  (a point where an event-loop caller may pause: cutting a group of series
 *  can take a while); returns the summary. Memory holds one group's pages
 *  and files at a time, plus one series' snapshot when `tssm` is streamed. */
export function* exportBackupFiles(tssm: Uint8Array | TssmParts, options: ExportOptions = {}): Generator<ExportedFile | null, ExportSummary, void> {
  const parts = tssm instanceof Uint8Array ? partsOfTssm(tssm) : tssm;
  const layout = checkLayout(options.layout ?? defaultLayout(parts.sizeBytes));
  const cache = options.cache ?? null;
  const groups: RootGroup[] = [];
  let pointCount = 0;
  let seriesCount = 0;
  let current: GroupBuilder | null = null;
  let previousId = -1;
  const records = parts.records();
  let step = records.next();
  while (step.done !== true) {
    const record = step.value;
    assert(record.id > previousId, `export: series ${record.id} after ${previousId}`);
    previousId = record.id;
    const group = Math.floor(record.id / layout.seriesPerGroup);
    if (current !== null && current.group !== group) {
      const summary = yield* current.finish();
      groups.push(summary);
      pointCount += summary.pointCount;
      current = null;
    }
    current ??= new GroupBuilder(group, layout, cache);
    current.add(record);
    seriesCount++;
    yield null;
    step = records.next();
  }
  if (current !== null) {
    const summary = yield* current.finish();
    groups.push(summary);
    pointCount += summary.pointCount;
  }
  const digests = step.value;
  const h = parts.header;
  assert(seriesCount === h.seriesCount && digests.bytes === parts.sizeBytes, `export: ${seriesCount} series and ${digests.bytes} bytes, the header says ${h.seriesCount} and ${parts.sizeBytes}`);
  const sessions = file('sessions', encodeSessionsFile(parts.sessions));
  yield sessions;
  const root = file(
    'index',
    encodeRootIndex({
      layout,
      stateFormatVersion: h.formatVersion,
      appliedIndex: h.appliedIndex,
      lastLeaderTimeMs: h.lastLeaderTimeMs,
      options: h.options,
      nextSeriesId: h.nextSeriesId,
      seriesCount: h.seriesCount,
      pointCount,
      sessionsId: sha256(sessions.bytes),
      groups,
    }),
  );
  yield root;
  return {
    layout,
    appliedIndex: h.appliedIndex,
    lastLeaderTimeMs: h.lastLeaderTimeMs,
    seriesCount: h.seriesCount,
    pointCount,
    stateBytes: digests.bytes,
    stateSha256: toHex(digests.sha256),
    stateHash: digests.fnv1a64,
  };
}

/** One group's series as they arrive (cut into pages at once, so a
 *  streamed series' snapshot is dropped after its turn), then its segment
 *  files and its group file. */
class GroupBuilder {
  private readonly groupSeries: GroupSeries[] = [];
  private readonly records: PendingRecord[] = [];
  private groupPoints = 0;

  constructor(
    readonly group: number,
    private readonly layout: BackupLayout,
    private readonly cache: PageCache | null,
  ) {}

  add(record: TssmSeriesRecord): void {
    assert(Math.floor(record.id / this.layout.seriesPerGroup) === this.group, `series ${record.id} is not in group ${this.group}`);
    const parsed = parseSeriesSnapshot(record.data);
    const pages = effectivePages(parsed.blockSpanMs, this.layout.pagesPerBlock);
    let seriesPoints = 0;
    const blocks = parsed.blocks.map((block) => {
      // Pages are copies (or the cache's): nothing keeps record.data alive.
      const stored = splitBlock(block, parsed.blockSpanMs, pages, this.cache);
      for (const page of stored.pages) this.records.push({ seriesId: record.id, blockStartMs: block.startMs, pageIndex: page.index, bytes: page.bytes, pointCount: page.pointCount });
      seriesPoints += stored.pointCount;
      return { open: block.open, raw: stored.raw, startMs: block.startMs, pageCount: stored.pages.length };
    });
    this.groupSeries.push({ id: record.id, key: record.key, header: parsed.header.slice(), blockSpanMs: parsed.blockSpanMs, pointCount: seriesPoints, blocks });
    this.groupPoints += seriesPoints;
  }

  *finish(): Generator<ExportedFile, RootGroup, void> {
    const { group, records } = this;
    records.sort((a, b) => a.blockStartMs - b.blockStartMs || a.pageIndex - b.pageIndex || a.seriesId - b.seriesId);
    const segments: GroupSegment[] = [];
    for (const chunk of cutSegments(group, records, this.layout.minSegmentBytes)) {
      const seg = file('segment', encodeSegmentFile(group, chunk));
      let points = 0;
      for (const r of chunk) points += r.pointCount;
      segments.push({ id: sha256(seg.bytes), recordCount: chunk.length, pointCount: points });
      yield seg;
    }
    const grp = file('group', encodeGroupFile({ group, series: this.groupSeries, segments }));
    yield grp;
    assert(segments.reduce((n, seg) => n + seg.pointCount, 0) === this.groupPoints, `group ${group}: segment points differ from series points`);
    return { group, seriesCount: this.groupSeries.length, pointCount: this.groupPoints, fileId: sha256(grp.bytes) };
  }
}

/** Content-defined cuts (docs/backup-format.md): after the last record of a
 *  page slot once past minSegmentBytes when the slot's hash is even, or after
 *  any record once past the hard cap. */
export function cutSegments<R extends SegmentRecord>(group: number, records: readonly R[], minSegmentBytes: number): R[][] {
  const chunks: R[][] = [];
  const hardCap = minSegmentBytes * SEGMENT_HARD_CAP_FACTOR;
  let current: R[] = [];
  let bytes = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    current.push(r);
    bytes += r.bytes.length + 12;
    const next = records[i + 1];
    const slotEnds = next === undefined || next.blockStartMs !== r.blockStartMs || next.pageIndex !== r.pageIndex;
    const cut =
      next === undefined ||
      bytes >= hardCap ||
      (slotEnds && bytes >= minSegmentBytes && fnv1a32(`${group}/${r.blockStartMs}/${r.pageIndex}`) % 2 === 0);
    if (cut) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
  }
  assert(current.length === 0, 'cutSegments: records left over');
  return chunks;
}
