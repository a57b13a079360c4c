// Values that are decimals with few digits (and integers, e = 0) stored as
// scaled integers m = round(v·10^e), then delta / delta-of-delta with the
// median and common divisor factored out, range-coded (VictoriaMetrics' idea,
// with an entropy coder instead of zstd). Lossless: values that are not
// exactly m / 10^e — binary artefacts such as 1.7719999999999998 next to
// 1.772 — carry a correction, the difference of their 64-bit pattern from
// that of m / 10^e (a few ulps), in a second sequence that costs almost
// nothing when it is mostly zero. Layout: docs/segment-format.md.
import { assert } from '../../errors.js';
import { ByteReader, ByteWriter } from './byte-buffer.js';
import { corruptSegment } from './corrupt.js';
import { bitsToFloat, floatBits } from './float-bits.js';
import { MAX_SEQUENCE_MAGNITUDE, decodeIntSequence, encodeIntSequence } from './int-sequence.js';

/** 10^22 is the largest power of ten exact in a float64. */
export const MAX_DECIMAL_EXPONENT = 22;
const EXPONENT_MASK = 0x1f;
const HAS_CORRECTIONS = 0x80;
/** A value within this many ulps of m / 10^e, with |m| < 10^12, counts as
 *  having e decimals (binary artefacts are 1–2 ulps off; full-precision
 *  noise is only near such short decimals by rare chance). */
const NEAR_ULPS = 8;
const NEAR_MAX_MANTISSA = 1e12;
const TWO_POW_32 = 0x1_0000_0000;
/** Pattern differences stay within the sequence coder's range. */
const MAX_CORRECTION = MAX_SEQUENCE_MAGNITUDE;

const POW10: Float64Array = (() => {
  const t = new Float64Array(MAX_DECIMAL_EXPONENT + 1);
  for (let e = 0; e <= MAX_DECIMAL_EXPONENT; e++) t[e] = 10 ** e;
  return t;
})();

const patternA = new Uint32Array(2);
const patternB = new Uint32Array(2);
let mantissaScratch = new Float64Array(1024);
let correctionScratch = new Float64Array(1024);

/** pattern(v) − pattern(base) as a signed integer, or NaN when it is beyond ±2^49. */
function patternDifference(v: number, base: number): number {
  floatBits(v, patternA);
  floatBits(base, patternB);
  const hiDiff = patternA[0]! - patternB[0]!;
  if (hiDiff > 0x20000 || hiDiff < -0x20000) return NaN;
  const d = hiDiff * TWO_POW_32 + (patternA[1]! - patternB[1]!);
  return Math.abs(d) <= MAX_CORRECTION ? d : NaN;
}

/** The float whose 64-bit pattern is pattern(base) + d. */
function addToPattern(base: number, d: number): number {
  floatBits(base, patternA);
  const dHi = Math.floor(d / TWO_POW_32);
  let lo = patternA[1]! + (d - dHi * TWO_POW_32);
  let carry = 0;
  if (lo >= TWO_POW_32) {
    lo -= TWO_POW_32;
    carry = 1;
  }
  const hi = (patternA[0]! + dHi + carry) >>> 0;
  return bitsToFloat(hi, lo);
}

/**
 * The block's decimal exponent: the largest over its values of the fewest
 * decimals that reproduce each value exactly or within NEAR_ULPS; -1 when
 * some value needs a mantissa beyond ±2^49 (huge values, long fractions).
 * Values that fit no exponent (full-precision noise) are left to corrections.
 */
export function findDecimalExponent(values: Float64Array, n: number): number {
  let e = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v) || (v === 0 && 1 / v < 0)) return -1; // -0 would come back as +0
    if (Math.abs(v) * POW10[e]! > MAX_SEQUENCE_MAGNITUDE) return -1;
    for (let k = e; k <= MAX_DECIMAL_EXPONENT; k++) {
      const p = POW10[k]!;
      const scaled = v * p;
      if (Math.abs(scaled) > MAX_SEQUENCE_MAGNITUDE) break;
      // "+ 0" turns a rounded -0 into +0: mantissas are plain integers.
      const base = (Math.round(scaled) + 0) / p;
      if (base === v || (Math.abs(scaled) < NEAR_MAX_MANTISSA && Math.abs(patternDifference(v, base)) <= NEAR_ULPS)) {
        e = k;
        break;
      }
    }
  }
  return e;
}

/** Encodes values[0..n) if they are (nearly) decimal; returns false, writing nothing, otherwise. */
export function maybeEncodeDecimalValues(values: Float64Array, n: number, out: ByteWriter): boolean {
  assert(n >= 1 && n <= values.length, 'value count');
  const e = findDecimalExponent(values, n);
  if (e < 0) return false;
  if (mantissaScratch.length < n) {
    mantissaScratch = new Float64Array(Math.max(n, mantissaScratch.length * 2));
    correctionScratch = new Float64Array(mantissaScratch.length);
  }
  const m = mantissaScratch;
  const corrections = correctionScratch;
  const p = POW10[e]!;
  let anyCorrection = false;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    const scaled = (e === 0 ? Math.round(v) : Math.round(v * p)) + 0;
    if (Math.abs(scaled) > MAX_SEQUENCE_MAGNITUDE) return false;
    const base = e === 0 ? scaled : scaled / p;
    m[i] = scaled;
    if (base === v) {
      corrections[i] = 0;
    } else {
      const d = patternDifference(v, base);
      if (Number.isNaN(d)) return false;
      corrections[i] = d;
      anyCorrection = true;
    }
  }
  out.u8(e | (anyCorrection ? HAS_CORRECTIONS : 0));
  if (!anyCorrection) {
    encodeIntSequence(m, n, out, false);
    return true;
  }
  const mantissas = new ByteWriter(n + 16);
  encodeIntSequence(m, n, mantissas, false);
  out.varint(mantissas.length);
  out.bytes(mantissas.view());
  encodeIntSequence(corrections, n, out, false);
  return true;
}

export function decodeDecimalValues(r: ByteReader, n: number, out: Float64Array): void {
  const head = r.u8('decimal exponent');
  const e = head & EXPONENT_MASK;
  if ((head & ~(EXPONENT_MASK | HAS_CORRECTIONS)) !== 0 || e > MAX_DECIMAL_EXPONENT) throw corruptSegment('decimal exponent byte out of range', { head });
  if ((head & HAS_CORRECTIONS) === 0) {
    decodeIntSequence(r, n, out);
  } else {
    const length = r.varint('decimal mantissa length');
    const start = r.pos;
    r.bytes(length, 'decimal mantissas');
    decodeIntSequence(new ByteReader(r.buf, start, start + length, 'decimal mantissas'), n, out);
  }
  if (e > 0) {
    const p = POW10[e]!;
    for (let i = 0; i < n; i++) out[i] = out[i]! / p;
  }
  if ((head & HAS_CORRECTIONS) === 0) return;
  if (correctionScratch.length < n) correctionScratch = new Float64Array(Math.max(n, correctionScratch.length * 2));
  const corrections = correctionScratch;
  decodeIntSequence(r, n, corrections);
  for (let i = 0; i < n; i++) {
    const d = corrections[i]!;
    if (d !== 0) out[i] = addToPattern(out[i]!, d);
  }
}
