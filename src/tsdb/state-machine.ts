// The deterministic state machine every replica applies the committed log to
// (docs/tsdb-commands.md). It owns the series index, one SeriesData per
// series (compressed time blocks, series-data.ts) and the client sessions.
//
// Determinism: no clock, no randomness, no I/O. "Now" is the leader-stamped
// time in the entry; series ids are assigned in apply order; snapshots write
// series in id order and sessions in recency order (which depends only on the
// applied entries). The same entries give byte-identical snapshots.
//
// The write path decodes a batch into typed-array columns, groups point
// positions by series with a counting sort, and hands each series its slice of
// positions: no per-point objects.
import { DecodedBlockCache } from './block-cache.js';
import { AssertionError, TsraftError, assert, rethrowIfBug } from '../errors.js';
import { ByteReader, ByteWriter, fnv1a64Hex } from './byte-io.js';
import { MAX_CLIENT_ID_BYTES, decodeCommand, type CoalescedWrite, type RetentionCommand } from './command.js';
import { BackupScheduleState, type BackupRecordResult, type BackupScheduleSnapshot } from './backup-schedule.js';
import { computeStateDigest, type StateDigest } from './digest.js';
import { IdTable } from './id-table.js';
import { emptyColumns, type PointColumns } from './points.js';
import { DEFAULT_BLOCK_SPAN_MS, DEFAULT_MAX_POINTS_PER_BLOCK, SeriesData, type SealedBlockRecord, type SeriesCheckpointDelta, type WrittenBlockMeta } from './series-data.js';
import { SeriesIndex, type LookupQuery, type LookupResult, type SuggestType } from './series-index.js';
import { ClientSessions, type WriteOutcome } from './sessions.js';
import type { SeriesInfo, SeriesSource, Tags } from './types.js';
import { parseSeriesKey, type PointError } from './validate.js';
import { MAX_SERIES_KEY_BYTES, decodeWriteBatch, type DecodedWriteBatch } from './write-batch.js';

export interface TimeSeriesStateMachineOptions {
  /** Time span of one series block, ms; default 2 h. */
  blockSpanMs: number;
  /** Distinct points one block of one series may hold; default 1,048,576 (≤ 2^24). */
  maxPointsPerBlock: number;
  /** Series kept; a point that would create one more is rejected. Default 1,000,000. */
  maxSeries: number;
  /** Client sessions kept (LRU eviction); default 10,000. */
  maxSessions: number;
  /** Cached write results per session; default 32. */
  maxResultsPerSession: number;
  /** Per-point errors kept in one write result; default 20. */
  maxErrorsPerResult: number;
  /** Decoder bound on points in one write batch; default 100,000. */
  maxPointsPerBatch: number;
  /** Decoder bound on distinct series keys in one write batch; default 100,000. */
  maxSeriesKeysPerBatch: number;
}

export const DEFAULT_STATE_MACHINE_OPTIONS: Readonly<TimeSeriesStateMachineOptions> = Object.freeze({
  blockSpanMs: DEFAULT_BLOCK_SPAN_MS,
  maxPointsPerBlock: DEFAULT_MAX_POINTS_PER_BLOCK,
  maxSeries: 1_000_000,
  maxSessions: 10_000,
  maxResultsPerSession: 32,
  maxErrorsPerResult: 20,
  maxPointsPerBatch: 100_000,
  maxSeriesKeysPerBatch: 100_000,
});

const OPTION_ORDER: readonly (keyof TimeSeriesStateMachineOptions)[] = [
  'blockSpanMs',
  'maxPointsPerBlock',
  'maxSeries',
  'maxSessions',
  'maxResultsPerSession',
  'maxErrorsPerResult',
  'maxPointsPerBatch',
  'maxSeriesKeysPerBatch',
];

export type ApplyResult =
  | { kind: 'write'; storedCount: number; rejectedCount: number; errors: readonly PointError[]; duplicate: boolean }
  | { kind: 'refused'; code: 'TSR_ERR_SESSION_EXPIRED'; message: string; details: { clientId: string; sequence: number; reason: string } }
  /** The batch gives a series by an id no series has any more (retention
   *  removed it after the leader encoded the batch): nothing of the entry was
   *  applied, its session sequence included; the leader proposes the request
   *  again with keys (docs/tsdb-commands.md, "Series by id"). */
  | { kind: 'stale_series'; seriesId: number }
  /** A `writes` entry: each write's result, in order. */
  | { kind: 'writes'; results: WriteApplyResult[] }
  | { kind: 'retention'; cutoffMs: number; droppedPoints: number; removedSeries: number }
  | { kind: 'noop' }
  | BackupRecordResult
  | { kind: 'checkpoint' };

/** What applying one client write gives (alone, or inside a `writes` entry). */
export type WriteApplyResult = Extract<ApplyResult, { kind: 'write' | 'refused' | 'stale_series' }>;

/** Tags of the optional sections after the sessions in a snapshot (docs/tsdb-commands.md). */
const SNAPSHOT_SECTION_BACKUP_SCHEDULE = 1;

export interface StateMachineStats {
  appliedIndex: number;
  lastLeaderTimeMs: number;
  seriesCount: number;
  pointCount: number;
  /** Bytes of the series' encoded blocks (SeriesData.encodedBytes()). */
  encodedBytes: number;
  sessionCount: number;
}

