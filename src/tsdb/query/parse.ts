// Parses and validates an OpenTSDB /api/query JSON body into a TsdbQuery.
// Every problem is a TSR_ERR_INVALID_QUERY whose message names the bad part;
// unknown fields are rejected (a misspelt "aggregater" would otherwise be a
// silent default), OpenTSDB options with no meaning here are accepted and
// ignored (docs/query.md lists them).
import { TsraftError } from '../../errors.js';
import { AGGREGATOR_NAMES, getAggregator } from './aggregators.js';
import { parseDownsample } from './downsample.js';
import { filterFromTagValue, makeFilterSpec } from './filters.js';
import { INT64_MAX, INT64_MIN, parseInt64 } from './int64.js';
import { parseJsonExact } from './json.js';
import { defaultRateOptions } from './rate.js';
import { parseQueryTime, validateTimezone } from './time.js';
import type { RateOptions, SubQuery, TagFilterSpec, TsdbQuery } from './types.js';

export interface QueryParseOptions {
  /** The instant relative times (1h-ago) count back from, Unix ms. */
  nowMs: number;
}

/** Most sub queries one request may carry. */
export const MAX_SUB_QUERIES = 64;
/** Most filters (tags included) one sub query may carry. */
export const MAX_FILTERS = 256;

export function invalidQuery(message: string, part: string): TsraftError {
  return new TsraftError('TSR_ERR_INVALID_QUERY', message, { details: { part } });
}

type JsonObject = { [key: string]: unknown };

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const TOP_FIELDS = new Set(['start', 'end', 'timezone', 'queries', 'msResolution', 'ms', 'showQuery', 'noAnnotations', 'delete']);
const TOP_IGNORED = new Set(['globalAnnotations', 'showTSUIDs', 'showSummary', 'showStats', 'padding', 'options', 'useCalendar']);
const SUB_FIELDS = new Set(['aggregator', 'metric', 'downsample', 'rate', 'rateOptions', 'filters', 'tags', 'explicitTags', 'tsuids']);
const SUB_IGNORED = new Set(['index', 'rollupUsage', 'preAggregate', 'useMultiGets', 'useFuzzyFilter', 'showHistogramBuckets', 'percentiles']);
const RATE_FIELDS = new Set(['counter', 'counterMax', 'resetValue', 'dropResets', 'interval']);

function checkFields(obj: JsonObject, known: Set<string>, ignored: Set<string>, where: string): void {
  for (const key of Object.keys(obj)) {
    if (!known.has(key) && !ignored.has(key)) throw invalidQuery(`Unknown field '${key}' in ${where}`, key);
  }
}

/** Reads a JSON boolean (Jackson also takes "true"/"false" strings). */
export function readBoolean(value: unknown, what: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw invalidQuery(`Invalid ${what}: expected true or false`, what);
}

function readString(value: unknown, what: string): string {
  if (typeof value !== 'string') throw invalidQuery(`Invalid ${what}: expected a string`, what);
  return value;
}

function readInt64(value: unknown, what: string): bigint {
  if (typeof value === 'bigint') {
    if (value > INT64_MAX || value < INT64_MIN) throw invalidQuery(`Invalid ${what} ${value}: outside the int64 range`, what);
    return value;
  }
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === 'string') {
    const parsed = parseInt64(value.trim());
    if (parsed !== null) return parsed;
  }
  throw invalidQuery(`Invalid ${what}: expected an int64 integer`, what);
}

/** Parses the text of a JSON /api/query body (integers stay exact). */
export function parseQueryJson(text: string, options: QueryParseOptions): TsdbQuery {
  return parseQueryBody(parseJsonExact(text), options);
}

