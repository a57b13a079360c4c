// The request/answer operations of the WebSocket protocol (docs/protocol.md):
// each checks its fields, calls the service and returns the `result` value.
// `subscribe` / `unsubscribe` live in ws-connection.ts (they hold connection
// state). More operations (the backup stream) are registered by the node.
import { TsraftError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { parseQueryBody, parseQueryParams, type QueryResultGroup, type TsdbQuery } from '../tsdb/query/index.js';
import type { RawPoint } from '../tsdb/validate.js';
import { forbidden, type Access } from './auth.js';
import type { ClientApiLimits } from './limits.js';
import {
  describeValue,
  invalidArgument,
  isPlainObject,
  parseConsistency,
  parseLastQueryObject,
  parseLookupBody,
  parseLookupM,
  parseSession,
  parseSuggest,
  readCount,
} from './requests.js';
import type { SeriesHandleTable } from './series-handles.js';
import type { ColumnarPoints, PointsInput, TsdbService } from './service.js';

export interface OperationContext {
  service: TsdbService;
  clock: Clock;
  limits: ClientApiLimits;
  access: Access;
  /** Sends a partial answer `{id, partial}` before the final one (streams). */
  sendPartial(value: unknown): void;
  /** Resolves once the connection's send buffer has drained below its bound. */
  drained(): Promise<void>;
  /** The series handles the client declared on this connection. */
  seriesHandles: SeriesHandleTable;
}

export type OperationHandler = (request: Record<string, unknown>, ctx: OperationContext) => Promise<unknown>;

/** The handles a put names its series by (seriesRefs, or seriesHandles with
 *  its keys), one per series; null when it names them otherwise. */
function handlesOfPut(msg: Record<string, unknown>): ArrayLike<unknown> | null {
  const handles = msg.seriesRefs ?? (msg.seriesKeys !== undefined ? msg.seriesHandles : undefined);
  return Array.isArray(handles) || ArrayBuffer.isView(handles) ? (handles as ArrayLike<unknown>) : null;
}

export function pointsOfPutRequest(msg: Record<string, unknown>, seriesHandles: SeriesHandleTable | null = null): PointsInput {
  if (msg.points !== undefined) {
    if (!Array.isArray(msg.points)) throw invalidArgument('points', 'points must be an array of {metric, timestamp, value, tags}');
    return { kind: 'objects', points: msg.points as RawPoint[] };
  }
  const handles = seriesHandles === null ? null : handlesOfPut(msg);
  // The series ids this connection's earlier puts resolved, for encodePut to use and fill in.
  const seriesIds = handles === null ? undefined : seriesHandles!.idHints(handles);
  if (msg.seriesRefs !== undefined) {
    const seriesKeys = seriesKeysOfRefs(msg.seriesRefs, (handle) => seriesHandles?.keyOf(handle));
    return { kind: 'columns', columns: { seriesKeys, seriesIds, seriesIndexes: msg.seriesIndexes, timestamps: msg.timestamps, values: msg.values } as ColumnarPoints };
  }
  if (msg.seriesHandles !== undefined && !(Array.isArray(msg.seriesHandles) || ArrayBuffer.isView(msg.seriesHandles))) {
    throw invalidArgument('seriesHandles', 'seriesHandles must be an array of integer handles, one per series key');
  }
  if (msg.series !== undefined || msg.seriesKeys !== undefined) {
    const ids = Array.isArray(msg.seriesKeys) && seriesIds !== undefined && seriesIds.length === msg.seriesKeys.length ? seriesIds : undefined;
    return {
      kind: 'columns',
      columns: { series: msg.series, seriesKeys: msg.seriesKeys, seriesIds: ids, seriesIndexes: msg.seriesIndexes, timestamps: msg.timestamps, values: msg.values } as ColumnarPoints,
    };
  }
  throw invalidArgument('points', 'a put needs points (objects) or series (or seriesKeys) + seriesIndexes + timestamps + values (columns)');
}

/** The keys of the series a put names by handle (declared earlier on the
 *  connection). An unknown handle refuses the whole put: the client then
 *  sends the keys again (docs/protocol.md, "put"). */
function seriesKeysOfRefs(refs: unknown, seriesKeyOfHandle: (handle: unknown) => string | undefined): string[] {
  if (!(Array.isArray(refs) || ArrayBuffer.isView(refs))) throw invalidArgument('seriesRefs', 'seriesRefs must be an array of series handles');
  const list = refs as ArrayLike<unknown>;
  const keys = new Array<string>(list.length);
  for (let k = 0; k < list.length; k++) {
    const key = seriesKeyOfHandle(list[k]);
    if (key === undefined) {
      throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `seriesRefs[${k}]: handle ${describeValue(list[k])} was not declared on this connection`, {
        details: { field: 'seriesRefs', reason: 'unknown_handle' },
      });
    }
    keys[k] = key;
  }
  return keys;
}