const REJECTED_SERIES_LIMIT = 1;
const REJECTED_BLOCK_FULL = 2;

export const SNAPSHOT_MAGIC = new Uint8Array([0x54, 0x53, 0x53, 0x4d]); // "TSSM"
export const SNAPSHOT_FORMAT_VERSION = 1;

function checkOptions(options: TimeSeriesStateMachineOptions): void {
  for (const name of OPTION_ORDER) {
    const value = options[name];
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `state machine option ${name} must be a positive integer, got ${value}`, {
        details: { field: name },
      });
    }
  }
}

/** Reads back sealed blocks that left memory (written by a checkpoint). */
export interface PersistedBlockReader {
  readBlock(seriesId: number, startMs: number): Uint8Array | undefined;
}

/** Options that tune one process and are not part of the replicated state. */
export interface LocalStateMachineOptions {
  /** Bound on decoded sealed blocks kept for queries, bytes; 0 disables. Default 64 MiB. */
  decodedBlockCacheBytes: number;
  /** Where written sealed blocks are read back from; null (the default)
   *  keeps every block's bytes in memory. */
  blockReader: PersistedBlockReader | null;
  /** With a blockReader: bound on the bytes of written sealed blocks kept in
   *  memory (least recently written leave first). Default 256 MiB; 0 keeps
   *  none. Blocks not yet written always stay. */
  residentBlockBytes: number;
}

export const DEFAULT_DECODED_BLOCK_CACHE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_RESIDENT_BLOCK_BYTES = 256 * 1024 * 1024;

/** What one checkpoint writes (captureCheckpoint; keys and records: persisted-state.ts). */
export interface StateCheckpoint {
  /** Increases with every capture of this state machine. */
  generation: number;
  appliedIndex: number;
  /** Replace everything stored (the first checkpoint, or after a restore from a snapshot). */
  full: boolean;
  /** coveredIndex at capture (≥ appliedIndex). */
  coveredIndex: number;
  /** snapshot() without the series: index, options, sessions, sections. */
  meta: Uint8Array;
  /** Series that changed (every series when full), in id order. */
  series: Array<{ id: number; key: string } & Omit<SeriesCheckpointDelta, 'records'>>;
  /** Series removed since the last checkpoint, with the starts of their
   *  written blocks and the number of their journal records. */
  removedSeries: Array<{ id: number; blockStarts: number[]; journalRecords: number }>;
}

/** The parts of a persisted state machine (persisted-state.ts decodes them). */
export interface PersistedStateParts {
  meta: Uint8Array;
  /** The covered index stored with the meta record (0 when none). */
  coveredIndex: number;
  series: Array<{ id: number; key: string; head: Uint8Array; blocks: WrittenBlockMeta[]; journals: Uint8Array[] }>;
}

/** Written sealed blocks whose bytes are in memory, oldest written first:
 *  the candidates for eviction under residentBlockBytes. */
class ResidentBlocks {
  private readonly queue = new Set<SealedBlockRecord>();
  private bytesValue = 0;
  evicted = 0;

  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.bytesValue;
  }

  add(record: SealedBlockRecord): void {
    if (record.bytes === null || record.released || this.queue.has(record)) return;
    this.queue.add(record);
    this.bytesValue += record.byteLength;
    for (const oldest of this.queue) {
      if (this.bytesValue <= this.maxBytes) break;
      this.queue.delete(oldest);
      this.bytesValue -= oldest.byteLength;
      if (SeriesData.evictBytes(oldest) > 0) this.evicted++;
    }
  }

  clear(): void {
    this.queue.clear();
    this.bytesValue = 0;
  }
}

/** A batch's series keys looked up in the index (resolveSeriesKeys). */
interface ResolvedSeriesKeys {
  /** ids[k]: the series of key k, or -1 when none existed at lookup. */
  ids: Int32Array;
  /** Parsed keys of the new series, by key position. */
  newSeries: Map<number, { metric: string; tags: Tags }>;
  /** An id the batch gives that no series has (the first), or -1. */
  staleSeriesId: number;
}

export class TimeSeriesStateMachine implements SeriesSource {
  private optionsValue: Readonly<TimeSeriesStateMachineOptions>;
  private index: SeriesIndex;
  /** series id → its blocks; keys mirror the index. */
  /** Series data by id (ids are dense: an array, not a Map; see IdTable). */
  private data = new IdTable<SeriesData>();
  private sessions: ClientSessions;
  /** Scheduled backups coordinated through the log (backup-schedule.ts). */
  private backupSchedule = new BackupScheduleState();
  private appliedIndexValue = 0;
  /** Highest index passed by noteUnappliedEntry() (local: see there). */
  private coveredIndexValue = 0;
  private lastLeaderTimeMsValue = 0;
  /** Decoded sealed blocks recently read by queries: local, not replicated state. */
  readonly blockCache: DecodedBlockCache;
  private readonly local: Partial<LocalStateMachineOptions>;
  private readonly blockReader: PersistedBlockReader | null;
  private readonly resident: ResidentBlocks;
  /** Series changed since the last checkpoint capture. */
  private dirtySeries = new Set<number>();
  /** Series removed since the last capture → their written blocks and journal records. */
  private removedSeries = new Map<number, { blockStarts: number[]; journalRecords: number }>();
  private checkpointGeneration = 0;
  /** The next capture replaces everything stored (nothing written yet, or restored from a snapshot). */
  private needsFullCheckpoint = true;
  /** Blocks captured by a checkpoint not yet reported written, by generation. */
  private capturedBlocks = new Map<number, SealedBlockRecord[]>();
  /** A snapshot install is rewriting the store under this (old) state: its
   *  blocks that left memory are no longer there to read back. */
  private storeBeingReplaced = false;