/** Validates an already parsed /api/query body. */
export function parseQueryBody(body: unknown, options: QueryParseOptions): TsdbQuery {
  if (!isObject(body)) throw invalidQuery('The query body must be a JSON object', 'body');
  checkFields(body, TOP_FIELDS, TOP_IGNORED, 'the query');
  if (readBoolean(body.delete, 'delete')) throw invalidQuery('Deleting data through a query (delete: true) is not supported', 'delete');
  if (readBoolean(body.useCalendar, 'useCalendar')) throw invalidQuery('Calendar downsampling (useCalendar: true) is not supported', 'useCalendar');
  const queries = body.queries;
  if (!Array.isArray(queries) || queries.length === 0) throw invalidQuery('Missing queries: give at least one sub query', 'queries');
  if (queries.length > MAX_SUB_QUERIES) throw invalidQuery(`Too many sub queries: ${queries.length} > ${MAX_SUB_QUERIES}`, 'queries');
  const subQueries = queries.map((q, index) => parseSubQuery(q, index));
  return buildQuery(
    {
      start: body.start,
      end: body.end,
      timezone: body.timezone,
      msResolution: readBoolean(body.msResolution, 'msResolution') || readBoolean(body.ms, 'ms'),
      showQuery: readBoolean(body.showQuery, 'showQuery'),
      noAnnotations: readBoolean(body.noAnnotations, 'noAnnotations'),
    },
    subQueries,
    options,
  );
}

export interface QueryHeader {
  start: unknown;
  end: unknown;
  timezone: unknown;
  msResolution: boolean;
  showQuery: boolean;
  noAnnotations: boolean;
}

/** Resolves times and assembles a TsdbQuery (shared with the m= parser). */
export function buildQuery(header: QueryHeader, queries: SubQuery[], options: QueryParseOptions): TsdbQuery {
  let timezone: string | null = null;
  if (header.timezone !== undefined && header.timezone !== null && header.timezone !== '') {
    timezone = readString(header.timezone, 'timezone');
    validateTimezone(timezone);
  }
  if (header.start === undefined || header.start === null || header.start === '') throw invalidQuery('Missing start time', 'start');
  const timeOptions = { nowMs: options.nowMs, timezone };
  const startMs = parseQueryTime(header.start, 'start', timeOptions);
  const endMs = header.end === undefined || header.end === null || header.end === '' ? options.nowMs : parseQueryTime(header.end, 'end', timeOptions);
  if (endMs <= startMs) throw invalidQuery(`End time [${endMs}] must be greater than the start time [${startMs}]`, 'end');
  return {
    startMs,
    endMs,
    timezone,
    msResolution: header.msResolution,
    showQuery: header.showQuery,
    noAnnotations: header.noAnnotations,
    queries,
  };
}

function parseSubQuery(raw: unknown, index: number): SubQuery {
  const where = `queries[${index}]`;
  if (!isObject(raw)) throw invalidQuery(`Invalid ${where}: expected an object`, where);
  checkFields(raw, SUB_FIELDS, SUB_IGNORED, where);
  if (Array.isArray(raw.tsuids) && raw.tsuids.length > 0) throw invalidQuery(`Invalid ${where}: tsuids queries are not supported, query by metric`, 'tsuids');
  if (Array.isArray(raw.percentiles) && raw.percentiles.length > 0) throw invalidQuery(`Invalid ${where}: histogram percentiles are not supported`, 'percentiles');
  const filters: TagFilterSpec[] = [];
  if (raw.filters !== undefined && raw.filters !== null) {
    if (!Array.isArray(raw.filters)) throw invalidQuery(`Invalid ${where}.filters: expected an array`, 'filters');
    raw.filters.forEach((f, i) => filters.push(parseFilter(f, `${where}.filters[${i}]`)));
  }
  const tags = emptyTagMap();
  if (raw.tags !== undefined && raw.tags !== null) {
    if (!isObject(raw.tags)) throw invalidQuery(`Invalid ${where}.tags: expected an object of tag key to value`, 'tags');
    for (const [k, v] of Object.entries(raw.tags)) tags[k] = readString(v, `${where}.tags.${k}`);
  }
  let rateOptions = defaultRateOptions();
  let rateOptionsGiven = false;
  if (raw.rateOptions !== undefined && raw.rateOptions !== null) {
    rateOptions = parseRateOptions(raw.rateOptions, `${where}.rateOptions`);
    rateOptionsGiven = true;
  }
  return makeSubQuery({
    index,
    aggregator: raw.aggregator,
    metric: raw.metric,
    downsample: raw.downsample,
    rate: readBoolean(raw.rate, `${where}.rate`),
    rateOptions,
    rateOptionsGiven,
    filters,
    tags,
    explicitTags: readBoolean(raw.explicitTags, `${where}.explicitTags`),
  });
}