function pointCountOf(input: PointsInput): number {
  if (input.kind === 'objects') return input.points.length;
  const indexes = input.columns.seriesIndexes as unknown;
  return Array.isArray(indexes) || ArrayBuffer.isView(indexes) ? (indexes as ArrayLike<unknown>).length : 0;
}

async function put(msg: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
  if (ctx.access !== 'read-write') throw forbidden('put');
  const points = pointsOfPutRequest(msg, ctx.seriesHandles);
  const count = pointCountOf(points);
  if (count > ctx.limits.maxPointsPerPut) {
    throw new TsraftError('TSR_ERR_BATCH_TOO_LARGE', `put request has ${count} points, the limit is ${ctx.limits.maxPointsPerPut}`, {
      details: { limit: 'maxPointsPerPut', maxPointsPerPut: ctx.limits.maxPointsPerPut, actual: count },
    });
  }
  const session = parseSession(msg.clientId, msg.seq, msg.firstUnacked);
  const forwarded = msg.forwarded === true;
  try {
    return await ctx.service.put(points, session === undefined ? { forwarded } : { session, forwarded });
  } finally {
    // encodePut filled in the ids it resolved (and a stale one was taken out): keep them for the next put.
    const handles = handlesOfPut(msg);
    if (points.kind === 'columns' && points.columns.seriesIds !== undefined && handles !== null && points.columns.seriesKeys !== undefined) {
      ctx.seriesHandles.remember(handles, points.columns.seriesKeys as ArrayLike<unknown>, points.columns.seriesIds);
    }
  }
}

function queryOf(msg: Record<string, unknown>, nowMs: number): TsdbQuery {
  if (msg.query !== undefined) return parseQueryBody(msg.query, { nowMs });
  if (msg.m !== undefined) {
    const ms = Array.isArray(msg.m) ? msg.m : [msg.m];
    const params: Array<[string, string]> = [];
    for (const m of ms) {
      if (typeof m !== 'string') throw invalidArgument('m', 'm must be a string or an array of strings');
      params.push(['m', m]);
    }
    for (const key of ['start', 'end', 'timezone'] as const) {
      const v = msg[key];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'string' && typeof v !== 'number') throw invalidArgument(key, `${key} must be a string or a number`);
      params.push([key, String(v)]);
    }
    return parseQueryParams(params, { nowMs });
  }
  throw invalidArgument('query', 'a query needs `query` (an OpenTSDB /api/query body) or `m` (+ start, end)');
}

function wireValue(v: number | bigint | null): number | bigint | null {
  if (typeof v !== 'bigint') return v;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
}

/** Results as columns: timestamps in ms, values number | null (NaN kept), or a
 *  bigint for an int64 beyond ±2^53. */
export function resultsForWire(groups: readonly QueryResultGroup[]): unknown[] {
  return groups.map((g) => ({
    metric: g.metric,
    tags: g.tags,
    aggregateTags: g.aggregateTags,
    queryIndex: g.queryIndex,
    timestamps: g.dps.map((d) => d[0]),
    values: g.dps.map((d) => wireValue(d[1])),
  }));
}

async function query(msg: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
  const consistency = parseConsistency(msg.consistency);
  const q = queryOf(msg, ctx.clock.nowMs());
  const groups = await ctx.service.query(q, { consistency });
  return { results: resultsForWire(groups) };
}

async function suggest(msg: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
  const s = parseSuggest(msg.type, msg.q, msg.max, ctx.limits.maxSuggest);
  return ctx.service.suggest(s.type, s.prefix, s.max, { consistency: parseConsistency(msg.consistency) });
}

async function lookup(msg: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
  const consistency = parseConsistency(msg.consistency);
  const q =
    typeof msg.m === 'string'
      ? parseLookupM(msg.m, readCount(msg.limit, 'limit', 25, ctx.limits.maxLookup))
      : parseLookupBody(msg, ctx.limits.maxLookup);
  return ctx.service.lookup(q, { consistency });
}

async function last(msg: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
  if (!Array.isArray(msg.queries) || msg.queries.length === 0) throw invalidArgument('queries', 'queries must be a non-empty array of {metric, tags}');
  if (msg.queries.length > 1024) throw invalidArgument('queries', 'at most 1,024 queries per request');
  const queries = msg.queries.map((q, i) => parseLastQueryObject(q, `queries[${i}]`));
  const points = await ctx.service.last(queries, {
    consistency: parseConsistency(msg.consistency),
    backScanHours: readCount(msg.backScan, 'backScan', 0, 1_000_000),
    nowMs: ctx.clock.nowMs(),
  });
  return points.map((p) => ({ metric: p.metric, tags: p.tags, timestamp: p.timestampMs, value: p.value, tsuid: p.tsuid }));
}

async function status(_msg: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
  return ctx.service.status();
}

async function ping(): Promise<unknown> {
  return {};
}

export const BUILT_IN_OPERATIONS: ReadonlyMap<string, OperationHandler> = new Map<string, OperationHandler>([
  ['put', put],
  ['query', query],
  ['suggest', suggest],
  ['lookup', lookup],
  ['last', last],
  ['status', status],
  ['ping', ping],
]);

export { isPlainObject };
