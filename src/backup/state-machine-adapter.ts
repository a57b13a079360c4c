// Snapshot = backup for Raft: a ReplicatedStateMachine whose snapshot() is a
// pack of the backup format (docs/backup-format.md) instead of raw TSSM bytes.
// The replica saves it as its local snapshot and sends it in chunks to a
// lagging follower, whose restore() verifies every file and the state digest
// before it replaces anything. restore() also accepts raw TSSM bytes, so a
// node can switch formats with snapshots already on disk.
//
// Cost: cutting blocks into pages costs CPU; the pages of sealed blocks are
// remembered between snapshots (PageCache), so a snapshot re-cuts only the
// blocks that changed.
//
// Memory: the replica takes its local snapshots through writeSnapshot(),
// which streams the state one series at a time (TssmStream) into the pack
// writer and the snapshot file, so memory holds one backup group's pages and
// files, never the state nor the pack (docs/storage.md, "Snapshot files").
// snapshot() builds both in memory: the reference the streamed bytes equal.
// Given the store the state machine is kept in (`install`), it installs
// snapshots the same way, streamed from the snapshot file straight into that
// store (restoreFrom, pack-install.ts): one backup group's segment files and
// one series in memory, the result checked against the manifest's state
// digest before it counts (docs/storage.md, "Installing a snapshot").
import type { SnapshotMeta } from '../raft/types.js';
import type { ReplicatedStateMachine } from '../replica/types.js';
import type { SnapshotSink, StateMachineStore } from '../storage/types.js';
import type { ApplyResult, TimeSeriesStateMachine } from '../tsdb/state-machine.js';
import type { BackupLayout } from './constants.js';
import { isPack } from './pack.js';
import { installSnapshotOrPack, type SnapshotInstallSummary } from './pack-install.js';
import { PageCache } from './series-pages.js';
import { packState, unpackState, writePackedState, type CaptureInfo } from './snapshot-pack.js';
import { TssmStream } from './tssm-stream.js';

/** A streamed snapshot or install lets the event loop run every this many series. */
const SERIES_PER_PAUSE = 256;
const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

export interface BackupFormatOptions {
  clusterId: string;
  nodeId: string;
  layout?: BackupLayout | null;
  /** Page bytes of sealed blocks remembered between snapshots. Default 64 MiB. */
  pageCacheBytes?: number;
  /** The store `inner` is kept in: snapshots then install streamed into it
   *  (restoreFrom) instead of in memory (restore). */
  install?: {
    store: StateMachineStore;
    /** Bound on one backup group's segment files held while installing. Default 1 GiB. */
    maxGroupBytes?: number;
    /** Called after each streamed install (logs, tests). */
    onInstalled?: (summary: SnapshotInstallSummary) => void;
  } | null;
}

export class BackupFormatStateMachine implements ReplicatedStateMachine<ApplyResult> {
  private readonly cache: PageCache;
  /** Present exactly when options.install gives the store (see the file comment). */
  readonly restoreFrom?: (meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>) => Promise<void>;

  constructor(
    readonly inner: TimeSeriesStateMachine,
    private readonly options: BackupFormatOptions,
  ) {
    this.cache = new PageCache(1_000_000, options.pageCacheBytes ?? 64 * 1024 * 1024);
    const install = options.install ?? null;
    if (install !== null) {
      this.restoreFrom = async (meta, chunks) => {
        const summary = await installSnapshotOrPack(chunks, {
          machine: this.inner,
          store: install.store,
          snapshotIndex: meta.index,
          ...(install.maxGroupBytes === undefined ? {} : { maxGroupBytes: install.maxGroupBytes }),
          pause: { every: SERIES_PER_PAUSE, wait: nextTurn },
        });
        install.onInstalled?.(summary);
      };
    }
  }

  /** Every committed entry up to here is reflected (applied, or skipped:
   *  configuration changes and no-ops; see TimeSeriesStateMachine.noteUnappliedEntry). */
  get appliedIndex(): number {
    return this.inner.coveredIndex;
  }

  apply(index: number, data: Uint8Array): ApplyResult {
    return this.inner.apply(index, data);
  }
  noteUnappliedEntry(index: number): void {
    this.inner.noteUnappliedEntry(index);
  }


  /** A pack whose manifest has raft.index = the state machine's applied index
   *  and null term/membership: the Raft snapshot metadata carries those. */
  snapshot(): Uint8Array {
    return packState(this.inner.snapshot(), this.captureInfo(), { layout: this.options.layout ?? null, cache: this.cache }).pack;
  }

  /** snapshot()'s bytes, written to `sink` as they are cut. The state must
   *  not change until the promise resolves (the replica applies nothing
   *  meanwhile; the stream asserts it). */
  async writeSnapshot(sink: SnapshotSink): Promise<number> {
    const written = await writePackedState(
      new TssmStream(this.inner),
      this.captureInfo(),
      { layout: this.options.layout ?? null, cache: this.cache },
      (chunk) => sink.write(chunk),
      { every: SERIES_PER_PAUSE, wait: nextTurn },
    );
    return written.sizeBytes;
  }

  private captureInfo(): CaptureInfo {
    return {
      clusterId: this.options.clusterId,
      nodeId: this.options.nodeId,
      raftIndex: this.inner.appliedIndex,
      raftTerm: null,
      membership: null,
      // Deterministic: the leader-stamped time, not this node's clock.
      createdAtMs: this.inner.lastLeaderTimeMs,
    };
  }

  /** Verifies a pack end to end (or takes raw TSSM bytes) and replaces the state. */
  restore(bytes: Uint8Array): void {
    this.inner.restore(isPack(bytes) ? unpackState(bytes).tssm : bytes);
  }

  /** inner.stateHash() (FNV-1a 64 of its snapshot), one series at a time. */
  stateHash(): string {
    const records = new TssmStream(this.inner).records();
    let step = records.next();
    while (step.done !== true) step = records.next();
    return step.value.fnv1a64;
  }
}
