// Runs a parsed query against a SeriesSource with OpenTSDB 2.4's order of
// operations (TsdbQuery, SpanGroup, AggregationIterator):
//   1. select the metric's series by filters (and explicitTags), group them
//      by the group-by tag values (`none`: every series alone);
//   2. read each series over OpenTSDB's scan window: from the hour holding
//      the (interval-aligned) start to the hour boundary after the
//      (interval-aligned) end, so edges interpolate and rate from points just
//      outside the query;
//   3. per series: downsample, then rate;
//   4. per group: interpolate and aggregate across its series;
//   5. keep the points with start ≤ ts ≤ end.
import { TsraftError, assert } from '../../errors.js';
import type { SeriesInfo, SeriesSource, Tags } from '../types.js';
import { getAggregator } from './aggregators.js';
import { downsampleSeries, type DownsampleWindow } from './downsample.js';
import { SeriesSelector } from './filters.js';
import { aggregateRates, aggregateValues, type GroupSeries } from './interpolate.js';
import { rateSeries } from './rate.js';
import { DEFAULT_QUERY_LIMITS, type DataPointValue, type QueryLimits, type QueryResultGroup, type SubQuery, type TsdbQuery } from './types.js';

/** OpenTSDB stores one row per series per hour and scans whole rows. */
const ROW_SPAN_SECONDS = 3600;

export interface ExecuteOptions {
  limits?: Partial<QueryLimits>;
}

/** The [startMs, endMs) range OpenTSDB reads for a sub query. */
export function scanWindowMs(query: TsdbQuery, sub: SubQuery): { startMs: number; endMs: number } {
  const interval = sub.downsample !== null && !sub.downsample.all ? sub.downsample.intervalMs : 0;
  let start = Math.floor(query.startMs / 1000);
  if (interval > 0) start -= Math.floor(((1000 * start) % interval) / 1000);
  start = Math.max(0, start - (start % ROW_SPAN_SECONDS));
  // OpenTSDB's end is in ms; TsdbQuery.getScanEndTimeSeconds bumps it a second.
  const end = Math.floor(query.endMs / 1000) + 1;
  let scanEnd: number;
  if (interval > 0) {
    const aligned = end + Math.floor((interval - ((1000 * end) % interval)) / 1000);
    const offset = aligned % ROW_SPAN_SECONDS;
    scanEnd = offset === 0 ? aligned : aligned + ROW_SPAN_SECONDS - offset;
  } else {
    scanEnd = end + ROW_SPAN_SECONDS - (end % ROW_SPAN_SECONDS);
  }
  return { startMs: start * 1000, endMs: scanEnd * 1000 };
}

/** The canonical `k=v,...` form of tags (sorted by key): orders series. */
function canonicalTags(tags: Tags): string {
  return Object.keys(tags)
    .sort()
    .map((k) => `${k}=${tags[k]}`)
    .join(',');
}

function tooLarge(message: string, limit: keyof QueryLimits, value: number): TsraftError {
  return new TsraftError('TSR_ERR_QUERY_TOO_LARGE', message, { details: { limit, value } });
}

class Budget {
  pointsRead = 0;
  pointsOut = 0;
  constructor(readonly limits: QueryLimits) {}
}

export function executeQuery(query: TsdbQuery, source: SeriesSource, options: ExecuteOptions = {}): QueryResultGroup[] {
  assert(query.endMs > query.startMs, 'parsers reject end ≤ start');
  const budget = new Budget({ ...DEFAULT_QUERY_LIMITS, ...options.limits });
  const results: QueryResultGroup[] = [];
  for (const sub of query.queries) runSubQuery(query, sub, source, budget, results);
  return results;
}

