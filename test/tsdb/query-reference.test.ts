// The engine equals a plain reference evaluator over random data and random
// queries. The reference below is written for obviousness, not speed: arrays
// of point objects, bigint for every integer, one step of OpenTSDB's
// pipeline per function (docs/query.md is the spec both follow).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { executeQuery } from '../../src/tsdb/query/engine.js';
import { parseQueryParams } from '../../src/tsdb/query/mquery.js';
import type { DataPointValue, QueryResultGroup, SubQuery, TagFilterSpec, TsdbQuery } from '../../src/tsdb/query/types.js';
import { MemorySource, type RawPoint } from './query-source.js';

// ---------------------------------------------------------------------------
// The reference evaluator
// ---------------------------------------------------------------------------

/** value is a bigint for an int64 point, a number for a double. */
interface Pt {
  ts: number;
  value: number | bigint;
}

interface RefSeries {
  id: number;
  metric: string;
  tags: Record<string, string>;
  points: Pt[];
}

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/** A deliberate mistake switched on to prove the comparison can fail. */
let plantedBug: 'none' | 'lerp-rounds' | 'query-window-only' | 'rate-from-second-point' = 'none';

function globMatch(pattern: string, text: string): boolean {
  if (pattern === '') return text === '';
  if (pattern[0] === '*') {
    for (let i = 0; i <= text.length; i++) if (globMatch(pattern.slice(1), text.slice(i))) return true;
    return false;
  }
  return text !== '' && pattern[0] === text[0] && globMatch(pattern.slice(1), text.slice(1));
}

function filterPasses(f: TagFilterSpec, value: string): boolean {
  const literals = f.filter.split('|');
  switch (f.type) {
    case 'literal_or':
      return literals.includes(value);
    case 'iliteral_or':
      return literals.map((l) => l.toLowerCase()).includes(value.toLowerCase());
    case 'not_literal_or':
      return !literals.includes(value);
    case 'not_iliteral_or':
      return !literals.map((l) => l.toLowerCase()).includes(value.toLowerCase());
    case 'wildcard':
      return globMatch(f.filter, value);
    case 'iwildcard':
      return globMatch(f.filter.toLowerCase(), value.toLowerCase());
    case 'regexp':
      return new RegExp(f.filter).test(value);
  }
}

function selected(sub: SubQuery, s: RefSeries): boolean {
  if (s.metric !== sub.metric) return false;
  for (const f of sub.filters) {
    if (!(f.tagk in s.tags)) return false;
    if (!filterPasses(f, s.tags[f.tagk]!)) return false;
  }
  if (sub.explicitTags) {
    const filterKeys = new Set(sub.filters.map((f) => f.tagk));
    const keys = Object.keys(s.tags);
    if (keys.length !== filterKeys.size || !keys.every((k) => filterKeys.has(k))) return false;
  }
  return true;
}

function canonical(tags: Record<string, string>): string {
  return Object.keys(tags)
    .sort()
    .map((k) => `${k}=${tags[k]}`)
    .join(',');
}

/** OpenTSDB's scan window: whole hours around the (interval aligned) query. */
function scanWindow(q: TsdbQuery, sub: SubQuery): [number, number] {
  const interval = sub.downsample !== null && !sub.downsample.all ? sub.downsample.intervalMs : 0;
  let start = Math.floor(q.startMs / 1000);
  if (interval > 0) start = start - Math.floor(((start * 1000) % interval) / 1000);
  start = start - (start % 3600);
  if (start < 0) start = 0;
  const end = Math.floor(q.endMs / 1000) + 1;
  let scanEnd;
  if (interval > 0) {
    let aligned = end + Math.floor((interval - ((end * 1000) % interval)) / 1000);
    if (aligned % 3600 !== 0) aligned = aligned + 3600 - (aligned % 3600);
    scanEnd = aligned;
  } else {
    scanEnd = end + 3600 - (end % 3600);
  }
  if (plantedBug === 'query-window-only') return [q.startMs, q.endMs + 1];
  return [start * 1000, scanEnd * 1000];
}

