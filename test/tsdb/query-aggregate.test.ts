// Hand-computed cases for interpolation and aggregation across series
// (OpenTSDB's AggregationIterator semantics).
import { describe, expect, it } from 'vitest';
import { MemorySource, dpsOf, runM } from './query-source.js';

const T = 1_700_002_800; // an hour boundary, in seconds
const s = (offsetSeconds: number): number => (T + offsetSeconds) * 1000;

/** A at T+0 = 10, T+20 = 30; B at T+10 = 5, T+30 = 8 (integers unless told). */
function twoSeries(bLast: number | bigint = 8n): MemorySource {
  return new MemorySource()
    .add('m', { host: 'a' }, [[s(0), 10n], [s(20), 30n]])
    .add('m', { host: 'b' }, [[s(10), 5n], [s(30), bLast]]);
}

describe('linear interpolation between a series neighbours', () => {
  it('sums at the union of timestamps, interpolating the series without a point there', () => {
    // T+10: A = 10 + 10*(30-10)/20 = 20; T+20: B = 5 + 10*3/20 = 6.5 → 6 (int64).
    expect(dpsOf(runM(twoSeries(), T, T + 100, 'sum:m'))).toEqual([
      [T, 10n],
      [T + 10, 25n],
      [T + 20, 36n],
      [T + 30, 8n],
    ]);
  });

  it('never extrapolates before a series first point or after its last', () => {
    const groups = runM(twoSeries(), T, T + 100, 'count:m');
    expect(dpsOf(groups)).toEqual([
      [T, 1n],
      [T + 10, 2n],
      [T + 20, 2n],
      [T + 30, 1n],
    ]);
  });

  it('interpolates from points read before the query start (the scan covers the whole hour)', () => {
    const source = new MemorySource()
      .add('m', { host: 'a' }, [[s(0), 0n], [s(100), 100n]])
      .add('m', { host: 'b' }, [[s(50), 1n]]);
    expect(dpsOf(runM(source, T + 30, T + 200, 'sum:m'))).toEqual([
      [T + 50, 51n],
      [T + 100, 100n],
    ]);
  });

  it('switches to doubles when a point around the timestamp is a float', () => {
    // B's second point is 8.0: at T+0 only integers are around (A 10→30, B's first 5),
    // from T+10 on B's neighbours include a float.
    expect(dpsOf(runM(twoSeries(8), T, T + 100, 'sum:m'))).toEqual([
      [T, 10n],
      [T + 10, 25],
      [T + 20, 36.5],
      [T + 30, 8],
    ]);
  });

  it('interpolates large integers exactly', () => {
    const big = 1n << 62n;
    const source = new MemorySource()
      .add('m', { host: 'a' }, [[s(0), big], [s(20), big + 20n]])
      .add('m', { host: 'b' }, [[s(10), 0n]]);
    expect(dpsOf(runM(source, T, T + 100, 'sum:m'))[1]).toEqual([T + 10, big + 10n]);
  });
});

describe('integer arithmetic as OpenTSDB does it', () => {
  it('truncates avg toward zero', () => {
    expect(dpsOf(runM(twoSeries(), T, T + 100, 'avg:m'))).toEqual([
      [T, 10n],
      [T + 10, 12n], // (20 + 5) / 2 = 12.5
      [T + 20, 18n], // (30 + 6) / 2
      [T + 30, 8n],
    ]);
    const negative = new MemorySource().add('m', { h: 'a' }, [[s(0), -5n]]).add('m', { h: 'b' }, [[s(0), 0n]]);
    expect(dpsOf(runM(negative, T, T + 100, 'avg:m'))).toEqual([[T, -2n]]); // -2.5 → -2, not -3
  });

  it('truncates dev to an integer', () => {
    // T+10: 20 and 5. OpenTSDB's Welford loop ends with n = count + 1 and
    // divides by n - 1: the population deviation sqrt(112.5 / 2) = 7.5 → 7.
    expect(dpsOf(runM(twoSeries(), T, T + 100, 'dev:m'))[1]).toEqual([T + 10, 7n]);
  });

  it('truncates a lerp toward zero for negative slopes', () => {
    const source = new MemorySource()
      .add('m', { host: 'a' }, [[s(0), 0n], [s(3), -10n]])
      .add('m', { host: 'b' }, [[s(1), 0n]]);
    // a at T+1: 0 + 1*(-10)/3 = -3.33 → -3
    expect(dpsOf(runM(source, T, T + 100, 'sum:m'))[1]).toEqual([T + 1, -3n]);
  });

  it('wraps int64 sums like a Java long and keeps int64 values exact', () => {
    const source = new MemorySource().add('m', { h: 'a' }, [[s(0), 1n << 62n]]).add('m', { h: 'b' }, [[s(0), 1n << 62n]]);
    expect(dpsOf(runM(source, T, T + 100, 'sum:m'))).toEqual([[T, -(1n << 63n)]]);
    const max = new MemorySource().add('m', { h: 'a' }, [[s(0), (1n << 63n) - 1n]]);
    expect(dpsOf(runM(max, T, T + 100, 'sum:m'))).toEqual([[T, 9223372036854775807n]]);
  });
});

