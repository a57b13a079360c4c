// State digests across replicas (docs/backup-service.md, "State digest"):
// the leader proposes a `checkpoint` record every digest.intervalMs; every
// replica computes its state digest when it applies a checkpoint or the start
// of a scheduled backup, and keeps the recent ones. After computing one, a
// node asks each peer for its digest at the same index and compares: a
// difference is an alarm (metric, log, /status) naming the series groups
// that differ. The digests are also what a restore drill compares a restored
// backup with ("the live cluster at the backup's index").
import type { Entry } from '../raft/types.js';
import { TsraftError, assert, rethrowIfBug } from '../errors.js';
import type { MetricFamilies } from '../metrics/definitions.js';
import type { Logger } from '../node/logger.js';
import { encodeCommand } from '../tsdb/command.js';
import { differingGroups, type StateDigest } from '../tsdb/digest.js';
import type { ApplyResult, TimeSeriesStateMachine } from '../tsdb/state-machine.js';
import type { Clock } from '../util/clock.js';
import { errorOfAnswer, peerRequest } from './schedule-peer.js';

/** Digests kept (newest); older indexes are forgotten. */
export const MAX_KEPT_DIGESTS = 256;
/** Peers are asked this long after the digest was computed (they apply the entry at about the same time). */
const COMPARE_DELAY_MS = 1_000;
/** A peer that has not reached the index yet is asked again, this many times. */
const COMPARE_ATTEMPTS = 5;
/** Mismatches remembered for /status. */
const MAX_MISMATCHES = 16;

export interface RecordedDigest extends StateDigest {
  /** What made the node compute it. */
  cause: 'checkpoint' | 'backup';
  computedAtMs: number;
  durationMs: number;
}

export interface DigestMismatch {
  index: number;
  peer: string;
  mine: string;
  theirs: string;
  groups: number[];
  atMs: number;
}

export interface DigestMonitorOptions {
  nodeId: string;
  secret: Uint8Array;
  /** 0: this node proposes no checkpoints (it still computes and compares). */
  intervalMs: number;
  stateMachine: Pick<TimeSeriesStateMachine, 'stateDigest'>;
  isLeader: () => boolean;
  propose: (data: Uint8Array) => Promise<unknown>;
  /** Client URLs of the other members (node id → URL); members without one are not compared. */
  peerUrls: () => Record<string, string>;
  clock: Clock;
  log: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  families: MetricFamilies;
}

export class DigestMonitor {
  private readonly digests: RecordedDigest[] = [];
  private readonly mismatches: DigestMismatch[] = [];
  private cancelTimer: (() => void) | null = null;
  private readonly pendingTimers = new Set<() => void>();
  private stopped = false;
  private live = false;
  checks = { match: 0, mismatch: 0, unavailable: 0 };

  constructor(private readonly options: DigestMonitorOptions) {}

  /** Called once the replica replayed its log: from now on digests are compared. */
  start(): void {
    assert(!this.stopped, 'DigestMonitor.start after stop');
    this.live = true;
    if (this.options.intervalMs > 0) this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.live = false;
    this.cancelTimer?.();
    this.cancelTimer = null;
    for (const cancel of this.pendingTimers) cancel();
    this.pendingTimers.clear();
  }

  /** The replica applied an entry (inside its Ready loop: synchronous, before the next entry). */
  onApplied(entry: Entry, result: ApplyResult | undefined): void {
    if (result === undefined) return;
    const backupStart = result.kind === 'backup' && result.event === 'start' && result.accepted;
    if (result.kind !== 'checkpoint' && !backupStart) return;
    const started = this.options.clock.nowMs();
    const digest = this.options.stateMachine.stateDigest();
    assert(digest.index === entry.index, `state digest at ${digest.index}, entry ${entry.index}`);
    const durationMs = this.options.clock.nowMs() - started;
    this.digests.push({ ...digest, cause: backupStart ? 'backup' : 'checkpoint', computedAtMs: started, durationMs });
    if (this.digests.length > MAX_KEPT_DIGESTS) this.digests.shift();
    this.options.families.digestLastIndex.set(entry.index);
    this.options.families.digestLastDuration.set(durationMs / 1000);
    if (this.live) this.later(COMPARE_DELAY_MS, () => void this.compareWithPeers(entry.index, COMPARE_ATTEMPTS));
  }

  /** The digest this node computed at `index`, if it still has it. */
  digestAt(index: number): RecordedDigest | null {
    return this.digests.find((d) => d.index === index) ?? null;
  }

