// Mounts the OpenTSDB-compatible endpoints under /api/ on the node's HTTP
// server. One prefix route dispatches on the path with trailing slashes
// folded (OpenTSDB ignores them); an unknown /api/ path gets OpenTSDB's 404
// error object. Other rooms may still add exact /api/... routes: exact
// routes win over prefixes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TsraftError } from '../errors.js';
import type { HttpServer } from './http-server.js';
import { handleAggregators, handleConfigFilters, handleLookup, handleSuggest, handleVersion, type MetaEndpointDeps } from './opentsdb-meta.js';
import { sendOpenTsdbError } from './opentsdb-http-util.js';
import { handlePut } from './opentsdb-put.js';
import { handleQuery, handleQueryLast } from './opentsdb-query.js';

export type OpenTsdbDeps = MetaEndpointDeps;

type Endpoint = (req: IncomingMessage, res: ServerResponse, url: URL, deps: OpenTsdbDeps) => Promise<void>;

export const OPENTSDB_ENDPOINTS: ReadonlyMap<string, Endpoint> = new Map<string, Endpoint>([
  ['/api/put', handlePut],
  ['/api/query', handleQuery],
  ['/api/query/last', handleQueryLast],
  ['/api/suggest', handleSuggest],
  ['/api/search/lookup', handleLookup],
  ['/api/aggregators', handleAggregators],
  ['/api/config/filters', handleConfigFilters],
  ['/api/version', handleVersion],
]);

/** Dispatches one /api/... request (exported for servers other than HttpServer). */
export function dispatchOpenTsdb(req: IncomingMessage, res: ServerResponse, url: URL, deps: OpenTsdbDeps): Promise<void> {
  const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
  const endpoint = OPENTSDB_ENDPOINTS.get(path);
  if (endpoint === undefined) {
    req.resume();
    sendOpenTsdbError(res, new TsraftError('TSR_ERR_NOT_FOUND', 'Endpoint not found', { details: { path: url.pathname } }));
    return Promise.resolve();
  }
  return endpoint(req, res, url, deps);
}

export function registerOpenTsdbRoutes(server: HttpServer, deps: OpenTsdbDeps): void {
  server.routePrefix('*', '/api/', ({ req, res, url }) => dispatchOpenTsdb(req, res, url, deps));
}
