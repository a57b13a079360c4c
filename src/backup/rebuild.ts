// Rebuilds the exact state machine snapshot (TSSM bytes) from a backup's
// files, group by group, checking everything on the way (docs/backup-format.md,
// "Rebuilding the state"). verify streams the bytes into a hash; restore
// collects them. Memory: one group's files at a time (plus what the sink keeps).
import { createHash } from 'node:crypto';
import { TsraftError, assert, rethrowIfBug } from '../errors.js';
import { decodeBlock } from '../tsdb/codec/block-format.js';
import { MAX_PAGES_PER_BLOCK, corruptBackup, toHex } from './constants.js';
import { decodeGroupFile, decodeRootIndex, decodeSegmentFile, decodeSessionsFile, type GroupFile, type RootIndex } from './data-files.js';
import { effectivePages, readSeriesHeader, rebuildBlockFromPages, serializeSeries, type SeriesBlock } from './series-pages.js';
import type { BackupManifest } from './manifest.js';
import type { BackupSource, SourceFile } from './source.js';
import { TssmWriter, type TssmSeriesRecord } from './tssm.js';

export interface RebuildResult {
  seriesCount: number;
  pointCount: number;
  stateBytes: number;
  stateSha256: string;
  stateHash: string;
  filesRead: number;
  storedBytesRead: number;
}

export interface RebuildOptions {
  /** Receives the snapshot bytes in order (null: only hash them). */
  sink?: ((chunk: Uint8Array) => void) | null;
  /** Called after each group with the stored bytes read so far. */
  onProgress?: (storedBytesRead: number) => void;
}

/** FNV-1a 64 over a stream, equal to fnv1a64Hex of the concatenation (the state hash). */
export class Fnv1a64 {
  private hi = 0xcbf29ce4;
  private lo = 0x84222325;

  update(bytes: Uint8Array): void {
    let hi = this.hi;
    let lo = this.lo;
    for (let i = 0; i < bytes.length; i++) {
      lo ^= bytes[i]!;
      const loProduct = (lo >>> 0) * 0x1b3;
      const carry = Math.floor(loProduct / 0x1_0000_0000);
      hi = (Math.imul(hi, 0x1b3) + carry + (lo << 8)) >>> 0;
      lo = loProduct >>> 0;
    }
    this.hi = hi;
    this.lo = lo;
  }

  hex(): string {
    return this.hi.toString(16).padStart(8, '0') + (this.lo >>> 0).toString(16).padStart(8, '0');
  }
}

function wrap(file: string, error: unknown): unknown {
  rethrowIfBug(error);
  if (error instanceof TsraftError && error.code !== 'TSR_ERR_BACKUP_CORRUPT' && error.code !== 'TSR_ERR_BACKUP_KEY' && error.code !== 'TSR_ERR_BACKUP_UNSUPPORTED') {
    return corruptBackup(file, error.message, { cause: error.code });
  }
  return error;
}

/** Rebuilds into one buffer of the size the manifest announces (no second copy). */
export function rebuildStateBytes(source: BackupSource, onProgress?: (storedBytesRead: number) => void): { tssm: Uint8Array; result: RebuildResult } {
  const expected = source.manifest.state.bytes;
  const tssm = new Uint8Array(expected);
  let at = 0;
  const result = rebuildState(source, {
    sink: (chunk) => {
      if (at + chunk.length > expected) throw corruptBackup(source.manifestPath, `the rebuilt state exceeds the ${expected} bytes the manifest announces`);
      tssm.set(chunk, at);
      at += chunk.length;
    },
    ...(onProgress === undefined ? {} : { onProgress }),
  });
  assert(at === expected, 'rebuildState checks the size against the manifest');
  return { tssm, result };
}

export function rebuildState(source: BackupSource, options: RebuildOptions = {}): RebuildResult {
  const steps = rebuildStateSteps(source, options);
  let step = steps.next();
  while (step.done !== true) step = steps.next();
  return step.value;
}

