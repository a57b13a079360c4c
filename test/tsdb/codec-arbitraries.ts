// fast-check generators and exactness helpers shared by the codec and
// series-data tests: the shapes real series take (regular, jittered, second
// resolution, out of order, duplicated) and the values that break naive
// codecs (-0, subnormals, extremes, int64 limits, long equal runs, decimals).
import fc from 'fast-check';
import { expect } from 'vitest';
import { exactValue, type PointColumns } from '../../src/tsdb/points.js';

export const MAX_TS = 2 ** 48;
export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

/** Timestamp columns in the shapes real series take. */
export const timestampsArb: fc.Arbitrary<number[]> = fc.oneof(
  // Regular interval, ms or s resolution.
  fc
    .record({
      base: fc.integer({ min: 0, max: 2 ** 42 }),
      step: fc.constantFrom(1, 10, 1000, 10_000, 60_000, 15_000),
      n: fc.integer({ min: 1, max: 300 }),
    })
    .map(({ base, step, n }) => Array.from({ length: n }, (_, i) => base + i * step)),
  // Jittered around a regular grid, sometimes with missing points.
  fc
    .record({
      base: fc.integer({ min: 0, max: 2 ** 42 }),
      step: fc.constantFrom(1000, 10_000, 60_000),
      jitter: fc.array(fc.integer({ min: -500, max: 500 }), { minLength: 1, maxLength: 300 }),
      gaps: fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 5 }),
    })
    .map(({ base, step, jitter, gaps }) => jitter.map((j, i) => base + (i + gaps.filter((g) => g <= i).length) * step + j)),
  // Second resolution with irregular gaps.
  fc.array(fc.integer({ min: 0, max: 2 ** 30 }), { minLength: 1, maxLength: 200 }).map((xs) => xs.map((x) => x * 1000)),
  // Anything in range: out of order, duplicates, negative, extremes.
  fc.array(fc.oneof(fc.integer({ min: -MAX_TS, max: MAX_TS }), fc.constantFrom(-MAX_TS, MAX_TS, 0, 1, -1)), { minLength: 1, maxLength: 200 }),
  // Few distinct values: many duplicates, out of order.
  fc.array(fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_010 }), { minLength: 1, maxLength: 200 }),
);

/** Float values that stress the float paths. */
export const floatArb: fc.Arbitrary<number> = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(-0, 0, Number.MIN_VALUE, -Number.MIN_VALUE, 2.2250738585072014e-308, Number.MAX_VALUE, -Number.MAX_VALUE, 1e-300, 1e300, 0.1, 2 ** 53, -(2 ** 53)),
  fc.integer({ min: -1_000_000, max: 1_000_000 }).chain((m) => fc.integer({ min: 0, max: 6 }).map((e) => m / 10 ** e)),
);

/** Series of floats shaped like real gauges: decimals with few digits, walks, runs. */
export const floatSeriesArb: fc.Arbitrary<number[]> = fc.oneof(
  fc.array(floatArb, { minLength: 1, maxLength: 200 }),
  // Few-decimal random walk.
  fc
    .record({ start: fc.integer({ min: -100_000, max: 100_000 }), steps: fc.array(fc.integer({ min: -300, max: 300 }), { minLength: 1, maxLength: 300 }), e: fc.integer({ min: 0, max: 4 }) })
    .map(({ start, steps, e }) => {
      let m = start;
      return steps.map((s) => {
        m += s;
        return m / 10 ** e;
      });
    }),
  // Long runs of equal values.
  fc.array(fc.record({ v: floatArb, run: fc.integer({ min: 1, max: 100 }) }), { minLength: 1, maxLength: 6 }).map((runs) => runs.flatMap(({ v, run }) => Array<number>(run).fill(v))),
);

/** Exact int64 values, from small to the ±2^63 limits. */
export const int64Arb: fc.Arbitrary<bigint> = fc.oneof(
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.bigInt({ min: -1000n, max: 1000n }),
  fc.constantFrom(INT64_MIN, INT64_MAX, INT64_MIN + 1n, INT64_MAX - 1n, 0n, 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 2n ** 49n, 2n ** 49n + 1n),
);