function percentile(values: number[], quantile: number, estimation: 'legacy' | 'r3' | 'r7'): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  if (n === 1) return values[0]!;
  const sorted = [...values].sort((a, b) => a - b);
  const p = quantile / 100;
  let pos;
  if (estimation === 'legacy') pos = p === 1 ? n : p * (n + 1);
  else if (estimation === 'r7') pos = p === 1 ? n : 1 + (n - 1) * p;
  else {
    const h = n * p;
    const floor = Math.floor(h);
    const rounded = h - floor === 0.5 ? (floor % 2 === 0 ? floor : floor + 1) : Math.round(h);
    pos = p <= 0.5 / n ? 0 : rounded;
  }
  if (pos < 1) return sorted[0]!;
  if (pos >= n) return sorted[n - 1]!;
  const lower = sorted[Math.floor(pos) - 1]!;
  const upper = sorted[Math.floor(pos)]!;
  return lower + (pos - Math.floor(pos)) * (upper - lower);
}

function percentileSpec(name: string): { quantile: number; estimation: 'legacy' | 'r3' | 'r7' } | null {
  const m = /^(e?)p(50|75|90|95|99|999)(r3|r7)?$/.exec(name);
  if (m === null) return null;
  const quantile = m[2] === '999' ? 99.9 : Number(m[2]);
  return { quantile, estimation: m[1] === 'e' ? (m[3] as 'r3' | 'r7') : 'legacy' };
}

function welfordDeviation(xs: number[]): number {
  let oldMean = xs[0]!;
  let n = 2;
  let m2 = 0;
  for (const x of xs.slice(1)) {
    const newMean = oldMean + (x - oldMean) / n;
    m2 += (x - oldMean) * (x - newMean);
    oldMean = newMean;
    n++;
  }
  return Math.sqrt(m2 / (n - 1));
}

/** OpenTSDB's runDouble. */
function aggDouble(name: string, values: number[]): number {
  const real = values.filter((v) => !Number.isNaN(v));
  const pct = percentileSpec(name);
  if (pct !== null) return percentile(real, pct.quantile, 'legacy');
  switch (name) {
    case 'sum':
    case 'zimsum':
      return real.length === 0 ? Number.NaN : real.reduce((a, b) => a + b, 0);
    case 'min':
    case 'mimmin': {
      let min = Number.POSITIVE_INFINITY;
      let first = true;
      for (const v of values) {
        if (first) min = Number.isNaN(v) ? Number.POSITIVE_INFINITY : v;
        else if (v < min) min = v;
        first = false;
      }
      return min === Number.POSITIVE_INFINITY ? Number.NaN : min;
    }
    case 'max':
    case 'mimmax': {
      let max = Number.NEGATIVE_INFINITY;
      let first = true;
      for (const v of values) {
        if (first) max = Number.isNaN(v) ? Number.NEGATIVE_INFINITY : v;
        else if (v > max) max = v;
        first = false;
      }
      return max === Number.NEGATIVE_INFINITY ? Number.NaN : max;
    }
    case 'avg':
      return real.length === 0 ? Number.NaN : real.reduce((a, b) => a + b, 0) / real.length;
    case 'dev':
      return real.length === 0 ? Number.NaN : real.length === 1 ? 0 : welfordDeviation(real);
    case 'count':
      return real.length;
    case 'first':
      return values[0]!;
    case 'last':
      return values[values.length - 1]!;
    case 'none':
      expect(values.length).toBe(1);
      return values[0]!;
  }
  throw new Error(`reference: unknown aggregator ${name}`);
}

/** Java's (long) cast of a double. */
function javaLong(d: number): bigint {
  if (Number.isNaN(d)) return 0n;
  if (d >= 2 ** 63) return INT64_MAX;
  if (d <= -(2 ** 63)) return INT64_MIN;
  return BigInt(Math.trunc(d));
}

/** OpenTSDB's runLong, in exact bigint arithmetic wrapped to int64. */
function aggLong(name: string, values: bigint[]): bigint {
  const pct = percentileSpec(name);
  if (pct !== null) return javaLong(percentile(values.map(Number), pct.quantile, pct.estimation));
  const sum = BigInt.asIntN(64, values.reduce((a, b) => a + b, 0n));
  switch (name) {
    case 'sum':
    case 'zimsum':
      return sum;
    case 'min':
    case 'mimmin':
      return values.reduce((a, b) => (b < a ? b : a));
    case 'max':
    case 'mimmax':
      return values.reduce((a, b) => (b > a ? b : a));
    case 'avg':
      return sum / BigInt(values.length);
    case 'dev':
      return values.length === 1 ? 0n : javaLong(welfordDeviation(values.map(Number)));
    case 'count':
      return BigInt(values.length);
    case 'first':
      return values[0]!;
    case 'last':
      return values[values.length - 1]!;
    case 'none':
      expect(values.length).toBe(1);
      return values[0]!;
  }
  throw new Error(`reference: unknown aggregator ${name}`);
}

