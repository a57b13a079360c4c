// The Raft consensus core: pure and synchronous. Messages and ticks go in
// (step, tick, propose, readIndex, ...), batches of work come out (ready()),
// and the caller acknowledges them with advance() after persisting. It never
// touches a disk, a socket or a clock, so the server and the simulator drive
// the very same code, and a seed reproduces a run.
//
// Section references are to Ongaro's thesis ("Consensus: Bridging Theory and
// Practice", 2014) and the Raft paper (Ongaro & Ousterhout, 2014).
import { TsraftError, assert } from '../errors.js';
import { applyConfigChange, cloneConfig, configChangeProblem, decodeConfigChange, encodeConfigChange, isMember } from './config-change.js';
import { RaftLog, entryBytes } from './log.js';
import { Progress } from './progress.js';
import type {
  AppendMsg,
  AppendRespMsg,
  ConfigChange,
  ConfigState,
  Entry,
  HardState,
  HeartbeatMsg,
  HeartbeatRespMsg,
  Message,
  NodeId,
  PeerProgress,
  Prng,
  RaftConfig,
  RaftInitialState,
  RaftStatus,
  RaftTestingKnobs,
  ReadFailure,
  ReadIndexMsg,
  ReadIndexRespMsg,
  ReadState,
  Ready,
  Role,
  SnapshotChunk,
  SnapshotMeta,
  SnapshotMsg,
  SnapshotRespMsg,
  SoftState,
  VoteMsg,
  PreVoteMsg,
} from './types.js';
import { validateMessage } from './validate-message.js';

export type ProposeResult = { ok: true; index: number; term: number } | { ok: false; error: TsraftError };
export type RaftResult = { ok: true } | { ok: false; error: TsraftError };

/** Messages without `from`, `to`, `term`: the core fills those in. */
type Outgoing<T extends Message> = Omit<T, 'from' | 'to' | 'term'>;
type AnyOutgoing = { [K in Message['type']]: Outgoing<Extract<Message, { type: K }>> }[Message['type']];

interface PendingRead {
  requestId: string;
  /** The commit index when the read arrived: the read index. */
  index: number;
  /** Heartbeat round that must be acknowledged by a quorum. */
  round: number;
  /** Local read, or the follower that forwarded it. */
  from: NodeId;
}

interface IncomingSnapshot {
  meta: SnapshotMeta;
  nextOffset: number;
}

interface Limits {
  electionTimeoutTicks: number;
  heartbeatIntervalTicks: number;
  preVote: boolean;
  checkQuorum: boolean;
  maxInflightMsgs: number;
  maxInflightBytes: number;
  maxAppendBytes: number;
  maxCommittedBytesPerReady: number;
  commitNowBytes: number;
  maxUncommittedBytes: number;
  snapshotChunkBytes: number;
  maxPendingReads: number;
}

function withDefaults(c: RaftConfig): Limits {
  const limits: Limits = {
    electionTimeoutTicks: c.electionTimeoutTicks ?? 10,
    heartbeatIntervalTicks: c.heartbeatIntervalTicks ?? 1,
    preVote: c.preVote ?? true,
    checkQuorum: c.checkQuorum ?? true,
    maxInflightMsgs: c.maxInflightMsgs ?? 64,
    maxInflightBytes: c.maxInflightBytes ?? 8 * 1024 * 1024,
    maxAppendBytes: c.maxAppendBytes ?? 1024 * 1024,
    maxCommittedBytesPerReady: c.maxCommittedBytesPerReady ?? 16 * 1024 * 1024,
    commitNowBytes: c.commitNowBytes ?? 2048,
    maxUncommittedBytes: c.maxUncommittedBytes ?? 64 * 1024 * 1024,
    snapshotChunkBytes: c.snapshotChunkBytes ?? 1024 * 1024,
    maxPendingReads: c.maxPendingReads ?? 10_000,
  };
  if (limits.heartbeatIntervalTicks < 1) throw new RangeError('raft: heartbeatIntervalTicks must be ≥ 1');
  if (!(Number.isSafeInteger(limits.commitNowBytes) && limits.commitNowBytes >= 0)) throw new RangeError('raft: commitNowBytes must be an integer ≥ 0');
  if (limits.electionTimeoutTicks < 2 * limits.heartbeatIntervalTicks + 1) {
    throw new RangeError('raft: electionTimeoutTicks must be ≥ 2·heartbeatIntervalTicks + 1');
  }
  for (const key of ['maxInflightMsgs', 'maxInflightBytes', 'maxAppendBytes', 'maxCommittedBytesPerReady', 'maxUncommittedBytes', 'snapshotChunkBytes', 'maxPendingReads'] as const) {
    if (!(limits[key] >= 1)) throw new RangeError(`raft: ${key} must be ≥ 1`);
  }
  return limits;
}

export class RaftNode {
  readonly id: NodeId;
  private readonly limits: Limits;
  private readonly prng: Prng;
  private readonly knobs: RaftTestingKnobs;

  private role: Role = 'follower';
  private term: number;
  private vote: NodeId | null;
  private leader: NodeId | null = null;
  private readonly log: RaftLog;
  private config: ConfigState;
  /** The snapshot this node holds locally (sent to followers that need it). */
  private snapshot: SnapshotMeta | null;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;

  // Candidate state.
  private votes = new Map<NodeId, boolean>();

  // Leader state.
  private progress = new Map<NodeId, Progress>();
  private pendingConfigIndex = 0;
  private uncommittedBytes = 0;
  private transferTarget: NodeId | null = null;
  private transferElapsed = 0;
  private needBroadcast = false;
  /** The commit index moved since followers were last told (sendPendingCommits). */
  private commitUnsent = false;
  /** Entry bytes committed since followers were last told at once. */
  private commitUnsentBytes = 0;
  private readRound = 0;
  private readRoundSent = 0;
  private readonly roundAcks = new Map<NodeId, number>();
  private pendingReads: PendingRead[] = [];
  /** Reads that arrived before this leader committed an entry of its term. */
  private readsAwaitingCommit: Array<{ requestId: string; from: NodeId }> = [];

