// Field checks shared by the WebSocket operations and the OpenTSDB HTTP
// endpoints: each bad field is a TsraftError whose message names it.
import { TsraftError } from '../errors.js';
import { MAX_CLIENT_ID_BYTES } from '../tsdb/command.js';
import { filterFromTagValue, makeFilterSpec } from '../tsdb/query/filters.js';
import type { TagFilterSpec } from '../tsdb/query/types.js';
import type { LookupQuery, LookupTag } from '../tsdb/series-index.js';
import type { Tags } from '../tsdb/types.js';
import { CONSISTENCIES, type Consistency, type LastQuery, type SubscriptionSpec, type WriteSession } from './service.js';

export function invalidArgument(field: string, message: string): TsraftError {
  return new TsraftError('TSR_ERR_INVALID_ARGUMENT', message, { details: { field } });
}

/** Untrusted input as short text for a message: never throws (String() of a
 *  null-prototype object does), never long. */
export function describeValue(value: unknown, maxChars = 64): string {
  if (typeof value === 'string') return value.length > maxChars ? `${value.slice(0, maxChars)}…` : value;
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return 'an array';
  if (ArrayBuffer.isView(value)) return 'a byte array';
  return `a ${typeof value === 'object' ? 'map' : typeof value}`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

export function readOptionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidArgument(field, `${field} must be a string`);
  return value;
}

export function readRequiredString(value: unknown, field: string): string {
  const s = readOptionalString(value, field);
  if (s === undefined || s === '') throw invalidArgument(field, `${field} is required`);
  return s;
}

/** A non-negative integer from a number or decimal text; `fallback` when absent. */
export function readCount(value: unknown, field: string, fallback: number, max: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = typeof value === 'string' && /^[0-9]{1,15}$/.test(value.trim()) ? Number(value.trim()) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw invalidArgument(field, `${field} must be a non-negative integer`);
  if (n > max) throw invalidArgument(field, `${field} must be at most ${max}, got ${n}`);
  return n;
}

export function parseConsistency(value: unknown): Consistency {
  if (value === undefined || value === null) return 'linearizable';
  if (typeof value !== 'string' || !(CONSISTENCIES as readonly string[]).includes(value)) {
    throw invalidArgument('consistency', `consistency must be one of ${CONSISTENCIES.join(', ')}`);
  }
  return value as Consistency;
}

/** The exactly-once identity of a put, or undefined for a write without one. */
export function parseSession(clientId: unknown, sequence: unknown, firstUnacked: unknown): WriteSession | undefined {
  if (clientId === undefined || clientId === null) {
    if (sequence !== undefined && sequence !== null) throw invalidArgument('seq', 'seq is given without clientId');
    return undefined;
  }
  if (typeof clientId !== 'string' || clientId.length === 0 || Buffer.byteLength(clientId, 'utf8') > MAX_CLIENT_ID_BYTES) {
    throw invalidArgument('clientId', `clientId must be a string of 1..${MAX_CLIENT_ID_BYTES} UTF-8 bytes`);
  }
  if (typeof sequence !== 'number' || !Number.isSafeInteger(sequence) || sequence < 1) throw invalidArgument('seq', 'seq must be an integer ≥ 1');
  const first = firstUnacked === undefined || firstUnacked === null ? sequence : firstUnacked;
  if (typeof first !== 'number' || !Number.isSafeInteger(first) || first < 1 || first > sequence) {
    throw invalidArgument('firstUnacked', 'firstUnacked must be an integer in [1, seq]');
  }
  return { clientId, sequence, firstUnackedSequence: first };
}

export type SuggestType = 'metrics' | 'tagk' | 'tagv';

export interface SuggestRequest {
  type: SuggestType;
  prefix: string;
  max: number;
}

/** /api/suggest parameters; messages follow OpenTSDB's SuggestRpc. */
export function parseSuggest(type: unknown, q: unknown, max: unknown, maxSuggest: number): SuggestRequest {
  if (type === undefined || type === null || type === '') throw invalidArgument('type', "Missing 'type' parameter");
  if (type !== 'metrics' && type !== 'tagk' && type !== 'tagv') throw invalidArgument('type', `Invalid 'type' parameter: ${describeValue(type)}`);
  const prefix = readOptionalString(q, 'q') ?? '';
  return { type, prefix, max: readCount(max, 'max', 25, maxSuggest) };
}

/** Splits `k=v,k2=v2` (no braces) into pairs. */
function parseTagPairs(body: string, field: string): LookupTag[] {
  if (body.trim() === '') return [];
  return body.split(',').map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1) throw invalidArgument(field, `invalid tag '${pair}' in ${field}: expected key=value`);
    return { key: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim() };
  });
}

