import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TsraftError } from '../../src/errors.js';
import { BLOCK_FORMAT_VERSION, decodeBlock, encodeBlock, readBlockHeader } from '../../src/tsdb/codec/block-format.js';
import { crc32c } from '../../src/tsdb/codec/crc32c.js';
import { columnsOf, expectSameColumns, pointsArb } from './codec-arbitraries.js';

const corrupt = expect.objectContaining({ code: 'TSR_ERR_CORRUPT_SEGMENT' });
const invalid = expect.objectContaining({ code: 'TSR_ERR_INVALID_ARGUMENT' });

function withCrc(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const crc = crc32c(out, 0, out.length - 4);
  new DataView(out.buffer).setUint32(out.length - 4, crc, true);
  return out;
}

describe('block format', () => {
  it('round-trips any points bit-exactly, in their order, with duplicates', () => {
    fc.assert(
      fc.property(pointsArb, (points) => {
        const cols = columnsOf(points);
        const bytes = encodeBlock(cols);
        expectSameColumns(decodeBlock(bytes), cols);
        const header = readBlockHeader(bytes);
        expect(header.pointCount).toBe(points.length);
        expect(header.minTimestampMs).toBe(Math.min(...points.map((p) => p.ts)));
        expect(header.maxTimestampMs).toBe(Math.max(...points.map((p) => p.ts)));
      }),
      { numRuns: 300 },
    );
  });

  it('encodes the same points to the same bytes every time', () => {
    fc.assert(
      fc.property(pointsArb, (points) => {
        const a = encodeBlock(columnsOf(points));
        const b = encodeBlock(columnsOf(points));
        expect(a).toEqual(b);
        expect(encodeBlock(decodeBlock(a))).toEqual(a);
      }),
    );
  });

  it('encodes a sub-range of columns like a copy of it', () => {
    const cols = columnsOf(Array.from({ length: 50 }, (_, i) => ({ ts: 1000 * i, value: i % 3 === 0 ? BigInt(i) : i / 4 })));
    const part = columnsOf(Array.from({ length: 20 }, (_, k) => ({ ts: 1000 * (k + 10), value: (k + 10) % 3 === 0 ? BigInt(k + 10) : (k + 10) / 4 })));
    expect(encodeBlock(cols, 10, 30)).toEqual(encodeBlock(part));
  });

  it('starts with the format version and ends with the CRC-32C of the rest', () => {
    const bytes = encodeBlock(columnsOf([{ ts: 1_700_000_000_000, value: 1.5 }]));
    expect(bytes[0]).toBe(BLOCK_FORMAT_VERSION);
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(bytes.length - 4, true)).toBe(crc32c(bytes, 0, bytes.length - 4));
  });

  it('detects every bit flip with TSR_ERR_CORRUPT_SEGMENT', () => {
    fc.assert(
      fc.property(pointsArb, fc.array(fc.nat(), { minLength: 1, maxLength: 3 }), (points, flips) => {
        const bytes = encodeBlock(columnsOf(points));
        const damaged = bytes.slice();
        for (const f of flips) damaged[(f >>> 3) % damaged.length]! ^= 1 << (f & 7);
        if (damaged.every((b, i) => b === bytes[i])) return; // flips cancelled out
        expect(() => decodeBlock(damaged)).toThrow(corrupt);
        expect(() => readBlockHeader(damaged)).toThrow(corrupt);
      }),
      { numRuns: 300 },
    );
  });

  it('detects truncation and an unknown version', () => {
    const bytes = encodeBlock(columnsOf([{ ts: 5, value: 1 }, { ts: 6, value: 2 }]));
    expect(() => decodeBlock(bytes.subarray(0, bytes.length - 1))).toThrow(corrupt);
    expect(() => decodeBlock(bytes.subarray(0, 3))).toThrow(corrupt);
    const v2 = bytes.slice();
    v2[0] = 2;
    expect(() => decodeBlock(withCrc(v2))).toThrow(corrupt);
  });

  it('fails structural damage behind a valid checksum with a typed error, never a crash', () => {
    fc.assert(
      fc.property(pointsArb, fc.array(fc.record({ at: fc.nat(), byte: fc.nat({ max: 255 }) }), { minLength: 1, maxLength: 4 }), (points, edits) => {
        const bytes = encodeBlock(columnsOf(points)).slice();
        for (const { at, byte } of edits) bytes[at % (bytes.length - 4)] = byte;
        try {
          decodeBlock(withCrc(bytes));
        } catch (e) {
          expect(e).toBeInstanceOf(TsraftError);
          expect((e as TsraftError).code).toBe('TSR_ERR_CORRUPT_SEGMENT');
        }
      }),
      { numRuns: 500 },
    );
  });

  it('rejects points it cannot store exactly', () => {
    const one = (ts: number, value: number, isInteger = 0) => ({ length: 1, timestampsMs: Float64Array.of(ts), values: Float64Array.of(value), isInteger: Uint8Array.of(isInteger), bigInts: null });
    expect(() => encodeBlock(one(0, NaN))).toThrow(invalid);
    expect(() => encodeBlock(one(0, Infinity))).toThrow(invalid);
    expect(() => encodeBlock(one(0.5, 1))).toThrow(invalid);
    expect(() => encodeBlock(one(2 ** 49, 1))).toThrow(invalid);
    expect(() => encodeBlock(one(0, 1.5, 1))).toThrow(invalid);
    expect(() => encodeBlock(one(0, 1, 2))).toThrow(invalid);
    expect(() => encodeBlock({ length: 0, timestampsMs: new Float64Array(0), values: new Float64Array(0), isInteger: new Uint8Array(0), bigInts: null })).toThrow(invalid);
  });
});
