// GET/POST /api/query and /api/query/last, answered as OpenTSDB 2.4 writes
// them (HttpJsonSerializer): see docs/http-api.md. Reads are linearizable
// unless `?consistency=stale` (or `"consistency": "stale"` in a POST body).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TsraftError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { formatJavaDouble, parseQueryBody, parseQueryParams, renderQueryResults, type QueryResultGroup, type TsdbQuery } from '../tsdb/query/index.js';
import { readJson } from './json-reader.js';
import type { ClientApiLimits } from './limits.js';
import { flag, readTextBody, requireAccess, runEndpoint, sendOpenTsdbJson } from './opentsdb-http-util.js';
import { invalidArgument, isPlainObject, parseConsistency, parseLastQueryObject, parseLastTimeseries, readCount } from './requests.js';
import type { Consistency, LastPoint, TsdbService } from './service.js';
import type { TokenAuth } from './auth.js';

export interface QueryEndpointDeps {
  service: TsdbService;
  auth: TokenAuth;
  limits: ClientApiLimits;
  clock: Clock;
}

/** Longest /api/query body, characters. */
const MAX_QUERY_BODY_CHARS = 1 << 20;

async function readJsonBody(req: IncomingMessage, limits: ClientApiLimits): Promise<Record<string, unknown>> {
  const text = await readTextBody(req, Math.min(limits.maxHttpBodyBytes, MAX_QUERY_BODY_CHARS));
  if (text.trim() === '') throw invalidArgument('body', 'Missing request content');
  const body = readJson(text, { numbers: 'exact', maxChars: MAX_QUERY_BODY_CHARS, maxDepth: 32 });
  if (!isPlainObject(body)) throw invalidArgument('body', 'the request body must be a JSON object');
  return body;
}

/** Removes our own fields from a POST body before the OpenTSDB parser (which rejects unknown fields) sees it. */
function takeConsistency(body: Record<string, unknown>): Consistency {
  const consistency = parseConsistency(body.consistency);
  delete body.consistency;
  return consistency;
}

function summaryOf(groups: readonly QueryResultGroup[], elapsedMs: number): string {
  let points = 0;
  for (const g of groups) points += g.dps.length;
  return `{"statsSummary":{"datapoints":${points},"emittedDPs":${points},"queryCount":${groups.length},"timeTotal":${elapsedMs}}}`;
}

export async function handleQuery(req: IncomingMessage, res: ServerResponse, url: URL, deps: QueryEndpointDeps): Promise<void> {
  await runEndpoint(res, async () => {
    requireAccess(deps.auth, req, url);
    const startedMs = deps.clock.nowMs();
    const nowMs = startedMs;
    let query: TsdbQuery;
    let consistency: Consistency;
    let showSummary: boolean;
    if (req.method === 'POST') {
      const body = await readJsonBody(req, deps.limits);
      consistency = url.searchParams.has('consistency') ? parseConsistency(url.searchParams.get('consistency')) : takeConsistency(body);
      showSummary = body.showSummary === true || body.showSummary === 'true';
      query = parseQueryBody(body, { nowMs });
    } else if (req.method === 'GET' || req.method === 'HEAD') {
      consistency = parseConsistency(url.searchParams.get('consistency') ?? undefined);
      showSummary = flag(url, 'show_summary', 'showSummary');
      query = parseQueryParams(url.searchParams, { nowMs });
    } else {
      throw new TsraftError('TSR_ERR_METHOD_NOT_ALLOWED', 'Method not allowed', { details: { method: req.method ?? '' } });
    }
    const groups = await deps.service.query(query, { consistency });
    let text = renderQueryResults(groups, query, { arrays: flag(url, 'arrays') });
    if (showSummary) text = `${text.slice(0, -1)}${groups.length > 0 ? ',' : ''}${summaryOf(groups, deps.clock.nowMs() - startedMs)}]`;
    sendOpenTsdbJson(res, 200, text);
  });
}

function valueText(value: number | bigint): string {
  return typeof value === 'bigint' ? value.toString() : Number.isInteger(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER ? String(value) : formatJavaDouble(value);
}

function renderLast(points: readonly LastPoint[], resolve: boolean): string {
  return JSON.stringify(
    points.map((p) =>
      resolve
        ? { metric: p.metric, timestamp: p.timestampMs, value: valueText(p.value), tags: p.tags, tsuid: p.tsuid }
        : { timestamp: p.timestampMs, value: valueText(p.value), tsuid: p.tsuid },
    ),
  );
}

export async function handleQueryLast(req: IncomingMessage, res: ServerResponse, url: URL, deps: QueryEndpointDeps): Promise<void> {
  await runEndpoint(res, async () => {
    requireAccess(deps.auth, req, url);
    let queries;
    let backScanHours: number;
    let resolve: boolean;
    let consistency: Consistency;
    if (req.method === 'POST') {
      const body = await readJsonBody(req, deps.limits);
      if (!Array.isArray(body.queries) || body.queries.length === 0) throw invalidArgument('queries', 'Missing queries: give a non-empty queries array');
      if (body.queries.length > 1024) throw invalidArgument('queries', 'at most 1,024 queries per request');
      queries = body.queries.map((q, i) => parseLastQueryObject(q, `queries[${i}]`));
      backScanHours = readCount(body.backScan, 'backScan', 0, 1_000_000);
      resolve = body.resolveNames === true || body.resolveNames === 'true';
      consistency = parseConsistency(body.consistency);
    } else if (req.method === 'GET' || req.method === 'HEAD') {
      const series = url.searchParams.getAll('timeseries');
      if (series.length === 0) throw invalidArgument('timeseries', 'Missing parameter: timeseries');
      if (series.length > 1024) throw invalidArgument('timeseries', 'at most 1,024 timeseries per request');
      queries = series.map(parseLastTimeseries);
      backScanHours = readCount(url.searchParams.get('back_scan') ?? undefined, 'back_scan', 0, 1_000_000);
      resolve = flag(url, 'resolve');
      consistency = parseConsistency(url.searchParams.get('consistency') ?? undefined);
    } else {
      throw new TsraftError('TSR_ERR_METHOD_NOT_ALLOWED', 'Method not allowed', { details: { method: req.method ?? '' } });
    }
    const points = await deps.service.last(queries, { consistency, backScanHours, nowMs: deps.clock.nowMs() });
    sendOpenTsdbJson(res, 200, renderLast(points, resolve));
  });
}
