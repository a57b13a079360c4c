// The replica: the glue that turns the Raft core's Ready batches into I/O.
// Written only against interfaces (RaftLogStore, SnapshotStore, Transport,
// Clock, Prng, ReplicatedStateMachine) so that the real node and the
// simulator run this very code (ARCHITECTURE.md, "replica/").
//
// One Ready loop runs at a time. Each turn, in this order:
//   1. send the leader's messages that depend on nothing being persisted
//      (maySendBeforePersist: appends, heartbeats, snapshot chunks);
//   2. start persisting snapshot chunks, an installed snapshot, entries and
//      hard state (the log part is ONE save(): one sync per batch);
//   3. while that write is in flight, apply committed entries (already
//      durable on a majority) and answer the clients that proposed them,
//      serve reads whose read index ≤ applied — unless the Ready installs a
//      snapshot: then all of this waits for the write, after step 4, and
//      for the install (streamed from the snapshot file when the state
//      machine can: ReplicatedStateMachine.restoreFrom);
//   4. once the write is durable, send the other messages (snapshot chunks
//      filled from the SnapshotStore);
//   5. advance().
// Votes and append acknowledgements promise persisted state, which is why
// they wait for the save (docs/replica.md).
import { AssertionError, TsraftError, assert, rethrowIfBug } from '../errors.js';
import { bootstrapLog, EMPTY_CONFIG } from '../raft/bootstrap.js';
import { applyConfigChange, decodeConfigChange } from '../raft/config-change.js';
import { RaftNode } from '../raft/raft.js';
import type { ConfigChange, ConfigState, Entry, HardState, Message, NodeId, Ready, SnapshotMeta, SoftState } from '../raft/types.js';
import { maySendBeforePersist } from '../raft/types.js';
import { sameSnapshot } from '../storage/snapshot-file-codec.js';
import type { StoredRaftState } from '../storage/types.js';
import { PendingProposals, PendingReads, leadershipLost } from './pending.js';
import type {
  ProposeOptions,
  ReadBarrierOptions,
  ReplicaLifecycle,
  ReplicaMember,
  ReplicaOptions,
  ReplicaStatus,
  ReplicatedStateMachine,
} from './types.js';

const DEFAULTS = {
  tickIntervalMs: 50,
  snapshotEveryEntries: 10_000,
  snapshotEveryBytes: 256 * 1024 * 1024,
  persistEveryEntries: 10_000,
  persistEveryBytes: 16 * 1024 * 1024,
  persistEveryMs: 5_000,
  logEntriesKeptAfterSnapshot: 1_000,
  maxPendingProposals: 10_000,
  maxProposalBytes: 4 * 1024 * 1024,
  maxPendingReads: 10_000,
  proposalTimeoutMs: 10_000,
  readTimeoutMs: 10_000,
};
/** Leadership transfers waited on at once (operator actions: a handful). */
const MAX_TRANSFER_WAITERS = 16;

interface TransferWaiter {
  target: NodeId;
  resolve: () => void;
  reject: (error: TsraftError) => void;
  cancelTimer: () => void;
}

function checkRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `replica option ${name} must be an integer in [${min}, ${max}], got ${value}`, { details: { field: name } });
  }
  return value;
}

function cloneConfig(c: ConfigState): ConfigState {
  return { voters: [...c.voters], learners: [...c.learners], contexts: { ...c.contexts } };
}

export class Replica<R = unknown> {
  readonly id: NodeId;
  private readonly options: ReplicaOptions<R>;
  private readonly sm: ReplicatedStateMachine<R>;
  private readonly tickIntervalMs: number;
  private readonly snapshotEveryEntries: number;
  private readonly snapshotEveryBytes: number;
  private readonly logEntriesKeptAfterSnapshot: number;
  private readonly persistEveryEntries: number;
  private readonly persistEveryBytes: number;
  private readonly persistEveryMs: number;
  private readonly maxProposalBytes: number;
  private readonly proposalTimeoutMs: number;
  private readonly readTimeoutMs: number;
  private readonly defer: (fn: () => void) => void;

  private raftNode: RaftNode | null = null;
  private lifecycle: ReplicaLifecycle = 'created';
  private appliedIndexValue = 0;
  /** Membership as of the applied index (what a local snapshot records). */
  private appliedConfig: ConfigState = cloneConfig(EMPTY_CONFIG);
  /** Index of the latest local snapshot (taken or installed). */
  private snapshotIndex = 0;
  /** Entry bytes applied since the last local snapshot (snapshotEveryBytes). */
  private bytesAppliedSinceSnapshot = 0;
  /** State machine checkpoints (options.persistence): the applied index the
   *  last one captured, bytes applied since, when it was taken, the one in flight. */
  private persistedIndex = 0;
  private bytesAppliedSincePersist = 0;
  private lastPersistAtMs = 0;
  private persisting: Promise<void> | null = null;
  private soft: SoftState = { role: 'follower', leader: null, term: 0 };
  /** Term and vote of the hard state last saved: a save that changes
   *  neither (only the commit index) needs no sync. */
  private savedTerm = 0;
  private savedVote: NodeId | null = null;
  /** The newest hard state of Readies that moved only the commit index: not
   *  written on its own (the commit index is volatile), but with the next
   *  synced save and on stop. */
  private unsavedHardState: HardState | null = null;

