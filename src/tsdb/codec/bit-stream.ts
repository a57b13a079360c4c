// Bit streams for the bit-packed encodings (Gorilla XOR, int64 deltas): bits
// fill bytes most significant first and the last byte is padded with zeros.
// At most 32 bits move per call; 64-bit patterns go as two halves.
import { assert } from '../../errors.js';
import { ByteWriter } from './byte-buffer.js';
import { corruptSegment } from './corrupt.js';

export class BitWriter {
  private readonly out: ByteWriter;
  /** Pending bits not yet forming a whole byte (fewer than 8). */
  private acc = 0;
  private accBits = 0;

  constructor(initialCapacityBytes = 256) {
    this.out = new ByteWriter(initialCapacityBytes);
  }

  /** Writes the low `bitCount` bits of `value` (0 ≤ bitCount ≤ 32). */
  writeBits(value: number, bitCount: number): void {
    assert(bitCount >= 0 && bitCount <= 32, 'bit count out of range');
    let n = bitCount;
    while (n > 0) {
      const take = Math.min(n, 8 - this.accBits);
      const shift = n - take;
      const bits = (value >>> shift) & ((1 << take) - 1);
      this.acc = (this.acc << take) | bits;
      this.accBits += take;
      n -= take;
      if (this.accBits === 8) {
        this.out.u8(this.acc);
        this.acc = 0;
        this.accBits = 0;
      }
    }
  }

  writeBit(bit: number): void {
    this.acc = (this.acc << 1) | bit;
    if (++this.accBits === 8) {
      this.out.u8(this.acc);
      this.acc = 0;
      this.accBits = 0;
    }
  }

  /** Writes a 64-bit pattern given as high and low unsigned 32-bit halves. */
  write64(hi: number, lo: number): void {
    this.writeBits(hi, 32);
    this.writeBits(lo, 32);
  }

  /** Pads the last byte with zero bits and returns the bytes. */
  finish(): Uint8Array {
    if (this.accBits > 0) {
      this.out.u8(this.acc << (8 - this.accBits));
      this.acc = 0;
      this.accBits = 0;
    }
    return this.out.finish();
  }
}

export class BitReader {
  private bytePos: number;
  /** Bits of the current byte already consumed (0–7). */
  private bitPos = 0;

  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    private readonly end = buf.length,
  ) {
    assert(start >= 0 && start <= end && end <= buf.length, 'bit reader bounds');
    this.bytePos = start;
  }

  private overrun(): never {
    throw corruptSegment('bit stream runs past the end of its payload', { offset: this.bytePos });
  }

  readBit(): number {
    if (this.bytePos >= this.end) this.overrun();
    const bit = (this.buf[this.bytePos]! >>> (7 - this.bitPos)) & 1;
    if (++this.bitPos === 8) {
      this.bitPos = 0;
      this.bytePos++;
    }
    return bit;
  }

  /** Reads `bitCount` bits (0–32) as an unsigned number. */
  readBits(bitCount: number): number {
    let n = bitCount;
    let result = 0;
    while (n > 0) {
      if (this.bytePos >= this.end) this.overrun();
      const avail = 8 - this.bitPos;
      const take = Math.min(n, avail);
      const bits = (this.buf[this.bytePos]! >>> (avail - take)) & ((1 << take) - 1);
      // Multiply rather than shift so 32-bit results stay unsigned.
      result = result * (1 << take) + bits;
      this.bitPos += take;
      n -= take;
      if (this.bitPos === 8) {
        this.bitPos = 0;
        this.bytePos++;
      }
    }
    return result;
  }

  /** True when only zero padding bits remain in the payload. */
  atPaddedEnd(): boolean {
    if (this.bytePos >= this.end) return true;
    if (this.bytePos + 1 < this.end) return false;
    const rest = this.buf[this.bytePos]! & ((1 << (8 - this.bitPos)) - 1);
    return rest === 0;
  }
}
