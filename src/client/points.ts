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
  /** Canonical keys `metric{k1=v1,k2=v2}` (tags sorted), when every name is
   *  free of the separators { } = , — otherwise `series` pairs are sent. */
  seriesKeys?: string[];
  series?: Array<[string, Record<string, string>]>;
  seriesIndexes: Uint32Array;
  timestamps: Float64Array | Array<number | bigint | string>;
  values: Float64Array | Array<number | bigint | string>;
}

const SEPARATORS = /[{}=,]/;

/** The canonical series key, or null when a name holds a separator (such a
 *  name is invalid anyway; the pair form lets the node say why). */
export function canonicalSeriesKey(metric: string, tags: Record<string, string>): string | null {
  if (typeof metric !== 'string' || SEPARATORS.test(metric) || typeof tags !== 'object' || tags === null) return null;
  const keys = Object.keys(tags);
  if (keys.length > 1) keys.sort();
  let key = metric + '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const v = tags[k];
    if (typeof v !== 'string' || SEPARATORS.test(k) || SEPARATORS.test(v)) return null;
    if (i > 0) key += ',';
    key += k + '=' + v;
  }
  return key + '}';
}

function fallbackKey(metric: string, tags: Record<string, string>): string {
  const entries = typeof tags === 'object' && tags !== null ? Object.keys(tags).sort().map((k) => [k, tags[k]]) : [];
  return JSON.stringify([metric, entries]);
}

export function toColumns(points: readonly Point[]): PutColumns {
  const n = points.length;
  const seriesKeys: string[] = [];
  const series: Array<[string, Record<string, string>]> = [];
  const indexByKey = new Map<string, number>();
  const seriesIndexes = new Uint32Array(n);
  let canonical = true;
  let numericTimestamps = true;
  let numericValues = true;
  for (let i = 0; i < n; i++) {
    const p = points[i]!;
    const key = canonicalSeriesKey(p.metric, p.tags) ?? fallbackKey(p.metric, p.tags);
    let index = indexByKey.get(key);
    if (index === undefined) {
      index = series.length;
      if (key.startsWith('[')) canonical = false;
      series.push([p.metric, p.tags]);
      seriesKeys.push(key);
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
  return canonical ? { seriesKeys, seriesIndexes, timestamps, values } : { series, seriesIndexes, timestamps, values };
}