  private readonly proposals: PendingProposals<R | undefined>;
  private readonly reads: PendingReads;
  private transferWaiters: TransferWaiter[] = [];
  /** Distinguishes read request ids of this process from earlier incarnations'. */
  private readonly incarnation: string;
  private nextReadNumber = 1;

  private loopRunning = false;
  private loopScheduled = false;
  private idleWaiters: Array<() => void> = [];
  private cancelTick: (() => void) | null = null;
  /** Peer ids the transport knows, to refresh it when a message goes elsewhere. */
  private knownPeers = new Set<NodeId>();
  private fatalError: unknown = null;

  constructor(options: ReplicaOptions<R>) {
    this.id = options.id;
    this.options = options;
    this.sm = options.stateMachine;
    this.tickIntervalMs = checkRange('tickIntervalMs', options.tickIntervalMs ?? DEFAULTS.tickIntervalMs, 1, 60_000);
    this.snapshotEveryEntries = checkRange('snapshotEveryEntries', options.snapshotEveryEntries ?? DEFAULTS.snapshotEveryEntries, 1, Number.MAX_SAFE_INTEGER);
    this.snapshotEveryBytes = checkRange('snapshotEveryBytes', options.snapshotEveryBytes ?? DEFAULTS.snapshotEveryBytes, 1, Number.MAX_SAFE_INTEGER);
    this.persistEveryEntries = checkRange('persistEveryEntries', options.persistEveryEntries ?? DEFAULTS.persistEveryEntries, 1, Number.MAX_SAFE_INTEGER);
    this.persistEveryBytes = checkRange('persistEveryBytes', options.persistEveryBytes ?? DEFAULTS.persistEveryBytes, 1, Number.MAX_SAFE_INTEGER);
    this.persistEveryMs = checkRange('persistEveryMs', options.persistEveryMs ?? DEFAULTS.persistEveryMs, 1, 86_400_000);
    this.logEntriesKeptAfterSnapshot = checkRange('logEntriesKeptAfterSnapshot', options.logEntriesKeptAfterSnapshot ?? DEFAULTS.logEntriesKeptAfterSnapshot, 0, Number.MAX_SAFE_INTEGER);
    this.maxProposalBytes = checkRange('maxProposalBytes', options.maxProposalBytes ?? DEFAULTS.maxProposalBytes, 1, 2 ** 31);
    this.proposalTimeoutMs = checkRange('proposalTimeoutMs', options.proposalTimeoutMs ?? DEFAULTS.proposalTimeoutMs, 1, 3_600_000);
    this.readTimeoutMs = checkRange('readTimeoutMs', options.readTimeoutMs ?? DEFAULTS.readTimeoutMs, 1, 3_600_000);
    const maxPendingProposals = checkRange('maxPendingProposals', options.maxPendingProposals ?? DEFAULTS.maxPendingProposals, 1, 10_000_000);
    const maxPendingReads = checkRange('maxPendingReads', options.maxPendingReads ?? DEFAULTS.maxPendingReads, 1, 10_000_000);
    this.proposals = new PendingProposals(options.clock, maxPendingProposals);
    this.reads = new PendingReads(options.clock, maxPendingReads);
    this.defer = options.defer ?? ((fn) => setImmediate(fn));
    this.incarnation = options.prng.nextInt(0x7fffffff).toString(36);
  }

  // ---------------------------------------------------------------------
  // Lifecycle

