// Reconnect delays: exponential backoff with "equal jitter" — attempt n waits
// a delay drawn uniformly from [cap/2, cap] where cap = min(max, min·2^n).
// The jitter keeps a restarted cluster's nodes from redialing in lockstep; the
// PRNG is injected so tests and the simulator can reproduce the sequence.
import { assert } from '../errors.js';
import type { Prng } from '../raft/types.js';

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly prng: Prng,
    readonly minDelayMs: number,
    readonly maxDelayMs: number,
  ) {
    assert(minDelayMs >= 1 && maxDelayMs >= minDelayMs, `Backoff: bad bounds ${minDelayMs}..${maxDelayMs}`);
  }

  /** The delay before the next attempt; each call doubles the cap up to the max. */
  nextDelayMs(): number {
    const cap = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    const half = Math.floor(cap / 2);
    const delay = cap - half + this.prng.nextInt(half + 1);
    assert(delay >= cap - half && delay <= cap, 'Backoff: delay outside [cap/2, cap]');
    return delay;
  }

  /** A connection succeeded: the next failure starts from the minimum again. */
  reset(): void {
    this.attempt = 0;
  }
}
