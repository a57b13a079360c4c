// A TsdbService over one in-process TimeSeriesStateMachine, without Raft:
// every put is encoded exactly as the leader encodes it (same command, same
// batch) and applied at the next index at once. Used by tests of every API
// surface and by tools that need a database without a cluster. Reads are
// trivially linearizable (there is one copy).
import { assert } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { encodeCommand } from '../tsdb/command.js';
import { executeQuery, type QueryLimits, type QueryResultGroup, type TsdbQuery } from '../tsdb/query/index.js';
import type { LookupQuery } from '../tsdb/series-index.js';
import { TimeSeriesStateMachine, type TimeSeriesStateMachineOptions } from '../tsdb/state-machine.js';
import type { Tags } from '../tsdb/types.js';
import { findLastPoints } from './last-point.js';
import { DEFAULT_PUT_LIMITS, SeriesCache, batchToPropose, encodePut, putResultOf, type PutLimits } from './put-encoder.js';
import { tsuidOf, type LastOptions, type LastPoint, type LastQuery, type LookupAnswer, type PointsInput, type PutOptions, type PutResult, type ReadOptions, type ServiceStatus, type Subscription, type SubscriptionSink, type SubscriptionSpec, type TsdbService } from './service.js';
import { SubscriptionHub, type SubscriptionHubOptions } from './subscriptions.js';

export interface LocalTsdbServiceOptions {
  clock: Clock;
  nodeId?: string;
  stateMachine?: Partial<TimeSeriesStateMachineOptions>;
  putLimits?: Partial<PutLimits>;
  queryLimits?: Partial<QueryLimits>;
  subscriptions?: Partial<SubscriptionHubOptions>;
  /** Series one /api/query/last request may return; default 100,000. */
  maxLastSeries?: number;
  /** Validated series remembered across puts; default 100,000 (0 disables). */
  seriesCacheEntries?: number;
}

export function seriesExistsIn(sm: TimeSeriesStateMachine, metric: string, tags: Tags): boolean {
  const keys = Object.keys(tags);
  return sm.seriesOfMetric(metric).some((info) => {
    const other = Object.keys(info.tags);
    return other.length === keys.length && keys.every((k) => info.tags[k] === tags[k]);
  });
}

export class LocalTsdbService implements TsdbService {
  readonly stateMachine: TimeSeriesStateMachine;
  private readonly clock: Clock;
  private readonly nodeId: string;
  private readonly putLimits: PutLimits;
  /** Series validated by earlier puts (skips re-validating them). */
  private readonly seriesCache: SeriesCache;
  private readonly queryLimits: Partial<QueryLimits>;
  private readonly hub: SubscriptionHub;
  private readonly maxLastSeries: number;
  private nextIndex = 1;

  constructor(options: LocalTsdbServiceOptions) {
    this.clock = options.clock;
    this.nodeId = options.nodeId ?? 'local';
    this.stateMachine = new TimeSeriesStateMachine(options.stateMachine);
    this.putLimits = { ...DEFAULT_PUT_LIMITS, ...options.putLimits };
    this.seriesCache = new SeriesCache(options.seriesCacheEntries ?? 100_000);
    this.queryLimits = options.queryLimits ?? {};
    this.hub = new SubscriptionHub(options.subscriptions);
    this.maxLastSeries = options.maxLastSeries ?? 100_000;
  }

  async put(points: PointsInput, options: PutOptions = {}): Promise<PutResult> {
    // Encoded and applied in one turn, by the ids the state machine holds now
    // (not ids remembered from earlier puts): a series given by id cannot go stale in between.
    const current: PointsInput = points.kind === 'columns' && points.columns.seriesIds !== undefined ? { kind: 'columns', columns: { ...points.columns, seriesIds: undefined } } : points;
    const encoded = encodePut(current, this.putLimits, this.seriesCache, (key) => this.stateMachine.seriesIdOf(key));
    const session = options.session;
    const batch = batchToPropose(encoded, session !== undefined);
    if (batch === null) return putResultOf(encoded, null, this.putLimits.maxErrorsPerPut);
    const data = encodeCommand({
      type: 'write',
      clientId: session?.clientId ?? '',
      sequence: session?.sequence ?? 0,
      firstUnackedSequence: session?.firstUnackedSequence ?? 0,
      leaderTimeMs: Math.max(0, Math.floor(this.clock.nowMs())),
      batch,
    });
    const index = this.nextIndex++;
    const result = this.stateMachine.apply(index, data);
    assert(this.stateMachine.appliedIndex === index && result.kind !== 'stale_series', 'local apply did not advance the applied index, or found a series id stale');
    this.hub.onApplied(index, data, result, (metric, tags) => seriesExistsIn(this.stateMachine, metric, tags), (id) => this.stateMachine.seriesKeyOf(id));
    return putResultOf(encoded, result, this.putLimits.maxErrorsPerPut);
  }

  async query(query: TsdbQuery, _options: ReadOptions): Promise<QueryResultGroup[]> {
    return executeQuery(query, this.stateMachine, { limits: this.queryLimits });
  }

  async suggest(type: 'metrics' | 'tagk' | 'tagv', prefix: string, max: number, _options: ReadOptions): Promise<string[]> {
    return this.stateMachine.suggest(type, prefix, max);
  }

  async lookup(query: LookupQuery, _options: ReadOptions): Promise<LookupAnswer> {
    const found = this.stateMachine.lookup(query);
    return { series: found.series.map((s) => ({ metric: s.metric, tags: s.tags, tsuid: tsuidOf(s.id) })), totalResults: found.totalResults };
  }

  async last(queries: readonly LastQuery[], options: LastOptions): Promise<LastPoint[]> {
    return findLastPoints(this.stateMachine, queries, { backScanHours: options.backScanHours, nowMs: options.nowMs, maxSeries: this.maxLastSeries });
  }

  status(): ServiceStatus {
    const applied = this.stateMachine.appliedIndex;
    return {
      id: this.nodeId,
      role: 'leader',
      leader: this.nodeId,
      term: 1,
      commitIndex: applied,
      appliedIndex: applied,
      members: [{ id: this.nodeId, url: '', role: 'leader', clientUrl: null, match: applied }],
      leaderClientUrl: null,
    };
  }

  subscribe(spec: SubscriptionSpec, sink: SubscriptionSink): Subscription {
    return this.hub.add(spec, sink);
  }
}
