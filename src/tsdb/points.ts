// The columnar form points travel in, through apply, storage and queries.
// Typed arrays, not per-point objects: a 5,000-point batch is five arrays.
//
// OpenTSDB values are int64 or float64. `values` holds every value as a
// float64 (exact for integers with |v| ≤ 2^53). Integers beyond that keep
// their exact value in `bigInts` (allocated only when a column has one), so
// counters near 2^63 survive storage and rate computation exactly.

export interface PointColumns {
  length: number;
  /** Unix time in milliseconds (second-resolution points are multiples of 1000). */
  timestampsMs: Float64Array;
  values: Float64Array;
  /** 1 when the point's value is an int64, 0 for float64. */
  isInteger: Uint8Array;
  /** Exact int64 values, or null when every integer here fits in ±2^53.
   *  When non-null, bigInts[i] is meaningful where isInteger[i] === 1. */
  bigInts: BigInt64Array | null;
}

export function emptyColumns(length = 0): PointColumns {
  return {
    length,
    timestampsMs: new Float64Array(length),
    values: new Float64Array(length),
    isInteger: new Uint8Array(length),
    bigInts: null,
  };
}

/** The exact value of point i: a bigint for integers, a number for floats. */
export function exactValue(cols: PointColumns, i: number): number | bigint {
  if (cols.isInteger[i] === 1) {
    return cols.bigInts !== null ? cols.bigInts[i]! : BigInt(cols.values[i]!);
  }
  return cols.values[i]!;
}
