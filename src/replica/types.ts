// Types of the replica glue: the state machine it applies the log to, its
// options, what it reports in /status, and the hooks the simulator observes.
import type { ConfigState, Entry, NodeId, PeerProgress, Prng, RaftConfig, Role, SnapshotMeta, SoftState } from '../raft/types.js';
import type { RaftLogStore, SnapshotSink, SnapshotStore } from '../storage/types.js';
import type { Transport } from '../transport/types.js';
import type { Clock } from '../util/clock.js';

/**
 * The deterministic state machine a replica applies committed entries to.
 * Only `normal` entries with data reach it (configuration entries and the
 * leaders' empty no-ops are the replica's business), in increasing index
 * order, possibly with gaps.
 */
export interface ReplicatedStateMachine<R = unknown> {
  /** Index of the last entry this state machine applied (0 before any). A
   *  state machine persisted on its own may start above the latest snapshot. */
  readonly appliedIndex: number;
  /** Apply one committed entry; the result answers the client that proposed it.
   *  A throw is fatal for the replica (the entry cannot be applied). */
  apply(index: number, data: Uint8Array): R;
  /** Optional: a committed entry it does not apply (configuration, a
   *  leader's empty no-op) was passed at `index`. A state machine persisted on
   *  its own records it, so its applied index — and so its checkpoint — covers
   *  every committed entry and a restart does not mistake it for being behind
   *  a snapshot taken at such an entry. */
  noteUnappliedEntry?(index: number): void;
  /** The whole state as bytes (deterministic: equal states give equal bytes). */
  snapshot(): Uint8Array;
  /** Optional: writes the bytes snapshot() returns to `sink` without ever
   *  holding them all (a state larger than memory); resolves with their
   *  count. When present the replica takes local snapshots this way
   *  (SnapshotStore.saveStream). It applies nothing until the promise
   *  resolves, so the state stays put while it is written. */
  writeSnapshot?(sink: SnapshotSink): Promise<number>;
  /** Replace the whole state with a snapshot's bytes. */
  restore(bytes: Uint8Array): void;
  /** Optional: replace the whole state with the snapshot `meta`, whose bytes
   *  (those snapshot() gave) arrive in order as `chunks`, without ever holding
   *  them all (a state larger than memory). When present the replica restores
   *  this way instead of restore(): at start-up when the state machine is
   *  older than the local snapshot, and when it installs a snapshot from the
   *  leader (after the snapshot file is durable and recorded in the log, before
   *  the rest of the Ready applies). It applies nothing until the promise
   *  resolves. A damaged snapshot rejects (TSR_ERR_CORRUPT_SNAPSHOT,
   *  TSR_ERR_BACKUP_CORRUPT): fatal for the replica. */
  restoreFrom?(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  /** A digest of the state; equal on replicas at the same applied index. */
  stateHash(): string;
}

/**
 * A state machine that keeps its own durable copy (docs/replica.md, "State
 * machine checkpoints"). The replica asks for a checkpoint every so many
 * applied entries, bytes or milliseconds, and on stop; a restart then replays
 * only the entries after the state machine's persisted applied index.
 */
export interface StateMachinePersistence {
  /** Write every change applied so far, with the applied index, in one
   *  atomic write; resolves with that index once written. The state is
   *  captured synchronously when called. Never called twice at once. */
  persist(): Promise<number>;
}

/** Planted bugs for the simulator's checkers (never set outside tests). */
export interface ReplicaTestingKnobs {
  /** Send a Ready's messages (append acknowledgements, votes) before its save() is durable. */
  ackBeforeSync?: boolean;
  /** Serve linearizable reads from local state without a read index. */
  staleRead?: boolean;
  /** Install snapshots into the state machine's store without a restore
   *  marker, writing the meta record (the snapshot's applied index) as soon
   *  as the header arrives instead of last: a crash midway leaves a store
   *  that claims the whole snapshot but holds part of it (TsdbStateMachine). */
  installMetaFirst?: boolean;
}

/** Callbacks for the simulator's checkers and for metrics. They run inside the
 *  Ready loop: keep them cheap and never call back into the replica. */
export interface ReplicaObserver {
  /** Role, leader or term changed (as seen when the Ready is handled). */
  onSoftState?(id: NodeId, soft: SoftState): void;
  /** An entry was applied (result is undefined for config entries and no-ops). */
  onApplied?(id: NodeId, entry: Entry, result: unknown): void;
  /** A snapshot from the leader replaced the state machine. */
  onSnapshotInstalled?(id: NodeId, meta: SnapshotMeta): void;
  /** A local snapshot was saved. `data` is the state machine's snapshot(),
   *  or null when it was streamed to the store (writeSnapshot): read it back
   *  from the SnapshotStore where it is needed, never on a node's hot path. */
  onSnapshotTaken?(id: NodeId, meta: SnapshotMeta, data: Uint8Array | null): void;
  /** A Ready's writes are durable (after save() resolved). */
  onPersisted?(id: NodeId, entries: readonly Entry[]): void;
}

export interface ReplicaOptions<R = unknown> {
  id: NodeId;
  logStore: RaftLogStore;
  snapshotStore: SnapshotStore;
  transport: Transport;
  clock: Clock;
  prng: Prng;
  stateMachine: ReplicatedStateMachine<R>;
  /** Founding membership of a brand-new cluster: written as the first log
   *  entries (bootstrapLog) when the log is empty. null for a node joining a
   *  running cluster (it starts with an empty configuration and learns the
   *  membership from the leader). Ignored when the log already holds data. */
  bootstrap: ConfigState | null;
  /** For a node joining a running cluster (bootstrap null): the existing
   *  members (id → peer URL) the transport keeps until the leader sends the
   *  membership. Ignored once any membership is known. */
  joinPeers?: Record<NodeId, string> | null;
  /** Raft core options (election/heartbeat ticks, flow-control bounds, testing knobs). */
  raft?: Partial<Omit<RaftConfig, 'id' | 'prng'>>;
  /** Wall time of one Raft tick, ms. Default 50; bounds 1..60,000. */
  tickIntervalMs?: number;
  /** Take a local snapshot every this many applied entries. Default 10,000; ≥ 1. */
  snapshotEveryEntries?: number;
  /** Also snapshot once this many bytes of entries were applied since the last one. Default 256 MiB. */
  snapshotEveryBytes?: number;
  /** The state machine's own durable copy; null/absent: it lives in memory
   *  and a restart restores the latest snapshot and replays the log after it. */
  persistence?: StateMachinePersistence | null;
  /** Checkpoint the state machine every this many applied entries. Default 10,000; ≥ 1. */
  persistEveryEntries?: number;
  /** … or once this many bytes of entries were applied since the last checkpoint
   *  (bounds the replay after a crash). Default 16 MiB; ≥ 1. */
  persistEveryBytes?: number;
  /** … or this long after the last one when entries were applied since. Default 5,000 ms; ≥ 1. */
  persistEveryMs?: number;
  /** Log entries kept behind a local snapshot (lagging followers catch up from
   *  the log instead of a snapshot). Default 1,000; ≥ 0. */
  logEntriesKeptAfterSnapshot?: number;
  /** Proposals waiting to be applied on this node; beyond it propose() fails
   *  with TSR_ERR_PROPOSAL_BACKPRESSURE. Default 10,000; ≥ 1. */
  maxPendingProposals?: number;
  /** Largest proposal, bytes. Default 4 MiB; ≥ 1. */
  maxProposalBytes?: number;
  /** Linearizable reads waiting for a read index or for apply. Default 10,000; ≥ 1. */
  maxPendingReads?: number;
  /** Default time a proposal may take before TSR_ERR_TIMEOUT, ms. Default 10,000. */
  proposalTimeoutMs?: number;
  /** Default time a read barrier may take before TSR_ERR_TIMEOUT, ms. Default 10,000. */
  readTimeoutMs?: number;
  /** Runs the Ready loop soon after work arrives, so that everything arriving
   *  in one turn of the event loop shares one Ready. Default setImmediate. */
  defer?: (fn: () => void) => void;
  /** Called once when the replica stops on a fatal error: a storage failure
   *  (corruption, I/O error) or a bug (assertion). The replica has stopped
   *  itself; the process should exit. Default: rethrow asynchronously. */
  onFatal?: (error: unknown) => void;
  observer?: ReplicaObserver;
  testingKnobs?: ReplicaTestingKnobs;
}

export type ReplicaLifecycle = 'created' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

export type ReplicaMemberRole = 'leader' | 'follower' | 'learner';

export interface ReplicaMember {
  id: NodeId;
  /** The member's peer URL (its configuration context). */
  url: string;
  role: ReplicaMemberRole;
}

export interface ReplicaStatus {
  id: NodeId;
  lifecycle: ReplicaLifecycle;
  role: Role;
  /** True when this node is a learner (it never votes nor campaigns). */
  learner: boolean;
  leader: NodeId | null;
  /** The leader's peer URL when known. */
  leaderUrl: string | null;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  members: ReplicaMember[];
  /** Per-peer replication progress; only on the leader. */
  progress: Record<NodeId, PeerProgress>;
  pendingProposals: number;
  pendingReads: number;
}

export type ReadConsistency = 'linearizable' | 'stale';

export interface ReadBarrierOptions {
  /** 'stale' serves from local state at once. Default 'linearizable'. */
  consistency?: ReadConsistency;
  timeoutMs?: number;
}

export interface ProposeOptions {
  timeoutMs?: number;
}