/** `metric{k=v,k2=*}` (OpenTSDB /api/search/lookup's m). A missing metric,
 *  `*` or an empty one means every metric. */
export function parseLookupM(m: string, limit: number): LookupQuery {
  const open = m.indexOf('{');
  if (open < 0) return { metric: m.trim() === '' ? null : m.trim(), tags: [], limit };
  if (!m.endsWith('}')) throw invalidArgument('m', `Missing '}' at the end of: ${m}`);
  const metric = m.slice(0, open).trim();
  return { metric: metric === '' ? null : metric, tags: parseTagPairs(m.slice(open + 1, -1), 'm'), limit };
}

/** POST /api/search/lookup body: {metric, tags: [{key, value}], limit}. */
export function parseLookupBody(body: Record<string, unknown>, maxLookup: number): LookupQuery {
  const metric = readOptionalString(body.metric, 'metric');
  const tags: LookupTag[] = [];
  if (body.tags !== undefined && body.tags !== null) {
    if (!Array.isArray(body.tags)) throw invalidArgument('tags', 'tags must be an array of {key, value}');
    for (const [i, t] of body.tags.entries()) {
      if (!isPlainObject(t)) throw invalidArgument(`tags[${i}]`, `tags[${i}] must be an object {key, value}`);
      tags.push({ key: readOptionalString(t.key, `tags[${i}].key`) ?? '*', value: readOptionalString(t.value, `tags[${i}].value`) ?? '*' });
    }
  }
  return { metric: metric === undefined || metric === '' ? null : metric, tags, limit: readCount(body.limit, 'limit', 25, maxLookup) };
}

/** `metric{k=v,...}` of /api/query/last's `timeseries` parameter. */
export function parseLastTimeseries(text: string): LastQuery {
  const open = text.indexOf('{');
  const metric = (open < 0 ? text : text.slice(0, open)).trim();
  if (metric === '') throw invalidArgument('timeseries', `missing metric in '${text}'`);
  if (open < 0) return { metric, tags: {} };
  if (!text.endsWith('}')) throw invalidArgument('timeseries', `Missing '}' at the end of: ${text}`);
  const tags: Tags = {};
  for (const { key, value } of parseTagPairs(text.slice(open + 1, -1), 'timeseries')) tags[key] = value;
  return { metric, tags };
}

export function parseLastQueryObject(value: unknown, field: string): LastQuery {
  if (!isPlainObject(value)) throw invalidArgument(field, `${field} must be an object {metric, tags}`);
  const metric = readRequiredString(value.metric, `${field}.metric`);
  const tags: Tags = {};
  if (value.tags !== undefined && value.tags !== null) {
    if (!isPlainObject(value.tags)) throw invalidArgument(`${field}.tags`, `${field}.tags must be an object`);
    for (const [k, v] of Object.entries(value.tags)) tags[k] = readRequiredString(v, `${field}.tags.${k}`);
  }
  return { metric, tags };
}

/** A subscription: metric plus legacy `tags` (tag → filter value, as in
 *  /api/query) and/or `filters` ({type, tagk, filter}). */
export function parseSubscriptionSpec(msg: Record<string, unknown>): SubscriptionSpec {
  const metric = readRequiredString(msg.metric, 'metric');
  const filters: TagFilterSpec[] = [];
  if (msg.tags !== undefined && msg.tags !== null) {
    if (!isPlainObject(msg.tags)) throw invalidArgument('tags', 'tags must be an object of tag key to filter');
    for (const [k, v] of Object.entries(msg.tags)) filters.push(filterFromTagValue(k, readRequiredString(v, `tags.${k}`), false));
  }
  if (msg.filters !== undefined && msg.filters !== null) {
    if (!Array.isArray(msg.filters)) throw invalidArgument('filters', 'filters must be an array');
    for (const [i, f] of msg.filters.entries()) {
      if (!isPlainObject(f)) throw invalidArgument(`filters[${i}]`, `filters[${i}] must be an object {type, tagk, filter}`);
      filters.push(makeFilterSpec(readRequiredString(f.type, `filters[${i}].type`), readRequiredString(f.tagk, `filters[${i}].tagk`), readRequiredString(f.filter, `filters[${i}].filter`), false));
    }
  }
  if (filters.length > 64) throw invalidArgument('filters', 'at most 64 filters per subscription');
  const explicitTags = msg.explicitTags === true;
  return { metric, filters, explicitTags };
}
