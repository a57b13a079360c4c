// Aggregation across the series of one group, as OpenTSDB 2.4's
// AggregationIterator does it.
//
// Values (no rate): the output timestamps are the union of the series'
// timestamps. At each one, a series takes part while the timestamp lies
// within its first..last point; it gives its own value where it has a point
// and otherwise, by the aggregator's interpolation, the linear interpolation
// y0 + (x - x0) * (y1 - y0) / (x1 - x0) between its neighbours (lerp), 0
// (zim), or the type's max / min (mimmin / mimmax; Java's Double.MIN_VALUE is
// the smallest positive double, kept as OpenTSDB has it). The aggregate is an
// int64 (runLong, interpolation in truncating int64 arithmetic) when every
// point around the timestamp in every unfinished series is an integer, else
// a double.
//
// Rates: each series' first rate (the one against time 0) is never an output
// timestamp; the outputs are the union of the other rate timestamps. A series
// takes part until its last rate and holds its latest rate (or its first,
// before its second) with no interpolation. Always doubles.
import { assert } from '../../errors.js';
import type { Aggregator } from './aggregators.js';
import { narrowInt64, truncDiv } from './int64.js';

export interface GroupSeries {
  ts: Float64Array;
  /** Every value as a double (exact for integers within ±2^53). */
  values: Float64Array;
  /** 1 where the value is an int64; null when every value is a double. */
  isInteger: Uint8Array | null;
  /** Exact int64 values where isInteger is 1, or null when all fit ±2^53. */
  bigInts: BigInt64Array | null;
  length: number;
}

