// OpenTSDB's data model, checked point by point on the leader before a batch
// is encoded. Each bad point gets its own reason (field + reason code); the
// good points of the same request are still stored, as OpenTSDB's /api/put
// does. The rules follow OpenTSDB 2.x:
//
// - metric, tag keys and tag values: non-empty, only `a-z A-Z 0-9 - _ . /`
//   and Unicode letters, tested per UTF-16 unit as Java's
//   Character.isLetter(char) does (so letters outside the BMP are refused).
// - 1..8 tags per point.
// - timestamp: an integer > 0. Values that fit in 32 unsigned bits
//   (≤ 4,294,967,295) are seconds; larger values must lie in
//   [1,000,000,000,000, 9,999,999,999,999] and are milliseconds (OpenTSDB's
//   `(ts & SECOND_MASK) != 0` test). A telnet timestamp with a dot has its
//   dot removed first ("1234567890.123" → 1234567890123 ms), like OpenTSDB.
// - value: a string without `.`, `e`, `E` is an int64 ("42"); otherwise a
//   float64 ("4.2", "1e3"). A JS number that is integral and within int64 is
//   an int64, else a float64 (pass the source text as a string to keep "4.0"
//   a float). A bigint must be within int64. NaN and ±Infinity are refused.
//
// Units: names are bounded by MAX_NAME_LENGTH UTF-16 units; timestamps leave
// here as Unix milliseconds.
import { TsraftError, assert, type ErrorCode } from '../errors.js';
import { INT64_BOUNDS } from './byte-io.js';
import type { Tags } from './types.js';

export const MAX_TAGS_PER_POINT = 8;
/** Longest metric name, tag key or tag value, in UTF-16 units. */
export const MAX_NAME_LENGTH = 256;
/** Largest timestamp read as seconds: 2^32 − 1 (OpenTSDB's SECOND_MASK rule). */
export const MAX_SECONDS_TIMESTAMP = 0xffff_ffff;
export const MIN_MILLISECONDS_TIMESTAMP = 1_000_000_000_000;
export const MAX_MILLISECONDS_TIMESTAMP = 9_999_999_999_999;
/** Smallest stored timestamp: 1 s. */
export const MIN_TIMESTAMP_MS = 1000;
export const MAX_TIMESTAMP_MS = MAX_MILLISECONDS_TIMESTAMP;

export type PointField = 'metric' | 'timestamp' | 'value' | 'tags' | 'series';

/** Stable reason codes carried in `details.reason`. */
export type InvalidPointReason =
  | 'missing' // the field is absent or null
  | 'wrong_type' // e.g. a boolean metric, an array of tags
  | 'empty' // empty string
  | 'too_long' // longer than MAX_NAME_LENGTH
  | 'illegal_character' // outside OpenTSDB's character set
  | 'no_tags' // zero tags
  | 'too_many_tags' // more than MAX_TAGS_PER_POINT
  | 'not_an_integer' // timestamp with a fraction or non-digits
  | 'not_positive' // timestamp ≤ 0
  | 'out_of_range' // timestamp neither seconds nor milliseconds; integer beyond int64
  | 'not_a_number' // value text that parses as neither int64 nor float64
  | 'not_finite' // NaN or ±Infinity
  | 'series_limit' // apply time: a new series beyond the configured maximum
  | 'block_full'; // apply time: a time block of the series holds its maximum of points

/** One rejected point, shaped like TsraftError.toJSON() plus its index in the request. */
export interface PointError {
  index: number;
  code: ErrorCode;
  message: string;
  details: { field: PointField; reason: InvalidPointReason; tagKey?: string };
}

/** A point as it arrives from JSON or telnet, before any checking. */
export interface RawPoint {
  metric?: unknown;
  timestamp?: unknown;
  value?: unknown;
  tags?: unknown;
}

export interface ValidPoint {
  metric: string;
  tags: Tags;
  /** Canonical series key: `metric{k1=v1,k2=v2}`, tags sorted by key. */
  seriesKey: string;
  timestampMs: number;
  /** The value as float64 (exact for integers with |v| ≤ 2^53). */
  value: number;
  isInteger: boolean;
  /** The exact int64 when |value| > 2^53, else null. */
  bigInt: bigint | null;
}

export type PointCheck = { ok: true; point: ValidPoint } | { ok: false; error: PointError };

interface Failure {
  field: PointField;
  reason: InvalidPointReason;
  message: string;
  tagKey?: string;
}

// ---------------------------------------------------------------------------
// Names

const ASCII_ALLOWED = /^[A-Za-z0-9\-_./]*$/;
const LETTER = /^\p{L}$/u;

