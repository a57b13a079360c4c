// /api/query/last: the most recent point of each series matching a metric and
// exact tag values. Without a back-scan bound the search looks back in
// windows that grow 4× each time (1 h, 4 h, 16 h, ...) from "now" (and
// always includes points stamped in the future), so a busy series costs one
// small read and an idle one a few geometric steps, not a scan of its whole
// history on the first try.
import { TsraftError, assert } from '../errors.js';
import type { SeriesInfo, SeriesSource, Tags } from '../tsdb/types.js';
import { MAX_TIMESTAMP_MS } from '../tsdb/validate.js';
import { tsuidOf, type LastPoint, type LastQuery } from './service.js';

const HOUR_MS = 3_600_000;
const GROWTH = 4;

export interface LastPointOptions {
  /** 0: search all history; otherwise only points newer than nowMs − backScanHours. */
  backScanHours: number;
  nowMs: number;
  /** Most series one request may return; exceeding it is TSR_ERR_QUERY_TOO_LARGE. */
  maxSeries: number;
}

function tagsMatch(tags: Tags, wanted: Tags): boolean {
  for (const key of Object.keys(wanted)) {
    if (!Object.hasOwn(tags, key)) return false;
    const value = wanted[key]!;
    if (value !== '*' && tags[key] !== value) return false;
  }
  return true;
}

function lastOf(source: SeriesSource, info: SeriesInfo, options: LastPointOptions): LastPoint | null {
  const read = (startMs: number): LastPoint | null => {
    const cols = source.readPoints(info.id, startMs, MAX_TIMESTAMP_MS);
    if (cols.length === 0) return null;
    const i = cols.length - 1;
    const isInteger = cols.isInteger[i] === 1;
    const raw = cols.values[i]!;
    const value = isInteger && cols.bigInts !== null && !Number.isSafeInteger(raw) ? cols.bigInts[i]! : raw;
    return { metric: info.metric, tags: info.tags, timestampMs: cols.timestampsMs[i]!, value, tsuid: tsuidOf(info.id) };
  };
  if (options.backScanHours > 0) return read(Math.max(0, options.nowMs - options.backScanHours * HOUR_MS));
  let widthMs = HOUR_MS;
  for (;;) {
    const startMs = Math.max(0, options.nowMs - widthMs);
    const found = read(startMs);
    if (found !== null || startMs === 0) return found;
    widthMs *= GROWTH;
  }
}

/** Last points of every series matching each query, in query then series-id order. */
export function findLastPoints(source: SeriesSource, queries: readonly LastQuery[], options: LastPointOptions): LastPoint[] {
  assert(options.backScanHours >= 0 && Number.isFinite(options.nowMs), 'bad last-point options');
  const out: LastPoint[] = [];
  let seriesSeen = 0;
  for (const q of queries) {
    for (const info of source.seriesOfMetric(q.metric)) {
      if (!tagsMatch(info.tags, q.tags)) continue;
      if (++seriesSeen > options.maxSeries) {
        throw new TsraftError('TSR_ERR_QUERY_TOO_LARGE', `the last-point query selects more than ${options.maxSeries} series`, {
          details: { limit: 'maxSeries', value: seriesSeen },
        });
      }
      const point = lastOf(source, info, options);
      if (point !== null) out.push(point);
    }
  }
  return out;
}