export interface AggregatedSeries {
  ts: Float64Array;
  /** Doubles, and integer results within ±2^53 (see bigValues). */
  values: Float64Array;
  /** 1 where the result is an int64. */
  isInteger: Uint8Array;
  /** Exact results beyond ±2^53, by output index; null when there are none. */
  bigValues: Map<number, bigint> | null;
  length: number;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Sorted distinct timestamps of every series, skipping the first `skip` of each. */
function unionTimestamps(series: readonly GroupSeries[], skip: number): Float64Array {
  // Each series is sorted: merge them pairwise (O(N log k)); aligned series
  // (the downsampled case) shrink to one grid at the first level.
  let lists: Float64Array[] = [];
  for (const s of series) if (s.length > skip) lists.push(s.ts.subarray(skip, s.length));
  if (lists.length === 0) return new Float64Array(0);
  if (lists.length === 1) return dedupeSorted(lists[0]!);
  while (lists.length > 1) {
    const next: Float64Array[] = [];
    for (let i = 0; i + 1 < lists.length; i += 2) next.push(mergeUnique(lists[i]!, lists[i + 1]!));
    if (lists.length % 2 === 1) next.push(lists[lists.length - 1]!);
    lists = next;
  }
  return lists[0]!;
}

function dedupeSorted(a: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (n === 0 || a[i] !== out[n - 1]) out[n++] = a[i]!;
  return out.subarray(0, n);
}

/** The sorted union (no duplicates) of two sorted arrays. */
function mergeUnique(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let n = 0;
  while (i < a.length || j < b.length) {
    let v: number;
    if (j >= b.length || (i < a.length && a[i]! < b[j]!)) v = a[i++]!;
    else if (i >= a.length || b[j]! < a[i]!) v = b[j++]!;
    else {
      v = a[i++]!;
      j++;
    }
    if (n === 0 || v !== out[n - 1]) out[n++] = v;
  }
  assert(n === 0 || out[0]! <= out[n - 1]!, 'merged timestamps are ascending');
  return out.subarray(0, n);
}

function emptyResult(length: number): AggregatedSeries {
  return { ts: new Float64Array(length), values: new Float64Array(length), isInteger: new Uint8Array(length), bigValues: null, length };
}

/** Exact int64 value of point j of a series (a number when within ±2^53). */
function longAt(s: GroupSeries, j: number): number | bigint {
  return s.bigInts !== null ? narrowInt64(s.bigInts[j]!) : s.values[j]!;
}

/** Java's long lerp, computed exactly (OpenTSDB's would overflow past 2^63). */
function lerpLong(s: GroupSeries, p: number, x: number): number | bigint {
  const x0 = s.ts[p]!;
  const x1 = s.ts[p + 1]!;
  const y0 = longAt(s, p);
  const y1 = longAt(s, p + 1);
  if (typeof y0 === 'number' && typeof y1 === 'number') {
    const dy = y1 - y0;
    if (dy <= MAX_SAFE && dy >= -MAX_SAFE) {
      const product = (x - x0) * dy;
      if (product <= MAX_SAFE && product >= -MAX_SAFE) return y0 + truncDiv(product, x1 - x0);
    }
  }
  const b0 = BigInt(y0);
  return narrowInt64(b0 + ((BigInt(x - x0) * (BigInt(y1) - b0)) / BigInt(x1 - x0)));
}

/** Aggregates series of values (no rate): see the file comment. */
export function aggregateValues(series: readonly GroupSeries[], agg: Aggregator): AggregatedSeries {
  const k = series.length;
  const union = unionTimestamps(series, 0);
  const out = emptyResult(union.length);
  out.ts.set(union);
  const ptr = new Int32Array(k).fill(-1);
  let groupAllInt = true;
  let groupAnyInt = false;
  for (const s of series) {
    assert(s.length > 0, 'empty series are dropped before aggregation');
    if (s.isInteger === null) {
      groupAllInt = false;
      continue;
    }
    let ints = 0;
    for (let j = 0; j < s.length; j++) ints += s.isInteger[j]!;
    if (ints < s.length) groupAllInt = false;
    if (ints > 0) groupAnyInt = true;
  }
  const doubles = new Float64Array(k);
  const nums = new Float64Array(k);
  const method = agg.interpolation;

  for (let u = 0; u < union.length; u++) {
    const x = union[u]!;
    for (let i = 0; i < k; i++) {
      const s = series[i]!;
      let p = ptr[i]!;
      while (p + 1 < s.length && s.ts[p + 1]! <= x) p++;
      ptr[i] = p;
    }
    let integer = groupAllInt;
    if (!groupAllInt && groupAnyInt) {
      integer = true;
      for (let i = 0; i < k && integer; i++) {
        const s = series[i]!;
        const last = s.length - 1;
        if (x > s.ts[last]!) continue; // finished: no longer looked at
        if (s.isInteger === null) integer = false;
        else {
          const p = ptr[i]!;
          if (p < 0) integer = s.isInteger[0] === 1;
          else integer = s.isInteger[p] === 1 && (p === last || s.isInteger[p + 1] === 1);
        }
      }
    }

    if (integer) {
      let n = 0;
      let bigs: bigint[] | null = null;
      for (let i = 0; i < k; i++) {
        const s = series[i]!;
        const p = ptr[i]!;
        if (p < 0 || x > s.ts[s.length - 1]!) continue;
        let v: number | bigint;
        if (s.ts[p] === x) v = longAt(s, p);
        else if (method === 'lerp') v = lerpLong(s, p, x);
        else if (method === 'zim') v = 0;
        else {
          // Long.MAX_VALUE under min / Long.MIN_VALUE under max never wins
          // against the real value every output timestamp has: skip it.
          assert((method === 'max' && agg.name === 'mimmin') || (method === 'min' && agg.name === 'mimmax'), 'max/min interpolation pairs with min/max');
          continue;
        }
        if (typeof v === 'bigint' && bigs === null) {
          bigs = [];
          for (let j = 0; j < n; j++) bigs.push(BigInt(nums[j]!));
        }
        nums[n] = Number(v);
        if (bigs !== null) bigs.push(BigInt(v));
        n++;
      }
      assert(n > 0, 'every output timestamp has at least one series with a point there');
      const result = agg.runLong({ n, nums, bigs });
      out.isInteger[u] = 1;
      if (typeof result === 'bigint') {
        out.values[u] = Number(result);
        (out.bigValues ??= new Map()).set(u, result);
      } else {
        out.values[u] = result;
      }
    } else {
      let n = 0;
      for (let i = 0; i < k; i++) {
        const s = series[i]!;
        const p = ptr[i]!;
        if (p < 0 || x > s.ts[s.length - 1]!) continue;
        const x0 = s.ts[p]!;
        if (x0 === x) {
          doubles[n++] = s.values[p]!;
        } else if (method === 'lerp') {
          const y0 = s.values[p]!;
          doubles[n++] = y0 + ((x - x0) * (s.values[p + 1]! - y0)) / (s.ts[p + 1]! - x0);
        } else if (method === 'zim') {
          doubles[n++] = 0;
        } else if (method === 'max') {
          doubles[n++] = Number.MAX_VALUE;
        } else {
          doubles[n++] = Number.MIN_VALUE;
        }
      }
      assert(n > 0, 'every output timestamp has at least one series with a point there');
      out.values[u] = agg.runDouble(doubles, 0, n);
    }
  }
  return out;
}

/** Aggregates per-series rates: see the file comment. */
export function aggregateRates(series: readonly GroupSeries[], agg: Aggregator): AggregatedSeries {
  const eligible = series.filter((s) => s.length >= 2);
  const k = eligible.length;
  const union = unionTimestamps(eligible, 1);
  const out = emptyResult(union.length);
  out.ts.set(union);
  const ptr = new Int32Array(k);
  const doubles = new Float64Array(k);
  for (let u = 0; u < union.length; u++) {
    const x = union[u]!;
    let n = 0;
    for (let i = 0; i < k; i++) {
      const s = eligible[i]!;
      if (x > s.ts[s.length - 1]!) continue;
      let p = ptr[i]!;
      while (p + 1 < s.length && s.ts[p + 1]! <= x) p++;
      ptr[i] = p;
      doubles[n++] = s.values[p]!;
    }
    assert(n > 0, 'every output timestamp has at least one series with a rate there');
    out.values[u] = agg.runDouble(doubles, 0, n);
  }
  return out;
}
