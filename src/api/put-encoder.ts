// Turns a put request (point objects or columns) into one encoded write batch
// plus the per-point validation errors, and later merges the apply result
// into the answer the client gets. Runs on the leader (or the single local
// node): followers forward the raw request instead.
//
// Columns are checked series by series: each distinct (metric, tags) is
// validated once, each point then only has its timestamp and value checked.
// The reported reason is the same as validatePoint's for the same point
// (rules checked in the order metric, timestamp, value, tags).
import { AssertionError, TsraftError, assert } from '../errors.js';
import type { ApplyResult } from '../tsdb/state-machine.js';
import {
  MAX_MILLISECONDS_TIMESTAMP,
  MAX_SECONDS_TIMESTAMP,
  MIN_MILLISECONDS_TIMESTAMP,
  parseTimestampMs,
  parseValue,
  parseSeriesKey,
  validatePoint,
  type InvalidPointReason,
  type PointError,
  type PointField,
  type RawPoint,
} from '../tsdb/validate.js';
import { SeriesIdSlots, WriteBatchBuilder, type SeriesIdResolver } from '../tsdb/write-batch.js';
import type { ColumnarPoints, PointsInput, PutResult } from './service.js';

export interface PutLimits {
  /** Points in one put request; default 50,000. */
  maxPointsPerPut: number;
  /** Distinct series in one put request; default 50,000. */
  maxSeriesPerPut: number;
  /** Encoded write batch bytes; default 4 MiB (one log entry). */
  maxBatchBytes: number;
  /** Rejected points listed in one answer (all are counted); default 100. */
  maxErrorsPerPut: number;
}

export const DEFAULT_PUT_LIMITS: Readonly<PutLimits> = Object.freeze({
  maxPointsPerPut: 50_000,
  maxSeriesPerPut: 50_000,
  maxBatchBytes: 4 * 1024 * 1024,
  maxErrorsPerPut: 100,
});

export interface EncodedPut {
  /** The encoded batch, or null when no point is valid. */
  batch: Uint8Array | null;
  /** Points in the request. */
  requestPoints: number;
  /** Valid points (in the batch). */
  batchPoints: number;
  /** Validation errors by request index, ascending, at most maxErrorsPerPut. */
  errors: PointError[];
  /** All validation failures (errors may list fewer). */
  invalidCount: number;
  /** requestIndexes[batchPosition] = request index of that point. */
  requestIndexes: Uint32Array;
}

function tooLarge(what: string, limit: keyof PutLimits, bound: number, actual: number): TsraftError {
  return new TsraftError('TSR_ERR_BATCH_TOO_LARGE', `put request has ${actual} ${what}, the limit is ${bound}`, {
    details: { limit, [limit]: bound, actual },
  });
}

function badRequest(message: string, field: string): TsraftError {
  return new TsraftError('TSR_ERR_INVALID_ARGUMENT', message, { details: { field } });
}

function pointError(index: number, field: PointField, reason: InvalidPointReason, message: string, tagKey?: string): PointError {
  const details: PointError['details'] = { field, reason };
  if (tagKey !== undefined) details.tagKey = tagKey;
  return { index, code: 'TSR_ERR_INVALID_POINT', message, details };
}

class ErrorList {
  readonly errors: PointError[] = [];
  count = 0;
  constructor(private readonly max: number) {}
  add(error: PointError): void {
    this.count++;
    if (this.errors.length < this.max) this.errors.push(error);
  }
}

/** Validates and encodes a put request. Throws TSR_ERR_BATCH_TOO_LARGE or
 *  TSR_ERR_INVALID_ARGUMENT for a request that is wrong as a whole.
 *  `seriesIdOf` (the proposing node's state machine) lets the batch refer to
 *  series that exist by id; a key it knows is valid, so it is not checked
 *  again. With it, `columns.seriesIds` (ids remembered for the keys: a key
 *  with an id was valid when it was found) are used as they are, and the ids
 *  resolved are written into it. Without it, seriesIds is ignored. */
