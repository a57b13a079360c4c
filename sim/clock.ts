// A node's clock in the simulator: virtual time from the scheduler, running
// at the node's own rate (tick-rate skew), with timers that belong to one
// process incarnation (a crash cancels them) and wait while the node is
// paused (a GC-like stall delays everything the process would do).
import type { Clock } from '../src/util/clock.js';
import type { Scheduler } from './scheduler.js';

/** Unix ms the simulated world starts at (2024-01-01T00:00:00Z): timestamps look real. */
export const SIM_EPOCH_MS = 1_704_067_200_000;

/** Decides whether a node's event may run now: returns the time to retry at
 *  when the node is paused, null when it may run, or 'dead' to drop it. */
export type EventGate = () => number | null | 'dead';

/** Run `fn` through `gate`: dropped if dead, deferred while paused. */
export function gated(scheduler: Scheduler, gate: EventGate, fn: () => void): () => void {
  const attempt = (): void => {
    const verdict = gate();
    if (verdict === 'dead') return;
    if (verdict === null) fn();
    else scheduler.at(verdict, attempt);
  };
  return attempt;
}

export class NodeClock implements Clock {
  /** Virtual ms per node ms: > 1 means this node's clock runs slow. */
  private msPerLocalMs = 1;
  private localAtRateChange = 0;
  private globalAtRateChange = 0;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly gate: EventGate,
  ) {}

  /** Set the node's tick rate: 1.1 = its clock runs 10% fast. */
  setRate(rate: number): void {
    this.localAtRateChange = this.localNow();
    this.globalAtRateChange = this.scheduler.nowMs;
    this.msPerLocalMs = 1 / rate;
  }

  get rate(): number {
    return 1 / this.msPerLocalMs;
  }

  nowMs(): number {
    return SIM_EPOCH_MS + Math.floor(this.localNow());
  }

  setTimer(delayMs: number, fn: () => void): () => void {
    let cancelled = false;
    const cancelEvent = this.scheduler.after(
      delayMs * this.msPerLocalMs,
      gated(this.scheduler, this.gate, () => {
        if (!cancelled) fn();
      }),
    );
    return () => {
      cancelled = true;
      cancelEvent();
    };
  }

  private localNow(): number {
    return this.localAtRateChange + (this.scheduler.nowMs - this.globalAtRateChange) / this.msPerLocalMs;
  }
}
