import { describe, expect, it } from 'vitest';
import { TsraftError } from '../../src/errors.js';
import {
  checkName,
  parseSeriesKey,
  parseTimestampMs,
  parseValue,
  seriesKeyOf,
  validatePoint,
  validatePoints,
  type RawPoint,
} from '../../src/tsdb/validate.js';
import { WriteBatchBuilder, decodeWriteBatch } from '../../src/tsdb/write-batch.js';

const good: RawPoint = { metric: 'sys.cpu.user', timestamp: 1356998400, value: '42', tags: { host: 'web01', dc: 'lga' } };

function reasonOf(raw: RawPoint): { field: string; reason: string } {
  const check = validatePoint(raw);
  if (check.ok) throw new Error('expected the point to be refused');
  expect(check.error.code).toBe('TSR_ERR_INVALID_POINT');
  return { field: check.error.details.field, reason: check.error.details.reason };
}

describe('names (metric, tag keys, tag values)', () => {
  it('accepts OpenTSDB characters and Unicode letters', () => {
    expect(checkName('sys.cpu-0_user/x')).toBeNull();
    expect(checkName('température')).toBeNull();
    expect(checkName('東京')).toBeNull();
  });

  it('refuses spaces, punctuation and symbols with illegal_character', () => {
    for (const name of ['a b', 'a:b', 'a=b', 'a,b', 'a{b', 'a*b', 'a€b', 'a\u0000b']) {
      expect(checkName(name)?.reason, name).toBe('illegal_character');
    }
  });

  it('refuses letters outside the BMP, as Java tests each UTF-16 unit', () => {
    expect(checkName('x\u{1D400}')?.reason).toBe('illegal_character');
  });

  it('refuses empty, missing, non-string and overlong names', () => {
    expect(checkName('')?.reason).toBe('empty');
    expect(checkName(undefined)?.reason).toBe('missing');
    expect(checkName(12)?.reason).toBe('wrong_type');
    expect(checkName('a'.repeat(257))?.reason).toBe('too_long');
    expect(checkName('a'.repeat(256))).toBeNull();
  });
});

describe('timestamps', () => {
  it('reads values up to 2^32 - 1 as seconds', () => {
    expect(parseTimestampMs(1356998400)).toEqual({ ms: 1356998400000 });
    expect(parseTimestampMs(1)).toEqual({ ms: 1000 });
    expect(parseTimestampMs(4294967295)).toEqual({ ms: 4294967295000 });
  });

  it('reads 13-digit values as milliseconds', () => {
    expect(parseTimestampMs(1356998400123)).toEqual({ ms: 1356998400123 });
    expect(parseTimestampMs('1000000000000')).toEqual({ ms: 1000000000000 });
    expect(parseTimestampMs(9999999999999)).toEqual({ ms: 9999999999999 });
  });

  it('refuses values between 2^32 and 10^12 and beyond 13 digits as out_of_range', () => {
    expect(parseTimestampMs(4294967296)).toMatchObject({ reason: 'out_of_range' });
    expect(parseTimestampMs(999999999999)).toMatchObject({ reason: 'out_of_range' });
    expect(parseTimestampMs(10000000000000)).toMatchObject({ reason: 'out_of_range' });
    expect(parseTimestampMs('99999999999999999999')).toMatchObject({ reason: 'out_of_range' });
  });

  it('removes the dot of a telnet timestamp, as OpenTSDB does', () => {
    expect(parseTimestampMs('1356998400.123')).toEqual({ ms: 1356998400123 });
  });

  it('refuses zero, negative and fractional timestamps', () => {
    expect(parseTimestampMs(0)).toMatchObject({ reason: 'not_positive' });
    expect(parseTimestampMs(-5)).toMatchObject({ reason: 'not_positive' });
    expect(parseTimestampMs('-5')).toMatchObject({ reason: 'not_positive' });
    expect(parseTimestampMs(1356998400.5)).toMatchObject({ reason: 'not_an_integer' });
    expect(parseTimestampMs('12x')).toMatchObject({ reason: 'not_an_integer' });
    expect(parseTimestampMs(undefined)).toMatchObject({ reason: 'missing' });
    expect(parseTimestampMs(true)).toMatchObject({ reason: 'wrong_type' });
  });
});

