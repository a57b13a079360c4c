// One simulated world and its run: 3 or 5 nodes running the real replica,
// Raft core, state machine, stores and frame codec over the simulated
// network, disks and clocks; clients and an operator as the workload; random
// faults (or a scripted scenario); then a liveness phase and the checkers.
// Everything random comes from one SeededPrng seeded with the run's seed.
import { isTsraftError } from '../src/errors.js';
import type { ConfigState, NodeId } from '../src/raft/types.js';
import { MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, seriesKeyOf } from '../src/tsdb/validate.js';
import { SeededPrng } from '../src/util/prng.js';
import { buildCommitOrder, emptyStats, modelStateAt, pointKey, type WritePathStats } from './checkers/commit-order.js';
import { checkDurability, checkLinearizability, type ReadsChecked } from './checkers/linearizability.js';
import { checkLogMatching, readDiskLog } from './checkers/log-matching.js';
import { OnlineCheckers } from './checkers/online.js';
import { PersistenceChecker } from './checkers/persistence.js';
import { Violations } from './checkers/violations.js';
import { clientUrlOf, emptyForwardingStats, type ForwardingWorld } from './forwarding.js';
import { FaultInjector, PROFILE_FAULTS, type FaultKind, FAULT_KINDS } from './faults.js';
import { History, METRICS } from './history.js';
import { SimNetwork } from './network.js';
import { SIM_STATE_MACHINE, SimNode } from './node.js';
import { Operator } from './operator.js';
import { RetentionDriver } from './retention.js';
import { Scheduler } from './scheduler.js';
import { SCENARIOS, type Scenario } from './scenarios.js';
import { Trace } from './trace.js';
import { DEFAULT_OPTIONS, type SeedResult, type SimOptions } from './types.js';
import { SimClient } from './workload.js';

/** Faults start once the first leader had time to be elected, virtual ms. */
const FAULTS_START_MS = 2_000;
/** After faults stop, the cluster must recover within this, virtual ms. */
export const LIVENESS_BOUND_MS = 60_000;
const LOG_MATCHING_EVERY_MS = 5_000;
/** Storage errors that mean "a checksum caught corruption". */
const CORRUPTION_CODES = new Set(['TSR_ERR_CORRUPT_LOG', 'TSR_ERR_CORRUPT_SNAPSHOT', 'TSR_ERR_STORAGE_FORMAT', 'TSR_ERR_CORRUPT_SEGMENT']);

export class World {
  readonly options: SimOptions;
  readonly scheduler = new Scheduler();
  readonly prng: SeededPrng;
  readonly trace: Trace;
  readonly violations: Violations;
  readonly network: SimNetwork;
  readonly nodes: SimNode[] = [];
  readonly founding: ConfigState;
  readonly checkers: OnlineCheckers;
  readonly persistence: PersistenceChecker;
  readonly history = new History();
  readonly operator: Operator;
  readonly faults: FaultInjector;
  readonly retention: RetentionDriver | null;
  readonly scenario: Scenario | null;
  readonly clients: SimClient[] = [];
  readonly forwardingStats = emptyForwardingStats();
  opsRemaining: number;
  issuing = true;
  thinkMs: number;
  faultsActive = true;
  membershipChanges: boolean;
  corruptionsDetected = 0;