export function encodePut(input: PointsInput, limits: PutLimits = DEFAULT_PUT_LIMITS, cache: SeriesCache | null = null, seriesIdOf: SeriesIdResolver | null = null): EncodedPut {
  const errors = new ErrorList(limits.maxErrorsPerPut);
  let requestPoints: number;
  if (input.kind === 'objects') {
    requestPoints = input.points.length;
    if (requestPoints > limits.maxPointsPerPut) throw tooLarge('points', 'maxPointsPerPut', limits.maxPointsPerPut, requestPoints);
  } else {
    requestPoints = checkColumnsShape(input.columns, limits);
  }
  // encodePut runs to completion before another starts: the cache's id slots serve one builder at a time.
  const builder = new WriteBatchBuilder({ maxPoints: limits.maxPointsPerPut, maxSeriesKeys: limits.maxSeriesPerPut, maxBytes: limits.maxBatchBytes }, requestPoints, seriesIdOf, cache?.idSlots ?? null);
  const requestIndexes = new Uint32Array(requestPoints);
  if (input.kind === 'objects') encodeObjects(input.points, builder, errors, requestIndexes, cache);
  else encodeColumns(input.columns, builder, errors, requestIndexes, cache, seriesIdOf);
  const batchPoints = builder.pointCount;
  if (!(batchPoints + errors.count === requestPoints)) throw new AssertionError(`put: ${batchPoints} valid + ${errors.count} invalid ≠ ${requestPoints} points`);
  const batch = batchPoints > 0 ? builder.encode() : null;
  return { batch, requestPoints, batchPoints, errors: errors.errors, invalidCount: errors.count, requestIndexes: requestIndexes.subarray(0, batchPoints) };
}

function encodeObjects(points: readonly RawPoint[], builder: WriteBatchBuilder, errors: ErrorList, requestIndexes: Uint32Array, cache: SeriesCache | null): void {
  for (let i = 0; i < points.length; i++) {
    const raw = points[i]!;
    if (cache !== null && typeof raw === 'object' && raw !== null) {
      const seriesKey = cache.lookup(raw.metric, raw.tags);
      if (seriesKey !== undefined) {
        // Known valid series: only the timestamp and the value are left to check.
        addChecked(i, { ok: true, seriesKey, seriesId: undefined, batchIndex: -1 }, raw.timestamp, raw.value, builder, errors, requestIndexes);
        continue;
      }
    }
    const check = validatePoint(raw, i);
    if (!check.ok) {
      errors.add(check.error);
      continue;
    }
    const p = check.point;
    cache?.remember(p.metric, raw.tags as object, p.seriesKey);
    const position = builder.addPoint(p.seriesKey, p.timestampMs, p.value, p.isInteger, p.bigInt);
    requestIndexes[position] = i;
  }
}

function isArrayLike(value: unknown): value is ArrayLike<unknown> {
  return Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
}

function checkColumnsShape(columns: ColumnarPoints, limits: PutLimits): number {
  const byKey = columns.seriesKeys !== undefined && columns.seriesKeys !== null;
  const seriesList: unknown = byKey ? columns.seriesKeys : columns.series;
  if (!Array.isArray(seriesList)) {
    throw badRequest(byKey ? 'seriesKeys must be an array of canonical series keys' : 'series must be an array of [metric, tags] pairs', byKey ? 'seriesKeys' : 'series');
  }
  for (const name of ['seriesIndexes', 'timestamps', 'values'] as const) {
    if (!isArrayLike(columns[name])) throw badRequest(`${name} must be an array`, name);
  }
  const n = columns.seriesIndexes.length;
  if (columns.timestamps.length !== n || columns.values.length !== n) {
    throw badRequest(`seriesIndexes, timestamps and values must have the same length (${n}, ${columns.timestamps.length}, ${columns.values.length})`, 'values');
  }
  if (n > limits.maxPointsPerPut) throw tooLarge('points', 'maxPointsPerPut', limits.maxPointsPerPut, n);
  const seriesCount = seriesList.length;
  if (seriesCount > limits.maxSeriesPerPut) throw tooLarge('series', 'maxSeriesPerPut', limits.maxSeriesPerPut, seriesCount);
  for (let i = 0; i < n; i++) {
    const k = columns.seriesIndexes[i];
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k >= seriesCount) {
      throw badRequest(`seriesIndexes[${i}] must be an integer index into ${byKey ? 'seriesKeys' : 'series'} (0..${seriesCount - 1})`, 'seriesIndexes');
    }
  }
  return n;
}

