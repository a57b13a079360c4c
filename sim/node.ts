// One simulated server: its disk (a MemoryDisk that outlives processes), and
// the current process (a real Replica on the memory stores, the real
// time-series state machine, a NodeClock and a network endpoint). Crashing
// throws the process away; restarting opens the stores on the same disk.
import { ReplicatedTsdbService } from '../src/api/replicated-service.js';
import type { ServiceStatus } from '../src/api/service.js';
import { TsraftError } from '../src/errors.js';
import type { ConfigState, NodeId, RaftConfig, SnapshotMeta } from '../src/raft/types.js';
import { Replica } from '../src/replica/replica.js';
import { TsdbCheckpointer, loadPersistedState, storeBlockReader } from '../src/replica/tsdb-persistence.js';
import { MemoryStateMachineStore } from '../src/storage/state-machine-store.js';
import type { ReplicaObserver, ReplicaTestingKnobs } from '../src/replica/types.js';
import { MemoryDisk, MemoryRaftLogStore, MemorySnapshotStore } from '../src/storage/memory-stores.js';
import type { ApplyResult } from '../src/tsdb/state-machine.js';
import type { SeededPrng } from '../src/util/prng.js';
import { NodeClock, gated, type EventGate } from './clock.js';
import { SIM_FORWARD_TIMEOUT_MS, SIM_MAX_FORWARDED_IN_FLIGHT, forwardConnectionOpener, type ForwardingWorld } from './forwarding.js';
import type { SimNetwork } from './network.js';
import type { Scheduler } from './scheduler.js';
import type { Trace } from './trace.js';
import { SimTsdbStateMachine, buggyQueryView, misresolvingView, type WritePathBugs } from './write-path-bugs.js';

/** Replica and Raft settings of every simulated node: small snapshots and
 *  appends, so that snapshots, chunking and compaction happen in every run. */
export const SIM_TICK_MS = 50;
export const SIM_ELECTION_TICKS = 10;
/** Short blocks: the workload's two minutes of timestamps span several, so
 *  blocks are sealed, written, evicted, read back and reopened by late writes. */
/** Few cached results per client session, so pipelining clients reach the
 *  bound (a write stuck behind a fault while later ones are answered) and
 *  sessions forget results: TSR_ERR_SESSION_EXPIRED happens. */
export const SIM_STATE_MACHINE = { blockSpanMs: 20_000, maxResultsPerSession: 4 };
/** Bytes of written sealed blocks a simulated node keeps in memory. */
const SIM_RESIDENT_BLOCK_BYTES = 128;
/** An install reads the snapshot file in chunks this small, as the leader sends it. */
const SIM_SNAPSHOT_READ_CHUNK_BYTES = 1024;
const SIM_RAFT: Partial<Omit<RaftConfig, 'id' | 'prng'>> = {
  electionTimeoutTicks: SIM_ELECTION_TICKS,
  heartbeatIntervalTicks: 1,
  maxAppendBytes: 256,
  maxInflightMsgs: 16,
  snapshotChunkBytes: 1024,
};

/** The node's snapshot store, telling the node each time an install has read
 *  a chunk of the snapshot file (the kill-during-install fault). */
class SimSnapshotStore extends MemorySnapshotStore {
  constructor(
    disk: MemoryDisk,
    private readonly onChunkRead: () => void,
  ) {
    super(disk, SIM_SNAPSHOT_READ_CHUNK_BYTES);
  }

  override async *readData(meta: SnapshotMeta): AsyncGenerator<Uint8Array, void, void> {
    for await (const chunk of super.readData(meta)) {
      yield chunk;
      this.onChunkRead();
    }
  }
}

export interface DiskLatency {
  minMs: number;
  maxMs: number;
}
export const NORMAL_DISK: Readonly<DiskLatency> = Object.freeze({ minMs: 0.2, maxMs: 2 });

/** `up`: a process runs (maybe still starting). `down`: no process, disk kept.
 *  `failed`: the process stopped on a fatal error (e.g. detected corruption). */
export type NodeLife = 'up' | 'down' | 'failed';

