// The narrow interface every client-facing surface (WebSocket protocol,
// OpenTSDB HTTP and telnet endpoints, the CLI through the client) talks to.
// Two implementations: LocalTsdbService (one in-process state machine, no
// Raft: tests and tools) and ReplicatedTsdbService (on top of a Replica:
// leader validates and proposes, followers forward, reads use a read barrier).
//
// Errors are TsraftError with stable codes (src/errors.ts). A put never
// fails half-silently: the result names every rejected point by its index in
// the request (bounded by maxErrorsPerPut; `failed` counts all of them).
import type { LookupQuery } from '../tsdb/series-index.js';
import type { QueryResultGroup, TagFilterSpec, TsdbQuery } from '../tsdb/query/types.js';
import type { Tags } from '../tsdb/types.js';
import type { PointError, RawPoint } from '../tsdb/validate.js';
import type { NodeStatus } from './status.js';

/** `linearizable` (default) waits for a read index; `stale` reads local state at once. */
export type Consistency = 'linearizable' | 'stale';

export const CONSISTENCIES: readonly Consistency[] = ['linearizable', 'stale'];

/** Exactly-once write identity (Raft thesis §6.3; docs/tsdb-commands.md). */
export interface WriteSession {
  /** Chosen by the client (a random id), 1..64 UTF-8 bytes. */
  clientId: string;
  /** This request's number, ≥ 1; a retry reuses it. */
  sequence: number;
  /** Lowest sequence the client has no answer for yet; 1 ≤ it ≤ sequence. */
  firstUnackedSequence: number;
}

/**
 * Points in columns: each distinct series once, then one entry per point.
 * The fast wire form (the client library always sends this). A series is
 * either a [metric, tags] pair (`series`) or its canonical key
 * `metric{k1=v1,k2=v2}` with tags sorted by key (`seriesKeys`; cheapest to
 * check). `timestamps` follow OpenTSDB's rule (≤ 2^32−1 seconds, else
 * milliseconds); values are numbers (integral → int64, else float64), bigints
 * (int64) or strings (OpenTSDB text: "4.0" stays a float).
 */
export interface ColumnarPoints {
  series?: ReadonlyArray<readonly [unknown, unknown]>;
  seriesKeys?: ReadonlyArray<unknown>;
  /** With seriesKeys, from the node's own records (never from a client): the
   *  id each key's series had in the leader's state machine when an earlier
   *  put resolved it, -1 when unknown. The leader's encoder uses and fills it
   *  in (series-handles.ts). */
  seriesIds?: Int32Array;
  seriesIndexes: ArrayLike<unknown>;
  timestamps: ArrayLike<unknown>;
  values: ArrayLike<unknown>;
}

export type PointsInput = { kind: 'objects'; points: readonly RawPoint[] } | { kind: 'columns'; columns: ColumnarPoints };

export interface PutOptions {
  session?: WriteSession;
  /** The put was already forwarded by a follower: answer NOT_LEADER rather
   *  than forward it again (no forwarding loops during a leader change). */
  forwarded?: boolean;
}

export interface PutResult {
  /** Points stored. */
  success: number;
  /** Points rejected (validation or apply time). */
  failed: number;
  /** Rejected points, by index in the request, ascending; at most maxErrorsPerPut. */
  errors: PointError[];
  /** True when this answers a retry of a write that was already applied. */
  duplicate: boolean;
}

export interface ReadOptions {
  consistency: Consistency;
}

export interface LastQuery {
  metric: string;
  /** Exact tag values; '*' matches any value of that key. */
  tags: Tags;
}

export interface LastPoint {
  metric: string;
  tags: Tags;
  timestampMs: number;
  value: number | bigint;
  /** Series id as OpenTSDB-style hex (not a real OpenTSDB TSUID). */
  tsuid: string;
}

export interface LastOptions extends ReadOptions {
  /** Only points newer than nowMs − backScanHours are considered; 0 = all history. */
  backScanHours: number;
  nowMs: number;
}

export interface LookupSeries {
  metric: string;
  tags: Tags;
  tsuid: string;
}

export interface LookupAnswer {
  series: LookupSeries[];
  totalResults: number;
}

/** The fields of the node's /status the client API relies on (the node's
 *  full NodeStatus is passed through to clients as is). */
export type ServiceStatus = Pick<NodeStatus, 'id' | 'role' | 'leader' | 'leaderClientUrl' | 'term' | 'commitIndex' | 'appliedIndex' | 'members'>;

/** What a subscription selects: one metric and tag filters (as /api/query's). */
export interface SubscriptionSpec {
  metric: string;
  filters: TagFilterSpec[];
  explicitTags: boolean;
}

/** One committed point pushed to a subscriber. */
export interface LivePoint {
  metric: string;
  tags: Tags;
  timestampMs: number;
  value: number | bigint;
}

export interface SubscriptionSink {
  /** Points of one committed entry that match, in entry order. */
  onPoints(points: LivePoint[], logIndex: number): void;
  /** The subscription ended on the service side (e.g. this node was removed). */
  onEnd(error: Error): void;
}

export interface Subscription {
  close(): void;
}

export interface TsdbService {
  put(points: PointsInput, options?: PutOptions): Promise<PutResult>;
  query(query: TsdbQuery, options: ReadOptions): Promise<QueryResultGroup[]>;
  suggest(type: 'metrics' | 'tagk' | 'tagv', prefix: string, max: number, options: ReadOptions): Promise<string[]>;
  lookup(query: LookupQuery, options: ReadOptions): Promise<LookupAnswer>;
  last(queries: readonly LastQuery[], options: LastOptions): Promise<LastPoint[]>;
  /** The node's /status (src/api/status.ts); at least these fields. */
  status(): ServiceStatus;
  /** Live points of entries applied from now on. */
  subscribe(spec: SubscriptionSpec, sink: SubscriptionSink): Subscription;
}

/** Series ids printed as OpenTSDB-like TSUIDs (hex, 12 digits). */
export function tsuidOf(seriesId: number): string {
  return seriesId.toString(16).toUpperCase().padStart(12, '0');
}
