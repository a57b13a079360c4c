// Each filter type against OpenTSDB's documentation data set
// (user_guide/query/filters): one point per series at T.
import { describe, expect, it } from 'vitest';
import { MemorySource, runJson, runM } from './query-source.js';
import type { QueryResultGroup } from '../../src/tsdb/query/types.js';

const T = 1_700_002_800;

function docsData(): MemorySource {
  const source = new MemorySource();
  const rows: Array<[Record<string, string>, bigint]> = [
    [{ dc: 'dal', host: 'web01' }, 3n],
    [{ dc: 'dal', host: 'web02' }, 2n],
    [{ dc: 'dal', host: 'web03' }, 10n],
    [{ host: 'web01' }, 1n],
    [{ host: 'web01', owner: 'jdoe' }, 4n],
    [{ dc: 'lax', host: 'web01' }, 8n],
    [{ dc: 'lax', host: 'web02' }, 4n],
  ];
  for (const [tags, v] of rows) source.add('sys.cpu.system', tags, [[T * 1000, v]]);
  return source;
}

function filtered(type: string, tagk: string, filter: string, groupBy = false): QueryResultGroup[] {
  return runJson(docsData(), {
    start: T,
    end: T + 60,
    queries: [{ aggregator: 'sum', metric: 'sys.cpu.system', filters: [{ type, tagk, filter, groupBy }] }],
  });
}

/** [tags, sum] of every group. */
function summary(groups: QueryResultGroup[]): Array<[Record<string, string>, unknown]> {
  return groups.map((g) => [g.tags, g.dps[0]?.[1]]);
}

describe('tag value filters', () => {
  it('literal_or matches any listed value, case-sensitively', () => {
    expect(summary(filtered('literal_or', 'host', 'web01'))).toEqual([[{ host: 'web01' }, 16n]]);
    expect(summary(filtered('literal_or', 'host', 'web02|web03'))).toEqual([[{}, 16n]]);
    expect(filtered('literal_or', 'host', 'WEB01')).toEqual([]);
  });

  it('iliteral_or matches ignoring case', () => {
    expect(summary(filtered('iliteral_or', 'host', 'WEB01'))).toEqual([[{ host: 'web01' }, 16n]]);
  });

  it('not_literal_or matches the other values, and only series that have the key', () => {
    expect(summary(filtered('not_literal_or', 'dc', 'dal'))).toEqual([[{ dc: 'lax' }, 12n]]);
    expect(summary(filtered('not_literal_or', 'host', 'web01|web03'))).toEqual([[{ host: 'web02' }, 6n]]);
  });

  it('not_iliteral_or excludes values ignoring case', () => {
    expect(summary(filtered('not_iliteral_or', 'dc', 'DAL'))).toEqual([[{ dc: 'lax' }, 12n]]);
  });

  it('wildcard globs with prefix, postfix and infix stars, case-sensitively', () => {
    expect(summary(filtered('wildcard', 'host', 'web0*'))).toEqual([[{}, 32n]]);
    expect(summary(filtered('wildcard', 'host', '*02'))).toEqual([[{ host: 'web02' }, 6n]]);
    expect(summary(filtered('wildcard', 'host', 'w*b*3'))).toEqual([[{ dc: 'dal', host: 'web03' }, 10n]]);
    expect(summary(filtered('wildcard', 'host', 'eb*'))).toEqual([]); // anchored: must start with eb
    expect(filtered('wildcard', 'host', 'WEB*')).toEqual([]);
    expect(summary(filtered('wildcard', 'owner', '*'))).toEqual([[{ host: 'web01', owner: 'jdoe' }, 4n]]);
  });

  it('iwildcard globs ignoring case', () => {
    expect(summary(filtered('iwildcard', 'host', 'WEB*'))).toEqual([[{}, 32n]]);
  });

  it('regexp matches anywhere in the value unless anchored', () => {
    expect(summary(filtered('regexp', 'host', 'web0[12]'))).toEqual([[{}, 22n]]);
    expect(summary(filtered('regexp', 'host', 'eb03'))).toEqual([[{ dc: 'dal', host: 'web03' }, 10n]]);
    expect(filtered('regexp', 'host', '^eb')).toEqual([]);
  });

  it('groups by the key of a filter with groupBy', () => {
    const groups = filtered('wildcard', 'host', '*', true);
    expect(summary(groups)).toEqual([
      [{ host: 'web01' }, 16n],
      [{ host: 'web02' }, 6n],
      [{ dc: 'dal', host: 'web03' }, 10n],
    ]);
    expect(groups[0]!.aggregateTags).toEqual(['dc', 'owner']);
  });

  it('ANDs filters on the same key', () => {
    const groups = runJson(docsData(), {
      start: T,
      end: T + 60,
      queries: [
        {
          aggregator: 'sum',
          metric: 'sys.cpu.system',
          filters: [
            { type: 'literal_or', tagk: 'host', filter: 'web01' },
            { type: 'literal_or', tagk: 'host', filter: 'web02' },
          ],
        },
      ],
    });
    expect(groups).toEqual([]);
  });

  it('explicitTags keeps only series whose keys are exactly the filtered keys', () => {
    const groups = runJson(docsData(), {
      start: T,
      end: T + 60,
      queries: [{ aggregator: 'sum', metric: 'sys.cpu.system', explicitTags: true, filters: [{ type: 'wildcard', tagk: 'host', filter: '*' }] }],
    });
    expect(summary(groups)).toEqual([[{ host: 'web01' }, 1n]]);
  });
});

