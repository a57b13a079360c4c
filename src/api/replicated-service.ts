// The TsdbService of a real node, on top of its Replica (src/replica):
//
// - put on the leader: validate, encode one write batch, propose it; answer
//   once the entry is applied here (so after a majority persisted it).
//   On a follower: forward the request to the leader (LeaderForwarder), or
//   answer NOT_LEADER with details.leaderClientUrl when forwarding is off,
//   the leader is unknown, or the request was already forwarded once.
// - reads: a read barrier first (read index for 'linearizable', nothing for
//   'stale'), then evaluation against the local state machine.
// - subscriptions: the node calls onApplied() for every applied entry (from
//   its ReplicaObserver.onApplied); matching points are pushed.
//
// Wiring (src/node/node.ts):
//   const service = new ReplicatedTsdbService({ replica, stateMachine: () => sm, status: () => node.status(), clock: systemClock, ... });
//   observer.onApplied = (_id, entry, result) => { if (result !== undefined) service.onApplied(entry.index, entry.data, result as ApplyResult); };
//   observer.onSnapshotInstalled = (_id, meta) => service.onSnapshotInstalled(meta.index);
//   mountClientApi(http, { service, tokens, limits, version });
//   on stop: service.close();
import { TsraftError, rethrowIfBug } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { executeQuery, type QueryLimits, type QueryResultGroup, type TsdbQuery } from '../tsdb/query/index.js';
import type { LookupQuery } from '../tsdb/series-index.js';
import type { ApplyResult, TimeSeriesStateMachine, WriteApplyResult } from '../tsdb/state-machine.js';
import { findLastPoints } from './last-point.js';
import { LeaderForwarder, type ForwardConnectionOpener } from './leader-forwarder.js';
import { seriesExistsIn } from './local-service.js';
import { DEFAULT_CLIENT_API_LIMITS } from './limits.js';
import { DEFAULT_PUT_LIMITS, SeriesCache, batchToPropose, encodePut, putResultOf, type EncodedPut, type PutLimits } from './put-encoder.js';
import {
  tsuidOf,
  type Consistency,
  type LastOptions,
  type LastPoint,
  type LastQuery,
  type LookupAnswer,
  type PointsInput,
  type PutOptions,
  type PutResult,
  type ReadOptions,
  type ServiceStatus,
  type Subscription,
  type SubscriptionSink,
  type SubscriptionSpec,
  type TsdbService,
  type WriteSession,
} from './service.js';
import { SubscriptionHub, type SubscriptionHubOptions } from './subscriptions.js';
import { DEFAULT_MAX_BATCH_BYTES_PER_ENTRY, WriteCoalescer } from './write-coalescer.js';

/** What the service needs of a Replica<ApplyResult>. */
export interface ReplicaHandle {
  propose(data: Uint8Array, options?: { timeoutMs?: number }): Promise<ApplyResult>;
  readBarrier(options?: { consistency?: Consistency; timeoutMs?: number }): Promise<number>;
}

export interface ReplicatedTsdbServiceOptions {
  replica: ReplicaHandle;
  /** The live state machine (a snapshot install may replace it: read it each time). */
  stateMachine: () => TimeSeriesStateMachine;
  /** The node's /status. */
  status: () => ServiceStatus;
  /** A cheap "this node leads" hint, checked on every put before the full
   *  status() (which builds the node's whole status). When it says no, or
   *  is absent, status() decides; when it is wrong about yes, the proposal
   *  fails with NOT_LEADER and the put is forwarded. */
  isLeader?: () => boolean;
  clock: Clock;
  putLimits?: Partial<PutLimits>;
  queryLimits?: Partial<QueryLimits>;
  subscriptions?: Partial<SubscriptionHubOptions>;
  /** Series one /api/query/last request may return; default 100,000. */
  maxLastSeries?: number;
  /** Validated series remembered across puts; default 100,000 (0 disables). */
  seriesCacheEntries?: number;
  /** Forward puts received on a follower to the leader; default true. */
  forwardWrites?: boolean;
  /** Token presented to the leader when forwarding (when tokens are required). */
  forwardToken?: string;
  /** Deadline of one forwarded put, ms; default
   *  DEFAULT_CLIENT_API_LIMITS.forwardTimeoutMs (5 s: half the client
   *  library's default request deadline, so a client whose forwarded put
   *  timed out, outcome unknown, still has time to retry it with the same
   *  session, applied at most once). */
  forwardTimeoutMs?: number;
  /** Forwarded puts waiting on the leader connection; default 1,024. */
  maxForwardedInFlight?: number;
  /** Opens the connections forwarded puts travel on; default a WebSocket
   *  (the client library's Connection). The simulator passes its network. */
  openForwardConnection?: ForwardConnectionOpener;
  /** Puts coalesced into one log entry (write-coalescer.ts); default 1,024. */
  maxWritesPerEntry?: number;
  /** Batch bytes coalesced into one log entry; default 64 KiB (and ≤ putLimits.maxBatchBytes). */
  maxBatchBytesPerEntry?: number;
  /** Ends the coalescer's turn (WriteCoalescerOptions.deferFlush); default process.nextTick. */
  deferFlush?: (fn: () => void) => void;
}

