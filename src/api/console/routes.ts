// The web console (docs/console.md), served by every node on its client port:
//   GET /                        the single page (cluster, data and backup views)
//   GET /console/app.js|app.css  its script and style (src/api/console/static/)
//   GET /console/uplot.js|.css   the chart library, from the installed `uplot` package
//   GET /console/api/cluster     ClusterOverview JSON: every member's /status,
//                                asked by this node (browsers cannot ask other
//                                origins), with health and follower lag
// Everything is served from the package itself: no CDN, no network beyond the
// cluster's own nodes. Files are read once and kept in memory (they are small).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { TsraftError, assert, rethrowIfBug } from '../../errors.js';
import type { HttpServer, RouteContext } from '../http-server.js';
import { sendJson } from '../http-server.js';
import type { StatusSource } from '../status.js';
import { clusterOverview, httpStatusFetcher, type StatusFetcher } from './cluster-overview.js';

export const CONSOLE_PREFIX = '/console/';
export const CLUSTER_OVERVIEW_PATH = '/console/api/cluster';

interface Asset {
  contentType: string;
  /** Where the file is, tried in order: next to this module (running from
   *  src/), then in src/ seen from dist/src/api/console/ (the built package). */
  load: () => Buffer;
}

function staticFile(name: string): () => Buffer {
  return () => {
    const candidates = [new URL(`./static/${name}`, import.meta.url), new URL(`../../../../src/api/console/static/${name}`, import.meta.url)];
    for (const url of candidates) {
      try {
        return readFileSync(fileURLToPath(url));
      } catch (error) {
        rethrowIfBug(error);
      }
    }
    throw new TsraftError('TSR_ERR_INTERNAL', `the console file ${name} is missing from this installation`, { details: { file: name } });
  };
}

function packageFile(specifier: string): () => Buffer {
  return () => readFileSync(createRequire(import.meta.url).resolve(specifier));
}

const ASSETS: ReadonlyMap<string, Asset> = new Map([
  ['', { contentType: 'text/html; charset=utf-8', load: staticFile('index.html') }],
  ['app.js', { contentType: 'text/javascript; charset=utf-8', load: staticFile('app.js') }],
  ['app.css', { contentType: 'text/css; charset=utf-8', load: staticFile('app.css') }],
  ['uplot.js', { contentType: 'text/javascript; charset=utf-8', load: packageFile('uplot/dist/uPlot.iife.min.js') }],
  ['uplot.css', { contentType: 'text/css; charset=utf-8', load: packageFile('uplot/dist/uPlot.min.css') }],
]);

export interface ConsoleRouteOptions {
  /** This node's status (the overview starts from it). */
  status: StatusSource;
  /** How peers' /status are fetched; default HTTP with a short timeout. */
  fetchStatus?: StatusFetcher;
}

export function registerConsoleRoutes(server: HttpServer, options: ConsoleRouteOptions): void {
  const cache = new Map<string, Buffer>();
  assert(ASSETS.size < 32, 'console: the asset cache is bounded by the asset list');
  const serve = (name: string, { res, method }: RouteContext): void => {
    const asset = ASSETS.get(name);
    if (asset === undefined) throw new TsraftError('TSR_ERR_NOT_FOUND', `no console file ${name}`, { details: { path: CONSOLE_PREFIX + name } });
    let body = cache.get(name);
    if (body === undefined) {
      body = asset.load();
      cache.set(name, body);
    }
    res.writeHead(200, {
      'Content-Type': asset.contentType,
      'Content-Length': body.length,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      // Only this origin: the page loads nothing from elsewhere.
      'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
    });
    res.end(method === 'HEAD' ? undefined : body);
  };
  const fetchStatus = options.fetchStatus ?? httpStatusFetcher();
  server.route('GET', '/', (context) => serve('', context));
  server.route('GET', CLUSTER_OVERVIEW_PATH, async ({ res }) => {
    sendJson(res, 200, await clusterOverview(options.status.status(), fetchStatus));
  });
  server.routePrefix('GET', CONSOLE_PREFIX, (context) => serve(context.subpath, context));
}