  constructor(options: SimOptions) {
    this.options = options;
    this.scenario = options.scenario === null ? null : SCENARIOS[options.scenario];
    this.prng = new SeededPrng(options.seed);
    this.trace = new Trace(() => this.scheduler.nowMs);
    this.trace.sink = options.traceSink ?? null;
    this.violations = new Violations(() => this.scheduler.nowMs);
    this.network = new SimNetwork(this.scheduler, this.prng, this.trace);
    const nodeCount = this.scenario?.nodes ?? options.nodes;
    const ids: NodeId[] = [];
    for (let i = 1; i <= nodeCount; i++) ids.push(`n${i}`);
    this.checkers = new OnlineCheckers(this.violations, this.trace, {
      termAt: (id, index) => this.node(id)?.replica?.termAt(index),
      lastIndex: (id) => this.node(id)?.replica?.status().lastIndex ?? 0,
    });
    this.persistence = new PersistenceChecker(this.violations);
    this.network.onSend = (m) => this.persistence.onSend(m);
    // Leader completeness is checked the moment a vote makes a node leader.
    const checkedLeaderTerm = new Map<NodeId, number>();
    this.network.afterDeliver = (to, m) => {
      if (m.type !== 'vote-resp' || m.reject) return;
      const replica = this.node(to)?.replica;
      if (replica === null || replica === undefined || replica.state !== 'running') return;
      const s = replica.status();
      if (s.role !== 'leader' || (checkedLeaderTerm.get(to) ?? 0) >= s.term) return;
      checkedLeaderTerm.set(to, s.term);
      this.checkers.checkLeaderCompleteness(to, s.term);
      const callbacks = this.newLeaderCallbacks;
      this.newLeaderCallbacks = [];
      for (const cb of callbacks) cb(this.node(to)!);
    };
    const bug = options.injectBug;
    const forwarding: ForwardingWorld = {
      scheduler: this.scheduler,
      network: this.network,
      trace: this.trace,
      stats: this.forwardingStats,
      bugs: { forwardWithoutSession: bug === 'forward-without-session', forwardAckEarly: bug === 'forward-ack-early' },
      nodeAtUrl: (url) => this.nodes.find((n) => clientUrlOf(n) === url),
    };
    const context = {
      scheduler: this.scheduler,
      network: this.network,
      trace: this.trace,
      prng: this.prng,
      observer: this.checkers,
      raftKnobs: { voteTwice: bug === 'vote-twice', commitOldTerm: bug === 'commit-old-term' },
      raftOverrides: this.scenario?.raft ?? {},
      replicaKnobs: { ackBeforeSync: bug === 'ack-before-sync', staleRead: bug === 'stale-read', installMetaFirst: bug === 'install-meta-first' },
      writePathBugs: {
        coalescedSessionLost: bug === 'coalesced-session-lost',
        wrongSeriesId: bug === 'wrong-series-id',
        sessionForgetsPipelined: bug === 'session-forgets-pipelined',
        sessionInOrder: bug === 'session-in-order',
        queryAsStale: bug === 'query-as-stale',
        queryEndExclusive: bug === 'query-end-exclusive',
      },
      forwarding,
      onFatal: (node: SimNode, error: unknown) => this.onFatal(node, error),
      // A disk with injected corruption proves nothing about what was durable.
      onCrash: (node: SimNode, torn: boolean) => this.persistence.onCrash(node.id, node.disk, torn || node.corruptionInjected),
      onWipe: (node: SimNode) => this.persistence.onWipe(node.id),
    };
    for (const id of ids) this.nodes.push(new SimNode(context, id, true));
    for (const id of this.scenario?.spareNodes ?? []) this.nodes.push(new SimNode(context, id, false));
    const founders = this.nodes.filter((n) => n.founding);
    this.founding = { voters: founders.map((n) => n.id), learners: [], contexts: Object.fromEntries(founders.map((n) => [n.id, n.url])) };
    this.membershipChanges = this.scenario === null && (options.membershipChanges ?? true);
    this.operator = new Operator(this);
    const kinds: readonly FaultKind[] =
      this.scenario !== null ? [] : options.faultKinds !== undefined ? options.faultKinds.filter((k): k is FaultKind => (FAULT_KINDS as readonly string[]).includes(k)) : PROFILE_FAULTS[options.faults];
    this.faults = new FaultInjector(this, kinds, options.faultIntervalMs ?? 1_500);
    this.retention = this.scenario === null && (options.retention ?? true) ? new RetentionDriver(this, SIM_STATE_MACHINE.blockSpanMs) : null;
    this.opsRemaining = this.scenario?.workload === false ? 0 : options.ops;
    const clientCount = founders.length + 1;
    this.thinkMs = (options.simSeconds * 1000 * clientCount) / Math.max(1, options.ops);
    for (let c = 1; c <= clientCount; c++) this.clients.push(new SimClient(this, `client-${c}`, this.prng.fork()));
  }

  node(id: NodeId): SimNode | undefined {
    return this.nodes.find((n) => n.id === id);
  }

  impairedCount(): number {
    let count = 0;
    for (const n of this.nodes) {
      if (this.operator.procedures.has(n.id)) count++;
      else if (!n.founding && !this.isMember(n.id)) continue; // a spare that never joined
      else if (n.life !== 'up' || n.paused || n.unverified || n.crashArmed) count++;
    }
    return count;
  }

  healthy(): boolean {
    return this.impairedCount() === 0 && !this.network.partitioned;
  }

