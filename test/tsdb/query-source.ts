// A tiny in-memory SeriesSource for the query engine tests. Values given as
// bigint are int64 points, numbers are float64 points.
import type { PointColumns } from '../../src/tsdb/points.js';
import type { SeriesInfo, SeriesSource, Tags } from '../../src/tsdb/types.js';
import { executeQuery, parseQueryJson, parseQueryParams, type QueryResultGroup, type TsdbQuery } from '../../src/tsdb/query/index.js';

export type RawPoint = readonly [timestampMs: number, value: number | bigint];

export interface MemorySeries extends SeriesInfo {
  points: RawPoint[];
}

export class MemorySource implements SeriesSource {
  readonly series: MemorySeries[] = [];
  reads = 0;

  add(metric: string, tags: Tags, points: RawPoint[]): this {
    this.series.push({ id: this.series.length + 1, metric, tags, points: [...points] });
    return this;
  }

  seriesOfMetric(metric: string): readonly SeriesInfo[] {
    return this.series.filter((s) => s.metric === metric).map(({ id, metric: m, tags }) => ({ id, metric: m, tags }));
  }

  readPoints(seriesId: number, startMs: number, endMs: number): PointColumns {
    this.reads++;
    const s = this.series.find((x) => x.id === seriesId);
    if (s === undefined) throw new Error(`no series ${seriesId}`);
    // Sorted, one point per timestamp, the last write winning.
    const byTs = new Map<number, number | bigint>();
    for (const [ts, v] of s.points) if (ts >= startMs && ts <= endMs) byTs.set(ts, v);
    const ts = [...byTs.keys()].sort((a, b) => a - b);
    const length = ts.length;
    const cols: PointColumns = {
      length,
      timestampsMs: Float64Array.from(ts),
      values: new Float64Array(length),
      isInteger: new Uint8Array(length),
      bigInts: null,
    };
    ts.forEach((t, i) => {
      const v = byTs.get(t)!;
      cols.values[i] = Number(v);
      if (typeof v === 'bigint') {
        cols.isInteger[i] = 1;
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
          cols.bigInts ??= new BigInt64Array(length);
        }
      }
    });
    if (cols.bigInts !== null) ts.forEach((t, i) => (cols.bigInts![i] = typeof byTs.get(t) === 'bigint' ? (byTs.get(t) as bigint) : 0n));
    return cols;
  }
}

export const NOW_MS = 1_700_000_000_000;

/** Runs a JSON query body (an object, serialised) against a source. */
export function runJson(source: SeriesSource, body: object): QueryResultGroup[] {
  const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return executeQuery(parseQueryJson(text, { nowMs: NOW_MS }), source);
}

/** Runs a URL-style query: start and end in seconds, one m= string. */
export function runM(source: SeriesSource, start: number, end: number, m: string): QueryResultGroup[] {
  return executeQuery(parseQueryParams([['start', String(start)], ['end', String(end)], ['m', m]], { nowMs: NOW_MS }), source);
}

export function queryOf(start: number, end: number, m: string, extra: Array<[string, string]> = []): TsdbQuery {
  return parseQueryParams([['start', String(start)], ['end', String(end)], ['m', m], ...extra], { nowMs: NOW_MS });
}

/** The dps of the only group, as [seconds, value] pairs (easier to read in tests). */
export function dpsOf(groups: QueryResultGroup[]): Array<[number, number | bigint | null]> {
  if (groups.length !== 1) throw new Error(`expected one group, got ${groups.length}`);
  return groups[0]!.dps.map(([t, v]) => [t / 1000, v]);
}