/** rebuildState() one group per step, so an event-loop caller (the node's
 *  re-verification, docs/backup-service.md) can pause between groups. */
export function* rebuildStateSteps(source: BackupSource, options: RebuildOptions = {}): Generator<void, RebuildResult, void> {
  const m = source.manifest;
  const manifestPath = source.manifestPath;
  const index = source.readIndex();
  let root: RootIndex;
  try {
    root = decodeRootIndex(index.bytes, index.file);
  } catch (error) {
    throw wrap(index.file, error);
  }
  checkIndexAgainstManifest(root, index.file, m, manifestPath);

  const sha = createHash('sha256');
  const fnv = new Fnv1a64();
  const sink = options.sink ?? null;
  const writer = new TssmWriter((chunk) => {
    sha.update(chunk);
    fnv.update(chunk);
    if (sink !== null) sink(chunk);
  });
  writer.header({
    formatVersion: root.stateFormatVersion,
    appliedIndex: root.appliedIndex,
    lastLeaderTimeMs: root.lastLeaderTimeMs,
    options: root.options,
    nextSeriesId: root.nextSeriesId,
    seriesCount: root.seriesCount,
  });
  let filesRead = 1;
  let points = 0;
  let previousId = -1;
  for (const g of root.groups) {
    const groupFile = source.readById(toHex(g.fileId), 'group');
    filesRead++;
    let grp: GroupFile;
    try {
      grp = decodeGroupFile(groupFile.bytes, groupFile.file, g.group, (header) => readSeriesHeader(header).blockSpanMs);
    } catch (error) {
      throw wrap(groupFile.file, error);
    }
    if (grp.series.length !== g.seriesCount) throw corruptBackup(groupFile.file, `group holds ${grp.series.length} series, the index says ${g.seriesCount}`);
    for (const s of grp.series) {
      if (s.id <= previousId) throw corruptBackup(groupFile.file, `series ${s.id} does not belong in group ${g.group} (or is out of order)`);
      previousId = s.id;
    }
    checkGroupMembers(groupFile.file, g.group, grp, root.layout.seriesPerGroup, root.nextSeriesId);
    const series = rebuildGroupSeries(grp, groupFile.file, (id) => source.readById(toHex(id), 'segment'), root.layout.pagesPerBlock);
    let step = series.next();
    for (; step.done !== true; step = series.next()) writer.series(step.value.id, step.value.key, step.value.data);
    const groupPoints = step.value;
    filesRead += grp.segments.length;
    if (groupPoints !== g.pointCount) throw corruptBackup(groupFile.file, `group holds ${groupPoints} points, the index says ${g.pointCount}`);
    points += groupPoints;
    options.onProgress?.(source.bytesRead);
    yield;
  }
  const sessionsFile = source.readById(toHex(root.sessionsId), 'sessions');
  filesRead++;
  let sessions: Uint8Array;
  try {
    sessions = decodeSessionsFile(sessionsFile.bytes, sessionsFile.file);
  } catch (error) {
    throw wrap(sessionsFile.file, error);
  }
  const stateBytes = writer.finish(sessions);
  options.onProgress?.(source.bytesRead);
  assert(points === root.pointCount, 'group point counts were checked against the index');
  const stateSha256 = sha.digest('hex');
  const stateHash = fnv.hex();
  checkStateAgainstManifest({ bytes: stateBytes, sha256: stateSha256, stateHash }, m, manifestPath);
  const unread = source.unread();
  if (unread.length > 0) throw corruptBackup(manifestPath, `lists ${unread.length} file(s) the state does not use, e.g. ${unread[0]}`);
  return { seriesCount: root.seriesCount, pointCount: points, stateBytes, stateSha256, stateHash, filesRead, storedBytesRead: source.bytesRead };
}

