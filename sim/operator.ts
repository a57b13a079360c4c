// The simulated operator: what a person (or orchestration) does to a cluster.
// It restarts crashed nodes after their downtime, rebuilds a node whose disk
// was lost or found corrupt (remove it from the membership, wipe, start it
// empty, add it back as a learner, promote it once caught up), and as part
// of the workload runs membership changes and leadership transfers.
//
// Rebuilding by remove + re-add is what keeps a lost disk safe: a node that
// forgot its votes and acknowledged entries never votes again until it has
// caught up as a learner (etcd's and the Raft thesis' advice, §4.2).
import { rethrowIfBug } from '../src/errors.js';
import type { ConfigState, NodeId } from '../src/raft/types.js';
import type { ReplicaStatus } from '../src/replica/types.js';
import type { SeededPrng } from '../src/util/prng.js';
import type { SimNode } from './node.js';
import type { Scheduler } from './scheduler.js';
import type { Trace } from './trace.js';

export type RejoinStage = 'remove' | 'start' | 'add-learner' | 'catch-up' | 'promote';

export type Procedure =
  | { kind: 'restart'; atMs: number }
  /** `wipe`: the node's disk is lost (rebuild); otherwise a membership
   *  change cycle of a healthy node that keeps its data. */
  | { kind: 'rejoin'; wipe: boolean; stage: RejoinStage; busy: boolean; startedMs: number };

export interface OperatorWorld {
  scheduler: Scheduler;
  trace: Trace;
  prng: SeededPrng;
  nodes: readonly SimNode[];
  founding: ConfigState;
  /** Whether random faults may still happen (the workload's membership
   *  changes and transfers stop with them). */
  faultsActive: boolean;
  membershipChanges: boolean;
  healthy(): boolean;
}

/** How often the operator looks at the cluster, virtual ms. */
export const OPERATOR_INTERVAL_MS = 200;
const MEMBERSHIP_CHANGE_EVERY_MS = 9_000;
const TRANSFER_EVERY_MS = 6_000;
/** The operator gives up waiting on one membership operation after this. */
const OPERATION_DEADLINE_MS = 4_000;

export class Operator {
  readonly procedures = new Map<NodeId, Procedure>();
  membershipChangesDone = 0;
  transfersDone = 0;
  private nextMembershipChangeMs: number;
  private nextTransferMs: number;
  private transferBusy = false;
  private stopped = false;

  constructor(private readonly world: OperatorWorld) {
    this.nextMembershipChangeMs = MEMBERSHIP_CHANGE_EVERY_MS * (0.5 + world.prng.nextFloat());
    this.nextTransferMs = TRANSFER_EVERY_MS * (0.5 + world.prng.nextFloat());
  }

  start(): void {
    const tick = (): void => {
      if (this.stopped) return;
      this.step();
      this.world.scheduler.after(OPERATOR_INTERVAL_MS, tick);
    };
    this.world.scheduler.after(OPERATOR_INTERVAL_MS, tick);
  }

  stop(): void {
    this.stopped = true;
  }

  get idle(): boolean {
    return this.procedures.size === 0;
  }

  scheduleRestart(node: SimNode, afterMs: number): void {
    if (this.procedures.get(node.id)?.kind === 'rejoin') return;
    this.procedures.set(node.id, { kind: 'restart', atMs: this.world.scheduler.nowMs + afterMs });
  }

  /** Rebuild `node` from its peers (its disk is lost or corrupt). */
  rebuild(node: SimNode): void {
    // Always from the removal: the leader's progress for the old incarnation
    // (its match index) must be forgotten before the empty node is added back.
    this.world.trace.record('operator', `${node.id} rebuild`);
    this.procedures.set(node.id, { kind: 'rejoin', wipe: true, stage: 'remove', busy: false, startedMs: this.world.scheduler.nowMs });
  }

  /** Remove `node` from the membership and add it back (it keeps its data). */
  cycleMembership(node: SimNode): void {
    this.world.trace.record('operator', `${node.id} membership cycle`);
    this.procedures.set(node.id, { kind: 'rejoin', wipe: false, stage: 'remove', busy: false, startedMs: this.world.scheduler.nowMs });
  }

  /** The established leader: running, leading, and it has committed an entry
   *  of its term (so its view of the membership is current). A deposed leader
   *  that has not noticed yet (paused, partitioned) does not qualify. */
  leader(): { node: SimNode; status: ReplicaStatus } | null {
    let best: { node: SimNode; status: ReplicaStatus } | null = null;
    for (const node of this.world.nodes) {
      if (!node.running) continue;
      const status = node.replica!.status();
      if (status.role !== 'leader' || node.replica!.termAt(status.commitIndex) !== status.term) continue;
      if (best === null || status.term > best.status.term) best = { node, status };
    }
    return best;
  }