/** A request's series, checked once. `seriesId`: its id when the proposing
 *  node's state machine holds it (-1 when not, undefined when not asked);
 *  `batchIndex`: its index in the batch once a valid point added it (-1 before). */
type SeriesCheck = { ok: true; seriesKey: string; seriesId: number | undefined; batchIndex: number } | { ok: false; error: PointError };

/**
 * Series validated earlier, remembered by the (metric, tags) exactly as a
 * client sent them (tags in the order given), and canonical series keys
 * checked earlier. Clients write the same series again and again; a hit skips
 * the name checks and the canonical-key sort. Only valid series are kept.
 * (metric, tags) pairs are looked up through a trie of small maps — metric,
 * then tag key, tag value, … — so a lookup hashes the short strings the
 * client sent and builds no string. Bounded: cleared when full (a refill
 * costs one validation per series).
 */
export class SeriesCache {
  /** Scratch for the batch builder: series slots by id (write-batch.ts). */
  readonly idSlots = new SeriesIdSlots();
  private readonly root = new Map<string, TrieNode>();
  private readonly canonical = new Set<string>();
  private entries = 0;

  constructor(readonly maxEntries: number) {
    assert(Number.isSafeInteger(maxEntries) && maxEntries >= 0, `bad series cache size ${maxEntries}`);
  }

  get size(): number {
    return this.entries;
  }

  private makeRoom(): boolean {
    if (this.maxEntries === 0) return false;
    if (this.entries >= this.maxEntries) {
      this.root.clear();
      this.canonical.clear();
      this.entries = 0;
    }
    return true;
  }

  /** The canonical key of a (metric, tags) seen valid before, else undefined. */
  lookup(metric: unknown, tags: unknown): string | undefined {
    if (typeof metric !== 'string' || typeof tags !== 'object' || tags === null) return undefined;
    let node = this.root.get(metric);
    for (const k in tags) {
      if (node === undefined) return undefined;
      if (!Object.hasOwn(tags, k)) continue;
      const v = (tags as Record<string, unknown>)[k];
      if (typeof v !== 'string') return undefined;
      node = node.next?.get(k)?.next?.get(v);
    }
    return node?.seriesKey;
  }

  /** Remembers that (metric, tags), as sent, is the valid series `seriesKey`. */
  remember(metric: string, tags: object, seriesKey: string): void {
    if (!this.makeRoom()) return;
    let node = this.root.get(metric);
    if (node === undefined) this.root.set(metric, (node = { next: null, seriesKey: undefined }));
    for (const k in tags) {
      if (!Object.hasOwn(tags, k)) continue;
      const v = (tags as Record<string, unknown>)[k];
      if (typeof v !== 'string') return;
      node = child(child(node, k), v);
    }
    if (node.seriesKey === undefined) this.entries++;
    node.seriesKey = seriesKey;
  }

  /** Whether `seriesKey` was checked canonical and valid before. */
  hasKey(seriesKey: string): boolean {
    return this.canonical.has(seriesKey);
  }

  rememberKey(seriesKey: string): void {
    if (!this.makeRoom() || this.canonical.has(seriesKey)) return;
    this.canonical.add(seriesKey);
    this.entries++;
  }
}

interface TrieNode {
  next: Map<string, TrieNode> | null;
  seriesKey: string | undefined;
}

function child(node: TrieNode, part: string): TrieNode {
  node.next ??= new Map();
  let next = node.next.get(part);
  if (next === undefined) node.next.set(part, (next = { next: null, seriesKey: undefined }));
  return next;
}

