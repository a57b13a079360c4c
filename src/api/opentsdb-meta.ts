// The OpenTSDB metadata endpoints dashboards call: /api/suggest,
// /api/search/lookup, /api/aggregators, /api/config/filters, /api/version.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { TsraftError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { AGGREGATOR_NAMES, FILTER_TYPES } from '../tsdb/query/index.js';
import type { LookupQuery } from '../tsdb/series-index.js';
import type { TokenAuth } from './auth.js';
import { readJson } from './json-reader.js';
import type { ClientApiLimits } from './limits.js';
import { readTextBody, requireAccess, runEndpoint, sendOpenTsdbJson } from './opentsdb-http-util.js';
import { invalidArgument, isPlainObject, parseConsistency, parseLookupBody, parseLookupM, parseSuggest, readCount } from './requests.js';
import type { TsdbService } from './service.js';

export interface MetaEndpointDeps {
  service: TsdbService;
  auth: TokenAuth;
  limits: ClientApiLimits;
  clock: Clock;
  /** tsraft's version, reported beside the OpenTSDB API version. */
  version: string;
}

/** The OpenTSDB HTTP API version this node speaks. */
export const OPENTSDB_API_VERSION = '2.4.0';

const MAX_META_BODY_BYTES = 64 * 1024;

async function bodyObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const text = await readTextBody(req, MAX_META_BODY_BYTES);
  if (text.trim() === '') return {};
  const body = readJson(text, { numbers: 'exact', maxChars: MAX_META_BODY_BYTES, maxDepth: 8 });
  if (!isPlainObject(body)) throw invalidArgument('body', 'the request body must be a JSON object');
  return body;
}

function methodNotAllowed(req: IncomingMessage): TsraftError {
  return new TsraftError('TSR_ERR_METHOD_NOT_ALLOWED', 'Method not allowed', { details: { method: req.method ?? '' } });
}

function isRead(req: IncomingMessage): boolean {
  return req.method === 'GET' || req.method === 'HEAD';
}

export async function handleSuggest(req: IncomingMessage, res: ServerResponse, url: URL, deps: MetaEndpointDeps): Promise<void> {
  await runEndpoint(res, async () => {
    requireAccess(deps.auth, req, url);
    let source: Record<string, unknown>;
    if (req.method === 'POST') source = await bodyObject(req);
    else if (isRead(req)) source = Object.fromEntries(url.searchParams);
    else throw methodNotAllowed(req);
    const s = parseSuggest(source.type, source.q, source.max, deps.limits.maxSuggest);
    const names = await deps.service.suggest(s.type, s.prefix, s.max, { consistency: parseConsistency(source.consistency) });
    sendOpenTsdbJson(res, 200, JSON.stringify(names));
  });
}

export async function handleLookup(req: IncomingMessage, res: ServerResponse, url: URL, deps: MetaEndpointDeps): Promise<void> {
  await runEndpoint(res, async () => {
    requireAccess(deps.auth, req, url);
    const startedMs = deps.clock.nowMs();
    let query: LookupQuery;
    let consistency;
    if (req.method === 'POST') {
      const body = await bodyObject(req);
      query = parseLookupBody(body, deps.limits.maxLookup);
      consistency = parseConsistency(body.consistency);
    } else if (isRead(req)) {
      const m = url.searchParams.get('m');
      if (m === null || m.trim() === '') throw invalidArgument('m', 'Missing the metric or tags (m=metric{tagk=tagv})');
      query = parseLookupM(m, readCount(url.searchParams.get('limit') ?? undefined, 'limit', 25, deps.limits.maxLookup));
      consistency = parseConsistency(url.searchParams.get('consistency') ?? undefined);
    } else {
      throw methodNotAllowed(req);
    }
    const answer = await deps.service.lookup(query, { consistency });
    const body = {
      type: 'LOOKUP',
      metric: query.metric ?? '*',
      tags: query.tags.map((t) => ({ key: t.key, value: t.value })),
      limit: query.limit ?? 25,
      time: Math.max(0, Math.round(deps.clock.nowMs() - startedMs)),
      results: answer.series.map((s) => ({ tsuid: s.tsuid, metric: s.metric, tags: s.tags })),
      startIndex: 0,
      totalResults: answer.totalResults,
    };
    sendOpenTsdbJson(res, 200, JSON.stringify(body));
  });
}