describe('legacy tags and m= braces', () => {
  it('host=* groups by every host', () => {
    expect(summary(runM(docsData(), T, T + 60, 'sum:sys.cpu.system{host=*}')).map((g) => g[1])).toEqual([16n, 6n, 10n]);
  });

  it('dc=dal|lax is a grouping literal_or', () => {
    expect(summary(runM(docsData(), T, T + 60, 'sum:sys.cpu.system{dc=dal|lax}'))).toEqual([
      [{ dc: 'dal' }, 15n],
      [{ dc: 'lax' }, 12n],
    ]);
  });

  it('a value with a star is a case-insensitive grouping wildcard', () => {
    expect(summary(runM(docsData(), T, T + 60, 'sum:sys.cpu.system{host=WEB0*}')).map((g) => g[1])).toEqual([16n, 6n, 10n]);
  });

  it('second braces filter without grouping', () => {
    expect(summary(runM(docsData(), T, T + 60, 'sum:sys.cpu.system{host=*}{dc=literal_or(lax)}'))).toEqual([
      [{ dc: 'lax', host: 'web01' }, 8n],
      [{ dc: 'lax', host: 'web02' }, 4n],
    ]);
    expect(summary(runM(docsData(), T, T + 60, 'sum:sys.cpu.system{}{host=regexp(web0[0-9]{1})}'))).toEqual([[{}, 32n]]);
  });

  it('legacy JSON tags group by every key, merged with filters', () => {
    const groups = runJson(docsData(), {
      start: T,
      end: T + 60,
      queries: [{ aggregator: 'sum', metric: 'sys.cpu.system', tags: { dc: '*' }, filters: [{ type: 'literal_or', tagk: 'host', filter: 'web01' }] }],
    });
    expect(summary(groups)).toEqual([
      [{ dc: 'dal', host: 'web01' }, 3n],
      [{ dc: 'lax', host: 'web01' }, 8n],
    ]);
  });

  it('treats a tag key named __proto__ as plain data', () => {
    const source = new MemorySource();
    source.add('m', JSON.parse('{"__proto__":"a","host":"x"}') as Record<string, string>, [[T * 1000, 1n]]);
    source.add('m', JSON.parse('{"__proto__":"b","host":"x"}') as Record<string, string>, [[T * 1000, 2n]]);
    const groups = runM(source, T, T + 60, 'sum:m{__proto__=*}');
    expect(groups.map((g) => [Object.entries(g.tags), g.dps[0]![1]])).toEqual([
      [[['__proto__', 'a'], ['host', 'x']], 1n],
      [[['__proto__', 'b'], ['host', 'x']], 2n],
    ]);
  });
});