  private step(): void {
    const now = this.world.scheduler.nowMs;
    for (const node of this.world.nodes) {
      const p = this.procedures.get(node.id);
      if (p === undefined) continue;
      if (p.kind === 'restart') {
        if (node.life === 'up') this.procedures.delete(node.id);
        else if (now >= p.atMs && node.life === 'down') {
          this.procedures.delete(node.id);
          void node.boot(node.founding && node.diskGeneration === 0 ? this.world.founding : null);
        }
        continue;
      }
      this.stepRejoin(node, p);
    }
    if (!this.world.faultsActive || !this.world.membershipChanges) return;
    if (now >= this.nextMembershipChangeMs) {
      this.nextMembershipChangeMs = now + MEMBERSHIP_CHANGE_EVERY_MS * (0.5 + this.world.prng.nextFloat());
      if (this.world.healthy()) {
        const voters = this.leader()?.status.members.filter((m) => m.role !== 'learner') ?? [];
        if (voters.length === this.world.nodes.length) {
          const target = this.world.nodes[this.world.prng.nextInt(this.world.nodes.length)]!;
          this.membershipChangesDone++;
          this.cycleMembership(target);
        }
      }
    }
    if (now >= this.nextTransferMs) {
      this.nextTransferMs = now + TRANSFER_EVERY_MS * (0.5 + this.world.prng.nextFloat());
      const leader = this.leader();
      if (leader !== null && !this.transferBusy && this.world.healthy()) {
        const voters = leader.status.members.filter((m) => m.role !== 'learner' && m.id !== leader.node.id);
        if (voters.length > 0) {
          const target = voters[this.world.prng.nextInt(voters.length)]!.id;
          this.transferBusy = true;
          this.transfersDone++;
          this.world.trace.record('operator', `transfer ${leader.node.id} -> ${target}`);
          this.withDeadline(
            () => leader.node.replica!.transferLeader(target, { timeoutMs: 3_000 }),
            () => (this.transferBusy = false),
          );
        }
      }
    }
  }

  /** Run an operation at a node; `done` runs once when it settles or after
   *  OPERATION_DEADLINE_MS (a node that crashed meanwhile never answers). */
  private withDeadline(op: () => Promise<void>, done: () => void): void {
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      done();
    };
    this.world.scheduler.after(OPERATION_DEADLINE_MS, finish);
    op().then(finish, (error: unknown) => {
      rethrowIfBug(error);
      finish();
    });
  }

  private stepRejoin(node: SimNode, p: Extract<Procedure, { kind: 'rejoin' }>): void {
    if (p.busy) return;
    const beforeStart = p.stage === 'remove' || p.stage === 'start';
    if (p.wipe && beforeStart && node.life !== 'down') node.crash(false); // keep it stopped until it is removed
    if (!beforeStart && node.life === 'down') void node.boot(null); // crashed meanwhile: it keeps its (new) data
    const leader = this.leader();
    if (leader === null) return;
    const member = leader.status.members.find((m) => m.id === node.id);
    const run = (what: string, op: () => Promise<void>): void => {
      p.busy = true;
      this.world.trace.record('operator', `${node.id} ${what} via ${leader.node.id}`);
      this.withDeadline(op, () => (p.busy = false));
    };
    switch (p.stage) {
      case 'remove':
        if (member === undefined) p.stage = 'start';
        else if (leader.node.id === node.id && p.wipe) return; // wait for another leader
        else run('remove', () => leader.node.replica!.removeNode(node.id, { timeoutMs: 3_000 }));
        return;
      case 'start':
        if (p.wipe) {
          node.wipe();
          void node.boot(null);
        } else if (node.life !== 'up') {
          void node.boot(null);
        }
        p.stage = 'add-learner';
        return;
      case 'add-learner':
        if (member !== undefined) p.stage = 'catch-up';
        else run('add learner', () => leader.node.replica!.addNode(node.id, node.url, 'learner', { timeoutMs: 3_000 }));
        return;
      case 'catch-up': {
        if (member === undefined) {
          p.stage = 'add-learner';
          return;
        }
        if (member.role !== 'learner') {
          this.procedures.delete(node.id);
          return;
        }
        const match = leader.status.progress[node.id]?.match ?? 0;
        if (node.running && match >= leader.status.commitIndex) p.stage = 'promote';
        return;
      }
      case 'promote':
        if (member === undefined) p.stage = 'add-learner';
        else if (member.role !== 'learner') {
          this.world.trace.record('operator', `${node.id} rejoined as a voter`);
          this.procedures.delete(node.id);
        } else run('promote', () => leader.node.replica!.addNode(node.id, node.url, 'voter', { timeoutMs: 3_000 }));
        return;
    }
  }
}