  // Follower state.
  private forwardedReads = new Set<string>();
  private incomingSnapshot: IncomingSnapshot | null = null;

  // Output waiting for the next Ready.
  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private readFailures: ReadFailure[] = [];
  private snapshotChunks: SnapshotChunk[] = [];
  private pendingSnapshotInstall: SnapshotMeta | null = null;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private readyOutstanding = false;

  /** Highest log index whose configuration change (if any) is in effect. */
  private lastConfigApplied = 0;

  private stepRole: (m: Message) => void = (m) => this.stepFollower(m);
  private tickRole: () => void = () => this.tickElection();

  constructor(config: RaftConfig, initial: RaftInitialState) {
    this.id = config.id;
    this.limits = withDefaults(config);
    this.prng = config.prng;
    this.knobs = config.testingKnobs ?? {};
    this.term = initial.hardState.term;
    this.vote = initial.hardState.vote;
    this.snapshot = initial.snapshot;
    this.log = new RaftLog(initial.snapshot, initial.entries, initial.hardState.commit, initial.applied);
    this.config = cloneConfig(initial.snapshot?.config ?? initial.bootstrapConfig);
    // An empty configuration is a node joining an existing cluster: it waits
    // for the leader to send it the log (or a snapshot) carrying membership.
    // Configuration takes effect when its entry commits; replay committed ones.
    this.lastConfigApplied = this.log.firstIndex() - 1;
    for (let i = this.log.firstIndex(); i <= this.log.committed; i++) this.applyConfigEntry(this.log.entry(i)!);
    this.prevHardState = this.hardState();
    this.becomeFollower(this.term, null);
    this.prevSoftState = this.softState();
  }

  // ---------------------------------------------------------------------
  // Public API

  /** Advance logical time by one tick. */
  tick(): void {
    this.tickRole();
  }

  /** Feed one message from the network. Malformed, misaddressed or stale
   *  messages are dropped; step() never throws on bad input. */
  step(raw: unknown): void {
    const m = validateMessage(raw);
    if (m === undefined || m.to !== this.id || m.from === this.id) return;
    if (this.ignoreByTerm(m)) return;
    if (m.type === 'prevote' || m.type === 'vote') {
      this.handleVoteRequest(m);
      return;
    }
    this.stepRole(m);
  }

  /** Propose application data. Only the leader accepts proposals; the caller
   *  forwards to the leader on TSR_ERR_NOT_LEADER (details.leader). */
  propose(data: Uint8Array): ProposeResult {
    return this.appendProposal('normal', data);
  }

  proposeConfigChange(change: ConfigChange): ProposeResult {
    if (this.role === 'leader') {
      if (this.pendingConfigIndex > this.log.committed) {
        return fail('TSR_ERR_CONFIG_CHANGE_PENDING', `membership change at index ${this.pendingConfigIndex} is not committed yet`);
      }
      if (this.log.term(this.log.committed) !== this.term) {
        return fail('TSR_ERR_CONFIG_CHANGE_PENDING', 'the new leader has not committed an entry of its term yet');
      }
      const problem = configChangeProblem(this.config, change);
      if (problem !== null) return fail('TSR_ERR_CONFIG_CHANGE_INVALID', problem, { nodeId: change.nodeId, op: change.op });
      if (change.op === 'add-voter' && this.config.learners.includes(change.nodeId)) {
        const pr = this.progress.get(change.nodeId);
        if (pr === undefined || pr.match < this.log.committed) {
          return fail('TSR_ERR_LEARNER_BEHIND', `learner ${change.nodeId} has match ${pr?.match ?? 0}, commit is ${this.log.committed}`, {
            nodeId: change.nodeId,
          });
        }
      }
    }
    const result = this.appendProposal('config', encodeConfigChange(change));
    if (result.ok) this.pendingConfigIndex = result.index;
    return result;
  }

  /** Ask for a linearizable read index (thesis §6.4). The answer arrives in a
   *  later Ready as a ReadState (serve once applied ≥ index) or a ReadFailure. */
  readIndex(requestId: string): RaftResult {
    if (this.role === 'leader') {
      if (this.pendingReads.length + this.readsAwaitingCommit.length >= this.limits.maxPendingReads) {
        return fail('TSR_ERR_TOO_MANY_PENDING_READS', `${this.limits.maxPendingReads} reads are already waiting`);
      }
      this.leaderReadIndex(requestId, this.id);
      return { ok: true };
    }
    if (this.leader === null) return fail('TSR_ERR_NO_LEADER', `node ${this.id} knows no leader in term ${this.term}`);
    if (this.forwardedReads.size >= this.limits.maxPendingReads) {
      return fail('TSR_ERR_TOO_MANY_PENDING_READS', `${this.limits.maxPendingReads} reads are already forwarded`);
    }
    this.forwardedReads.add(requestId);
    this.send(this.leader, { type: 'read-index', requestId });
    return { ok: true };
  }

  /** Hand leadership to `target` (thesis §3.10). Aborts after an election timeout. */
  transferLeadership(target: NodeId): RaftResult {
    if (this.role !== 'leader') return this.notLeader();
    if (target === this.id) return fail('TSR_ERR_TRANSFER_INVALID', `${target} is already the leader`);
    if (!this.config.voters.includes(target)) {
      return fail('TSR_ERR_TRANSFER_INVALID', `${target} is not a voter`, { nodeId: target });
    }
    if (this.transferTarget === target) return { ok: true };
    this.transferTarget = target;
    this.transferElapsed = 0;
    const pr = this.progress.get(target)!;
    if (pr.match === this.log.lastIndex()) this.send(target, { type: 'timeout-now' });
    else this.sendAppend(target, true);
    return { ok: true };
  }

