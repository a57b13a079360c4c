// Membership and inspection routes on the client HTTP port, used by
// `tsraft cluster ...` (docs/operations.md, "Membership"):
//
//   POST /cluster/add-learner      {"id", "url"}   add a non-voting member
//   POST /cluster/promote          {"id"}          make a caught-up learner a voter
//   POST /cluster/remove           {"id"}          remove a member
//   POST /cluster/transfer-leader  {"id"}          hand leadership to a voter
//   GET  /cluster/state                            applied index, state hash, sizes
//
// Changes must be sent to the leader; a follower answers TSR_ERR_NOT_LEADER
// (HTTP 421) with details.leader and, when known, details.leaderClientUrl.
// Each answers once the change is applied on the leader.
import { readJson, sendJson, type HttpServer } from '../api/http-server.js';
import { peerUrlProblem } from '../config/validate.js';
import { TsraftError } from '../errors.js';
import type { TsraftNode } from './node.js';

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Bodies of these routes are tiny. */
const MAX_ADMIN_BODY_BYTES = 16 * 1024;
/** A membership change or transfer waits at most this long before TSR_ERR_TIMEOUT. */
const CHANGE_TIMEOUT_MS = 30_000;

function invalid(field: string, message: string): TsraftError {
  return new TsraftError('TSR_ERR_INVALID_ARGUMENT', message, { details: { field } });
}

async function readBodyObject(req: Parameters<typeof readJson>[0]): Promise<Record<string, unknown>> {
  const body = await readJson(req, MAX_ADMIN_BODY_BYTES);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('body', 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

function readId(body: Record<string, unknown>): string {
  const id = body.id;
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) throw invalid('id', `id must be a node id (1–64 letters, digits, _ . -), got ${JSON.stringify(id)}`);
  return id;
}

export function registerAdminRoutes(server: HttpServer, node: TsraftNode): void {
  const run = async (operation: () => Promise<void>): Promise<void> => {
    try {
      await operation();
    } catch (error) {
      throw node.withLeaderClientUrl(error);
    }
  };

  server.route('POST', '/cluster/add-learner', async ({ req, res }) => {
    const body = await readBodyObject(req);
    const id = readId(body);
    const url = body.url;
    if (typeof url !== 'string') throw invalid('url', 'url must be the new node\'s peer URL (ws://host:port)');
    const problem = peerUrlProblem(url);
    if (problem !== null) throw invalid('url', `url: ${problem}`);
    await run(() => node.replica.addNode(id, url, 'learner', { timeoutMs: CHANGE_TIMEOUT_MS }));
    node.log.info('added a learner', { id, url });
    sendJson(res, 200, { ok: true, members: node.status().members });
  });

  server.route('POST', '/cluster/promote', async ({ req, res }) => {
    const id = readId(await readBodyObject(req));
    const member = node.replica.status().members.find((m) => m.id === id);
    if (member === undefined) throw new TsraftError('TSR_ERR_CONFIG_CHANGE_INVALID', `${id} is not a member; add it as a learner first`, { details: { id } });
    await run(() => node.replica.addNode(id, member.url, 'voter', { timeoutMs: CHANGE_TIMEOUT_MS }));
    node.log.info('promoted a learner to voter', { id });
    sendJson(res, 200, { ok: true, members: node.status().members });
  });

  server.route('POST', '/cluster/remove', async ({ req, res }) => {
    const id = readId(await readBodyObject(req));
    await run(() => node.replica.removeNode(id, { timeoutMs: CHANGE_TIMEOUT_MS }));
    node.log.info('removed a member', { id });
    sendJson(res, 200, { ok: true, members: node.status().members });
  });

  server.route('POST', '/cluster/transfer-leader', async ({ req, res }) => {
    const id = readId(await readBodyObject(req));
    await run(() => node.replica.transferLeader(id, { timeoutMs: CHANGE_TIMEOUT_MS }));
    node.log.info('transferred leadership', { to: id });
    sendJson(res, 200, { ok: true, leader: id });
  });

  server.route('GET', '/cluster/state', ({ res }) => {
    const stats = node.stateMachine.stats();
    sendJson(res, 200, { id: node.config.nodeId, ...stats, appliedIndex: node.replica.appliedIndex, stateMachineAppliedIndex: stats.appliedIndex, stateHash: node.stateMachine.stateHash() });
  });
}
