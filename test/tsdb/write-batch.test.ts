import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TsraftError } from '../../src/errors.js';
import { ByteReader, ByteWriter, crc32c, fnv1a64Hex } from '../../src/tsdb/byte-io.js';
import { MAX_SERIES_ID, SeriesIdSlots, WRITE_BATCH_VERSION, WRITE_BATCH_VERSION_SERIES_IDS, WriteBatchBuilder, decodeWriteBatch } from '../../src/tsdb/write-batch.js';

interface GenPoint {
  key: string;
  ts: number;
  value: number | bigint;
}

const keyArb = fc.constantFrom('cpu{host=a}', 'cpu{host=b}', 'mem{dc=x,host=a}', 'temp{city=東京}', 'm{k=v}');
const tsArb = fc.integer({ min: 1000, max: 9_999_999_999_999 });
const floatArb = fc.double({ noNaN: true, noDefaultInfinity: true });
const intArb = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const pointArb = fc.record({ key: keyArb, ts: tsArb, value: fc.oneof(floatArb, intArb, fc.integer()) });

function build(points: GenPoint[]): Uint8Array {
  const builder = new WriteBatchBuilder();
  for (const p of points) {
    if (typeof p.value === 'bigint') {
      const asNumber = Number(p.value);
      builder.addPoint(p.key, p.ts, asNumber, true, Math.abs(asNumber) > 2 ** 53 ? p.value : null);
    } else if (Number.isSafeInteger(p.value) && !Object.is(p.value, -0)) {
      builder.addPoint(p.key, p.ts, p.value, true, null);
    } else {
      builder.addPoint(p.key, p.ts, p.value, false, null);
    }
  }
  return builder.encode();
}

function exactOf(value: number | bigint): number | bigint {
  if (typeof value === 'bigint') return value;
  return Number.isSafeInteger(value) && !Object.is(value, -0) ? BigInt(value) : value;
}

