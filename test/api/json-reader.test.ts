import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { JsonNumberText, readJson, writeJson } from '../../src/api/json-reader.js';
import { parsePutBody } from '../../src/api/opentsdb-put.js';
import { clientApiLimits } from '../../src/api/limits.js';
import { validatePoint } from '../../src/tsdb/validate.js';

const exact = { numbers: 'exact' as const, maxChars: 1 << 20, maxDepth: 16 };
const literal = { numbers: 'literal' as const, maxChars: 1 << 20, maxDepth: 16 };

describe('readJson', () => {
  it('reads what JSON.parse reads, for any JSON text', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        // Integers beyond ±2^53 come back as exact bigints; rounded they equal JSON.parse's numbers.
        const rounded = JSON.parse(JSON.stringify(readJson(text, exact), (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))) as unknown;
        expect(rounded).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps integers beyond 2^53 exact in exact mode', () => {
    expect(readJson('[9223372036854775807, -9007199254740993, 1.5]', exact)).toEqual([9223372036854775807n, -9007199254740993n, 1.5]);
  });

  it('marks the literals whose JS number would change their OpenTSDB meaning', () => {
    const [a, b, c, d, e, f] = readJson('[42, 42.5, 42.0, 1e3, 9223372036854775807, -0.0]', literal) as unknown[];
    expect([a, b]).toEqual([42, 42.5]);
    for (const v of [c, d, e, f]) expect(v).toBeInstanceOf(JsonNumberText);
    expect((c as JsonNumberText).text).toBe('42.0');
  });

  it('keeps a "__proto__" key as data', () => {
    const value = readJson('{"__proto__": {"polluted": true}, "a": 1}', exact) as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  });

  it('refuses malformed text, trailing characters and deep nesting with an offset', () => {
    for (const text of ['{"a":}', '[1,]', '"\\x"', '[1] 2', '[01]', '-']) {
      expect(() => readJson(text, exact)).toThrow(expect.objectContaining({ code: 'TSR_ERR_INVALID_ARGUMENT' }) as Error);
    }
    expect(() => readJson('['.repeat(40) + ']'.repeat(40), exact)).toThrow(/nesting deeper than 16/);
  });
});

describe('writeJson', () => {
  it('writes bigints as exact integer literals and non-finite numbers as OpenTSDB strings', () => {
    expect(writeJson({ a: 2n ** 63n - 1n, b: [Number.NaN, Number.POSITIVE_INFINITY, 1.5], s: 'x' })).toBe('{"a":9223372036854775807,"b":["NaN","Infinity",1.5],"s":"x"}');
  });

  it('does not turn a client string into a number', () => {
    expect(JSON.parse(writeJson({ s: '\u0000tsraft-int:5' }))).toEqual({ s: '\u0000tsraft-int:5' });
  });
});

describe('/api/put bodies', () => {
  it('give each value the type OpenTSDB gives it', () => {
    const body = '[' + ['42', '42.5', '42.0', '1e3', '9223372036854775807', '"7"', '"7.0"'].map((v) => `{"metric":"m","timestamp":1700000000,"value":${v},"tags":{"h":"a"}}`).join(',') + ']';
    const points = parsePutBody(body, clientApiLimits());
    const types = points.map((p) => {
      const check = validatePoint(p);
      return check.ok ? (check.point.isInteger ? `int ${check.point.bigInt ?? check.point.value}` : `float ${check.point.value}`) : 'invalid';
    });
    expect(types).toEqual(['int 42', 'float 42.5', 'float 42', 'float 1000', 'int 9223372036854775807', 'int 7', 'float 7']);
  });
});
