// Byte-level reading and writing for the state machine's formats (log entry
// commands, write batches, snapshots): LEB128 varints, zigzag signed varints,
// little-endian fixed-width numbers, length-prefixed UTF-8, CRC32C (from the
// codec room) and FNV-1a 64.
//
// Numbers stay numbers on the hot path: varints are decoded with float
// arithmetic while they fit in 2^53; only int64 values beyond that go through
// BigInt. Every read is bounds-checked and fails with the typed error code the
// reader was built with, so corrupted bytes never become an exception that
// looks like a bug.
import { AssertionError, TsraftError, assert, type ErrorCode } from '../errors.js';
import { crc32c } from './codec/crc32c.js';

const TWO_POW_32 = 0x1_0000_0000;
/** Largest magnitude written through the float zigzag path: its zigzag image
 *  (≤ 2^53) is still exact in a float64. */
const MAX_NUMBER_ZIGZAG = 2 ** 52;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

// CRC32C (Castagnoli) is shared with the block codecs: one implementation.
export { crc32c };

// ---------------------------------------------------------------------------
// 64-bit FNV-1a, for state digests. Kept as two 32-bit halves.

/** FNV-1a 64 of `bytes`, as 16 lowercase hex digits. */
export function fnv1a64Hex(bytes: Uint8Array): string {
  return new Fnv1a64().update(bytes).hex();
}

/** FNV-1a 64 over a stream of chunks: update(a).update(b).hex() equals
 *  fnv1a64Hex(a ++ b). For digests of bytes never held in one buffer. */
export class Fnv1a64 {
  // offset basis 0xcbf29ce484222325, prime 2^40 + 0x1b3.
  private hi = 0xcbf29ce4;
  private lo = 0x84222325;
  private byteCount = 0;

  /** Bytes hashed so far. */
  get bytes(): number {
    return this.byteCount;
  }

  update(bytes: Uint8Array, start = 0, end = bytes.length): this {
    assert(start >= 0 && start <= end && end <= bytes.length, 'Fnv1a64.update: range outside the bytes');
    let hi = this.hi;
    let lo = this.lo;
    for (let i = start; i < end; i++) {
      lo ^= bytes[i]!;
      // (hi:lo) * 0x1b3 + ((hi:lo) << 40), modulo 2^64.
      const loProduct = (lo >>> 0) * 0x1b3;
      const carry = Math.floor(loProduct / TWO_POW_32);
      hi = (Math.imul(hi, 0x1b3) + carry + (lo << 8)) >>> 0;
      lo = loProduct >>> 0;
    }
    this.hi = hi;
    this.lo = lo;
    this.byteCount += end - start;
    return this;
  }

  hex(): string {
    return this.hi.toString(16).padStart(8, '0') + (this.lo >>> 0).toString(16).padStart(8, '0');
  }
}

// ---------------------------------------------------------------------------

/** Appends to a growable buffer. Callers bound what they write (batch and
 *  entry limits); snapshots grow with the state they serialise. */
export class ByteWriter {
  private buffer: Uint8Array;
  private view: DataView;
  private length = 0;

  constructor(initialCapacityBytes = 256) {
    assert(initialCapacityBytes > 0, 'ByteWriter needs a positive capacity');
    this.buffer = new Uint8Array(initialCapacityBytes);
    this.view = new DataView(this.buffer.buffer);
  }

  get lengthBytes(): number {
    return this.length;
  }

  private reserve(extraBytes: number): void {
    const needed = this.length + extraBytes;
    if (needed <= this.buffer.length) return;
    let capacity = this.buffer.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
    this.view = new DataView(grown.buffer);
  }