  settled(): boolean {
    if (!this.healthy()) return false;
    const leader = this.operator.leader();
    if (leader === null) return false;
    return leader.status.members.every((m) => {
      const n = this.node(m.id);
      return n !== undefined && n.running && n.replica!.status().commitIndex === leader.status.commitIndex;
    });
  }

  private isMember(id: NodeId): boolean {
    return this.operator.leader()?.status.members.some((m) => m.id === id) ?? false;
  }

  /** Advance virtual time until `cond` holds (checked every 50 ms) or `boundMs` passes. */
  async waitUntil(cond: () => boolean, boundMs: number): Promise<boolean> {
    const end = this.scheduler.nowMs + boundMs;
    while (this.scheduler.nowMs < end && this.scheduler.storm === null) {
      if (cond()) return true;
      await this.scheduler.runUntil(Math.min(end, this.scheduler.nowMs + 50));
    }
    return cond();
  }

  /** For scenario scripts (which run inside the world): wait in virtual time. */
  async until(cond: () => boolean, boundMs: number, pollMs = 20): Promise<boolean> {
    const end = this.scheduler.nowMs + boundMs;
    while (!cond()) {
      if (this.scheduler.nowMs >= end) return false;
      await this.scheduler.sleep(pollMs);
    }
    return true;
  }

  async run(): Promise<SeedResult> {
    const wallStart = performance.now();
    const simEndMs = this.options.simSeconds * 1000;
    for (const n of this.nodes) if (n.founding) void n.boot(this.founding);
    this.operator.start();
    for (const c of this.clients) void c.run();
    this.faults.start(FAULTS_START_MS);
    this.retention?.start();
    this.scheduleLogMatching();
    let scenarioDone = this.scenario === null;
    if (this.scenario !== null) {
      const scenario = this.scenario;
      void scenario.script(this).then(
        () => (scenarioDone = true),
        (error: unknown) => {
          scenarioDone = true;
          this.violations.report('scenario', `scenario ${scenario.name} script failed: ${String(error)}`);
        },
      );
    }
    await this.scheduler.runUntil(simEndMs, () => this.violations.any && this.options.injectBug !== null);
    // A script may need longer than the fault phase: let it finish before healing.
    if (!scenarioDone) await this.waitUntil(() => scenarioDone, LIVENESS_BOUND_MS);

    // Liveness phase: faults stop, everything heals; the cluster must recover.
    this.faultsActive = false;
    this.faults.stop();
    this.issuing = false;
    const healedAtMs = this.scheduler.nowMs;
    const recovered = await this.waitUntil(() => scenarioDone && this.clients.every((c) => c.idle) && this.operator.idle && this.leaderCount() > 0, LIVENESS_BOUND_MS);
    if (!recovered && !this.violations.any && this.scheduler.storm === null) {
      const reasons: string[] = [];
      if (!scenarioDone) reasons.push('the scenario script did not finish');
      if (!this.clients.every((c) => c.idle)) reasons.push('client operations still pending');
      if (!this.operator.idle) reasons.push(`operator procedures pending: ${[...this.operator.procedures.entries()].map(([id, p]) => `${id}:${p.kind === 'rejoin' ? p.stage : p.kind}`).join(', ')}`);
      if (this.leaderCount() === 0) reasons.push('no leader');
      this.violations.report('liveness', `${LIVENESS_BOUND_MS / 1000} s after faults stopped: ${reasons.join('; ')}`);
    }
    if (this.scheduler.storm === null && (!this.violations.any || this.options.injectBug === null)) await this.probe(healedAtMs);
    this.operator.stop();
    const storm = this.scheduler.storm;
    if (storm !== null) {
      this.violations.report('liveness', `event storm: more than ${storm.events} events in one virtual second at ${Math.round(storm.atMs)} ms (a message or retry loop feeding itself); the run was stopped`);
    }
    this.finalChecks();
    return this.result(wallStart);
  }

  private leaderCount(): number {
    return this.operator.leader() === null ? 0 : 1;
  }

