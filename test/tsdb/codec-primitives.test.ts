import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BitReader, BitWriter } from '../../src/tsdb/codec/bit-stream.js';
import { ByteReader, ByteWriter, unzigzag, zigzag } from '../../src/tsdb/codec/byte-buffer.js';
import { crc32c, crc32cContinue } from '../../src/tsdb/codec/crc32c.js';
import { AdaptiveUintDecoder, AdaptiveUintEncoder, MAX_BIT_LENGTH, typicalBitLength } from '../../src/tsdb/codec/adaptive-int-coder.js';
import { RangeDecoder, RangeEncoder, newModel } from '../../src/tsdb/codec/range-coder.js';

/** The textbook bit-at-a-time CRC-32C, to check the sliced tables against. */
function referenceCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  it('equals a bit-at-a-time reference on every sub-range, across the 16-byte slices', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
        const end = start + (b % (bytes.length - start + 1));
        expect(crc32c(bytes, start, end)).toBe(referenceCrc32c(bytes.subarray(start, end)));
      }),
    );
  });

  it('matches the published check value and test vectors', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
  });

  it('continues across split input as over the whole', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(200), (bytes, cut) => {
        const at = Math.min(cut, bytes.length);
        expect(crc32cContinue(crc32c(bytes, 0, at), bytes, at)).toBe(crc32c(bytes));
        expect(crc32cContinue(crc32c(bytes.subarray(0, at)), bytes.subarray(at))).toBe(crc32c(bytes));
        expect(crc32cContinue(0, bytes)).toBe(crc32c(bytes));
      }),
    );
  });

  it('checksums a sub-range the same as a copy of it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = bytes.length === 0 ? 0 : a % bytes.length;
        const end = start + (bytes.length === start ? 0 : b % (bytes.length - start + 1));
        expect(crc32c(bytes, start, end)).toBe(crc32c(bytes.slice(start, end)));
      }),
    );
  });
});

describe('byte buffer', () => {
  it('round-trips varints and zigzag varints up to 2^53 and 2^52', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 2 ** 53 }), fc.constantFrom(0, 127, 128, 2 ** 53))), fc.array(fc.integer({ min: -(2 ** 52), max: 2 ** 52 })), (us, ss) => {
        const w = new ByteWriter(4);
        for (const u of us) w.varint(u);
        for (const s of ss) w.svarint(s);
        const r = new ByteReader(w.finish());
        for (const u of us) expect(r.varint('u')).toBe(u);
        for (const s of ss) expect(Object.is(r.svarint('s'), s === 0 ? 0 : s)).toBe(true);
        expect(r.remaining).toBe(0);
      }),
    );
  });

  it('zigzag maps signed integers onto naturals and back', () => {
    expect([0, -1, 1, -2, 2].map(zigzag)).toEqual([0, 1, 2, 3, 4]);
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 52), max: 2 ** 52 }), (v) => {
        expect(unzigzag(zigzag(v))).toBe(v);
      }),
    );
  });

  it('rejects truncated, overlong and non-minimal varints as corrupt', () => {
    expect(() => new ByteReader(Uint8Array.of(0x80)).varint('x')).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_SEGMENT' }));
    expect(() => new ByteReader(new Uint8Array(9).fill(0x80)).varint('x')).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_SEGMENT' }));
    expect(() => new ByteReader(Uint8Array.of(0x81, 0x00)).varint('x')).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_SEGMENT' }));
    expect(() => new ByteReader(Uint8Array.of(1, 2)).u32le('x')).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_SEGMENT' }));
  });
});

