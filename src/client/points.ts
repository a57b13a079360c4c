// Client-side point types and their conversion to the columnar put form
// (docs/protocol.md, "put"): each distinct series once, then one index,
// timestamp and value per point. Plain numbers travel as Float64Arrays (one
// copy, no per-point objects); bigints or strings force plain arrays.

/** A data point to write. `timestamp` follows OpenTSDB: ≤ 4,294,967,295 is
 *  seconds, larger is milliseconds (a Date is sent as milliseconds). A
 *  number `value` that is integral is stored as an int64, otherwise as a
 *  float64; pass a string ("4.0") to choose OpenTSDB's text rule, or a
 *  bigint for an exact int64. */
export interface Point {
  metric: string;
  tags: Record<string, string>;
  timestamp: number | bigint | string | Date;
  value: number | bigint | string;
}

export interface PutColumns {
  series: Array<[string, Record<string, string>]>;
  seriesIndexes: Uint32Array;
  timestamps: Float64Array | Array<number | bigint | string>;
  values: Float64Array | Array<number | bigint | string>;
}

function seriesKey(metric: string, tags: Record<string, string>): string {
  const keys = Object.keys(tags);
  if (keys.length > 1) keys.sort();
  let key = metric;
  for (const k of keys) key += '\u0000' + k + '\u0001' + tags[k];
  return key;
}

export function toColumns(points: readonly Point[]): PutColumns {
  const n = points.length;
  const series: Array<[string, Record<string, string>]> = [];
  const indexByKey = new Map<string, number>();
  const seriesIndexes = new Uint32Array(n);
  let numericTimestamps = true;
  let numericValues = true;
  for (let i = 0; i < n; i++) {
    const p = points[i]!;
    const key = seriesKey(p.metric, p.tags);
    let index = indexByKey.get(key);
    if (index === undefined) {
      index = series.length;
      series.push([p.metric, p.tags]);
      indexByKey.set(key, index);
    }
    seriesIndexes[i] = index;
    if (typeof p.timestamp !== 'number' && !(p.timestamp instanceof Date)) numericTimestamps = false;
    if (typeof p.value !== 'number') numericValues = false;
  }
  const timestampOf = (p: Point): number | bigint | string => (p.timestamp instanceof Date ? p.timestamp.getTime() : p.timestamp);
  let timestamps: PutColumns['timestamps'];
  if (numericTimestamps) {
    const column = new Float64Array(n);
    for (let i = 0; i < n; i++) column[i] = timestampOf(points[i]!) as number;
    timestamps = column;
  } else {
    timestamps = points.map(timestampOf);
  }
  let values: PutColumns['values'];
  if (numericValues) {
    const column = new Float64Array(n);
    for (let i = 0; i < n; i++) column[i] = points[i]!.value as number;
    values = column;
  } else {
    values = points.map((p) => p.value);
  }
  return { series, seriesIndexes, timestamps, values };
}
