import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteReader, ByteWriter } from '../../src/tsdb/codec/byte-buffer.js';
import { MAX_SEQUENCE_MAGNITUDE, decodeIntSequence, encodeIntSequence } from '../../src/tsdb/codec/int-sequence.js';

function roundTrip(xs: number[], trySlope: boolean): { decoded: number[]; bytes: number } {
  const w = new ByteWriter();
  encodeIntSequence(Float64Array.from(xs), xs.length, w, trySlope);
  const bytes = w.finish();
  const out = new Float64Array(xs.length);
  decodeIntSequence(new ByteReader(bytes), xs.length, out);
  return { decoded: Array.from(out), bytes: bytes.length };
}

const M = MAX_SEQUENCE_MAGNITUDE;

describe('integer sequence coder', () => {
  it('round-trips any integers within ±2^49, with and without the slope transform', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: -M, max: M }), fc.integer({ min: -100, max: 100 }), fc.constantFrom(-M, M, 0)), { minLength: 1, maxLength: 300 }),
        fc.boolean(),
        (xs, trySlope) => {
          expect(roundTrip(xs, trySlope).decoded).toEqual(xs.map((x) => x + 0));
        },
      ),
    );
  });

  it('round-trips random walks, counters and grids with noise', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), fc.integer({ min: -5000, max: 5000 }), fc.array(fc.integer({ min: -70, max: 70 }), { minLength: 1, maxLength: 400 }), (start, step, noise) => {
        const xs = noise.map((e, i) => start + i * step + e);
        expect(roundTrip(xs, true).decoded).toEqual(xs);
        let walk = start;
        const ys = noise.map((e) => (walk += e));
        expect(roundTrip(ys, false).decoded).toEqual(ys);
      }),
    );
  });

  it('stores a constant or perfectly regular sequence in a few bytes whatever its length', () => {
    const regular = Array.from({ length: 5000 }, (_, i) => 1_700_000_000_000 + i * 10_000);
    expect(roundTrip(regular, true).bytes).toBeLessThan(16);
    const constant = Array<number>(5000).fill(-42);
    expect(roundTrip(constant, false).bytes).toBeLessThan(8);
  });

  it('factors out a common divisor (second-resolution timestamps cost like seconds)', () => {
    const seconds = Array.from({ length: 1000 }, (_, i) => (i * 60 + ((i * 7919) % 13)) * 1000);
    const plain = Array.from({ length: 1000 }, (_, i) => i * 60 + ((i * 7919) % 13));
    const a = roundTrip(seconds, true);
    const b = roundTrip(plain, true);
    expect(a.decoded).toEqual(seconds);
    expect(Math.abs(a.bytes - b.bytes)).toBeLessThanOrEqual(3);
  });

  it('spends about the entropy of jitter on a jittered grid', () => {
    // Jitter uniform over 101 values: entropy log2(101) ≈ 6.66 bits.
    const xs = Array.from({ length: 720 }, (_, i) => i * 10_000 + ((i * 48271) % 101));
    const { bytes, decoded } = roundTrip(xs, true);
    expect(decoded).toEqual(xs);
    expect((bytes * 8) / xs.length).toBeLessThan(7.5);
  });

  it('rejects a corrupt shape byte', () => {
    const w = new ByteWriter();
    encodeIntSequence(Float64Array.of(1, 2, 3), 3, w, false);
    const bytes = w.finish();
    bytes[0] = 0xf3;
    expect(() => decodeIntSequence(new ByteReader(bytes), 3, new Float64Array(3))).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_SEGMENT' }));
  });
});
