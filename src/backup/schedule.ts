// Scheduled backups coordinated through the log (docs/backup-service.md,
// "Schedule"). No node decides on its own clock whether a backup happened:
//
//   1. The leader, every tick, reads the replicated schedule state and, when
//      the current interval (slot) has no backup yet — or the last attempt
//      failed a retry delay ago, or the claim in progress timed out — proposes
//      a `backup start` record naming itself as the taker, the kind (full
//      every fullEvery backups, else incremental on the last good one) and
//      the backup's name. The state machine accepts at most one start per
//      slot at a time (src/tsdb/backup-schedule.ts), so two leaders in a row
//      cannot both start one.
//   2. The taker captures its state when it applies its own accepted start
//      record — the backup holds exactly the state at that index, whose
//      digest every replica computed at the same entry — and uploads it
//      (schedule-job.ts).
//   3. It proposes `backup finish` (through the leader when it no longer
//      leads). Only the claim in progress can finish; a taker whose claim was
//      taken over deletes what it uploaded. Then it prunes the destination.
// A taker that crashed loses its claim after claimTimeoutMs of leader time;
// a taker that restarts reports its claim failed at once.
import type { Entry } from '../raft/types.js';
import { TsraftError, assert, rethrowIfBug } from '../errors.js';
import type { BackupRecorder } from '../metrics/backup-history.js';
import type { MetricFamilies } from '../metrics/definitions.js';
import type { Logger } from '../node/logger.js';
import type { BackupScheduleConfig } from '../config/types.js';
import { encodeCommand, truncateUtf8, MAX_BACKUP_ERROR_BYTES, type BackupFinishCommand, type BackupStartCommand } from '../tsdb/command.js';
import type { BackupClaim, BackupScheduleSnapshot } from '../tsdb/backup-schedule.js';
import type { StateDigest } from '../tsdb/digest.js';
import type { ApplyResult, TimeSeriesStateMachine } from '../tsdb/state-machine.js';
import type { Clock } from '../util/clock.js';
import type { BackupKey } from './crypto.js';
import type { Membership } from './manifest.js';
import { pruneDestination } from './retention-prune.js';
import { takeScheduledBackup } from './schedule-job.js';
import { errorOfAnswer, peerRequest } from './schedule-peer.js';
import { PageCache } from './series-pages.js';
import { deleteBackup } from './destinations/transfer.js';
import type { Destination } from './destinations/types.js';

/** Finishing is retried this often while there is no leader to take it. */
const FINISH_RETRY_MS = 500;
export const BACKUP_RECORD_PATH = '/api/maintenance/backup-record';

export interface BackupSchedulerOptions {
  nodeId: string;
  clusterId: string;
  secret: Uint8Array;
  config: BackupScheduleConfig;
  destination: Destination;
  key: BackupKey | null;
  stateMachine: Pick<TimeSeriesStateMachine, 'backupScheduleView' | 'snapshot' | 'appliedIndex'>;
  /** The digest every replica computed at an index (DigestMonitor). */
  digestAt: (index: number) => StateDigest | null;
  /** Whether this node leads now, and who does. */
  leader: () => { isLeader: boolean; leaderId: string | null };
  /** Proposes on this node (the leader); resolves with the applied result. */
  propose: (data: Uint8Array) => Promise<unknown>;
  /** Raft term of an index and the membership, for the manifest. */
  capturePosition: (index: number) => { term: number | null; membership: Membership | null };
  peerUrls: () => Record<string, string>;
  clock: Clock;
  log: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  families: MetricFamilies;
  recorder: BackupRecorder;
  /** Pause between exported files (default: one turn of the event loop). */
  pause?: () => Promise<void>;
  /** How often the leader looks at the schedule, ms. Default: interval / 10, 200 ms–5 s. */
  tickMs?: number;
  /** Page bytes of sealed blocks remembered between backups. Default 64 MiB. */
  pageCacheBytes?: number;
}

