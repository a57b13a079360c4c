// Operational endpoints on the client HTTP port (docs/metrics.md):
//   GET  /metrics   Prometheus text exposition (version 0.0.4) of every tsraft
//                   family and the process defaults; open, like /status.
//   GET  /backups   {"backups": [BackupRecord, ...]} newest first (empty: no
//                   backup taken from this node since it started); open.
//   POST /backups   a BackupRecord (JSON): `tsraft backup create` reports the
//                   outcome and verification of a backup taken from this node.
//                   Needs a read-write client token when tokens are configured.
import { checkBackupRecord } from '../metrics/backup-history.js';
import type { NodeMetrics } from '../metrics/node-metrics.js';
import { forbidden, unauthorized, type TokenAuth } from './auth.js';
import { readJson, sendJson, type HttpServer } from './http-server.js';

export const METRICS_PATH = '/metrics';
export const BACKUPS_PATH = '/backups';
/** A backup record is a few hundred bytes. */
const MAX_BACKUP_REPORT_BYTES = 16 * 1024;

export interface MetricsRouteOptions {
  metrics: NodeMetrics;
  /** Client tokens guarding POST /backups; absent or empty = open. */
  auth?: TokenAuth;
}

export function registerMetricsRoutes(server: HttpServer, options: MetricsRouteOptions): void {
  const { metrics, auth } = options;
  server.route('GET', METRICS_PATH, async ({ res, method }) => {
    const { contentType, body } = await metrics.render();
    if (res.headersSent) return;
    res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    res.end(method === 'HEAD' ? undefined : body);
  });
  server.route('GET', BACKUPS_PATH, ({ res }) => sendJson(res, 200, { node: metrics.nodeId, backups: metrics.backups.list() }));
  server.route('POST', BACKUPS_PATH, async ({ req, res, url }) => {
    if (auth !== undefined) {
      const access = auth.accessOf(req.headers, url);
      if (access === null) throw unauthorized();
      if (access !== 'read-write') throw forbidden('report a backup');
    }
    // checkBackupRecord names the bad field (TSR_ERR_INVALID_ARGUMENT, details.field).
    metrics.backups.record(checkBackupRecord(await readJson(req, MAX_BACKUP_REPORT_BYTES)));
    sendJson(res, 200, { ok: true });
  });
}