describe('aggregators and their interpolation', () => {
  it('zimsum counts a missing point as zero', () => {
    expect(dpsOf(runM(twoSeries(), T, T + 100, 'zimsum:m'))).toEqual([
      [T, 10n],
      [T + 10, 5n],
      [T + 20, 30n],
      [T + 30, 8n],
    ]);
  });

  it('min and max interpolate; mimmin and mimmax ignore a missing point', () => {
    expect(dpsOf(runM(twoSeries(), T, T + 100, 'min:m')).map((p) => p[1])).toEqual([10n, 5n, 6n, 8n]);
    expect(dpsOf(runM(twoSeries(), T, T + 100, 'max:m')).map((p) => p[1])).toEqual([10n, 20n, 30n, 8n]);
    expect(dpsOf(runM(twoSeries(), T, T + 100, 'mimmin:m')).map((p) => p[1])).toEqual([10n, 5n, 30n, 8n]);
    expect(dpsOf(runM(twoSeries(), T, T + 100, 'mimmax:m')).map((p) => p[1])).toEqual([10n, 5n, 30n, 8n]);
  });

  it('mimmax with floats fills a missing point with Java Double.MIN_VALUE, the smallest positive double', () => {
    const source = new MemorySource()
      .add('m', { host: 'a' }, [[s(0), -10], [s(20), -30]])
      .add('m', { host: 'b' }, [[s(10), -5], [s(30), -8]]);
    expect(dpsOf(runM(source, T, T + 100, 'mimmax:m')).map((p) => p[1])).toEqual([-10, Number.MIN_VALUE, Number.MIN_VALUE, -8]);
  });

  it('first and last take the first and last series, zero where it has no point', () => {
    expect(dpsOf(runM(twoSeries(), T, T + 100, 'first:m')).map((p) => p[1])).toEqual([10n, 0n, 30n, 8n]);
    expect(dpsOf(runM(twoSeries(), T, T + 100, 'last:m')).map((p) => p[1])).toEqual([10n, 5n, 0n, 8n]);
  });

  it('none returns every series alone, with its own tags', () => {
    const groups = runM(twoSeries(), T, T + 100, 'none:m');
    expect(groups.map((g) => [g.tags, g.aggregateTags, g.dps.length])).toEqual([
      [{ host: 'a' }, [], 2],
      [{ host: 'b' }, [], 2],
    ]);
    expect(groups[1]!.dps).toEqual([
      [s(10), 5n],
      [s(30), 8n],
    ]);
  });

  it('computes percentiles as Apache Commons Math does, truncated for integers', () => {
    const source = new MemorySource();
    [1n, 2n, 3n, 4n].forEach((v, i) => source.add('m', { i: String(i) }, [[s(0), v]]));
    const value = (agg: string): unknown => dpsOf(runM(source, T, T + 10, `${agg}:m`))[0]![1];
    expect(value('p50')).toBe(2n); // legacy: pos 2.5 → 2.5 → 2
    expect(value('p75')).toBe(3n); // pos 3.75 → 3.75
    expect(value('p90')).toBe(4n); // pos 4.5 ≥ n → max
    expect(value('ep50r7')).toBe(2n); // pos 1 + 3 * 0.5 = 2.5
    expect(value('ep75r3')).toBe(3n); // pos rint(3) = 3
    expect(value('ep90r3')).toBe(4n); // pos rint(3.6) = 4
    const floats = new MemorySource();
    [1, 2, 3, 4].forEach((v, i) => floats.add('m', { i: String(i) }, [[s(0), v]]));
    expect(dpsOf(runM(floats, T, T + 10, 'p50:m'))[0]![1]).toBe(2.5);
    expect(dpsOf(runM(floats, T, T + 10, 'p999:m'))[0]![1]).toBe(4);
    // OpenTSDB 2.4 ignores the estimation type for doubles.
    expect(dpsOf(runM(floats, T, T + 10, 'ep75r3:m'))[0]![1]).toBe(3.75);
  });

  it('reports tags shared by every series and aggregates the others', () => {
    const source = new MemorySource()
      .add('m', { dc: 'x', host: 'a', rack: '1' }, [[s(0), 1n]])
      .add('m', { dc: 'x', host: 'b' }, [[s(0), 2n]]);
    const [group] = runM(source, T, T + 10, 'sum:m');
    expect(group!.tags).toEqual({ dc: 'x' });
    expect(group!.aggregateTags).toEqual(['host', 'rack']);
    expect(group!.metric).toBe('m');
    expect(group!.queryIndex).toBe(0);
  });

  it('keeps only points within start and end, both inclusive', () => {
    const source = new MemorySource().add('m', { h: 'a' }, [[s(0), 1n], [s(10), 2n], [s(20), 3n], [s(30), 4n]]);
    expect(dpsOf(runM(source, T + 10, T + 20, 'sum:m'))).toEqual([
      [T + 10, 2n],
      [T + 20, 3n],
    ]);
  });

  it('returns no group for a metric without series, or series without data in the window', () => {
    const source = new MemorySource().add('m', { h: 'a' }, [[s(-7200), 1n]]);
    expect(runM(source, T, T + 10, 'sum:m')).toEqual([]);
    expect(runM(source, T, T + 10, 'sum:other')).toEqual([]);
  });
});