describe('write batch', () => {
  it('round-trips keys, timestamps and values bit-exactly', () => {
    fc.assert(
      fc.property(fc.array(pointArb, { maxLength: 200 }), (points) => {
        const batch = decodeWriteBatch(build(points));
        const cols = batch.columns;
        expect(cols.length).toBe(points.length);
        points.forEach((p, i) => {
          expect(batch.seriesKeys[batch.seriesKeyIndexes[i]!]).toBe(p.key);
          expect(cols.timestampsMs[i]).toBe(p.ts);
          const expected = exactOf(p.value);
          if (typeof expected === 'bigint') {
            expect(cols.isInteger[i]).toBe(1);
            expect(cols.values[i]).toBe(Number(expected));
            const exact = cols.bigInts !== null ? cols.bigInts[i]! : BigInt(cols.values[i]!);
            expect(exact).toBe(expected);
          } else {
            expect(cols.isInteger[i]).toBe(0);
            expect(Object.is(cols.values[i], expected)).toBe(true);
          }
        });
      }),
      { numRuns: 200 },
    );
  });

  it('lists each distinct series key once', () => {
    const batch = decodeWriteBatch(
      build([
        { key: 'cpu{host=a}', ts: 1000, value: 1 },
        { key: 'cpu{host=b}', ts: 2000, value: 2 },
        { key: 'cpu{host=a}', ts: 3000, value: 3 },
      ]),
    );
    expect(batch.seriesKeys).toEqual(['cpu{host=a}', 'cpu{host=b}']);
    expect([...batch.seriesKeyIndexes]).toEqual([0, 1, 0]);
  });

  it('keeps -0, subnormals and extreme floats', () => {
    const values = [-0, 5e-324, -Number.MAX_VALUE, Number.MIN_VALUE, 0.1];
    const batch = decodeWriteBatch(build(values.map((value, i) => ({ key: 'm{k=v}', ts: 1000 + i, value }))));
    values.forEach((v, i) => expect(Object.is(batch.columns.values[i], v)).toBe(true));
  });

  it('detects any flipped byte through its checksum', () => {
    const bytes = build([
      { key: 'cpu{host=a}', ts: 1_356_998_400_000, value: 42 },
      { key: 'cpu{host=b}', ts: 1_356_998_400_000, value: 4.2 },
    ]);
    for (let i = 0; i < bytes.length; i++) {
      const copy = bytes.slice();
      copy[i]! ^= 0x10;
      expect(() => decodeWriteBatch(copy), `byte ${i}`).toThrow(TsraftError);
    }
  });

  it('refuses an unknown version as unsupported', () => {
    const bytes = build([{ key: 'm{k=v}', ts: 1000, value: 1 }]).slice();
    bytes[0] = 9;
    new DataView(bytes.buffer).setUint32(bytes.length - 4, crc32c(bytes, 0, bytes.length - 4), true);
    expect(() => decodeWriteBatch(bytes)).toThrow(expect.objectContaining({ code: 'TSR_ERR_UNSUPPORTED_ENTRY' }));
  });

  it('refuses a truncated batch as corrupt', () => {
    const bytes = build([{ key: 'm{k=v}', ts: 1000, value: 1 }]);
    expect(() => decodeWriteBatch(bytes.subarray(0, 3))).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_ENTRY' }));
  });

  it('refuses more points than the decoder bound', () => {
    const bytes = build([
      { key: 'm{k=v}', ts: 1000, value: 1 },
      { key: 'm{k=v}', ts: 2000, value: 2 },
    ]);
    expect(() => decodeWriteBatch(bytes, { maxPoints: 1 })).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_ENTRY' }));
  });

  it('refuses to grow past its bounds while building', () => {
    const builder = new WriteBatchBuilder({ maxPoints: 1 });
    builder.addPoint('m{k=v}', 1000, 1, true, null);
    expect(() => builder.addPoint('m{k=v}', 2000, 1, true, null)).toThrow(expect.objectContaining({ code: 'TSR_ERR_BATCH_TOO_LARGE' }));
    const keys = new WriteBatchBuilder({ maxSeriesKeys: 1 });
    keys.addPoint('m{k=a}', 1000, 1, true, null);
    expect(() => keys.addPoint('m{k=b}', 1000, 1, true, null)).toThrow(expect.objectContaining({ code: 'TSR_ERR_BATCH_TOO_LARGE' }));
  });

  it('computes the standard FNV-1a 64 test vectors', () => {
    const enc = new TextEncoder();
    expect(fnv1a64Hex(new Uint8Array(0))).toBe('cbf29ce484222325');
    expect(fnv1a64Hex(enc.encode('a'))).toBe('af63dc4c8601ec8c');
    expect(fnv1a64Hex(enc.encode('foobar'))).toBe('85944171f73967e8');
  });

  it('round-trips varints of every width, int64 extremes included', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { maxLength: 50 }), (values) => {
        const w = new ByteWriter(4);
        for (const v of values) w.varintExact(Number(v), v);
        const r = new ByteReader(w.finish(), 'TSR_ERR_CORRUPT_ENTRY', 'test');
        for (const v of values) {
          const read = r.varintExact('v');
          expect(typeof read === 'bigint' ? read : BigInt(read)).toBe(v);
        }
        r.expectEnd();
      }),
    );
  });

  it('computes the standard CRC32C check value', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  });

  it('encodes a second-resolution point in a few bytes', () => {
    const builder = new WriteBatchBuilder();
    for (let i = 0; i < 1000; i++) builder.addPoint('cpu{host=a}', 1_356_998_400_000 + i * 10_000, i % 100, true, null);
    const bytes = builder.encode();
    // 1 key byte + 3 timestamp bytes + 1–2 value bytes + 1/8 bitmap byte per point.
    expect(bytes.length).toBeLessThan(1000 * 6.5);
  });

  it('reads a version 1 batch written before series ids existed', () => {
    // cpu{host=a} 1356998400000 42 (int64), cpu{host=b} 1356998410000 4.5 (float64).
    const bytes = Uint8Array.from(Buffer.from('01020b6370757b686f73743d617d0b6370757b686f73743d627d02000180e0c2b6fe4ea09c01015400000000000012400f48e757', 'hex'));
    const batch = decodeWriteBatch(bytes);
    expect(batch.seriesKeys).toEqual(['cpu{host=a}', 'cpu{host=b}']);
    expect([...batch.seriesIds]).toEqual([-1, -1]);
    expect([...batch.columns.timestampsMs]).toEqual([1_356_998_400_000, 1_356_998_410_000]);
    expect([...batch.columns.values]).toEqual([42, 4.5]);
    expect([...batch.columns.isInteger]).toEqual([1, 0]);
  });

  it('writes version 1, byte for byte as before, when no series is referred to by id', () => {
    const builder = new WriteBatchBuilder();
    builder.addPoint('cpu{host=a}', 1_356_998_400_000, 42, true, null);
    builder.addPoint('cpu{host=b}', 1_356_998_410_000, 4.5, false, null);
    const bytes = builder.encode();
    expect(bytes[0]).toBe(WRITE_BATCH_VERSION);
    expect(Buffer.from(bytes).toString('hex')).toBe('01020b6370757b686f73743d617d0b6370757b686f73743d627d02000180e0c2b6fe4ea09c01015400000000000012400f48e757');
  });

  it('round-trips series given by id and by key (version 2)', () => {
    const seriesArb = fc.uniqueArray(fc.record({ key: keyArb, id: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: MAX_SERIES_ID })) }), { selector: (s) => s.key, minLength: 1 });
    fc.assert(
      fc.property(seriesArb, fc.array(fc.tuple(fc.nat(), tsArb, floatArb), { minLength: 1, maxLength: 100 }), (series, points) => {
        const builder = new WriteBatchBuilder();
        for (const [s, ts, value] of points) {
          const chosen = series[s % series.length]!;
          builder.addPointOf(builder.seriesIndexOf(chosen.key, chosen.id), ts, value, false, null);
        }
        const bytes = builder.encode();
        const batch = decodeWriteBatch(bytes);
        expect(bytes[0]).toBe(series.some((s) => s.id >= 0 && points.some(([i]) => series[i % series.length] === s)) ? WRITE_BATCH_VERSION_SERIES_IDS : WRITE_BATCH_VERSION);
        points.forEach(([s, ts, value], i) => {
          const chosen = series[s % series.length]!;
          const k = batch.seriesKeyIndexes[i]!;
          expect(batch.seriesIds[k]).toBe(chosen.id);
          expect(batch.seriesKeys[k]).toBe(chosen.id >= 0 ? '' : chosen.key);
          expect(batch.columns.timestampsMs[i]).toBe(ts);
          expect(Object.is(batch.columns.values[i], value)).toBe(true);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('adds a series once however often it is named', () => {
    const builder = new WriteBatchBuilder();
    const first = builder.seriesIndexOf('cpu{host=a}', 7);
    expect(builder.seriesIndexOf('cpu{host=a}', 7)).toBe(first);
    builder.addPoint('cpu{host=a}', 1000, 1, true, null);
    builder.addPointOf(first, 2000, 2, true, null);
    const batch = decodeWriteBatch(builder.encode());
    expect([...batch.seriesIds]).toEqual([7]);
    expect([...batch.seriesKeyIndexes]).toEqual([0, 0]);
  });

  it('refuses a series id beyond the bound as corrupt', () => {
    const w = new ByteWriter(64);
    w.u8(WRITE_BATCH_VERSION_SERIES_IDS);
    w.varuint(1);
    w.varuint(MAX_SERIES_ID + 2);
    w.varuint(1);
    w.varuint(0);
    w.varint(1000);
    w.u8(1);
    w.varint(1);
    w.crc32c();
    expect(() => decodeWriteBatch(w.finish())).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_ENTRY' }));
  });

  it('refuses a series id out of range while building', () => {
    const builder = new WriteBatchBuilder();
    expect(() => builder.seriesIndexOf('m{k=v}', MAX_SERIES_ID + 1)).toThrow();
    expect(() => builder.seriesIndexOf('m{k=v}', -2)).toThrow();
  });

  it('refers to a series in a couple of bytes instead of its key', () => {
    const byKey = new WriteBatchBuilder();
    const byId = new WriteBatchBuilder();
    for (let s = 0; s < 1000; s++) {
      const key = `bench.cpu.user{dc=dc1,host=host${s},slot=0}`;
      byKey.addPoint(key, 1_356_998_400_000, s * 0.25, false, null);
      byId.addPointOf(byId.seriesIndexOf(key, s), 1_356_998_400_000, s * 0.25, false, null);
    }
    // Per point: 2 series-index bytes, 1 timestamp byte, 8 value bytes; per series by id: 2 bytes.
    expect(byId.encode().length).toBeLessThan(1000 * 14);
    expect(byKey.encode().length).toBeGreaterThan(1000 * 45);
  });

  it('writes the same bytes with reused id slots as without, batch after batch', () => {
    const slots = new SeriesIdSlots();
    const batchArb = fc.array(fc.tuple(fc.integer({ min: 0, max: 3000 }), tsArb), { minLength: 1, maxLength: 40 });
    fc.assert(
      fc.property(fc.array(batchArb, { minLength: 1, maxLength: 5 }), (batches) => {
        for (const points of batches) {
          const plain = new WriteBatchBuilder();
          const slotted = new WriteBatchBuilder({}, 1024, null, slots);
          for (const [id, ts] of points) {
            // Even ids exist (given by id), odd ones are new (given by key).
            const key = `m{id=${id}}`;
            const seriesId = id % 2 === 0 ? id : -1;
            plain.addPointOf(plain.seriesIndexOf(key, seriesId), ts, id, true, null);
            slotted.addPointOf(slotted.seriesIndexOf(key, seriesId), ts, id, true, null);
          }
          expect([...slotted.encode()]).toEqual([...plain.encode()]);
        }
      }),
      { numRuns: 100 },
    );
  });
});