  /** Newest last. */
  recent(limit = MAX_KEPT_DIGESTS): RecordedDigest[] {
    return this.digests.slice(-limit);
  }

  status(): { lastIndex: number; lastDigest: string | null; lastDurationMs: number | null; kept: number; checks: { match: number; mismatch: number; unavailable: number }; mismatches: DigestMismatch[] } {
    const last = this.digests[this.digests.length - 1] ?? null;
    return { lastIndex: last?.index ?? 0, lastDigest: last?.digest ?? null, lastDurationMs: last?.durationMs ?? null, kept: this.digests.length, checks: { ...this.checks }, mismatches: [...this.mismatches] };
  }

  private later(delayMs: number, fn: () => void): void {
    if (this.stopped) return;
    const cancel = this.options.clock.setTimer(delayMs, () => {
      this.pendingTimers.delete(cancel);
      fn();
    });
    this.pendingTimers.add(cancel);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.cancelTimer = this.options.clock.setTimer(this.options.intervalMs, () => {
      this.cancelTimer = null;
      void this.proposeCheckpoint().then(() => this.schedule());
    });
  }

  /** On the leader: one checkpoint record. Returns whether it was proposed and applied. */
  async proposeCheckpoint(): Promise<boolean> {
    if (!this.options.isLeader()) return false;
    try {
      await this.options.propose(encodeCommand({ type: 'checkpoint', leaderTimeMs: Math.floor(this.options.clock.nowMs()) }));
      return true;
    } catch (error) {
      rethrowIfBug(error);
      this.options.log.debug('digest checkpoint not applied', { error: (error as Error).message });
      return false;
    }
  }

  /** Compares the digest at `index` with every peer that has one. */
  async compareWithPeers(index: number, attemptsLeft: number): Promise<void> {
    const mine = this.digestAt(index);
    if (mine === null || this.stopped) return;
    const retry: string[] = [];
    for (const [peer, url] of Object.entries(this.options.peerUrls())) {
      if (peer === this.options.nodeId) continue;
      let theirs: { digest: string; groups: Record<string, string> } | null;
      try {
        theirs = await this.fetchPeerDigest(url, index);
      } catch (error) {
        rethrowIfBug(error);
        this.checks.unavailable++;
        this.options.log.debug('could not compare the state digest with a peer', { peer, index, error: (error as Error).message });
        continue;
      }
      if (theirs === null) {
        retry.push(peer);
        continue;
      }
      if (theirs.digest === mine.digest) {
        this.checks.match++;
        this.options.families.digestChecks.inc({ result: 'match' });
        continue;
      }
      const groups = differingGroups(mine, { ...mine, groups: theirs.groups });
      this.checks.mismatch++;
      this.options.families.digestChecks.inc({ result: 'mismatch' });
      this.options.families.digestMismatches.inc({ peer });
      this.mismatches.push({ index, peer, mine: mine.digest, theirs: theirs.digest, groups, atMs: this.options.clock.nowMs() });
      if (this.mismatches.length > MAX_MISMATCHES) this.mismatches.shift();
      this.options.log.error('state digest differs from a peer at the same log index: the replicas hold different data', { peer, index, mine: mine.digest, theirs: theirs.digest, seriesGroups: groups.slice(0, 20).join(',') });
    }
    if (retry.length > 0 && attemptsLeft > 1) this.later(COMPARE_DELAY_MS, () => void this.compareWithPeers(index, attemptsLeft - 1));
  }

  private async fetchPeerDigest(url: string, index: number): Promise<{ digest: string; groups: Record<string, string> } | null> {
    const answer = await peerRequest({ baseUrl: url, method: 'GET', path: `/api/maintenance/digests?index=${index}`, secret: this.options.secret, nodeId: this.options.nodeId, timeoutMs: 5_000, maxResponseBytes: 4 * 1024 * 1024 });
    if (answer.status !== 200) throw errorOfAnswer(answer, 'digest request');
    const body = JSON.parse(answer.body.toString('utf8')) as { digests?: Array<{ index: number; digest: string; groups: Record<string, string> }> };
    const found = body.digests?.find((d) => d.index === index);
    if (found === undefined) return null;
    if (typeof found.digest !== 'string') throw new TsraftError('TSR_ERR_PEER_UNAVAILABLE', 'the peer answered a malformed digest');
    return found;
  }
}