  /** `options` are replicated (identical on every replica, kept in snapshots);
   *  `local` tunes only this process. */
  constructor(options: Partial<TimeSeriesStateMachineOptions> = {}, local: Partial<LocalStateMachineOptions> = {}) {
    this.blockCache = new DecodedBlockCache(local.decodedBlockCacheBytes ?? DEFAULT_DECODED_BLOCK_CACHE_BYTES);
    this.local = { ...local };
    this.blockReader = local.blockReader ?? null;
    const residentBytes = local.residentBlockBytes ?? DEFAULT_RESIDENT_BLOCK_BYTES;
    assert(Number.isSafeInteger(residentBytes) && residentBytes >= 0, `residentBlockBytes ${residentBytes} must be a non-negative integer`);
    this.resident = new ResidentBlocks(residentBytes);
    const merged = { ...DEFAULT_STATE_MACHINE_OPTIONS, ...options };
    checkOptions(merged);
    this.optionsValue = Object.freeze(merged);
    this.index = new SeriesIndex();
    this.sessions = new ClientSessions({ maxSessions: merged.maxSessions, maxResultsPerSession: merged.maxResultsPerSession });
  }

  /** The options in force (a restore adopts the snapshot's). */
  get options(): Readonly<TimeSeriesStateMachineOptions> {
    return this.optionsValue;
  }

  /** Index of the last applied entry (0 before any). */
  get appliedIndex(): number {
    return this.appliedIndexValue;
  }

  /** Largest leader-stamped time applied so far (Unix ms; 0 before any). */
  get lastLeaderTimeMs(): number {
    return this.lastLeaderTimeMsValue;
  }

  // -------------------------------------------------------------------------
  // Applying

  /** Applies one committed entry's data. Indexes must increase (gaps are
   *  allowed: configuration entries are not applied here). A corrupt or
   *  unknown entry throws TSR_ERR_CORRUPT_ENTRY / TSR_ERR_UNSUPPORTED_ENTRY
   *  before changing anything. */
  apply(index: number, data: Uint8Array): ApplyResult {
    if (!(Number.isSafeInteger(index) && index > this.appliedIndexValue)) throw new AssertionError(`apply index ${index} not after ${this.appliedIndexValue}`);
    const cmd = decodeCommand(data);
    let result: ApplyResult;
    switch (cmd.type) {
      case 'write': {
        // Decode (and so verify) the batch before any state changes.
        const prepared = this.prepareWrite(cmd);
        this.noteLeaderTime(cmd.leaderTimeMs);
        result = this.applyWrite(index, cmd, prepared);
        break;
      }
      case 'writes': {
        // Every batch is decoded and checked before any of them is applied:
        // a corrupt entry changes nothing.
        const prepared = cmd.writes.map((write) => this.prepareWrite(write));
        this.noteLeaderTime(cmd.leaderTimeMs);
        result = { kind: 'writes', results: cmd.writes.map((write, i) => this.applyWrite(index, write, prepared[i]!)) };
        break;
      }
      case 'retention':
        result = this.applyRetention(cmd);
        break;
      case 'noop':
        result = { kind: 'noop' };
        break;
      case 'backup':
        this.noteLeaderTime(cmd.leaderTimeMs);
        result = this.backupSchedule.apply(index, cmd);
        break;
      case 'checkpoint':
        // Changes nothing: replicas compute their state digest at this index.
        this.noteLeaderTime(cmd.leaderTimeMs);
        result = { kind: 'checkpoint' };
        break;
    }
    this.appliedIndexValue = index;
    return result;
  }

  /** A committed entry this state machine does not apply (a configuration
   *  change, a leader's empty no-op, or the index of an installed snapshot)
   *  was passed at `index`. Local, not replicated state: it moves only
   *  coveredIndex, which checkpoints store so that a restart knows every
   *  entry up to it is reflected (the applied index, in snapshots and
   *  digests, stays the last entry applied). */
  noteUnappliedEntry(index: number): void {
    if (!(Number.isSafeInteger(index) && index > this.coveredIndex)) throw new AssertionError(`unapplied entry ${index} not after ${this.coveredIndex}`);
    this.coveredIndexValue = index;
  }

  /** The last committed entry this state reflects, applied or skipped. */
  get coveredIndex(): number {
    return Math.max(this.appliedIndexValue, this.coveredIndexValue);
  }

  private noteLeaderTime(leaderTimeMs: number): void {
    if (leaderTimeMs > this.lastLeaderTimeMsValue) this.lastLeaderTimeMsValue = leaderTimeMs;
  }

