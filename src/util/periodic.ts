// A task run every intervalMs on an injected clock: the next run is scheduled
// only after the previous one finished, so slow runs never pile up, and stop()
// waits for a run in flight. Background jobs of a node (self-monitoring,
// retention passes, ...) use it instead of each keeping its own timer logic.
import { assert } from '../errors.js';
import type { Clock } from './clock.js';

export class PeriodicTask {
  private cancelTimer: (() => void) | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  /** `run` must not throw for expected failures (it decides what to log). */
  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly run: () => Promise<unknown>,
  ) {
    assert(Number.isSafeInteger(intervalMs) && intervalMs >= 1, `PeriodicTask: intervalMs ${intervalMs} must be a positive integer`);
  }

  get started(): boolean {
    return this.cancelTimer !== null || this.running !== null;
  }

  start(): void {
    assert(!this.started && !this.stopped, 'PeriodicTask.start: already started or stopped');
    this.schedule();
  }

  /** Stops scheduling and waits for a run in flight. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelTimer = null;
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.cancelTimer = this.clock.setTimer(this.intervalMs, () => {
      this.cancelTimer = null;
      this.running = this.run().then(() => {
        this.running = null;
        this.schedule();
      });
    });
  }
}