  /** Start an election now (tests and operator tools). */
  campaign(): void {
    if (this.role === 'leader' || !this.promotable()) return;
    this.startElection(this.limits.preVote ? 'prevote' : 'vote', false);
  }

  hasReady(): boolean {
    if (this.readyOutstanding) return false;
    return (
      this.msgs.length > 0 ||
      this.needBroadcast ||
      this.readRound > this.readRoundSent ||
      this.log.unstableEntries().length > 0 ||
      this.log.hasNextCommitted() ||
      this.readStates.length > 0 ||
      this.readFailures.length > 0 ||
      this.snapshotChunks.length > 0 ||
      this.pendingSnapshotInstall !== null ||
      !sameHardState(this.hardState(), this.prevHardState) ||
      !sameSoftState(this.softState(), this.prevSoftState)
    );
  }

  /** Collect the work to do. Call advance(ready) before the next ready(). */
  ready(): Ready {
    assert(!this.readyOutstanding, 'raft: ready() called again before advance()');
    if (this.needBroadcast) {
      this.needBroadcast = false;
      this.broadcastAppend();
    }
    if (this.role === 'leader' && this.readRound > this.readRoundSent) this.broadcastHeartbeat();
    const soft = this.softState();
    const hard = this.hardState();
    const rd: Ready = {
      softState: sameSoftState(soft, this.prevSoftState) ? null : soft,
      hardState: sameHardState(hard, this.prevHardState) ? null : hard,
      entries: this.log.unstableEntries(),
      snapshotChunks: this.snapshotChunks,
      snapshot: this.pendingSnapshotInstall,
      committedEntries: this.pendingSnapshotInstall !== null ? [] : this.log.nextCommitted(this.limits.maxCommittedBytesPerReady),
      messages: this.msgs,
      readStates: this.readStates,
      readFailures: this.readFailures,
    };
    this.prevSoftState = soft;
    this.msgs = [];
    this.readStates = [];
    this.readFailures = [];
    this.snapshotChunks = [];
    this.readyOutstanding = true;
    return rd;
  }