export interface NodeContext {
  scheduler: Scheduler;
  network: SimNetwork;
  trace: Trace;
  prng: SeededPrng;
  observer: ReplicaObserver;
  raftKnobs: RaftConfig['testingKnobs'];
  /** Raft settings of a scripted scenario, over the simulator's defaults. */
  raftOverrides: Partial<Omit<RaftConfig, 'id' | 'prng' | 'testingKnobs'>>;
  replicaKnobs: ReplicaTestingKnobs;
  /** Planted bugs in the write path (write-path-bugs.ts). */
  writePathBugs: WritePathBugs;
  /** Carries followers' forwarded puts to the leader (forwarding.ts). */
  forwarding: ForwardingWorld;
  /** A replica stopped on a fatal error (the world decides whether it was expected). */
  onFatal(node: SimNode, error: unknown): void;
  /** The node lost power (its disk now holds only durable writes). */
  onCrash(node: SimNode, torn: boolean): void;
  /** The node's disk was wiped. */
  onWipe(node: SimNode): void;
}

export class SimNode {
  readonly url: string;
  readonly disk: MemoryDisk;
  life: NodeLife = 'down';
  replica: Replica<ApplyResult> | null = null;
  sm: SimTsdbStateMachine | null = null;
  /** The process's client API service (the production one; followers
   *  forward puts to the leader over the simulated network, forwarding.ts). */
  service: ReplicatedTsdbService | null = null;
  /** The service as clients' connections reach it (the same, or with a
   *  planted query-path bug). */
  clientService: ReplicatedTsdbService | null = null;
  clock: NodeClock | null = null;
  /** The current process's event gate (null without a process). */
  gate: EventGate | null = null;
  incarnation = 0;
  pausedUntilMs = 0;
  diskLatency: DiskLatency = { ...NORMAL_DISK };
  /** Tick-rate of this machine's clock (skew). */
  clockRate = 1;
  /** A fault corrupted stored data since the last wipe: a fatal corruption
   *  error from this node is then expected (a checksum caught it). */
  corruptionInjected = false;
  /** Corrupted and not yet restarted successfully (counts as impaired). */
  unverified = false;
  /** Bumped when the disk is wiped (the node is then a new member). */
  diskGeneration = 0;
  private lastDiskCompletionMs = 0;
  /** Crash while the next write is in flight (before it is durable). */
  private crashOnNextWrite: { torn: boolean; then: () => void } | null = null;
  /** Kill the process in the middle of its next snapshot install (armKillDuringInstall). */
  private killDuringInstall: { chunksLeft: number; then: () => void } | null = null;

  constructor(
    private readonly ctx: NodeContext,
    readonly id: NodeId,
    /** A founding member bootstraps the cluster's first log; others join. */
    readonly founding: boolean,
  ) {
    this.url = `ws://${id}.sim:8180`;
    this.disk = new MemoryDisk({ schedule: (complete) => this.scheduleDiskCompletion(complete) });
  }

  get running(): boolean {
    return this.life === 'up' && this.replica !== null && this.replica.state === 'running';
  }

  get paused(): boolean {
    return this.pausedUntilMs > this.ctx.scheduler.nowMs;
  }

