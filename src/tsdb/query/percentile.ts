// Percentile estimates as Apache Commons Math 3's Percentile computes them
// (OpenTSDB's p50..p999 and ep*r3/ep*r7 aggregators use it).
//   legacy (default): pos = p(n+1);   r3: pos = rint(np) (0 when p ≤ 0.5/n);
//   r7: pos = 1 + (n-1)p;   then pos < 1 → min, pos ≥ n → max, else
//   lower + (pos - floor(pos)) * (upper - lower) over the 1-based sorted values.

export type PercentileEstimation = 'legacy' | 'r3' | 'r7';

/**
 * The `quantile`-th percentile (0 < quantile ≤ 100) of values[0..n), which
 * must hold no NaN. Sorts `values` in place. NaN when n is 0.
 */
export function percentileOf(values: Float64Array, n: number, quantile: number, estimation: PercentileEstimation): number {
  if (n === 0) return Number.NaN;
  if (n === 1) return values[0]!;
  const sorted = values.subarray(0, n).sort();
  const p = quantile / 100;
  let pos: number;
  switch (estimation) {
    case 'legacy':
      pos = p === 0 ? 0 : p === 1 ? n : p * (n + 1);
      break;
    case 'r3':
      pos = p <= 0.5 / n ? 0 : rint(n * p);
      break;
    case 'r7':
      pos = p === 0 ? 0 : p === 1 ? n : 1 + (n - 1) * p;
      break;
  }
  if (pos < 1) return sorted[0]!;
  if (pos >= n) return sorted[n - 1]!;
  const floorPos = Math.floor(pos);
  const lower = sorted[floorPos - 1]!;
  const upper = sorted[floorPos]!;
  return lower + (pos - floorPos) * (upper - lower);
}

/** Java's Math.rint: round half to even. */
function rint(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff < 0.5) return f;
  if (diff > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}