  /** Load storage, rebuild the state machine and the Raft node, start ticking. */
  async start(): Promise<void> {
    assert(this.lifecycle === 'created', `replica ${this.id}: start() in state ${this.lifecycle}`);
    this.lifecycle = 'starting';
    const { logStore, snapshotStore } = this.options;
    let stored = await logStore.load();
    // Verified, streamed: the data is read only when the state machine needs it.
    const local = await snapshotStore.loadMeta();
    if (local !== null && local.index > (stored.snapshot?.index ?? 0)) {
      // Crash between saving a snapshot file and recording it in the log
      // (docs/storage.md): record it now. A save with the snapshot keeps
      // the entries after it only when they match its term (Figure 13).
      await logStore.save({ hardState: null, entries: [], snapshot: local });
      stored = await logStore.load();
    }
    if (isEmpty(stored) && this.options.bootstrap !== null) {
      const boot = bootstrapLog(this.options.bootstrap);
      await logStore.save({ hardState: boot.hardState, entries: boot.entries, snapshot: null });
      stored = { hardState: boot.hardState, entries: boot.entries, snapshot: null };
    }

    let applied = 0;
    let config = cloneConfig(EMPTY_CONFIG);
    if (stored.snapshot !== null) {
      if (local === null || local.index !== stored.snapshot.index) {
        // The log records a snapshot the snapshot store does not hold (lost or
        // replaced outside tsraft): the state before the log cannot be rebuilt.
        throw new TsraftError('TSR_ERR_CORRUPT_SNAPSHOT', `replica ${this.id}: the log records snapshot ${stored.snapshot.index} but the snapshot store holds ${local === null ? 'none' : `snapshot ${local.index}`}`, {
          details: { index: stored.snapshot.index, localIndex: local?.index ?? null },
        });
      }
      if (this.sm.appliedIndex < stored.snapshot.index) {
        // A state machine persisted on its own may be a little behind the
        // local snapshot while the log still holds the entries in between
        // (committed: the snapshot covers them): apply those rather than
        // install the whole snapshot again.
        const behind = this.options.persistence != null && this.sm.appliedIndex > 0 ? await logStore.readEntries(this.sm.appliedIndex + 1, stored.snapshot.index) : null;
        if (behind !== null) {
          for (const e of behind) this.applyToStateMachine(e);
          assert(this.sm.appliedIndex >= stored.snapshot.index, `replica ${this.id}: replaying to snapshot ${stored.snapshot.index} stopped at ${this.sm.appliedIndex}`);
        } else {
          await this.restoreStateMachine(local);
        }
      }
      applied = stored.snapshot.index;
      config = cloneConfig(stored.snapshot.config);
      this.snapshotIndex = stored.snapshot.index;
    }
    // A state machine persisted on its own may be ahead of the snapshot. It
    // applied committed entries only, and a checkpoint is taken only once the
    // entries it covers are durable in this log (maybePersist), so they are
    // here; the saved commit index may lag behind it.
    let hardState = stored.hardState;
    if (this.sm.appliedIndex > applied) {
      const lastIndex = stored.entries.length > 0 ? stored.entries[stored.entries.length - 1]!.index : (stored.snapshot?.index ?? 0);
      if (this.sm.appliedIndex > lastIndex) {
        throw new TsraftError('TSR_ERR_CORRUPT_STATE', `replica ${this.id}: the state machine applied up to index ${this.sm.appliedIndex} but the log ends at ${lastIndex} (the log was lost or replaced; rebuild this node)`, {
          details: { stateMachineIndex: this.sm.appliedIndex, lastIndex },
        });
      }
      applied = this.sm.appliedIndex;
    }
    // Everything applied or in the snapshot is committed; the saved commit
    // index may lag behind it (commit-only Readies are not written).
    if (hardState.commit < applied) hardState = { ...hardState, commit: applied };
    this.persistedIndex = applied;
    for (const e of stored.entries) {
      if (e.index > applied) break;
      if (e.kind === 'config') config = applyConfigEntry(config, e);
    }
    this.appliedIndexValue = applied;
    this.appliedConfig = config;
    this.savedTerm = stored.hardState.term;
    this.savedVote = stored.hardState.vote;

    const raftOptions = this.options.raft ?? {};
    this.raftNode = new RaftNode(
      { ...raftOptions, id: this.id, prng: this.options.prng },
      { hardState, snapshot: stored.snapshot, entries: stored.entries, bootstrapConfig: EMPTY_CONFIG, applied },
    );
    const s = this.raftNode.status();
    this.soft = { role: s.role, leader: s.leader, term: s.term };
    this.refreshPeers();
    this.options.transport.onMessage((m) => this.onMessage(m));
    this.lifecycle = 'running';
    this.lastPersistAtMs = this.options.clock.nowMs();
    this.armTick();
    this.schedule();
  }

  /** Stop: refuse new requests, let in-flight proposals finish for up to
   *  graceMs, then stop ticking and fail what is left with TSR_ERR_SHUTTING_DOWN.
   *  The stores and the transport belong to the caller, who closes them after. */
  async stop(graceMs = 0): Promise<void> {
    if (this.lifecycle === 'stopped' || this.lifecycle === 'failed' || this.lifecycle === 'created') {
      this.lifecycle = this.lifecycle === 'created' ? 'stopped' : this.lifecycle;
      return;
    }
    if (this.lifecycle === 'running' && graceMs > 0 && (this.proposals.size > 0 || this.reads.size > 0)) {
      this.lifecycle = 'stopping';
      await new Promise<void>((resolve) => {
        let done = false;
        const finish = (): void => {
          done = true;
          resolve();
        };
        const cancel = this.options.clock.setTimer(graceMs, finish);
        const poll = (): void => {
          if (done) return;
          if (this.proposals.size === 0 && this.reads.size === 0) {
            cancel();
            finish();
          } else {
            this.idleWaiters.push(poll);
          }
        };
        poll();
      });
    }
    this.lifecycle = 'stopping';
    this.halt();
    await this.whenLoopIdle();
    // A last checkpoint, so the next start replays nothing.
    if (this.isLive()) {
      try {
        await this.persisting;
        if (this.unsavedHardState !== null) {
          const hs = this.unsavedHardState;
          this.unsavedHardState = null;
          await this.options.logStore.save({ hardState: hs, entries: [], snapshot: null, sync: false });
        }
        if (this.isLive() && this.options.persistence != null && this.appliedIndexValue > this.persistedIndex) {
          this.persistedIndex = this.appliedIndexValue;
          await this.options.persistence.persist();
        }
      } catch (error) {
        this.fail(error);
      }
    }
    if ((this.lifecycle as ReplicaLifecycle) !== 'failed') this.lifecycle = 'stopped';
  }

