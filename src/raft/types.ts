// Types shared by the Raft core and everything that drives it (the replica
// glue, storage, transport and the simulator). The core itself is pure: it
// takes messages and ticks in and hands out Ready batches of work.
//
// Indexes and terms are plain numbers: 2^53 entries is far beyond any log we
// will write, and numbers keep the hot path free of BigInt arithmetic.

export type NodeId = string;

/** `normal` entries carry application data (possibly empty: a leader's no-op);
 *  `config` entries carry an encoded ConfigChange (see config-change.ts). */
export type EntryKind = 'normal' | 'config';

export interface Entry {
  index: number;
  term: number;
  kind: EntryKind;
  data: Uint8Array;
}

/** State that must be durable before any message that depends on it is sent. */
export interface HardState {
  term: number;
  /** Who this node voted for in `term`, or null. */
  vote: NodeId | null;
  commit: number;
}

/** Cluster membership. Learners receive the log but never vote or count in a
 *  quorum. `contexts` maps every member to an opaque string the application
 *  chose when it added the member (tsraft stores the peer URL there). */
export interface ConfigState {
  voters: NodeId[];
  learners: NodeId[];
  contexts: Record<NodeId, string>;
}

export type ConfigChangeOp = 'add-learner' | 'add-voter' | 'remove';

export interface ConfigChange {
  op: ConfigChangeOp;
  nodeId: NodeId;
  /** Opaque to Raft; kept in ConfigState.contexts (the peer URL in tsraft). */
  context: string;
}

/** Describes a snapshot of the applied state at `index`. The bytes live
 *  outside the core; the core only tracks their size to send them in chunks. */
