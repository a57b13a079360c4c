// Mounts the client-facing routes of other rooms on the node's HTTP server.
// Until the client API (src/api) provides its own `POST /api/put`, a minimal
// one is mounted here so that a node can be written to (integration tests,
// `make run`): an OpenTSDB point or array of points, proposed through the
// replica on the leader; followers answer TSR_ERR_NOT_LEADER (HTTP 421) with
// details.leaderClientUrl. Answer: {"success", "failed", "errors"}.
import { readJson, sendJson, type HttpServer } from '../api/http-server.js';
import { encodePut, putResultOf } from '../api/put-encoder.js';
import { TsraftError } from '../errors.js';
import { encodeCommand } from '../tsdb/command.js';
import type { RawPoint } from '../tsdb/validate.js';
import type { TsraftNode } from './node.js';

export function mountClientRoutes(server: HttpServer, node: TsraftNode): void {
  if (!server.hasRoute('POST', '/api/put')) registerFallbackPut(server, node);
}

function registerFallbackPut(server: HttpServer, node: TsraftNode): void {
  const limits = node.config.clientApi.limits;
  server.route('POST', '/api/put', async ({ req, res }) => {
    const body = await readJson(req, Math.min(limits.maxHttpBodyBytes, server.maxBodyBytes));
    const points = Array.isArray(body) ? body : [body];
    if (points.some((p) => typeof p !== 'object' || p === null || Array.isArray(p))) {
      throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', 'the body must be a point object or an array of point objects', { details: { field: 'body' } });
    }
    const encoded = encodePut({ kind: 'objects', points: points as RawPoint[] }, limits);
    if (encoded.batch === null) {
      sendJson(res, 400, putResultOf(encoded, null, limits.maxErrorsPerPut));
      return;
    }
    const data = encodeCommand({ type: 'write', clientId: '', sequence: 0, firstUnackedSequence: 0, leaderTimeMs: Date.now(), batch: encoded.batch });
    let applied;
    try {
      applied = await node.replica.propose(data);
    } catch (error) {
      throw node.withLeaderClientUrl(error);
    }
    const result = putResultOf(encoded, applied, limits.maxErrorsPerPut);
    sendJson(res, result.failed > 0 ? 400 : 200, result);
  });
}