function interpolationOf(name: string): 'lerp' | 'zim' | 'max' | 'min' {
  if (['zimsum', 'count', 'first', 'last', 'none'].includes(name)) return 'zim';
  if (name === 'mimmin') return 'max';
  if (name === 'mimmax') return 'min';
  return 'lerp';
}

function downsample(points: Pt[], sub: SubQuery, q: TsdbQuery, window: [number, number]): Pt[] {
  const spec = sub.downsample!;
  const asDoubles = (pts: Pt[]): number[] => pts.map((p) => Number(p.value));
  if (spec.all) {
    const inQuery = points.filter((p) => p.ts >= q.startMs && p.ts < q.endMs);
    return inQuery.length === 0 ? [] : [{ ts: q.startMs, value: aggDouble(spec.aggregator, asDoubles(inQuery)) }];
  }
  const interval = spec.intervalMs;
  const buckets = new Map<number, Pt[]>();
  for (const p of points) {
    const b = p.ts - (p.ts % interval);
    if (!buckets.has(b)) buckets.set(b, []);
    buckets.get(b)!.push(p);
  }
  if (spec.fill === 'none') {
    return [...buckets.keys()].sort((a, b) => a - b).map((b) => ({ ts: b, value: aggDouble(spec.aggregator, asDoubles(buckets.get(b)!)) }));
  }
  const out: Pt[] = [];
  const first = window[0] - (window[0] % interval);
  const end = window[1] - (window[1] % interval);
  for (let b = first; b < end; b += interval) {
    const inBucket = buckets.get(b);
    const empty = spec.fill === 'zero' ? 0 : Number.NaN;
    out.push({ ts: b, value: inBucket === undefined ? empty : aggDouble(spec.aggregator, asDoubles(inBucket)) });
  }
  return out;
}

function rate(points: Pt[], sub: SubQuery): Pt[] {
  const o = sub.rateOptions;
  const out: Pt[] = [];
  let prev: Pt = { ts: 0, value: 0n };
  if (plantedBug === 'rate-from-second-point' && points.length > 0) prev = points[0]!;
  for (const p of points) {
    if (p.ts <= prev.ts) {
      prev = p;
      continue;
    }
    const seconds = (p.ts - prev.ts) / 1000;
    const bothInt = typeof p.value === 'bigint' && typeof prev.value === 'bigint';
    const diff = bothInt ? Number(BigInt.asIntN(64, (p.value as bigint) - (prev.value as bigint))) : Number(p.value) - Number(prev.value);
    if (o.counter && diff < 0) {
      if (o.dropResets) {
        prev = p;
        continue;
      }
      const rolled = bothInt
        ? Number(BigInt.asIntN(64, o.counterMax - (prev.value as bigint) + (p.value as bigint)))
        : Number(o.counterMax) - Number(prev.value) + Number(p.value);
      let r = rolled / seconds;
      if (o.resetValue > 0n && r > Number(o.resetValue)) r = 0;
      out.push({ ts: p.ts, value: r });
    } else {
      out.push({ ts: p.ts, value: diff / seconds });
    }
    prev = p;
  }
  return out;
}

/** Index of the last point with ts ≤ x, or -1. */
function lastAtOrBefore(points: Pt[], x: number): number {
  let lo = 0;
  let hi = points.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid]!.ts <= x) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

function sortedUnion(lists: number[][]): number[] {
  return [...new Set(lists.flat())].sort((a, b) => a - b);
}

