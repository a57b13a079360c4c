// A token bucket in bytes per second: background jobs (re-verification,
// scrubbing) take tokens before they read, so they never use more than their
// share of the disk and network however much there is to read.
import { assert } from '../../errors.js';
import type { Clock } from '../../util/clock.js';

export class ByteRateLimiter {
  private tokens: number;
  private lastMs: number;

  /** bytesPerSecond 0 = unlimited. The bucket holds one second's worth. */
  constructor(
    readonly bytesPerSecond: number,
    private readonly clock: Pick<Clock, 'nowMs' | 'setTimer'>,
  ) {
    assert(Number.isFinite(bytesPerSecond) && bytesPerSecond >= 0, `rate ${bytesPerSecond} bytes/s must be ≥ 0`);
    this.tokens = bytesPerSecond;
    this.lastMs = clock.nowMs();
  }

  private refill(): void {
    const now = this.clock.nowMs();
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((now - this.lastMs) / 1000) * this.bytesPerSecond);
    this.lastMs = now;
  }

  /** Waits until `bytes` may be used (a request larger than the bucket waits for a debt to be paid off). */
  async take(bytes: number): Promise<void> {
    if (this.bytesPerSecond === 0 || bytes <= 0) return;
    this.refill();
    this.tokens -= bytes;
    if (this.tokens >= 0) return;
    const waitMs = Math.ceil((-this.tokens / this.bytesPerSecond) * 1000);
    await new Promise<void>((resolvePromise) => this.clock.setTimer(waitMs, resolvePromise));
    this.refill();
  }
}
