// Per-second rates as OpenTSDB 2.4's RateSpan computes them. The first rate
// is taken against an integer 0 at time 0 (OpenTSDB's "backward
// compatibility" rate); the aggregation step uses it only as the value a
// series holds before its second point (interpolate.ts). Between two
// integers the difference is taken in int64 (exact here even near 2^63, then
// rounded to a double once); counters that go backwards roll over at
// counterMax, a roll-over rate above resetValue (when > 0) reads 0, and
// dropResets skips the point instead.
import { assert } from '../../errors.js';
import { wrapInt64 } from './int64.js';
import type { DoubleSeries } from './downsample.js';
import type { RateOptions } from './types.js';

/** Input of a rate: raw points (with integer flags) or downsampled doubles. */
export interface RateInput {
  ts: Float64Array;
  /** Every value as a double (exact for integers within ±2^53). */
  values: Float64Array;
  /** 1 where the value is an int64; null when every value is a double. */
  isInteger: Uint8Array | null;
  /** Exact int64 values where isInteger is 1, or null when all fit ±2^53. */
  bigInts: BigInt64Array | null;
  length: number;
}

export const DEFAULT_COUNTER_MAX = (1n << 63n) - 1n;

export function defaultRateOptions(): RateOptions {
  return { counter: false, counterMax: DEFAULT_COUNTER_MAX, resetValue: 0n, dropResets: false };
}

export function rateSeries(input: RateInput, options: RateOptions): DoubleSeries {
  const { ts, values, isInteger, bigInts, length } = input;
  const outTs = new Float64Array(length);
  const outValues = new Float64Array(length);
  const resetValue = Number(options.resetValue);
  const checkReset = options.resetValue > 0n;
  let n = 0;
  // The previous point; OpenTSDB starts from an integer 0 at time 0.
  let prevT = 0;
  let prevD = 0;
  let prevInt = true;
  let prevIndex = -1; // -1: the time-zero point
  // Exact int64 of point j (only called for integer points).
  const exact = (j: number): bigint => (j < 0 ? 0n : bigInts !== null ? bigInts[j]! : BigInt(values[j]!));
  for (let i = 0; i < length; i++) {
    const t = ts[i]!;
    assert(i === 0 || t > ts[i - 1]!, 'rate input is sorted with one point per timestamp');
    const curD = values[i]!;
    const curInt = isInteger !== null && isInteger[i] === 1;
    if (t > prevT) {
      const seconds = (t - prevT) / 1000;
      const bothInt = prevInt && curInt;
      let diff: number;
      if (bothInt) {
        // Within ±2^53 the double difference is the exact difference rounded once.
        diff = bigInts === null ? curD - prevD : Number(wrapInt64(exact(i) - exact(prevIndex)));
      } else {
        diff = curD - prevD;
      }
      let rate: number;
      if (options.counter && diff < 0) {
        if (options.dropResets) {
          prevT = t;
          prevD = curD;
          prevInt = curInt;
          prevIndex = i;
          continue;
        }
        const rolled = bothInt ? Number(wrapInt64(options.counterMax - exact(prevIndex) + exact(i))) : Number(options.counterMax) - prevD + curD;
        rate = rolled / seconds;
        if (checkReset && rate > resetValue) rate = 0;
      } else {
        rate = diff / seconds;
      }
      outTs[n] = t;
      outValues[n] = rate;
      n++;
    }
    // A point at time 0 (no earlier instant to measure from) yields no rate.
    prevT = t;
    prevD = curD;
    prevInt = curInt;
    prevIndex = i;
  }
  assert(n <= length, 'a rate per point at most');
  return { ts: outTs, values: outValues, length: n };
}
