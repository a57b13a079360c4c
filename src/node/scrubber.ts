// Live-data scrubbing (docs/backup-service.md, "Scrubbing"): a background
// job re-reads every sealed segment (block) of the state machine and checks
// it against its stored CRC-32C, at most backup.scrub.maxBytesPerSecond, one
// full pass after another with passIntervalMs of rest in between.
//
// A damaged segment is never served: every read decodes a sealed block
// through its checksum (a query touching it fails with
// TSR_ERR_CORRUPT_SEGMENT rather than return altered points). The scrubber
// reports it and repairs it with the exact original bytes (src/tsdb/scrub.ts
// decides what "exact" means): first from a healthy replica
// (GET /api/maintenance/segment, authenticated with the cluster secret), then
// from this node's own snapshot file. What cannot be repaired stays listed
// (metric, /status) and is retried; the way out then is to rebuild the node
// from a snapshot (wipe its data directory; docs/operations.md).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unauthorized } from '../api/auth.js';
import type { HttpServer } from '../api/http-server.js';
import { TsraftError, assert, rethrowIfBug } from '../errors.js';
import type { MetricFamilies } from '../metrics/definitions.js';
import { ByteRateLimiter } from '../backup/destinations/rate-limit.js';
import { isPack } from '../backup/pack.js';
import { errorOfAnswer, peerRequest, verifyPeerRequest } from '../backup/schedule-peer.js';
import { unpackState } from '../backup/snapshot-pack.js';
import { parseTssm } from '../backup/tssm.js';
import { SNAPSHOT_FILE } from '../storage/file-snapshot-store.js';
import { decodeSnapshotFile } from '../storage/snapshot-file-codec.js';
import { SeriesData } from '../tsdb/series-data.js';
import { blockProblem, isOriginalOf, scrubSeries, sealedBlockAt, stillDamaged } from '../tsdb/scrub.js';
import type { SealedBlockRecord } from '../tsdb/series-data.js';
import type { TimeSeriesStateMachine } from '../tsdb/state-machine.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from './logger.js';

export const SEGMENT_PATH = '/api/maintenance/segment';
/** Damaged segments listed at once; beyond it the node is in no state to serve anyway. */
const MAX_QUARANTINED = 10_000;
/** An unrepaired segment is tried again after this long. */
const REPAIR_RETRY_MS = 30_000;
/** Largest block a peer may send (a block holds at most 2^24 points). */
const MAX_SEGMENT_BYTES = 256 * 1024 * 1024;

export interface ScrubberOptions {
  nodeId: string;
  secret: Uint8Array;
  maxBytesPerSecond: number;
  passIntervalMs: number;
  stateMachine: Pick<TimeSeriesStateMachine, 'nextSeriesId' | 'seriesDataOf' | 'seriesKeyOf' | 'seriesIdOf' | 'repairSealedBlock' | 'isStoreBeingReplaced'>;
  peerUrls: () => Record<string, string>;
  isMember: (nodeId: string) => boolean;
  /** The node's snapshot folder (the fallback source of original bytes). */
  snapshotDir: string;
  clock: Clock;
  log: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  families: MetricFamilies;
  /** Bytes checked per turn of the event loop. Default 256 KiB. */
  stepBytes?: number;
}

export interface QuarantinedSegment {
  seriesKey: string;
  startMs: number;
  problem: string;
  foundAtMs: number;
  attempts: number;
  nextAttemptMs: number;
  /** The series' record of the damaged block: a repair replaces exactly it. */
  record: SealedBlockRecord;
}

const immediate = (): Promise<void> => new Promise((resolvePromise) => setImmediate(resolvePromise));

export class Scrubber {
  readonly name = 'scrub';
  private readonly limiter: ByteRateLimiter;
  private readonly quarantine = new Map<string, QuarantinedSegment>();
  private cursor = 0;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private cancelRest: (() => void) | null = null;
  private wakeRest: (() => void) | null = null;
  stats = { passes: 0, bytesChecked: 0, corruptFound: 0, repairedFromPeer: 0, repairedFromSnapshot: 0, lastPassMs: 0 };

  constructor(private readonly options: ScrubberOptions) {
    assert(options.maxBytesPerSecond > 0, 'scrub rate must be positive');
    this.limiter = new ByteRateLimiter(options.maxBytesPerSecond, options.clock);
  }

