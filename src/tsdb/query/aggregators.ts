// OpenTSDB 2.4's aggregators (core/Aggregators.java): each has a double form
// (NaN-aware: NaNs are skipped, all-NaN gives NaN) used for downsampling,
// rates and any group with a float, and an int64 form used when every input
// of a group is an integer (sums wrap like Java longs, avg truncates toward
// zero, dev and percentiles are computed in doubles and truncated).
import { assert } from '../../errors.js';
import { doubleToInt64, narrowInt64, truncDiv, wrapInt64 } from './int64.js';
import { percentileOf, type PercentileEstimation } from './percentile.js';
import type { Interpolation } from './types.js';

/** Integer inputs of one aggregation. */
export interface LongValues {
  n: number;
  /** The values as doubles: exact while |v| ≤ 2^53. */
  nums: Float64Array;
  /** The exact values when some |v| > 2^53, else null. */
  bigs: bigint[] | null;
}

export interface Aggregator {
  readonly name: string;
  /** How a group fills in a series that has no point at an output timestamp. */
  readonly interpolation: Interpolation;
  /** OpenTSDB's runDouble over values[from, to) (to > from); never mutates values. */
  runDouble(values: Float64Array, from: number, to: number): number;
  /** OpenTSDB's runLong (n ≥ 1): an exact int64, as a number when within ±2^53. */
  runLong(values: LongValues): number | bigint;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

// Percentiles sort; they work on this copy, grown to the largest input seen.
let scratch = new Float64Array(64);
function scratchOf(size: number): Float64Array {
  if (scratch.length < size) scratch = new Float64Array(Math.max(size, scratch.length * 2));
  return scratch;
}

function exactSum(v: LongValues): number | bigint {
  if (v.bigs === null) {
    let sum = 0;
    let exact = true;
    for (let i = 0; i < v.n; i++) {
      sum += v.nums[i]!;
      if (sum > MAX_SAFE || sum < -MAX_SAFE) exact = false;
    }
    if (exact) return sum;
  }
  let big = 0n;
  for (let i = 0; i < v.n; i++) big += v.bigs !== null ? v.bigs[i]! : BigInt(v.nums[i]!);
  return narrowInt64(wrapInt64(big));
}

function sumDouble(values: Float64Array, from: number, to: number): number {
  let result = 0;
  let n = 0;
  for (let i = from; i < to; i++) {
    const v = values[i]!;
    if (v === v) {
      result += v;
      n++;
    }
  }
  return n === 0 ? Number.NaN : result;
}

function minDouble(values: Float64Array, from: number, to: number): number {
  const initial = values[from]!;
  let min = initial !== initial ? Number.POSITIVE_INFINITY : initial;
  for (let i = from + 1; i < to; i++) {
    const v = values[i]!;
    if (v < min) min = v; // false for NaN
  }
  return min === Number.POSITIVE_INFINITY ? Number.NaN : min;
}

function maxDouble(values: Float64Array, from: number, to: number): number {
  const initial = values[from]!;
  let max = initial !== initial ? Number.NEGATIVE_INFINITY : initial;
  for (let i = from + 1; i < to; i++) {
    const v = values[i]!;
    if (v > max) max = v;
  }
  return max === Number.NEGATIVE_INFINITY ? Number.NaN : max;
}

function avgDouble(values: Float64Array, from: number, to: number): number {
  let result = 0;
  let n = 0;
  for (let i = from; i < to; i++) {
    const v = values[i]!;
    if (v === v) {
      result += v;
      n++;
    }
  }
  return n === 0 ? Number.NaN : result / n;
}

/** Welford's running variance (OpenTSDB's StdDev.runDouble, NaNs skipped). */
function devDouble(values: Float64Array, from: number, to: number): number {
  let i = from;
  let oldMean = values[i++]!;
  while (oldMean !== oldMean && i < to) oldMean = values[i++]!;
  if (oldMean !== oldMean) return Number.NaN;
  if (i >= to) return 0;
  let n = 2;
  let newMean = 0;
  let m2 = 0;
  for (; i < to; i++) {
    const x = values[i]!;
    if (x === x) {
      newMean = oldMean + (x - oldMean) / n;
      m2 += (x - oldMean) * (x - newMean);
      oldMean = newMean;
      n++;
    }
  }
  return n === 2 ? 0 : Math.sqrt(m2 / (n - 1));
}

function devLong(v: LongValues): number | bigint {
  let oldMean = v.nums[0]!;
  if (v.n === 1) return 0;
  let n = 2;
  let newMean = 0;
  let m2 = 0;
  for (let i = 1; i < v.n; i++) {
    const x = v.nums[i]!;
    newMean = oldMean + (x - oldMean) / n;
    m2 += (x - oldMean) * (x - newMean);
    oldMean = newMean;
    n++;
  }
  return narrowInt64(doubleToInt64(Math.sqrt(m2 / (n - 1))));
}

function countDouble(values: Float64Array, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) if (values[i] === values[i]) n++;
  return n;
}