  /** Start a process on the current disk. `bootstrap`: founding membership
   *  for a brand-new cluster, null to join (or when the disk has a log). */
  async boot(bootstrap: ConfigState | null): Promise<void> {
    if (this.life === 'up') return;
    this.incarnation++;
    const incarnation = this.incarnation;
    this.life = 'up';
    const gate: EventGate = () => (this.incarnation !== incarnation || this.life !== 'up' ? 'dead' : this.paused ? this.pausedUntilMs : null);
    const clock = new NodeClock(this.ctx.scheduler, gate);
    clock.setRate(this.clockRate);
    this.clock = clock;
    this.gate = gate;
    const transport = this.ctx.network.attach(this.id, gate);
    this.ctx.trace.record('boot', `${this.id} #${incarnation}${bootstrap !== null ? ' bootstrap' : ''}`);
    // The state machine keeps its own copy on the node's disk, as a real
    // node's LevelDB does; a tiny memory budget makes reads go back to it.
    const smStore = new MemoryStateMachineStore(this.disk);
    // Snapshots from the leader install straight into that store, one
    // series at a time under a restore marker (docs/storage.md).
    const sm = new SimTsdbStateMachine(SIM_STATE_MACHINE, { blockReader: storeBlockReader(smStore), residentBlockBytes: SIM_RESIDENT_BLOCK_BYTES }, smStore, this.ctx.replicaKnobs, this.ctx.writePathBugs);
    this.sm = sm;
    try {
      await loadPersistedState(sm.machine, smStore);
      const logStore = await MemoryRaftLogStore.open(this.disk);
      const snapshotStore = new SimSnapshotStore(this.disk, () => {
        if (this.incarnation === incarnation) this.onInstallChunkRead();
      });
      if (this.incarnation !== incarnation) return;
      const replica = new Replica<ApplyResult>({
        id: this.id,
        logStore,
        snapshotStore,
        transport,
        clock,
        prng: this.ctx.prng.fork(),
        stateMachine: sm,
        bootstrap,
        raft: { ...SIM_RAFT, ...this.ctx.raftOverrides, testingKnobs: this.ctx.raftKnobs },
        tickIntervalMs: SIM_TICK_MS,
        snapshotEveryEntries: 64,
        persistence: new TsdbCheckpointer(() => sm.machine, smStore),
        persistEveryEntries: 16,
        logEntriesKeptAfterSnapshot: 10,
        proposalTimeoutMs: 3_000,
        readTimeoutMs: 3_000,
        defer: (fn) => queueMicrotask(fn),
        onFatal: (error) => {
          if (this.incarnation === incarnation) this.fatal(error);
        },
        observer: this.ctx.observer,
        testingKnobs: this.ctx.replicaKnobs,
      });
      this.replica = replica;
      const wrongSeriesId = this.ctx.writePathBugs.wrongSeriesId;
      this.service = new ReplicatedTsdbService({
        replica,
        stateMachine: wrongSeriesId ? () => misresolvingView(sm.machine) : () => sm.machine,
        status: () => serviceStatusOf(replica),
        isLeader: () => replica.isLeader,
        clock,
        forwardWrites: true,
        forwardTimeoutMs: SIM_FORWARD_TIMEOUT_MS,
        maxForwardedInFlight: SIM_MAX_FORWARDED_IN_FLIGHT,
        openForwardConnection: forwardConnectionOpener(this.ctx.forwarding, { node: this, incarnation, gate }),
        // The turn ends after every event already due at this virtual instant
        // (the puts that arrived together), and waits while the node is paused.
        deferFlush: (fn) => {
          clock.setTimer(0, fn);
        },
      });
      const bugs = this.ctx.writePathBugs;
      this.clientService = bugs.queryAsStale ? buggyQueryView(this.service, 'as-stale') : bugs.queryEndExclusive ? buggyQueryView(this.service, 'end-exclusive') : this.service;
      await replica.start();
      if (this.incarnation === incarnation && replica.state === 'running') this.unverified = false;
    } catch (error) {
      if (this.incarnation === incarnation) this.fatal(error);
    }
  }

  /** Power loss: the process is gone, unsynced writes are lost (the last
   *  pending write torn in half when `torn`). */
  crash(torn: boolean): void {
    if (this.life === 'up') this.ctx.trace.record('crash', `${this.id}${torn ? ' torn' : ''} pending=${this.disk.pendingWrites}`);
    const tearing = torn && this.disk.pendingWrites > 0;
    if (tearing) {
      this.disk.tornLastWrite();
      this.corruptionInjected = true; // the torn record fails its checksum when read
      this.unverified = true;
    } else {
      this.disk.crash();
    }
    const wasUp = this.life === 'up';
    this.stopProcess('down');
    if (wasUp) this.ctx.onCrash(this, tearing);
  }

  /** The disk is lost; the node must rejoin as a new member (remove + add). */
  wipe(): void {
    this.ctx.trace.record('wipe', this.id);
    this.disk.wipe();
    this.ctx.onWipe(this);
    this.ctx.network.forgetSender(this.id);
    this.corruptionInjected = false;
    this.unverified = false;
    this.diskGeneration++;
    this.stopProcess('down');
  }

  /** Kill the process (kill -9: its unsynced writes survive in the page
   *  cache) in the middle of its next snapshot install, once the install has
   *  read `afterChunks` chunks of the snapshot file; then call `then`. The
   *  trap outlives restarts until it fires. */
  armKillDuringInstall(afterChunks: number, then: () => void): void {
    this.killDuringInstall = { chunksLeft: afterChunks, then };
  }

  disarmKillDuringInstall(): void {
    this.killDuringInstall = null;
  }

  get installTrapArmed(): boolean {
    return this.killDuringInstall !== null;
  }