  start(): void {
    if (this.loop !== null || this.stopped) return;
    this.loop = this.run().catch((error: unknown) => {
      rethrowIfBug(error);
      this.options.log.error('scrubbing stopped', { error: (error as Error).message });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelRest?.();
    this.wakeRest?.();
    await this.loop;
  }

  status(): { maxBytesPerSecond: number; cursor: number; nextSeriesId: number; progress: number; stats: Scrubber['stats']; unrepaired: Array<Omit<QuarantinedSegment, 'record'>> } {
    const next = this.options.stateMachine.nextSeriesId;
    return {
      maxBytesPerSecond: this.options.maxBytesPerSecond,
      cursor: this.cursor,
      nextSeriesId: next,
      progress: next === 0 ? 1 : Math.min(1, this.cursor / next),
      stats: { ...this.stats },
      unrepaired: [...this.quarantine.values()].map(({ record: _record, ...rest }) => rest),
    };
  }

  private rest(ms: number): Promise<void> {
    return new Promise((resolvePromise) => {
      this.wakeRest = resolvePromise;
      this.cancelRest = this.options.clock.setTimer(ms, resolvePromise);
    });
  }

  private async run(): Promise<void> {
    const { families } = this.options;
    const stepBytes = this.options.stepBytes ?? 256 * 1024;
    while (!this.stopped) {
      const next = this.options.stateMachine.nextSeriesId;
      if (this.cursor >= next) {
        this.stats.passes++;
        this.stats.lastPassMs = this.options.clock.nowMs();
        families.scrubPasses.inc();
        families.scrubLastPass.set(this.stats.lastPassMs / 1000);
        families.scrubProgress.set(1);
        this.cursor = 0;
        await this.repairDue();
        // At least a little rest: an empty state must not spin.
        await this.rest(Math.max(this.options.passIntervalMs, 100));
        continue;
      }
      const bytes = this.scrubStep(stepBytes);
      families.scrubReadBytes.inc(bytes);
      families.scrubProgress.set(next === 0 ? 1 : this.cursor / next);
      if (this.quarantine.size > 0) await this.repairDue();
      await this.limiter.take(bytes);
      await immediate();
    }
  }

  /** Checks series from the cursor on until about `budget` bytes were read; returns the bytes. */
  scrubStep(budget: number): number {
    const sm = this.options.stateMachine;
    // A snapshot install is rewriting the store under the old state: its
    // evicted blocks are gone, not damaged. The pass resumes afterwards.
    if (sm.isStoreBeingReplaced) return 0;
    const end = sm.nextSeriesId;
    let bytes = 0;
    while (this.cursor < end && bytes < budget) {
      const id = this.cursor++;
      const series = sm.seriesDataOf(id);
      if (series === undefined) continue;
      const result = scrubSeries(series);
      bytes += result.bytesChecked;
      this.stats.bytesChecked += result.bytesChecked;
      for (const damage of result.damaged) this.noteDamaged(sm.seriesKeyOf(id)!, damage.startMs, damage.record, damage.problem);
    }
    return bytes;
  }

  private noteDamaged(seriesKey: string, startMs: number, record: SealedBlockRecord, problem: string): void {
    const id = `${seriesKey}@${startMs}`;
    if (this.quarantine.has(id)) return;
    if (this.quarantine.size >= MAX_QUARANTINED) return;
    this.stats.corruptFound++;
    this.options.families.scrubCorruptSegments.inc();
    this.quarantine.set(id, { seriesKey, startMs, problem, foundAtMs: this.options.clock.nowMs(), attempts: 0, nextAttemptMs: 0, record });
    this.options.families.scrubUnrepairedSegments.set(this.quarantine.size);
    this.options.log.error('scrubbing found a corrupt segment; it is not served and will be repaired', { series: seriesKey, blockStartMs: startMs, problem });
  }

  /** Tries to repair every listed segment whose retry time has come. */
  async repairDue(): Promise<void> {
    if (this.options.stateMachine.isStoreBeingReplaced) return; // see scrubStep
    const now = this.options.clock.nowMs();
    for (const [id, entry] of [...this.quarantine]) {
      if (this.stopped) return;
      if (entry.nextAttemptMs > now) continue;
      const outcome = await this.repair(entry);
      if (outcome === 'unrepaired') {
        entry.attempts++;
        entry.nextAttemptMs = this.options.clock.nowMs() + REPAIR_RETRY_MS;
      } else this.quarantine.delete(id);
    }
    this.options.families.scrubUnrepairedSegments.set(this.quarantine.size);
  }

  private async repair(entry: QuarantinedSegment): Promise<'peer' | 'snapshot' | 'gone' | 'unrepaired'> {
    const { log, families } = this.options;
    const stillThere = (): boolean => {
      const id = this.options.stateMachine.seriesIdOf(entry.seriesKey);
      const series = id === undefined ? undefined : this.options.stateMachine.seriesDataOf(id);
      return series !== undefined && stillDamaged(series, entry.record);
    };
    // The repaired block is written to the store by the next checkpoint.
    const replace = (original: Uint8Array): void => {
      const id = this.options.stateMachine.seriesIdOf(entry.seriesKey);
      assert(id !== undefined && this.options.stateMachine.repairSealedBlock(id, entry.record, original), 'repairing a segment that left its series');
    };
    // Retention dropped it, or a write replaced it: nothing left to repair.
    if (!stillThere()) return 'gone';
    for (const [peer, url] of Object.entries(this.options.peerUrls())) {
      if (peer === this.options.nodeId) continue;
      let candidate: Uint8Array | null = null;
      try {
        candidate = await this.fetchFromPeer(url, entry);
      } catch (error) {
        rethrowIfBug(error);
        log.debug('a peer could not provide a segment copy', { peer, series: entry.seriesKey, error: (error as Error).message });
        continue;
      }
      if (candidate === null || !isOriginalOf(entry.record, candidate)) continue;
      if (!stillThere()) return 'gone';
      replace(candidate);
      this.stats.repairedFromPeer++;
      families.scrubRepairedSegments.inc({ source: 'peer' });
      log.warn('repaired a corrupt segment with the original bytes from a healthy replica', { series: entry.seriesKey, blockStartMs: entry.startMs, from: peer });
      return 'peer';
    }
    try {
      const candidate = await this.fromSnapshot(entry);
      if (candidate !== null && isOriginalOf(entry.record, candidate) && stillThere()) {
        replace(candidate);
        this.stats.repairedFromSnapshot++;
        families.scrubRepairedSegments.inc({ source: 'snapshot' });
        log.warn('repaired a corrupt segment with the original bytes from the local snapshot', { series: entry.seriesKey, blockStartMs: entry.startMs });
        return 'snapshot';
      }
    } catch (error) {
      rethrowIfBug(error);
      log.debug('the local snapshot could not provide a segment copy', { error: (error as Error).message });
    }
    if (entry.attempts === 0) log.error('a corrupt segment could not be repaired (no healthy copy found); queries touching it fail — rebuild this node from a snapshot if it persists', { series: entry.seriesKey, blockStartMs: entry.startMs });
    return 'unrepaired';
  }

  private async fetchFromPeer(url: string, entry: QuarantinedSegment): Promise<Uint8Array | null> {
    const path = `${SEGMENT_PATH}?series=${encodeURIComponent(entry.seriesKey)}&start=${entry.startMs}`;
    const answer = await peerRequest({ baseUrl: url, method: 'GET', path, secret: this.options.secret, nodeId: this.options.nodeId, timeoutMs: 10_000, maxResponseBytes: MAX_SEGMENT_BYTES });
    if (answer.status === 404) return null;
    if (answer.status !== 200) throw errorOfAnswer(answer, 'segment request');
    return new Uint8Array(answer.body.buffer, answer.body.byteOffset, answer.body.byteLength);
  }

  /** The block as this node's latest snapshot file holds it (verified), or null. */
  private async fromSnapshot(entry: QuarantinedSegment): Promise<Uint8Array | null> {
    const path = join(this.options.snapshotDir, SNAPSHOT_FILE);
    let file: Uint8Array;
    try {
      file = new Uint8Array(await readFile(path));
    } catch (error) {
      rethrowIfBug(error);
      return null;
    }
    const { data } = decodeSnapshotFile(file, path);
    const tssm = isPack(data) ? unpackState(data).tssm : data;
    const record = parseTssm(tssm).series.find((r) => r.key === entry.seriesKey);
    if (record === undefined) return null;
    return sealedBlockAt(SeriesData.deserialize(record.data), entry.startMs);
  }

  /** GET /api/maintenance/segment?series=KEY&start=MS: this node's copy of a sealed block, for a peer's repair. */
  registerRoutes(server: HttpServer): void {
    server.route('GET', SEGMENT_PATH, ({ req, res }) => {
      if (req.headers['x-tsraft-peer'] === undefined) throw unauthorized();
      verifyPeerRequest(this.options.secret, req, new Uint8Array(0), this.options.isMember, this.options.clock.nowMs());
      const url = new URL(req.url ?? '/', 'http://node');
      const key = url.searchParams.get('series');
      const startText = url.searchParams.get('start');
      if (key === null || startText === null || !/^-?\d{1,16}$/.test(startText)) throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', 'series and start (ms) are required', { details: { field: 'series' } });
      const id = this.options.stateMachine.seriesIdOf(key);
      const series = id === undefined ? undefined : this.options.stateMachine.seriesDataOf(id);
      const bytes = series === undefined ? null : sealedBlockAt(series, Number(startText));
      if (bytes === null) throw new TsraftError('TSR_ERR_NOT_FOUND', `no sealed segment of ${key} starts at ${startText}`);
      // Never ship a damaged copy.
      if (blockProblem(bytes) !== null) throw new TsraftError('TSR_ERR_PEER_UNAVAILABLE', `this node's copy of ${key}@${startText} is damaged too`);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length, 'cache-control': 'no-store' });
      res.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    });
  }
}