  /** Decodes a write's batch and looks its series up; throws on a corrupt
   *  batch, changes nothing. */
  private prepareWrite(cmd: CoalescedWrite): { batch: DecodedWriteBatch; resolved: ResolvedSeriesKeys } {
    const batch = decodeWriteBatch(cmd.batch, { maxPoints: this.optionsValue.maxPointsPerBatch, maxSeriesKeys: this.optionsValue.maxSeriesKeysPerBatch });
    return { batch, resolved: this.resolveSeriesKeys(batch) };
  }

  /** Applies one prepared client write. Series a batch creates are found by
   *  later writes of the same entry (applyBatch looks keys up again). */
  private applyWrite(index: number, cmd: CoalescedWrite, prepared: { batch: DecodedWriteBatch; resolved: ResolvedSeriesKeys }): WriteApplyResult {
    const { batch, resolved } = prepared;
    if (resolved.staleSeriesId >= 0) return { kind: 'stale_series', seriesId: resolved.staleSeriesId };
    if (cmd.clientId === '') {
      return { kind: 'write', ...this.applyBatch(batch, resolved), duplicate: false };
    }
    const decision = this.sessions.begin(cmd.clientId, cmd.sequence, cmd.firstUnackedSequence, index);
    if (decision.kind === 'duplicate') return { kind: 'write', ...decision.outcome, duplicate: true };
    if (decision.kind === 'expired') {
      return {
        kind: 'refused',
        code: 'TSR_ERR_SESSION_EXPIRED',
        message:
          decision.reason === 'unknown_session'
            ? `session ${JSON.stringify(cmd.clientId)} is unknown (evicted); start a new client id`
            : `the result of sequence ${cmd.sequence} of ${JSON.stringify(cmd.clientId)} is no longer kept; it was not applied again`,
        details: { clientId: cmd.clientId, sequence: cmd.sequence, reason: decision.reason },
      };
    }
    const outcome = this.applyBatch(batch, resolved);
    this.sessions.recordResult(cmd.clientId, cmd.sequence, outcome);
    return { kind: 'write', ...outcome, duplicate: false };
  }

  /** Looks each of the batch's keys up once (ids[k], -1 when no series has
   *  it yet) and parses the keys that name no existing series, so a
   *  malformed key fails the entry before anything is applied. A series
   *  given by id (version 2) costs no key lookup, only a check that it
   *  still exists. */
  private resolveSeriesKeys(batch: DecodedWriteBatch): ResolvedSeriesKeys {
    const parsed = new Map<number, { metric: string; tags: Tags }>();
    const ids = new Int32Array(batch.seriesKeys.length);
    let staleSeriesId = -1;
    for (let k = 0; k < batch.seriesKeys.length; k++) {
      const givenId = batch.seriesIds[k]!;
      if (givenId >= 0) {
        ids[k] = givenId;
        if (staleSeriesId < 0 && !this.data.has(givenId)) staleSeriesId = givenId;
        continue;
      }
      const key = batch.seriesKeys[k]!;
      const id = this.index.idOf(key);
      if (id !== undefined) {
        ids[k] = id;
        continue;
      }
      ids[k] = -1;
      const series = parseSeriesKey(key);
      if (series === null) {
        throw new TsraftError('TSR_ERR_CORRUPT_ENTRY', `write batch holds a malformed series key ${JSON.stringify(key.slice(0, 200))}`, {
          details: { reason: 'bad_series_key' },
        });
      }
      parsed.set(k, series);
    }
    return { ids, newSeries: parsed, staleSeriesId };
  }