  /** After recovery a write and a linearizable read succeed, and every member converges. */
  private async probe(healedAtMs: number): Promise<void> {
    const bound = healedAtMs + LIVENESS_BOUND_MS * 2 - this.scheduler.nowMs;
    const probe = new SimClient(this, 'probe', this.prng.fork());
    let wrote: boolean | null = null;
    void probe.write().then((op) => (wrote = op.outcome === 'ok'));
    await this.waitUntil(() => wrote !== null, Math.max(bound, 1_000));
    if (wrote !== true) {
      if (!this.violations.any) this.violations.report('liveness', `a write after the faults stopped did not succeed (${wrote === null ? 'still pending' : 'gave up'})`);
      return;
    }
    const converged = await this.waitUntil(() => this.converged(), Math.max(LIVENESS_BOUND_MS / 2, 1_000));
    if (!converged && !this.violations.any) this.violations.report('liveness', `members did not converge on one applied index: ${this.appliedSummary()}`);
    let read: boolean | null = null;
    const leader = this.operator.leader()?.node;
    void probe.read(leader, 'linearizable').then((ok) => (read = ok));
    await this.waitUntil(() => read !== null, 5_000);
    if (read !== true && !this.violations.any) this.violations.report('liveness', 'a linearizable read at the leader after the faults stopped failed');
  }

  private members(): NodeId[] {
    const leader = this.operator.leader();
    return leader === null ? [] : leader.status.members.map((m) => m.id);
  }

  private converged(): boolean {
    const leader = this.operator.leader();
    if (leader === null) return false;
    const commit = leader.status.commitIndex;
    for (const id of this.members()) {
      const n = this.node(id);
      if (n === undefined || !n.running || n.replica!.appliedIndex !== commit) return false;
    }
    return true;
  }

  private appliedSummary(): string {
    return this.nodes.map((n) => `${n.id}:${n.life}${n.running ? `@${n.replica!.appliedIndex}` : ''}`).join(' ');
  }

  private onFatal(node: SimNode, error: unknown): void {
    const code = isTsraftError(error) ? error.code : null;
    if (code !== null && CORRUPTION_CODES.has(code) && node.corruptionInjected) {
      this.corruptionsDetected++;
    } else {
      this.violations.report('fatal-error', `${node.id} stopped on ${code ?? (error as Error)?.name ?? 'error'}: ${(error as Error)?.message ?? String(error)}`, {
        node: node.id,
        stack: (error as Error)?.stack?.split('\n').slice(0, 6).join('\n'),
      });
    }
    // Whatever the cause, the node's disk can no longer be trusted: rebuild it.
    this.operator.rebuild(node);
  }

  private scheduleLogMatching(): void {
    const check = (): void => {
      this.checkLogMatching();
      if (this.faultsActive) this.scheduler.after(LOG_MATCHING_EVERY_MS, check);
    };
    this.scheduler.after(LOG_MATCHING_EVERY_MS, check);
  }

  private checkLogMatching(): void {
    const logs = new Map<NodeId, ReturnType<typeof readDiskLog>>();
    for (const n of this.nodes) logs.set(n.id, readDiskLog(n.disk));
    checkLogMatching(logs, this.violations);
  }

  private finalChecks(): void {
    this.checkLogMatching();
    if (this.network.stats.messagesMalformed > 0) {
      this.violations.report('codec', `${this.network.stats.messagesMalformed} messages failed to decode after encoding (frame codec round trip)`);
    }
    // State machine safety at the end: equal applied index → byte-identical state.
    const byIndex = new Map<number, { id: NodeId; hash: string }>();
    for (const n of this.nodes) {
      if (!n.running) continue;
      const index = n.replica!.appliedIndex;
      const hash = n.sm!.stateHash();
      const seen = byIndex.get(index);
      if (seen === undefined) byIndex.set(index, { id: n.id, hash });
      else if (seen.hash !== hash) {
        this.violations.report('state-machine-safety', `${seen.id} and ${n.id} both applied ${index} entries but their states differ (${seen.hash} vs ${hash})`, { index });
      }
    }
    const order = buildCommitOrder(this.history, this.checkers.applied, this.violations, SIM_STATE_MACHINE.blockSpanMs, SIM_STATE_MACHINE.maxResultsPerSession);
    this.writePath = order.stats;
    this.lostWrites = checkDurability(this.history, order, this.violations);
    this.readsChecked = checkLinearizability(this.history, order, this.violations);
    // Every running replica's state is the model's state after its applied prefix.
    for (const n of this.nodes) {
      if (!n.running) continue;
      const expected = modelStateAt(order, n.replica!.appliedIndex);
      const sm = n.sm!.machine;
      const actual = new Map<string, number>();
      for (const metric of METRICS) {
        for (const info of sm.seriesOfMetric(metric)) {
          const key = seriesKeyOf(info.metric, info.tags);
          const cols = sm.readPoints(info.id, MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS);
          for (let i = 0; i < cols.length; i++) actual.set(pointKey(key, cols.timestampsMs[i]!), cols.values[i]!);
        }
      }
      const diff = [...expected].filter(([k, v]) => actual.get(k) !== v).length + [...actual.keys()].filter((k) => !expected.has(k)).length;
      if (diff > 0) {
        this.violations.report('durability', `${n.id}'s final state differs from the committed writes at index ${n.replica!.appliedIndex} in ${diff} points`, { node: n.id });
      }
    }
    this.scenario?.check?.(this);
  }

