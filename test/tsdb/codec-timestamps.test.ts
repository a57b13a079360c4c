import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteReader, ByteWriter } from '../../src/tsdb/codec/byte-buffer.js';
import { decodeTimestamps, encodeTimestamps } from '../../src/tsdb/codec/timestamp-codec.js';
import { timestampsArb } from './codec-arbitraries.js';

function roundTrip(ts: number[]): { decoded: number[]; bytes: number } {
  const base = Math.min(...ts);
  const w = new ByteWriter();
  const encoding = encodeTimestamps(Float64Array.from(ts), ts.length, base, w);
  const bytes = w.finish();
  const out = new Float64Array(ts.length);
  decodeTimestamps(encoding, new ByteReader(bytes), ts.length, base, out);
  return { decoded: Array.from(out), bytes: bytes.length };
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

  it('takes the fast path for perfectly regular millisecond and second intervals', () => {
    const ms = Array.from({ length: 720 }, (_, i) => 1_700_000_000_123 + i * 10_007);
    expect(roundTrip(ms).bytes).toBeLessThanOrEqual(8);
    const s = Array.from({ length: 720 }, (_, i) => 1_700_000_000_000 + i * 60_000);
    expect(roundTrip(s).bytes).toBeLessThanOrEqual(8);
  });

  it('costs about the jitter entropy for millisecond jitter on a 10 s grid', () => {
    const ts = Array.from({ length: 720 }, (_, i) => 1_700_000_000_000 + i * 10_000 + 450 + ((i * 7919) % 101));
    const { bytes, decoded } = roundTrip(ts);
    expect(decoded).toEqual(ts);
    expect((bytes * 8) / ts.length).toBeLessThan(7.5);
  });
});