function isAllowedUnit(code: number): boolean {
  if ((code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) || (code >= 0x30 && code <= 0x39)) return true;
  if (code === 0x2d || code === 0x5f || code === 0x2e || code === 0x2f) return true;
  if (code < 0x80) return false;
  // Surrogate halves are not letters for Java's isLetter(char).
  if (code >= 0xd800 && code <= 0xdfff) return false;
  return LETTER.test(String.fromCharCode(code));
}

/** Why `name` is not a valid metric / tag key / tag value, or null when it is. */
export function checkName(name: unknown): { reason: InvalidPointReason; detail: string } | null {
  if (name === undefined || name === null) return { reason: 'missing', detail: 'is missing' };
  if (typeof name !== 'string') return { reason: 'wrong_type', detail: `must be a string, got ${typeof name}` };
  if (name.length === 0) return { reason: 'empty', detail: 'is empty' };
  if (name.length > MAX_NAME_LENGTH) return { reason: 'too_long', detail: `is ${name.length} characters long (max ${MAX_NAME_LENGTH})` };
  if (ASCII_ALLOWED.test(name)) return null;
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (!isAllowedUnit(code)) {
      return { reason: 'illegal_character', detail: `has illegal character ${JSON.stringify(name[i])} (U+${code.toString(16).toUpperCase().padStart(4, '0')}) at ${i}` };
    }
  }
  return null;
}

// ---------------------------------------------------------------------------
// Series keys

/** The canonical series key `metric{k1=v1,k2=v2}`, tags sorted by key (UTF-16
 *  order, which equals UTF-8 byte order since surrogates are refused). `{`,
 *  `}`, `=` and `,` cannot occur in valid names, so the key is unambiguous. */
export function seriesKeyOf(metric: string, tags: Tags): string {
  const keys = Object.keys(tags).sort();
  let key = metric + '{';
  for (let i = 0; i < keys.length; i++) {
    if (i > 0) key += ',';
    key += keys[i]! + '=' + tags[keys[i]!]!;
  }
  return key + '}';
}

/** Parses and checks a canonical series key; null when it is not one. */
export function parseSeriesKey(seriesKey: string): { metric: string; tags: Tags } | null {
  if (!seriesKey.endsWith('}')) return null;
  const open = seriesKey.indexOf('{');
  if (open <= 0) return null;
  const metric = seriesKey.slice(0, open);
  if (checkName(metric) !== null) return null;
  const body = seriesKey.slice(open + 1, -1);
  const pairs = body.length === 0 ? [] : body.split(',');
  if (pairs.length < 1 || pairs.length > MAX_TAGS_PER_POINT) return null;
  const entries: [string, string][] = [];
  let previousKey: string | null = null;
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 0) return null;
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (checkName(key) !== null || checkName(value) !== null) return null;
    if (previousKey !== null && !(previousKey < key)) return null; // sorted, no duplicates
    previousKey = key;
    entries.push([key, value]);
  }
  // fromEntries defines own properties, so a tag named "__proto__" stays a tag.
  return { metric, tags: Object.fromEntries(entries) };
}

// ---------------------------------------------------------------------------
// Timestamps

/** Converts an accepted OpenTSDB timestamp (seconds or milliseconds) to ms. */
function timestampToMs(ts: number): { ms: number } | { reason: InvalidPointReason; detail: string } {
  if (ts <= 0) return { reason: 'not_positive', detail: `must be positive, got ${ts}` };
  if (ts <= MAX_SECONDS_TIMESTAMP) return { ms: ts * 1000 };
  if (ts >= MIN_MILLISECONDS_TIMESTAMP && ts <= MAX_MILLISECONDS_TIMESTAMP) return { ms: ts };
  return {
    reason: 'out_of_range',
    detail: `${ts} is neither seconds (≤ ${MAX_SECONDS_TIMESTAMP}) nor milliseconds (${MIN_MILLISECONDS_TIMESTAMP}..${MAX_MILLISECONDS_TIMESTAMP})`,
  };
}

const SIGNED_DIGITS = /^[+-]?[0-9]+$/;