describe('values', () => {
  it('reads integer text as int64 and decimal or exponent text as float64', () => {
    expect(parseValue('42')).toEqual({ value: 42, isInteger: true, bigInt: null });
    expect(parseValue('-7')).toEqual({ value: -7, isInteger: true, bigInt: null });
    expect(parseValue('4.2')).toEqual({ value: 4.2, isInteger: false, bigInt: null });
    expect(parseValue('1e3')).toEqual({ value: 1000, isInteger: false, bigInt: null });
    expect(parseValue('4.0')).toEqual({ value: 4, isInteger: false, bigInt: null });
  });

  it('reads integral JSON numbers within int64 as int64 and others as float64', () => {
    expect(parseValue(42)).toEqual({ value: 42, isInteger: true, bigInt: null });
    expect(parseValue(0.5)).toEqual({ value: 0.5, isInteger: false, bigInt: null });
    expect(parseValue(2 ** 63)).toEqual({ value: 2 ** 63, isInteger: false, bigInt: null });
  });

  it('keeps integers near 2^63 exact', () => {
    expect(parseValue('9223372036854775807')).toEqual({ value: 2 ** 63, isInteger: true, bigInt: 9223372036854775807n });
    expect(parseValue('-9223372036854775808')).toEqual({ value: -(2 ** 63), isInteger: true, bigInt: -9223372036854775808n });
    expect(parseValue(9223372036854775806n)).toMatchObject({ isInteger: true, bigInt: 9223372036854775806n });
  });

  it('refuses integers beyond int64 as out_of_range', () => {
    expect(parseValue('9223372036854775808')).toMatchObject({ reason: 'out_of_range' });
    expect(parseValue(2n ** 63n)).toMatchObject({ reason: 'out_of_range' });
  });

  it('refuses NaN and infinities as not_finite', () => {
    expect(parseValue(NaN)).toMatchObject({ reason: 'not_finite' });
    expect(parseValue(Infinity)).toMatchObject({ reason: 'not_finite' });
    expect(parseValue('NaN')).toMatchObject({ reason: 'not_finite' });
    expect(parseValue('-Infinity')).toMatchObject({ reason: 'not_finite' });
    expect(parseValue('1e999')).toMatchObject({ reason: 'not_finite' });
  });

  it('refuses text that is not a number', () => {
    expect(parseValue('abc')).toMatchObject({ reason: 'not_a_number' });
    expect(parseValue('1.2.3')).toMatchObject({ reason: 'not_a_number' });
    expect(parseValue(' 42')).toMatchObject({ reason: 'not_a_number' });
    expect(parseValue('')).toMatchObject({ reason: 'empty' });
    expect(parseValue(null)).toMatchObject({ reason: 'missing' });
    expect(parseValue({})).toMatchObject({ reason: 'wrong_type' });
  });
});

