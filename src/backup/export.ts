// Cuts a state machine snapshot (TSSM bytes) into the content-addressed data
// files of a backup (docs/backup-format.md, "Data files"): one segment, group,
// sessions and root index file at a time, so a caller can stream them out with
// backpressure and memory holds one group's files at most.
//
// Synchronous on purpose: the Raft snapshot path (state-machine-adapter.ts)
// needs the whole pack in one call; the HTTP route yields between files.
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
import { parseTssm, type TssmSeriesRecord } from './tssm.js';

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

/** Yields every data file of the backup of `tssm`, and `null` between series
 *  (a point where an event-loop caller may pause: cutting a group of series
 *  can take a while); returns the summary. */
export function* exportBackupFiles(tssm: Uint8Array, options: ExportOptions = {}): Generator<ExportedFile | null, ExportSummary, void> {
  const parsed = parseTssm(tssm);
  const layout = checkLayout(options.layout ?? defaultLayout(tssm.length));
  const cache = options.cache ?? null;
  const groups: RootGroup[] = [];
  let pointCount = 0;
  let s = 0;
  while (s < parsed.series.length) {
    const group = Math.floor(parsed.series[s]!.id / layout.seriesPerGroup);
    const from = s;
    while (s < parsed.series.length && Math.floor(parsed.series[s]!.id / layout.seriesPerGroup) === group) s++;
    const summary = yield* exportGroup(group, parsed.series.slice(from, s), layout, cache);
    groups.push(summary);
    pointCount += summary.pointCount;
  }
  const sessions = file('sessions', encodeSessionsFile(parsed.sessions));
  yield sessions;
  const h = parsed.header;
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
    stateBytes: tssm.length,
    stateSha256: toHex(sha256(tssm)),
    stateHash: fnv1a64Hex(tssm),
  };
}

function* exportGroup(group: number, series: readonly TssmSeriesRecord[], layout: BackupLayout, cache: PageCache | null): Generator<ExportedFile | null, RootGroup, void> {
  const groupSeries: GroupSeries[] = [];
  const records: PendingRecord[] = [];
  let groupPoints = 0;
  for (const record of series) {
    const parsed = parseSeriesSnapshot(record.data);
    const pages = effectivePages(parsed.blockSpanMs, layout.pagesPerBlock);
    let seriesPoints = 0;
    const blocks = parsed.blocks.map((block) => {
      const stored = splitBlock(block, parsed.blockSpanMs, pages, cache);
      for (const page of stored.pages) records.push({ seriesId: record.id, blockStartMs: block.startMs, pageIndex: page.index, bytes: page.bytes, pointCount: page.pointCount });
      seriesPoints += stored.pointCount;
      return { open: block.open, raw: stored.raw, startMs: block.startMs, pageCount: stored.pages.length };
    });
    groupSeries.push({ id: record.id, key: record.key, header: parsed.header, blockSpanMs: parsed.blockSpanMs, pointCount: seriesPoints, blocks });
    groupPoints += seriesPoints;
    yield null;
  }
  records.sort((a, b) => a.blockStartMs - b.blockStartMs || a.pageIndex - b.pageIndex || a.seriesId - b.seriesId);
  const segments: GroupSegment[] = [];
  for (const chunk of cutSegments(group, records, layout.minSegmentBytes)) {
    const seg = file('segment', encodeSegmentFile(group, chunk));
    let points = 0;
    for (const r of chunk) points += r.pointCount;
    segments.push({ id: sha256(seg.bytes), recordCount: chunk.length, pointCount: points });
    yield seg;
  }
  const grp = file('group', encodeGroupFile({ group, series: groupSeries, segments }));
  yield grp;
  assert(segments.reduce((n, seg) => n + seg.pointCount, 0) === groupPoints, `group ${group}: segment points differ from series points`);
  return { group, seriesCount: series.length, pointCount: groupPoints, fileId: sha256(grp.bytes) };
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
