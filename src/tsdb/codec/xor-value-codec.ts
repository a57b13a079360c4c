// Gorilla XOR for values that are not short decimals: any float64 (huge,
// tiny, subnormal, -0, full-precision noise) and blocks that mix floats with
// int64 values beyond ±2^53 (whose two's complement bits take the place of
// the float bits). Bit-exact by construction: it stores the 64-bit patterns.
import { assert } from '../../errors.js';
import { BitReader, BitWriter } from './bit-stream.js';
import { corruptSegment } from './corrupt.js';
import { bitsToFloat, clz64, ctz64, floatBits } from './float-bits.js';

const pattern = new Uint32Array(2);
const INT64_MASK = (1n << 64n) - 1n;

function int64Bits(v: bigint, out: Uint32Array): void {
  const u = v & INT64_MASK;
  out[0] = Number(u >> 32n);
  out[1] = Number(u & 0xffffffffn);
}

/** Writes the low `length` bits of (hi, lo) >>> shift (1 ≤ length ≤ 64). */
function writeShifted(w: BitWriter, hi: number, lo: number, shift: number, length: number): void {
  let h: number;
  let l: number;
  if (shift === 0) {
    h = hi;
    l = lo;
  } else if (shift < 32) {
    l = ((lo >>> shift) | (hi << (32 - shift))) >>> 0;
    h = hi >>> shift;
  } else {
    l = hi >>> (shift - 32);
    h = 0;
  }
  if (length > 32) {
    w.writeBits(h, length - 32);
    w.writeBits(l, 32);
  } else {
    w.writeBits(l, length);
  }
}

/**
 * Encodes values[0..n). When `bigInts` is given, integer points (isInteger 1)
 * contribute their int64 bits instead of their float bits.
 */
export function encodeXorValues(
  values: Float64Array,
  isInteger: Uint8Array,
  bigInts: BigInt64Array | null,
  n: number,
): Uint8Array {
  assert(n >= 1 && n <= values.length, 'value count');
  const w = new BitWriter(n * 2 + 16);
  let prevHi = 0;
  let prevLo = 0;
  let prevLead = -1;
  let prevTrail = 0;
  for (let i = 0; i < n; i++) {
    if (bigInts !== null && isInteger[i] === 1) int64Bits(bigInts[i]!, pattern);
    else floatBits(values[i]!, pattern);
    const hi = pattern[0]!;
    const lo = pattern[1]!;
    if (i === 0) {
      w.write64(hi, lo);
    } else {
      const xh = (hi ^ prevHi) >>> 0;
      const xl = (lo ^ prevLo) >>> 0;
      if (xh === 0 && xl === 0) {
        w.writeBit(0);
      } else {
        w.writeBit(1);
        const lead = clz64(xh, xl);
        const trail = ctz64(xh, xl);
        if (prevLead >= 0 && lead >= prevLead && trail >= prevTrail) {
          w.writeBit(0);
          writeShifted(w, xh, xl, prevTrail, 64 - prevLead - prevTrail);
        } else {
          const length = 64 - lead - trail;
          w.writeBit(1);
          w.writeBits(lead, 6);
          w.writeBits(length - 1, 6);
          writeShifted(w, xh, xl, trail, length);
          prevLead = lead;
          prevTrail = trail;
        }
      }
    }
    prevHi = hi;
    prevLo = lo;
  }
  return w.finish();
}

/** Decodes n patterns into values (and into bigInts for integer points when
 *  bigInts is given: the patterns of those points are int64 bits). */
export function decodeXorValues(
  bytes: Uint8Array,
  start: number,
  end: number,
  n: number,
  isInteger: Uint8Array,
  values: Float64Array,
  bigInts: BigInt64Array | null,
): void {
  const r = new BitReader(bytes, start, end);
  let hi = 0;
  let lo = 0;
  let prevLead = -1;
  let prevTrail = 0;
  for (let i = 0; i < n; i++) {
    if (i === 0) {
      hi = r.readBits(32);
      lo = r.readBits(32);
    } else if (r.readBit() === 1) {
      let lead: number;
      let trail: number;
      if (r.readBit() === 0 && prevLead >= 0) {
        lead = prevLead;
        trail = prevTrail;
      } else {
        lead = r.readBits(6);
        const length = r.readBits(6) + 1;
        trail = 64 - lead - length;
        // A window wider than 64 bits cannot come from the encoder.
        if (trail < 0) trail = 0;
        prevLead = lead;
        prevTrail = trail;
      }
      const length = 64 - lead - trail;
      let h = 0;
      let l: number;
      if (length > 32) {
        h = r.readBits(length - 32);
        l = r.readBits(32);
      } else {
        l = r.readBits(length);
      }
      // Shift (h, l) left by trail and XOR into the previous pattern.
      let sh: number;
      let sl: number;
      if (trail === 0) {
        sh = h;
        sl = l;
      } else if (trail < 32) {
        sh = ((h << trail) | (l >>> (32 - trail))) >>> 0;
        sl = (l << trail) >>> 0;
      } else {
        sh = (l << (trail - 32)) >>> 0;
        sl = 0;
      }
      hi = (hi ^ sh) >>> 0;
      lo = (lo ^ sl) >>> 0;
    }
    if (bigInts !== null && isInteger[i] === 1) {
      const v = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
      bigInts[i] = v;
      values[i] = Number(v);
    } else {
      values[i] = bitsToFloat(hi, lo);
    }
  }
  if (!r.atPaddedEnd()) throw corruptSegment('value bit stream has trailing bytes');
}
