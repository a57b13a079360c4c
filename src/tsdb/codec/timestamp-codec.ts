// Timestamps of a block: integer milliseconds, relative to the block's
// smallest timestamp (already in the block header), through the
// integer-sequence coder with the regular-grid transform enabled. Regular
// intervals cost a few bytes per block; jittered ones about the bits of the
// jitter; second resolution is factored out by the common divisor.
import { assert } from '../../errors.js';
import { ByteReader, ByteWriter } from './byte-buffer.js';
import { MAX_SEQUENCE_MAGNITUDE, decodeIntSequence, encodeIntSequence } from './int-sequence.js';

/** Timestamps are integer ms with |ts| ≤ 2^48 (±8,900 years around 1970),
 *  so offsets from a block's base stay within the sequence coder's 2^49. */
export const MAX_TIMESTAMP_MAGNITUDE_MS = MAX_SEQUENCE_MAGNITUDE / 2;

export const TIMESTAMP_ENCODING_SEQUENCE = 0;
/** Strictly increasing with one interval: the block header's time range and
 *  point count say it all, so there is no payload. */
export const TIMESTAMP_ENCODING_REGULAR = 1;

let offsetScratch = new Float64Array(1024);

export function isValidTimestampMs(ts: number): boolean {
  return Number.isInteger(ts) && Math.abs(ts) <= MAX_TIMESTAMP_MAGNITUDE_MS;
}

/** True when ts[i] = ts[0] + i·step for a positive integer step (or n = 1). */
export function isRegular(timestampsMs: Float64Array, n: number): boolean {
  if (n === 1) return true;
  const first = timestampsMs[0]!;
  const step = (timestampsMs[n - 1]! - first) / (n - 1);
  if (!Number.isInteger(step) || step <= 0) return false;
  for (let i = 1; i < n; i++) if (timestampsMs[i] !== first + i * step) return false;
  return true;
}

/** Encodes timestamps[0..n) (any order, duplicates allowed) as offsets from
 *  baseMs (their minimum); returns the encoding id. REGULAR writes nothing. */
export function encodeTimestamps(timestampsMs: Float64Array, n: number, baseMs: number, out: ByteWriter): number {
  assert(n >= 1 && n <= timestampsMs.length, 'timestamp count');
  assert(isValidTimestampMs(baseMs), 'timestamp base out of range');
  if (isRegular(timestampsMs, n) && timestampsMs[0] === baseMs) return TIMESTAMP_ENCODING_REGULAR;
  if (offsetScratch.length < n) offsetScratch = new Float64Array(Math.max(n, offsetScratch.length * 2));
  const offsets = offsetScratch;
  for (let i = 0; i < n; i++) offsets[i] = timestampsMs[i]! - baseMs;
  encodeIntSequence(offsets, n, out, true);
  return TIMESTAMP_ENCODING_SEQUENCE;
}

/** Decodes n regular timestamps from the block's time range. */
export function regularTimestamps(n: number, minMs: number, maxMs: number, out: Float64Array): void {
  const step = n === 1 ? 0 : (maxMs - minMs) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = minMs + i * step;
}

/** Decodes n SEQUENCE timestamps; r must end where the timestamp payload ends. */
export function decodeTimestamps(encoding: number, r: ByteReader, n: number, baseMs: number, out: Float64Array): void {
  assert(encoding === TIMESTAMP_ENCODING_SEQUENCE, 'unknown timestamp encoding reached the decoder');
  decodeIntSequence(r, n, out);
  for (let i = 0; i < n; i++) out[i] = out[i]! + baseMs;
}