export interface ScheduledJobStatus {
  name: string;
  slot: number;
  attempt: number;
  kind: 'full' | 'incremental';
  startIndex: number;
  phase: 'uploading' | 'finishing' | 'done' | 'failed' | 'superseded';
  startedAtMs: number;
  error: string | null;
  storedBytes: number | null;
}

/** The folder name of a slot's backup: its start time, compact ISO-8601, kind and attempt. */
export function scheduledBackupName(slot: number, intervalMs: number, kind: 'full' | 'incremental', attempt: number): string {
  return `${slotPrefix(slot, intervalMs)}-${kind}${attempt > 1 ? `-a${attempt}` : ''}`;
}

export function slotPrefix(slot: number, intervalMs: number): string {
  const iso = new Date(slot * intervalMs).toISOString().replace(/[-:]/g, '');
  return iso.replace(/\.000Z$/, 'Z');
}

const immediate = (): Promise<void> => new Promise((resolvePromise) => setImmediate(resolvePromise));

export class BackupScheduler {
  private cancelTimer: (() => void) | null = null;
  private stopped = false;
  private live = false;
  private proposing = false;
  private job: { claim: BackupClaim; promise: Promise<void>; status: ScheduledJobStatus } | null = null;
  private lastJob: ScheduledJobStatus | null = null;
  private readonly cache: PageCache;
  private readonly tickMs: number;
  /** Set when a stored backup was found damaged: the next backup is full. */
  private fullRequested: string | null = null;

  constructor(private readonly options: BackupSchedulerOptions) {
    this.cache = new PageCache(1_000_000, options.pageCacheBytes ?? 64 * 1024 * 1024);
    this.tickMs = options.tickMs ?? Math.min(5_000, Math.max(200, Math.floor(options.config.intervalMs / 10)));
    options.families.scheduleInterval.set({ destination: options.destination.url }, options.config.intervalMs / 1000);
    options.families.destinationLastSuccess.set({ destination: options.destination.url }, 0);
  }

  /** After the replica replayed its log. */
  start(): void {
    assert(!this.live && !this.stopped, 'BackupScheduler.start twice or after stop');
    this.live = true;
    const current = this.options.stateMachine.backupScheduleView().current;
    if (current !== null && current.taker === this.options.nodeId && this.job === null) {
      // This node claimed a backup before it restarted: that attempt is lost.
      this.options.log.warn('a scheduled backup this node had claimed was interrupted by a restart; recording it as failed', { name: current.name, slot: current.slot });
      void this.finish(current, { ok: false, backupId: '', backupIndex: 0, digest: '', storedBytes: 0, error: 'the taker restarted before it finished' });
    }
    this.refreshGauges();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.live = false;
    this.cancelTimer?.();
    this.cancelTimer = null;
    const job = this.job;
    if (job !== null) {
      // The job stops at its next pause; its claim times out and the next leader retries.
      await Promise.race([job.promise, new Promise<void>((resolvePromise) => this.options.clock.setTimer(2_000, resolvePromise))]);
    }
  }

  status(): { destination: string; intervalMs: number; state: BackupScheduleSnapshot; job: ScheduledJobStatus | null; lastJob: ScheduledJobStatus | null } {
    return { destination: this.options.destination.url, intervalMs: this.options.config.intervalMs, state: this.options.stateMachine.backupScheduleView(), job: this.job?.status ?? null, lastJob: this.lastJob };
  }

  private schedule(): void {
    if (this.stopped) return;
    this.cancelTimer = this.options.clock.setTimer(this.tickMs, () => {
      this.cancelTimer = null;
      void this.tick().then(() => this.schedule());
    });
  }

  private refreshGauges(): void {
    const view = this.options.stateMachine.backupScheduleView();
    const f = this.options.families;
    f.scheduleBackups.set({ result: 'started' }, view.started);
    f.scheduleBackups.set({ result: 'succeeded' }, view.succeeded);
    f.scheduleBackups.set({ result: 'failed' }, view.failed);
    f.scheduleBackups.set({ result: 'superseded' }, view.superseded);
    f.scheduleMissedSlots.set(view.missedSlots);
    f.scheduleInProgress.set(view.current === null ? 0 : 1);
    if (view.lastOk !== null && view.lastOk.destination === this.options.destination.url) {
      f.destinationLastSuccess.set({ destination: this.options.destination.url }, view.lastOk.finishedLeaderTimeMs / 1000);
    }
  }