  get state(): ReplicaLifecycle {
    return this.lifecycle;
  }

  /** The error that stopped this replica, if any. */
  get fatal(): unknown {
    return this.fatalError;
  }

  get appliedIndex(): number {
    return this.appliedIndexValue;
  }

  /** Whether this node leads, as of the last Ready handled. Cheap (unlike
   *  status()): for routing every client write. */
  get isLeader(): boolean {
    return this.soft.role === 'leader' && this.soft.leader === this.id;
  }

  /** The term of log entry `index` if it is still in memory (checkers, tests). */
  termAt(index: number): number | undefined {
    return this.raftNode?.termOf(index);
  }

  // ---------------------------------------------------------------------
  // Client operations

  /**
   * Propose `data` for the log. Resolves with the state machine's result once
   * the entry is applied on this node (the leader). Fails with
   * TSR_ERR_NOT_LEADER (details.leader, details.leaderUrl), TSR_ERR_NO_LEADER,
   * TSR_ERR_LEADERSHIP_LOST (outcome unknown), TSR_ERR_TIMEOUT (outcome
   * unknown), TSR_ERR_PROPOSAL_BACKPRESSURE or TSR_ERR_SHUTTING_DOWN.
   */
  propose(data: Uint8Array, options: ProposeOptions = {}): Promise<R> {
    const refused = this.refuseRequest();
    if (refused !== null) return Promise.reject(refused);
    if (data.length > this.maxProposalBytes) {
      return Promise.reject(
        new TsraftError('TSR_ERR_BATCH_TOO_LARGE', `a proposal of ${data.length} bytes exceeds maxProposalBytes (${this.maxProposalBytes})`, {
          details: { limit: 'maxProposalBytes', maxProposalBytes: this.maxProposalBytes, actual: data.length },
        }),
      );
    }
    if (this.proposals.full()) return Promise.reject(this.tooManyProposals());
    const result = this.raft.propose(data);
    if (!result.ok) return Promise.reject(this.withLeaderUrl(result.error));
    this.schedule();
    return this.proposals.add(result.index, result.term, options.timeoutMs ?? this.proposalTimeoutMs) as Promise<R>;
  }

  /**
   * Resolves with the applied index once a linearizable read may be served
   * from local state (thesis §6.4: a read index confirmed by a quorum, then
   * applied ≥ it). With consistency 'stale' it resolves at once.
   */
  readBarrier(options: ReadBarrierOptions = {}): Promise<number> {
    const refused = this.refuseRequest();
    if (refused !== null) return Promise.reject(refused);
    if (options.consistency === 'stale' || this.options.testingKnobs?.staleRead === true) return Promise.resolve(this.appliedIndexValue);
    if (this.reads.full()) {
      return Promise.reject(new TsraftError('TSR_ERR_TOO_MANY_PENDING_READS', `${this.reads.maxPending} reads already wait on node ${this.id}`));
    }
    const requestId = `${this.id}.${this.incarnation}.${this.nextReadNumber++}`;
    const result = this.raft.readIndex(requestId);
    if (!result.ok) return Promise.reject(this.withLeaderUrl(result.error));
    this.schedule();
    return this.reads.add(requestId, options.timeoutMs ?? this.readTimeoutMs);
  }

  /** Add a member (as a learner, or as a voter; adding an existing learner as
   *  a voter promotes it). Resolves once the change is applied here. */
  addNode(nodeId: NodeId, url: string, as: 'learner' | 'voter' = 'learner', options: ProposeOptions = {}): Promise<void> {
    return this.proposeConfigChange({ op: as === 'voter' ? 'add-voter' : 'add-learner', nodeId, context: url }, options);
  }

  removeNode(nodeId: NodeId, options: ProposeOptions = {}): Promise<void> {
    return this.proposeConfigChange({ op: 'remove', nodeId, context: '' }, options);
  }