function checkSeries(entry: unknown, cache: SeriesCache | null): SeriesCheck {
  if (!Array.isArray(entry) || entry.length !== 2) {
    return { ok: false, error: pointError(0, 'metric', 'wrong_type', 'a series must be a [metric, tags] pair') };
  }
  const known = cache?.lookup(entry[0], entry[1]);
  if (known !== undefined) return { ok: true, seriesKey: known, seriesId: undefined, batchIndex: -1 };
  // A valid timestamp and value, so the first failure is the metric's or the tags'.
  const check = validatePoint({ metric: entry[0], tags: entry[1], timestamp: 1, value: 0 });
  if (!check.ok) return { ok: false, error: check.error };
  cache?.remember(check.point.metric, entry[1] as object, check.point.seriesKey);
  return { ok: true, seriesKey: check.point.seriesKey, seriesId: undefined, batchIndex: -1 };
}

/** A canonical series key from a client: valid and canonical, or the
 *  reason validatePoint gives for its metric and tags. A key the state
 *  machine holds (`seriesIdOf`) was checked when its series was created. */
function checkSeriesKey(key: unknown, cache: SeriesCache | null, seriesIdOf: SeriesIdResolver | null): SeriesCheck {
  if (typeof key !== 'string') return { ok: false, error: pointError(0, 'series', 'wrong_type', 'a series key must be a string metric{k=v,...}') };
  if (seriesIdOf !== null) {
    const id = seriesIdOf(key);
    if (id !== undefined) return { ok: true, seriesKey: key, seriesId: id, batchIndex: -1 };
  }
  const seriesId = seriesIdOf === null ? undefined : -1;
  if (cache !== null && cache.hasKey(key)) return { ok: true, seriesKey: key, seriesId, batchIndex: -1 };
  if (key.length <= MAX_SERIES_KEY_CHARS && parseSeriesKey(key) !== null) {
    cache?.rememberKey(key);
    return { ok: true, seriesKey: key, seriesId, batchIndex: -1 };
  }
  // Not canonical: find the precise reason from its parts.
  const open = key.indexOf('{');
  const metric = open < 0 ? key : key.slice(0, open);
  const tags: Record<string, string> = {};
  if (open >= 0 && key.endsWith('}')) {
    for (const pair of key.slice(open + 1, -1).split(',')) {
      const eq = pair.indexOf('=');
      if (eq > 0) Object.defineProperty(tags, pair.slice(0, eq), { value: pair.slice(eq + 1), enumerable: true, configurable: true, writable: true });
    }
  }
  const check = validatePoint({ metric, tags, timestamp: 1, value: 0 });
  if (!check.ok) return { ok: false, error: check.error };
  return {
    ok: false,
    error: pointError(0, 'series', 'wrong_type', `series key ${JSON.stringify(key.slice(0, 200))} is not canonical (metric{k1=v1,k2=v2} with tags sorted by key, each key once)`),
  };
}

/** Longest series key checked, UTF-16 units (names are bounded, so valid keys are shorter). */
const MAX_SERIES_KEY_CHARS = 16 * 1024;

const TWO_POW_53 = 2 ** 53;
const TWO_POW_63 = 2 ** 63;

/** Checks point `i` of a series already checked (`s`) and adds it; the
 *  reason reported is validatePoint's (metric, timestamp, value, tags order). */
function addChecked(i: number, s: SeriesCheck, rawTs: unknown, rawValue: unknown, builder: WriteBatchBuilder, errors: ErrorList, requestIndexes: Uint32Array): void {
  if (!s.ok && s.error.details.field === 'metric') {
    errors.add({ ...s.error, index: i });
    return;
  }
  // Fast path: numbers already in range (OpenTSDB's seconds-or-milliseconds rule).
  let tsMs: number;
  if (typeof rawTs === 'number' && Number.isInteger(rawTs) && rawTs > 0 && rawTs <= MAX_SECONDS_TIMESTAMP) tsMs = rawTs * 1000;
  else if (typeof rawTs === 'number' && Number.isInteger(rawTs) && rawTs >= MIN_MILLISECONDS_TIMESTAMP && rawTs <= MAX_MILLISECONDS_TIMESTAMP) tsMs = rawTs;
  else {
    const ts = parseTimestampMs(rawTs);
    if (!('ms' in ts)) {
      errors.add(pointError(i, 'timestamp', ts.reason, `timestamp ${ts.detail}`));
      return;
    }
    tsMs = ts.ms;
  }
  let value: number;
  let isInteger: boolean;
  let bigInt: bigint | null = null;
  if (typeof rawValue === 'number' && Number.isFinite(rawValue) && Math.abs(rawValue) <= TWO_POW_53) {
    value = rawValue;
    isInteger = Number.isInteger(rawValue);
  } else {
    const parsed = parseValue(rawValue);
    if (!('value' in parsed)) {
      errors.add(pointError(i, 'value', parsed.reason, `value ${parsed.detail}`));
      return;
    }
    value = parsed.value;
    isInteger = parsed.isInteger;
    bigInt = parsed.bigInt;
    assert(!isInteger || Math.abs(value) < TWO_POW_63 || bigInt !== null, 'an integer value beyond int64 passed validation');
  }
  if (!s.ok) {
    errors.add({ ...s.error, index: i });
    return;
  }
  if (s.batchIndex < 0) s.batchIndex = builder.seriesIndexOf(s.seriesKey, s.seriesId);
  const position = builder.addPointOf(s.batchIndex, tsMs, value, isInteger, bigInt);
  requestIndexes[position] = i;
}