  private onInstallChunkRead(): void {
    const trap = this.killDuringInstall;
    if (trap === null || --trap.chunksLeft > 0) return;
    this.killDuringInstall = null;
    this.ctx.trace.record('kill', `${this.id} installing a snapshot pending=${this.disk.pendingWrites}`);
    this.disk.kill();
    this.stopProcess('down');
    this.ctx.onCrash(this, false);
    trap.then();
  }

  /** Crash the process while its next disk write is in flight: the write (and,
   *  when `torn`, half of it) is lost, though the process may already have
   *  acted on it — which only a bug would do. */
  armCrashOnNextWrite(torn: boolean, then: () => void): void {
    this.crashOnNextWrite = { torn, then };
  }

  get crashArmed(): boolean {
    return this.crashOnNextWrite !== null;
  }

  pause(forMs: number): void {
    this.pausedUntilMs = Math.max(this.pausedUntilMs, this.ctx.scheduler.nowMs + forMs);
    this.ctx.trace.record('pause', `${this.id} until ${this.pausedUntilMs}`);
  }

  resume(): void {
    this.pausedUntilMs = 0;
  }

  setClockRate(rate: number): void {
    this.clockRate = rate;
    this.clock?.setRate(rate);
    this.ctx.trace.record('skew', `${this.id} rate=${rate.toFixed(3)}`);
  }

  /** Flip one stored bit of a Raft record or of the snapshot file. Returns false when nothing is stored. */
  flipBit(): boolean {
    const keys = [...this.disk.keys('log/'), ...this.disk.keys('snap/snapshot')];
    if (keys.length === 0) return false;
    const key = keys[this.ctx.prng.nextInt(keys.length)]!;
    const value = this.disk.read(key)!;
    if (value.length === 0) return false;
    this.disk.flipBit(key, this.ctx.prng.nextInt(value.length * 8));
    this.corruptionInjected = true;
    this.unverified = true;
    this.ctx.trace.record('bitflip', `${this.id} ${key}`);
    return true;
  }

  private fatal(error: unknown): void {
    this.ctx.trace.record('fatal', `${this.id} ${error instanceof TsraftError ? error.code : String(error)}`);
    this.stopProcess('failed');
    this.ctx.onFatal(this, error);
  }

  private stopProcess(life: NodeLife): void {
    this.life = life;
    this.incarnation++;
    this.replica = null;
    this.service?.close();
    this.service = null;
    this.clientService = null;
    this.sm = null;
    this.clock = null;
    this.gate = null;
    this.pausedUntilMs = 0;
    this.crashOnNextWrite = null;
    this.ctx.network.detach(this.id);
  }

  /** Writes complete in order (fsync flushes everything before it), each after
   *  the disk's latency; completion waits while the process is paused. */
  private scheduleDiskCompletion(complete: () => void): void {
    const s = this.ctx.scheduler;
    const trap = this.crashOnNextWrite;
    if (trap !== null && this.life === 'up') {
      this.crashOnNextWrite = null;
      const incarnation = this.incarnation;
      // Right after the current event: whatever the process does without
      // waiting for the write (a bug) has happened by then.
      s.at(s.nowMs, () => {
        if (this.incarnation !== incarnation || this.life !== 'up') return;
        this.crash(trap.torn);
        trap.then();
      });
    }
    const latency = this.diskLatency.minMs + this.ctx.prng.nextFloat() * (this.diskLatency.maxMs - this.diskLatency.minMs);
    const at = Math.max(this.lastDiskCompletionMs, s.nowMs + latency);
    this.lastDiskCompletionMs = at;
    s.at(at, gated(s, () => (this.paused ? this.pausedUntilMs : null), complete));
  }
}

/** The fields of /status the service reads, from the replica's status. */
function serviceStatusOf(replica: Replica<ApplyResult>): ServiceStatus {
  const s = replica.status();
  // A node's client URL is its peer URL in the simulator (forwarding.ts resolves it).
  const leaderUrl = s.leader === null ? null : (s.members.find((m) => m.id === s.leader)?.url ?? null);
  return {
    id: s.id,
    role: s.learner ? 'learner' : s.role,
    leader: s.leader,
    leaderClientUrl: leaderUrl,
    term: s.term,
    commitIndex: s.commitIndex,
    appliedIndex: s.appliedIndex,
    members: s.members.map((m) => ({ id: m.id, url: m.url, role: m.role, clientUrl: m.url, match: s.progress[m.id]?.match ?? null })),
  };
}
