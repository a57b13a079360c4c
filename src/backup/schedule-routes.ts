// Maintenance routes on the client HTTP port (docs/backup-service.md,
// "Maintenance routes"):
//
//   POST /api/maintenance/backup-record   peers only: a backup record (encoded
//        `backup` command) from a taker that does not lead; the leader proposes
//        it and answers {accepted, reason}.
//   GET  /api/maintenance/digests[?index=N]  peers or client tokens: the state
//        digests this node computed (newest 16, or the one at N).
//   GET  /api/maintenance/status          client tokens: scheduled backups,
//        re-verification, drills, scrubbing and digests as this node sees them.
//
// Peers authenticate with the cluster secret (schedule-peer.ts); clients with
// a client token when the node requires tokens.
import type { IncomingMessage } from 'node:http';
import { unauthorized, type TokenAuth } from '../api/auth.js';
import { readBody, sendJson, type HttpServer } from '../api/http-server.js';
import { TsraftError, rethrowIfBug } from '../errors.js';
import { decodeCommand } from '../tsdb/command.js';
import type { ApplyResult } from '../tsdb/state-machine.js';
import { BACKUP_RECORD_PATH } from './schedule.js';
import type { RecordedDigest } from './schedule-digests.js';
import { PEER_HEADER, verifyPeerRequest } from './schedule-peer.js';

export const DIGESTS_PATH = '/api/maintenance/digests';
export const MAINTENANCE_STATUS_PATH = '/api/maintenance/status';
const MAX_RECORD_BYTES = 8 * 1024;
const RECENT_DIGESTS = 16;

export interface MaintenanceRouteSource {
  secret: Uint8Array;
  /** Ids of the cluster's members (peers may call). */
  isMember: (nodeId: string) => boolean;
  auth: Pick<TokenAuth, 'accessOf'>;
  nodeId: string;
  appliedIndex: () => number;
  isLeader: () => boolean;
  leaderHint: () => { leader: string | null; leaderClientUrl: string | null };
  propose: (data: Uint8Array) => Promise<unknown>;
  digestAt: (index: number) => RecordedDigest | null;
  recentDigests: (limit: number) => RecordedDigest[];
  status: () => unknown;
  nowMs: () => number;
}

/** Peer or client: a request signed by a member, or one carrying a valid client token. */
function authorizeRead(source: MaintenanceRouteSource, req: IncomingMessage): void {
  if (req.headers[PEER_HEADER] !== undefined) {
    verifyPeerRequest(source.secret, req, new Uint8Array(0), source.isMember, source.nowMs());
    return;
  }
  if (source.auth.accessOf(req.headers, new URL(req.url ?? '/', 'http://node')) === null) throw unauthorized();
}

export function registerMaintenanceRoutes(server: HttpServer, source: MaintenanceRouteSource): void {
  server.route('POST', BACKUP_RECORD_PATH, async ({ req, res }) => {
    const body = await readBody(req, MAX_RECORD_BYTES);
    const from = verifyPeerRequest(source.secret, req, body, source.isMember, source.nowMs());
    let cmd;
    try {
      cmd = decodeCommand(body);
    } catch (error) {
      rethrowIfBug(error);
      throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `the body is not a backup record: ${(error as Error).message}`, { details: { field: 'body' } });
    }
    // Only the end of a backup travels this way (a start comes from the leader itself).
    if (cmd.type !== 'backup' || cmd.event !== 'finish') throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', 'only backup finish records are accepted here', { details: { field: 'body' } });
    if (!source.isLeader()) {
      throw new TsraftError('TSR_ERR_NOT_LEADER', `node ${source.nodeId} is not the leader`, { details: source.leaderHint() });
    }
    const result = (await source.propose(body)) as ApplyResult;
    if (result.kind !== 'backup') throw new TsraftError('TSR_ERR_INTERNAL', `a backup record applied as ${result.kind}`);
    sendJson(res, 200, { accepted: result.accepted, reason: result.accepted ? null : result.reason, from });
  });

  server.route('GET', DIGESTS_PATH, ({ req, res }) => {
    authorizeRead(source, req);
    const url = new URL(req.url ?? '/', 'http://node');
    const indexText = url.searchParams.get('index');
    let digests: RecordedDigest[];
    if (indexText === null) digests = source.recentDigests(RECENT_DIGESTS);
    else {
      if (!/^\d{1,15}$/.test(indexText)) throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `index must be a log index, got ${JSON.stringify(indexText)}`, { details: { field: 'index' } });
      const found = source.digestAt(Number(indexText));
      digests = found === null ? [] : [found];
    }
    sendJson(res, 200, { nodeId: source.nodeId, appliedIndex: source.appliedIndex(), digests });
  });

  server.route('GET', MAINTENANCE_STATUS_PATH, ({ req, res }) => {
    authorizeRead(source, req);
    sendJson(res, 200, source.status());
  });
}
