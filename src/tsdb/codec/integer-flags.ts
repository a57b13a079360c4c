// Per-point isInteger flags: almost always uniform within a series, so the
// common cases cost nothing; mixed blocks store alternating run lengths.
import { assert } from '../../errors.js';
import { ByteReader, ByteWriter } from './byte-buffer.js';
import { corruptSegment } from './corrupt.js';

export const FLAGS_ALL_FLOAT = 0;
export const FLAGS_ALL_INTEGER = 1;
export const FLAGS_RUNS = 2;

/** The flag mode for isInteger[0..n). */
export function integerFlagsMode(isInteger: Uint8Array, n: number): number {
  assert(n >= 1 && n <= isInteger.length, 'flag count');
  const first = isInteger[0]!;
  for (let i = 1; i < n; i++) if (isInteger[i] !== first) return FLAGS_RUNS;
  return first === 1 ? FLAGS_ALL_INTEGER : FLAGS_ALL_FLOAT;
}

/** Run lengths alternating float, integer, float, … starting with a (possibly empty) float run. */
export function encodeIntegerFlagRuns(isInteger: Uint8Array, n: number, out: ByteWriter): void {
  let current = 0;
  let run = 0;
  for (let i = 0; i < n; i++) {
    if (isInteger[i] === current) {
      run++;
    } else {
      out.varint(run);
      current ^= 1;
      run = 1;
    }
  }
  out.varint(run);
}

export function decodeIntegerFlags(mode: number, r: ByteReader | null, n: number, out: Uint8Array): void {
  if (mode === FLAGS_ALL_FLOAT || mode === FLAGS_ALL_INTEGER) {
    out.fill(mode === FLAGS_ALL_INTEGER ? 1 : 0, 0, n);
    return;
  }
  assert(r !== null, 'run-length flags need their payload');
  let pos = 0;
  let current = 0;
  let first = true;
  while (pos < n) {
    const run = r.varint('integer flag run');
    if ((run === 0 && !first) || run > n - pos) {
      throw corruptSegment('integer flag runs do not add up to the point count', { run, pos, pointCount: n });
    }
    out.fill(current, pos, pos + run);
    pos += run;
    current ^= 1;
    first = false;
  }
  if (r.remaining !== 0) throw corruptSegment('integer flag payload has trailing bytes');
}
