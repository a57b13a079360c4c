// Growable byte writer and bounds-checked byte reader for block headers and
// payload framing: u8, u32le, LEB128 varints and zigzag varints of integers up
// to 2^53 (numbers, never BigInt, on the hot path). Reads past the end or
// malformed varints throw TSR_ERR_CORRUPT_SEGMENT.
import { AssertionError, assert } from '../../errors.js';
import { corruptSegment } from './corrupt.js';

/** Largest value a varint may carry: integers up to here are exact in float64. */
export const MAX_VARINT = 2 ** 53;
/** Largest magnitude a zigzag varint may carry (its zigzag image is ≤ 2^53). */
export const MAX_SVARINT_MAGNITUDE = 2 ** 52;
/** Upper bound on one encoded block or snapshot, far above any real one. */
export const MAX_BUFFER_BYTES = 1 << 30;

export function zigzag(v: number): number {
  return v >= 0 ? v * 2 : -v * 2 - 1;
}

export function unzigzag(u: number): number {
  if (u < 0x8000_0000) return (u >>> 1) ^ -(u & 1);
  // Beyond int32: halving a float is exact for integers up to 2^53.
  const half = Math.floor(u / 2);
  return half * 2 === u ? half : -half - 1;
}

export class ByteWriter {
  private buf: Uint8Array;
  private pos = 0;

  constructor(initialCapacityBytes = 256) {
    this.buf = new Uint8Array(Math.max(16, initialCapacityBytes));
  }

  get length(): number {
    return this.pos;
  }

  /** Makes room for `extra` more bytes. */
  ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    if (!(need <= MAX_BUFFER_BYTES)) throw new AssertionError(`byte writer would exceed ${MAX_BUFFER_BYTES} bytes`);
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(Math.min(cap, MAX_BUFFER_BYTES));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u32le(v: number): void {
    this.ensure(4);
    const b = this.buf;
    b[this.pos] = v;
    b[this.pos + 1] = v >>> 8;
    b[this.pos + 2] = v >>> 16;
    b[this.pos + 3] = v >>> 24;
    this.pos += 4;
  }

  varint(v: number): void {
    if (!(Number.isInteger(v) && v >= 0 && v <= MAX_VARINT)) throw new AssertionError(`varint out of range: ${v}`);
    this.ensure(8);
    const b = this.buf;
    while (v >= 0x80) {
      b[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    b[this.pos++] = v;
  }

  svarint(v: number): void {
    if (!(Number.isInteger(v) && Math.abs(v) <= MAX_SVARINT_MAGNITUDE)) throw new AssertionError(`svarint out of range: ${v}`);
    this.varint(zigzag(v));
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  /** A view of the bytes written so far (valid until the next write). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** A copy of the bytes written so far, trimmed to size. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

export class ByteReader {
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
    private readonly what = 'block',
  ) {
    assert(start >= 0 && start <= end && end <= buf.length, 'byte reader bounds');
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, field: string): void {
    if (this.pos + n > this.end) {
      throw corruptSegment(`${this.what} is truncated: ${field} runs past its end`, { field, offset: this.pos });
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++]!;
  }

  u32le(field: string): number {
    this.need(4, field);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }

  varint(field: string): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      this.need(1, field);
      const byte = this.buf[this.pos++]!;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (byte === 0 && i > 0) throw corruptSegment(`${this.what}: ${field} is a non-minimal varint`, { field });
        if (result > MAX_VARINT) throw corruptSegment(`${this.what}: ${field} exceeds 2^53`, { field });
        return result;
      }
      scale *= 0x80;
    }
    throw corruptSegment(`${this.what}: ${field} is a varint longer than 8 bytes`, { field, offset: this.pos });
  }

  svarint(field: string): number {
    const u = this.varint(field);
    if (u > 2 * MAX_SVARINT_MAGNITUDE) throw corruptSegment(`${this.what}: ${field} exceeds ±2^52`, { field });
    return unzigzag(u);
  }

  /** A view of the next n bytes. */
  bytes(n: number, field: string): Uint8Array {
    this.need(n, field);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}
