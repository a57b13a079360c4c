// Retention passes through the log during the fault phase: every 2–6 virtual
// seconds the current leader proposes a `retention` command stamped with its
// own clock, through the node's RetentionScheduler (src/node/retention.ts),
// as a node with retention configured does. The cutoff varies from pass to
// pass instead of following the clock: it lands on a block boundary inside
// the workload's fixed range of timestamps, and half of the passes drop
// everything, removing every series. Clients keep writing those series:
// they are created again under new ids, and the ids the leader's connections
// remember go stale, so puts apply as stale_series and are proposed again
// by key. The checkers know what each pass removed (commit-order.ts).
import { RetentionScheduler } from '../src/node/retention.js';
import type { SeededPrng } from '../src/util/prng.js';
import { FIRST_TIMESTAMP_MS, TIMESTAMPS_PER_SERIES, TIMESTAMP_STEP_MS } from './history.js';
import type { SimNode } from './node.js';
import type { Scheduler } from './scheduler.js';
import type { Trace } from './trace.js';

const MIN_INTERVAL_MS = 2_000;
const MAX_INTERVAL_MS = 6_000;
/** Share of the passes that drop every block (and so every series). */
const DROP_ALL_FRACTION = 1 / 2;
const QUIET_LOG = { info: () => {}, warn: () => {}, debug: () => {} };

export interface RetentionWorld {
  scheduler: Scheduler;
  trace: Trace;
  prng: SeededPrng;
  nodes: readonly SimNode[];
  faultsActive: boolean;
}

export class RetentionDriver {
  /** Passes proposed (applied or not). */
  proposed = 0;

  constructor(
    private readonly world: RetentionWorld,
    /** The state machine's block span (retention drops whole blocks). */
    private readonly blockSpanMs: number,
  ) {}

  start(): void {
    this.scheduleNext();
  }

  private scheduleNext(): void {
    const w = this.world;
    w.scheduler.after(MIN_INTERVAL_MS + w.prng.nextFloat() * (MAX_INTERVAL_MS - MIN_INTERVAL_MS), () => {
      if (!w.faultsActive) return;
      this.pass();
      this.scheduleNext();
    });
  }

  private pass(): void {
    const w = this.world;
    const leader = w.nodes.find((n) => n.running && n.replica!.isLeader);
    if (leader === undefined) return;
    const blocks = Math.ceil((TIMESTAMPS_PER_SERIES * TIMESTAMP_STEP_MS) / this.blockSpanMs);
    const dropped = w.prng.chance(DROP_ALL_FRACTION) ? blocks : 1 + w.prng.nextInt(blocks - 1);
    const cutoffMs = FIRST_TIMESTAMP_MS + dropped * this.blockSpanMs;
    const clock = leader.clock!;
    const replica = leader.replica!;
    // The scheduler stamps the same clock reading: the pass cuts exactly here.
    const retentionMs = clock.nowMs() - cutoffMs;
    if (retentionMs < 1) return;
    const retention = new RetentionScheduler({ retentionMs, checkIntervalMs: MIN_INTERVAL_MS, clock, isLeader: () => replica.isLeader, propose: (data) => replica.propose(data), log: QUIET_LOG });
    this.proposed++;
    w.trace.record('retention', `${leader.id} drops ${dropped} of ${blocks} blocks`);
    void retention.runOnce();
  }
}