  private applyBatch(batch: DecodedWriteBatch, resolved: ResolvedSeriesKeys): WriteOutcome {
    const keyCount = batch.seriesKeys.length;
    const n = batch.columns.length;
    const { ids, newSeries } = resolved;
    assert(ids.length === keyCount, 'series keys resolved for another batch');
    // Create the series of keys that have none yet; rejectedBy[k] says why a
    // key's points were not stored (0: stored).
    const rejectedBy = new Uint8Array(keyCount);
    for (let k = 0; k < keyCount; k++) {
      if (ids[k]! >= 0) continue;
      const key = batch.seriesKeys[k]!;
      // A key the batch repeats was created by its first occurrence.
      const existing = this.index.idOf(key);
      if (existing !== undefined) {
        ids[k] = existing;
      } else if (this.index.size >= this.optionsValue.maxSeries) {
        ids[k] = -1;
        rejectedBy[k] = REJECTED_SERIES_LIMIT;
      } else {
        const parsed = newSeries.get(k);
        assert(parsed !== undefined, `series key ${k} was not parsed`);
        const info = this.index.add(key, parsed.metric, parsed.tags);
        const series = new SeriesData({ blockSpanMs: this.optionsValue.blockSpanMs, maxPointsPerBlock: this.optionsValue.maxPointsPerBlock });
        this.attachSeries(info.id, series);
        this.dirtySeries.add(info.id);
        ids[k] = info.id;
      }
    }
    let rejectedCount = 0;
    if (keyCount === 1) {
      if (rejectedBy[0] === 0) rejectedBy[0] = this.appendToSeries(ids[0]!, batch.columns, undefined);
      if (rejectedBy[0] !== 0) rejectedCount = n;
    } else if (keyCount > 1) {
      // Counting sort of point positions by key; stable, so later writes of
      // the same series and timestamp still come later (last write wins).
      const starts = new Uint32Array(keyCount + 1);
      const keyOf = batch.seriesKeyIndexes;
      for (let i = 0; i < n; i++) starts[keyOf[i]! + 1]!++;
      for (let k = 0; k < keyCount; k++) starts[k + 1]! += starts[k]!;
      const cursor = starts.slice(0, keyCount);
      const positions = new Uint32Array(n);
      for (let i = 0; i < n; i++) positions[cursor[keyOf[i]!]!++] = i;
      // A series with one point in the batch (every series of a typical
      // scrape) gets a reused one-element index list, not a subarray view
      // allocated per series (appendColumns keeps no reference to it).
      const onePosition = new Uint32Array(1);
      for (let k = 0; k < keyCount; k++) {
        const from = starts[k]!;
        const to = starts[k + 1]!;
        if (from === to) continue;
        if (rejectedBy[k] === 0) {
          let indexes: Uint32Array;
          if (to - from === 1) {
            onePosition[0] = positions[from]!;
            indexes = onePosition;
          } else {
            indexes = positions.subarray(from, to);
          }
          rejectedBy[k] = this.appendToSeries(ids[k]!, batch.columns, indexes);
        }
        if (rejectedBy[k] !== 0) rejectedCount += to - from;
      }
    }
    const errors: PointError[] = [];
    for (let i = 0; i < n && rejectedCount > 0 && errors.length < this.optionsValue.maxErrorsPerResult; i++) {
      const k = batch.seriesKeyIndexes[i]!;
      if (rejectedBy[k] === 0) continue;
      const key = (batch.seriesIds[k]! >= 0 ? (this.index.keyOf(ids[k]!) ?? '') : batch.seriesKeys[k]!).slice(0, 200);
      errors.push(
        rejectedBy[k] === REJECTED_SERIES_LIMIT
          ? {
              index: i,
              code: 'TSR_ERR_SERIES_LIMIT',
              message: `series ${key} would exceed maxSeries (${this.optionsValue.maxSeries})`,
              details: { field: 'series', reason: 'series_limit' },
            }
          : {
              index: i,
              code: 'TSR_ERR_BLOCK_FULL',
              message: `a time block of series ${key} is full; none of this batch's points of that series were stored`,
              details: { field: 'timestamp', reason: 'block_full' },
            },
      );
    }
    assert(rejectedCount <= n, 'rejected more points than the batch holds');
    return { storedCount: n - rejectedCount, rejectedCount, errors };
  }

  /** Appends a series' points; returns 0, or why they were all rejected.
   *  SeriesData checks capacity before storing, so a full block leaves that
   *  series untouched (and every replica decides the same). */
  private appendToSeries(id: number, columns: PointColumns, positions: Uint32Array | undefined): number {
    this.dirtySeries.add(id);
    try {
      this.data.get(id)!.appendColumns(columns, positions);
      return 0;
    } catch (error) {
      rethrowIfBug(error);
      if (error instanceof TsraftError && error.code === 'TSR_ERR_BLOCK_FULL') return REJECTED_BLOCK_FULL;
      throw error;
    }
  }

  private applyRetention(cmd: RetentionCommand): ApplyResult {
    this.noteLeaderTime(cmd.leaderTimeMs);
    const cutoffMs = cmd.leaderTimeMs - cmd.retentionMs;
    let droppedPoints = 0;
    const emptied: number[] = [];
    for (const info of this.index.all()) {
      const series = this.data.get(info.id)!;
      const dropped = series.dropBlocksBefore(cutoffMs);
      assert(dropped >= 0, `retention dropped ${dropped} points of series ${info.id}`);
      if (dropped > 0) this.dirtySeries.add(info.id);
      droppedPoints += dropped;
      // Also sweeps a series that never stored a point (its only batch hit a full block).
      if (series.pointCount() === 0) emptied.push(info.id);
    }
    this.index.removeAll(emptied);
    for (const id of emptied) {
      const gone = this.data.get(id)!;
      this.removedSeries.set(id, { blockStarts: gone.writtenBlockStarts(), journalRecords: gone.journalRecordCount });
      this.dirtySeries.delete(id);
      this.data.delete(id);
    }
    return { kind: 'retention', cutoffMs, droppedPoints, removedSeries: emptied.length };
  }

  // -------------------------------------------------------------------------
  // Reading (SeriesSource and the index's search functions)

  seriesOfMetric(metric: string): readonly SeriesInfo[] {
    return this.index.seriesOfMetric(metric);
  }

  readPoints(seriesId: number, startMs: number, endMs: number): PointColumns {
    const series = this.data.get(seriesId);
    return series === undefined ? emptyColumns(0) : series.readPoints(startMs, endMs);
  }

  seriesInfo(seriesId: number): SeriesInfo | undefined {
    return this.index.info(seriesId);
  }

  /** Ids of the series with tag key=value, sorted. */
  seriesWithTag(key: string, value: string): readonly number[] {
    return this.index.seriesWithTag(key, value);
  }