/** Both files passed their digests: on a mismatch the manifest is the one that was edited. */
export function checkIndexAgainstManifest(root: RootIndex, indexFile: string, m: BackupManifest, manifestPath: string): void {
  const mismatch = (what: string, a: unknown, b: unknown): never => {
    throw corruptBackup(manifestPath, `manifest says ${what} ${JSON.stringify(b)}, the index ${indexFile} says ${JSON.stringify(a)}`);
  };
  if (root.seriesCount !== m.seriesCount) mismatch('series count', root.seriesCount, m.seriesCount);
  if (root.pointCount !== m.pointCount) mismatch('point count', root.pointCount, m.pointCount);
  if (root.appliedIndex !== m.state.appliedIndex) mismatch('applied index', root.appliedIndex, m.state.appliedIndex);
  if (root.lastLeaderTimeMs !== m.leaderTimeMs) mismatch('leader time', root.lastLeaderTimeMs, m.leaderTimeMs);
  if (root.stateFormatVersion !== m.state.formatVersion) mismatch('state format version', root.stateFormatVersion, m.state.formatVersion);
  if (JSON.stringify(root.layout) !== JSON.stringify({ pagesPerBlock: m.layout.pagesPerBlock, seriesPerGroup: m.layout.seriesPerGroup, minSegmentBytes: m.layout.minSegmentBytes })) {
    mismatch('layout', root.layout, m.layout);
  }
}

/** The rebuilt state must be the one the manifest records (size, SHA-256, state hash). */
export function checkStateAgainstManifest(state: { bytes: number; sha256: string; stateHash: string }, m: BackupManifest, manifestPath: string): void {
  if (state.bytes !== m.state.bytes || state.sha256 !== m.state.sha256 || state.stateHash !== m.state.stateHash) {
    throw corruptBackup(manifestPath, `the rebuilt state (${state.bytes} bytes, SHA-256 ${state.sha256.slice(0, 16)}…) differs from the state digest in the manifest`);
  }
}

/** Every series of a group file (ids increasing, checked when decoded) belongs
 *  in its group and below nextSeriesId: its first and last ids do. */
export function checkGroupMembers(file: string, group: number, grp: Pick<GroupFile, 'series'>, seriesPerGroup: number, nextSeriesId: number): void {
  const first = grp.series[0];
  const last = grp.series[grp.series.length - 1];
  for (const s of first === undefined ? [] : [first, last!]) {
    if (Math.floor(s.id / seriesPerGroup) !== group || s.id >= nextSeriesId) throw corruptBackup(file, `series ${s.id} does not belong in group ${group} (or is out of order)`);
  }
}

interface PageRef {
  pageIndex: number;
  bytes: Uint8Array;
  file: string;
  /** Position of its segment in the group file. */
  segment: number;
}

/**
 * The series of one group, rebuilt from its group file and segment files
 * (`readSegment` hands out a segment by content id, verified), one series
 * at a time in id order; returns the group's point count. Checks every
 * record against the group file (counts of records, pages and points, raw
 * blocks inside their block). Shared by the rebuild of a whole backup and
 * the streamed install of a pack (pack-install.ts), which learns the layout
 * only at the end: with `pagesPerBlock` null, pages are checked against
 * their block instead of their slot (rebuildBlockFromPages). Memory: the
 * group's segment files and one series.
 */
