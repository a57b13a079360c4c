// `tsraft status` and `tsraft cluster add-node|remove-node|transfer-leader`:
// thin clients of a node's admin HTTP routes (src/node/admin-routes.ts,
// docs/operations.md). Membership changes go to the leader: the commands find
// it through /status (members' clientUrl) when the given endpoint is a follower.
import { TsraftError, assert } from '../errors.js';
import { endpointUrl, errorFromBody, requestJson } from './http-json.js';

const REQUEST_TIMEOUT_MS = 10_000;
const POLL_INTERVAL_MS = 250;

interface StatusMember {
  id: string;
  url: string;
  role: string;
  clientUrl?: string | null;
  match?: number | null;
}

interface StatusBody {
  id: string;
  role: string;
  leader: string | null;
  leaderClientUrl?: string | null;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  members: StatusMember[];
}

export async function fetchStatus(endpoint: string): Promise<StatusBody> {
  const answer = await requestJson(endpointUrl(endpoint, '/status'), { timeoutMs: REQUEST_TIMEOUT_MS });
  if (answer.status !== 200) throw fromAnswer(endpoint, '/status', answer.status, answer.body);
  const body = answer.body as StatusBody;
  assert(typeof body === 'object' && body !== null && typeof body.id === 'string', `${endpoint}/status did not return a status document`);
  return body;
}

function fromAnswer(endpoint: string, path: string, status: number, body: unknown): TsraftError {
  const error = errorFromBody(body);
  if (error !== null && error.code.startsWith('TSR_ERR_')) {
    return new TsraftError(error.code as never, `${endpoint}${path}: ${error.message}`, { details: error.details });
  }
  return new TsraftError('TSR_ERR_INTERNAL', `${endpoint}${path} answered HTTP ${status}: ${JSON.stringify(body).slice(0, 300)}`);
}

export function formatStatus(status: StatusBody): string {
  const lines = [
    `node ${status.id}: ${status.role}, term ${status.term}, leader ${status.leader ?? '(none)'}, commit ${status.commitIndex}, applied ${status.appliedIndex}`,
    'members:',
  ];
  for (const member of status.members) {
    const match = member.match === null || member.match === undefined ? '' : `  match ${member.match}`;
    lines.push(`  ${member.id.padEnd(8)} ${member.role.padEnd(9)} ${member.url}${member.clientUrl ? `  ${member.clientUrl}` : ''}${match}`);
  }
  return lines.join('\n');
}

/** The client endpoint of the leader, starting from any endpoints of the cluster. */
export async function findLeader(endpoints: readonly string[], deadlineMs: number): Promise<{ endpoint: string; status: StatusBody }> {
  assert(endpoints.length > 0, 'findLeader: no endpoints');
  let lastProblem = 'no endpoint answered';
  while (Date.now() < deadlineMs) {
    const tried = new Set<string>();
    const queue = [...endpoints];
    while (queue.length > 0 && tried.size < 64) {
      const endpoint = queue.shift()!;
      if (tried.has(endpoint)) continue;
      tried.add(endpoint);
      let status: StatusBody;
      try {
        status = await fetchStatus(endpoint);
      } catch (error) {
        lastProblem = (error as Error).message;
        continue;
      }
      if (status.role === 'leader') return { endpoint, status };
      if (status.leader === null) {
        lastProblem = `${endpoint}: no leader known yet`;
        continue;
      }
      const hint = status.leaderClientUrl ?? status.members.find((m) => m.id === status.leader)?.clientUrl ?? null;
      if (hint) queue.unshift(hint);
      else lastProblem = `${endpoint} says the leader is ${status.leader} but does not know its client URL; pass the leader's endpoint with --endpoint`;
    }
    await sleep(POLL_INTERVAL_MS);
  }
  throw new TsraftError('TSR_ERR_NO_LEADER', `could not find the leader: ${lastProblem}`, { details: { endpoints } });
}

async function postToLeader(endpoints: readonly string[], path: string, body: unknown, deadlineMs: number): Promise<{ endpoint: string; result: unknown }> {
  for (;;) {
    const { endpoint } = await findLeader(endpoints, deadlineMs);
    const answer = await requestJson(endpointUrl(endpoint, path), { method: 'POST', body, timeoutMs: REQUEST_TIMEOUT_MS });
    if (answer.status === 200) return { endpoint, result: answer.body };
    const error = fromAnswer(endpoint, path, answer.status, answer.body);
    // Leadership moved between the lookup and the request, or an election is running: look again.
    const retryable = error.code === 'TSR_ERR_NOT_LEADER' || error.code === 'TSR_ERR_NO_LEADER' || error.code === 'TSR_ERR_LEADERSHIP_LOST' || error.code === 'TSR_ERR_CONFIG_CHANGE_PENDING';
    if (!retryable || Date.now() >= deadlineMs) throw error;
    await sleep(POLL_INTERVAL_MS);
  }
}

