// Durable storage interfaces. Implemented on classic-level (LevelDB) for real
// nodes and in memory (with fault injection) for the simulator; one shared
// test suite runs against both.
import type { Entry, HardState, SnapshotMeta } from '../raft/types.js';

export interface StoredRaftState {
  hardState: HardState;
  /** Metadata of the latest snapshot saved locally, or null. */
  snapshot: SnapshotMeta | null;
  /** Log entries after the snapshot index, contiguous and checksum-verified. */
  entries: Entry[];
}

export interface RaftSaveBatch {
  hardState: HardState | null;
  /** Appended entries; stored entries with index ≥ entries[0].index are dropped first. */
  entries: Entry[];
  /** When set, a snapshot was installed: drop every entry ≤ snapshot.index. */
  snapshot: SnapshotMeta | null;
  /** false: the write need not be durable when save() resolves; the next
   *  synced write makes it durable, a power loss before that may undo it.
   *  Only for a batch that moves nothing but the commit index (no entries,
   *  no snapshot, term and vote as last saved): Raft's commit index is
   *  volatile state, so losing its update is harmless (etcd skips that sync
   *  too). Default true. */
  sync?: boolean;
}

/** The Raft log and hard state. `save` is one synced write (group commit).
 *  Calls run one at a time in call order. After a failed write (I/O error,
 *  corruption) every later call fails with the same error: the caller treats
 *  it as fatal (docs/storage.md, "Failures"). */
export interface RaftLogStore {
  /** Hard state, recorded snapshot and every entry after it, each entry's
   *  checksum verified. Throws TSR_ERR_CORRUPT_LOG (fatal) on any mismatch. */
  load(): Promise<StoredRaftState>;
  /** One atomic synced write (unless `batch.sync` is false). With `snapshot`: the snapshot is recorded and
   *  entries ≤ snapshot.index dropped; later entries are kept only when the
   *  stored entry at snapshot.index has the snapshot's term (Raft Figure 13). */
  save(batch: RaftSaveBatch): Promise<void>;
  /** Record that a local snapshot, already durable in the SnapshotStore,
   *  covers entries ≤ meta.index. Entries stay until compact(). One synced write. */
  recordSnapshot(meta: SnapshotMeta): Promise<void>;
  /** Entries from..to (inclusive), checksum-verified, including entries a
   *  snapshot covers but compaction has not dropped yet; null when any of
   *  them is gone. */
  readEntries(from: number, to: number): Promise<Entry[] | null>;
  /** Drop entries with index ≤ upTo; upTo must not exceed the recorded snapshot. */
  compact(upTo: number): Promise<void>;
  close(): Promise<void>;
}

/** Receives a snapshot's bytes in order (SnapshotStore.saveStream). */
export interface SnapshotSink {
  /** Appends `bytes`. The sink copies what it keeps: the caller may reuse
   *  them once the promise resolves, which is also the backpressure. */
  write(bytes: Uint8Array): Promise<void>;
}

/** Snapshot bytes: the local snapshot (sent to lagging followers in chunks)
 *  and an incoming snapshot assembled from the leader's chunks. */
export interface SnapshotStore {
  /** Atomically replace the local snapshot. */
  save(meta: SnapshotMeta, data: Uint8Array): Promise<void>;
  /** Atomically replace the local snapshot with the bytes `produce` writes
   *  to the sink, in order, never holding them all; `produce` resolves with
   *  the number of bytes it wrote. Resolves with the metadata saved (`meta`
   *  and the size). The stored snapshot is the one save() stores for the
   *  same bytes. When `produce` throws, the old snapshot stays. */
  saveStream(meta: Omit<SnapshotMeta, 'sizeBytes'>, produce: (sink: SnapshotSink) => Promise<number>): Promise<SnapshotMeta>;
  /** The local snapshot, verified, or null when there is none; holds the
   *  whole data in memory (small states, tests; the replica uses loadMeta and
   *  readData). TSR_ERR_CORRUPT_SNAPSHOT when the header or data checksum fails. */
  load(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | null>;
  /** The local snapshot's metadata, or null when there is none. The whole
   *  file is verified (header CRC, data length and SHA-256), streamed through
   *  a bounded buffer: TSR_ERR_CORRUPT_SNAPSHOT on any mismatch. */
  loadMeta(): Promise<SnapshotMeta | null>;
  /** The data of the local snapshot `meta`, in order, in chunks of at most
   *  1 MiB (the consumer may keep them). Its SHA-256 is checked as it streams:
   *  a mismatch fails the last step (TSR_ERR_CORRUPT_SNAPSHOT), so a consumer
   *  that reads to the end never accepts damaged bytes.
   *  TSR_ERR_SNAPSHOT_UNAVAILABLE when the local snapshot is another one. */
  readData(meta: SnapshotMeta): AsyncIterable<Uint8Array>;
  /** A chunk of the local snapshot whose metadata is `meta`; the whole file
   *  is verified when offset is 0. TSR_ERR_SNAPSHOT_UNAVAILABLE when the local
   *  snapshot is another one (replaced meanwhile). */
  readChunk(meta: SnapshotMeta, offset: number, length: number): Promise<Uint8Array>;
  /** Bytes of the incoming snapshot `meta` already persisted (the resume
   *  point after a restart); 0 when the incoming snapshot is another or none. */
  incomingOffset(meta: SnapshotMeta): Promise<number>;
  /** Persist (synced) one incoming chunk; offset 0 starts a new incoming
   *  snapshot. A chunk past the persisted bytes, or of another snapshot,
   *  fails with TSR_ERR_SNAPSHOT_INCOMPLETE (details.expectedOffset). */
  writeIncomingChunk(meta: SnapshotMeta, offset: number, data: Uint8Array): Promise<void>;
  /** Atomically make the completed incoming snapshot the local snapshot,
   *  without reading it into memory (read it with readData);
   *  TSR_ERR_SNAPSHOT_INCOMPLETE unless all meta.sizeBytes are there. */
  promoteIncoming(meta: SnapshotMeta): Promise<void>;
  close(): Promise<void>;
}

/** The state machine's own records (docs/storage.md, "State machine"): a
 *  byte-keyed store beside the Raft log. Writes run one at a time in call
 *  order and are not synced on their own: the Raft log's next synced write
 *  makes them durable (same write-ahead log), and a write lost to a power
 *  failure is replayed from the log, which keeps every entry after the last
 *  snapshot. */
export interface StateMachineStore {
  /** Records with gte ≤ key < lt, in key order. */
  readRange(gte: Uint8Array, lt: Uint8Array): Promise<Array<[Uint8Array, Uint8Array]>>;
  /** One record, read synchronously (sealed block bytes for a query). */
  readSync(key: Uint8Array): Uint8Array | undefined;
  /** Deletes every record with gte ≤ key < lt, in key order, not atomically
   *  (a crash may leave a suffix): only under a restore marker. Runs in call
   *  order with write(). */
  clearRange(gte: Uint8Array, lt: Uint8Array): Promise<void>;
  /** One atomic batch. replaceAll: every stored record is deleted first, in the same batch. */
  write(ops: ReadonlyArray<{ type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array }>, options: { replaceAll: boolean }): Promise<void>;
}