  /** What the leader proposes now, or null (see the file comment). Exposed for tests. */
  nextStart(view: BackupScheduleSnapshot, nowMs: number): BackupStartCommand | null {
    const { config, nodeId, destination } = this.options;
    const slot = Math.floor(nowMs / config.intervalMs);
    let target: { slot: number; attempt: number } | null = null;
    if (view.current !== null) {
      if (nowMs >= view.current.startLeaderTimeMs + view.current.claimTimeoutMs) target = { slot: view.current.slot, attempt: view.current.attempt + 1 };
    } else if (slot > view.lastSlot) {
      // A slot that began less than one interval ago and has no backup (a
      // takeover or a long backup delayed it) is taken late rather than skipped.
      target = { slot: view.lastSlot === 0 ? slot : Math.max(view.lastSlot + 1, slot - 1), attempt: 1 };
    } else if (slot === view.lastSlot && view.lastSlotFailed && nowMs >= view.lastFailedLeaderTimeMs + config.retryDelayMs) {
      target = { slot, attempt: view.lastAttempt + 1 };
    }
    if (target === null) return null;
    const base = view.lastOk;
    const full = base === null || base.destination !== destination.url || view.chainLength >= config.fullEvery || this.fullRequested !== null;
    const kind = full ? 'full' : 'incremental';
    return {
      type: 'backup',
      event: 'start',
      leaderTimeMs: Math.floor(nowMs),
      slot: target.slot,
      attempt: target.attempt,
      taker: nodeId,
      kind,
      name: scheduledBackupName(target.slot, config.intervalMs, kind, target.attempt),
      baseName: full ? '' : base!.name,
      destination: destination.url,
      claimTimeoutMs: config.claimTimeoutMs,
    };
  }

  /** The next backup will be full (re-verification found `reason`: a backup of the chain is damaged). */
  requestFull(reason: string): void {
    this.fullRequested = reason;
  }

  /** One look at the schedule (the leader proposes a start when one is due). */
  async tick(): Promise<void> {
    this.refreshGauges();
    if (!this.live || this.proposing || !this.options.leader().isLeader) return;
    const start = this.nextStart(this.options.stateMachine.backupScheduleView(), this.options.clock.nowMs());
    if (start === null) return;
    this.proposing = true;
    try {
      const result = (await this.options.propose(encodeCommand(start))) as ApplyResult;
      if (result.kind === 'backup' && !result.accepted) this.options.log.debug('backup start refused', { name: start.name, reason: result.reason });
    } catch (error) {
      rethrowIfBug(error);
      this.options.log.debug('backup start not applied', { name: start.name, error: (error as Error).message });
    } finally {
      this.proposing = false;
    }
  }

  /** The replica applied an entry (synchronous, inside its Ready loop). */
  onApplied(entry: Entry, result: ApplyResult | undefined): void {
    if (result === undefined || result.kind !== 'backup' || !result.accepted) return;
    if (result.event === 'finish') {
      this.refreshGauges();
      return;
    }
    const claim = this.options.stateMachine.backupScheduleView().current;
    assert(claim !== null && claim.startIndex === entry.index, 'an accepted start is the claim in progress');
    if (claim.kind === 'full') this.fullRequested = null;
    // Entries replayed at startup are history: the restart check in start() handles them.
    if (!this.live || claim.taker !== this.options.nodeId) return;
    if (claim.destination !== this.options.destination.url) {
      void this.finish(claim, { ok: false, backupId: '', backupIndex: 0, digest: '', storedBytes: 0, error: `this node's backup.schedule.destination is ${this.options.destination.url}, not ${claim.destination}` });
      return;
    }
    // The backup holds exactly the state at the start record: capture it now,
    // before the next entry is applied.
    const tssm = this.options.stateMachine.snapshot();
    const digest = this.options.digestAt(entry.index);
    const position = this.options.capturePosition(entry.index);
    const status: ScheduledJobStatus = { name: claim.name, slot: claim.slot, attempt: claim.attempt, kind: claim.kind, startIndex: entry.index, phase: 'uploading', startedAtMs: this.options.clock.nowMs(), error: null, storedBytes: null };
    const promise = this.runJob(claim, tssm, digest, position, status).finally(() => {
      this.lastJob = status;
      if (this.job?.claim === claim) this.job = null;
    });
    this.job = { claim, promise, status };
  }