/** Parses an OpenTSDB timestamp to Unix ms, or says why it is refused. */
export function parseTimestampMs(raw: unknown): { ms: number } | { reason: InvalidPointReason; detail: string } {
  if (raw === undefined || raw === null) return { reason: 'missing', detail: 'is missing' };
  if (typeof raw === 'number') {
    if (!Number.isInteger(raw)) return { reason: 'not_an_integer', detail: `must be an integer, got ${raw}` };
    return timestampToMs(raw);
  }
  if (typeof raw === 'bigint') {
    if (raw > BigInt(MAX_MILLISECONDS_TIMESTAMP) || raw < -BigInt(MAX_MILLISECONDS_TIMESTAMP)) {
      return raw <= 0n ? { reason: 'not_positive', detail: `must be positive, got ${raw}` } : { reason: 'out_of_range', detail: `${raw} is too large` };
    }
    return timestampToMs(Number(raw));
  }
  if (typeof raw === 'string') {
    if (raw.length === 0) return { reason: 'empty', detail: 'is empty' };
    // OpenTSDB's telnet parser drops the dot: "1234567890.123" is 1234567890123 ms.
    const digits = raw.includes('.') ? raw.replaceAll('.', '') : raw;
    if (!SIGNED_DIGITS.test(digits)) return { reason: 'not_an_integer', detail: `must be an integer, got ${JSON.stringify(raw)}` };
    const big = BigInt(digits);
    if (big <= 0n) return { reason: 'not_positive', detail: `must be positive, got ${raw}` };
    if (big > BigInt(MAX_MILLISECONDS_TIMESTAMP)) return { reason: 'out_of_range', detail: `${raw} is too large` };
    return timestampToMs(Number(big));
  }
  return { reason: 'wrong_type', detail: `must be a number or a string, got ${typeof raw}` };
}

// ---------------------------------------------------------------------------
// Values

export interface ParsedValue {
  value: number;
  isInteger: boolean;
  bigInt: bigint | null;
}

const FLOAT_TEXT = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/;
const NON_FINITE_TEXT = /^[+-]?(NaN|Infinity|inf|infinity)$/i;
const TWO_POW_53 = 2 ** 53;

const TWO_POW_53_BIG = 2n ** 53n;

function integerValue(big: bigint): ParsedValue | { reason: InvalidPointReason; detail: string } {
  if (big < INT64_BOUNDS.min || big > INT64_BOUNDS.max) return { reason: 'out_of_range', detail: `${big} is outside int64` };
  // Compare the exact value: Number(2^53 + 1) rounds to 2^53, which would hide the need for the bigint.
  return { value: Number(big), isInteger: true, bigInt: big > TWO_POW_53_BIG || big < -TWO_POW_53_BIG ? big : null };
}

/** Parses an OpenTSDB value to int64 or float64, or says why it is refused. */
export function parseValue(raw: unknown): ParsedValue | { reason: InvalidPointReason; detail: string } {
  if (raw === undefined || raw === null) return { reason: 'missing', detail: 'is missing' };
  if (typeof raw === 'bigint') return integerValue(raw);
  if (typeof raw === 'number') {
    if (!Number.isFinite(raw)) return { reason: 'not_finite', detail: `must be finite, got ${raw}` };
    // 2^63 itself is a float64 but not an int64.
    if (Number.isInteger(raw) && raw >= -(2 ** 63) && raw < 2 ** 63) {
      return { value: raw, isInteger: true, bigInt: Math.abs(raw) > TWO_POW_53 ? BigInt(raw) : null };
    }
    return { value: raw, isInteger: false, bigInt: null };
  }
  if (typeof raw !== 'string') return { reason: 'wrong_type', detail: `must be a number or a string, got ${typeof raw}` };
  if (raw.length === 0) return { reason: 'empty', detail: 'is empty' };
  if (NON_FINITE_TEXT.test(raw)) return { reason: 'not_finite', detail: `must be finite, got ${JSON.stringify(raw)}` };
  // OpenTSDB's looksLikeInteger: no '.', 'e' or 'E' means an int64.
  if (!/[.eE]/.test(raw)) {
    if (!SIGNED_DIGITS.test(raw)) return { reason: 'not_a_number', detail: `${JSON.stringify(raw)} is not an integer` };
    return integerValue(BigInt(raw));
  }
  if (!FLOAT_TEXT.test(raw)) return { reason: 'not_a_number', detail: `${JSON.stringify(raw)} is not a number` };
  const value = Number(raw);
  if (!Number.isFinite(value)) return { reason: 'not_finite', detail: `${JSON.stringify(raw)} overflows float64` };
  return { value, isInteger: false, bigInt: null };
}

// ---------------------------------------------------------------------------
// Tags