function encodeColumns(columns: ColumnarPoints, builder: WriteBatchBuilder, errors: ErrorList, requestIndexes: Uint32Array, cache: SeriesCache | null, seriesIdOf: SeriesIdResolver | null): void {
  let series: SeriesCheck[];
  if (columns.seriesKeys !== undefined && columns.seriesKeys !== null) {
    // Ids remembered from earlier puts are used only when ids are wanted at all.
    const known = seriesIdOf !== null && columns.seriesIds !== undefined && columns.seriesIds.length === columns.seriesKeys.length ? columns.seriesIds : null;
    series = columns.seriesKeys.map((key, k) => {
      const hint = known === null ? -1 : known[k]!;
      if (hint >= 0 && typeof key === 'string') return { ok: true, seriesKey: key, seriesId: hint, batchIndex: -1 };
      const check = checkSeriesKey(key, cache, seriesIdOf);
      if (known !== null && check.ok && check.seriesId !== undefined) known[k] = check.seriesId;
      return check;
    });
  } else {
    series = columns.series!.map((entry) => checkSeries(entry, cache));
  }
  const n = columns.seriesIndexes.length;
  for (let i = 0; i < n; i++) addChecked(i, series[columns.seriesIndexes[i] as number]!, columns.timestamps[i], columns.values[i], builder, errors, requestIndexes);
}

/** The batch to propose: the encoded one, or an empty batch when every point
 *  was invalid but the put carries a session (the session must still see
 *  this sequence, so a later write with a higher firstUnacked finds it). */
export function batchToPropose(encoded: EncodedPut, hasSession: boolean): Uint8Array | null {
  if (encoded.batch !== null || !hasSession) return encoded.batch;
  return new WriteBatchBuilder({ maxPoints: 1 }).encode();
}

/** The answer to a put: validation errors merged with what applying did. */
export function putResultOf(encoded: EncodedPut, applied: ApplyResult | null, maxErrors: number): PutResult {
  if (applied === null) {
    assert(encoded.batch === null, 'a batch was encoded but not applied');
    return { success: 0, failed: encoded.invalidCount, errors: encoded.errors, duplicate: false };
  }
  if (applied.kind === 'refused') {
    throw new TsraftError(applied.code, applied.message, { details: applied.details });
  }
  assert(applied.kind === 'write', `a put applied as ${applied.kind}`);
  // A duplicate answers with the cached outcome of the first attempt, which a
  // misbehaving client may have sent with other points: no invariant to check.
  if (!applied.duplicate) assert(applied.storedCount + applied.rejectedCount === encoded.batchPoints, 'apply result does not cover the batch');
  let errors = encoded.errors;
  if (applied.errors.length > 0) {
    const mapped = applied.errors.map((e) => ({ ...e, index: encoded.requestIndexes[e.index] ?? e.index }));
    errors = [...errors, ...mapped].sort((a, b) => a.index - b.index).slice(0, maxErrors);
  }
  return {
    success: applied.storedCount,
    failed: encoded.invalidCount + applied.rejectedCount,
    errors,
    duplicate: applied.duplicate,
  };
}
