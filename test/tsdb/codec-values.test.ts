import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findDecimalExponent } from '../../src/tsdb/codec/decimal-value-codec.js';
import { integerFlagsMode } from '../../src/tsdb/codec/integer-flags.js';
import {
  VALUE_ENCODING_DECIMAL,
  VALUE_ENCODING_INT64,
  VALUE_ENCODING_XOR,
  VALUE_ENCODING_XOR_INT64,
  decodeValues,
  encodeValues,
} from '../../src/tsdb/codec/value-codec.js';
import { exactValue, type PointColumns } from '../../src/tsdb/points.js';
import { columnsOf, floatArb, floatSeriesArb, intSeriesArb, pointsArb } from './codec-arbitraries.js';

function roundTrip(cols: PointColumns): { encoding: number; bytes: number; decoded: PointColumns } {
  const n = cols.length;
  const { encoding, bytes } = encodeValues(cols.values, cols.isInteger, cols.bigInts, n, integerFlagsMode(cols.isInteger, n) === 1);
  const values = new Float64Array(n);
  const bigInts = decodeValues(encoding, bytes, 0, bytes.length, n, cols.isInteger, values);
  return { encoding, bytes: bytes.length, decoded: { length: n, timestampsMs: cols.timestampsMs, values, isInteger: cols.isInteger, bigInts } };
}

function expectExact(actual: PointColumns, expected: PointColumns): void {
  for (let i = 0; i < expected.length; i++) {
    const a = exactValue(actual, i);
    const e = exactValue(expected, i);
    if (typeof e === 'number') expect(Object.is(a, e), `point ${i}: ${String(a)} vs ${e}`).toBe(true);
    else expect(a).toBe(e);
  }
}

const floatsCols = (vs: number[]): PointColumns => columnsOf(vs.map((value, i) => ({ ts: i, value })));
const intsCols = (vs: bigint[]): PointColumns => columnsOf(vs.map((value, i) => ({ ts: i, value })));

describe('value codecs', () => {
  it('round-trip float series bit-exactly (-0, subnormals, extremes, decimals, runs)', () => {
    fc.assert(
      fc.property(floatSeriesArb, (vs) => {
        const cols = floatsCols(vs);
        expectExact(roundTrip(cols).decoded, cols);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trip int64 series exactly, up to ±2^63', () => {
    fc.assert(
      fc.property(intSeriesArb, (vs) => {
        const cols = intsCols(vs);
        const { decoded } = roundTrip(cols);
        expectExact(decoded, cols);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trip series mixing floats and integers, keeping each point type', () => {
    fc.assert(
      fc.property(pointsArb, (points) => {
        const cols = columnsOf(points);
        expectExact(roundTrip(cols).decoded, cols);
      }),
      { numRuns: 300 },
    );
  });

  it('choose the decimal encoding for few-decimal values and compress them well', () => {
    let m = 2000;
    const vs = Array.from({ length: 720 }, (_, i) => (m += ((i * 7919) % 61) - 30) / 100);
    const { encoding, bytes, decoded } = roundTrip(floatsCols(vs));
    expect(encoding).toBe(VALUE_ENCODING_DECIMAL);
    expect(Array.from(decoded.values)).toEqual(vs);
    // Deltas uniform over 61 values: log2(61) ≈ 5.9 bits.
    expect((bytes * 8) / vs.length).toBeLessThan(6.6);
  });

  it('store a long run of one value in a few bytes', () => {
    expect(roundTrip(floatsCols(Array<number>(5000).fill(29.6))).bytes).toBeLessThan(8);
    expect(roundTrip(intsCols(Array<bigint>(5000).fill(7516192768n))).bytes).toBeLessThan(12);
  });

  it('fall back to Gorilla XOR for full-precision floats, -0 and subnormals', () => {
    expect(roundTrip(floatsCols([Math.PI, Math.E, 1 / 3])).encoding).toBe(VALUE_ENCODING_XOR);
    expect(roundTrip(floatsCols([1, -0, 2])).encoding).toBe(VALUE_ENCODING_XOR);
    const tiny = floatsCols([5e-324, -5e-324, 1e-310, 1]);
    expectExact(roundTrip(tiny).decoded, tiny);
  });

  it('use exact int64 encodings beyond ±2^53, with or without floats in the block', () => {
    const big = intsCols([2n ** 63n - 1n, 2n ** 63n - 2n, -(2n ** 63n)]);
    const r = roundTrip(big);
    expect(r.encoding).toBe(VALUE_ENCODING_INT64);
    expect(r.decoded.bigInts).not.toBeNull();
    expectExact(r.decoded, big);
    const mixed = columnsOf([
      { ts: 0, value: 2n ** 62n + 1n },
      { ts: 1, value: 0.5 },
    ]);
    const m = roundTrip(mixed);
    expect(m.encoding).toBe(VALUE_ENCODING_XOR_INT64);
    expectExact(m.decoded, mixed);
  });

  it('find the smallest decimal exponent, or none', () => {
    expect(findDecimalExponent(Float64Array.of(1, 2, 3), 3)).toBe(0);
    expect(findDecimalExponent(Float64Array.of(36.45, 12.6, 7), 3)).toBe(2);
    expect(findDecimalExponent(Float64Array.of(0.1, 0.25, 0.125), 3)).toBe(3);
    expect(findDecimalExponent(Float64Array.of(-0), 1)).toBe(-1);
    expect(findDecimalExponent(Float64Array.of(1.7719999999999998, 1.772, 1.8), 3)).toBe(3);
    expect(findDecimalExponent(Float64Array.of(0.1 + 0.2), 1)).toBe(1);
    expect(findDecimalExponent(Float64Array.of(1.5, Math.PI), 2)).toBe(1);
    expect(findDecimalExponent(Float64Array.of(1e300), 1)).toBe(-1);
    // 1 + 2^-52 is one ulp from 1: close enough to count as 0 decimals (it is
    // stored as 1 plus a correction), never as needing more digits.
    expect(findDecimalExponent(Float64Array.of(1 + 2 ** -52), 1)).toBe(0);
    fc.assert(
      fc.property(floatArb, (v) => {
        const e = findDecimalExponent(Float64Array.of(v), 1);
        // The contract: e decimals give v exactly or within 8 ulps (the codec
        // stores the difference as a correction).
        if (e > 0) expect(ulpsBetween(v, Math.round(v * 10 ** e) / 10 ** e)).toBeLessThanOrEqual(8n);
      }),
    );
  });
});

/** How many float64s lie between a and b (same sign assumed; both finite). */
function ulpsBetween(a: number, b: number): bigint {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, a);
  const bitsA = view.getBigInt64(0);
  view.setFloat64(0, b);
  const bitsB = view.getBigInt64(0);
  const d = bitsA - bitsB;
  return d < 0n ? -d : d;
}
