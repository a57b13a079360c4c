// Self-monitoring (docs/metrics.md, "Self-monitoring"): every intervalMs the
// node writes a few of its own metrics into the store as ordinary series
// `tsraft.*{host=<nodeId>}`, as OpenTSDB does with its own stats, so a new
// user has live data to query and chart at once.
//
// The points take the normal client write path (TsdbService.put): a follower
// forwards them to the leader, the leader validates, proposes and applies them
// like any client's, with its leader-stamped entry time; every replica applies
// the same entry, so the stored state stays deterministic. Timestamps are the
// sample time rounded down to the interval, so one node writes at most one
// point per series and interval. A sample that cannot be written (no leader,
// the node is stopping) is dropped and counted: the next one follows anyway.
import type { TsdbService } from '../api/service.js';
import { rethrowIfBug } from '../errors.js';
import type { NodeMetrics } from '../metrics/node-metrics.js';
import type { Clock } from '../util/clock.js';
import { PeriodicTask } from '../util/periodic.js';
import type { Logger } from './logger.js';

export interface SelfMonitorOptions {
  nodeId: string;
  intervalMs: number;
  metrics: NodeMetrics;
  service: Pick<TsdbService, 'put'>;
  clock: Clock;
  log: Pick<Logger, 'info' | 'warn' | 'debug'>;
}

/** One metric family value: the sum over its label sets (e.g. bytes sent to every peer). */
interface Readable {
  get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown>; metricName?: string }> }>;
}

/** The series written, each from one family of the node's registry. */
type Row = Awaited<ReturnType<Readable['get']>>['values'][number];
/** A histogram's family also holds _bucket and _sum rows: count its observations only. */
const countRows = (row: Row): boolean => row.metricName?.endsWith('_count') === true;

function familiesToSample(metrics: NodeMetrics): Array<[string, Readable, ((row: Row) => boolean)?]> {
  const f = metrics.families;
  return [
    ['tsraft.raft.term', f.term],
    ['tsraft.raft.is_leader', f.isLeader],
    ['tsraft.raft.commit_index', f.commitIndex],
    ['tsraft.raft.applied_index', f.appliedIndex],
    ['tsraft.raft.leader_changes', f.leaderChanges],
    ['tsraft.raft.proposals_pending', f.proposalsPending],
    ['tsraft.tsdb.series', f.series],
    ['tsraft.tsdb.points', f.points],
    ['tsraft.tsdb.points_ingested', f.pointsIngested],
    ['tsraft.tsdb.segment_bytes', f.segmentBytes],
    ['tsraft.storage.log_entries', f.logEntries],
    ['tsraft.storage.syncs', f.syncDuration, countRows],
    ['tsraft.transport.sent_bytes', f.sentBytes],
    ['tsraft.transport.received_bytes', f.receivedBytes],
  ];
}

export class SelfMonitor {
  private readonly task: PeriodicTask;
  private failuresInARow = 0;

  constructor(private readonly options: SelfMonitorOptions) {
    this.task = new PeriodicTask(options.clock, options.intervalMs, () => this.sampleOnce());
  }

  start(): void {
    this.options.log.info('self-monitoring on: writing tsraft.* series', { intervalMs: this.options.intervalMs });
    this.task.start();
  }

  /** Stops sampling and waits for a write in flight. Idempotent. */
  stop(): Promise<void> {
    return this.task.stop();
  }

  /** The points of one sample (exported for tests). */
  async points(nowMs: number): Promise<Array<{ metric: string; timestamp: number; value: number; tags: Record<string, string> }>> {
    const { metrics, nodeId, intervalMs } = this.options;
    await metrics.refresh();
    const timestamp = Math.floor(nowMs / intervalMs) * intervalMs;
    const tags = { host: nodeId };
    const points: Array<{ metric: string; timestamp: number; value: number; tags: Record<string, string> }> = [];
    for (const [metric, family, keep] of familiesToSample(metrics)) {
      const { values } = await family.get();
      let sum = 0;
      for (const row of values) if (keep === undefined || keep(row)) sum += row.value;
      if (Number.isFinite(sum)) points.push({ metric, timestamp, value: sum, tags });
    }
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    points.push({ metric: 'tsraft.process.resident_memory_bytes', timestamp, value: memory.rss, tags });
    points.push({ metric: 'tsraft.process.heap_used_bytes', timestamp, value: memory.heapUsed, tags });
    points.push({ metric: 'tsraft.process.cpu_seconds', timestamp, value: (cpu.user + cpu.system) / 1e6, tags });
    return points;
  }

  /** Takes one sample and writes it; never throws for an expected failure. */
  async sampleOnce(): Promise<boolean> {
    const { metrics, service, clock, log } = this.options;
    try {
      const points = await this.points(clock.nowMs());
      const result = await service.put({ kind: 'objects', points });
      if (result.failed > 0) {
        log.warn('self-monitoring: points were rejected', { failed: result.failed, first: result.errors[0]?.message });
      }
      metrics.families.selfMonitorWrites.inc({ result: 'success' });
      this.failuresInARow = 0;
      return true;
    } catch (error) {
      rethrowIfBug(error);
      metrics.families.selfMonitorWrites.inc({ result: 'failure' });
      this.failuresInARow++;
      // Elections and restarts make a few samples fail: say so once, not every interval.
      const fields = { error: (error as Error).message, failuresInARow: this.failuresInARow };
      if (this.failuresInARow === 3) log.warn('self-monitoring: samples keep failing', fields);
      else log.debug('self-monitoring: a sample was not written', fields);
      return false;
    }
  }
}