function aggregate(series: Pt[][], aggName: string, isRate: boolean): Array<{ ts: number; value: number | bigint }> {
  const out: Array<{ ts: number; value: number | bigint }> = [];
  if (isRate) {
    const eligible = series.filter((s) => s.length >= 2);
    for (const x of sortedUnion(eligible.map((s) => s.slice(1).map((p) => p.ts)))) {
      const values: number[] = [];
      for (const s of eligible) {
        if (x > s[s.length - 1]!.ts) continue;
        values.push(Number(s[Math.max(0, lastAtOrBefore(s, x))]!.value));
      }
      out.push({ ts: x, value: aggDouble(aggName, values) });
    }
    return out;
  }
  const method = interpolationOf(aggName);
  for (const x of sortedUnion(series.map((s) => s.map((p) => p.ts)))) {
    let integer = true;
    for (const s of series) {
      if (x > s[s.length - 1]!.ts) continue;
      const i = lastAtOrBefore(s, x);
      const prev = i >= 0 ? s[i] : undefined;
      const next = s[i + 1];
      if (prev !== undefined && typeof prev.value !== 'bigint') integer = false;
      if (next !== undefined && typeof next.value !== 'bigint') integer = false;
    }
    const ints: bigint[] = [];
    const doubles: number[] = [];
    for (const s of series) {
      if (x < s[0]!.ts || x > s[s.length - 1]!.ts) continue;
      const i = lastAtOrBefore(s, x);
      const p0 = s[i]!;
      if (p0.ts === x) {
        if (integer) ints.push(p0.value as bigint);
        else doubles.push(Number(p0.value));
        continue;
      }
      const p1 = s[i + 1]!;
      if (integer) {
        const y0 = p0.value as bigint;
        const y1 = p1.value as bigint;
        if (method === 'lerp' && plantedBug === 'lerp-rounds') {
          ints.push(y0 + BigInt(Math.round((Number(x - p0.ts) * Number(y1 - y0)) / (p1.ts - p0.ts))));
        } else if (method === 'lerp') ints.push(y0 + (BigInt(x - p0.ts) * (y1 - y0)) / BigInt(p1.ts - p0.ts));
        else if (method === 'zim') ints.push(0n);
        else if (method === 'max') ints.push(INT64_MAX);
        else ints.push(INT64_MIN);
      } else {
        const y0 = Number(p0.value);
        const y1 = Number(p1.value);
        if (method === 'lerp') doubles.push(y0 + ((x - p0.ts) * (y1 - y0)) / (p1.ts - p0.ts));
        else if (method === 'zim') doubles.push(0);
        else if (method === 'max') doubles.push(Number.MAX_VALUE);
        else doubles.push(Number.MIN_VALUE);
      }
    }
    out.push({ ts: x, value: integer ? aggLong(aggName, ints) : aggDouble(aggName, doubles) });
  }
  return out;
}

function referenceQuery(q: TsdbQuery, all: RefSeries[]): QueryResultGroup[] {
  const results: QueryResultGroup[] = [];
  for (const sub of q.queries) {
    const chosen = all
      .filter((s) => selected(sub, s))
      .sort((a, b) => (canonical(a.tags) < canonical(b.tags) ? -1 : canonical(a.tags) > canonical(b.tags) ? 1 : a.id - b.id));
    const groupKeys = [...new Set(sub.filters.filter((f) => f.groupBy).map((f) => f.tagk))].sort();
    const groups: RefSeries[][] = [];
    if (sub.aggregator === 'none') {
      for (const s of chosen) groups.push([s]);
    } else {
      const byKey = new Map<string, RefSeries[]>();
      for (const s of chosen) {
        const key = groupKeys.map((k) => s.tags[k] + '\u0000').join('');
        if (!byKey.has(key)) byKey.set(key, []);
        byKey.get(key)!.push(s);
      }
      for (const key of [...byKey.keys()].sort()) groups.push(byKey.get(key)!);
    }
    const window = scanWindow(q, sub);
    for (const members of groups) {
      const withData: RefSeries[] = [];
      const processed: Pt[][] = [];
      for (const s of members) {
        let pts = s.points.filter((p) => p.ts >= window[0] && p.ts < window[1]).sort((a, b) => a.ts - b.ts);
        if (pts.length === 0) continue;
        withData.push(s);
        if (sub.downsample !== null) pts = downsample(pts, sub, q, window);
        if (sub.rate) pts = rate(pts, sub);
        if (pts.length > 0) processed.push(pts);
      }
      if (withData.length === 0) continue;
      const dps: Array<[number, DataPointValue]> = [];
      for (const p of aggregate(processed, sub.aggregator, sub.rate)) {
        if (p.ts < q.startMs || p.ts > q.endMs) continue;
        const nullFill = sub.downsample !== null && sub.downsample.fill === 'null';
        dps.push([p.ts, typeof p.value === 'number' && Number.isNaN(p.value) && nullFill ? null : p.value]);
      }
      const keys = [...new Set(withData.flatMap((s) => Object.keys(s.tags)))].sort();
      const tags: Record<string, string> = {};
      const aggregateTags: string[] = [];
      for (const k of keys) {
        if (withData.every((s) => s.tags[k] === withData[0]!.tags[k])) tags[k] = withData[0]!.tags[k]!;
        else aggregateTags.push(k);
      }
      results.push({ metric: sub.metric, tags, aggregateTags, dps, queryIndex: sub.index });
    }
  }
  return results;
}

