// The /api/query JSON body: what it accepts, and the error for each bad part.
import { describe, expect, it } from 'vitest';
import { parseQueryBody, parseQueryJson } from '../../src/tsdb/query/parse.js';
import { parseJsonExact } from '../../src/tsdb/query/json.js';
import { TsraftError } from '../../src/errors.js';

const NOW = 1_700_000_000_000;
const parse = (body: unknown) => parseQueryBody(body, { nowMs: NOW });

function errorOf(fn: () => unknown): TsraftError | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof TsraftError) return e;
    throw e;
  }
  return undefined;
}

const sub = (extra: object = {}) => ({ aggregator: 'sum', metric: 'cpu', ...extra });

describe('query bodies', () => {
  it('reads a full OpenTSDB body', () => {
    const q = parseQueryJson(
      JSON.stringify({
        start: 1_699_990_000,
        end: '1700000000000',
        msResolution: true,
        showQuery: 'true',
        noAnnotations: true,
        globalAnnotations: false,
        queries: [
          {
            aggregator: 'AVG',
            metric: 'sys.cpu.user',
            downsample: '5m-max-zero',
            rate: true,
            rateOptions: { counter: true, counterMax: 65535, resetValue: 100 },
            filters: [{ type: 'regexp', tagk: 'host', filter: 'web.*', groupBy: true }],
            tags: { dc: 'lax' },
            explicitTags: false,
          },
        ],
      }),
      { nowMs: NOW },
    );
    expect(q).toMatchObject({ startMs: 1_699_990_000_000, endMs: NOW, msResolution: true, showQuery: true, noAnnotations: true, timezone: null });
    expect(q.queries[0]).toMatchObject({
      aggregator: 'avg',
      metric: 'sys.cpu.user',
      rate: true,
      rateOptions: { counter: true, counterMax: 65535n, resetValue: 100n, dropResets: false },
      downsample: { intervalMs: 300_000, aggregator: 'max', fill: 'zero' },
      filters: [
        { type: 'regexp', tagk: 'host', filter: 'web.*', groupBy: true },
        { type: 'literal_or', tagk: 'dc', filter: 'lax', groupBy: true },
      ],
    });
  });

  it('defaults end to now, rate options to int64 max and no reset', () => {
    const q = parse({ start: '1h-ago', queries: [sub({ rate: true })] });
    expect(q.endMs).toBe(NOW);
    expect(q.queries[0]!.rateOptions).toEqual({ counter: false, counterMax: (1n << 63n) - 1n, resetValue: 0n, dropResets: false });
  });

  it('merges a legacy tag equal to a filter into it, setting groupBy', () => {
    const q = parse({ start: '1h-ago', queries: [sub({ tags: { host: 'a|b' }, filters: [{ type: 'literal_or', tagk: 'host', filter: 'a|b' }] })] });
    expect(q.queries[0]!.filters).toEqual([{ type: 'literal_or', tagk: 'host', filter: 'a|b', groupBy: true }]);
  });

  it('keeps JSON integers beyond 2^53 exact', () => {
    expect(parseJsonExact('{"a":9223372036854775807,"b":-9007199254740993,"c":12,"d":1.5e3}')).toEqual({
      a: 9223372036854775807n,
      b: -9007199254740993n,
      c: 12,
      d: 1500,
    });
  });
});

