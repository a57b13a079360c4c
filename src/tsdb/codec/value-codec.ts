// Chooses a block's value encoding and dispatches decoding. Preference:
// decimal (scaled integers, range-coded) when every value is a short
// decimal; Gorilla XOR when that is not possible or is smaller; exact int64
// deltas for integer blocks beyond the decimal range. Ids are part of the
// block format (docs/segment-format.md).
import { assert } from '../../errors.js';
import { ByteReader, ByteWriter } from './byte-buffer.js';
import { corruptSegment } from './corrupt.js';
import { decodeDecimalValues, maybeEncodeDecimalValues } from './decimal-value-codec.js';
import { decodeInt64Values, encodeInt64Values } from './int64-value-codec.js';
import { decodeXorValues, encodeXorValues } from './xor-value-codec.js';

export const VALUE_ENCODING_DECIMAL = 0;
export const VALUE_ENCODING_XOR = 1;
export const VALUE_ENCODING_INT64 = 2;
/** Gorilla XOR where integer points carry int64 bits (values beyond ±2^53). */
export const VALUE_ENCODING_XOR_INT64 = 3;
export const MAX_VALUE_ENCODING = 3;

/** Above this many bytes per point the decimal encoding is compared with XOR. */
const DECIMAL_BYTES_PER_POINT_BEFORE_XOR_CHECK = 4;
const INT53 = 2n ** 53n;

export interface EncodedValues {
  encoding: number;
  bytes: Uint8Array;
}

/** True when some integer point needs its BigInt to stay exact. */
export function needsBigInts(isInteger: Uint8Array, bigInts: BigInt64Array | null, n: number): boolean {
  if (bigInts === null) return false;
  for (let i = 0; i < n; i++) {
    if (isInteger[i] === 1) {
      const v = bigInts[i]!;
      if (v > INT53 || v < -INT53) return true;
    }
  }
  return false;
}

export function encodeValues(
  values: Float64Array,
  isInteger: Uint8Array,
  bigInts: BigInt64Array | null,
  n: number,
  allInteger: boolean,
): EncodedValues {
  assert(n >= 1 && n <= values.length, 'value count');
  if (needsBigInts(isInteger, bigInts, n)) {
    return allInteger
      ? { encoding: VALUE_ENCODING_INT64, bytes: encodeInt64Values(values, bigInts, n) }
      : { encoding: VALUE_ENCODING_XOR_INT64, bytes: encodeXorValues(values, isInteger, bigInts, n) };
  }
  const w = new ByteWriter(n * 2 + 16);
  if (maybeEncodeDecimalValues(values, n, w)) {
    const decimal = w.finish();
    if (decimal.length <= n * DECIMAL_BYTES_PER_POINT_BEFORE_XOR_CHECK) return { encoding: VALUE_ENCODING_DECIMAL, bytes: decimal };
    const xor = encodeXorValues(values, isInteger, null, n);
    return xor.length < decimal.length
      ? { encoding: VALUE_ENCODING_XOR, bytes: xor }
      : { encoding: VALUE_ENCODING_DECIMAL, bytes: decimal };
  }
  if (allInteger) return { encoding: VALUE_ENCODING_INT64, bytes: encodeInt64Values(values, null, n) };
  return { encoding: VALUE_ENCODING_XOR, bytes: encodeXorValues(values, isInteger, null, n) };
}

/**
 * Decodes n values from bytes[start, end) into `values`; returns the exact
 * int64 column when the block has integers beyond ±2^53, else null.
 */
export function decodeValues(
  encoding: number,
  bytes: Uint8Array,
  start: number,
  end: number,
  n: number,
  isInteger: Uint8Array,
  values: Float64Array,
): BigInt64Array | null {
  switch (encoding) {
    case VALUE_ENCODING_DECIMAL: {
      decodeDecimalValues(new ByteReader(bytes, start, end, 'decimal values'), n, values);
      return null;
    }
    case VALUE_ENCODING_XOR: {
      decodeXorValues(bytes, start, end, n, isInteger, values, null);
      return null;
    }
    case VALUE_ENCODING_XOR_INT64: {
      const bigInts = new BigInt64Array(n);
      decodeXorValues(bytes, start, end, n, isInteger, values, bigInts);
      return bigInts;
    }
    case VALUE_ENCODING_INT64: {
      const bigInts = new BigInt64Array(n);
      decodeInt64Values(bytes, start, end, n, values, bigInts);
      return needsBigInts(isInteger, bigInts, n) ? bigInts : null;
    }
    default:
      throw corruptSegment('unknown value encoding', { encoding });
  }
}
