// The bench harness's arithmetic (bench/harness/figures.ts): medians over
// runs, joining repeated invocations of a benchmark, targets, formatting.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatSpread, formatTarget, formatValue, invertSpread, meetsTarget, mergeInvocations, spreadOf, type Figure } from '../../bench/harness/figures.js';

function figure(id: string, median: number, extra: Partial<Figure> = {}): Figure {
  return { id, label: id, unit: 'points/s', better: 'higher', value: { median, min: median, max: median, runs: 1 }, headline: true, ...extra };
}

describe('spreadOf', () => {
  it('takes the middle sample of an odd count and the mean of the middle two of an even count', () => {
    expect(spreadOf([5, 1, 3])).toEqual({ median: 3, min: 1, max: 5, runs: 3 });
    expect(spreadOf([4, 1, 3, 10])).toEqual({ median: 3.5, min: 1, max: 10, runs: 4 });
  });

  it('refuses no samples and samples that are not finite', () => {
    expect(() => spreadOf([])).toThrow(RangeError);
    expect(() => spreadOf([1, Number.NaN])).toThrow(RangeError);
  });

  it('always puts the median between min and max', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 }), { minLength: 1, maxLength: 30 }), (xs) => {
        const s = spreadOf(xs);
        return s.min <= s.median && s.median <= s.max && s.runs === xs.length && s.min === Math.min(...xs) && s.max === Math.max(...xs);
      }),
    );
  });
});

describe('mergeInvocations', () => {
  it('keeps the figures of a single invocation as the script reported them', () => {
    const own = figure('query.cold', 40, { value: { median: 40, min: 35, max: 70, runs: 9 } });
    expect(mergeInvocations([[own]])).toEqual([own]);
  });

  it('makes each figure the spread of the medians of several invocations, in first-seen order', () => {
    const merged = mergeInvocations([
      [figure('a', 100), figure('b', 7)],
      [figure('a', 300), figure('b', 9)],
      [figure('a', 200), figure('b', 8), figure('c', 1)],
    ]);
    expect(merged.map((f) => f.id)).toEqual(['a', 'b', 'c']);
    expect(merged[0]!.value).toEqual({ median: 200, min: 100, max: 300, runs: 3 });
    expect(merged[0]!.samples).toEqual([100, 300, 200]);
    expect(merged[1]!.value).toEqual({ median: 8, min: 7, max: 9, runs: 3 });
    expect(merged[2]!.value.runs).toBe(1);
  });

  it('refuses a figure whose unit changed between invocations', () => {
    expect(() => mergeInvocations([[figure('a', 1)], [figure('a', 2, { unit: 'ms' })]])).toThrow(/changed unit/);
  });
});

describe('targets', () => {
  it('compares the median with each kind of target', () => {
    expect(meetsTarget(300_000, { comparison: '>=', value: 300_000, source: 'issue 6' })).toBe(true);
    expect(meetsTarget(299_999, { comparison: '>=', value: 300_000, source: 'issue 6' })).toBe(false);
    expect(meetsTarget(50, { comparison: '<', value: 50, source: 'issue 5' })).toBe(false);
    expect(meetsTarget(1.5, { comparison: '<=', value: 1.5, source: 'issue 4' })).toBe(true);
    expect(meetsTarget(2, { comparison: '>', value: 2, source: 'x' })).toBe(false);
  });

  it('has no verdict for a figure without a target', () => {
    expect(meetsTarget(1, undefined)).toBeNull();
  });
});

describe('invertSpread', () => {
  it('swaps min and max for a decreasing function (seconds to MB/s)', () => {
    expect(invertSpread({ median: 2, min: 1, max: 4, runs: 3 }, (s) => 8 / s)).toEqual({ median: 4, min: 2, max: 8, runs: 3 });
  });
});

describe('formatting', () => {
  it('rounds each unit for reading', () => {
    expect(formatValue('points/s', 2_744_268.9)).toBe('2.74 M points/s');
    expect(formatValue('points/s', 120_033)).toBe('120.0 k points/s');
    expect(formatValue('ops/s', 1809)).toBe('1,809 ops/s');
    expect(formatValue('ms', 4.554)).toBe('4.55 ms');
    expect(formatValue('ms', 1336.33)).toBe('1,336 ms');
    expect(formatValue('bytes/point', 1.5750107)).toBe('1.575 bytes/point');
    expect(formatValue('percent', 2.676)).toBe('2.68 %');
    expect(formatValue('times', 187.06)).toBe('187×');
  });

  it('shows the range unless the figure is exact or ran once', () => {
    expect(formatSpread('ms', { median: 585, min: 511, max: 823, runs: 3 })).toBe('**585 ms** (511–823)');
    expect(formatSpread('ms', { median: 585, min: 511, max: 823, runs: 3 }, true)).toBe('**585 ms**');
    expect(formatSpread('ms', { median: 5, min: 5, max: 5, runs: 1 })).toBe('**5.00 ms**');
  });

  it('writes a target with its source and meaning', () => {
    expect(formatTarget('ops/s', { comparison: '>=', value: 6600, source: 'issue 6', meaning: "2× etcd 3.4's 3,300" })).toBe("≥ 6,600 ops/s (issue 6, 2× etcd 3.4's 3,300)");
    expect(formatTarget('ms', undefined)).toBe('—');
  });
});
