// The m= URL syntax and URL query parameters.
import { describe, expect, it } from 'vitest';
import { parseMetricQuery, parseQueryParams, parseRateSpec } from '../../src/tsdb/query/mquery.js';
import { TsraftError } from '../../src/errors.js';

const NOW = 1_700_000_000_000;
const INT64_MAX = (1n << 63n) - 1n;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof TsraftError ? e.code : `not a TsraftError: ${String(e)}`;
  }
  return undefined;
}

describe('m= sub queries', () => {
  it('parses aggregator, downsample, rate options, group-by and plain filters', () => {
    const q = parseMetricQuery('sum:1m-avg:rate{counter,,1000}:sys.cpu.user{host=*}{dc=literal_or(a|b)}', 0);
    expect(q).toEqual({
      index: 0,
      aggregator: 'sum',
      metric: 'sys.cpu.user',
      rate: true,
      rateOptions: { counter: true, counterMax: INT64_MAX, resetValue: 1000n, dropResets: false },
      rateOptionsGiven: true,
      downsample: { text: '1m-avg', intervalMs: 60_000, all: false, aggregator: 'avg', fill: 'none' },
      filters: [
        { type: 'wildcard', tagk: 'host', filter: '*', groupBy: true },
        { type: 'literal_or', tagk: 'dc', filter: 'a|b', groupBy: false },
      ],
      explicitTags: false,
      tags: { host: '*' },
    });
  });

  it('accepts the parts in any order and a bare metric', () => {
    const q = parseMetricQuery('max:rate:explicit_tags:5m-max-nan:cpu', 2);
    expect(q).toMatchObject({ index: 2, aggregator: 'max', metric: 'cpu', rate: true, rateOptionsGiven: false, explicitTags: true });
    expect(q.downsample).toMatchObject({ intervalMs: 300_000, fill: 'nan' });
    expect(parseMetricQuery('avg:cpu', 0)).toMatchObject({ aggregator: 'avg', metric: 'cpu', rate: false, downsample: null, filters: [] });
  });

  it('keeps colons, commas and braces inside a filter expression', () => {
    const q = parseMetricQuery('sum:m{host=regexp(web[0-9]{2,3}:x)}', 0);
    expect(q.filters).toEqual([{ type: 'regexp', tagk: 'host', filter: 'web[0-9]{2,3}:x', groupBy: true }]);
  });

  it('reads every tag value form in the group-by braces', () => {
    const q = parseMetricQuery('sum:m{a=*,b=x|y,c=web*,d=not_literal_or(z)}', 0);
    expect(q.filters.map((f) => [f.type, f.tagk, f.filter, f.groupBy])).toEqual([
      ['wildcard', 'a', '*', true],
      ['literal_or', 'b', 'x|y', true],
      ['iwildcard', 'c', 'web*', true],
      ['not_literal_or', 'd', 'z', true],
    ]);
  });

  it('parses rate option forms', () => {
    expect(parseRateSpec('rate{counter}')).toEqual({ counter: true, counterMax: INT64_MAX, resetValue: 0n, dropResets: false });
    expect(parseRateSpec('rate{counter,100}')).toMatchObject({ counterMax: 100n });
    expect(parseRateSpec('rate{dropcounter,,5}')).toEqual({ counter: true, counterMax: INT64_MAX, resetValue: 5n, dropResets: true });
    expect(parseRateSpec('rate{counter,9223372036854775807}').counterMax).toBe(INT64_MAX);
  });

  it.each([
    ['only an aggregator', 'sum'],
    ['too many parts', 'sum:1m-avg:rate:explicit_tags:x:m'],
    ['an unknown part', 'sum:fast:m'],
    ['an unknown aggregator', 'total:m'],
    ['a missing metric', 'sum:'],
    ['an unclosed brace', 'sum:m{host=a'],
    ['text after the braces', 'sum:m{host=a}x'],
    ['three brace groups', 'sum:m{a=b}{c=d}{e=f}'],
    ['a tag without a value', 'sum:m{host=}'],
    ['a tag without a key', 'sum:m{=a}'],
    ['a tag without =', 'sum:m{host}'],
    ['an unknown filter type', 'sum:m{host=exact(a)}'],
    ['a bad regexp', 'sum:m{host=regexp(a[)}'],
    ['a wildcard filter without a star', 'sum:m{host=wildcard(web)}'],
    ['a bad downsample', 'sum:1m-avg-sometimes:m'],
    ['two downsamples', 'sum:1m-avg:1h-avg:m'],
    ['bad rate options', 'sum:rate{counter,lots}:m'],
    ['an unknown rate kind', 'sum:rate{gauge}:m'],
    ['too many rate options', 'sum:rate{counter,1,2,3}:m'],
    ['a counter max beyond int64', 'sum:rate{counter,9223372036854775808}:m'],
    ['an empty string', ''],
  ])('rejects %s', (_what, m) => {
    expect(codeOf(() => parseMetricQuery(m, 0))).toBe('TSR_ERR_INVALID_QUERY');
  });
});

describe('URL query parameters', () => {
  it('reads start, end, several m= and flags', () => {
    const q = parseQueryParams(
      [
        ['start', '1h-ago'],
        ['end', '1700000000'],
        ['m', 'sum:cpu'],
        ['m', 'avg:mem{host=*}'],
        ['ms', ''],
        ['show_query', 'true'],
        ['arrays', ''],
      ],
      { nowMs: NOW },
    );
    expect(q.startMs).toBe(NOW - 3_600_000);
    expect(q.endMs).toBe(NOW);
    expect(q.queries.map((s) => [s.index, s.metric])).toEqual([
      [0, 'cpu'],
      [1, 'mem'],
    ]);
    expect(q.msResolution).toBe(true);
    expect(q.showQuery).toBe(true);
    expect(q.noAnnotations).toBe(false);
  });

  it('defaults the end to now and reads dates in the given timezone', () => {
    const q = parseQueryParams(
      [
        ['start', '2023/11/14-17:00'],
        ['timezone', 'America/New_York'],
        ['m', 'sum:cpu'],
      ],
      { nowMs: NOW },
    );
    expect(q.startMs).toBe(Date.UTC(2023, 10, 14, 22));
    expect(q.endMs).toBe(NOW);
    expect(q.timezone).toBe('America/New_York');
  });

  it.each([
    ['no m=', [['start', '1h-ago']]],
    ['no start', [['m', 'sum:cpu']]],
    ['an end before the start', [['start', '1h-ago'], ['end', '2h-ago'], ['m', 'sum:cpu']]],
    ['an end equal to the start', [['start', '1700000000'], ['end', '1700000000'], ['m', 'sum:cpu']]],
    ['a tsuid query', [['start', '1h-ago'], ['tsuid', 'sum:0001']]],
    ['an unknown timezone', [['start', '1h-ago'], ['timezone', 'Nowhere/City'], ['m', 'sum:cpu']]],
    ['a bad flag value', [['start', '1h-ago'], ['ms', 'maybe'], ['m', 'sum:cpu']]],
  ])('rejects %s', (_what, params) => {
    expect(codeOf(() => parseQueryParams(params as Array<[string, string]>, { nowMs: NOW }))).toBe('TSR_ERR_INVALID_QUERY');
  });
});