export function* rebuildGroupSeries(
  grp: GroupFile,
  groupPath: string,
  readSegment: (id: Uint8Array) => SourceFile,
  pagesPerBlock: number | null,
): Generator<TssmSeriesRecord, number, void> {
  // Every record of the group's segments, by series and block.
  const pagesOf = new Map<string, PageRef[]>();
  const pointsBySegment = new Array<number>(grp.segments.length).fill(0);
  const segmentFiles: string[] = [];
  for (const [segment, seg] of grp.segments.entries()) {
    const segFile = readSegment(seg.id);
    let decoded;
    try {
      decoded = decodeSegmentFile(segFile.bytes, segFile.file, grp.group);
    } catch (error) {
      throw wrap(segFile.file, error);
    }
    if (decoded.records.length !== seg.recordCount) throw corruptBackup(segFile.file, `segment holds ${decoded.records.length} records, its group file says ${seg.recordCount}`);
    for (const rec of decoded.records) {
      const key = `${rec.seriesId}/${rec.blockStartMs}`;
      let list = pagesOf.get(key);
      if (list === undefined) pagesOf.set(key, (list = []));
      list.push({ pageIndex: rec.pageIndex, bytes: rec.bytes, file: segFile.file, segment });
    }
    segmentFiles.push(segFile.file);
  }
  let groupPoints = 0;
  for (const s of grp.series) {
    // Unknown layout: any page count up to the format's bound.
    const pages = pagesPerBlock === null ? MAX_PAGES_PER_BLOCK : effectivePages(s.blockSpanMs, pagesPerBlock);
    const pageSpanMs = pagesPerBlock === null ? null : s.blockSpanMs / pages;
    const blocks: SeriesBlock[] = [];
    let seriesPoints = 0;
    for (const b of s.blocks) {
      const key = `${s.id}/${b.startMs}`;
      const refs = pagesOf.get(key) ?? [];
      pagesOf.delete(key);
      if (refs.length !== b.pageCount) throw corruptBackup(groupPath, `series ${s.id} block ${b.startMs} has ${b.pageCount} pages, its segments hold ${refs.length}`);
      refs.sort((x, y) => x.pageIndex - y.pageIndex);
      const where = refs[0]!.file;
      let bytes: Uint8Array;
      let pointCount: number;
      let pagePoints: number[];
      try {
        if (b.raw) {
          if (refs[0]!.pageIndex !== 0) throw corruptBackup(where, `raw block of series ${s.id} at ${b.startMs} has page index ${refs[0]!.pageIndex}`);
          const cols = decodeBlock(refs[0]!.bytes);
          for (let i = 0; i < cols.length; i++) {
            const ts = cols.timestampsMs[i]!;
            if (ts < b.startMs || ts >= b.startMs + s.blockSpanMs) throw corruptBackup(where, `raw block of series ${s.id} at ${b.startMs} holds timestamp ${ts} outside it`);
          }
          bytes = refs[0]!.bytes;
          pointCount = cols.length;
          pagePoints = [cols.length];
        } else {
          for (const ref of refs) if (ref.pageIndex >= pages) throw corruptBackup(ref.file, `series ${s.id} block ${b.startMs} page index ${ref.pageIndex} ≥ ${pages}`);
          ({ bytes, pointCount, pagePoints } = rebuildBlockFromPages(refs.map((r) => r.bytes), refs.map((r) => r.pageIndex), b.startMs, pageSpanMs, s.blockSpanMs));
        }
      } catch (error) {
        throw wrap(where, error);
      }
      refs.forEach((ref, i) => {
        pointsBySegment[ref.segment]! += pagePoints[i]!;
      });
      blocks.push({ open: b.open, startMs: b.startMs, bytes });
      seriesPoints += pointCount;
    }
    if (seriesPoints !== s.pointCount) throw corruptBackup(groupPath, `series ${s.id} holds ${seriesPoints} points, its group file says ${s.pointCount}`);
    groupPoints += seriesPoints;
    yield { id: s.id, key: s.key, data: serializeSeries(s.header, blocks) };
  }
  for (const [key, refs] of pagesOf) {
    throw corruptBackup(refs[0]!.file, `segment holds pages of series/block ${key} that its group file does not list`);
  }
  grp.segments.forEach((seg, i) => {
    if (pointsBySegment[i] !== seg.pointCount) throw corruptBackup(segmentFiles[i]!, `segment holds ${pointsBySegment[i]} points, its group file says ${seg.pointCount}`);
  });
  return groupPoints;
}
