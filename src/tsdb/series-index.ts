// The series index: canonical series key (metric + sorted tags) → dense id,
// metric → its series, and the inverted index tag key → tag value → series,
// for query filters, /api/suggest and /api/search/lookup.
//
// Ids are assigned in apply order and never reused, so every replica assigns
// the same id to the same series. Nothing here iterates a Map to produce
// output except where the Map's order is the id order (ids only grow, and a
// restore inserts in id order); names for suggest are sorted explicitly.
import { assert } from '../errors.js';
import { IdTable } from './id-table.js';
import type { SeriesInfo, Tags } from './types.js';

export type SuggestType = 'metrics' | 'tagk' | 'tagv';

/** One `key=value` condition of a lookup; '*' matches anything. */
export interface LookupTag {
  key: string;
  value: string;
}

export interface LookupQuery {
  /** A metric name, or null / '*' for every metric. */
  metric: string | null;
  tags: readonly LookupTag[];
  /** Most series returned; default 25 (OpenTSDB's default). */
  limit?: number;
}

export interface LookupResult {
  series: SeriesInfo[];
  /** Matches before the limit was applied. */
  totalResults: number;
}

/** A multiset of names with a lazily sorted view for prefix search. */
class NameSet {
  private readonly counts = new Map<string, number>();
  private sorted: string[] | null = null;

  add(name: string): void {
    const count = this.counts.get(name) ?? 0;
    if (count === 0) this.sorted = null;
    this.counts.set(name, count + 1);
  }

  remove(name: string): void {
    const count = this.counts.get(name);
    assert(count !== undefined && count > 0, `removing unknown name ${name}`);
    if (count === 1) {
      this.counts.delete(name);
      this.sorted = null;
    } else {
      this.counts.set(name, count - 1);
    }
  }

  get size(): number {
    return this.counts.size;
  }

  /** Names starting with `prefix`, in UTF-8 byte order (= UTF-16 order here,
   *  as names hold no surrogates), at most `max`. */
  withPrefix(prefix: string, max: number): string[] {
    if (this.sorted === null) this.sorted = [...this.counts.keys()].sort();
    const names = this.sorted;
    let lo = 0;
    let hi = names.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (names[mid]! < prefix) lo = mid + 1;
      else hi = mid;
    }
    const out: string[] = [];
    for (let i = lo; i < names.length && out.length < max && names[i]!.startsWith(prefix); i++) out.push(names[i]!);
    return out;
  }
}

function insertSortedId(ids: number[], id: number): void {
  // Ids are created in increasing order, so this is almost always a push.
  if (ids.length === 0 || ids[ids.length - 1]! < id) {
    ids.push(id);
    return;
  }
  const at = lowerBound(ids, id);
  assert(ids[at] !== id, `series ${id} indexed twice`);
  ids.splice(at, 0, id);
}

