// The put encoder's fast paths (columns, canonical series keys, the
// validated-series cache, numeric shortcuts) against the plain reference:
// validatePoints (src/tsdb/validate.ts) into a WriteBatchBuilder. Same
// batch bytes, same errors, for random points, cold and warm cache.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SeriesCache, encodePut, type EncodedPut } from '../../src/api/put-encoder.js';
import type { ColumnarPoints } from '../../src/api/service.js';
import { canonicalSeriesKey } from '../../src/client/points.js';
import { parseSeriesKey, validatePoints, type RawPoint } from '../../src/tsdb/validate.js';
import { WriteBatchBuilder, decodeWriteBatch, type SeriesIdResolver } from '../../src/tsdb/write-batch.js';

const name = fc.oneof(fc.constantFrom('cpu', 'sys.cpu.user', 'a-b_c/d', 'ü', 'x'.repeat(257), '', 'bad name', 'a,b', 'a=b', '{'), fc.string({ maxLength: 5 }));
const tags = fc.oneof(
  fc.dictionary(fc.constantFrom('host', 'dc', 'cpu', 'z', 'bad key'), name, { minKeys: 0, maxKeys: 3 }),
  fc.constant({ host: 'a' }),
  fc.constant(Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, 'v']))),
);
const timestamp = fc.oneof(
  fc.integer({ min: -10, max: 2 ** 33 }),
  fc.constantFrom(1_700_000_000, 1_700_000_000_123, 4_294_967_295, 4_294_967_296, 999_999_999_999, 9_999_999_999_999, 1.5, Number.NaN),
  fc.constantFrom('1700000000', '1700000000.123', 'soon', ''),
);
const value = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(2 ** 53, 2 ** 53 + 2, -(2 ** 63), 2 ** 63, 0.5, -0), fc.constantFrom('42', '4.0', '1e3', 'NaN', 'x'), fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }));
const point = fc.record({ metric: name, tags, timestamp, value });

function reference(points: RawPoint[], seriesIdOf: SeriesIdResolver | null = null): { batch: Uint8Array | null; errors: unknown[] } {
  const builder = new WriteBatchBuilder({ maxPoints: 50_000, maxSeriesKeys: 50_000, maxBytes: 4 << 20 }, 1024, seriesIdOf);
  const { errors } = validatePoints(points, builder);
  return { batch: builder.pointCount > 0 ? builder.encode() : null, errors };
}

function columnsOf(points: RawPoint[], byKey: boolean): ColumnarPoints {
  const series: Array<[unknown, unknown]> = [];
  const keys: string[] = [];
  const index = new Map<string, number>();
  const seriesIndexes = points.map((p) => {
    const canonical = canonicalSeriesKey(p.metric as string, p.tags as Record<string, string>);
    const id = byKey ? (canonical ?? JSON.stringify(['?', p.metric, p.tags])) : JSON.stringify([p.metric, p.tags]);
    let i = index.get(id);
    if (i === undefined) {
      i = series.length;
      index.set(id, i);
      series.push([p.metric, p.tags]);
      keys.push(canonical ?? '');
    }
    return i;
  });
  const base = { seriesIndexes, timestamps: points.map((p) => p.timestamp), values: points.map((p) => p.value) };
  return byKey ? { ...base, seriesKeys: keys } : { ...base, series };
}

function same(actual: EncodedPut, expected: ReturnType<typeof reference>): void {
  expect(actual.errors).toEqual(expected.errors);
  expect(actual.batch === null ? null : [...actual.batch]).toEqual(expected.batch === null ? null : [...expected.batch]);
}

