// OpenTSDB's JSON output: layout, timestamps, Java number formatting.
import { describe, expect, it } from 'vitest';
import { executeQuery } from '../../src/tsdb/query/engine.js';
import { formatJavaDouble, formatValue, renderQueryResults } from '../../src/tsdb/query/render.js';
import { MemorySource, queryOf } from './query-source.js';

const T = 1_700_002_800;

describe("Java's Double.toString", () => {
  it.each([
    [1, '1.0'],
    [-1, '-1.0'],
    [1.5, '1.5'],
    [100, '100.0'],
    [0, '0.0'],
    [-0, '-0.0'],
    [0.001, '0.001'],
    [0.0001, '1.0E-4'],
    [1234567.5, '1234567.5'],
    [1e7, '1.0E7'],
    [12345678.9, '1.23456789E7'],
    [1e21, '1.0E21'],
    [1e23, '1.0E23'],
    [0.1 + 0.2, '0.30000000000000004'],
    [Number.MIN_VALUE, '4.9E-324'],
    [Number.MAX_VALUE, '1.7976931348623157E308'],
    [2 ** 63, '9.223372036854776E18'],
    [-2.5e-5, '-2.5E-5'],
    [Number.NaN, 'NaN'],
  ])('formats %s as %s', (d, text) => {
    expect(formatJavaDouble(d)).toBe(text);
  });

  it('quotes NaN and infinities as Jackson does, and prints int64s exactly', () => {
    expect(formatValue(Number.NaN)).toBe('"NaN"');
    expect(formatValue(Number.POSITIVE_INFINITY)).toBe('"Infinity"');
    expect(formatValue(null)).toBe('null');
    expect(formatValue(9223372036854775807n)).toBe('9223372036854775807');
    expect(formatValue(2.5)).toBe('2.5');
  });
});

describe('query responses', () => {
  const source = (): MemorySource =>
    new MemorySource()
      .add('sys.cpu', { host: 'a', dc: 'x' }, [[T * 1000, 1n], [T * 1000 + 1500, 2.5]])
      .add('sys.cpu', { host: 'b', dc: 'x' }, [[T * 1000, 9223372036854775806n]]);

  it('writes dps as an object keyed by seconds', () => {
    const q = queryOf(T, T + 60, 'none:sys.cpu');
    expect(renderQueryResults(executeQuery(q, source()), q)).toBe(
      `[{"metric":"sys.cpu","tags":{"dc":"x","host":"a"},"aggregateTags":[],"dps":{"${T}":1.0,"${T + 1}":2.5}},` +
        `{"metric":"sys.cpu","tags":{"dc":"x","host":"b"},"aggregateTags":[],"dps":{"${T}":9223372036854775806}}]`,
    );
  });

  it('writes milliseconds with msResolution and pairs with arrays', () => {
    const q = queryOf(T, T + 60, 'sum:sys.cpu{host=a}', [['ms', 'true']]);
    expect(renderQueryResults(executeQuery(q, source()), q, { arrays: true })).toBe(
      `[{"metric":"sys.cpu","tags":{"dc":"x","host":"a"},"aggregateTags":[],"dps":[[${T * 1000},1.0],[${T * 1000 + 1500},2.5]]}]`,
    );
  });

  it('echoes the sub query with showQuery', () => {
    const q = queryOf(T, T + 60, 'sum:1m-avg:rate{counter,100}:sys.cpu{host=*}', [['show_query', '']]);
    const text = renderQueryResults(executeQuery(q, source()), q);
    expect(text).toContain(
      '"query":{"aggregator":"sum","metric":"sys.cpu","tsuids":null,"downsample":"1m-avg","rate":true,' +
        '"filters":[{"tagk":"host","filter":"*","group_by":true,"type":"wildcard"}],"index":0,"tags":{"host":"*"},' +
        '"rateOptions":{"counter":true,"counterMax":100,"resetValue":0,"dropResets":false},"explicitTags":false}',
    );
  });

  it('renders an empty result as an empty array', () => {
    const q = queryOf(T, T + 60, 'sum:nothing');
    expect(renderQueryResults(executeQuery(q, source()), q)).toBe('[]');
  });

  it('escapes tag strings', () => {
    const odd = new MemorySource().add('m', { k: 'a"b\\c' }, [[T * 1000, 1n]]);
    const q = queryOf(T, T + 60, 'sum:m');
    expect(JSON.parse(renderQueryResults(executeQuery(q, odd), q))).toEqual([{ metric: 'm', tags: { k: 'a"b\\c' }, aggregateTags: [], dps: { [String(T)]: 1 } }]);
  });
});