export interface AddNodeOptions {
  endpoints: readonly string[];
  id: string;
  /** The new node's peer URL (ws:// or wss://). */
  peerUrl: string;
  timeoutMs: number;
  print: (line: string) => void;
}

/** Adds a node as a learner, waits until it has caught up, then promotes it to voter. */
export async function addNode(options: AddNodeOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const { print } = options;
  let status = (await findLeader(options.endpoints, deadline)).status;
  const existing = status.members.find((m) => m.id === options.id);
  if (existing !== undefined && existing.role !== 'learner') {
    print(`${options.id} is already a voting member (${existing.role})`);
    return;
  }
  if (existing === undefined) {
    await postToLeader(options.endpoints, '/cluster/add-learner', { id: options.id, url: options.peerUrl }, deadline);
    print(`added ${options.id} (${options.peerUrl}) as a learner`);
  } else {
    print(`${options.id} is already a learner; waiting for it to catch up`);
  }
  let lastShown = -1;
  for (;;) {
    const found = await findLeader(options.endpoints, deadline);
    status = found.status;
    const member = status.members.find((m) => m.id === options.id);
    if (member === undefined) throw new TsraftError('TSR_ERR_CONFIG_CHANGE_INVALID', `${options.id} is no longer a member (removed meanwhile?)`);
    const match = member.match ?? 0;
    if (match !== lastShown) {
      print(`  ${options.id} has ${match} of ${status.commitIndex} committed entries`);
      lastShown = match;
    }
    if (match >= status.commitIndex) {
      const answer = await requestJson(endpointUrl(found.endpoint, '/cluster/promote'), { method: 'POST', body: { id: options.id }, timeoutMs: REQUEST_TIMEOUT_MS });
      if (answer.status === 200) break;
      const error = fromAnswer(found.endpoint, '/cluster/promote', answer.status, answer.body);
      const retryable = ['TSR_ERR_LEARNER_BEHIND', 'TSR_ERR_NOT_LEADER', 'TSR_ERR_NO_LEADER', 'TSR_ERR_CONFIG_CHANGE_PENDING', 'TSR_ERR_LEADERSHIP_LOST'].includes(error.code);
      if (!retryable) throw error;
    }
    if (Date.now() >= deadline) throw new TsraftError('TSR_ERR_TIMEOUT', `${options.id} did not catch up within ${options.timeoutMs} ms (it has ${match} of ${status.commitIndex}); it stays a learner, rerun add-node to continue`);
    await sleep(POLL_INTERVAL_MS);
  }
  print(`promoted ${options.id} to voter`);
}

export async function removeNode(options: { endpoints: readonly string[]; id: string; timeoutMs: number; print: (line: string) => void }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const { status } = await findLeader(options.endpoints, deadline);
  if (!status.members.some((m) => m.id === options.id)) {
    options.print(`${options.id} is not a member`);
    return;
  }
  await postToLeader(options.endpoints, '/cluster/remove', { id: options.id }, deadline);
  options.print(`removed ${options.id}; stop its process and delete its data directory`);
}

export async function transferLeader(options: { endpoints: readonly string[]; id: string; timeoutMs: number; print: (line: string) => void }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  await postToLeader(options.endpoints, '/cluster/transfer-leader', { id: options.id }, deadline);
  options.print(`asked the leader to hand over to ${options.id}`);
  // Done when any endpoint names the target as leader (the target's own client
  // URL may be unknown to the others, so findLeader could not reach it).
  for (;;) {
    for (const endpoint of options.endpoints) {
      const status = await fetchStatus(endpoint).catch(() => null);
      if (status !== null && status.leader === options.id) {
        options.print(`${options.id} is the leader (term ${status.term})`);
        return;
      }
    }
    if (Date.now() >= deadline) throw new TsraftError('TSR_ERR_TIMEOUT', `${options.id} did not become leader within ${options.timeoutMs} ms`);
    await sleep(POLL_INTERVAL_MS);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolvePromise) => setTimeout(resolvePromise, ms));
}
