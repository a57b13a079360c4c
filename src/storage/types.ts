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
}

/** The Raft log and hard state. `save` is one synced write (group commit). */
export interface RaftLogStore {
  load(): Promise<StoredRaftState>;
  save(batch: RaftSaveBatch): Promise<void>;
  /** Drop entries with index ≤ upTo (after a snapshot covers them). */
  compact(upTo: number): Promise<void>;
  close(): Promise<void>;
}

/** Snapshot bytes: the local snapshot (sent to lagging followers in chunks)
 *  and an incoming snapshot assembled from the leader's chunks. */
export interface SnapshotStore {
  /** Atomically replace the local snapshot. */
  save(meta: SnapshotMeta, data: Uint8Array): Promise<void>;
  /** The local snapshot, verified, or null when there is none. */
  load(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | null>;
  /** A chunk of the local snapshot whose metadata is `meta`. */
  readChunk(meta: SnapshotMeta, offset: number, length: number): Promise<Uint8Array>;
  /** Persist one incoming chunk; offset 0 starts a new incoming snapshot. */
  writeIncomingChunk(meta: SnapshotMeta, offset: number, data: Uint8Array): Promise<void>;
  /** Make the completed incoming snapshot the local snapshot and return its bytes. */
  promoteIncoming(meta: SnapshotMeta): Promise<Uint8Array>;
  close(): Promise<void>;
}