function runSubQuery(query: TsdbQuery, sub: SubQuery, source: SeriesSource, budget: Budget, results: QueryResultGroup[]): void {
  const agg = getAggregator(sub.aggregator);
  assert(agg !== undefined, 'aggregator names are validated at parse time');
  const selector = new SeriesSelector(sub.filters, sub.explicitTags);
  const selected: Array<{ info: SeriesInfo; order: string }> = [];
  for (const info of source.seriesOfMetric(sub.metric)) {
    if (!selector.matches(info.tags)) continue;
    selected.push({ info, order: canonicalTags(info.tags) });
    if (selected.length > budget.limits.maxSeries) {
      throw tooLarge(`Sub query ${sub.index} selects more than ${budget.limits.maxSeries} series of ${sub.metric}`, 'maxSeries', selected.length);
    }
  }
  selected.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : a.info.id - b.info.id));

  const groups = new Map<string, SeriesInfo[]>();
  for (const { info } of selected) {
    const key = sub.aggregator === 'none' ? `${info.id}` : selector.groupKey(info.tags);
    let members = groups.get(key);
    if (members === undefined) groups.set(key, (members = []));
    members.push(info);
  }
  const groupKeys = [...groups.keys()];
  if (sub.aggregator !== 'none') groupKeys.sort();

  const window = scanWindowMs(query, sub);
  const dsWindow: DownsampleWindow = {
    readStartMs: window.startMs,
    readEndMs: window.endMs,
    queryStartMs: query.startMs,
    queryEndMs: query.endMs,
    maxBuckets: budget.limits.maxOutputPoints,
  };
  const fillNull = sub.downsample !== null && sub.downsample.fill === 'null';

  for (const key of groupKeys) {
    const members = groups.get(key)!;
    const withData: SeriesInfo[] = [];
    const inputs: GroupSeries[] = [];
    for (const info of members) {
      const cols = source.readPoints(info.id, window.startMs, window.endMs - 1);
      if (cols.length === 0) continue;
      assert(cols.timestampsMs[0]! >= window.startMs && cols.timestampsMs[cols.length - 1]! < window.endMs, 'readPoints stays within the requested range');
      budget.pointsRead += cols.length;
      if (budget.pointsRead > budget.limits.maxPointsRead) {
        throw tooLarge(`The query reads more than ${budget.limits.maxPointsRead} points`, 'maxPointsRead', budget.pointsRead);
      }
      withData.push(info);
      let series: GroupSeries = { ts: cols.timestampsMs, values: cols.values, isInteger: cols.isInteger, bigInts: cols.bigInts, length: cols.length };
      if (sub.downsample !== null) {
        const ds = downsampleSeries(series.ts, series.values, series.length, sub.downsample, dsWindow);
        series = { ts: ds.ts, values: ds.values, isInteger: null, bigInts: null, length: ds.length };
      }
      if (sub.rate) {
        const rated = rateSeries(series, sub.rateOptions);
        series = { ts: rated.ts, values: rated.values, isInteger: null, bigInts: null, length: rated.length };
      }
      if (series.length > 0) inputs.push(series);
    }
    if (withData.length === 0) continue; // OpenTSDB forms groups only from series with data

    const dps: Array<[number, DataPointValue]> = [];
    if (inputs.length > 0) {
      const out = sub.rate ? aggregateRates(inputs, agg) : aggregateValues(inputs, agg);
      for (let u = 0; u < out.length; u++) {
        const ts = out.ts[u]!;
        if (ts < query.startMs || ts > query.endMs) continue;
        let value: DataPointValue;
        if (out.isInteger[u] === 1) value = out.bigValues?.get(u) ?? BigInt(out.values[u]!);
        else {
          const v = out.values[u]!;
          value = v !== v && fillNull ? null : v;
        }
        dps.push([ts, value]);
      }
    }
    budget.pointsOut += dps.length;
    if (budget.pointsOut > budget.limits.maxOutputPoints) {
      throw tooLarge(`The query returns more than ${budget.limits.maxOutputPoints} points`, 'maxOutputPoints', budget.pointsOut);
    }
    results.push({ metric: sub.metric, ...groupTags(withData), dps, queryIndex: sub.index });
  }
}

/** Tags shared (same key and value) by every series, and every other key. */
function groupTags(members: readonly SeriesInfo[]): { tags: Record<string, string>; aggregateTags: string[] } {
  const allKeys = new Set<string>();
  for (const m of members) for (const k of Object.keys(m.tags)) allKeys.add(k);
  // No prototype: a tag key such as `__proto__` stays data.
  const tags = Object.create(null) as Record<string, string>;
  const aggregateTags: string[] = [];
  for (const k of [...allKeys].sort()) {
    const value = members[0]!.tags[k];
    if (value !== undefined && members.every((m) => Object.hasOwn(m.tags, k) && m.tags[k] === value)) tags[k] = value;
    else aggregateTags.push(k);
  }
  return { tags, aggregateTags };
}