describe('points', () => {
  it('accepts a good point and gives its canonical series key', () => {
    const check = validatePoint(good);
    expect(check.ok).toBe(true);
    if (check.ok) {
      expect(check.point.seriesKey).toBe('sys.cpu.user{dc=lga,host=web01}');
      expect(check.point.timestampMs).toBe(1356998400000);
    }
  });

  it('names the field and reason of each broken rule', () => {
    expect(reasonOf({ ...good, metric: '' })).toEqual({ field: 'metric', reason: 'empty' });
    expect(reasonOf({ ...good, metric: 'cpu load' })).toEqual({ field: 'metric', reason: 'illegal_character' });
    expect(reasonOf({ ...good, timestamp: 0 })).toEqual({ field: 'timestamp', reason: 'not_positive' });
    expect(reasonOf({ ...good, value: 'NaN' })).toEqual({ field: 'value', reason: 'not_finite' });
    expect(reasonOf({ ...good, tags: {} })).toEqual({ field: 'tags', reason: 'no_tags' });
    expect(reasonOf({ ...good, tags: undefined })).toEqual({ field: 'tags', reason: 'missing' });
    expect(reasonOf({ ...good, tags: ['host=a'] })).toEqual({ field: 'tags', reason: 'wrong_type' });
    const nine = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, 'v']));
    expect(reasonOf({ ...good, tags: nine })).toEqual({ field: 'tags', reason: 'too_many_tags' });
    expect(reasonOf({ ...good, tags: { host: 'a b' } })).toEqual({ field: 'tags', reason: 'illegal_character' });
    expect(reasonOf({ ...good, tags: { 'ho st': 'a' } })).toEqual({ field: 'tags', reason: 'illegal_character' });
    expect(reasonOf({ ...good, tags: { host: 5 } })).toEqual({ field: 'tags', reason: 'wrong_type' });
  });

  it('accepts exactly eight tags', () => {
    const eight = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`k${i}`, 'v']));
    expect(validatePoint({ ...good, tags: eight }).ok).toBe(true);
  });

  it('names the offending tag key', () => {
    const check = validatePoint({ ...good, tags: { host: 'ok', rack: '' } });
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.error.details).toEqual({ field: 'tags', reason: 'empty', tagKey: 'rack' });
  });

  it('keeps a tag named __proto__ as an ordinary tag', () => {
    const tags = JSON.parse('{"__proto__":"x","host":"a"}') as Record<string, string>;
    const check = validatePoint({ ...good, tags });
    expect(check.ok).toBe(true);
    if (check.ok) expect(check.point.seriesKey).toBe('sys.cpu.user{__proto__=x,host=a}');
    expect(parseSeriesKey('m{__proto__=x,host=a}')?.tags).toEqual(tags);
  });
});

describe('series keys', () => {
  it('sorts tags by key and round-trips through parseSeriesKey', () => {
    const key = seriesKeyOf('m', { b: '2', a: '1' });
    expect(key).toBe('m{a=1,b=2}');
    expect(parseSeriesKey(key)).toEqual({ metric: 'm', tags: { a: '1', b: '2' } });
  });

  it('refuses keys that are not canonical', () => {
    for (const key of ['m', 'm{}', '{a=1}', 'm{b=2,a=1}', 'm{a=1,a=2}', 'm{a}', 'm{a=1', 'm x{a=1}', 'm{a=}']) {
      expect(parseSeriesKey(key), key).toBeNull();
    }
  });
});

describe('validating a request', () => {
  it('stores the good points and gives each bad point its own reason', () => {
    const builder = new WriteBatchBuilder();
    const raws: RawPoint[] = [
      good,
      { ...good, metric: 'bad metric' },
      { ...good, timestamp: 1356998460 },
      { ...good, value: 'Infinity' },
      { ...good, tags: {} },
      { ...good, timestamp: 1356998520, value: '4.5' },
    ];
    const { errors, requestIndexes } = validatePoints(raws, builder);
    expect(errors.map((e) => [e.index, e.details.field, e.details.reason])).toEqual([
      [1, 'metric', 'illegal_character'],
      [3, 'value', 'not_finite'],
      [4, 'tags', 'no_tags'],
    ]);
    expect([...requestIndexes]).toEqual([0, 2, 5]);
    const batch = decodeWriteBatch(builder.encode());
    expect(batch.columns.length).toBe(3);
    expect([...batch.columns.values]).toEqual([42, 42, 4.5]);
  });

  it('refuses a request over the point bound before adding anything', () => {
    const builder = new WriteBatchBuilder({ maxPoints: 2 });
    let error: unknown;
    try {
      validatePoints([good, good, good], builder);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TsraftError);
    expect((error as TsraftError).code).toBe('TSR_ERR_BATCH_TOO_LARGE');
    expect(builder.pointCount).toBe(0);
  });
});

describe('integers just beyond 2^53', () => {
  it('keeps 2^53 + 1 exact (its float64 rounds down to 2^53)', () => {
    const parsed = parseValue('9007199254740993');
    expect(parsed).toMatchObject({ isInteger: true, bigInt: 9007199254740993n });
    const negative = parseValue('-9007199254740993');
    expect(negative).toMatchObject({ isInteger: true, bigInt: -9007199254740993n });
    expect(parseValue('9007199254740992')).toMatchObject({ isInteger: true, bigInt: null, value: 2 ** 53 });
  });
});