describe('bad query bodies', () => {
  it.each([
    ['a body that is not an object', [], 'body'],
    ['a missing start', { queries: [sub()] }, 'start'],
    ['an unparsable start', { start: 'yesterday', queries: [sub()] }, 'start'],
    ['a fractional numeric start', { start: 1.5, queries: [sub()] }, 'start'],
    ['an end before the start', { start: '1h-ago', end: '2h-ago', queries: [sub()] }, 'end'],
    ['no queries', { start: '1h-ago', queries: [] }, 'queries'],
    ['queries that are not an array', { start: '1h-ago', queries: {} }, 'queries'],
    ['a delete request', { start: '1h-ago', delete: true, queries: [sub()] }, 'delete'],
    ['calendar downsampling', { start: '1h-ago', useCalendar: true, queries: [sub()] }, 'useCalendar'],
    ['an unknown top-level field', { start: '1h-ago', strat: 1, queries: [sub()] }, 'strat'],
    ['an unknown timezone', { start: '1h-ago', timezone: 'Atlantis/Capital', queries: [sub()] }, 'timezone'],
    ['a missing aggregator', { start: '1h-ago', queries: [{ metric: 'cpu' }] }, 'aggregator'],
    ['an unknown aggregator', { start: '1h-ago', queries: [sub({ aggregator: 'total' })] }, 'aggregator'],
    ['a missing metric', { start: '1h-ago', queries: [{ aggregator: 'sum' }] }, 'metric'],
    ['a numeric metric', { start: '1h-ago', queries: [sub({ metric: 42 })] }, 'queries[0].metric'],
    ['an unknown sub query field', { start: '1h-ago', queries: [sub({ aggregater: 'sum' })] }, 'aggregater'],
    ['a tsuids query', { start: '1h-ago', queries: [sub({ tsuids: ['000001'] })] }, 'tsuids'],
    ['a bad downsample', { start: '1h-ago', queries: [sub({ downsample: '1m' })] }, 'downsample'],
    ['a none downsampler', { start: '1h-ago', queries: [sub({ downsample: '1m-none' })] }, 'downsample'],
    ['a non-boolean rate', { start: '1h-ago', queries: [sub({ rate: 'yes' })] }, 'queries[0].rate'],
    ['a counterMax beyond int64', { start: '1h-ago', queries: [sub({ rate: true, rateOptions: { counterMax: 9223372036854775808n } })] }, 'queries[0].rateOptions.counterMax'],
    ['a fractional resetValue', { start: '1h-ago', queries: [sub({ rate: true, rateOptions: { resetValue: 0.5 } })] }, 'queries[0].rateOptions.resetValue'],
    ['a rate interval', { start: '1h-ago', queries: [sub({ rate: true, rateOptions: { interval: '1m' } })] }, 'rateOptions'],
    ['an unknown filter type', { start: '1h-ago', queries: [sub({ filters: [{ type: 'exact', tagk: 'h', filter: 'a' }] })] }, 'filter'],
    ['a filter without tagk', { start: '1h-ago', queries: [sub({ filters: [{ type: 'wildcard', filter: '*' }] })] }, 'queries[0].filters[0].tagk'],
    ['an empty filter', { start: '1h-ago', queries: [sub({ filters: [{ type: 'literal_or', tagk: 'h', filter: '' }] })] }, 'filter'],
    ['a lone pipe', { start: '1h-ago', queries: [sub({ filters: [{ type: 'literal_or', tagk: 'h', filter: '|' }] })] }, 'filter'],
    ['a wildcard without a star', { start: '1h-ago', queries: [sub({ filters: [{ type: 'wildcard', tagk: 'h', filter: 'web' }] })] }, 'filter'],
    ['a bad regexp', { start: '1h-ago', queries: [sub({ filters: [{ type: 'regexp', tagk: 'h', filter: '(' }] })] }, 'filter'],
    ['a non-string tag value', { start: '1h-ago', queries: [sub({ tags: { host: 1 } })] }, 'queries[0].tags.host'],
    ['a filter with an unknown field', { start: '1h-ago', queries: [sub({ filters: [{ type: 'regexp', tagk: 'h', filter: 'a', group: true }] })] }, 'group'],
  ])('rejects %s with TSR_ERR_INVALID_QUERY naming it', (_what, body, part) => {
    const e = errorOf(() => parse(body));
    expect(e?.code).toBe('TSR_ERR_INVALID_QUERY');
    expect(e?.details.part).toBe(part);
    expect(e?.httpStatus).toBe(400);
  });

  it.each([
    ['text that is not JSON', '{start:1}'],
    ['a trailing comma', '{"start":1,}'],
    ['trailing text', '{"start":1} x'],
    ['an unterminated string', '{"start":"1h-ago'],
    ['deep nesting', '['.repeat(100) + ']'.repeat(100)],
  ])('rejects %s', (_what, text) => {
    expect(errorOf(() => parseQueryJson(text, { nowMs: NOW }))?.code).toBe('TSR_ERR_INVALID_QUERY');
  });
});