function checkTags(raw: unknown): { tags: Tags } | Failure {
  if (raw === undefined || raw === null) return { field: 'tags', reason: 'missing', message: 'tags are missing (at least one tag is required)' };
  if (typeof raw !== 'object' || Array.isArray(raw)) return { field: 'tags', reason: 'wrong_type', message: 'tags must be an object of key → value' };
  const keys = Object.keys(raw);
  if (keys.length === 0) return { field: 'tags', reason: 'no_tags', message: 'at least one tag is required' };
  if (keys.length > MAX_TAGS_PER_POINT) {
    return { field: 'tags', reason: 'too_many_tags', message: `${keys.length} tags given, at most ${MAX_TAGS_PER_POINT} are allowed` };
  }
  const entries: [string, string][] = [];
  for (const key of keys) {
    const keyProblem = checkName(key);
    if (keyProblem !== null) return { field: 'tags', reason: keyProblem.reason, message: `tag key ${JSON.stringify(key)} ${keyProblem.detail}`, tagKey: key };
    const value = (raw as Record<string, unknown>)[key];
    const valueProblem = checkName(value);
    if (valueProblem !== null) {
      return { field: 'tags', reason: valueProblem.reason, message: `value of tag ${JSON.stringify(key)} ${valueProblem.detail}`, tagKey: key };
    }
    entries.push([key, value as string]);
  }
  // fromEntries defines own properties, so a tag named "__proto__" stays a tag.
  return { tags: Object.fromEntries(entries) };
}

// ---------------------------------------------------------------------------

function failure(index: number, f: Failure): PointCheck {
  const details: PointError['details'] = { field: f.field, reason: f.reason };
  if (f.tagKey !== undefined) details.tagKey = f.tagKey;
  return { ok: false, error: { index, code: 'TSR_ERR_INVALID_POINT', message: f.message, details } };
}

/** Checks one point. The first broken rule (metric, timestamp, value, tags,
 *  in that order) is the point's reason. */
export function validatePoint(raw: RawPoint, index = 0): PointCheck {
  if (raw === null || typeof raw !== 'object') {
    return failure(index, { field: 'metric', reason: 'wrong_type', message: 'a data point must be an object' });
  }
  const metricProblem = checkName(raw.metric);
  if (metricProblem !== null) return failure(index, { field: 'metric', reason: metricProblem.reason, message: `metric ${metricProblem.detail}` });
  const metric = raw.metric as string;

  const ts = parseTimestampMs(raw.timestamp);
  if (!('ms' in ts)) return failure(index, { field: 'timestamp', reason: ts.reason, message: `timestamp ${ts.detail}` });

  const value = parseValue(raw.value);
  if (!('value' in value)) return failure(index, { field: 'value', reason: value.reason, message: `value ${value.detail}` });

  const tags = checkTags(raw.tags);
  if (!('tags' in tags)) return failure(index, tags);

  assert(ts.ms >= MIN_TIMESTAMP_MS && ts.ms <= MAX_TIMESTAMP_MS, `accepted timestamp ${ts.ms} outside the stored range`);
  assert(Number.isFinite(value.value), 'accepted a non-finite value');
  return {
    ok: true,
    point: {
      metric,
      tags: tags.tags,
      seriesKey: seriesKeyOf(metric, tags.tags),
      timestampMs: ts.ms,
      value: value.value,
      isInteger: value.isInteger,
      bigInt: value.bigInt,
    },
  };
}

/** Something points can be added to (the write batch builder). */
export interface PointSink {
  readonly maxPoints: number;
  /** Adds a point; returns its position in the batch. */
  addPoint(seriesKey: string, timestampMs: number, value: number, isInteger: boolean, bigInt: bigint | null): number;
}

export interface ValidatedRequest {
  /** One entry per rejected point, in request order. */
  errors: PointError[];
  /** requestIndexes[batchPosition] = index of that point in the request, so
   *  apply-time errors (which name batch positions) map back to the request. */
  requestIndexes: Uint32Array;
}

/** Validates a request's points and adds the good ones to `sink`. A request
 *  larger than the sink's bound is refused whole (TSR_ERR_BATCH_TOO_LARGE)
 *  before anything is added. */
export function validatePoints(raws: readonly RawPoint[], sink: PointSink): ValidatedRequest {
  if (raws.length > sink.maxPoints) {
    throw new TsraftError('TSR_ERR_BATCH_TOO_LARGE', `request has ${raws.length} points, the limit is ${sink.maxPoints}`, {
      details: { limit: 'maxPoints', maxPoints: sink.maxPoints, points: raws.length },
    });
  }
  const errors: PointError[] = [];
  const requestIndexes = new Uint32Array(raws.length);
  let added = 0;
  for (let i = 0; i < raws.length; i++) {
    const check = validatePoint(raws[i]!, i);
    if (!check.ok) {
      errors.push(check.error);
      continue;
    }
    const p = check.point;
    const position = sink.addPoint(p.seriesKey, p.timestampMs, p.value, p.isInteger, p.bigInt);
    assert(position === added, `sink returned position ${position}, expected ${added}`);
    requestIndexes[added++] = i;
  }
  return { errors, requestIndexes: requestIndexes.subarray(0, added) };
}
