// Retention through the log (issue 5, docs/configuration.md "retention"):
// every checkIntervalMs the leader proposes a `retention` command stamped with
// its own clock. Every replica applies the same entry, dropping whole blocks
// that ended before leaderTimeMs − retentionMs, so the data stays identical on
// every replica although no replica reads a clock while applying. Followers
// propose nothing; after a leader change the new leader simply continues.
import { encodeCommand } from '../tsdb/command.js';
import { assert, rethrowIfBug } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { PeriodicTask } from '../util/periodic.js';
import type { Logger } from './logger.js';

export interface RetentionOptions {
  /** Keep data this long, ms; blocks older are dropped. */
  retentionMs: number;
  /** How often the leader proposes a retention pass, ms. */
  checkIntervalMs: number;
  clock: Clock;
  /** Whether this node is the leader now. */
  isLeader: () => boolean;
  /** Propose log entry data (resolves once applied). */
  propose: (data: Uint8Array) => Promise<unknown>;
  log: Pick<Logger, 'info' | 'warn' | 'debug'>;
}

export class RetentionScheduler {
  private readonly task: PeriodicTask;
  /** Passes proposed and applied (for tests and logs). */
  passes = 0;

  constructor(private readonly options: RetentionOptions) {
    assert(Number.isSafeInteger(options.retentionMs) && options.retentionMs >= 1, `retention: retentionMs ${options.retentionMs} must be a positive integer`);
    this.task = new PeriodicTask(options.clock, options.checkIntervalMs, () => this.runOnce());
  }

  start(): void {
    this.options.log.info('retention on', { retentionMs: this.options.retentionMs, checkIntervalMs: this.options.checkIntervalMs });
    this.task.start();
  }

  stop(): Promise<void> {
    return this.task.stop();
  }

  /** One pass: on the leader, propose a retention command. Returns whether it was applied. */
  async runOnce(): Promise<boolean> {
    const { isLeader, propose, clock, retentionMs, log } = this.options;
    if (!isLeader()) return false;
    try {
      await propose(encodeCommand({ type: 'retention', leaderTimeMs: Math.floor(clock.nowMs()), retentionMs }));
      this.passes++;
      return true;
    } catch (error) {
      rethrowIfBug(error);
      // Leadership moved or the node is stopping: the next leader's pass covers it.
      log.debug('retention pass not applied', { error: (error as Error).message });
      return false;
    }
  }
}