export interface SnapshotMeta {
  index: number;
  term: number;
  config: ConfigState;
  sizeBytes: number;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

export interface MessageBase {
  from: NodeId;
  to: NodeId;
  term: number;
}

export interface PreVoteMsg extends MessageBase {
  type: 'prevote';
  lastIndex: number;
  lastTerm: number;
}
export interface PreVoteRespMsg extends MessageBase {
  type: 'prevote-resp';
  reject: boolean;
}
export interface VoteMsg extends MessageBase {
  type: 'vote';
  lastIndex: number;
  lastTerm: number;
  /** Set when the election was started by a leadership transfer (TimeoutNow):
   *  voters then ignore their leader lease (thesis §3.10). */
  transfer: boolean;
}
export interface VoteRespMsg extends MessageBase {
  type: 'vote-resp';
  reject: boolean;
}
export interface AppendMsg extends MessageBase {
  type: 'append';
  prevIndex: number;
  prevTerm: number;
  entries: Entry[];
  commit: number;
}
export interface AppendRespMsg extends MessageBase {
  type: 'append-resp';
  reject: boolean;
  /** On success: the index of the last entry now matching the leader's log.
   *  On reject: the prevIndex of the append being rejected. */
  index: number;
  /** On reject, the fast-backtracking hint (thesis §5.3 optimisation, as in
   *  etcd-io/raft): the largest index ≤ min(index, follower's last index) whose
   *  term ≤ the leader's prevTerm, and that entry's term. */
  hintIndex: number;
  hintTerm: number;
}
export interface HeartbeatMsg extends MessageBase {
  type: 'heartbeat';
  commit: number;
  /** Read-index round this heartbeat confirms leadership for; 0 when none. */
  readRound: number;
}
export interface HeartbeatRespMsg extends MessageBase {
  type: 'heartbeat-resp';
  readRound: number;
}
export interface SnapshotMsg extends MessageBase {
  type: 'snapshot';
  meta: SnapshotMeta;
  /** Byte offset of this chunk within the snapshot. */
  offset: number;
  /** Number of bytes in this chunk. The core fills offset/length; the replica
   *  fills `data` from its snapshot store just before sending. */
  length: number;
  data: Uint8Array;
  done: boolean;
}
export interface SnapshotRespMsg extends MessageBase {
  type: 'snapshot-resp';
  snapshotIndex: number;
  /** The offset the follower expects next (resume point). When `done` it has
   *  installed the snapshot. */
  nextOffset: number;
  done: boolean;
  reject: boolean;
}
export interface TimeoutNowMsg extends MessageBase {
  type: 'timeout-now';
}
export interface ReadIndexMsg extends MessageBase {
  type: 'read-index';
  requestId: string;
}
export interface ReadIndexRespMsg extends MessageBase {
  type: 'read-index-resp';
  requestId: string;
  index: number;
  reject: boolean;
}

export type Message =
  | PreVoteMsg
  | PreVoteRespMsg
  | VoteMsg
  | VoteRespMsg
  | AppendMsg
  | AppendRespMsg
  | HeartbeatMsg
  | HeartbeatRespMsg
  | SnapshotMsg
  | SnapshotRespMsg
  | TimeoutNowMsg
  | ReadIndexMsg
  | ReadIndexRespMsg;

export type MessageType = Message['type'];

/** A linearizable read may be served once the local applied index ≥ index. */
export interface ReadState {
  requestId: string;
  index: number;
}

export interface ReadFailure {
  requestId: string;
  /** A TSR_ERR_* code from src/errors.ts. */
  code: string;
}

/** An incoming snapshot chunk the follower must persist before the ack
 *  message in the same Ready is sent. */
export interface SnapshotChunk {
  meta: SnapshotMeta;
  offset: number;
  data: Uint8Array;
  done: boolean;
}

export interface SoftState {
  role: Role;
  leader: NodeId | null;
  term: number;
}

/**
 * One batch of work from the core. The caller must, in this order:
 *  1. persist `snapshotChunks`, then `snapshot` (install), `entries` (append,
 *     truncating any stored entries at or after entries[0].index) and
 *     `hardState`, with one synced write;
 *  2. send `messages`;
 *  3. apply `committedEntries` in order (after installing `snapshot`);
 *  4. serve `readStates` once applied ≥ their index, fail `readFailures`;
 *  5. call advance(ready).
 */
export interface Ready {
  softState: SoftState | null;
  hardState: HardState | null;
  entries: Entry[];
  snapshotChunks: SnapshotChunk[];
  /** A snapshot fully received from the leader: restore the state machine
   *  from the assembled chunks; the log now starts after meta.index. */
  snapshot: SnapshotMeta | null;
  committedEntries: Entry[];
  messages: Message[];
  readStates: ReadState[];
  readFailures: ReadFailure[];
}

/** Deterministic randomness, injected (seeded in the simulator). */
export interface Prng {
  /** A uniformly distributed integer in [0, maxExclusive). */
  nextInt(maxExclusive: number): number;
}

/** Known bugs that the simulator can plant to prove its checkers work.
 *  Never set outside tests. */
export interface RaftTestingKnobs {
  /** Grant a vote even if one was already granted in this term. */
  voteTwice?: boolean;
  /** Commit an entry of a previous term by counting replicas (Figure 8). */
  commitOldTerm?: boolean;
}

export interface RaftConfig {
  id: NodeId;
  prng: Prng;
  /** Ticks without hearing from a leader before a follower campaigns. The
   *  actual timeout is drawn from [electionTimeoutTicks, 2·electionTimeoutTicks).
   *  Bounds: ≥ 2·heartbeatIntervalTicks + 1. Default 10. */
  electionTimeoutTicks?: number;
  /** Ticks between leader heartbeats. Default 1. */
  heartbeatIntervalTicks?: number;
  /** PreVote (thesis §9.6): a node that would lose an election does not bump
   *  the term. Default true. */
  preVote?: boolean;
  /** CheckQuorum (thesis §6.2): a leader that has not heard from a majority in
   *  an election timeout steps down. Default true. */
  checkQuorum?: boolean;
  /** Max append messages in flight per follower in replicate state. Default 64. */
  maxInflightMsgs?: number;
  /** Max entry bytes in flight per follower. Default 8 MiB. */
  maxInflightBytes?: number;
  /** Max entry bytes in one append message (at least one entry is always sent). Default 1 MiB. */
  maxAppendBytes?: number;
  /** Max bytes of committed entries handed out in one Ready. Default 16 MiB. */
  maxCommittedBytesPerReady?: number;
  /** A commit that gives followers at least this many entry bytes to apply
   *  is sent to them at once (an empty append); a smaller one goes with the
   *  next append, or at the next tick (Raft §5.3 lets followers learn the
   *  commit index from later appends). 0 sends every commit at once. Default 2 KiB. */
  commitNowBytes?: number;
  /** Max bytes of proposed-but-uncommitted entries on the leader; proposals
   *  beyond fail with TSR_ERR_PROPOSAL_BACKPRESSURE. Default 64 MiB. */
  maxUncommittedBytes?: number;
  /** Snapshot chunk size. Default 1 MiB. */
  snapshotChunkBytes?: number;
  /** Max read-index requests waiting on the leader. Default 10,000. */
  maxPendingReads?: number;
  testingKnobs?: RaftTestingKnobs;
}

export interface RaftInitialState {
  hardState: HardState;
  /** The latest snapshot on disk, or null. */
  snapshot: SnapshotMeta | null;
  /** Entries after the snapshot (or from index 1), contiguous. */
  entries: Entry[];
  /** Membership before the first log entry when there is no snapshot: empty
   *  for a cluster created with bootstrapLog() (membership is in the log) or
   *  for a node joining an existing cluster. */
  bootstrapConfig: ConfigState;
  /** Highest index already applied to the state machine (≥ snapshot index). */
  applied: number;
}

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export interface PeerProgress {
  match: number;
  next: number;
  state: ProgressState;
  recentActive: boolean;
  inflightMsgs: number;
  isLearner: boolean;
}

export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: number;
  vote: NodeId | null;
  leader: NodeId | null;
  commit: number;
  applied: number;
  firstIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  config: ConfigState;
  /** Only on the leader. */
  progress: Record<NodeId, PeerProgress>;
  transferringTo: NodeId | null;
}

/**
 * Whether a message from a Ready may be sent before that Ready is persisted.
 * Only leaders send these types, and they depend on nothing the Ready is
 * about to persist: the leader's term was made durable (with its own vote)
 * before it could ask for votes, and entries it sends need not be on its own
 * disk yet because the leader counts itself for commit only after its persist
 * (thesis §10.2.1: the leader writes its log in parallel with replication).
 * Everything else (votes, append acknowledgements, ...) waits for the persist.
 */
export function maySendBeforePersist(message: Message): boolean {
  return message.type === 'append' || message.type === 'heartbeat' || message.type === 'snapshot' || message.type === 'timeout-now';
}