  private claimIsCurrent(claim: BackupClaim): boolean {
    const current = this.options.stateMachine.backupScheduleView().current;
    return current !== null && current.slot === claim.slot && current.attempt === claim.attempt && current.taker === claim.taker;
  }

  private async runJob(claim: BackupClaim, tssm: Uint8Array, digest: StateDigest | null, position: { term: number | null; membership: Membership | null }, status: ScheduledJobStatus): Promise<void> {
    const { destination: dest, log } = this.options;
    const startedAtMs = status.startedAtMs;
    try {
      if (digest === null) throw new TsraftError('TSR_ERR_INTERNAL', `no state digest was computed at index ${claim.startIndex}`);
      // Earlier attempts of this slot (their takers died or failed) must not remain as a second backup of it.
      const prefix = slotPrefix(claim.slot, this.options.config.intervalMs);
      for (const folder of await dest.listFolders()) {
        if (folder !== claim.name && folder.startsWith(prefix + '-')) await deleteBackup(dest, folder);
      }
      const pause = this.options.pause ?? immediate;
      const result = await takeScheduledBackup({
        tssm,
        info: { clusterId: this.options.clusterId, nodeId: this.options.nodeId, raftIndex: claim.startIndex, raftTerm: position.term, membership: position.membership, createdAtMs: claim.startLeaderTimeMs },
        dest,
        name: claim.name,
        baseName: claim.kind === 'full' ? null : claim.baseName,
        key: this.options.key,
        digest,
        schedule: { slot: claim.slot, attempt: claim.attempt },
        cache: this.cache,
        beforeCommit: () => {
          if (!this.claimIsCurrent(claim)) throw new TsraftError('TSR_ERR_BACKUP_IN_PROGRESS', `the claim on slot ${claim.slot} was taken over`);
        },
        pause: async () => {
          if (this.stopped) throw new TsraftError('TSR_ERR_SHUTTING_DOWN', 'the node is stopping');
          await pause();
        },
      });
      status.phase = 'finishing';
      status.storedBytes = result.storedBytes;
      const accepted = await this.finish(claim, { ok: true, backupId: result.manifest.backupId, backupIndex: claim.startIndex, digest: digest.digest, storedBytes: result.storedBytes, error: '' });
      if (!accepted) {
        status.phase = 'superseded';
        log.warn('a scheduled backup finished after its claim was taken over; deleting it', { name: claim.name });
        await deleteBackup(dest, claim.name).catch((error: unknown) => log.warn('could not delete a superseded backup', { name: claim.name, error: (error as Error).message }));
        return;
      }
      status.phase = 'done';
      this.options.recorder.record({ id: claim.name, startedAtMs, durationSeconds: (this.options.clock.nowMs() - startedAtMs) / 1000, sizeBytes: result.storedBytes, raftIndex: claim.startIndex, outcome: 'success', verification: 'not-verified', kind: claim.kind });
      log.info('scheduled backup taken', { name: claim.name, destination: dest.url, index: claim.startIndex, kind: claim.kind, storedBytes: result.storedBytes, reusedFiles: result.reusedFiles, digest: digest.digest });
      await this.prune();
    } catch (error) {
      rethrowIfBug(error);
      status.phase = 'failed';
      status.error = (error as Error).message;
      log.warn('scheduled backup failed', { name: claim.name, destination: dest.url, error: (error as Error).message });
      this.options.recorder.record({ id: claim.name, startedAtMs, durationSeconds: (this.options.clock.nowMs() - startedAtMs) / 1000, sizeBytes: 0, raftIndex: claim.startIndex, outcome: 'failure', verification: 'not-verified', kind: claim.kind, error: (error as Error).message });
      // What this attempt uploaded is garbage (the next attempt has another name).
      await deleteBackup(dest, claim.name).catch(() => undefined);
      if (!this.stopped) await this.finish(claim, { ok: false, backupId: '', backupIndex: 0, digest: '', storedBytes: 0, error: truncateUtf8((error as Error).message, MAX_BACKUP_ERROR_BYTES) });
    }
  }