  suggest(type: SuggestType, prefix: string, max?: number): string[] {
    return this.index.suggest(type, prefix, max);
  }

  lookup(query: LookupQuery): LookupResult {
    return this.index.lookup(query);
  }

  /** The scheduled-backup record (a copy). */
  backupScheduleView(): BackupScheduleSnapshot {
    return this.backupSchedule.view();
  }

  /** For maintenance jobs that walk series by id (scrubber, digest): ids are
   *  below nextSeriesId; removed ids give undefined. The data must not be
   *  modified (the scrubber's repair writes back the exact original bytes). */
  seriesDataOf(id: number): SeriesData | undefined {
    return this.data.get(id);
  }

  seriesKeyOf(id: number): string | undefined {
    return this.index.keyOf(id);
  }

  seriesIdOf(key: string): number | undefined {
    return this.index.idOf(key);
  }

  get nextSeriesId(): number {
    return this.index.nextId;
  }

  stats(): StateMachineStats {
    let pointCount = 0;
    let encodedBytes = 0;
    for (const series of this.data.values()) {
      pointCount += series.pointCount();
      encodedBytes += series.encodedBytes();
    }
    return {
      appliedIndex: this.appliedIndexValue,
      lastLeaderTimeMs: this.lastLeaderTimeMsValue,
      seriesCount: this.index.size,
      pointCount,
      encodedBytes,
      sessionCount: this.sessions.size,
    };
  }

  /** Replaces a damaged sealed block of series `id` with its original bytes
   *  (the scrubber's repair; the next checkpoint writes them). False when the
   *  series no longer holds that very block. */
  repairSealedBlock(id: number, record: SealedBlockRecord, original: Uint8Array): boolean {
    const series = this.data.get(id);
    if (series === undefined || series.sealedRecordAt(record.startMs) !== record) return false;
    const replaced = series.replaceSealedBytes(record.startMs, original);
    if (replaced) this.dirtySeries.add(id);
    return replaced;
  }

  /** A snapshot install starts rewriting the store under the current state
   *  (until replacePersisted): reading one of its blocks that left memory
   *  fails with the retryable TSR_ERR_STATE_RESTORING instead of finding it
   *  missing or replaced (which would read as damage). Blocks in memory are
   *  still served. */
  beginStoreReplacement(): void {
    this.storeBeingReplaced = true;
  }

  /** Whether a snapshot install is rewriting the store (the scrubber waits). */
  get isStoreBeingReplaced(): boolean {
    return this.storeBeingReplaced;
  }

  private attachSeries(id: number, series: SeriesData): void {
    series.blockCache = this.blockCache;
    const reader = this.blockReader;
    if (reader !== null) {
      series.blockReader = {
        readBlock: (startMs) => {
          if (this.storeBeingReplaced) {
            throw new TsraftError('TSR_ERR_STATE_RESTORING', `sealed block ${startMs} ms of series ${id} cannot be read: this node is replacing its state with a snapshot from the leader (retry, or read with the default linearizable consistency, which waits for the install)`, {
              details: { seriesId: id, blockStartMs: startMs },
            });
          }
          return reader.readBlock(id, startMs);
        },
      };
      series.enableJournal();
    }
    this.data.set(id, series);
  }

  // -------------------------------------------------------------------------
  // Checkpoints (docs/storage.md, "State machine")

  /** What changed since the last capture, to be written with the applied
   *  index in one atomic batch (persisted-state.ts). Call checkpointWritten
   *  once the batch is written; captures must be written in capture order. */
  captureCheckpoint(): StateCheckpoint {
    const generation = ++this.checkpointGeneration;
    const full = this.needsFullCheckpoint;
    const ids = full ? [...this.index.all()].map((info) => info.id) : [...this.dirtySeries].sort((a, b) => a - b);
    const series: StateCheckpoint['series'] = [];
    const records: SealedBlockRecord[] = [];
    for (const id of ids) {
      const data = this.data.get(id);
      assert(data !== undefined, `dirty series ${id} has no data`);
      const { records: captured, ...delta } = data.captureCheckpoint(generation, full);
      for (const r of captured) records.push(r);
      series.push({ id, key: this.index.keyOf(id)!, ...delta });
    }
    const removedSeries = full ? [] : [...this.removedSeries].map(([id, gone]) => ({ id, ...gone })).sort((a, b) => a.id - b.id);
    this.dirtySeries.clear();
    this.removedSeries.clear();
    this.needsFullCheckpoint = false;
    if (this.blockReader !== null) this.capturedBlocks.set(generation, records);
    return { generation, appliedIndex: this.appliedIndexValue, coveredIndex: this.coveredIndex, full, meta: this.snapshot({ series: false }), series, removedSeries };
  }

  /** The checkpoint `generation` (and every earlier one) is written: its
   *  blocks may leave memory under the residentBlockBytes bound. */
  checkpointWritten(generation: number): void {
    for (const [g, records] of this.capturedBlocks) {
      if (g > generation) break;
      this.capturedBlocks.delete(g);
      for (const r of records) this.resident.add(r);
    }
  }

  /** Memory held by sealed blocks' bytes and what left it (for /metrics and tests). */
  residencyStats(): { residentWrittenBytes: number; maxResidentBytes: number; evictedBlocks: number } {
    return { residentWrittenBytes: this.resident.bytes, maxResidentBytes: this.resident.maxBytes, evictedBlocks: this.resident.evicted };
  }