describe('encodePut', () => {
  it('encodes point objects exactly as validatePoints does, with and without the series cache', () => {
    const cache = new SeriesCache(16);
    fc.assert(
      fc.property(fc.array(point, { maxLength: 30 }), (points) => {
        const expected = reference(points);
        same(encodePut({ kind: 'objects', points }), expected);
        same(encodePut({ kind: 'objects', points }, undefined, cache), expected);
        same(encodePut({ kind: 'objects', points }, undefined, cache), expected);
      }),
      { numRuns: 500 },
    );
  });

  it('encodes [metric, tags] columns exactly as validatePoints does', () => {
    const cache = new SeriesCache(16);
    fc.assert(
      fc.property(fc.array(point, { maxLength: 30 }), (points) => {
        const expected = reference(points);
        same(encodePut({ kind: 'columns', columns: columnsOf(points, false) }, undefined, cache), expected);
      }),
      { numRuns: 500 },
    );
  });

  it('encodes canonical-key columns exactly as validatePoints does for series that have a canonical key', () => {
    const cache = new SeriesCache(16);
    fc.assert(
      fc.property(fc.array(point, { maxLength: 30 }), (points) => {
        const keyed = points.filter((p) => canonicalSeriesKey(p.metric as string, p.tags as Record<string, string>) !== null);
        const expected = reference(keyed);
        const actual = encodePut({ kind: 'columns', columns: columnsOf(keyed, true) }, undefined, cache);
        expect(actual.batch === null ? null : [...actual.batch]).toEqual(expected.batch === null ? null : [...expected.batch]);
        // A key's tags arrive sorted, so with two bad tags the one named may differ.
        const project = (e: { index: number; details: { field: string; reason: string } }) => [e.index, e.details.field, e.details.field === 'tags' ? '' : e.details.reason];
        expect(actual.errors.map(project)).toEqual((expected.errors as Array<{ index: number; details: { field: string; reason: string } }>).map(project));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a non-canonical series key with a per-point error instead of storing another series', () => {
    const out = encodePut({ kind: 'columns', columns: { seriesKeys: ['m{b=1,a=2}', 'm{a=2,b=1}', 'm{}'], seriesIndexes: [0, 1, 2], timestamps: [1_700_000_000, 1_700_000_000, 1_700_000_000], values: [1, 2, 3] } });
    expect(out.batchPoints).toBe(1);
    expect(out.errors.map((e) => [e.index, e.details.field, e.details.reason])).toEqual([
      [0, 'series', 'wrong_type'],
      [2, 'tags', 'no_tags'],
    ]);
  });

  it('refuses a whole request that is too large or malformed before adding anything', () => {
    const limits = { maxPointsPerPut: 2, maxSeriesPerPut: 10, maxBatchBytes: 1 << 20, maxErrorsPerPut: 10 };
    const three = Array.from({ length: 3 }, () => ({ metric: 'm', timestamp: 1_700_000_000, value: 1, tags: { h: 'a' } }));
    expect(() => encodePut({ kind: 'objects', points: three }, limits)).toThrow(expect.objectContaining({ code: 'TSR_ERR_BATCH_TOO_LARGE' }) as Error);
    expect(() => encodePut({ kind: 'columns', columns: { series: [['m', { h: 'a' }]], seriesIndexes: [1], timestamps: [1], values: [1] } })).toThrow(
      expect.objectContaining({ code: 'TSR_ERR_INVALID_ARGUMENT' }) as Error,
    );
  });

  it('refers to the series the state machine holds by id, in every input form, as the reference builder does', () => {
    const cache = new SeriesCache(16);
    fc.assert(
      fc.property(fc.array(point, { maxLength: 30 }), fc.integer({ min: 0, max: 1000 }), (points, salt) => {
        // A made-up state machine holding every other valid series it is asked about (ids are unique per key).
        const ids = new Map<string, number>();
        const seriesIdOf: SeriesIdResolver = (key) => {
          if ((key.length + salt) % 2 !== 0 || parseSeriesKey(key) === null) return undefined;
          if (!ids.has(key)) ids.set(key, salt + ids.size * 3);
          return ids.get(key);
        };
        const expected = reference(points, seriesIdOf);
        same(encodePut({ kind: 'objects', points }, undefined, cache, seriesIdOf), expected);
        same(encodePut({ kind: 'columns', columns: columnsOf(points, false) }, undefined, cache, seriesIdOf), expected);
        const keyed = points.filter((p) => canonicalSeriesKey(p.metric as string, p.tags as Record<string, string>) !== null);
        const keyedExpected = reference(keyed, seriesIdOf);
        const actual = encodePut({ kind: 'columns', columns: columnsOf(keyed, true) }, undefined, cache, seriesIdOf);
        expect(actual.batch === null ? null : [...actual.batch]).toEqual(keyedExpected.batch === null ? null : [...keyedExpected.batch]);
      }),
      { numRuns: 300 },
    );
  });

  it('takes a key the state machine holds as valid without parsing it again', () => {
    // Not canonical, so it could not be in a real index; the resolver vouches for it.
    const out = encodePut({ kind: 'columns', columns: { seriesKeys: ['m{b=1,a=2}'], seriesIndexes: [0], timestamps: [1_700_000_000], values: [1] } }, undefined, null, () => 41);
    expect(out.errors).toEqual([]);
    const batch = decodeWriteBatch(out.batch!);
    expect([...batch.seriesIds]).toEqual([41]);
    expect(batch.seriesKeys).toEqual(['']);
  });

  it('uses the series ids remembered for keys, fills in the ones it resolves, and ignores them without a resolver', () => {
    const asked: string[] = [];
    const seriesIdOf: SeriesIdResolver = (key) => (asked.push(key), key === 'm{h=b}' ? 7 : undefined);
    const seriesIds = Int32Array.of(3, -1, -1);
    const columns = { seriesKeys: ['m{h=a}', 'm{h=b}', 'm{h=c}'], seriesIds, seriesIndexes: [0, 1, 2], timestamps: [1_700_000_000, 1_700_000_000, 1_700_000_000], values: [1, 2, 3] };
    const out = encodePut({ kind: 'columns', columns }, undefined, null, seriesIdOf);
    expect(asked).toEqual(['m{h=b}', 'm{h=c}']);
    expect([...seriesIds]).toEqual([3, 7, -1]);
    const batch = decodeWriteBatch(out.batch!);
    expect([...batch.seriesIds]).toEqual([3, 7, -1]);
    expect(batch.seriesKeys).toEqual(['', '', 'm{h=c}']);
    const byKey = decodeWriteBatch(encodePut({ kind: 'columns', columns }, undefined, null, null).batch!);
    expect([...byKey.seriesIds]).toEqual([-1, -1, -1]);
  });
});