  private async prune(): Promise<void> {
    const { retention } = this.options.config;
    try {
      const result = await pruneDestination(this.options.destination, { keepLast: retention.keepLast, keepDailyDays: retention.keepDailyDays }, { nowMs: this.options.clock.nowMs(), protect: this.protectedNames() });
      if (result.deleted.length > 0 || result.deletedIncomplete.length > 0) this.options.log.info('pruned old backups', { destination: this.options.destination.url, deleted: result.deleted.join(','), incomplete: result.deletedIncomplete.join(',') });
      if (result.decision.broken.length > 0) this.options.log.warn('kept backups whose chain is broken', { names: result.decision.broken.join(',') });
    } catch (error) {
      rethrowIfBug(error);
      this.options.log.warn('pruning the backup destination failed', { destination: this.options.destination.url, error: (error as Error).message });
    }
  }

  /** The backup in progress (someone may be uploading it right now). */
  private protectedNames(): Set<string> {
    const current = this.options.stateMachine.backupScheduleView().current;
    return new Set(current === null ? [] : [current.name]);
  }

  /**
   * Records the end of `claim` in the log (through the leader when this node
   * does not lead). Returns whether the record was accepted; false when the
   * claim was taken over (then nobody can finish it any more).
   */
  private async finish(claim: BackupClaim, outcome: Omit<BackupFinishCommand, 'type' | 'event' | 'leaderTimeMs' | 'slot' | 'attempt'>): Promise<boolean> {
    while (!this.stopped && this.claimIsCurrent(claim)) {
      const cmd: BackupFinishCommand = { type: 'backup', event: 'finish', leaderTimeMs: Math.floor(this.options.clock.nowMs()), slot: claim.slot, attempt: claim.attempt, ...outcome };
      const data = encodeCommand(cmd);
      try {
        const { isLeader, leaderId } = this.options.leader();
        let result: { accepted: boolean; reason?: string };
        if (isLeader) {
          result = (await this.options.propose(data)) as { accepted: boolean; reason?: string };
        } else {
          const url = leaderId === null ? undefined : this.options.peerUrls()[leaderId];
          if (url === undefined) throw new TsraftError('TSR_ERR_NO_LEADER', leaderId === null ? 'no leader is known' : `no client URL is configured for the leader ${leaderId}`);
          const answer = await peerRequest({ baseUrl: url, method: 'POST', path: BACKUP_RECORD_PATH, body: data, secret: this.options.secret, nodeId: this.options.nodeId, timeoutMs: 10_000, maxResponseBytes: 64 * 1024 });
          if (answer.status !== 200) throw errorOfAnswer(answer, `backup record at ${leaderId}`);
          result = JSON.parse(answer.body.toString('utf8')) as { accepted: boolean; reason?: string };
        }
        if (!result.accepted) this.options.log.debug('backup finish refused', { name: claim.name, reason: result.reason });
        return result.accepted;
      } catch (error) {
        rethrowIfBug(error);
        this.options.log.debug('recording the end of a scheduled backup failed; retrying', { name: claim.name, error: (error as Error).message });
        await new Promise<void>((resolvePromise) => this.options.clock.setTimer(FINISH_RETRY_MS, resolvePromise));
      }
    }
    // The claim ended: maybe by this very record, applied while its answer was lost.
    const last = this.options.stateMachine.backupScheduleView().lastOk;
    return outcome.ok && last !== null && last.slot === claim.slot && last.name === claim.name && last.backupId === outcome.backupId;
  }
}