  lostWrites = 0;
  readsChecked: ReadsChecked = { linearizable: 0, stale: 0 };
  writePath: WritePathStats = emptyStats();
  private newLeaderCallbacks: Array<(node: SimNode) => void> = [];

  /** Call `cb` once, the moment some node next wins an election. */
  onNextLeader(cb: (node: SimNode) => void): void {
    this.newLeaderCallbacks.push(cb);
  }

  private result(wallStart: number): SeedResult {
    const failed = this.violations.any;
    const writes = this.history.writes;
    const appliedIndex = Math.max(0, ...this.nodes.map((n) => n.replica?.appliedIndex ?? 0));
    const result: SeedResult = {
      seed: this.options.seed,
      ok: !failed,
      nodes: this.nodes.filter((n) => n.founding).length,
      faults: this.options.faults,
      scenario: this.options.scenario,
      inject_bug: this.options.injectBug,
      violations: this.violations.list,
      acked_writes: writes.filter((w) => w.outcome === 'ok' && w.clientId !== 'probe').length,
      lost_writes: this.lostWrites,
      unknown_writes: writes.filter((w) => w.outcome !== 'ok').length,
      reads_checked: this.readsChecked.linearizable + this.readsChecked.stale,
      linearizable_reads: this.readsChecked.linearizable,
      stale_reads: this.readsChecked.stale,
      failed_ops: this.clients.reduce((sum, c) => sum + c.failedOps, 0) + this.history.failedReads,
      leaders: this.checkers.leaderOfTerm.size,
      faults_injected: this.faults.injected,
      corruptions_detected: this.corruptionsDetected,
      snapshots_installed: this.checkers.snapshotsInstalled,
      blocks_evicted: this.nodes.reduce((sum, n) => sum + (n.running ? n.sm!.machine.residencyStats().evictedBlocks : 0), 0),
      applied_index: appliedIndex,
      write_entries: this.writePath.writeEntries,
      coalesced_entries: this.writePath.coalescedEntries,
      coalesced_writes: this.writePath.coalescedWrites,
      by_id_batches: this.writePath.byIdBatches,
      stale_series: this.writePath.staleSeries,
      retention_passes: this.writePath.retentionPasses,
      series_removed: this.writePath.seriesRemoved,
      pipelined_writes: this.writePath.pipelinedWrites,
      max_in_flight: Math.max(0, ...this.clients.map((c) => c.stats.maxInFlight)),
      write_retries: this.clients.reduce((sum, c) => sum + c.stats.writeRetries, 0),
      out_of_order_writes: this.writePath.outOfOrderWrites,
      duplicate_writes: this.writePath.duplicateWrites,
      expired_writes: this.writePath.expiredWrites,
      forwarded_puts: this.forwardingStats.forwardedPuts,
      forwarded_not_leader: this.forwardingStats.forwardedNotLeader,
      forward_timeouts: this.forwardingStats.forwardTimeouts,
      forward_in_flight_refused: this.forwardingStats.forwardInFlightRefused,
      forwarded_together: this.forwardingStats.forwardedTogether,
      anywhere_writes: this.clients.reduce((sum, c) => sum + c.stats.anywhereWrites, 0),
      sim_seconds: round3(this.scheduler.nowMs / 1000),
      wall_seconds: round3((performance.now() - wallStart) / 1000),
      events: this.scheduler.eventsRun,
      trace_hash: this.trace.hash(),
    };
    if (failed) result.trace_tail = this.trace.lastLines();
    if (this.violations.list.some((v) => v.checker === 'linearizability' || v.checker === 'durability')) result.history = this.history.toJSON();
    return result;
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export async function runSeed(options: Partial<SimOptions> & { seed: number }): Promise<SeedResult> {
  const world = new World({ ...DEFAULT_OPTIONS, ...options });
  return world.run();
}

export { DEFAULT_OPTIONS };
