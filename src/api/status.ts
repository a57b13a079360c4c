// The node's own endpoints on the client HTTP port:
//   GET /status  → NodeStatus as JSON (fields may be added, never renamed)
//   GET /health  → 200 while the process is up and serving HTTP
//   GET /ready   → 200 when a leader is known and this node has applied
//                  everything it knows to be committed; else 503 with a reason
// Load balancers route to /ready; supervisors probe /health.
import type { HttpServer } from './http-server.js';
import { sendJson } from './http-server.js';

export type MemberRole = 'leader' | 'follower' | 'learner';

export interface MemberStatus {
  id: string;
  /** The member's peer URL (ws:// or wss://), from the cluster configuration. */
  url: string;
  role: MemberRole;
  /** The member's client HTTP URL when this node knows it (config clientUrls), else null. */
  clientUrl: string | null;
  /** On the leader: the highest log index known to be stored on that member; else null. */
  match: number | null;
}

/** What the node is doing, beyond its Raft role. */
export type NodeLifecycle = 'starting' | 'running' | 'stopping' | 'removed';

export interface NodeStatus {
  id: string;
  /** Raft role: follower, pre-candidate, candidate, leader; `learner` for a non-voting member. */
  role: string;
  leader: string | null;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  members: MemberStatus[];
  clusterId: string;
  lifecycle: NodeLifecycle;
  /** The leader's client HTTP URL when known (see MemberStatus.clientUrl). */
  leaderClientUrl: string | null;
  lastIndex: number;
  snapshotIndex: number;
  /** Peer connections as this node sees them (null before the transport starts). */
  transport: TransportStatus | null;
  /** Seconds since the process started serving. */
  uptimeSeconds: number;
  version: string;
}

export interface TransportStatus {
  /** Handshakes refused for a wrong secret or cluster id, both directions, since start. */
  authFailures: number;
  /** Handshakes that broke the protocol or timed out, since start. */
  handshakeFailures: number;
  peers: Record<string, { connected: boolean; reconnects: number; dialFailures: number }>;
}

export interface StatusSource {
  status(): NodeStatus;
}

export interface Readiness {
  ready: boolean;
  /** Why the node is not ready (absent when ready). */
  reason?: string;
}

/** Ready = running, a leader is known, and applied ≥ the commit index this node knows. */
export function readinessOf(status: NodeStatus): Readiness {
  if (status.lifecycle !== 'running') return { ready: false, reason: `node is ${status.lifecycle}` };
  if (status.leader === null) return { ready: false, reason: 'no leader is known (an election is in progress or the node cannot reach a quorum)' };
  if (status.appliedIndex < status.commitIndex) {
    return { ready: false, reason: `catching up: applied ${status.appliedIndex} of ${status.commitIndex} committed entries` };
  }
  return { ready: true };
}

export function registerStatusRoutes(server: HttpServer, source: StatusSource): void {
  server.route('GET', '/status', ({ res }) => sendJson(res, 200, source.status()));
  server.route('GET', '/health', ({ res }) => sendJson(res, 200, { ok: true }));
  server.route('GET', '/ready', ({ res }) => {
    const status = source.status();
    const readiness = readinessOf(status);
    sendJson(res, readiness.ready ? 200 : 503, { ...readiness, id: status.id, leader: status.leader, commitIndex: status.commitIndex, appliedIndex: status.appliedIndex });
  });
}
