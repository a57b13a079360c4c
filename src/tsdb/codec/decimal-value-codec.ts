// Values that are all decimals with few digits (and integers, e = 0) stored
// as scaled integers m = v·10^e, then delta / delta-of-delta with the median
// and common divisor factored out, range-coded (VictoriaMetrics' idea, with an
// entropy coder instead of zstd). Exact: the encoder checks m / 10^e
// reproduces every value bit for bit before choosing this encoding.
import { assert } from '../../errors.js';
import { ByteReader, ByteWriter } from './byte-buffer.js';
import { corruptSegment } from './corrupt.js';
import { MAX_SEQUENCE_MAGNITUDE, decodeIntSequence, encodeIntSequence } from './int-sequence.js';

/** 10^22 is the largest power of ten exact in a float64. */
export const MAX_DECIMAL_EXPONENT = 22;
const POW10: Float64Array = (() => {
  const t = new Float64Array(MAX_DECIMAL_EXPONENT + 1);
  for (let e = 0; e <= MAX_DECIMAL_EXPONENT; e++) t[e] = 10 ** e;
  return t;
})();

let mantissaScratch = new Float64Array(1024);

/** The smallest exponent e that makes every value an exact scaled integer
 *  within ±2^49, or -1 when there is none. */
export function findDecimalExponent(values: Float64Array, n: number): number {
  let e = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (Number.isInteger(v)) {
      if (v === 0 && 1 / v < 0) return -1; // -0 would come back as +0
      if (Math.abs(v) * POW10[e]! > MAX_SEQUENCE_MAGNITUDE) return -1;
      continue;
    }
    if (!Number.isFinite(v)) return -1;
    for (;;) {
      const p = POW10[e]!;
      const scaled = v * p;
      if (Math.abs(scaled) > MAX_SEQUENCE_MAGNITUDE) return -1;
      if (Math.round(scaled) / p === v) break;
      if (++e > MAX_DECIMAL_EXPONENT) return -1;
    }
  }
  return e;
}

/** Encodes values[0..n) if they are decimal; returns false (writing nothing) otherwise. */
export function maybeEncodeDecimalValues(values: Float64Array, n: number, out: ByteWriter): boolean {
  assert(n >= 1 && n <= values.length, 'value count');
  const e = findDecimalExponent(values, n);
  if (e < 0) return false;
  if (mantissaScratch.length < n) mantissaScratch = new Float64Array(Math.max(n, mantissaScratch.length * 2));
  const m = mantissaScratch;
  const p = POW10[e]!;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    const scaled = e === 0 ? v : Math.round(v * p);
    // Scaling to the block's (largest) exponent keeps smaller-exponent values
    // exact in theory; check rather than trust it.
    if (Math.abs(scaled) > MAX_SEQUENCE_MAGNITUDE || (e === 0 ? scaled : scaled / p) !== v) return false;
    m[i] = scaled;
  }
  out.u8(e);
  encodeIntSequence(m, n, out, false);
  return true;
}

export function decodeDecimalValues(r: ByteReader, n: number, out: Float64Array): void {
  const e = r.u8('decimal exponent');
  if (e > MAX_DECIMAL_EXPONENT) throw corruptSegment('decimal exponent out of range', { exponent: e });
  decodeIntSequence(r, n, out);
  if (e === 0) return;
  const p = POW10[e]!;
  for (let i = 0; i < n; i++) out[i] = out[i]! / p;
}