  u8(value: number): void {
    if (!(Number.isInteger(value) && value >= 0 && value <= 0xff)) throw new AssertionError(`u8 out of range: ${value}`);
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  u32le(value: number): void {
    if (!(Number.isInteger(value) && value >= 0 && value < TWO_POW_32)) throw new AssertionError(`u32 out of range: ${value}`);
    this.reserve(4);
    this.view.setUint32(this.length, value, true);
    this.length += 4;
  }

  f64le(value: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  /** Unsigned LEB128 of a safe non-negative integer. */
  varuint(value: number): void {
    if (!(Number.isSafeInteger(value) && value >= 0)) throw new AssertionError(`varuint out of range: ${value}`);
    this.reserve(8);
    let v = value;
    while (v >= 0x80) {
      this.buffer[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buffer[this.length++] = v;
  }

  /** Zigzag LEB128 of an integer with |value| ≤ 2^52. */
  varint(value: number): void {
    if (!(Number.isInteger(value) && Math.abs(value) <= MAX_NUMBER_ZIGZAG)) throw new AssertionError(`varint out of range: ${value}`);
    this.varuint(value >= 0 ? value * 2 : -value * 2 - 1);
  }

  /** Zigzag LEB128 of any int64. */
  varint64(value: bigint): void {
    assert(value >= INT64_MIN && value <= INT64_MAX, `int64 out of range: ${value}`);
    let z = value >= 0n ? value << 1n : (-value << 1n) - 1n;
    this.reserve(10);
    while (z >= 0x80n) {
      this.buffer[this.length++] = Number(z & 0x7fn) | 0x80;
      z >>= 7n;
    }
    this.buffer[this.length++] = Number(z);
  }

  /** An int64 given as number (exact when |v| ≤ 2^52) or, beyond, as bigint. */
  varintExact(value: number, exact: bigint | null): void {
    if (exact === null) {
      if (Math.abs(value) <= MAX_NUMBER_ZIGZAG) this.varint(value);
      else this.varint64(BigInt(value));
    } else if (exact >= -BigInt(MAX_NUMBER_ZIGZAG) && exact <= BigInt(MAX_NUMBER_ZIGZAG)) {
      this.varint(Number(exact));
    } else {
      this.varint64(exact);
    }
  }

  bytes(value: Uint8Array): void {
    this.reserve(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
  }

  /** varuint byte length, then UTF-8. */
  string(value: string): void {
    // A UTF-16 unit encodes to at most 3 UTF-8 bytes.
    this.reserve(10 + value.length * 3);
    const lengthAt = this.length;
    const { written } = utf8Encoder.encodeInto(value, this.buffer.subarray(lengthAt + 10));
    this.varuint(written);
    this.buffer.copyWithin(this.length, lengthAt + 10, lengthAt + 10 + written);
    this.length += written;
  }

  /** Appends CRC32C of everything written so far (u32 LE). */
  crc32c(): void {
    this.u32le(crc32c(this.buffer, 0, this.length));
  }

  /** Overwrites a u32 LE at an earlier offset. */
  patchU32le(offset: number, value: number): void {
    assert(offset >= 0 && offset + 4 <= this.length, `patch offset ${offset} outside ${this.length} bytes`);
    this.view.setUint32(offset, value >>> 0, true);
  }

  /** A view of the written bytes (no copy; do not write after finishing). */
  finish(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}

/** Reads what ByteWriter wrote. Every failure is a TsraftError with the
 *  reader's `corruptCode` (e.g. TSR_ERR_CORRUPT_ENTRY) naming what was read. */
export class ByteReader {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  offset: number;
  readonly end: number;
  private readonly corruptCode: ErrorCode;
  private readonly what: string;

  constructor(bytes: Uint8Array, corruptCode: ErrorCode, what: string, start = 0, end = bytes.length) {
    if (!(start >= 0 && start <= end && end <= bytes.length)) throw new AssertionError(`ByteReader: bad range [${start}, ${end})`);
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = start;
    this.end = end;
    this.corruptCode = corruptCode;
    this.what = what;
  }

  get remainingBytes(): number {
    return this.end - this.offset;
  }

  /** A typed error for malformed input, naming the field and offset. */
  corrupt(reason: string, details: Record<string, unknown> = {}): TsraftError {
    return new TsraftError(this.corruptCode, `${this.what}: ${reason} at byte ${this.offset}`, {
      details: { offset: this.offset, reason, ...details },
    });
  }

  private need(byteCount: number, field: string): void {
    if (this.end - this.offset < byteCount) throw this.corrupt(`truncated while reading ${field}`, { field });
  }

  u8(field: string): number {
    this.need(1, field);
    return this.bytes[this.offset++]!;
  }

  u32le(field: string): number {
    this.need(4, field);
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  f64le(field: string): number {
    this.need(8, field);
    const value = this.view.getFloat64(this.offset, true);
    this.offset += 8;
    return value;
  }

  varuint(field: string): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.offset >= this.end) throw this.corrupt(`truncated varint ${field}`, { field });
      const byte = this.bytes[this.offset++]!;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) break;
        return result;
      }
      scale *= 0x80;
    }
    throw this.corrupt(`varint ${field} exceeds 2^53`, { field });
  }

  /** A varuint bounded by `max` (inclusive), e.g. a count or a length. */
  varuintAtMost(max: number, field: string): number {
    const value = this.varuint(field);
    if (value > max) throw this.corrupt(`${field} ${value} exceeds ${max}`, { field });
    return value;
  }

  varint(field: string): number {
    const z = this.varuint(field);
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  /** A zigzag int64 of any size, as bigint. */
  varint64(field: string): bigint {
    let z = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.offset >= this.end) throw this.corrupt(`truncated varint ${field}`, { field });
      const byte = this.bytes[this.offset++]!;
      z |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) {
        if (z >= 1n << 64n) break;
        return z & 1n ? -((z + 1n) >> 1n) : z >> 1n;
      }
      shift += 7n;
    }
    throw this.corrupt(`varint ${field} exceeds 64 bits`, { field });
  }

  /** Reads a zigzag int64 written by varintExact: a number when the zigzag
   *  image is ≤ 2^53 (so the value is exact), a bigint beyond. */
  varintExact(field: string): number | bigint {
    const start = this.offset;
    // Fast path: at most 8 bytes means z < 2^56; exact only if ≤ 2^53.
    let z = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.offset >= this.end) throw this.corrupt(`truncated varint ${field}`, { field });
      const byte = this.bytes[this.offset++]!;
      z += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (z <= 2 ** 53) return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
        break;
      }
      scale *= 0x80;
    }
    this.offset = start;
    return this.varint64(field);
  }

  bytesView(length: number, field: string): Uint8Array {
    this.need(length, field);
    const out = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  string(maxBytes: number, field: string): string {
    const length = this.varuintAtMost(maxBytes, `${field} length`);
    const view = this.bytesView(length, field);
    try {
      return utf8Decoder.decode(view);
    } catch (error) {
      // TextDecoder signals bad UTF-8 with a TypeError; here it is bad input, not a bug.
      throw this.corrupt(`${field} is not valid UTF-8`, { field, cause: String(error) });
    }
  }

  /** Checks that bytes[start, offset) match the u32 LE CRC32C that follows. */
  expectCrc32c(start: number, field: string): void {
    const computed = crc32c(this.bytes, start, this.offset);
    const stored = this.u32le(field);
    if (computed !== stored) {
      throw this.corrupt(`${field} mismatch`, { field, stored, computed });
    }
  }

  expectEnd(): void {
    if (this.offset !== this.end) throw this.corrupt(`${this.end - this.offset} unexpected trailing bytes`);
  }
}

export const INT64_BOUNDS = { min: INT64_MIN, max: INT64_MAX } as const;