  /** Rebuilds a state machine from its persisted parts (persisted-state.ts):
   *  written blocks stay in the store, read back through local.blockReader. */
  static fromPersisted(parts: PersistedStateParts, local: Partial<LocalStateMachineOptions> = {}): TimeSeriesStateMachine {
    const sm = TimeSeriesStateMachine.restore(parts.meta, local);
    const what = 'persisted state machine';
    assert(sm.index.size === 0, 'the persisted meta record holds series');
    // Ids are added in increasing order before nextSeriesId (ids of removed series stay used).
    const nextSeriesId = sm.index.nextId;
    sm.index = new SeriesIndex();
    let previousId = -1;
    for (const record of parts.series) {
      const where = { seriesId: record.id };
      if (!(record.id > previousId && record.id < nextSeriesId)) {
        throw new TsraftError('TSR_ERR_CORRUPT_STATE', `${what}: series id ${record.id} out of order or ≥ nextSeriesId ${nextSeriesId}`, { details: where });
      }
      previousId = record.id;
      const parsed = parseSeriesKey(record.key);
      if (parsed === null || sm.index.idOf(record.key) !== undefined) {
        throw new TsraftError('TSR_ERR_CORRUPT_STATE', `${what}: bad or repeated series key ${JSON.stringify(record.key.slice(0, 200))}`, { details: where });
      }
      const series = SeriesData.fromPersisted(record.head, record.blocks, 1, record.journals);
      sm.index.add(record.key, parsed.metric, parsed.tags, record.id);
      sm.attachSeries(record.id, series);
    }
    sm.index.advanceNextId(nextSeriesId);
    sm.coveredIndexValue = parts.coveredIndex;
    sm.checkpointGeneration = 1;
    sm.needsFullCheckpoint = false;
    return sm;
  }

  /** Replaces this (empty) state with its persisted parts, keeping this
   *  process's caches and block reader (the node's start-up path). */
  loadPersisted(parts: PersistedStateParts): void {
    assert(this.appliedIndexValue === 0 && this.index.size === 0, 'loadPersisted into a state machine that applied entries');
    this.replacePersisted(parts);
  }

  /** Replaces the whole state with persisted parts that are already stored
   *  (a snapshot installed straight into the store): nothing is left to write. */
  replacePersisted(parts: PersistedStateParts): void {
    const loaded = TimeSeriesStateMachine.fromPersisted(parts, this.local);
    this.adopt(loaded);
    this.data = new IdTable();
    for (const [id, series] of loaded.data) this.attachSeries(id, series);
    this.checkpointGeneration = loaded.checkpointGeneration;
    this.coveredIndexValue = loaded.coveredIndexValue;
    this.needsFullCheckpoint = false;
    this.storeBeingReplaced = false;
  }

  /** Takes over another instance's replicated state (not its caches). */
  private adopt(other: TimeSeriesStateMachine): void {
    this.optionsValue = other.optionsValue;
    this.index = other.index;
    this.sessions = other.sessions;
    this.backupSchedule = other.backupSchedule;
    this.appliedIndexValue = other.appliedIndexValue;
    this.coveredIndexValue = 0;
    this.lastLeaderTimeMsValue = other.lastLeaderTimeMsValue;
    this.dirtySeries.clear();
    this.removedSeries.clear();
    this.capturedBlocks.clear();
    this.resident.clear();
    this.blockCache.clear();
  }

  // -------------------------------------------------------------------------
  // Snapshots

  /** The whole state as bytes (docs/tsdb-commands.md, "Snapshot"); with
   *  `series: false` the same format holding no series (a checkpoint's meta record). */
  snapshot(options: { series?: boolean } = {}): Uint8Array {
    const withSeries = options.series !== false;
    const w = new ByteWriter(1024 + (withSeries ? this.index.size * 64 : 0));
    w.bytes(SNAPSHOT_MAGIC);
    w.u8(SNAPSHOT_FORMAT_VERSION);
    w.varuint(this.appliedIndexValue);
    w.varuint(this.lastLeaderTimeMsValue);
    for (const name of OPTION_ORDER) w.varuint(this.optionsValue[name]);
    w.varuint(this.index.nextId);
    w.varuint(withSeries ? this.index.size : 0);
    if (withSeries) for (const info of this.index.all()) {
      w.varuint(info.id);
      w.string(this.index.keyOf(info.id)!);
      const bytes = this.data.get(info.id)!.serialize();
      w.varuint(bytes.length);
      w.bytes(bytes);
    }
    this.writeTail(w);
    w.crc32c();
    return w.finish().slice();
  }

  /** The sessions, then the optional sections (tag, length, bytes), written
   *  only when they hold something, so a state without them has the same
   *  snapshot as before they existed. */
  private writeTail(w: ByteWriter): void {
    this.sessions.serialize(w);
    if (!this.backupSchedule.isEmpty) {
      const section = new ByteWriter(256);
      this.backupSchedule.serialize(section);
      const bytes = section.finish();
      w.u8(SNAPSHOT_SECTION_BACKUP_SCHEDULE);
      w.varuint(bytes.length);
      w.bytes(bytes);
    }
  }