export class ReplicatedTsdbService implements TsdbService {
  private readonly options: ReplicatedTsdbServiceOptions;
  private readonly putLimits: PutLimits;
  /** Series validated by earlier puts (skips re-validating them). */
  private readonly seriesCache: SeriesCache;
  private readonly hub: SubscriptionHub;
  private readonly forwarder: LeaderForwarder | null;
  private readonly forwardTimeoutMs: number;
  private readonly coalescer: WriteCoalescer;

  constructor(options: ReplicatedTsdbServiceOptions) {
    this.options = options;
    this.coalescer = new WriteCoalescer({
      propose: (data) => options.replica.propose(data),
      nowMs: () => options.clock.nowMs(),
      maxWritesPerEntry: options.maxWritesPerEntry,
      maxBatchBytesPerEntry: Math.min(options.maxBatchBytesPerEntry ?? DEFAULT_MAX_BATCH_BYTES_PER_ENTRY, this.putLimitsOf(options).maxBatchBytes),
      deferFlush: options.deferFlush,
    });
    this.putLimits = { ...DEFAULT_PUT_LIMITS, ...options.putLimits };
    this.seriesCache = new SeriesCache(options.seriesCacheEntries ?? 100_000);
    this.hub = new SubscriptionHub(options.subscriptions);
    this.forwardTimeoutMs = options.forwardTimeoutMs ?? DEFAULT_CLIENT_API_LIMITS.forwardTimeoutMs;
    this.forwarder =
      options.forwardWrites === false
        ? null
        : new LeaderForwarder({
            clock: options.clock,
            token: options.forwardToken,
            connectTimeoutMs: 3_000,
            maxInFlight: options.maxForwardedInFlight ?? 1024,
            openConnection: options.openForwardConnection,
          });
  }

  private putLimitsOf(options: ReplicatedTsdbServiceOptions): PutLimits {
    return { ...DEFAULT_PUT_LIMITS, ...options.putLimits };
  }

  private notLeader(status: ServiceStatus, why: string): TsraftError {
    return new TsraftError('TSR_ERR_NOT_LEADER', `node ${status.id} is not the leader${why}`, {
      details: { leader: status.leader, leaderClientUrl: status.leaderClientUrl },
    });
  }

  /** Adds the leader's client URL to a NOT_LEADER error from the replica. */
  private decorate(error: unknown): unknown {
    if (!(error instanceof TsraftError) || error.code !== 'TSR_ERR_NOT_LEADER' || error.details.leaderClientUrl !== undefined) return error;
    const status = this.options.status();
    return new TsraftError('TSR_ERR_NOT_LEADER', error.message, { details: { ...error.details, leaderClientUrl: status.leaderClientUrl } });
  }

  async put(points: PointsInput, options: PutOptions = {}): Promise<PutResult> {
    if (this.options.isLeader?.() !== true) {
      const status = this.options.status();
      if (status.role !== 'leader' || status.leader !== status.id) return this.putOnFollower(status, points, options);
    }
    try {
      return await this.proposeLocally(points, options);
    } catch (error) {
      rethrowIfBug(error);
      // Leadership moved before the proposal was made: nothing was proposed.
      if (error instanceof TsraftError && error.code === 'TSR_ERR_NOT_LEADER') return this.putOnFollower(this.options.status(), points, options);
      throw this.decorate(error);
    }
  }

  private async putOnFollower(status: ServiceStatus, points: PointsInput, options: PutOptions): Promise<PutResult> {
    if (this.forwarder === null) throw this.notLeader(status, '');
    if (options.forwarded === true) throw this.notLeader(status, ' (a forwarded write is not forwarded again)');
    if (status.leader === null) throw new TsraftError('TSR_ERR_NO_LEADER', `node ${status.id} knows no leader (an election is in progress)`, { details: {} });
    if (status.leaderClientUrl === null) throw this.notLeader(status, ' and does not know the leader\'s client URL (config clientUrls)');
    return this.forwarder.put(status.leaderClientUrl, points, options.session, this.forwardTimeoutMs);
  }

