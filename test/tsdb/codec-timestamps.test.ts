import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteReader, ByteWriter } from '../../src/tsdb/codec/byte-buffer.js';
import { TIMESTAMP_ENCODING_REGULAR, decodeTimestamps, encodeTimestamps, regularTimestamps } from '../../src/tsdb/codec/timestamp-codec.js';
import { timestampsArb } from './codec-arbitraries.js';

function roundTrip(ts: number[]): { decoded: number[]; bytes: number; encoding: number } {
  const base = Math.min(...ts);
  const w = new ByteWriter();
  const encoding = encodeTimestamps(Float64Array.from(ts), ts.length, base, w);
  const bytes = w.finish();
  const out = new Float64Array(ts.length);
  if (encoding === TIMESTAMP_ENCODING_REGULAR) regularTimestamps(ts.length, base, Math.max(...ts), out);
  else decodeTimestamps(encoding, new ByteReader(bytes), ts.length, base, out);
  return { decoded: Array.from(out), bytes: bytes.length, encoding };
}

describe('timestamp codec', () => {
  it('round-trips timestamps exactly: regular, jittered, seconds, out of order, duplicated, extreme', () => {
    fc.assert(
      fc.property(timestampsArb, (ts) => {
        expect(roundTrip(ts).decoded).toEqual(ts);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips shuffled copies with duplicates', () => {
    fc.assert(
      fc.property(timestampsArb, fc.array(fc.nat(), { maxLength: 50 }), (ts, picks) => {
        const mixed = [...ts];
        for (const p of picks) mixed.splice(p % (mixed.length + 1), 0, ts[p % ts.length]!);
        expect(roundTrip(mixed).decoded).toEqual(mixed);
      }),
    );
  });

  it('takes the fast path for perfectly regular millisecond and second intervals: no payload at all', () => {
    const ms = Array.from({ length: 720 }, (_, i) => 1_700_000_000_123 + i * 10_007);
    expect(roundTrip(ms)).toMatchObject({ encoding: TIMESTAMP_ENCODING_REGULAR, bytes: 0, decoded: ms });
    const s = Array.from({ length: 720 }, (_, i) => 1_700_000_000_000 + i * 60_000);
    expect(roundTrip(s)).toMatchObject({ encoding: TIMESTAMP_ENCODING_REGULAR, bytes: 0, decoded: s });
    expect(roundTrip([5])).toMatchObject({ encoding: TIMESTAMP_ENCODING_REGULAR, decoded: [5] });
  });

  it('keeps regular-looking but unordered or repeated timestamps in the general encoding', () => {
    for (const ts of [[0, 20, 10], [0, 0], [30, 20, 10], [0, 10, 20, 20]]) {
      const r = roundTrip(ts);
      expect(r.encoding).not.toBe(TIMESTAMP_ENCODING_REGULAR);
      expect(r.decoded).toEqual(ts);
    }
  });

  it('keeps a regular grid with a gap in a few bytes', () => {
    const ts = Array.from({ length: 720 }, (_, i) => 1_700_000_000_000 + (i < 300 ? i : i + 5) * 10_000);
    const r = roundTrip(ts);
    expect(r.decoded).toEqual(ts);
    expect(r.bytes).toBeLessThan(24);
  });

  it('costs about the jitter entropy for millisecond jitter on a 10 s grid', () => {
    const ts = Array.from({ length: 720 }, (_, i) => 1_700_000_000_000 + i * 10_000 + 450 + ((i * 7919) % 101));
    const { bytes, decoded } = roundTrip(ts);
    expect(decoded).toEqual(ts);
    expect((bytes * 8) / ts.length).toBeLessThan(7.5);
  });
});
