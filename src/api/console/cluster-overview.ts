// The whole cluster as one table: every member's own /status (role, term,
// commit and applied index, health) and, from the leader's view, how many
// entries each follower lags. Used by the web console (GET /console/api/cluster,
// asked of one node, which asks its peers) and by `tsraft status`.
//
// Members are found in the answering node's /status (members[].clientUrl,
// from the `clientUrls` configuration); a member without a known client URL,
// or one that does not answer within the timeout, is listed as unreachable
// with what the answering node knows of it.
import type { NodeStatus } from '../status.js';
import { readinessOf } from '../status.js';
import { rethrowIfBug } from '../../errors.js';

/** Members asked at once; clusters have 3–7 members, configuration allows 64. */
export const MAX_OVERVIEW_MEMBERS = 64;
export const MEMBER_STATUS_TIMEOUT_MS = 1_500;

export type MemberHealth = 'healthy' | 'catching-up' | 'no-leader' | 'stopping' | 'removed' | 'unreachable';

export interface MemberOverview {
  id: string;
  /** Role as the answering node's membership sees it (leader, follower, learner). */
  role: string;
  peerUrl: string;
  clientUrl: string | null;
  reachable: boolean;
  /** The member's own view; null when unreachable. */
  term: number | null;
  commitIndex: number | null;
  appliedIndex: number | null;
  lastIndex: number | null;
  /** Entries behind the leader's last index (from the leader's progress); 0 for the leader; null when unknown. */
  lagEntries: number | null;
  health: MemberHealth;
  /** Why the member is not healthy (readiness reason or the fetch error). */
  detail: string | null;
  uptimeSeconds: number | null;
  version: string | null;
}

export interface ClusterOverview {
  clusterId: string;
  /** The node that answered (the endpoint asked). */
  answeredBy: string;
  leader: string | null;
  term: number;
  /** The leader's commit index when it answered, else the answering node's. */
  commitIndex: number;
  members: MemberOverview[];
}

/** Fetches one member's /status; throws when it cannot. */
export type StatusFetcher = (clientUrl: string) => Promise<NodeStatus>;

export async function clusterOverview(self: NodeStatus, fetchStatus: StatusFetcher): Promise<ClusterOverview> {
  const members = self.members.slice(0, MAX_OVERVIEW_MEMBERS);
  const answers = await Promise.all(
    members.map(async (m): Promise<{ status: NodeStatus | null; error: string | null }> => {
      if (m.id === self.id) return { status: self, error: null };
      if (m.clientUrl === null) return { status: null, error: 'client URL unknown (add it to clientUrls in the configuration)' };
      try {
        return { status: await fetchStatus(m.clientUrl), error: null };
      } catch (error) {
        rethrowIfBug(error);
        return { status: null, error: (error as Error).message };
      }
    }),
  );
  const statusOf = new Map<string, NodeStatus>();
  members.forEach((m, i) => {
    const s = answers[i]!.status;
    if (s !== null && s.id === m.id) statusOf.set(m.id, s);
  });
  const leaderId = self.leader ?? [...statusOf.values()].find((s) => s.role === 'leader')?.id ?? null;
  const leader = leaderId === null ? undefined : statusOf.get(leaderId);
  const matchOf = new Map<string, number>();
  if (leader !== undefined) for (const m of leader.members) if (m.match !== null) matchOf.set(m.id, m.match);

  const overview: MemberOverview[] = members.map((m, i) => {
    const s = statusOf.get(m.id) ?? null;
    const answer = answers[i]!;
    let lagEntries: number | null = null;
    if (leader !== undefined) lagEntries = m.id === leader.id ? 0 : matchOf.has(m.id) ? Math.max(0, leader.lastIndex - matchOf.get(m.id)!) : null;
    if (s === null) {
      const detail = answer.status !== null ? `answered as ${answer.status.id}, not ${m.id}` : answer.error;
      return { id: m.id, role: m.role, peerUrl: m.url, clientUrl: m.clientUrl, reachable: false, term: null, commitIndex: null, appliedIndex: null, lastIndex: null, lagEntries, health: 'unreachable', detail, uptimeSeconds: null, version: null };
    }
    const { health, detail } = healthOf(s);
    return {
      id: m.id,
      role: s.role === 'leader' ? 'leader' : m.role,
      peerUrl: m.url,
      clientUrl: m.clientUrl,
      reachable: true,
      term: s.term,
      commitIndex: s.commitIndex,
      appliedIndex: s.appliedIndex,
      lastIndex: s.lastIndex,
      lagEntries,
      health,
      detail,
      uptimeSeconds: s.uptimeSeconds,
      version: s.version,
    };
  });
  return {
    clusterId: self.clusterId,
    answeredBy: self.id,
    leader: leaderId,
    term: leader?.term ?? self.term,
    commitIndex: leader?.commitIndex ?? self.commitIndex,
    members: overview,
  };
}

function healthOf(status: NodeStatus): { health: MemberHealth; detail: string | null } {
  if (status.lifecycle === 'stopping' || status.lifecycle === 'starting') return { health: 'stopping', detail: `node is ${status.lifecycle}` };
  if (status.lifecycle === 'removed') return { health: 'removed', detail: 'no longer a member' };
  const readiness = readinessOf(status);
  if (readiness.ready) return { health: 'healthy', detail: null };
  if (status.leader === null) return { health: 'no-leader', detail: readiness.reason ?? null };
  return { health: 'catching-up', detail: readiness.reason ?? null };
}

/** A StatusFetcher over HTTP (fetch), bounded by `timeoutMs` and a body size. */
export function httpStatusFetcher(timeoutMs = MEMBER_STATUS_TIMEOUT_MS): StatusFetcher {
  return async (clientUrl) => {
    const url = clientUrl.replace(/\/+$/, '') + '/status';
    let response: Response;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      const name = (error as Error).name;
      throw new Error(name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `cannot reach ${url} (${cause?.code ?? (error as Error).message})`);
    }
    const text = await response.text();
    if (response.status !== 200) throw new Error(`${url} answered HTTP ${response.status}`);
    if (text.length > 1024 * 1024) throw new Error(`${url} answered more than 1 MiB`);
    const body = JSON.parse(text) as NodeStatus;
    if (typeof body !== 'object' || body === null || typeof body.id !== 'string' || !Array.isArray(body.members)) throw new Error(`${url} did not answer a status document`);
    return body;
  };
}
