import { describe, expect, it } from 'vitest';
import { SeriesIndex } from '../../src/tsdb/series-index.js';
import { parseSeriesKey, seriesKeyOf } from '../../src/tsdb/validate.js';
import type { Tags } from '../../src/tsdb/types.js';

function addSeries(index: SeriesIndex, metric: string, tags: Tags): number {
  const key = seriesKeyOf(metric, tags);
  const parsed = parseSeriesKey(key)!;
  return index.add(key, parsed.metric, parsed.tags).id;
}

function sampleIndex(): SeriesIndex {
  const index = new SeriesIndex();
  addSeries(index, 'sys.cpu.user', { host: 'web01', dc: 'lga' });
  addSeries(index, 'sys.cpu.user', { host: 'web02', dc: 'lga' });
  addSeries(index, 'sys.cpu.system', { host: 'web01', dc: 'lga' });
  addSeries(index, 'sys.mem.free', { host: 'db01', dc: 'sjc' });
  addSeries(index, 'app.requests', { service: 'api', host: 'web01' });
  return index;
}

describe('series index', () => {
  it('assigns dense ids in the order series first appear', () => {
    const index = sampleIndex();
    expect([...index.all()].map((s) => s.id)).toEqual([0, 1, 2, 3, 4]);
    expect(index.idOf('sys.cpu.user{dc=lga,host=web02}')).toBe(1);
    expect(index.info(3)).toEqual({ id: 3, metric: 'sys.mem.free', tags: { host: 'db01', dc: 'sjc' } });
  });

  it('lists the series of a metric in id order', () => {
    const index = sampleIndex();
    expect(index.seriesOfMetric('sys.cpu.user').map((s) => s.id)).toEqual([0, 1]);
    expect(index.seriesOfMetric('nope')).toEqual([]);
  });

  it('inverts tags to series ids', () => {
    const index = sampleIndex();
    expect(index.seriesWithTag('host', 'web01')).toEqual([0, 2, 4]);
    expect(index.seriesWithTag('dc', 'sjc')).toEqual([3]);
    expect(index.seriesWithTag('dc', 'ams')).toEqual([]);
  });

  it('suggests metrics, tag keys and tag values by prefix in sorted order, up to max', () => {
    const index = sampleIndex();
    expect(index.suggest('metrics', 'sys.')).toEqual(['sys.cpu.system', 'sys.cpu.user', 'sys.mem.free']);
    expect(index.suggest('metrics', 'sys.', 2)).toEqual(['sys.cpu.system', 'sys.cpu.user']);
    expect(index.suggest('metrics', '')).toEqual(['app.requests', 'sys.cpu.system', 'sys.cpu.user', 'sys.mem.free']);
    expect(index.suggest('tagk', '')).toEqual(['dc', 'host', 'service']);
    expect(index.suggest('tagv', 'web')).toEqual(['web01', 'web02']);
    expect(index.suggest('tagv', 'zzz')).toEqual([]);
  });

  it('sorts suggestions by byte order (upper case before lower case, as OpenTSDB)', () => {
    const index = new SeriesIndex();
    addSeries(index, 'b', { k: 'v' });
    addSeries(index, 'a', { k: 'v' });
    addSeries(index, 'B', { k: 'v' });
    addSeries(index, 'é', { k: 'v' });
    expect(index.suggest('metrics', '')).toEqual(['B', 'a', 'b', 'é']);
  });

  it('looks up series by metric and tag patterns with wildcards', () => {
    const index = sampleIndex();
    const ids = (q: Parameters<SeriesIndex['lookup']>[0]): number[] => index.lookup(q).series.map((s) => s.id);
    expect(ids({ metric: 'sys.cpu.user', tags: [] })).toEqual([0, 1]);
    expect(ids({ metric: 'sys.cpu.user', tags: [{ key: 'host', value: 'web02' }] })).toEqual([1]);
    expect(ids({ metric: null, tags: [{ key: 'host', value: 'web01' }] })).toEqual([0, 2, 4]);
    expect(ids({ metric: '*', tags: [{ key: 'dc', value: '*' }] })).toEqual([0, 1, 2, 3]);
    expect(ids({ metric: '*', tags: [{ key: '*', value: 'api' }] })).toEqual([4]);
    expect(ids({ metric: 'sys.cpu.user', tags: [{ key: 'service', value: '*' }] })).toEqual([]);
    expect(index.lookup({ metric: null, tags: [], limit: 2 })).toMatchObject({ totalResults: 5 });
    expect(ids({ metric: null, tags: [], limit: 2 })).toEqual([0, 1]);
  });

  it('forgets removed series everywhere and never reuses their ids', () => {
    const index = sampleIndex();
    index.removeAll([0, 4]);
    expect(index.size).toBe(3);
    expect(index.idOf('sys.cpu.user{dc=lga,host=web01}')).toBeUndefined();
    expect(index.seriesOfMetric('sys.cpu.user').map((s) => s.id)).toEqual([1]);
    expect(index.seriesWithTag('host', 'web01')).toEqual([2]);
    expect(index.suggest('metrics', 'app')).toEqual([]);
    expect(index.suggest('tagk', 's')).toEqual([]);
    expect(index.suggest('tagv', 'web')).toEqual(['web01', 'web02']);
    expect(addSeries(index, 'sys.cpu.user', { host: 'web01', dc: 'lga' })).toBe(5);
  });

  it('refuses to add a series twice', () => {
    const index = sampleIndex();
    expect(() => index.add('sys.mem.free{dc=sjc,host=db01}', 'sys.mem.free', { dc: 'sjc', host: 'db01' })).toThrow(/added twice/);
  });
});