function pick(v: LongValues, i: number): number | bigint {
  return v.bigs !== null ? narrowInt64(v.bigs[i]!) : v.nums[i]!;
}

function minLong(v: LongValues): number | bigint {
  if (v.bigs !== null) {
    let min = v.bigs[0]!;
    for (let i = 1; i < v.n; i++) if (v.bigs[i]! < min) min = v.bigs[i]!;
    return narrowInt64(min);
  }
  let min = v.nums[0]!;
  for (let i = 1; i < v.n; i++) if (v.nums[i]! < min) min = v.nums[i]!;
  return min;
}

function maxLong(v: LongValues): number | bigint {
  if (v.bigs !== null) {
    let max = v.bigs[0]!;
    for (let i = 1; i < v.n; i++) if (v.bigs[i]! > max) max = v.bigs[i]!;
    return narrowInt64(max);
  }
  let max = v.nums[0]!;
  for (let i = 1; i < v.n; i++) if (v.nums[i]! > max) max = v.nums[i]!;
  return max;
}

function avgLong(v: LongValues): number | bigint {
  const sum = exactSum(v);
  if (typeof sum === 'number') return truncDiv(sum, v.n);
  return narrowInt64(sum / BigInt(v.n)); // bigint division truncates like Java
}

function percentileAggregator(name: string, quantile: number, estimation: PercentileEstimation): Aggregator {
  return {
    name,
    interpolation: 'lerp',
    runDouble(values, from, to) {
      const work = scratchOf(to - from);
      let n = 0;
      for (let i = from; i < to; i++) {
        const v = values[i]!;
        if (v === v) work[n++] = v;
      }
      // OpenTSDB 2.4 ignores the estimation type for doubles (new Percentile(p)).
      return percentileOf(work, n, quantile, 'legacy');
    },
    runLong(v) {
      const work = scratchOf(v.n);
      work.set(v.nums.subarray(0, v.n));
      return narrowInt64(doubleToInt64(percentileOf(work, v.n, quantile, estimation)));
    },
  };
}

function make(name: string, interpolation: Interpolation, runDouble: Aggregator['runDouble'], runLong: Aggregator['runLong']): Aggregator {
  return { name, interpolation, runDouble, runLong };
}

const first = (values: Float64Array, from: number): number => values[from]!;
const last = (values: Float64Array, _from: number, to: number): number => values[to - 1]!;

const single = (values: Float64Array, from: number, to: number): number => {
  assert(to - from === 1, 'the none aggregator sees exactly one series per group');
  return values[from]!;
};

const AGGREGATORS = new Map<string, Aggregator>();
for (const agg of [
  make('sum', 'lerp', sumDouble, exactSum),
  make('zimsum', 'zim', sumDouble, exactSum),
  make('min', 'lerp', minDouble, minLong),
  make('mimmin', 'max', minDouble, minLong),
  make('max', 'lerp', maxDouble, maxLong),
  make('mimmax', 'min', maxDouble, maxLong),
  make('avg', 'lerp', avgDouble, avgLong),
  make('dev', 'lerp', devDouble, devLong),
  make('count', 'zim', countDouble, (v) => v.n),
  make('first', 'zim', first, (v) => pick(v, 0)),
  make('last', 'zim', last, (v) => pick(v, v.n - 1)),
  make('none', 'zim', single, (v) => {
    assert(v.n === 1, 'the none aggregator sees exactly one series per group');
    return pick(v, 0);
  }),
]) {
  AGGREGATORS.set(agg.name, agg);
}
for (const [suffix, quantile] of [['50', 50], ['75', 75], ['90', 90], ['95', 95], ['99', 99], ['999', 99.9]] as const) {
  AGGREGATORS.set(`p${suffix}`, percentileAggregator(`p${suffix}`, quantile, 'legacy'));
  AGGREGATORS.set(`ep${suffix}r3`, percentileAggregator(`ep${suffix}r3`, quantile, 'r3'));
  AGGREGATORS.set(`ep${suffix}r7`, percentileAggregator(`ep${suffix}r7`, quantile, 'r7'));
}

/** Every aggregator name accepted, in a stable order. */
export const AGGREGATOR_NAMES: readonly string[] = [...AGGREGATORS.keys()];

export function getAggregator(name: string): Aggregator | undefined {
  return AGGREGATORS.get(name);
}
