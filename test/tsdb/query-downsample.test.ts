// Hand-computed cases for downsampling and each fill policy.
import { describe, expect, it } from 'vitest';
import { parseDownsample } from '../../src/tsdb/query/downsample.js';
import { executeQuery } from '../../src/tsdb/query/engine.js';
import { renderQueryResults } from '../../src/tsdb/query/render.js';
import { TsraftError } from '../../src/errors.js';
import { MemorySource, dpsOf, queryOf, runM } from './query-source.js';

const T = 1_700_002_800; // an hour boundary, in seconds
const s = (offsetSeconds: number): number => (T + offsetSeconds) * 1000;

/** A: 1 and 3 in bucket T, nothing in T+10, 7 in T+20 (floats). */
function seriesA(source = new MemorySource()): MemorySource {
  return source.add('m', { host: 'a' }, [[s(0), 1], [s(5), 3], [s(25), 7]]);
}

describe('downsampling buckets', () => {
  it('stamps each bucket at ts - ts % interval and aggregates its points as doubles', () => {
    expect(dpsOf(runM(seriesA(), T, T + 59, 'sum:10s-avg:m'))).toEqual([
      [T, 2],
      [T + 20, 7],
    ]);
    const ints = new MemorySource().add('m', { h: 'a' }, [[s(1), 4n], [s(2), 6n]]);
    expect(dpsOf(runM(ints, T, T + 59, 'sum:10s-sum:m'))).toEqual([[T, 10]]); // a double, not 10n
  });

  it('applies each aggregator within a bucket', () => {
    const source = new MemorySource().add('m', { h: 'a' }, [[s(0), 1], [s(2), 4], [s(4), 2], [s(6), 9]]);
    const bucket = (agg: string): unknown => dpsOf(runM(source, T, T + 59, `sum:10s-${agg}:m`))[0]![1];
    expect(bucket('sum')).toBe(16);
    expect(bucket('count')).toBe(4);
    expect(bucket('min')).toBe(1);
    expect(bucket('max')).toBe(9);
    expect(bucket('first')).toBe(1);
    expect(bucket('last')).toBe(9);
    expect(bucket('avg')).toBe(4);
    expect(bucket('dev')).toBe(Math.sqrt((9 + 0 + 4 + 25) / 4));
    expect(bucket('p50')).toBe(3); // sorted 1 2 4 9, pos 2.5 → 2 + 0.5 * 2
  });

  it('interpolates across an empty bucket without a fill policy', () => {
    const source = seriesA().add('m', { host: 'b' }, [[s(10), 4]]);
    // T+10: A is missing, lerp between its buckets T (2) and T+20 (7) → 4.5
    expect(dpsOf(runM(source, T, T + 59, 'sum:10s-avg:m'))).toEqual([
      [T, 2],
      [T + 10, 8.5],
      [T + 20, 7],
    ]);
  });

  it('aligns buckets to the epoch, not to the query start', () => {
    expect(dpsOf(runM(seriesA(), T + 3, T + 59, 'sum:10s-avg:m'))).toEqual([[T + 20, 7]]);
  });
});

describe('fill policies', () => {
  it('nan emits NaN for every empty bucket of the window', () => {
    expect(dpsOf(runM(seriesA(), T, T + 59, 'sum:10s-avg-nan:m'))).toEqual([
      [T, 2],
      [T + 10, Number.NaN],
      [T + 20, 7],
      [T + 30, Number.NaN],
      [T + 40, Number.NaN],
      [T + 50, Number.NaN],
    ]);
  });

  it('null emits null where nan emits NaN', () => {
    expect(dpsOf(runM(seriesA(), T, T + 59, 'sum:10s-avg-null:m')).map((p) => p[1])).toEqual([2, null, 7, null, null, null]);
  });

  it('zero emits 0', () => {
    expect(dpsOf(runM(seriesA(), T, T + 59, 'sum:10s-avg-zero:m')).map((p) => p[1])).toEqual([2, 0, 7, 0, 0, 0]);
  });

  it('skips NaN buckets when aggregating across series, instead of interpolating', () => {
    const source = seriesA().add('m', { host: 'b' }, [[s(10), 4]]);
    expect(dpsOf(runM(source, T, T + 59, 'sum:10s-avg-nan:m')).map((p) => p[1])).toEqual([2, 4, 7, Number.NaN, Number.NaN, Number.NaN]);
    expect(dpsOf(runM(source, T, T + 59, 'count:10s-avg-nan:m')).map((p) => p[1])).toEqual([1, 1, 1, 0, 0, 0]);
    expect(dpsOf(runM(source, T, T + 59, 'sum:10s-avg-zero:m')).map((p) => p[1])).toEqual([2, 4, 7, 0, 0, 0]);
  });

  it('renders NaN as OpenTSDB does ("NaN") and null as null', () => {
    const nan = queryOf(T, T + 25, 'sum:10s-avg-nan:m');
    expect(renderQueryResults(executeQuery(nan, seriesA()), nan)).toBe(
      `[{"metric":"m","tags":{"host":"a"},"aggregateTags":[],"dps":{"${T}":2.0,"${T + 10}":"NaN","${T + 20}":7.0}}]`,
    );
    const nul = queryOf(T, T + 25, 'sum:10s-avg-null:m');
    expect(renderQueryResults(executeQuery(nul, seriesA()), nul)).toContain(`"${T + 10}":null`);
  });
});

describe('0all', () => {
  it('aggregates the points with start ≤ ts < end into one point at the start', () => {
    const source = seriesA().add('m', { host: 'b' }, [[s(10), 4], [s(59), 100]]);
    expect(dpsOf(runM(source, T, T + 59, 'sum:0all-sum:m'))).toEqual([[T, 15]]); // 1+3+7 and 4; 100 sits at the end
    expect(dpsOf(runM(source, T + 1, T + 60, 'sum:0all-count:m'))).toEqual([[T + 1, 4]]); // 3, 7 and 4, 100
  });
});

describe('downsample specifications', () => {
  it('parses interval, aggregator and fill policy', () => {
    expect(parseDownsample('1m-avg')).toEqual({ text: '1m-avg', intervalMs: 60_000, all: false, aggregator: 'avg', fill: 'none' });
    expect(parseDownsample('500ms-p99-NaN')).toMatchObject({ intervalMs: 500, aggregator: 'p99', fill: 'nan' });
    expect(parseDownsample('0all-sum')).toMatchObject({ all: true, intervalMs: 0 });
    expect(parseDownsample('2h-max-zero').fill).toBe('zero');
  });

  it.each(['1m', '1m-avg-nan-x', '0m-avg', '1q-avg', '1m-foo', '1m-none', '1m-avg-later', '1dc-avg', 'm-avg'])('rejects %s', (text) => {
    let code: string | undefined;
    try {
      parseDownsample(text);
    } catch (e) {
      code = e instanceof TsraftError ? e.code : String(e);
    }
    expect(code).toBe('TSR_ERR_INVALID_QUERY');
  });

  it('refuses a fill that would emit more intervals than the output bound', () => {
    const q = queryOf(T - 86_400 * 365, T, 'sum:1ms-sum-zero:m');
    let code: string | undefined;
    try {
      executeQuery(q, seriesA(), { limits: { maxOutputPoints: 1_000_000 } });
    } catch (e) {
      code = e instanceof TsraftError ? e.code : String(e);
    }
    expect(code).toBe('TSR_ERR_QUERY_TOO_LARGE');
  });
});