// ---------------------------------------------------------------------------
// Random data and queries
// ---------------------------------------------------------------------------

const BASE_MS = 1_700_000_000_000; // not on an hour boundary

const intArb = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt({ min: -1000n, max: 1000n }) },
  { weight: 1, arbitrary: fc.bigInt({ min: INT64_MAX - 1000n, max: INT64_MAX }) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(1n << 62n), max: 1n << 62n }) },
);
const doubleArb = fc.oneof(
  { weight: 3, arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }) },
  { weight: 1, arbitrary: fc.integer({ min: -50, max: 50 }) },
);

/** Offsets from BASE_MS (800 s past an hour): whole seconds over ~2 hours, some with milliseconds. */
const tsArb = fc.tuple(fc.integer({ min: -900, max: 3600 }), fc.constantFrom(0, 0, 0, 250, 999)).map(([sec, ms]) => BASE_MS + sec * 1000 + ms);

/** Points of one series: all int64, all double, or mixed. */
const pointsArb = fc.constantFrom('int', 'int', 'double', 'mixed').chain((kind) => {
  const value = kind === 'int' ? intArb : kind === 'double' ? doubleArb : fc.oneof(intArb, doubleArb);
  return fc.array(fc.tuple(tsArb, value as fc.Arbitrary<number | bigint>), { minLength: 0, maxLength: 60 });
});

const tagsArb = fc.record(
  { host: fc.constantFrom('a', 'b', 'Cc', 'abc'), dc: fc.constantFrom('x', 'y'), env: fc.constant('prod') },
  { requiredKeys: ['host'] },
);

const seriesArb = fc.record({
  metric: fc.constantFrom('m', 'm', 'm', 'n'),
  tags: tagsArb,
  points: pointsArb,
});

const datasetArb = fc.array(seriesArb, { minLength: 1, maxLength: 5 }).map((list) => {
  const seen = new Set<string>();
  return list.filter((s) => {
    const key = s.metric + '{' + canonical(s.tags as Record<string, string>) + '}';
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
});

const AGGS = ['sum', 'zimsum', 'min', 'max', 'mimmin', 'mimmax', 'avg', 'dev', 'count', 'first', 'last', 'none', 'p50', 'p90', 'p999', 'ep75r3', 'ep50r7'];
const DS_AGGS = AGGS.filter((a) => a !== 'none');

const downsampleArb = fc.option(
  fc
    .tuple(
      fc.constantFrom('1s', '10s', '1m', '7m', '1h', '250ms', '0all'),
      fc.constantFrom(...DS_AGGS),
      fc.constantFrom('', '', '-none', '-nan', '-null', '-zero'),
    )
    .map(([interval, agg, fill]) => ({ text: `${interval}-${agg}${fill}`, fills: fill !== '' && fill !== '-none', interval }))
    // A filled sub-second or 1s grid over hours makes the plain reference slow.
    .filter((d) => !(d.fills && (d.interval === '250ms' || d.interval === '1s'))),
  { nil: null, freq: 2 },
);

const rateArb = fc.option(fc.constantFrom('rate', 'rate{counter}', 'rate{counter,1000}', 'rate{counter,1000,5}', 'rate{dropcounter}', 'rate{counter,,100}'), { nil: null, freq: 2 });

const GROUP_FILTERS = ['host=*', 'dc=*', 'host=a|b', 'host=literal_or(a)', 'dc=not_literal_or(x)', 'host=wildcard(*c*)', 'host=C*', 'host=regexp(^[ab]$)', 'dc=iliteral_or(X)', 'env=*'];
const PLAIN_FILTERS = ['host=not_iliteral_or(CC)', 'dc=literal_or(y)', 'host=iwildcard(A*)', 'host=regexp(b)', 'env=wildcard(p*)'];

const queryArb = fc.record({
  startSec: fc.integer({ min: -1200, max: 3600 }),
  lengthMs: fc.oneof({ weight: 1, arbitrary: fc.integer({ min: 1, max: 120_000 }) }, { weight: 2, arbitrary: fc.integer({ min: 60_000, max: 3_600_000 }) }, { weight: 2, arbitrary: fc.integer({ min: 1000, max: 3 * 3_600_000 }) }),
  agg: fc.constantFrom(...AGGS),
  downsample: downsampleArb,
  rate: rateArb,
  groupBy: fc.oneof(fc.constant([]), fc.subarray(GROUP_FILTERS, { minLength: 1, maxLength: 2 })),
  plain: fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.subarray(PLAIN_FILTERS, { minLength: 1, maxLength: 1 }) }),
  explicitTags: fc.boolean().chain((b) => (b ? fc.boolean() : fc.constant(false))).chain((b) => (b ? fc.boolean() : fc.constant(false))),
  metric: fc.constantFrom('m', 'm', 'm', 'n'),
});

