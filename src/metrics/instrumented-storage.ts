// Decorators the node puts around its Raft log store and state machine to
// measure what only they can see: the duration of every synced write (the
// fsync histogram), the size of the log, and how long a local snapshot takes.
// They forward every call unchanged and never swallow an error.
import type { RaftLogStore, RaftSaveBatch, SnapshotSink, StoredRaftState } from '../storage/types.js';
import type { ReplicatedStateMachine } from '../replica/types.js';
import type { Entry, SnapshotMeta } from '../raft/types.js';
import type { MetricFamilies, SyncOperation } from './definitions.js';
import { LogSizeTracker } from './log-size.js';

/** A monotonic clock in seconds (durations only; never wall time). */
export type MonotonicSeconds = () => number;

export const monotonicSeconds: MonotonicSeconds = () => performance.now() / 1000;

export class InstrumentedLogStore implements RaftLogStore {
  readonly size = new LogSizeTracker();

  constructor(
    private readonly inner: RaftLogStore,
    private readonly families: MetricFamilies,
    private readonly now: MonotonicSeconds = monotonicSeconds,
  ) {}

  async load(): Promise<StoredRaftState> {
    const state = await this.inner.load();
    this.size.onLoad(state);
    return state;
  }

  async save(batch: RaftSaveBatch): Promise<void> {
    // A save without a sync (a commit-index move) is no fsync: keep it out of the histogram.
    if (batch.sync === false) await this.inner.save(batch);
    else await this.timed('append', () => this.inner.save(batch));
    this.size.onSave(batch);
  }

  recordSnapshot(meta: SnapshotMeta): Promise<void> {
    return this.timed('record_snapshot', () => this.inner.recordSnapshot(meta));
  }

  async compact(upTo: number): Promise<void> {
    await this.timed('compact', () => this.inner.compact(upTo));
    this.size.dropThrough(upTo);
  }

  readEntries(from: number, to: number): Promise<Entry[] | null> {
    return this.inner.readEntries(from, to);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async timed(operation: SyncOperation, write: () => Promise<void>): Promise<void> {
    const started = this.now();
    await write();
    // Only successful writes are observed: a failed one is fatal for the node.
    this.families.syncDuration.observe({ operation }, Math.max(0, this.now() - started));
  }
}

/**
 * Times local snapshots: the clock starts when the replica asks the state
 * machine for its bytes and stops when the replica reports the snapshot
 * durable (ReplicaObserver.onSnapshotTaken → snapshotTaken()).
 */
export class SnapshotTimer<R> implements ReplicatedStateMachine<R> {
  private startedAt: number | null = null;
  /** Present exactly when the inner state machine streams its snapshots. */
  readonly writeSnapshot?: (sink: SnapshotSink) => Promise<number>;
  /** Present exactly when the inner state machine installs snapshots streamed. */
  readonly restoreFrom?: (meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>) => Promise<void>;

  constructor(
    private readonly inner: ReplicatedStateMachine<R>,
    private readonly families: MetricFamilies,
    private readonly now: MonotonicSeconds = monotonicSeconds,
    private readonly wallClockMs: () => number = Date.now,
  ) {
    const write = inner.writeSnapshot?.bind(inner);
    if (write !== undefined) {
      this.writeSnapshot = (sink) => {
        this.startedAt = this.now();
        return write(sink);
      };
    }
    const restoreFrom = inner.restoreFrom?.bind(inner);
    if (restoreFrom !== undefined) this.restoreFrom = restoreFrom;
  }

  get appliedIndex(): number {
    return this.inner.appliedIndex;
  }

  apply(index: number, data: Uint8Array): R {
    return this.inner.apply(index, data);
  }

  noteUnappliedEntry(index: number): void {
    this.inner.noteUnappliedEntry?.(index);
  }

  snapshot(): Uint8Array {
    this.startedAt = this.now();
    return this.inner.snapshot();
  }

  restore(bytes: Uint8Array): void {
    this.inner.restore(bytes);
  }

  stateHash(): string {
    return this.inner.stateHash();
  }

  snapshotTaken(meta: SnapshotMeta): void {
    if (this.startedAt !== null) this.families.snapshotDuration.observe(Math.max(0, this.now() - this.startedAt));
    this.startedAt = null;
    this.families.snapshotLastSize.set(meta.sizeBytes);
    this.families.snapshotLastTimestamp.set(this.wallClockMs() / 1000);
  }
}