  private async proposeLocally(points: PointsInput, options: PutOptions): Promise<PutResult> {
    const session = options.session;
    const sm = this.options.stateMachine();
    // Series this node's state machine holds go into the batch by id.
    let encoded = encodePut(points, this.putLimits, this.seriesCache, (key) => sm.seriesIdOf(key));
    let applied = await this.proposeEncoded(encoded, session);
    if (applied?.kind === 'stale_series') {
      // Retention removed a series the batch gave by id before it applied;
      // nothing of it was applied (not even the session sequence): again by
      // key, and the connection forgets that id.
      forgetSeriesId(points, applied.seriesId);
      encoded = encodePut(points, this.putLimits, this.seriesCache, null);
      applied = await this.proposeEncoded(encoded, session);
    }
    return putResultOf(encoded, applied, this.putLimits.maxErrorsPerPut);
  }

  /** Proposes an encoded put (with the other puts of this turn, one entry);
   *  null when there is nothing to propose. */
  private async proposeEncoded(encoded: EncodedPut, session: WriteSession | undefined): Promise<WriteApplyResult | null> {
    const batch = batchToPropose(encoded, session !== undefined);
    if (batch === null) return null;
    return this.coalescer.submit(batch, session);
  }

  private async barrier(consistency: Consistency): Promise<TimeSeriesStateMachine> {
    try {
      await this.options.replica.readBarrier({ consistency });
    } catch (error) {
      rethrowIfBug(error);
      throw this.decorate(error);
    }
    return this.options.stateMachine();
  }

  async query(query: TsdbQuery, options: ReadOptions): Promise<QueryResultGroup[]> {
    const sm = await this.barrier(options.consistency);
    return executeQuery(query, sm, { limits: this.options.queryLimits });
  }

  async suggest(type: 'metrics' | 'tagk' | 'tagv', prefix: string, max: number, options: ReadOptions): Promise<string[]> {
    return (await this.barrier(options.consistency)).suggest(type, prefix, max);
  }

  async lookup(query: LookupQuery, options: ReadOptions): Promise<LookupAnswer> {
    const found = (await this.barrier(options.consistency)).lookup(query);
    return { series: found.series.map((s) => ({ metric: s.metric, tags: s.tags, tsuid: tsuidOf(s.id) })), totalResults: found.totalResults };
  }

  async last(queries: readonly LastQuery[], options: LastOptions): Promise<LastPoint[]> {
    const sm = await this.barrier(options.consistency);
    return findLastPoints(sm, queries, { backScanHours: options.backScanHours, nowMs: options.nowMs, maxSeries: this.options.maxLastSeries ?? 100_000 });
  }

  status(): ServiceStatus {
    return this.options.status();
  }

  subscribe(spec: SubscriptionSpec, sink: SubscriptionSink): Subscription {
    return this.hub.add(spec, sink);
  }

  /** Called for every applied entry with data (ReplicaObserver.onApplied). */
  onApplied(index: number, data: Uint8Array, result: ApplyResult): void {
    const sm = this.options.stateMachine();
    this.hub.onApplied(index, data, result, (metric, tags) => seriesExistsIn(sm, metric, tags), (id) => sm.seriesKeyOf(id));
  }

  /** Called when a snapshot from the leader replaced the state machine
   *  (ReplicaObserver.onSnapshotInstalled): the entries it covers were never
   *  applied here one by one, so subscribers would silently miss their points. */
  onSnapshotInstalled(snapshotIndex: number): void {
    this.hub.endAll(
      new TsraftError('TSR_ERR_SUBSCRIPTION_GAP', `this node installed a snapshot up to index ${snapshotIndex}; points committed before it were not pushed`, {
        details: { snapshotIndex },
      }),
    );
  }

  /** Ends subscriptions and closes the connections to the leader (node stop). */
  close(): void {
    this.forwarder?.close();
    this.hub.endAll(new TsraftError('TSR_ERR_SHUTTING_DOWN', 'the node is shutting down', { details: {} }));
  }
}

/** Takes a stale series id out of the ids remembered for a put's keys. */
function forgetSeriesId(points: PointsInput, seriesId: number): void {
  const ids = points.kind === 'columns' ? points.columns.seriesIds : undefined;
  if (ids === undefined) return;
  for (let k = 0; k < ids.length; k++) if (ids[k] === seriesId) ids[k] = -1;
}
