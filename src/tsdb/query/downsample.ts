// Downsampling, as OpenTSDB 2.x's Downsampler and FillingDownsampler do it:
// each point falls in the bucket starting at ts - ts % interval (epoch
// aligned, not calendar aligned); a bucket's value is the downsample
// aggregator's double over the bucket's points. Without a fill policy, empty
// buckets are skipped (the group then interpolates across them); with one,
// every bucket of the read window is emitted and an empty one is NaN (nan,
// null) or 0 (zero). `0all-<agg>` makes one bucket of the points with
// start ≤ ts < end, stamped at the query start.
import { TsraftError, assert } from '../../errors.js';
import { AGGREGATOR_NAMES, getAggregator, type Aggregator } from './aggregators.js';
import { parseDurationMs } from './time.js';
import type { DownsampleSpec, FillPolicy } from './types.js';

function invalid(message: string): TsraftError {
  return new TsraftError('TSR_ERR_INVALID_QUERY', message, { details: { part: 'downsample' } });
}

const FILL_POLICIES: readonly FillPolicy[] = ['none', 'nan', 'null', 'zero'];

/** Parses `<interval><unit>-<agg>[-<fill>]` or `0all-<agg>[-<fill>]`. */
export function parseDownsample(text: string): DownsampleSpec {
  const parts = text.split('-');
  if (parts.length < 2 || parts.length > 3) {
    throw invalid(`Invalid downsample '${text}': expected <interval>-<aggregator>[-<fill policy>]`);
  }
  const [intervalText, aggName, fillText] = parts as [string, string, string | undefined];
  let intervalMs = 0;
  let all = false;
  if (/^[0-9]*all$/i.test(intervalText)) {
    all = true;
  } else if (/^[0-9]+[a-z]+c$/i.test(intervalText) && !/^[0-9]+(ms|s|m|h|d|w|n|y)$/i.test(intervalText)) {
    throw invalid(`Invalid downsample '${text}': calendar intervals are not supported`);
  } else {
    intervalMs = parseDurationMs(intervalText, 'downsample interval');
  }
  const aggregator = aggName.toLowerCase();
  if (getAggregator(aggregator) === undefined) {
    throw invalid(`Invalid downsample '${text}': no such aggregator '${aggName}' (one of ${AGGREGATOR_NAMES.join(', ')})`);
  }
  if (aggregator === 'none') throw invalid(`Invalid downsample '${text}': the none aggregator cannot downsample`);
  let fill: FillPolicy = 'none';
  if (fillText !== undefined) {
    const lowered = fillText.toLowerCase();
    if (!(FILL_POLICIES as readonly string[]).includes(lowered)) {
      throw invalid(`Invalid downsample '${text}': no such fill policy '${fillText}' (one of ${FILL_POLICIES.join(', ')})`);
    }
    fill = lowered as FillPolicy;
  }
  return { text, intervalMs, all, aggregator, fill };
}

/** A series whose values are all doubles (after downsampling or rate). */
export interface DoubleSeries {
  ts: Float64Array;
  values: Float64Array;
  length: number;
}

export interface DownsampleWindow {
  /** The read window [readStartMs, readEndMs): fill policies emit its buckets. */
  readStartMs: number;
  readEndMs: number;
  /** The query bounds: `0all` aggregates points with start ≤ ts < end. */
  queryStartMs: number;
  queryEndMs: number;
  /** Most buckets a filled series may have (TSR_ERR_QUERY_TOO_LARGE beyond). */
  maxBuckets: number;
}

/** Downsamples one series; `values` are the points' values as doubles. */
export function downsampleSeries(
  ts: Float64Array,
  values: Float64Array,
  length: number,
  spec: DownsampleSpec,
  window: DownsampleWindow,
): DoubleSeries {
  const agg = getAggregator(spec.aggregator);
  assert(agg !== undefined && agg.name !== 'none', 'downsample aggregator was validated at parse time');
  if (spec.all) return downsampleAll(ts, values, length, agg, window);
  const interval = spec.intervalMs;
  assert(interval > 0, 'a non-all downsample has a positive interval');
  if (spec.fill === 'none') {
    const outTs = new Float64Array(length);
    const outValues = new Float64Array(length);
    let n = 0;
    let i = 0;
    while (i < length) {
      const bucket = bucketStart(ts[i]!, interval);
      assert(n === 0 || bucket > outTs[n - 1]!, 'points arrive sorted by time');
      const from = i;
      const bucketEnd = bucket + interval;
      while (i < length && ts[i]! < bucketEnd) i++;
      outTs[n] = bucket;
      outValues[n] = agg.runDouble(values, from, i);
      n++;
    }
    return { ts: outTs, values: outValues, length: n };
  }
  const first = bucketStart(window.readStartMs, interval);
  const end = bucketStart(window.readEndMs, interval);
  const buckets = Math.max(0, (end - first) / interval);
  if (buckets > window.maxBuckets) {
    throw new TsraftError('TSR_ERR_QUERY_TOO_LARGE', `Downsample '${spec.text}' with fill policy ${spec.fill} would emit ${buckets} intervals per series, more than ${window.maxBuckets}`, {
      details: { limit: 'maxOutputPoints', value: buckets },
    });
  }
  const outTs = new Float64Array(buckets);
  const outValues = new Float64Array(buckets).fill(spec.fill === 'zero' ? 0 : Number.NaN);
  for (let b = 0; b < buckets; b++) outTs[b] = first + b * interval;
  let i = 0;
  while (i < length) {
    const bucket = bucketStart(ts[i]!, interval);
    const from = i;
    const bucketEnd = bucket + interval;
    while (i < length && ts[i]! < bucketEnd) i++;
    if (bucket < first || bucket >= end) continue; // outside the filled range: dropped, as FillingDownsampler does
    outValues[(bucket - first) / interval] = agg.runDouble(values, from, i);
  }
  return { ts: outTs, values: outValues, length: buckets };
}

function downsampleAll(ts: Float64Array, values: Float64Array, length: number, agg: Aggregator, window: DownsampleWindow): DoubleSeries {
  let from = 0;
  while (from < length && ts[from]! < window.queryStartMs) from++;
  let to = from;
  while (to < length && ts[to]! < window.queryEndMs) to++;
  if (to === from) return { ts: new Float64Array(0), values: new Float64Array(0), length: 0 };
  return { ts: Float64Array.of(window.queryStartMs), values: Float64Array.of(agg.runDouble(values, from, to)), length: 1 };
}

/** Start of the epoch-aligned bucket holding `ts` (ts ≥ 0). */
export function bucketStart(ts: number, intervalMs: number): number {
  assert(ts >= 0, 'timestamps are not before the epoch');
  return ts - (ts % intervalMs);
}
