// Turns a put request (point objects or columns) into one encoded write batch
// plus the per-point validation errors, and later merges the apply result
// into the answer the client gets. Runs on the leader (or the single local
// node): followers forward the raw request instead.
//
// Columns are checked series by series: each distinct (metric, tags) is
// validated once, each point then only has its timestamp and value checked.
// The reported reason is the same as validatePoint's for the same point
// (rules checked in the order metric, timestamp, value, tags).
import { TsraftError, assert } from '../errors.js';
import type { ApplyResult } from '../tsdb/state-machine.js';
import { parseTimestampMs, parseValue, validatePoint, type InvalidPointReason, type PointError, type PointField, type RawPoint } from '../tsdb/validate.js';
import { WriteBatchBuilder } from '../tsdb/write-batch.js';
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
 *  TSR_ERR_INVALID_ARGUMENT for a request that is wrong as a whole. */
export function encodePut(input: PointsInput, limits: PutLimits = DEFAULT_PUT_LIMITS): EncodedPut {
  const builder = new WriteBatchBuilder({ maxPoints: limits.maxPointsPerPut, maxSeriesKeys: limits.maxSeriesPerPut, maxBytes: limits.maxBatchBytes });
  const errors = new ErrorList(limits.maxErrorsPerPut);
  let requestPoints: number;
  let requestIndexes: Uint32Array;
  if (input.kind === 'objects') {
    requestPoints = input.points.length;
    if (requestPoints > limits.maxPointsPerPut) throw tooLarge('points', 'maxPointsPerPut', limits.maxPointsPerPut, requestPoints);
    requestIndexes = new Uint32Array(requestPoints);
    encodeObjects(input.points, builder, errors, requestIndexes);
  } else {
    requestPoints = checkColumnsShape(input.columns, limits);
    requestIndexes = new Uint32Array(requestPoints);
    encodeColumns(input.columns, builder, errors, requestIndexes);
  }
  const batchPoints = builder.pointCount;
  assert(batchPoints + errors.count === requestPoints, `put: ${batchPoints} valid + ${errors.count} invalid ≠ ${requestPoints} points`);
  const batch = batchPoints > 0 ? builder.encode() : null;
  return { batch, requestPoints, batchPoints, errors: errors.errors, invalidCount: errors.count, requestIndexes: requestIndexes.subarray(0, batchPoints) };
}

function encodeObjects(points: readonly RawPoint[], builder: WriteBatchBuilder, errors: ErrorList, requestIndexes: Uint32Array): void {
  for (let i = 0; i < points.length; i++) {
    const check = validatePoint(points[i]!, i);
    if (!check.ok) {
      errors.add(check.error);
      continue;
    }
    const p = check.point;
    const position = builder.addPoint(p.seriesKey, p.timestampMs, p.value, p.isInteger, p.bigInt);
    requestIndexes[position] = i;
  }
}

function isArrayLike(value: unknown): value is ArrayLike<unknown> {
  return Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
}

function checkColumnsShape(columns: ColumnarPoints, limits: PutLimits): number {
  if (!Array.isArray(columns.series)) throw badRequest('series must be an array of [metric, tags] pairs', 'series');
  for (const name of ['seriesIndexes', 'timestamps', 'values'] as const) {
    if (!isArrayLike(columns[name])) throw badRequest(`${name} must be an array`, name);
  }
  const n = columns.seriesIndexes.length;
  if (columns.timestamps.length !== n || columns.values.length !== n) {
    throw badRequest(`seriesIndexes, timestamps and values must have the same length (${n}, ${columns.timestamps.length}, ${columns.values.length})`, 'values');
  }
  if (n > limits.maxPointsPerPut) throw tooLarge('points', 'maxPointsPerPut', limits.maxPointsPerPut, n);
  if (columns.series.length > limits.maxSeriesPerPut) throw tooLarge('series', 'maxSeriesPerPut', limits.maxSeriesPerPut, columns.series.length);
  const seriesCount = columns.series.length;
  for (let i = 0; i < n; i++) {
    const k = columns.seriesIndexes[i];
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k >= seriesCount) {
      throw badRequest(`seriesIndexes[${i}] must be an integer index into series (0..${seriesCount - 1})`, 'seriesIndexes');
    }
  }
  return n;
}

type SeriesCheck = { ok: true; seriesKey: string } | { ok: false; error: PointError };

function checkSeries(entry: unknown): SeriesCheck {
  if (!Array.isArray(entry) || entry.length !== 2) {
    return { ok: false, error: pointError(0, 'metric', 'wrong_type', 'a series must be a [metric, tags] pair') };
  }
  // A valid timestamp and value, so the first failure is the metric's or the tags'.
  const check = validatePoint({ metric: entry[0], tags: entry[1], timestamp: 1, value: 0 });
  return check.ok ? { ok: true, seriesKey: check.point.seriesKey } : { ok: false, error: check.error };
}

function encodeColumns(columns: ColumnarPoints, builder: WriteBatchBuilder, errors: ErrorList, requestIndexes: Uint32Array): void {
  const series = columns.series.map(checkSeries);
  const n = columns.seriesIndexes.length;
  for (let i = 0; i < n; i++) {
    const s = series[columns.seriesIndexes[i] as number]!;
    if (!s.ok && s.error.details.field === 'metric') {
      errors.add({ ...s.error, index: i });
      continue;
    }
    const ts = parseTimestampMs(columns.timestamps[i]);
    if (!('ms' in ts)) {
      errors.add(pointError(i, 'timestamp', ts.reason, `timestamp ${ts.detail}`));
      continue;
    }
    const value = parseValue(columns.values[i]);
    if (!('value' in value)) {
      errors.add(pointError(i, 'value', value.reason, `value ${value.detail}`));
      continue;
    }
    if (!s.ok) {
      errors.add({ ...s.error, index: i });
      continue;
    }
    const position = builder.addPoint(s.seriesKey, ts.ms, value.value, value.isInteger, value.bigInt);
    requestIndexes[position] = i;
  }
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
