// The leader's view of one follower's log (thesis §3.5, and etcd-io/raft's
// Progress): probe one append at a time until the match point is found,
// then replicate with a bounded window of appends in flight, or transfer a
// snapshot when the entries the follower needs are compacted away.
import { assert } from '../errors.js';
import type { PeerProgress, ProgressState, SnapshotMeta } from './types.js';

/** A FIFO of in-flight appends: (last index, bytes) per message. */
export class Inflights {
  private readonly lastIndexes: number[] = [];
  private readonly sizes: number[] = [];
  private totalBytes = 0;

  constructor(
    private readonly maxMsgs: number,
    private readonly maxBytes: number,
  ) {
    assert(maxMsgs >= 1, 'inflights: maxMsgs must be ≥ 1');
  }

  add(lastIndex: number, bytes: number): void {
    assert(!this.full(), 'inflights: add while full');
    this.lastIndexes.push(lastIndex);
    this.sizes.push(bytes);
    this.totalBytes += bytes;
  }

  /** Release every message whose last index ≤ index (acknowledged). */
  freeTo(index: number): void {
    let n = 0;
    while (n < this.lastIndexes.length && this.lastIndexes[n]! <= index) {
      this.totalBytes -= this.sizes[n]!;
      n++;
    }
    this.lastIndexes.splice(0, n);
    this.sizes.splice(0, n);
  }

  freeFirstOne(): void {
    if (this.lastIndexes.length === 0) return;
    this.freeTo(this.lastIndexes[0]!);
  }

  full(): boolean {
    return this.lastIndexes.length >= this.maxMsgs || this.totalBytes >= this.maxBytes;
  }

  count(): number {
    return this.lastIndexes.length;
  }

  reset(): void {
    this.lastIndexes.length = 0;
    this.sizes.length = 0;
    this.totalBytes = 0;
  }
}

/** An outgoing snapshot transfer: which snapshot and the next chunk offset. */
export interface OutgoingSnapshot {
  meta: SnapshotMeta;
  /** Offset of the first byte not yet acknowledged by the follower. */
  ackedOffset: number;
  /** Ticks since a chunk was last sent without an acknowledgement. */
  ticksSinceSend: number;
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an append is outstanding; wait for its answer or a heartbeat. */
  probeSent = false;
  /** Heard from this peer since the last CheckQuorum round. */
  recentActive = false;
  /** An append or heartbeat went to this peer since the last heartbeat tick. */
  sentSinceHeartbeat = false;
  /** The largest commit index sent to this peer (in an append or heartbeat). */
  sentCommit = 0;
  snapshot: OutgoingSnapshot | null = null;
  readonly inflights: Inflights;

  constructor(
    next: number,
    public isLearner: boolean,
    maxInflightMsgs: number,
    maxInflightBytes: number,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  becomeProbe(): void {
    if (this.state === 'snapshot' && this.snapshot !== null) {
      this.next = Math.max(this.match + 1, this.snapshot.meta.index + 1);
    } else {
      this.next = this.match + 1;
    }
    this.resetState('probe');
  }

  becomeReplicate(): void {
    this.next = this.match + 1;
    this.resetState('replicate');
  }

  becomeSnapshot(meta: SnapshotMeta): void {
    this.resetState('snapshot');
    this.snapshot = { meta, ackedOffset: 0, ticksSinceSend: 0 };
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.snapshot = null;
    this.inflights.reset();
  }

  /** A successful append response up to n; returns whether it was news. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * A rejected append of prevIndex `rejected`; `matchHint` is where the
   * follower's log may match. Returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Record an append sent with entries up to lastIndex (empty: lastIndex = prevIndex). */
  sentEntries(count: number, lastIndex: number, bytes: number): void {
    this.sentSinceHeartbeat = true;
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  view(): PeerProgress {
    return {
      match: this.match,
      next: this.next,
      state: this.state,
      recentActive: this.recentActive,
      inflightMsgs: this.inflights.count(),
      isLearner: this.isLearner,
    };
  }
}