  /** The caller has persisted and applied `rd`. */
  advance(rd: Ready): void {
    assert(this.readyOutstanding, 'raft: advance() without ready()');
    this.readyOutstanding = false;
    if (rd.hardState !== null) this.prevHardState = rd.hardState;
    if (rd.snapshot !== null) {
      if (this.pendingSnapshotInstall === rd.snapshot) this.pendingSnapshotInstall = null;
      this.snapshot = rd.snapshot;
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      this.log.stableTo(last.index, last.term);
    }
    if (rd.committedEntries.length > 0) this.log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1]!.index);
    if (this.role === 'leader') {
      // The leader's own copy counts towards commit only once it is durable.
      const self = this.progress.get(this.id);
      if (self !== undefined && self.maybeUpdate(this.log.stable) && this.maybeCommit()) this.broadcastCommit();
    }
  }

  /** The application saved a snapshot of its state at meta.index (≤ applied). */
  snapshotCreated(meta: SnapshotMeta): void {
    assert(meta.index <= this.log.applied, `raft: snapshot at ${meta.index} beyond applied ${this.log.applied}`);
    assert(this.log.term(meta.index) === meta.term || this.snapshot?.index === meta.index, `raft: snapshot term ${meta.term} does not match the log`);
    if (this.snapshot === null || meta.index > this.snapshot.index) this.snapshot = meta;
  }

  /** Drop log entries ≤ upTo from memory; they must be covered by the snapshot. */
  compactLog(upTo: number): void {
    assert(this.snapshot !== null && upTo <= this.snapshot.index, `raft: compacting to ${upTo} without a snapshot covering it`);
    this.log.compact(upTo);
  }

  /** The transport could not reach `peer`: stop pipelining to it. */
  reportUnreachable(peer: NodeId): void {
    const pr = this.progress.get(peer);
    if (this.role === 'leader' && pr !== undefined && pr.state === 'replicate') pr.becomeProbe();
  }

  /** Sending a snapshot chunk to `peer` failed (e.g. the snapshot was replaced). */
  reportSnapshotFailed(peer: NodeId): void {
    const pr = this.progress.get(peer);
    if (this.role === 'leader' && pr !== undefined && pr.state === 'snapshot') pr.becomeProbe();
  }

  status(): RaftStatus {
    const progress: Record<NodeId, PeerProgress> = {};
    if (this.role === 'leader') for (const [id, pr] of this.progress) progress[id] = pr.view();
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      snapshotIndex: this.snapshot?.index ?? 0,
      config: cloneConfig(this.config),
      progress,
      transferringTo: this.transferTarget,
    };
  }

  /** The term of a log entry, if it is still in memory (for the replica's snapshots). */
  termOf(index: number): number | undefined {
    return this.log.term(index);
  }

  // ---------------------------------------------------------------------
  // Roles

  private becomeFollower(term: number, leader: NodeId | null): void {
    this.failLeaderReads();
    this.reset(term);
    this.role = 'follower';
    this.leader = leader;
    this.stepRole = (m) => this.stepFollower(m);
    this.tickRole = () => this.tickElection();
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'raft: leader cannot become pre-candidate');
    // PreVote does not change the term or the vote (thesis §9.6).
    this.failLeaderReads();
    this.failForwardedReads();
    this.votes = new Map();
    this.role = 'pre-candidate';
    this.leader = null;
    this.stepRole = (m) => this.stepCandidate(m);
    this.tickRole = () => this.tickElection();
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'raft: leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.stepRole = (m) => this.stepCandidate(m);
    this.tickRole = () => this.tickElection();
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', 'raft: only a candidate can become leader');
    this.reset(this.term);
    this.role = 'leader';
    this.leader = this.id;
    this.stepRole = (m) => this.stepLeader(m);
    this.tickRole = () => this.tickHeartbeat();
    for (const id of [...this.config.voters, ...this.config.learners]) this.addProgress(id);
    const self = this.progress.get(this.id);
    if (self !== undefined) {
      self.match = this.log.stable;
      self.becomeReplicate();
    }
    // Commit an entry of the new term at once (§5.4.2): earlier entries then
    // commit with it, and read-index and membership changes become safe.
    this.pendingConfigIndex = this.log.lastIndex();
    this.log.append([{ index: this.log.lastIndex() + 1, term: this.term, kind: 'normal', data: new Uint8Array(0) }]);
    this.needBroadcast = true;
  }

  /** Common reset when the term or role changes. */
  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.leader = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.votes = new Map();
    this.progress = new Map();
    this.transferTarget = null;
    this.transferElapsed = 0;
    this.uncommittedBytes = 0;
    this.needBroadcast = false;
    this.commitUnsent = false;
    this.commitUnsentBytes = 0;
    this.roundAcks.clear();
    this.readRound = 0;
    this.readRoundSent = 0;
    this.failForwardedReads();
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.limits.electionTimeoutTicks + this.prng.nextInt(this.limits.electionTimeoutTicks);
  }

  private addProgress(id: NodeId): void {
    const pr = new Progress(this.log.lastIndex() + 1, this.config.learners.includes(id), this.limits.maxInflightMsgs, this.limits.maxInflightBytes);
    pr.recentActive = id === this.id;
    this.progress.set(id, pr);
  }

  /** Only voters campaign; learners and removed nodes never do. */
  private promotable(): boolean {
    return this.config.voters.includes(this.id);
  }

  // ---------------------------------------------------------------------
  // Ticks

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.startElection(this.limits.preVote ? 'prevote' : 'vote', false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.limits.electionTimeoutTicks) {
      this.electionElapsed = 0;
      if (this.limits.checkQuorum && !this.quorumRecentlyActive()) {
        // §6.2: a leader that cannot reach a majority steps down, so clients
        // go elsewhere and its reads are refused.
        this.becomeFollower(this.term, null);
        return;
      }
      for (const [id, pr] of this.progress) pr.recentActive = id === this.id;
    }
    if (this.transferTarget !== null) {
      this.transferElapsed++;
      if (this.transferElapsed >= this.limits.electionTimeoutTicks) {
        this.transferTarget = null; // abort: the target did not take over in time
        this.transferElapsed = 0;
      }
    }
    for (const [id, pr] of this.progress) {
      if (pr.state === 'snapshot' && pr.snapshot !== null && ++pr.snapshot.ticksSinceSend >= this.limits.electionTimeoutTicks) {
        // A chunk or its acknowledgement was lost: resend from the acked offset.
        this.sendSnapshotChunk(id, pr);
      }
    }
    if (this.heartbeatElapsed >= this.limits.heartbeatIntervalTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
    this.sendPendingCommits();
  }

  private quorumRecentlyActive(): boolean {
    const active = this.config.voters.filter((id) => id === this.id || this.progress.get(id)?.recentActive === true);
    return active.length >= quorum(this.config.voters.length);
  }

  // ---------------------------------------------------------------------
  // Elections

  private startElection(kind: 'prevote' | 'vote', transfer: boolean): void {
    if (kind === 'prevote') this.becomePreCandidate();
    else this.becomeCandidate();
    const electionTerm = kind === 'prevote' ? this.term + 1 : this.term;
    this.votes.set(this.id, true);
    if (this.pollResult() === 'won') {
      this.onElectionWon(kind, transfer);
      return;
    }
    for (const id of this.config.voters) {
      if (id === this.id) continue;
      const base = { lastIndex: this.log.lastIndex(), lastTerm: this.log.lastTerm() };
      if (kind === 'prevote') this.msgs.push({ type: 'prevote', from: this.id, to: id, term: electionTerm, ...base });
      else this.msgs.push({ type: 'vote', from: this.id, to: id, term: electionTerm, ...base, transfer });
    }
  }

  private onElectionWon(kind: 'prevote' | 'vote', transfer: boolean): void {
    if (kind === 'prevote') this.startElection('vote', transfer);
    else this.becomeLeader();
  }

  private pollResult(): 'won' | 'lost' | 'pending' {
    let granted = 0;
    let rejected = 0;
    for (const id of this.config.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = quorum(this.config.voters.length);
    if (granted >= q) return 'won';
    if (rejected > this.config.voters.length - q) return 'lost';
    return 'pending';
  }

  /** Within the leader lease: we heard from a leader less than an election
   *  timeout ago, so a vote request is from a disruptive node (§4.2.3, §9.6). */
  private inLease(): boolean {
    return this.limits.checkQuorum && this.leader !== null && this.electionElapsed < this.limits.electionTimeoutTicks;
  }

  /** Term rules shared by every role (Figure 2 "All Servers", plus PreVote and
   *  lease rules). Returns true when the message must be dropped. */
  private ignoreByTerm(m: Message): boolean {
    if (m.term > this.term) {
      if (m.type === 'prevote' || m.type === 'vote') {
        const transfer = m.type === 'vote' && m.transfer;
        if (!transfer && this.inLease()) return true;
      }
      if (m.type === 'prevote') return false; // a prevote never changes our term
      if (m.type === 'prevote-resp' && !m.reject) return false; // granted for the future term
      const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
      this.becomeFollower(m.term, fromLeader ? m.from : null);
      return false;
    }
    if (m.term < this.term) {
      if (m.type === 'append' || m.type === 'heartbeat') {
        // A stale leader (e.g. after a partition, or removed) learns the new
        // term from this answer and steps down; with PreVote/CheckQuorum it
        // would otherwise never hear of it.
        this.send(m.from, { type: 'append-resp', reject: true, index: 0, hintIndex: 0, hintTerm: 0 });
      } else if (m.type === 'prevote') {
        this.send(m.from, { type: 'prevote-resp', reject: true });
      }
      return true;
    }
    return false;
  }

  private handleVoteRequest(m: PreVoteMsg | VoteMsg): void {
    const isPre = m.type === 'prevote';
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.leader === null) ||
      (isPre && m.term > this.term) ||
      (this.knobs.voteTwice === true && !isPre);
    if (canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm)) {
      // Answer with the request's term so the candidate counts it (a prevote
      // grant is for the term it would campaign at).
      this.msgs.push({ type: isPre ? 'prevote-resp' : 'vote-resp', from: this.id, to: m.from, term: m.term, reject: false });
      if (!isPre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.msgs.push({ type: isPre ? 'prevote-resp' : 'vote-resp', from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  // ---------------------------------------------------------------------
  // Role handlers

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
        this.heardFromLeader(m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.heardFromLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case 'snapshot':
        this.heardFromLeader(m.from);
        this.handleSnapshotChunk(m);
        return;
      case 'timeout-now':
        if (m.from !== this.leader || !this.promotable()) return;
        // Thesis §3.10: start a real election at once, skipping PreVote and
        // telling voters to ignore their lease.
        this.startElection('vote', true);
        return;
      case 'read-index-resp':
        this.handleReadIndexResp(m);
        return;
      case 'read-index':
        this.send(m.from, { type: 'read-index-resp', requestId: m.requestId, index: 0, reject: true });
        return;
      default:
        return; // responses meant for a candidate or leader: stale
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // A leader exists in our term (§5.2): concede.
        this.becomeFollower(this.term, m.from);
        this.stepFollower(m);
        return;
      case 'prevote-resp':
      case 'vote-resp': {
        if ((m.type === 'prevote-resp') !== (this.role === 'pre-candidate')) return;
        if (!this.config.voters.includes(m.from)) return;
        this.votes.set(m.from, !m.reject);
        const result = this.pollResult();
        if (result === 'won') this.onElectionWon(this.role === 'pre-candidate' ? 'prevote' : 'vote', false);
        else if (result === 'lost') this.becomeFollower(this.term, null);
        return;
      }
      case 'read-index':
        this.send(m.from, { type: 'read-index-resp', requestId: m.requestId, index: 0, reject: true });
        return;
      default:
        return;
    }
  }

  private stepLeader(m: Message): void {
    if (m.type === 'read-index') {
      if (!isMember(this.config, m.from)) return;
      if (this.pendingReads.length + this.readsAwaitingCommit.length >= this.limits.maxPendingReads) {
        this.send(m.from, { type: 'read-index-resp', requestId: m.requestId, index: 0, reject: true });
        return;
      }
      this.leaderReadIndex(m.requestId, m.from);
      return;
    }
    const pr = this.progress.get(m.from);
    if (pr === undefined) return; // not a member (removed or unknown): ignore
    switch (m.type) {
      case 'append-resp':
        pr.recentActive = true;
        this.handleAppendResp(m, pr);
        return;
      case 'heartbeat-resp':
        pr.recentActive = true;
        this.handleHeartbeatResp(m, pr);
        return;
      case 'snapshot-resp':
        pr.recentActive = true;
        this.handleSnapshotResp(m, pr);
        return;
      default:
        return; // another leader in our term cannot exist; votes are stale
    }
  }

  private heardFromLeader(from: NodeId): void {
    this.electionElapsed = 0;
    this.leader = from;
  }

  // ---------------------------------------------------------------------
  // Replication: follower side

  private handleAppend(m: AppendMsg): void {
    if (m.prevIndex < this.log.committed) {
      // Already have everything up to our commit; tell the leader so.
      this.send(m.from, { type: 'append-resp', reject: false, index: this.log.committed, hintIndex: 0, hintTerm: 0 });
      return;
    }
    const lastNew = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.entries);
    if (lastNew !== undefined) {
      // Commit only what we know matches the leader (Figure 2, rule 5).
      this.log.commitTo(Math.min(m.commit, lastNew));
      this.applyNewlyCommittedConfig();
      this.send(m.from, { type: 'append-resp', reject: false, index: lastNew, hintIndex: 0, hintTerm: 0 });
      return;
    }
    const hintIndex = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
    this.send(m.from, {
      type: 'append-resp',
      reject: true,
      index: m.prevIndex,
      hintIndex,
      hintTerm: this.log.term(hintIndex) ?? 0,
    });
  }

  private handleHeartbeat(m: HeartbeatMsg): void {
    // The leader sends min(match, commit), so this never exceeds what matches.
    if (m.commit <= this.log.lastIndex()) {
      this.log.commitTo(m.commit);
      this.applyNewlyCommittedConfig();
    } else {
      // The leader believes we hold entries we do not have: our disk was lost
      // and rebuilt. Tell it where our log ends so it probes us again.
      const last = this.log.lastIndex();
      this.send(m.from, { type: 'append-resp', reject: true, index: m.commit, hintIndex: last, hintTerm: this.log.lastTerm() });
    }
    this.send(m.from, { type: 'heartbeat-resp', readRound: m.readRound });
  }

  private handleSnapshotChunk(m: SnapshotMsg): void {
    const meta = m.meta;
    const reply = (nextOffset: number, done: boolean, reject: boolean): void =>
      this.send(m.from, { type: 'snapshot-resp', snapshotIndex: meta.index, nextOffset, done, reject });
    if (meta.index <= this.log.committed) {
      // Nothing new in it: we already have its entries committed.
      this.incomingSnapshot = null;
      this.send(m.from, { type: 'append-resp', reject: false, index: this.log.committed, hintIndex: 0, hintTerm: 0 });
      return;
    }
    if (m.offset === 0 && this.log.matchTerm(meta.index, meta.term)) {
      // Our log already contains the snapshot's last entry: fast-forward the
      // commit instead of replacing state (log matching property).
      this.incomingSnapshot = null;
      this.log.commitTo(meta.index);
      this.applyNewlyCommittedConfig();
      this.send(m.from, { type: 'append-resp', reject: false, index: meta.index, hintIndex: 0, hintTerm: 0 });
      return;
    }
    const current = this.incomingSnapshot;
    const sameSnapshot = current !== null && current.meta.index === meta.index && current.meta.term === meta.term && current.meta.sizeBytes === meta.sizeBytes;
    if (m.offset === 0 && !sameSnapshot) {
      this.incomingSnapshot = { meta, nextOffset: 0 };
    } else if (!sameSnapshot) {
      reply(0, false, true); // we hold no part of this snapshot: restart from 0
      return;
    }
    const incoming = this.incomingSnapshot!;
    if (m.offset !== incoming.nextOffset) {
      reply(incoming.nextOffset, false, true); // resume from where we are
      return;
    }
    this.snapshotChunks.push({ meta, offset: m.offset, data: m.data, done: m.done });
    incoming.nextOffset += m.length;
    const complete = m.done && incoming.nextOffset === meta.sizeBytes;
    if (m.done && !complete) {
      this.incomingSnapshot = null;
      reply(0, false, true);
      return;
    }
    if (!complete) {
      reply(incoming.nextOffset, false, false);
      return;
    }
    this.incomingSnapshot = null;
    this.installSnapshot(meta);
    reply(meta.sizeBytes, true, false);
  }

  private installSnapshot(meta: SnapshotMeta): void {
    this.log.restore(meta);
    this.config = cloneConfig(meta.config);
    this.lastConfigApplied = meta.index;
    this.pendingSnapshotInstall = meta;
  }

  // ---------------------------------------------------------------------
  // Replication: leader side

  private appendProposal(kind: Entry['kind'], data: Uint8Array): ProposeResult {
    if (this.role !== 'leader') return this.notLeader();
    if (this.transferTarget !== null) {
      return fail('TSR_ERR_TRANSFER_IN_PROGRESS', `leadership is moving to ${this.transferTarget}`, { leader: this.transferTarget });
    }
    const bytes = data.length + 24;
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.limits.maxUncommittedBytes) {
      return fail('TSR_ERR_PROPOSAL_BACKPRESSURE', `${this.uncommittedBytes} uncommitted bytes already (limit ${this.limits.maxUncommittedBytes})`);
    }
    const entry: Entry = { index: this.log.lastIndex() + 1, term: this.term, kind, data };
    this.log.append([entry]);
    this.uncommittedBytes += bytes;
    // Broadcast once per Ready, not per proposal: many proposals, one append.
    this.needBroadcast = true;
    return { ok: true, index: entry.index, term: entry.term };
  }

  private notLeader(): { ok: false; error: TsraftError } {
    if (this.leader === null) return fail('TSR_ERR_NO_LEADER', `node ${this.id} knows no leader in term ${this.term}`);
    return fail('TSR_ERR_NOT_LEADER', `node ${this.id} is not the leader; ${this.leader} is`, {
      leader: this.leader,
      leaderContext: this.config.contexts[this.leader] ?? null,
    });
  }

  private broadcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppendsWhileUnpaused(id);
  }

  /** The commit index moved. A commit of little data reaches followers with
   *  the next message they get (Raft §5.3: the leader includes the commit
   *  index in later AppendEntries RPCs and heartbeats): the next append when writes
   *  keep coming, else an empty append at the next tick (sendPendingCommits).
   *  Telling them at once cost each follower a message, a Ready and a store
   *  write per commit — for one-at-a-time writes as much as the write
   *  itself, competing with the next write for the same cores. A commit of
   *  commitNowBytes or more, or of a membership change, goes at once, so
   *  followers apply it while they wait, not when the next append (and its
   *  fsync) arrives. */
  private broadcastCommit(): void {
    if (this.commitUnsentBytes < this.limits.commitNowBytes) {
      this.commitUnsent = true;
      return;
    }
    this.commitUnsent = false;
    this.commitUnsentBytes = 0;
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, true);
  }

  /** At a tick: an empty append to each follower that has not been sent the
   *  commit index it may know (min(match, commit)); at most a tick late. */
  private sendPendingCommits(): void {
    if (!this.commitUnsent) return;
    this.commitUnsent = false;
    this.commitUnsentBytes = 0;
    for (const [id, pr] of this.progress) {
      if (id !== this.id && pr.sentCommit < Math.min(pr.match, this.log.committed)) this.sendAppend(id, true);
    }
  }

  /** Send entries (or a snapshot) to a follower, if its window allows.
   *  Returns whether a message went out. */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined || prevIndex < this.log.firstIndex() - 1) {
      return this.startSnapshotTransfer(to, pr);
    }
    const entries = pr.next <= this.log.lastIndex() ? this.log.slice(pr.next, this.log.lastIndex(), this.limits.maxAppendBytes) : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    let bytes = 0;
    for (const e of entries) bytes += entryBytes(e);
    this.send(to, { type: 'append', prevIndex, prevTerm, entries, commit: this.log.committed });
    pr.sentEntries(entries.length, prevIndex + entries.length, bytes);
    pr.sentCommit = Math.max(pr.sentCommit, this.log.committed);
    return true;
  }

  private startSnapshotTransfer(to: NodeId, pr: Progress): boolean {
    if (this.snapshot === null || !pr.recentActive) return false; // an unreachable peer gets no snapshot
    pr.becomeSnapshot(this.snapshot);
    this.sendSnapshotChunk(to, pr);
    return true;
  }

  private sendSnapshotChunk(to: NodeId, pr: Progress): void {
    const transfer = pr.snapshot;
    assert(transfer !== null, 'raft: snapshot chunk without a transfer');
    const meta = transfer.meta;
    const length = Math.min(this.limits.snapshotChunkBytes, meta.sizeBytes - transfer.ackedOffset);
    transfer.ticksSinceSend = 0;
    this.send(to, {
      type: 'snapshot',
      meta,
      offset: transfer.ackedOffset,
      length,
      data: new Uint8Array(0), // filled by the replica from its snapshot store
      done: transfer.ackedOffset + length === meta.sizeBytes,
    });
  }

  private handleSnapshotResp(m: SnapshotRespMsg, pr: Progress): void {
    const transfer = pr.snapshot;
    if (pr.state !== 'snapshot' || transfer === null || m.snapshotIndex !== transfer.meta.index) return;
    if (m.done) {
      pr.maybeUpdate(transfer.meta.index);
      pr.becomeProbe();
      this.sendAppend(m.from, false);
      return;
    }
    if (m.reject && m.nextOffset !== transfer.ackedOffset) {
      transfer.ackedOffset = Math.min(m.nextOffset, transfer.meta.sizeBytes);
      this.sendSnapshotChunk(m.from, pr);
      return;
    }
    if (!m.reject && m.nextOffset > transfer.ackedOffset && m.nextOffset <= transfer.meta.sizeBytes) {
      transfer.ackedOffset = m.nextOffset;
      this.sendSnapshotChunk(m.from, pr);
    }
  }

  private handleAppendResp(m: AppendRespMsg, pr: Progress): void {
    if (m.reject && m.hintIndex < pr.match) {
      // The follower's log is shorter than the index we recorded as matching:
      // it lost its disk and was rebuilt (or the rejection is stale). Probe it
      // again from its hint. Lowering match is safe: the commit index never
      // moves back, and a stale rejection only costs one more probe.
      pr.match = 0;
      pr.becomeProbe();
      pr.next = Math.min(m.hintIndex + 1, this.log.lastIndex() + 1);
      this.sendAppend(m.from, true);
      return;
    }
    if (m.reject) {
      // Fast backtracking: skip every index the hint rules out.
      let nextProbe = m.hintIndex;
      if (m.hintTerm > 0) nextProbe = this.log.findConflictByTerm(m.hintIndex, m.hintTerm);
      if (pr.maybeDecrTo(m.index, nextProbe)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) {
      if (wasPaused && !pr.isPaused()) this.sendAppend(m.from, false);
      return;
    }
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.snapshot !== null && pr.match >= pr.snapshot.meta.index) pr.becomeProbe();
    else if (pr.state === 'replicate') pr.inflights.freeTo(m.index);
    if (this.maybeCommit()) this.broadcastCommit();
    this.sendAppendsWhileUnpaused(m.from);
    if (m.from === this.transferTarget && pr.match === this.log.lastIndex()) {
      this.send(m.from, { type: 'timeout-now' });
    }
  }

  private sendAppendsWhileUnpaused(to: NodeId): void {
    // Fill the window: each call sends one message of at most maxAppendBytes.
    for (let i = 0; i < this.limits.maxInflightMsgs && this.sendAppend(to, false); i++) {
      /* keep sending */
    }
  }

  private handleHeartbeatResp(m: HeartbeatRespMsg, pr: Progress): void {
    pr.probeSent = false;
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    // A follower still behind may have lost appends: probe it (an empty
    // append at `next` is rejected if entries before it went missing).
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
    if (m.readRound > 0 && !pr.isLearner) {
      const prev = this.roundAcks.get(m.from) ?? 0;
      if (m.readRound > prev) this.roundAcks.set(m.from, m.readRound);
      this.releaseConfirmedReads();
    }
  }

  private broadcastHeartbeat(): void {
    // Carry the newest read round only while reads wait for confirmation.
    const readRound = this.pendingReads.length > 0 ? this.readRound : 0;
    this.readRoundSent = this.readRound;
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      // Coalesce: an append sent this interval already carried the commit
      // index, unless a read round needs confirming.
      const commit = Math.min(pr.match, this.log.committed);
      if (pr.sentSinceHeartbeat && readRound === 0 && pr.sentCommit >= commit) {
        pr.sentSinceHeartbeat = false;
        continue;
      }
      pr.sentSinceHeartbeat = false;
      pr.sentCommit = Math.max(pr.sentCommit, commit);
      this.send(id, { type: 'heartbeat', commit, readRound });
    }
    if (readRound > 0) this.releaseConfirmedReads();
  }

  /** Figure 2 / §5.4.2: commit the highest index stored on a majority, but
   *  only by counting replicas of an entry of the current term. */
  private maybeCommit(): boolean {
    const matches = this.config.voters.map((id) => this.progress.get(id)?.match ?? 0).sort((a, b) => b - a);
    const candidate = matches[quorum(this.config.voters.length) - 1]!;
    if (candidate <= this.log.committed) return false;
    if (this.log.term(candidate) !== this.term && this.knobs.commitOldTerm !== true) return false;
    const before = this.log.committed;
    this.log.commitTo(candidate);
    for (let i = before + 1; i <= candidate; i++) {
      const entry = this.log.entry(i)!;
      const bytes = entryBytes(entry);
      this.uncommittedBytes -= Math.min(this.uncommittedBytes, bytes);
      // A membership change is told at once: every member should act on it soon.
      this.commitUnsentBytes += entry.kind === 'config' ? this.limits.commitNowBytes : bytes;
    }
    this.applyConfigEntriesBetween(before + 1, candidate);
    if (before < candidate && this.log.term(candidate) === this.term) this.releaseReadsAwaitingCommit();
    return this.role === 'leader';
  }

  // ---------------------------------------------------------------------
  // Membership

  private applyNewlyCommittedConfig(): void {
    this.applyConfigEntriesBetween(this.lastConfigApplied + 1, this.log.committed);
  }

  private applyConfigEntriesBetween(from: number, to: number): void {
    for (let i = Math.max(from, this.log.firstIndex(), this.lastConfigApplied + 1); i <= to; i++) {
      const e = this.log.entry(i);
      if (e !== undefined) this.applyConfigEntry(e);
    }
  }

  /** Configuration takes effect when its entry commits (see config-change.ts). */
  private applyConfigEntry(e: Entry): void {
    if (e.index <= this.lastConfigApplied) return;
    this.lastConfigApplied = e.index;
    if (e.kind !== 'config') return;
    const change = decodeConfigChange(e.data);
    if (change === undefined) return; // validated when proposed; never apply garbage
    this.config = applyConfigChange(this.config, change);
    if (this.role !== 'leader') return;
    if (change.op === 'remove') {
      this.progress.delete(change.nodeId);
      this.roundAcks.delete(change.nodeId);
      if (change.nodeId === this.id) {
        // §4.2.2: a removed leader steps down once the change is committed.
        this.becomeFollower(this.term, null);
        return;
      }
      if (this.transferTarget === change.nodeId) this.transferTarget = null;
      // A smaller quorum may commit more now.
      if (this.maybeCommit()) this.broadcastCommit();
    } else {
      const pr = this.progress.get(change.nodeId);
      if (pr === undefined) this.addProgress(change.nodeId);
      else pr.isLearner = change.op === 'add-learner';
      this.needBroadcast = true;
    }
  }

  // ---------------------------------------------------------------------
  // Linearizable reads (thesis §6.4)

  private leaderReadIndex(requestId: string, from: NodeId): void {
    if (this.log.term(this.log.committed) !== this.term) {
      // Until the leader commits an entry of its term it may not know the
      // latest commit index; hold the read until the no-op commits.
      this.readsAwaitingCommit.push({ requestId, from });
      return;
    }
    this.registerRead(requestId, from);
  }

  private registerRead(requestId: string, from: NodeId): void {
    const index = this.log.committed;
    if (this.config.voters.length === 1) {
      this.answerRead({ requestId, index, round: 0, from });
      return;
    }
    // Reads arriving before the next heartbeat broadcast share one round.
    if (this.readRound === this.readRoundSent) this.readRound++;
    this.pendingReads.push({ requestId, index, round: this.readRound, from });
  }

  private releaseReadsAwaitingCommit(): void {
    const waiting = this.readsAwaitingCommit;
    this.readsAwaitingCommit = [];
    for (const r of waiting) this.registerRead(r.requestId, r.from);
  }

  /** Rounds acknowledged by a quorum of voters (self included) are confirmed:
   *  the node was still the leader after the reads registered. */
  private releaseConfirmedReads(): void {
    if (this.pendingReads.length === 0) return;
    const acks = this.config.voters.map((id) => (id === this.id ? Infinity : (this.roundAcks.get(id) ?? 0))).sort((a, b) => b - a);
    const confirmed = acks[quorum(this.config.voters.length) - 1]!;
    let n = 0;
    while (n < this.pendingReads.length && this.pendingReads[n]!.round <= confirmed) {
      this.answerRead(this.pendingReads[n]!);
      n++;
    }
    if (n > 0) this.pendingReads.splice(0, n);
  }

  private answerRead(r: PendingRead): void {
    if (r.from === this.id) this.readStates.push({ requestId: r.requestId, index: r.index });
    else this.send(r.from, { type: 'read-index-resp', requestId: r.requestId, index: r.index, reject: false });
  }

  private handleReadIndexResp(m: ReadIndexRespMsg): void {
    if (!this.forwardedReads.delete(m.requestId)) return;
    if (m.reject) this.readFailures.push({ requestId: m.requestId, code: 'TSR_ERR_READ_INDEX_FAILED' });
    else this.readStates.push({ requestId: m.requestId, index: m.index });
  }

  /** A leader stepping down can confirm none of its pending reads. */
  private failLeaderReads(): void {
    for (const r of [...this.readsAwaitingCommit, ...this.pendingReads]) {
      if (r.from === this.id) this.readFailures.push({ requestId: r.requestId, code: 'TSR_ERR_READ_INDEX_FAILED' });
      else this.send(r.from, { type: 'read-index-resp', requestId: r.requestId, index: 0, reject: true });
    }
    this.readsAwaitingCommit = [];
    this.pendingReads = [];
  }

  /** Reads forwarded to a leader we no longer follow will never be answered. */
  private failForwardedReads(): void {
    for (const requestId of this.forwardedReads) this.readFailures.push({ requestId, code: 'TSR_ERR_READ_INDEX_FAILED' });
    this.forwardedReads.clear();
  }

  // ---------------------------------------------------------------------
  // Helpers

  private send(to: NodeId, body: AnyOutgoing): void {
    this.msgs.push({ ...(body as object), from: this.id, to, term: this.term } as Message);
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { role: this.role, leader: this.leader, term: this.term };
  }
}

function quorum(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

function fail(code: ConstructorParameters<typeof TsraftError>[0], message: string, details?: Record<string, unknown>): { ok: false; error: TsraftError } {
  return { ok: false, error: new TsraftError(code, message, details === undefined ? {} : { details }) };
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader && a.term === b.term;
}