function buildQuery(r: QueryShape): { query: TsdbQuery; m: string } {
  const parts = [r.agg];
  if (r.downsample !== null) parts.push(r.downsample.text);
  if (r.rate !== null) parts.push(r.rate);
  if (r.explicitTags) parts.push('explicit_tags');
  const braces = r.plain.length > 0 ? `{${r.groupBy.join(',')}}{${r.plain.join(',')}}` : r.groupBy.length > 0 ? `{${r.groupBy.join(',')}}` : '';
  parts.push(r.metric + braces);
  const m = parts.join(':');
  const startMs = BASE_MS + r.startSec * 1000;
  const query = parseQueryParams(
    [
      ['start', `${startMs}`],
      ['end', `${startMs + r.lengthMs}`],
      ['m', m],
    ],
    { nowMs: BASE_MS + 86_400_000 },
  );
  return { query, m };
}

type QueryShape = {
  startSec: number;
  lengthMs: number;
  agg: string;
  downsample: { text: string } | null;
  rate: string | null;
  groupBy: string[];
  plain: string[];
  explicitTags: boolean;
  metric: string;
};

function toSources(data: Array<{ metric: string; tags: Record<string, string | undefined>; points: Array<[number, number | bigint]> }>): {
  source: MemorySource;
  reference: RefSeries[];
} {
  const source = new MemorySource();
  const reference: RefSeries[] = [];
  for (const s of data) {
    const tags = Object.fromEntries(Object.entries(s.tags).filter(([, v]) => v !== undefined)) as Record<string, string>;
    source.add(s.metric, tags, s.points as RawPoint[]);
    // One point per timestamp, the last write winning, like the store.
    const byTs = new Map<number, number | bigint>();
    for (const [ts, v] of s.points) byTs.set(ts, v);
    reference.push({ id: source.series.length, metric: s.metric, tags, points: [...byTs].map(([ts, value]) => ({ ts, value })) });
  }
  return { source, reference };
}

describe('the query engine against the reference evaluator', () => {
  it('agrees on random data and random queries', () => {
    fc.assert(
      fc.property(datasetArb, queryArb, (data, shape) => {
        const { source, reference } = toSources(data);
        const { query } = buildQuery(shape as QueryShape);
        expect(executeQuery(query, source)).toEqual(referenceQuery(query, reference));
      }),
      { numRuns: 1000 },
    );
  });

  it('agrees on aligned data where interpolation rarely happens', () => {
    const alignedTs = fc.integer({ min: -20, max: 100 }).map((i) => BASE_MS - (BASE_MS % 60_000) + i * 60_000);
    const aligned = fc.array(
      fc.record({ metric: fc.constant('m'), tags: tagsArb, points: fc.array(fc.tuple(alignedTs, fc.oneof(intArb, doubleArb) as fc.Arbitrary<number | bigint>), { maxLength: 30 }) }),
      { minLength: 1, maxLength: 6 },
    );
    fc.assert(
      fc.property(aligned, queryArb, (data, shape) => {
        const { source, reference } = toSources(data);
        const { query } = buildQuery({ ...(shape as QueryShape), metric: 'm' });
        expect(executeQuery(query, source)).toEqual(referenceQuery(query, reference));
      }),
      { numRuns: 200 },
    );
  });

  it.each(['lerp-rounds', 'query-window-only', 'rate-from-second-point'] as const)('the comparison catches a planted bug: %s', (bug) => {
    plantedBug = bug;
    try {
      const result = fc.check(
        fc.property(datasetArb, queryArb, (data, shape) => {
          const { source, reference } = toSources(data);
          const { query } = buildQuery(shape as QueryShape);
          expect(executeQuery(query, source)).toEqual(referenceQuery(query, reference));
        }),
        { numRuns: 2000, seed: 42 },
      );
      expect(result.failed).toBe(true);
    } finally {
      plantedBug = 'none';
    }
  });
});
