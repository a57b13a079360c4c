// Blocks whose values are all integers and include some beyond what the
// decimal encoding takes (|v| > 2^49, up to the int64 limits): exact BigInt
// deltas, offset by the smallest delta and bit-packed at one width. Counters
// near 2^63 land here; it is the rare path, so clarity beats speed.
import { assert } from '../../errors.js';
import { BitReader, BitWriter } from './bit-stream.js';
import { corruptSegment } from './corrupt.js';

const MASK64 = (1n << 64n) - 1n;
const MASK32 = 0xffffffffn;

function write64(w: BitWriter, u: bigint): void {
  w.writeBits(Number((u >> 32n) & MASK32), 32);
  w.writeBits(Number(u & MASK32), 32);
}

function read64(r: BitReader): bigint {
  const hi = BigInt(r.readBits(32));
  return (hi << 32n) | BigInt(r.readBits(32));
}

/** Writes the low `width` bits of u (0 ≤ width ≤ 64). */
function writeWide(w: BitWriter, u: bigint, width: number): void {
  if (width > 32) {
    w.writeBits(Number((u >> 32n) & MASK32), width - 32);
    w.writeBits(Number(u & MASK32), 32);
  } else if (width > 0) {
    w.writeBits(Number(u & MASK32), width);
  }
}

function readWide(r: BitReader, width: number): bigint {
  if (width > 32) {
    const hi = BigInt(r.readBits(width - 32));
    return (hi << 32n) | BigInt(r.readBits(32));
  }
  return width > 0 ? BigInt(r.readBits(width)) : 0n;
}

function bitWidth(u: bigint): number {
  return u === 0n ? 0 : u.toString(2).length;
}

/** The exact value of integer point i. */
function exact(values: Float64Array, bigInts: BigInt64Array | null, i: number): bigint {
  return bigInts !== null ? bigInts[i]! : BigInt(values[i]!);
}

/** Encodes n integer values (every point must be an integer). */
export function encodeInt64Values(values: Float64Array, bigInts: BigInt64Array | null, n: number): Uint8Array {
  assert(n >= 1 && n <= values.length, 'value count');
  const w = new BitWriter(n * 8 + 32);
  const first = exact(values, bigInts, 0);
  write64(w, first & MASK64);
  if (n === 1) return w.finish();
  // Deltas wrap modulo 2^64, as int64 arithmetic would; read as signed.
  const deltas = new BigInt64Array(n - 1);
  let prev = first;
  let minDelta = 0n;
  for (let i = 1; i < n; i++) {
    const v = exact(values, bigInts, i);
    const d = BigInt.asIntN(64, v - prev);
    deltas[i - 1] = d;
    if (i === 1 || d < minDelta) minDelta = d;
    prev = v;
  }
  let maxOffset = 0n;
  for (let i = 0; i < n - 1; i++) {
    const off = (deltas[i]! - minDelta) & MASK64;
    if (off > maxOffset) maxOffset = off;
  }
  const width = bitWidth(maxOffset);
  write64(w, minDelta & MASK64);
  w.writeBits(width, 7);
  for (let i = 0; i < n - 1; i++) writeWide(w, (deltas[i]! - minDelta) & MASK64, width);
  return w.finish();
}

export function decodeInt64Values(
  bytes: Uint8Array,
  start: number,
  end: number,
  n: number,
  values: Float64Array,
  bigInts: BigInt64Array,
): void {
  const r = new BitReader(bytes, start, end);
  let v = BigInt.asIntN(64, read64(r));
  bigInts[0] = v;
  values[0] = Number(v);
  if (n === 1) {
    if (!r.atPaddedEnd()) throw corruptSegment('value bit stream has trailing bytes');
    return;
  }
  const minDelta = BigInt.asIntN(64, read64(r));
  const width = r.readBits(7);
  if (width > 64) throw corruptSegment('int64 delta width exceeds 64 bits', { width });
  for (let i = 1; i < n; i++) {
    v = BigInt.asIntN(64, v + minDelta + readWide(r, width));
    bigInts[i] = v;
    values[i] = Number(v);
  }
  if (!r.atPaddedEnd()) throw corruptSegment('value bit stream has trailing bytes');
}
