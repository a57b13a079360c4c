// The parsed, validated form of an OpenTSDB /api/query request and the shape
// of its results. Parsers (parse.ts, mquery.ts) produce a TsdbQuery; the
// engine (engine.ts) turns it into QueryResultGroups; render.ts writes them as
// OpenTSDB's JSON. See docs/query.md for the accepted syntax and semantics.

/** What a downsampler emits for an interval without data. */
export type FillPolicy = 'none' | 'nan' | 'null' | 'zero';

/** How a series with no point at an output timestamp is valued when its
 *  group is aggregated (OpenTSDB's Aggregators.Interpolation). */
export type Interpolation = 'lerp' | 'zim' | 'max' | 'min';

export type FilterType =
  | 'literal_or'
  | 'iliteral_or'
  | 'not_literal_or'
  | 'not_iliteral_or'
  | 'wildcard'
  | 'iwildcard'
  | 'regexp';

export interface TagFilterSpec {
  type: FilterType;
  tagk: string;
  /** The filter expression without the `type(...)` wrapper, e.g. `web01|web02`. */
  filter: string;
  /** Whether series are split into one output group per value of `tagk`. */
  groupBy: boolean;
}

export interface DownsampleSpec {
  /** As the user wrote it, e.g. `1m-avg-nan` (echoed by showQuery). */
  text: string;
  /** Bucket width in milliseconds; 0 for `0all` (one bucket for the whole query). */
  intervalMs: number;
  /** True for `0all-<agg>`. */
  all: boolean;
  /** Name of the aggregator applied inside each bucket. */
  aggregator: string;
  fill: FillPolicy;
}

export interface RateOptions {
  counter: boolean;
  /** Value at which a counter rolls over; int64, default 2^63 - 1. */
  counterMax: bigint;
  /** A counter rate above this (when > 0) is reported as 0; int64, default 0. */
  resetValue: bigint;
  /** Drop the point at which a counter went backwards instead of computing a roll-over rate. */
  dropResets: boolean;
}

export interface SubQuery {
  /** Position in TsdbQuery.queries; results carry it as queryIndex. */
  index: number;
  aggregator: string;
  metric: string;
  rate: boolean;
  rateOptions: RateOptions;
  /** True when the user gave rate options explicitly (showQuery echoes null otherwise). */
  rateOptionsGiven: boolean;
  downsample: DownsampleSpec | null;
  /** Every filter, legacy `tags` included (converted as OpenTSDB does). */
  filters: TagFilterSpec[];
  /** Only series whose tag keys are exactly the filtered keys. */
  explicitTags: boolean;
  /** The legacy `tags` map as given (echoed by showQuery). */
  tags: Record<string, string>;
}

export interface TsdbQuery {
  /** Inclusive bounds of the output, Unix milliseconds; endMs > startMs. */
  startMs: number;
  endMs: number;
  /** IANA zone used to read absolute dates, or null for UTC. */
  timezone: string | null;
  /** Render timestamps in milliseconds instead of seconds. */
  msResolution: boolean;
  showQuery: boolean;
  noAnnotations: boolean;
  queries: SubQuery[];
}

/**
 * One value of a result: a bigint when OpenTSDB's result is an int64 (exact,
 * even beyond 2^53), a number when it is a double (NaN for an empty filled
 * interval), null for an empty interval under the `null` fill policy.
 */
export type DataPointValue = bigint | number | null;

export interface QueryResultGroup {
  metric: string;
  /** Tags whose key and value are shared by every series of the group. */
  tags: Record<string, string>;
  /** Every other tag key seen in the group's series, sorted. */
  aggregateTags: string[];
  /** [timestamp in ms, value], startMs ≤ timestamp ≤ endMs, ascending. */
  dps: Array<[number, DataPointValue]>;
  /** Index of the sub query that produced this group. */
  queryIndex: number;
}

/** Bounds on the work one query may do; exceeding one is TSR_ERR_QUERY_TOO_LARGE. */
export interface QueryLimits {
  /** Most series one sub query may select after filtering. */
  maxSeries: number;
  /** Most raw points one request may read from the store. */
  maxPointsRead: number;
  /** Most data points one request may return (over all groups). */
  maxOutputPoints: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = {
  maxSeries: 100_000,
  maxPointsRead: 100_000_000,
  maxOutputPoints: 10_000_000,
};