function lowerBound(ids: readonly number[], id: number): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class SeriesIndex {
  private readonly idByKey = new Map<string, number>();
  private readonly keyById = new IdTable<string>();
  private readonly infoById = new IdTable<SeriesInfo>();
  /** metric → its series, sorted by id. */
  private readonly byMetric = new Map<string, SeriesInfo[]>();
  /** tag key → tag value → series ids, sorted. */
  private readonly byTag = new Map<string, Map<string, number[]>>();
  private readonly metricNames = new NameSet();
  private readonly tagKeyNames = new NameSet();
  private readonly tagValueNames = new NameSet();
  private nextSeriesId: number;

  constructor(nextSeriesId = 0) {
    assert(Number.isSafeInteger(nextSeriesId) && nextSeriesId >= 0, `bad next series id ${nextSeriesId}`);
    this.nextSeriesId = nextSeriesId;
  }

  get size(): number {
    return this.infoById.size;
  }

  /** The id the next new series gets. */
  get nextId(): number {
    return this.nextSeriesId;
  }

  /** Raises the next id (restore: ids of removed series stay unused). */
  advanceNextId(nextSeriesId: number): void {
    assert(Number.isSafeInteger(nextSeriesId) && nextSeriesId >= this.nextSeriesId, `next series id ${nextSeriesId} below ${this.nextSeriesId}`);
    this.nextSeriesId = nextSeriesId;
  }

  idOf(seriesKey: string): number | undefined {
    return this.idByKey.get(seriesKey);
  }

  info(id: number): SeriesInfo | undefined {
    return this.infoById.get(id);
  }

  keyOf(id: number): string | undefined {
    return this.keyById.get(id);
  }

  /** Adds a new series (key already checked canonical) and returns its id.
   *  With `id` given (restore), it must be ≥ nextId. */
  add(seriesKey: string, metric: string, tags: Tags, id = this.nextSeriesId): SeriesInfo {
    assert(!this.idByKey.has(seriesKey), `series ${seriesKey} added twice`);
    assert(Number.isSafeInteger(id) && id >= this.nextSeriesId, `series id ${id} below next id ${this.nextSeriesId}`);
    const info: SeriesInfo = Object.freeze({ id, metric, tags: Object.freeze(tags) });
    this.nextSeriesId = id + 1;
    this.idByKey.set(seriesKey, id);
    this.keyById.set(id, seriesKey);
    this.infoById.set(id, info);
    let list = this.byMetric.get(metric);
    if (list === undefined) {
      list = [];
      this.byMetric.set(metric, list);
    }
    list.push(info); // ids only grow, so the list stays sorted
    this.metricNames.add(metric);
    for (const key of Object.keys(tags)) {
      const value = tags[key]!;
      let values = this.byTag.get(key);
      if (values === undefined) {
        values = new Map();
        this.byTag.set(key, values);
      }
      const ids = values.get(value);
      // A literal of one: a value only this series has (a host name, at high
      // cardinality the common case) then costs one element, not the 16 a
      // push onto an empty array reserves.
      if (ids === undefined) values.set(value, [id]);
      else insertSortedId(ids, id);
      this.tagKeyNames.add(key);
      this.tagValueNames.add(value);
    }
    return info;
  }

  /** Removes series (e.g. those retention emptied). Ids are not reused.
   *  Each affected list is filtered once, so removing many series of one
   *  metric or tag costs one pass, not one splice each. */
  removeAll(ids: readonly number[]): void {
    if (ids.length === 0) return;
    const removed = new Set<number>();
    const metrics = new Set<string>();
    const postings = new Map<string, Set<string>>();
    for (const id of ids) {
      const info = this.infoById.get(id);
      const key = this.keyById.get(id);
      assert(info !== undefined && key !== undefined && !removed.has(id), `removing unknown series ${id}`);
      removed.add(id);
      this.infoById.delete(id);
      this.keyById.delete(id);
      this.idByKey.delete(key);
      metrics.add(info.metric);
      this.metricNames.remove(info.metric);
      for (const tagKey of Object.keys(info.tags)) {
        const value = info.tags[tagKey]!;
        let values = postings.get(tagKey);
        if (values === undefined) {
          values = new Set();
          postings.set(tagKey, values);
        }
        values.add(value);
        this.tagKeyNames.remove(tagKey);
        this.tagValueNames.remove(value);
      }
    }
    for (const metric of metrics) {
      const kept = this.byMetric.get(metric)!.filter((info) => !removed.has(info.id));
      if (kept.length === 0) this.byMetric.delete(metric);
      else this.byMetric.set(metric, kept);
    }
    for (const [tagKey, values] of postings) {
      const byValue = this.byTag.get(tagKey)!;
      for (const value of values) {
        const kept = byValue.get(value)!.filter((id) => !removed.has(id));
        if (kept.length === 0) byValue.delete(value);
        else byValue.set(value, kept);
      }
      if (byValue.size === 0) this.byTag.delete(tagKey);
    }
    assert(this.idByKey.size === this.infoById.size, 'series maps out of step after removal');
  }

  /** Every series, in id order. */
  *all(): IterableIterator<SeriesInfo> {
    yield* this.infoById.values();
  }

  /** The series of one metric, sorted by id (empty when unknown). */
  seriesOfMetric(metric: string): readonly SeriesInfo[] {
    return this.byMetric.get(metric) ?? [];
  }

  /** Ids of the series with tag key=value, sorted (empty when none). */
  seriesWithTag(key: string, value: string): readonly number[] {
    return this.byTag.get(key)?.get(value) ?? [];
  }

  /** OpenTSDB /api/suggest: names of one kind starting with `prefix`, sorted,
   *  at most `max` (OpenTSDB's default is 25). */
  suggest(type: SuggestType, prefix: string, max = 25): string[] {
    assert(Number.isInteger(max) && max >= 0, `bad suggest max ${max}`);
    const names = type === 'metrics' ? this.metricNames : type === 'tagk' ? this.tagKeyNames : this.tagValueNames;
    return names.withPrefix(prefix, max);
  }

  /** OpenTSDB /api/search/lookup: series of `metric` (or of every metric)
   *  having every listed tag; '*' as a key or value matches any. Sorted by id. */
  lookup(query: LookupQuery): LookupResult {
    const limit = query.limit ?? 25;
    assert(Number.isInteger(limit) && limit >= 0, `bad lookup limit ${limit}`);
    const anyMetric = query.metric === null || query.metric === '*' || query.metric === '';
    // Start from the narrowest exact list we have, then filter.
    let candidates: Iterable<SeriesInfo> = anyMetric ? this.infoById.values() : this.seriesOfMetric(query.metric!);
    let candidateCount = anyMetric ? this.infoById.size : this.seriesOfMetric(query.metric!).length;
    for (const t of query.tags) {
      if (t.key === '*' || t.value === '*') continue;
      const ids = this.seriesWithTag(t.key, t.value);
      if (ids.length < candidateCount) {
        candidates = ids.map((id) => this.infoById.get(id)!);
        candidateCount = ids.length;
      }
    }
    const matches: SeriesInfo[] = [];
    let total = 0;
    for (const info of candidates) {
      if (!anyMetric && info.metric !== query.metric) continue;
      if (!query.tags.every((t) => tagMatches(info.tags, t))) continue;
      total++;
      if (matches.length < limit) matches.push(info);
    }
    return { series: matches, totalResults: total };
  }
}

function tagMatches(tags: Tags, t: LookupTag): boolean {
  if (t.key === '*') {
    if (t.value === '*') return true;
    return Object.keys(tags).some((k) => tags[k] === t.value);
  }
  if (!Object.prototype.hasOwnProperty.call(tags, t.key)) return false;
  return t.value === '*' || tags[t.key] === t.value;
}