  /** Hand leadership to `target`; resolves when this node sees it lead. */
  transferLeader(target: NodeId, options: ProposeOptions = {}): Promise<void> {
    const refused = this.refuseRequest();
    if (refused !== null) return Promise.reject(refused);
    if (this.transferWaiters.length >= MAX_TRANSFER_WAITERS) {
      return Promise.reject(new TsraftError('TSR_ERR_TRANSFER_IN_PROGRESS', `${MAX_TRANSFER_WAITERS} leadership transfers are already waited on`));
    }
    const result = this.raft.transferLeadership(target);
    if (!result.ok) return Promise.reject(this.withLeaderUrl(result.error));
    this.schedule();
    const timeoutMs = options.timeoutMs ?? this.proposalTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      const waiter: TransferWaiter = {
        target,
        resolve,
        reject,
        cancelTimer: this.options.clock.setTimer(timeoutMs, () => {
          this.transferWaiters = this.transferWaiters.filter((w) => w !== waiter);
          reject(new TsraftError('TSR_ERR_TIMEOUT', `leadership did not move to ${target} within ${timeoutMs} ms`, { details: { target } }));
        }),
      };
      this.transferWaiters.push(waiter);
    });
  }

  status(): ReplicaStatus {
    const raft = this.raftNode;
    if (raft === null) {
      return {
        id: this.id,
        lifecycle: this.lifecycle,
        role: 'follower',
        learner: false,
        leader: null,
        leaderUrl: null,
        term: 0,
        commitIndex: 0,
        appliedIndex: this.appliedIndexValue,
        lastIndex: 0,
        snapshotIndex: this.snapshotIndex,
        members: [],
        progress: {},
        pendingProposals: 0,
        pendingReads: 0,
      };
    }
    const s = raft.status();
    const members: ReplicaMember[] = [];
    for (const id of s.config.voters) members.push({ id, url: s.config.contexts[id] ?? '', role: id === s.leader ? 'leader' : 'follower' });
    for (const id of s.config.learners) members.push({ id, url: s.config.contexts[id] ?? '', role: 'learner' });
    members.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return {
      id: this.id,
      lifecycle: this.lifecycle,
      role: s.role,
      learner: s.config.learners.includes(this.id),
      leader: s.leader,
      leaderUrl: s.leader === null ? null : (s.config.contexts[s.leader] ?? null),
      term: s.term,
      commitIndex: s.commit,
      appliedIndex: this.appliedIndexValue,
      lastIndex: s.lastIndex,
      snapshotIndex: s.snapshotIndex,
      members,
      progress: s.progress,
      pendingProposals: this.proposals.size,
      pendingReads: this.reads.size,
    };
  }

  // ---------------------------------------------------------------------
  // Inputs: ticks and messages

  private get raft(): RaftNode {
    assert(this.raftNode !== null, `replica ${this.id}: used before start()`);
    return this.raftNode;
  }

  private armTick(): void {
    this.cancelTick = this.options.clock.setTimer(this.tickIntervalMs, () => {
      if (this.lifecycle !== 'running' && this.lifecycle !== 'stopping') return;
      this.armTick();
      this.guard(() => this.raft.tick());
      // An idle loop has persisted every Ready it applied: a checkpoint may be taken now.
      if (!this.loopRunning) this.maybePersist();
      this.schedule();
    });
  }

  /** Start a state machine checkpoint when one is due (and none is in
   *  flight). Called only between Readys: every entry applied so far is then
   *  durable in the log, so the checkpoint never gets ahead of it. */
  private maybePersist(): void {
    const persistence = this.options.persistence;
    if (persistence == null || this.persisting !== null || this.lifecycle !== 'running') return;
    const pending = this.appliedIndexValue - this.persistedIndex;
    if (pending <= 0) return;
    const now = this.options.clock.nowMs();
    if (pending < this.persistEveryEntries && this.bytesAppliedSincePersist < this.persistEveryBytes && now - this.lastPersistAtMs < this.persistEveryMs) return;
    this.persistedIndex = this.appliedIndexValue;
    this.bytesAppliedSincePersist = 0;
    this.lastPersistAtMs = now;
    this.persisting = persistence.persist().then(
      () => {
        this.persisting = null;
      },
      (error: unknown) => {
        this.persisting = null;
        this.fail(error);
      },
    );
  }

  private onMessage(m: Message): void {
    if (this.lifecycle !== 'running' && this.lifecycle !== 'stopping') return;
    this.guard(() => this.raft.step(m));
    this.schedule();
  }

  /** Run core code; a throw from the core is a bug (it never throws on bad input). */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.fail(error);
    }
  }

  private refuseRequest(): TsraftError | null {
    if (this.lifecycle === 'running') return null;
    return new TsraftError('TSR_ERR_SHUTTING_DOWN', `node ${this.id} is ${this.lifecycle} and accepts no requests`, { details: { lifecycle: this.lifecycle } });
  }

  private tooManyProposals(): TsraftError {
    return new TsraftError('TSR_ERR_PROPOSAL_BACKPRESSURE', `${this.proposals.maxPending} proposals already wait on node ${this.id} (maxPendingProposals)`, {
      details: { limit: 'maxPendingProposals' },
    });
  }

  /** The core's NOT_LEADER carries the leader's context; name it as its URL. */
  private withLeaderUrl(error: TsraftError): TsraftError {
    if (error.code !== 'TSR_ERR_NOT_LEADER') return error;
    const details = error.details as { leader?: NodeId; leaderContext?: string | null };
    return new TsraftError('TSR_ERR_NOT_LEADER', error.message, {
      details: { leader: details.leader ?? null, leaderUrl: details.leaderContext ?? null },
    });
  }

  private proposeConfigChange(change: ConfigChange, options: ProposeOptions): Promise<void> {
    const refused = this.refuseRequest();
    if (refused !== null) return Promise.reject(refused);
    if (this.proposals.full()) return Promise.reject(this.tooManyProposals());
    const result = this.raft.proposeConfigChange(change);
    if (!result.ok) return Promise.reject(this.withLeaderUrl(result.error));
    this.schedule();
    return this.proposals.add(result.index, result.term, options.timeoutMs ?? this.proposalTimeoutMs).then(() => undefined);
  }

  // ---------------------------------------------------------------------
  // The Ready loop

  private schedule(): void {
    if (this.loopRunning || this.loopScheduled || this.lifecycle === 'failed' || this.lifecycle === 'stopped') return;
    this.loopScheduled = true;
    this.defer(() => {
      this.loopScheduled = false;
      void this.runLoop();
    });
  }

  private async runLoop(): Promise<void> {
    if (this.loopRunning) return;
    this.loopRunning = true;
    try {
      while (this.isLive() && this.raft.hasReady()) {
        const rd = this.raft.ready();
        const handled = await this.handleReady(rd);
        if (!handled || !this.isLive()) return;
        this.raft.advance(rd);
        for (const e of rd.committedEntries) {
          this.bytesAppliedSinceSnapshot += e.data.length;
          this.bytesAppliedSincePersist += e.data.length;
        }
        // Snapshot (and compact the log) every N entries or every N bytes of entries, whichever comes first.
        if (this.appliedIndexValue - this.snapshotIndex >= this.snapshotEveryEntries || this.bytesAppliedSinceSnapshot >= this.snapshotEveryBytes) {
          await this.takeSnapshot();
        }
        this.maybePersist();
      }
    } catch (error) {
      this.fail(error);
    } finally {
      this.loopRunning = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private isLive(): boolean {
    return this.lifecycle === 'running' || this.lifecycle === 'stopping';
  }

  /** Returns false when the replica stopped meanwhile (then nothing more is done). */
  private async handleReady(rd: Ready): Promise<boolean> {
    if (this.options.testingKnobs?.ackBeforeSync === true) {
      // Planted bug: acknowledge (and vote) before the write is durable.
      const persisted = this.persist(rd);
      persisted.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
      await this.send(rd.messages);
      await persisted;
      if (!this.isLive()) return false;
      this.options.observer?.onPersisted?.(this.id, rd.entries);
      if (!this.isLive()) return false;
      if (rd.snapshot !== null) await this.installSnapshot(rd.snapshot);
      if (!this.isLive()) return false;
      this.applyReady(rd);
      return true;
    }
    // A leader's appends, heartbeats, snapshot chunks and timeout-now go
    // out before its own sync, so the followers' fsyncs overlap the
    // leader's (docs/raft.md, "Persistence contract" rule 6). Everything
    // else promises persisted state and waits for the save.
    const early: Message[] = [];
    const late: Message[] = [];
    for (const m of rd.messages) (maySendBeforePersist(m) ? early : late).push(m);
    await this.send(early);
    if (!this.isLive()) return false;
    // Committed entries are durable on a majority already (a leader counts
    // its own copy only after its persist, rule 2), so applying them and
    // answering their clients need not wait for this Ready's own write
    // (as etcd applies while its WAL syncs). An installed snapshot must be
    // durable and recorded in the log before the state machine is restored
    // from it, and the rest of the Ready applies on top of it.
    // (A Ready that moves only the commit index writes nothing: see persist.)
    const applyNow = rd.snapshot === null;
    const persisting = this.persist(rd);
    if (applyNow) {
      persisting.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
      this.applyReady(rd);
    }
    await persisting;
    if (!this.isLive()) return false;
    this.options.observer?.onPersisted?.(this.id, rd.entries);
    await this.send(late);
    if (!this.isLive()) return false;
    if (!applyNow) {
      await this.installSnapshot(rd.snapshot!);
      if (!this.isLive()) return false;
      this.applyReady(rd);
    }
    return true;
  }

  /** Steps 4–6: apply committed entries, serve reads, follow role changes (after installSnapshot, if any). */
  private applyReady(rd: Ready): void {
    const configChanged = this.applyCommitted(rd.committedEntries);
    for (const r of rd.readStates) this.reads.confirmed(r.requestId, r.index, this.appliedIndexValue);
    for (const f of rd.readFailures) {
      this.reads.failed(f.requestId, new TsraftError(f.code as TsraftError['code'], `read ${f.requestId}: the read index could not be confirmed`, { details: { requestId: f.requestId } }));
    }
    this.reads.appliedTo(this.appliedIndexValue);
    if (rd.softState !== null) this.onSoftState(rd.softState);
    if (configChanged || rd.snapshot !== null) this.refreshPeers();
  }

  /** Step 1: make the Ready durable (an installed snapshot becomes the local snapshot file). */
  private async persist(rd: Ready): Promise<void> {
    const { logStore, snapshotStore } = this.options;
    for (const chunk of rd.snapshotChunks) await snapshotStore.writeIncomingChunk(chunk.meta, chunk.offset, chunk.data);
    if (rd.snapshot !== null) await snapshotStore.promoteIncoming(rd.snapshot);
    if (rd.hardState !== null || rd.entries.length > 0 || rd.snapshot !== null) {
      // Raft's commit index is volatile state (a restarted node learns it
      // again from the leader, and start-up raises it to what the state
      // machine applied): a Ready that moves only the commit index is not
      // written at all; its hard state goes with the next synced save, so
      // applying a committed entry costs no store write (docs/replica.md,
      // "Sync policy").
      if (!this.needsSync(rd)) {
        this.unsavedHardState = rd.hardState;
        return;
      }
      const hs = rd.hardState ?? this.unsavedHardState;
      this.unsavedHardState = null;
      const saved = logStore.save({ hardState: hs, entries: rd.entries, snapshot: rd.snapshot, sync: true });
      if (hs !== null) {
        this.savedTerm = hs.term;
        this.savedVote = hs.vote;
      }
      await saved;
    }
  }

  /** Whether saving `rd` needs an fsync: new entries, a snapshot, or a new term or vote. */
  private needsSync(rd: Ready): boolean {
    const hs = rd.hardState;
    return rd.entries.length > 0 || rd.snapshot !== null || rd.snapshotChunks.length > 0 || (hs !== null && (hs.term !== this.savedTerm || hs.vote !== this.savedVote));
  }

  /** Step 2: send, filling snapshot chunks from the local snapshot. */
  private async send(messages: Message[]): Promise<void> {
    if (messages.length === 0) return;
    const out: Message[] = [];
    for (const m of messages) {
      if (m.type !== 'snapshot') {
        out.push(m);
        continue;
      }
      try {
        const data = await this.options.snapshotStore.readChunk(m.meta, m.offset, m.length);
        assert(data.length === m.length, `snapshot chunk ${m.offset}+${m.length} read ${data.length} bytes`);
        out.push({ ...m, data });
      } catch (error) {
        rethrowIfBug(error);
        // The local snapshot was replaced since the core chose it: the core
        // starts over with the new one. Corruption is fatal (never served).
        if (error instanceof TsraftError && error.code === 'TSR_ERR_SNAPSHOT_UNAVAILABLE') this.raft.reportSnapshotFailed(m.to);
        else throw error;
      }
    }
    if (!this.isLive()) return;
    for (const m of out) {
      if (!this.knownPeers.has(m.to)) {
        this.refreshPeers();
        break;
      }
    }
    if (out.length > 0) this.options.transport.send(out);
  }

  /** Replace the state machine with the snapshot the Ready installs, durable by now. */
  private async installSnapshot(meta: SnapshotMeta): Promise<void> {
    // A checkpoint in flight writes the old state: it lands before the
    // install replaces that state in the state machine's store.
    await this.persisting;
    await this.restoreStateMachine(meta);
    this.appliedIndexValue = meta.index;
    this.appliedConfig = cloneConfig(meta.config);
    this.snapshotIndex = meta.index;
    this.bytesAppliedSinceSnapshot = 0;
    // The state machine's stored copy describes the old state: replace it soon.
    this.bytesAppliedSincePersist = Number.MAX_SAFE_INTEGER;
    if (this.persistedIndex >= meta.index) this.persistedIndex = meta.index - 1;
    this.options.observer?.onSnapshotInstalled?.(this.id, meta);
  }

  /** Restore the state machine from the local snapshot `meta`: streamed from
   *  the file when it can (never holding the snapshot whole), else in memory. */
  private async restoreStateMachine(meta: SnapshotMeta): Promise<void> {
    const { snapshotStore } = this.options;
    if (this.sm.restoreFrom !== undefined) {
      await this.sm.restoreFrom(meta, snapshotStore.readData(meta));
    } else {
      const local = await snapshotStore.load();
      assert(local !== null && sameSnapshot(local.meta, meta), `replica ${this.id}: the local snapshot is not ${meta.index}, which was just made durable`);
      this.sm.restore(local.data);
    }
    // The snapshot reflects every entry up to its index (its last may be a no-op).
    if (this.sm.appliedIndex < meta.index) this.sm.noteUnappliedEntry?.(meta.index);
  }

  /** A committed entry to the state machine: applied when it carries data,
   *  else (configuration change, leader's no-op) only noted as passed. */
  private applyToStateMachine(e: Entry): R | undefined {
    if (e.kind !== 'config' && e.data.length > 0) return this.sm.apply(e.index, e.data);
    this.sm.noteUnappliedEntry?.(e.index);
    return undefined;
  }

  /** Step 4. Returns whether a configuration entry was applied. */
  private applyCommitted(entries: Entry[]): boolean {
    let configChanged = false;
    const observer = this.options.observer;
    for (const e of entries) {
      if (!(e.index === this.appliedIndexValue + 1)) throw new AssertionError(`replica ${this.id}: applying ${e.index} after ${this.appliedIndexValue}`);
      if (e.kind === 'config') {
        this.appliedConfig = applyConfigEntry(this.appliedConfig, e);
        configChanged = true;
      }
      const result = this.applyToStateMachine(e);
      this.appliedIndexValue = e.index;
      observer?.onApplied?.(this.id, e, result);
      this.proposals.applied(e.index, e.term, result);
    }
    return configChanged;
  }

  private onSoftState(soft: SoftState): void {
    const wasLeader = this.soft.role === 'leader';
    this.soft = soft;
    this.options.observer?.onSoftState?.(this.id, soft);
    if (wasLeader && (soft.role !== 'leader' || soft.leader !== this.id)) {
      this.proposals.failAll((p) => leadershipLost(p.index, p.term, `node ${this.id} is now ${soft.role} in term ${soft.term}`));
    }
    if (soft.leader !== null && this.transferWaiters.length > 0) {
      const done = this.transferWaiters.filter((w) => w.target === soft.leader);
      this.transferWaiters = this.transferWaiters.filter((w) => w.target !== soft.leader);
      for (const w of done) {
        w.cancelTimer();
        w.resolve();
      }
    }
  }

  /** Take a local snapshot at the applied index and compact the log behind it. */
  private async takeSnapshot(): Promise<void> {
    const index = this.appliedIndexValue;
    const term = this.raft.termOf(index);
    if (term === undefined) return; // the log moved past it (a snapshot was installed)
    const base = { index, term, config: cloneConfig(this.appliedConfig) };
    // A state machine that streams its snapshot never holds it whole (data larger than memory).
    const stream = this.sm.writeSnapshot?.bind(this.sm);
    let data: Uint8Array | null = null;
    let meta: SnapshotMeta;
    if (stream !== undefined) meta = await this.options.snapshotStore.saveStream(base, stream);
    else {
      data = this.sm.snapshot();
      meta = { ...base, sizeBytes: data.length };
      await this.options.snapshotStore.save(meta, data);
    }
    if (!this.isLive()) return;
    await this.options.logStore.recordSnapshot(meta);
    if (!this.isLive()) return;
    this.snapshotIndex = Math.max(this.snapshotIndex, index);
    this.bytesAppliedSinceSnapshot = 0;
    this.options.observer?.onSnapshotTaken?.(this.id, meta, data);
    // While the stores were busy an incoming snapshot may have replaced the
    // in-memory log; then the core already holds a newer snapshot.
    if (this.raft.termOf(index) !== term) return;
    this.raft.snapshotCreated(meta);
    const upTo = index - this.logEntriesKeptAfterSnapshot;
    if (upTo <= 0 || upTo < this.raft.status().firstIndex) return;
    await this.options.logStore.compact(upTo);
    if (!this.isLive()) return;
    if (this.raft.status().snapshotIndex >= upTo) this.raft.compactLog(upTo);
  }

  private refreshPeers(): void {
    const config = this.raft.status().config;
    const peers: Record<NodeId, string> = {};
    for (const id of [...config.voters, ...config.learners]) if (id !== this.id) peers[id] = config.contexts[id] ?? '';
    // A node joining a running cluster knows no membership until the leader
    // sends it; an empty peer map would also drop the leader's connection to
    // it. Until then it keeps the members it was told about (joinPeers).
    const joining = Object.keys(peers).length === 0 && config.voters.length === 0 && config.learners.length === 0;
    const effective = joining && this.options.joinPeers != null ? { ...this.options.joinPeers } : peers;
    delete effective[this.id];
    this.knownPeers = new Set(Object.keys(effective));
    this.options.transport.setPeers(effective);
  }

  // ---------------------------------------------------------------------
  // Failure

  /** Stop ticking and fail every waiting request. */
  private halt(): void {
    this.cancelTick?.();
    this.cancelTick = null;
    const stopped = (what: string): TsraftError =>
      new TsraftError('TSR_ERR_SHUTTING_DOWN', `node ${this.id} stopped before ${what} completed`, { details: { lifecycle: this.lifecycle } });
    this.proposals.failAll((p) => stopped(`the proposal at index ${p.index}`));
    this.reads.failAll((id) => stopped(`read ${id}`));
    const waiters = this.transferWaiters;
    this.transferWaiters = [];
    for (const w of waiters) {
      w.cancelTimer();
      w.reject(stopped(`the transfer to ${w.target}`));
    }
  }

  /** Fatal tier: a storage failure or a bug. Stop everything and report once. */
  private fail(error: unknown): void {
    if (this.lifecycle === 'failed') return;
    this.fatalError = error;
    this.lifecycle = 'failed';
    this.halt();
    const onFatal =
      this.options.onFatal ??
      ((e: unknown) =>
        queueMicrotask(() => {
          throw e;
        }));
    onFatal(error);
  }

  private whenLoopIdle(): Promise<void> {
    if (!this.loopRunning) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

function isEmpty(stored: StoredRaftState): boolean {
  return stored.snapshot === null && stored.entries.length === 0 && stored.hardState.term === 0 && stored.hardState.vote === null;
}

function applyConfigEntry(config: ConfigState, e: Entry): ConfigState {
  const change = decodeConfigChange(e.data);
  // The core validated the change when it was proposed; it skips garbage too.
  return change === undefined ? config : applyConfigChange(config, change);
}
