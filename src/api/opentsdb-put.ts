// POST /api/put, as OpenTSDB 2.x answers it (PutDataPointRpc):
//   - body: one data point object or an array of them (gzip accepted);
//   - all stored, no flag        → 204, empty body;
//   - ?summary                   → 200 {"failed":0,"success":N}  (400 when any failed);
//   - ?details                   → 200/400 {"errors":[{"datapoint":{..},"error":".."}],"failed":F,"success":S};
//   - any failed, no flag        → 400 {"error":{"code":400,"message":"One or more data points had errors",...}};
//   - ?sync / sync_timeout are accepted and implied: we answer after commit.
// Numbers keep their source text, so "value": 42.0 is a float and 42 an
// int64, as in OpenTSDB (whose value field is a Java String). Bodies larger
// than maxPointsPerPut points are stored as several batches; a failure of
// any batch answers the request with that error (writes are idempotent:
// retrying rewrites the same points).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TsraftError } from '../errors.js';
import type { PointError, RawPoint } from '../tsdb/validate.js';
import { forbidden, type TokenAuth } from './auth.js';
import { JsonNumberText, readJson } from './json-reader.js';
import type { ClientApiLimits } from './limits.js';
import { describeValue } from './requests.js';
import { flag, readTextBody, requireAccess, runEndpoint, sendNoContent, sendOpenTsdbJson, sendOpenTsdbError } from './opentsdb-http-util.js';
import type { TsdbService } from './service.js';

export interface PutEndpointDeps {
  service: TsdbService;
  auth: TokenAuth;
  limits: ClientApiLimits;
}

function coerceName(value: unknown): unknown {
  if (value instanceof JsonNumberText) return value.text;
  // Jackson binds a JSON number to a String field by its text.
  return typeof value === 'number' ? String(value) : value;
}

/** A value as validatePoint reads it: plain numbers from the reader already
 *  mean what OpenTSDB means; a JsonNumberText (42.0, 1e3, beyond ±2^53)
 *  goes as its text, which validatePoint reads by OpenTSDB's text rule. */
function coerceValue(value: unknown): unknown {
  return value instanceof JsonNumberText ? value.text : value;
}

function coerceTimestamp(value: unknown): unknown {
  if (!(value instanceof JsonNumberText)) return value;
  if (!value.isInteger) return value.toNumber();
  const n = Number(value.text);
  return Number.isSafeInteger(n) ? n : BigInt(value.text);
}

/** A data point object from the literal-number JSON reader, as validatePoint expects it. */
export function rawPointOf(value: unknown): RawPoint {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value as RawPoint;
  const o = value as Record<string, unknown>;
  let tags: unknown = o.tags;
  if (typeof tags === 'object' && tags !== null && !Array.isArray(tags) && !(tags instanceof JsonNumberText)) {
    const copy: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(tags as Record<string, unknown>)) copy[k] = coerceName(v);
    tags = copy;
  }
  return { metric: coerceName(o.metric), timestamp: coerceTimestamp(o.timestamp), value: coerceValue(o.value), tags };
}

/** The data point as OpenTSDB echoes it in ?details (IncomingDataPoint's JSON). */
function echoPoint(raw: RawPoint): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null) return { metric: null, timestamp: 0, value: null, tags: null };
  const ts = raw.timestamp;
  return {
    metric: typeof raw.metric === 'string' ? raw.metric : raw.metric === undefined || raw.metric === null ? null : describeValue(raw.metric),
    timestamp: typeof ts === 'number' ? ts : typeof ts === 'bigint' ? Number(ts) : typeof ts === 'string' && /^[0-9]+$/.test(ts) ? Number(ts) : 0,
    value: typeof raw.value === 'string' ? raw.value : raw.value === undefined || raw.value === null ? null : describeValue(raw.value),
    tags: typeof raw.tags === 'object' && raw.tags !== null && !Array.isArray(raw.tags) ? raw.tags : null,
  };
}

export function parsePutBody(text: string, limits: ClientApiLimits): RawPoint[] {
  let parsed: unknown;
  try {
    parsed = readJson(text, { numbers: 'literal', maxChars: limits.maxHttpBodyBytes, maxDepth: 16 });
  } catch (error) {
    if (error instanceof TsraftError) {
      throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `Unable to parse the given JSON: ${error.message}`, { details: { field: 'body' } });
    }
    throw error;
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  if (list.length === 0 || (list.length === 1 && (list[0] === null || typeof list[0] !== 'object'))) {
    throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', 'No datapoints found in content', { details: { field: 'body' } });
  }
  return list.map(rawPointOf);
}

export interface PutOutcome {
  success: number;
  failed: number;
  errors: PointError[];
}

/** Stores points in batches of at most maxPointsPerPut (no session: at-least-once). */
export async function putInBatches(service: TsdbService, points: readonly RawPoint[], maxPointsPerPut: number, maxErrors: number): Promise<PutOutcome> {
  const outcome: PutOutcome = { success: 0, failed: 0, errors: [] };
  for (let start = 0; start < points.length; start += maxPointsPerPut) {
    const chunk = points.slice(start, start + maxPointsPerPut);
    const result = await service.put({ kind: 'objects', points: chunk });
    outcome.success += result.success;
    outcome.failed += result.failed;
    for (const e of result.errors) if (outcome.errors.length < maxErrors) outcome.errors.push({ ...e, index: e.index + start });
  }
  return outcome;
}

export async function handlePut(req: IncomingMessage, res: ServerResponse, url: URL, deps: PutEndpointDeps): Promise<void> {
  await runEndpoint(res, async () => {
    if (req.method !== 'POST') {
      req.resume();
      throw new TsraftError('TSR_ERR_METHOD_NOT_ALLOWED', 'Method not allowed', { details: { method: req.method ?? '' } });
    }
    if (requireAccess(deps.auth, req, url) !== 'read-write') throw forbidden('put');
    const points = parsePutBody(await readTextBody(req, deps.limits.maxHttpBodyBytes), deps.limits);
    const showDetails = flag(url, 'details');
    const showSummary = flag(url, 'summary');
    const outcome = await putInBatches(deps.service, points, deps.limits.maxPointsPerPut, deps.limits.maxErrorsPerPut);
    if (!showDetails && !showSummary) {
      if (outcome.failed === 0) {
        sendNoContent(res);
        return;
      }
      const first = outcome.errors[0];
      sendOpenTsdbError(
        res,
        new TsraftError('TSR_ERR_INVALID_POINT', 'One or more data points had errors', {
          details: { failed: outcome.failed, success: outcome.success, firstError: first === undefined ? null : { index: first.index, message: first.message } },
        }),
      );
      return;
    }
    let body = '{';
    if (showDetails) {
      const errors = outcome.errors.map((e) => ({ datapoint: echoPoint(points[e.index]!), error: e.message }));
      body += `"errors":${JSON.stringify(errors)},`;
    }
    body += `"failed":${outcome.failed},"success":${outcome.success}}`;
    sendOpenTsdbJson(res, outcome.failed > 0 ? 400 : 200, body);
  });
}