describe('bit stream', () => {
  it('round-trips fields of 0 to 32 bits, most significant bit first', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 32 }), fc.nat({ max: 0xffffffff }))), (fields) => {
        const w = new BitWriter(1);
        for (const [bits, v] of fields) w.writeBits(bits === 32 ? v >>> 0 : v % 2 ** bits, bits);
        const bytes = w.finish();
        const r = new BitReader(bytes);
        for (const [bits, v] of fields) expect(r.readBits(bits)).toBe(bits === 32 ? v >>> 0 : v % 2 ** bits);
        expect(r.atPaddedEnd()).toBe(true);
      }),
    );
    const w = new BitWriter();
    w.writeBits(0b101, 3);
    expect(w.finish()).toEqual(Uint8Array.of(0b1010_0000));
  });

  it('reports reading past the end as corrupt', () => {
    const r = new BitReader(Uint8Array.of(0xff));
    r.readBits(8);
    expect(() => r.readBit()).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_SEGMENT' }));
  });
});

describe('range coder', () => {
  it('round-trips adaptive bits and equiprobable fields, including skewed streams that carry', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ ctx: fc.integer({ min: 0, max: 3 }), bit: fc.integer({ min: 0, max: 1 }) }), fc.record({ bits: fc.integer({ min: 1, max: 16 }), v: fc.nat({ max: 0xffff }) })), { maxLength: 500 }),
        (ops) => {
          const enc = new RangeEncoder(1);
          const model = newModel(4);
          for (const op of ops) {
            if ('ctx' in op) enc.encodeBit(model, op.ctx, op.bit);
            else enc.encodeDirect(op.v % 2 ** op.bits, op.bits);
          }
          const bytes = enc.finish();
          const dec = new RangeDecoder(bytes, 0, bytes.length);
          const model2 = newModel(4);
          for (const op of ops) {
            if ('ctx' in op) expect(dec.decodeBit(model2, op.ctx)).toBe(op.bit);
            else expect(dec.decodeDirect(op.bits)).toBe(op.v % 2 ** op.bits);
          }
          dec.checkEnd('test');
        },
      ),
    );
  });

  it('codes a long run of a predictable bit in a few bytes', () => {
    const enc = new RangeEncoder();
    const model = newModel(1);
    for (let i = 0; i < 10_000; i++) enc.encodeBit(model, 0, i % 1000 === 999 ? 1 : 0);
    expect(enc.finish().length).toBeLessThan(40);
  });

  it('round-trips all-ones streams that carry through runs of 0xFF', () => {
    for (const bit of [0, 1]) {
      const enc = new RangeEncoder();
      const model = newModel(1);
      for (let i = 0; i < 5000; i++) enc.encodeBit(model, 0, bit);
      enc.encodeDirect(0xffff, 16);
      const bytes = enc.finish();
      const dec = new RangeDecoder(bytes, 0, bytes.length);
      const model2 = newModel(1);
      for (let i = 0; i < 5000; i++) expect(dec.decodeBit(model2, 0)).toBe(bit);
      expect(dec.decodeDirect(16)).toBe(0xffff);
    }
  });

  it('adaptive integer coder round-trips integers up to 2^53 whatever the declared typical length', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 0, max: 2 ** 53 }), fc.nat({ max: 100 }), fc.constantFrom(0, 1, 2, 3, 2 ** 32, 2 ** 53, 2 ** 52 + 1))),
        fc.oneof(fc.integer({ min: 0, max: MAX_BIT_LENGTH }), fc.constantFrom(0, 1, MAX_BIT_LENGTH)),
        (us, typical) => {
          const enc = new RangeEncoder();
          const coder = new AdaptiveUintEncoder(enc, typical);
          for (const u of us) coder.encode(u);
          const bytes = enc.finish();
          const decoder = new AdaptiveUintDecoder(new RangeDecoder(bytes, 0, bytes.length), typical);
          for (const u of us) expect(decoder.decode()).toBe(u);
        },
      ),
    );
  });

  it('takes the median bit length as the typical length', () => {
    expect(typicalBitLength(Float64Array.of(0, 0, 1000), 3)).toBe(0);
    expect(typicalBitLength(Float64Array.of(5, 6, 7, 100, 1), 5)).toBe(3);
    expect(typicalBitLength(Float64Array.of(2 ** 53), 1)).toBe(54);
  });
});