function parseFilter(raw: unknown, where: string): TagFilterSpec {
  if (!isObject(raw)) throw invalidQuery(`Invalid ${where}: expected an object`, 'filters');
  checkFields(raw, new Set(['type', 'tagk', 'filter', 'groupBy']), new Set(), where);
  const type = readString(raw.type, `${where}.type`);
  const tagk = readString(raw.tagk, `${where}.tagk`);
  const filter = readString(raw.filter, `${where}.filter`);
  return makeFilterSpec(type, tagk, filter, readBoolean(raw.groupBy, `${where}.groupBy`));
}

function parseRateOptions(raw: unknown, where: string): RateOptions {
  if (!isObject(raw)) throw invalidQuery(`Invalid ${where}: expected an object`, 'rateOptions');
  checkFields(raw, RATE_FIELDS, new Set(), where);
  if (raw.interval !== undefined && raw.interval !== null && raw.interval !== '1s') {
    throw invalidQuery(`Invalid ${where}.interval: only per-second rates (1s) are supported`, 'rateOptions');
  }
  const options = defaultRateOptions();
  options.counter = readBoolean(raw.counter, `${where}.counter`);
  options.dropResets = readBoolean(raw.dropResets, `${where}.dropResets`);
  if (raw.counterMax !== undefined && raw.counterMax !== null) options.counterMax = readInt64(raw.counterMax, `${where}.counterMax`);
  if (raw.resetValue !== undefined && raw.resetValue !== null) options.resetValue = readInt64(raw.resetValue, `${where}.resetValue`);
  return options;
}

export interface SubQueryParts {
  index: number;
  aggregator: unknown;
  metric: unknown;
  downsample: unknown;
  rate: boolean;
  rateOptions: RateOptions;
  rateOptionsGiven: boolean;
  /** Filters given as filters (JSON) or braces (m=). */
  filters: TagFilterSpec[];
  /** Legacy tags; converted to group-by filters here. */
  tags: Record<string, string>;
  explicitTags: boolean;
}

/** Validates the parts of a sub query and merges legacy tags into filters. */
export function makeSubQuery(parts: SubQueryParts): SubQuery {
  const where = `queries[${parts.index}]`;
  if (parts.aggregator === undefined || parts.aggregator === null || parts.aggregator === '') {
    throw invalidQuery(`Missing the aggregator in ${where}`, 'aggregator');
  }
  const aggregator = readString(parts.aggregator, `${where}.aggregator`).toLowerCase();
  if (getAggregator(aggregator) === undefined) {
    throw invalidQuery(`No such aggregator '${String(parts.aggregator)}' in ${where}: expected one of ${AGGREGATOR_NAMES.join(', ')}`, 'aggregator');
  }
  if (parts.metric === undefined || parts.metric === null || parts.metric === '') throw invalidQuery(`Missing the metric in ${where}`, 'metric');
  const metric = readString(parts.metric, `${where}.metric`);
  let downsample = null;
  if (parts.downsample !== undefined && parts.downsample !== null && parts.downsample !== '') {
    downsample = parseDownsample(readString(parts.downsample, `${where}.downsample`));
  }
  // Legacy tags group by every key (TagVFilter.tagsToFilters): an equal
  // filter already present only gains groupBy.
  const filters = parts.filters.slice();
  for (const [tagk, value] of Object.entries(parts.tags)) {
    const spec = filterFromTagValue(tagk, value, true);
    const same = filters.find((f) => f.type === spec.type && f.tagk === spec.tagk && f.filter === spec.filter);
    if (same !== undefined) same.groupBy = true;
    else filters.push(spec);
  }
  if (filters.length > MAX_FILTERS) throw invalidQuery(`Too many filters in ${where}: ${filters.length} > ${MAX_FILTERS}`, 'filters');
  return {
    index: parts.index,
    aggregator,
    metric,
    rate: parts.rate,
    rateOptions: parts.rateOptions,
    rateOptionsGiven: parts.rateOptionsGiven,
    downsample,
    filters,
    explicitTags: parts.explicitTags,
    tags: Object.assign(emptyTagMap(), parts.tags),
  };
}

/** A tag map without a prototype: a tag key such as `__proto__` stays data. */
export function emptyTagMap(): Record<string, string> {
  return Object.create(null) as Record<string, string>;
}
