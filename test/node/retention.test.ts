// Retention through the log: the leader proposes leader-stamped retention
// passes; applying them drops only blocks older than the retention period.
import { describe, expect, it } from 'vitest';
import { parseNodeConfig } from '../../src/config/index.js';
import { TsraftError } from '../../src/errors.js';
import { RetentionScheduler } from '../../src/node/retention.js';
import { encodeCommand } from '../../src/tsdb/command.js';
import { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';
import { WriteBatchBuilder } from '../../src/tsdb/write-batch.js';
import type { Clock } from '../../src/util/clock.js';

const HOUR = 3_600_000;
const quiet = { info: () => {}, warn: () => {}, debug: () => {} };

/** A clock whose time only moves when the test says so. */
class ManualClock implements Clock {
  private timers: Array<{ at: number; fn: () => void }> = [];
  constructor(private now: number) {}
  nowMs(): number {
    return this.now;
  }
  setTimer(delayMs: number, fn: () => void): () => void {
    const t = { at: this.now + delayMs, fn };
    this.timers.push(t);
    return () => {
      this.timers = this.timers.filter((x) => x !== t);
    };
  }
  async advance(ms: number): Promise<void> {
    this.now += ms;
    const due = this.timers.filter((t) => t.at <= this.now);
    this.timers = this.timers.filter((t) => t.at > this.now);
    for (const t of due) t.fn();
    await new Promise((r) => setImmediate(r));
  }
}

function writeEntry(points: Array<[number, number]>): Uint8Array {
  const b = new WriteBatchBuilder();
  for (const [ts, v] of points) b.addPoint('m{host=a}', ts, v, false, null);
  return encodeCommand({ type: 'write', clientId: '', sequence: 0, firstUnackedSequence: 0, leaderTimeMs: 0, batch: b.encode() });
}

describe('retention through the log', () => {
  it('the leader proposes a pass stamped with its clock; applying it drops only expired blocks', async () => {
    const start = 1_700_000_000_000 - (1_700_000_000_000 % (2 * HOUR));
    const sm = new TimeSeriesStateMachine();
    let index = 0;
    // Two days of hourly points.
    sm.apply(++index, writeEntry(Array.from({ length: 48 }, (_, h) => [start + h * HOUR, h])));
    const clock = new ManualClock(start + 48 * HOUR);
    const scheduler = new RetentionScheduler({
      retentionMs: 24 * HOUR,
      checkIntervalMs: 60_000,
      clock,
      isLeader: () => true,
      propose: async (data) => sm.apply(++index, data),
      log: quiet,
    });
    scheduler.start();
    await clock.advance(60_000);
    await scheduler.stop();
    expect(scheduler.passes).toBe(1);
    const left = sm.readPoints(sm.seriesOfMetric('m')[0]!.id, 0, Number.MAX_SAFE_INTEGER);
    // Blocks ending before now − 24 h are gone; the last day is kept whole.
    const cutoff = clock.nowMs() - 24 * HOUR;
    expect(left.length).toBeGreaterThanOrEqual(24);
    expect(left.length).toBeLessThan(48);
    expect(left.timestampsMs[0]! + 2 * HOUR).toBeGreaterThan(cutoff);
  });

  it('a follower proposes nothing', async () => {
    const clock = new ManualClock(10 * HOUR);
    const proposed: Uint8Array[] = [];
    const scheduler = new RetentionScheduler({ retentionMs: HOUR, checkIntervalMs: 1000, clock, isLeader: () => false, propose: async (d) => proposed.push(d), log: quiet });
    scheduler.start();
    await clock.advance(1000);
    await clock.advance(1000);
    await scheduler.stop();
    expect(proposed).toHaveLength(0);
  });

  it('a failed proposal (leadership moved) is not fatal and the next pass still runs', async () => {
    const clock = new ManualClock(10 * HOUR);
    let calls = 0;
    const scheduler = new RetentionScheduler({
      retentionMs: HOUR,
      checkIntervalMs: 1000,
      clock,
      isLeader: () => true,
      propose: async () => {
        calls++;
        if (calls === 1) throw new TsraftError('TSR_ERR_LEADERSHIP_LOST', 'moved');
      },
      log: quiet,
    });
    scheduler.start();
    await clock.advance(1000);
    await clock.advance(1000);
    await scheduler.stop();
    expect(calls).toBe(2);
    expect(scheduler.passes).toBe(1);
  });

  it('validates the retention config section, naming the field', () => {
    const base = { nodeId: 'n1', clusterId: 'c1', dataDir: 'd', secret: 'a-secret-of-at-least-16-bytes', peers: { n1: 'ws://127.0.0.1:1' } };
    const ok = parseNodeConfig({ ...base, retention: { retentionMs: 7 * 24 * HOUR } }, { baseDir: '/tmp', configPath: null });
    expect(ok.retention).toEqual({ retentionMs: 7 * 24 * HOUR, checkIntervalMs: 60_000 });
    expect(parseNodeConfig(base, { baseDir: '/tmp', configPath: null }).retention.retentionMs).toBe(0);
    for (const bad of [{ retentionMs: 5 }, { retentionMs: -1 }, { checkIntervalMs: 1 }, { keep: 1 }]) {
      try {
        parseNodeConfig({ ...base, retention: bad }, { baseDir: '/tmp', configPath: null });
        expect.unreachable(`accepted ${JSON.stringify(bad)}`);
      } catch (error) {
        expect((error as TsraftError).code).toBe('TSR_ERR_INVALID_CONFIG');
        expect((error as TsraftError).message).toMatch(/retention/);
      }
    }
  });
});