/** Integer series: counters (increasing, sometimes resetting), near 2^63, runs. */
export const intSeriesArb: fc.Arbitrary<bigint[]> = fc.oneof(
  fc.array(int64Arb, { minLength: 1, maxLength: 200 }),
  fc
    .record({ start: fc.bigInt({ min: 0n, max: 2n ** 62n }), steps: fc.array(fc.bigInt({ min: 0n, max: 5_000_000n }), { minLength: 1, maxLength: 300 }) })
    .map(({ start, steps }) => {
      let v = start;
      return steps.map((s) => {
        v = v + s > INT64_MAX ? 0n : v + s;
        return v;
      });
    }),
  fc
    .record({ start: fc.bigInt({ min: 0n, max: 2n ** 40n }), steps: fc.array(fc.bigInt({ min: 0n, max: 3_000_000n }), { minLength: 1, maxLength: 300 }) })
    .map(({ start, steps }) => {
      let v = start;
      return steps.map((s) => (v += s * 10n));
    }),
);

export type PointSpec = { ts: number; value: number | bigint };

/** Columns from timestamps and values (bigint = integer point). */
export function columnsOf(points: readonly PointSpec[]): PointColumns {
  const n = points.length;
  const cols: PointColumns = {
    length: n,
    timestampsMs: new Float64Array(n),
    values: new Float64Array(n),
    isInteger: new Uint8Array(n),
    bigInts: null,
  };
  const needBig = points.some((p) => typeof p.value === 'bigint' && (p.value > 2n ** 53n || p.value < -(2n ** 53n)));
  if (needBig) cols.bigInts = new BigInt64Array(n);
  points.forEach((p, i) => {
    cols.timestampsMs[i] = p.ts;
    if (typeof p.value === 'bigint') {
      cols.values[i] = Number(p.value);
      cols.isInteger[i] = 1;
      if (cols.bigInts !== null) cols.bigInts[i] = p.value;
    } else {
      cols.values[i] = p.value;
    }
  });
  return cols;
}

/** Mixed points: timestamps zipped with floats and int64s. */
export const pointsArb: fc.Arbitrary<PointSpec[]> = fc
  .record({
    ts: timestampsArb,
    floats: floatSeriesArb,
    ints: intSeriesArb,
    mix: fc.constantFrom('floats', 'ints', 'both'),
    pattern: fc.array(fc.boolean(), { minLength: 1, maxLength: 50 }),
  })
  .map(({ ts, floats, ints, mix, pattern }) =>
    ts.map((t, i) => {
      const useInt = mix === 'ints' || (mix === 'both' && pattern[i % pattern.length]!);
      return { ts: t, value: useInt ? ints[i % ints.length]! : floats[i % floats.length]! };
    }),
  );

/** The point as a comparable tuple: exact value, with -0 kept apart from 0. */
export function describePoint(cols: PointColumns, i: number): [number, string] {
  const v = exactValue(cols, i);
  const text = typeof v === 'bigint' ? `int:${v}` : Object.is(v, -0) ? 'float:-0' : `float:${v}`;
  return [cols.timestampsMs[i]!, text];
}

/** Asserts two columns hold bit-identical points in the same order. */
export function expectSameColumns(actual: PointColumns, expected: PointColumns): void {
  expect(actual.length).toBe(expected.length);
  const a: [number, string][] = [];
  const e: [number, string][] = [];
  for (let i = 0; i < actual.length; i++) a.push(describePoint(actual, i));
  for (let i = 0; i < expected.length; i++) e.push(describePoint(expected, i));
  expect(a).toEqual(e);
  // Bit-level check of the float column too (NaN-free, so this is exact).
  expect(new Uint8Array(actual.values.buffer, actual.values.byteOffset, actual.length * 8)).toEqual(
    new Uint8Array(expected.values.buffer, expected.values.byteOffset, expected.length * 8),
  );
}