  /** The snapshot bytes after the series (sessions and sections), for the state digest. */
  snapshotTail(): Uint8Array {
    const w = new ByteWriter(1024);
    this.writeTail(w);
    return w.finish();
  }

  /** The state digest at the applied index (digest.ts): cheap, per segment. */
  stateDigest(): StateDigest {
    return computeStateDigest(this);
  }

  /** Rebuilds a state machine from snapshot bytes; its snapshot() equals them. */
  static restore(bytes: Uint8Array, local: Partial<LocalStateMachineOptions> = {}): TimeSeriesStateMachine {
    const what = 'state machine snapshot';
    if (bytes.length < SNAPSHOT_MAGIC.length + 5) {
      throw new TsraftError('TSR_ERR_CORRUPT_SNAPSHOT', `${what} of ${bytes.length} bytes is too short`, { details: { reason: 'truncated' } });
    }
    new ByteReader(bytes, 'TSR_ERR_CORRUPT_SNAPSHOT', what, bytes.length - 4).expectCrc32c(0, 'snapshot crc32c');
    const r = new ByteReader(bytes, 'TSR_ERR_CORRUPT_SNAPSHOT', what, 0, bytes.length - 4);
    const magic = r.bytesView(SNAPSHOT_MAGIC.length, 'magic');
    if (!magic.every((b, i) => b === SNAPSHOT_MAGIC[i])) throw r.corrupt('bad magic (not a TSSM snapshot)');
    const version = r.u8('format version');
    if (version !== SNAPSHOT_FORMAT_VERSION) throw r.corrupt(`format version ${version} is not supported (this build reads ${SNAPSHOT_FORMAT_VERSION})`);
    const appliedIndex = r.varuint('appliedIndex');
    const lastLeaderTimeMs = r.varuint('lastLeaderTimeMs');
    const options = {} as TimeSeriesStateMachineOptions;
    for (const name of OPTION_ORDER) options[name] = r.varuint(name);
    try {
      checkOptions(options);
    } catch (error) {
      throw r.corrupt(`bad options: ${(error as Error).message}`);
    }
    const sm = new TimeSeriesStateMachine(options, local);
    sm.appliedIndexValue = appliedIndex;
    sm.lastLeaderTimeMsValue = lastLeaderTimeMs;
    const nextSeriesId = r.varuint('nextSeriesId');
    const seriesCount = r.varuintAtMost(Math.min(options.maxSeries, r.remainingBytes), 'seriesCount');
    let previousId = -1;
    for (let s = 0; s < seriesCount; s++) {
      const id = r.varuint('series id');
      if (id <= previousId || id >= nextSeriesId) throw r.corrupt(`series id ${id} out of order or ≥ nextSeriesId ${nextSeriesId}`);
      previousId = id;
      const key = r.string(MAX_SERIES_KEY_BYTES, 'series key');
      const parsed = parseSeriesKey(key);
      if (parsed === null || sm.index.idOf(key) !== undefined) throw r.corrupt(`bad or repeated series key ${JSON.stringify(key.slice(0, 200))}`);
      const length = r.varuint('series data length');
      const dataBytes = r.bytesView(length, 'series data');
      const series = SeriesData.deserialize(dataBytes);
      sm.index.add(key, parsed.metric, parsed.tags, id);
      sm.attachSeries(id, series);
    }
    // Series with the highest ids may have been removed by retention.
    sm.index.advanceNextId(nextSeriesId);
    sm.sessions = ClientSessions.deserialize(r, { maxSessions: options.maxSessions, maxResultsPerSession: options.maxResultsPerSession }, MAX_CLIENT_ID_BYTES);
    let previousTag = 0;
    while (r.remainingBytes > 0) {
      const tag = r.u8('section tag');
      if (tag !== SNAPSHOT_SECTION_BACKUP_SCHEDULE || tag <= previousTag) throw r.corrupt(`unknown or repeated snapshot section ${tag}`);
      previousTag = tag;
      const length = r.varuintAtMost(r.remainingBytes, 'section length');
      const start = r.offset;
      r.bytesView(length, 'section');
      const section = new ByteReader(bytes, 'TSR_ERR_CORRUPT_SNAPSHOT', `${what} (backup schedule)`, start, start + length);
      sm.backupSchedule = BackupScheduleState.deserialize(section);
      section.expectEnd();
    }
    r.expectEnd();
    assert(sm.index.size === seriesCount && sm.data.size === seriesCount, 'restored series count differs');
    return sm;
  }

  /** Replaces this whole state with a snapshot's (the replica's install
   *  path). Nothing changes if the bytes are corrupt. */
  restore(bytes: Uint8Array): void {
    const restored = TimeSeriesStateMachine.restore(bytes);
    this.adopt(restored);
    this.data = new IdTable();
    for (const [id, series] of restored.data) this.attachSeries(id, series);
    // Everything stored describes the old state: the next checkpoint replaces it.
    this.needsFullCheckpoint = true;
  }

  /** FNV-1a 64 (hex) of the snapshot: equal on replicas that applied the same entries. */
  stateHash(): string {
    return fnv1a64Hex(this.snapshot());
  }
}
