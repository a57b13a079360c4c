// Random faults, drawn from the run's PRNG during the fault phase. Each fault
// schedules its own end (heal, restart, resume). Two budgets keep a run
// meaningful: faults that lose data (wipe, torn write, bit flip) hit only a
// settled cluster (every node healthy and caught up), so data that a majority
// stored always survives; crashes and pauses may take up to f+1 nodes
// (f = ⌊(n−1)/2⌋), so a quorum is sometimes lost for a while.
import type { NodeId } from '../src/raft/types.js';
import type { SeededPrng } from '../src/util/prng.js';
import type { SimNetwork } from './network.js';
import { QUIET_NETWORK } from './network.js';
import { NORMAL_DISK, type SimNode } from './node.js';
import type { Operator } from './operator.js';
import type { Scheduler } from './scheduler.js';
import type { Trace } from './trace.js';
import type { FaultProfile } from './types.js';

export const FAULT_KINDS = [
  'net-chaos',
  'partition-leader',
  'partition-node',
  'partition-split',
  'partition-oneway',
  'partition-new-leader',
  'leader-churn',
  'crash',
  'crash-leader',
  'crash-new-leader',
  'kill-installing',
  'pause',
  'pause-leader',
  'wipe',
  'crash-torn',
  'bitflip',
  'slow-disk',
  'skew',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export const PROFILE_FAULTS: Readonly<Record<FaultProfile, readonly FaultKind[]>> = {
  none: [],
  network: ['net-chaos', 'partition-leader', 'partition-node', 'partition-split', 'partition-oneway', 'partition-new-leader', 'leader-churn'],
  crash: ['crash', 'crash-leader', 'crash-new-leader', 'kill-installing', 'pause', 'pause-leader', 'wipe'],
  disk: ['slow-disk', 'bitflip', 'crash-torn'],
  clock: ['skew'],
  all: FAULT_KINDS,
};

export interface FaultWorld {
  scheduler: Scheduler;
  prng: SeededPrng;
  trace: Trace;
  network: SimNetwork;
  nodes: readonly SimNode[];
  operator: Operator;
  /** Nodes down, paused, failed or in a membership procedure. */
  impairedCount(): number;
  /** Call `cb` once, the moment some node next wins an election. */
  onNextLeader(cb: (node: SimNode) => void): void;
  /** No node impaired, no partition, and every member knows the leader's
   *  commit index (so every member knows the committed membership). */
  settled(): boolean;
}

export class FaultInjector {
  injected = 0;
  private stopped = false;
  private partitionUntilMs = 0;
  /** A fault waits for the next election (at most one at a time). */
  private newLeaderTrap = false;

  constructor(
    private readonly world: FaultWorld,
    private readonly kinds: readonly FaultKind[],
    private readonly meanIntervalMs: number,
  ) {}

  /** Inject faults from `fromMs` until stop(). */
  start(fromMs: number): void {
    if (this.kinds.length === 0) return;
    const next = (): void => {
      if (this.stopped) return;
      this.injectOne();
      this.world.scheduler.after(this.meanIntervalMs * (0.3 + 1.4 * this.world.prng.nextFloat()), next);
    };
    this.world.scheduler.at(fromMs, next);
  }

  /** Stop injecting and undo every lasting fault (the liveness phase starts). */
  stop(): void {
    this.stopped = true;
    const w = this.world;
    w.network.heal();
    w.network.faults = { ...QUIET_NETWORK };
    for (const node of w.nodes) {
      node.resume();
      node.disarmKillDuringInstall();
      node.diskLatency = { ...NORMAL_DISK };
      if (node.clockRate !== 1) node.setClockRate(1);
      if (node.life === 'down' && w.operator.procedures.get(node.id) === undefined) w.operator.scheduleRestart(node, 0);
    }
    w.trace.record('fault', 'stop: healed, resumed, restarting');
  }

  private f(): number {
    return Math.floor((this.world.nodes.length - 1) / 2);
  }

  private leader(): SimNode | null {
    return this.world.operator.leader()?.node ?? null;
  }

  private pick(filter: (n: SimNode) => boolean = () => true): SimNode | null {
    const candidates = this.world.nodes.filter(filter);
    return candidates.length === 0 ? null : candidates[this.world.prng.nextInt(candidates.length)]!;
  }

  private between(lo: number, hi: number): number {
    return lo + this.world.prng.nextFloat() * (hi - lo);
  }

  private injectOne(): void {
    const w = this.world;
    const kind = this.kinds[w.prng.nextInt(this.kinds.length)]!;
    const now = w.scheduler.nowMs;
    const impaired = w.impairedCount();
    const healthyUp = (n: SimNode): boolean => n.running && !n.paused && w.operator.procedures.get(n.id) === undefined;
    const ids = w.nodes.map((n) => n.id);
    const record = (detail: string): void => {
      this.injected++;
      w.trace.record('fault', `${kind} ${detail}`);
    };
    const heal = (afterMs: number): void => {
      this.partitionUntilMs = w.scheduler.nowMs + afterMs;
      w.scheduler.after(afterMs, () => {
        if (this.stopped || w.scheduler.nowMs < this.partitionUntilMs) return;
        w.network.heal();
        w.trace.record('fault', 'heal');
      });
    };
    switch (kind) {
      case 'net-chaos': {
        w.network.faults = {
          dropRate: this.between(0.02, 0.3),
          duplicateRate: this.between(0, 0.1),
          minDelayMs: 1,
          maxDelayMs: this.between(5, 60),
          spikeRate: this.between(0, 0.1),
          spikeDelayMs: this.between(50, 800),
        };
        const forMs = this.between(2_000, 8_000);
        w.scheduler.after(forMs, () => {
          if (!this.stopped) w.network.faults = { ...QUIET_NETWORK };
        });
        record(`drop=${w.network.faults.dropRate.toFixed(2)} for ${Math.round(forMs)}ms`);
        return;
      }
      case 'partition-leader':
      case 'partition-node': {
        // Isolations may overlap (the old leader still cut off when the new
        // one is): that is how divergent logs of several terms arise.
        const target = kind === 'partition-leader' ? this.leader() : this.pick((n) => n.running);
        if (target === null) return;
        w.network.isolate(target.id, ids);
        record(target.id);
        heal(this.between(1_000, 6_000));
        return;
      }
      case 'partition-split': {
        if (w.network.partitioned) return;
        const shuffled = this.shuffle(ids);
        const cut = Math.floor(ids.length / 2); // 2–1 of 3, 3–2 of 5 (the minority side first)
        const groups = [shuffled.slice(0, cut), shuffled.slice(cut)];
        w.network.partition(groups);
        record(groups.map((g) => g.join(',')).join(' | '));
        heal(this.between(1_000, 6_000));
        return;
      }
      case 'partition-oneway': {
        if (w.network.partitioned) return;
        const from = this.leader() ?? this.pick();
        const to = this.pick((n) => n.id !== from?.id);
        if (from === null || to === null) return;
        w.network.cutLink(from.id, to.id);
        record(`${from.id}>${to.id}`);
        heal(this.between(1_000, 6_000));
        return;
      }
      case 'partition-new-leader':
      case 'crash-new-leader': {
        // Leader churn as in Figure 8: the next leader is cut off or crashes
        // a few ms after its election, its log replicated partly or not at all.
        if (this.newLeaderTrap) return;
        this.newLeaderTrap = true;
        record('armed');
        w.onNextLeader((target) => {
          this.newLeaderTrap = false;
          w.scheduler.after(this.between(0, 15), () => {
            if (this.stopped || target.life !== 'up') return;
            if (kind === 'partition-new-leader') {
              w.network.isolate(target.id, ids);
              w.trace.record('fault', `${kind} ${target.id}`);
              heal(this.between(500, 4_000));
            } else {
              if (w.impairedCount() >= this.f() + 1) return;
              target.crash(false);
              w.trace.record('fault', `${kind} ${target.id}`);
              if (w.operator.procedures.get(target.id) === undefined) w.operator.scheduleRestart(target, this.between(100, 3_000));
            }
          });
        });
        return;
      }
      case 'leader-churn': {
        // A randomized Figure 8 (Raft paper, §5.4.2): leader A is cut off
        // while clients still write to it (an uncommitted tail of its term);
        // the next leader B is cut off within ms of winning (its entries stay
        // on B alone); A comes back and, B still away, is re-elected; a few ms
        // into catching the others up with its old-term tail, A is cut off
        // and B returns. A correct leader never committed A's tail.
        if (this.newLeaderTrap) return;
        const a = this.leader();
        if (a === null) return;
        this.newLeaderTrap = true;
        const release = w.scheduler.after(10_000, () => (this.newLeaderTrap = false));
        const isolateOnly = (away: readonly NodeId[]): void => {
          w.network.heal();
          for (const id of away) w.network.isolate(id, ids);
          w.trace.record('fault', `${kind} away: ${away.join(',') || '-'}`);
        };
        heal(10_000); // a safety net: the steps below heal sooner
        isolateOnly([a.id]);
        record(a.id);
        w.onNextLeader((b) => {
          w.scheduler.after(this.between(0, 3), () => {
            if (this.stopped) return;
            isolateOnly([a.id, b.id]);
            w.scheduler.after(this.between(300, 1_500), () => {
              if (this.stopped) return;
              isolateOnly([b.id]);
              w.onNextLeader((c) => {
                release();
                this.newLeaderTrap = false;
                w.scheduler.after(this.between(2, 15), () => {
                  if (this.stopped) return;
                  isolateOnly(c.id === b.id ? [] : [c.id]);
                  heal(this.between(500, 2_000));
                });
              });
            });
          });
        });
        return;
      }
      case 'crash':
      case 'crash-leader': {
        if (impaired >= this.f() + 1) return;
        const target = kind === 'crash-leader' ? this.leader() : this.pick((n) => n.life === 'up');
        if (target === null || target.life !== 'up' || target.crashArmed) return;
        const restart = (): void => {
          if (w.operator.procedures.get(target.id) === undefined) w.operator.scheduleRestart(target, this.between(100, 4_000));
        };
        if (w.prng.chance(0.5)) {
          target.crash(false);
          restart();
          record(target.id);
        } else {
          target.armCrashOnNextWrite(false, restart);
          record(`${target.id} during its next write`);
        }
        return;
      }
      case 'kill-installing': {
        // Down long enough for the log to be compacted past it, the node
        // comes back by a snapshot and is killed in the middle of installing
        // it: a restore marker and part of the series reach the disk.
        if (impaired >= this.f() + 1) return;
        const target = this.pick((n) => n.life === 'up' && n !== this.leader() && !n.installTrapArmed && !n.crashArmed);
        if (target === null) return;
        target.armKillDuringInstall(1 + w.prng.nextInt(6), () => w.operator.scheduleRestart(target, this.between(100, 1_000)));
        target.crash(false);
        if (w.operator.procedures.get(target.id) === undefined) w.operator.scheduleRestart(target, this.between(4_000, 10_000));
        record(target.id);
        return;
      }
      case 'pause':
      case 'pause-leader': {
        if (impaired >= this.f() + 1) return;
        const target = kind === 'pause-leader' ? this.leader() : this.pick(healthyUp);
        if (target === null || target.paused) return;
        target.pause(this.between(200, 3_000));
        record(target.id);
        return;
      }
      case 'wipe':
      case 'crash-torn':
      case 'bitflip': {
        // Data loss: only while the cluster is settled, so a majority keeps
        // every committed entry and knows the committed membership. (A
        // voter promoted by a leader that is lost before the others learn
        // of the commit still counts itself a learner: no quorum is left.)
        if (impaired > 0 || !w.settled()) return;
        const target = this.pick(healthyUp);
        if (target === null) return;
        if (kind === 'wipe') {
          target.wipe();
          w.operator.rebuild(target);
        } else if (kind === 'crash-torn') {
          if (target.crashArmed) return;
          target.armCrashOnNextWrite(true, () => w.operator.scheduleRestart(target, this.between(100, 2_000)));
        } else {
          if (!target.flipBit()) return;
          // Restart it soon so the corruption is read (and detected) at load.
          const restartInMs = this.between(200, 2_000);
          w.scheduler.after(restartInMs, () => {
            if (target.life !== 'up') return;
            target.crash(false);
            if (w.operator.procedures.get(target.id) === undefined) w.operator.scheduleRestart(target, 100);
          });
        }
        record(target.id);
        return;
      }
      case 'slow-disk': {
        const target = this.pick();
        if (target === null) return;
        target.diskLatency = { minMs: this.between(10, 50), maxMs: this.between(50, 400) };
        const forMs = this.between(2_000, 8_000);
        w.scheduler.after(forMs, () => {
          if (!this.stopped) target.diskLatency = { ...NORMAL_DISK };
        });
        record(`${target.id} ${Math.round(target.diskLatency.maxMs)}ms for ${Math.round(forMs)}ms`);
        return;
      }
      case 'skew': {
        const target = this.pick();
        if (target === null) return;
        target.setClockRate(this.between(0.6, 1.4));
        record(target.id);
        return;
      }
    }
  }

  private shuffle(ids: readonly NodeId[]): NodeId[] {
    const out = [...ids];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.world.prng.nextInt(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}
