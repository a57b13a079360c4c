// SelfMonitor: samples the node's own metrics into ordinary tsraft.* series
// through a real TsdbService (LocalTsdbService), on a clock the test drives.
import { describe, expect, it } from 'vitest';
import { LocalTsdbService } from '../../src/api/local-service.js';
import type { TsdbService } from '../../src/api/service.js';
import { TsraftError } from '../../src/errors.js';
import { NodeMetrics } from '../../src/metrics/node-metrics.js';
import { SelfMonitor } from '../../src/node/self-monitor.js';
import { parseQueryParams } from '../../src/tsdb/query/index.js';
import type { Clock } from '../../src/util/clock.js';

const START_MS = 1_700_000_003_456;

/** A clock whose timers run when the test advances it. */
class ManualClock implements Clock {
  now = START_MS;
  private timers: Array<{ at: number; fn: () => void; cancelled: boolean }> = [];
  nowMs(): number {
    return this.now;
  }
  setTimer(delayMs: number, fn: () => void): () => void {
    const timer = { at: this.now + delayMs, fn, cancelled: false };
    this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }
  get pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
  /** Advance time, running due timers, and let their promises settle. */
  async advance(ms: number): Promise<void> {
    this.now += ms;
    const due = this.timers.filter((t) => !t.cancelled && t.at <= this.now);
    this.timers = this.timers.filter((t) => !due.includes(t));
    for (const t of due) t.fn();
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  }
}

const quietLog = { info: () => {}, warn: () => {}, debug: () => {} };

function setup(service?: Pick<TsdbService, 'put'>): { clock: ManualClock; local: LocalTsdbService; metrics: NodeMetrics; monitor: SelfMonitor } {
  const clock = new ManualClock();
  const local = new LocalTsdbService({ clock });
  const metrics = new NodeMetrics({ nodeId: 'n7', clusterId: 'c', version: 'test', disk: null });
  metrics.attach({ replicaStatus: () => null, transportStats: () => null, stateMachineStats: () => local.stateMachine.stats() });
  const monitor = new SelfMonitor({ nodeId: 'n7', intervalMs: 10_000, metrics, service: service ?? local, clock, log: quietLog });
  return { clock, local, metrics, monitor };
}

async function counter(metrics: NodeMetrics, result: string): Promise<number> {
  return (await metrics.families.selfMonitorWrites.get()).values.find((v) => v.labels.result === result)!.value;
}

describe('SelfMonitor', () => {
  it('writes tsraft.* points tagged with the node id at the sample time rounded down to the interval', async () => {
    const { local, metrics, monitor, clock } = setup();
    const points = await monitor.points(clock.nowMs());
    expect(points.length).toBeGreaterThanOrEqual(15);
    for (const p of points) {
      expect(p.metric).toMatch(/^tsraft\.[a-z_]+\.[a-z_]+$/);
      expect(p.tags).toEqual({ host: 'n7' });
      expect(p.timestamp).toBe(1_700_000_000_000);
      expect(Number.isFinite(p.value)).toBe(true);
    }
    expect(await monitor.sampleOnce()).toBe(true);
    expect(await counter(metrics, 'success')).toBe(1);
    const names = await local.suggest('metrics', 'tsraft.', 100, { consistency: 'stale' });
    expect(names).toEqual(expect.arrayContaining(['tsraft.tsdb.series', 'tsraft.process.resident_memory_bytes', 'tsraft.raft.term']));
  });

  it('samples every interval once started, and stops scheduling when stopped', async () => {
    const { local, monitor, clock } = setup();
    monitor.start();
    await clock.advance(10_000);
    await clock.advance(10_000);
    await clock.advance(10_000);
    const query = parseQueryParams(new URLSearchParams({ start: String(START_MS - 60_000), m: 'sum:tsraft.process.heap_used_bytes{host=*}' }), { nowMs: clock.now });
    const [group] = await local.query(query, { consistency: 'stale' });
    expect(group!.tags).toEqual({ host: 'n7' });
    expect(group!.dps.length).toBe(3);
    await monitor.stop();
    expect(clock.pending).toBe(0);
    await clock.advance(30_000);
    const [again] = await local.query(query, { consistency: 'stale' });
    expect(again!.dps.length).toBe(3);
  });

  it('drops a sample it cannot write, counts it, and keeps sampling', async () => {
    // A node that knows no leader cannot write (SelfMonitor only ever calls put).
    const failing: Pick<TsdbService, 'put'> = {
      put: async () => {
        throw new TsraftError('TSR_ERR_NO_LEADER', 'no leader is known');
      },
    };
    const { metrics, monitor, clock } = setup(failing);
    monitor.start();
    await clock.advance(10_000);
    await clock.advance(10_000);
    expect(await counter(metrics, 'failure')).toBe(2);
    expect(clock.pending).toBe(1);
    await monitor.stop();
  });
});