export async function handleAggregators(req: IncomingMessage, res: ServerResponse, url: URL, deps: MetaEndpointDeps): Promise<void> {
  await runEndpoint(res, async () => {
    requireAccess(deps.auth, req, url);
    if (!isRead(req) && req.method !== 'POST') throw methodNotAllowed(req);
    sendOpenTsdbJson(res, 200, JSON.stringify([...AGGREGATOR_NAMES].sort()));
  });
}

const FILTER_DOCS: Record<string, { examples: string; description: string }> = {
  literal_or: {
    examples: 'host=literal_or(web01),  host=literal_or(web01|web02|web03)  {"type":"literal_or","tagk":"host","filter":"web01|web02|web03","groupBy":false}',
    description: 'Accepts one or more exact values and matches if the series contains any of them. Multiple values are separated by the pipe character. Case sensitive.',
  },
  iliteral_or: {
    examples: 'host=iliteral_or(web01),  host=iliteral_or(web01|web02|web03)  {"type":"iliteral_or","tagk":"host","filter":"web01|web02|web03","groupBy":false}',
    description: 'Like literal_or, case insensitive.',
  },
  not_literal_or: {
    examples: 'host=not_literal_or(web01),  host=not_literal_or(web01|web02|web03)  {"type":"not_literal_or","tagk":"host","filter":"web01|web02|web03","groupBy":false}',
    description: 'Accepts one or more exact values and matches if the series does NOT contain any of them. Case sensitive.',
  },
  not_iliteral_or: {
    examples: 'host=not_iliteral_or(web01),  host=not_iliteral_or(web01|web02|web03)  {"type":"not_iliteral_or","tagk":"host","filter":"web01|web02|web03","groupBy":false}',
    description: 'Like not_literal_or, case insensitive.',
  },
  wildcard: {
    examples: 'host=wildcard(web*),  host=wildcard(web*.tsdb.net)  {"type":"wildcard","tagk":"host","filter":"web*.tsdb.net","groupBy":false}',
    description: 'Matches values against a pattern in which * stands for any run of characters. Case sensitive. A lone * matches every value.',
  },
  iwildcard: {
    examples: 'host=iwildcard(web*),  host=iwildcard(web*.tsdb.net)  {"type":"iwildcard","tagk":"host","filter":"web*.tsdb.net","groupBy":false}',
    description: 'Like wildcard, case insensitive.',
  },
  regexp: {
    examples: 'host=regexp(.*)  {"type":"regexp","tagk":"host","filter":".*","groupBy":false}',
    description: 'Matches values against a regular expression (unanchored, JavaScript syntax).',
  },
};

export async function handleConfigFilters(req: IncomingMessage, res: ServerResponse, url: URL, deps: MetaEndpointDeps): Promise<void> {
  await runEndpoint(res, async () => {
    requireAccess(deps.auth, req, url);
    if (!isRead(req) && req.method !== 'POST') throw methodNotAllowed(req);
    const body: Record<string, { examples: string; description: string }> = {};
    for (const type of FILTER_TYPES) body[type] = FILTER_DOCS[type] ?? { examples: '', description: '' };
    sendOpenTsdbJson(res, 200, JSON.stringify(body));
  });
}

export async function handleVersion(req: IncomingMessage, res: ServerResponse, url: URL, deps: MetaEndpointDeps): Promise<void> {
  await runEndpoint(res, async () => {
    requireAccess(deps.auth, req, url);
    if (!isRead(req) && req.method !== 'POST') throw methodNotAllowed(req);
    const body = {
      timestamp: String(Math.floor(deps.clock.nowMs() / 1000)),
      host: hostname(),
      repo: 'tsraft',
      full_revision: '',
      short_revision: '',
      user: '',
      repo_status: 'MODIFIED',
      version: OPENTSDB_API_VERSION,
      tsraft_version: deps.version,
    };
    sendOpenTsdbJson(res, 200, JSON.stringify(body));
  });
}
