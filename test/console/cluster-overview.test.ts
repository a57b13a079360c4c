// clusterOverview (the console's cluster view and `tsraft status`): members'
// own status documents combined with the leader's progress; formatOverview's
// table. Statuses come from an injected fetcher that answers from a table.
import { describe, expect, it } from 'vitest';
import { clusterOverview, type StatusFetcher } from '../../src/api/console/cluster-overview.js';
import type { NodeStatus } from '../../src/api/status.js';
import { formatOverview } from '../../src/cli/commands/status.js';

const URLS: Record<string, string> = { n1: 'http://h1:8080', n2: 'http://h2:8080', n3: 'http://h3:8080' };

function status(id: string, overrides: Partial<NodeStatus> = {}): NodeStatus {
  const leader = overrides.leader === undefined ? 'n1' : overrides.leader;
  return {
    id,
    role: id === leader ? 'leader' : 'follower',
    leader,
    term: 4,
    commitIndex: 200,
    appliedIndex: 200,
    members: ['n1', 'n2', 'n3'].map((m) => ({
      id: m,
      url: `ws://${m}:8180`,
      role: m === leader ? 'leader' : 'follower',
      clientUrl: URLS[m]!,
      match: id === leader ? (m === 'n1' ? 210 : m === 'n2' ? 205 : 150) : null,
    })),
    clusterId: 'prod',
    lifecycle: 'running',
    leaderClientUrl: leader === null ? null : URLS[leader]!,
    lastIndex: 210,
    snapshotIndex: 100,
    transport: null,
    uptimeSeconds: 3_600,
    version: '1.2.3',
    ...overrides,
  };
}

/** Answers from a table of client URL → status; a missing URL does not answer. */
function fetcherOf(answers: Record<string, NodeStatus | Error>): StatusFetcher & { asked: string[] } {
  const asked: string[] = [];
  const fetcher = async (clientUrl: string): Promise<NodeStatus> => {
    asked.push(clientUrl);
    const answer = answers[clientUrl];
    if (answer === undefined) throw new Error(`cannot reach ${clientUrl}/status (ECONNREFUSED)`);
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return Object.assign(fetcher, { asked });
}

describe('clusterOverview', () => {
  it('lists every member with its own indexes and the lag the leader measures', async () => {
    const fetcher = fetcherOf({ [URLS.n1!]: status('n1'), [URLS.n3!]: status('n3', { appliedIndex: 150, commitIndex: 200 }) });
    const overview = await clusterOverview(status('n2'), fetcher);
    expect(fetcher.asked.sort()).toEqual([URLS.n1, URLS.n3]);
    expect(overview).toMatchObject({ clusterId: 'prod', answeredBy: 'n2', leader: 'n1', term: 4, commitIndex: 200 });
    expect(overview.members.map((m) => [m.id, m.role, m.health, m.lagEntries])).toEqual([
      ['n1', 'leader', 'healthy', 0],
      ['n2', 'follower', 'healthy', 5],
      ['n3', 'follower', 'catching-up', 60],
    ]);
    expect(overview.members[2]!.detail).toContain('applied 150 of 200');
  });

  it('marks a member that does not answer as unreachable, keeping what the membership says', async () => {
    const overview = await clusterOverview(status('n1'), fetcherOf({ [URLS.n2!]: status('n2') }));
    const n3 = overview.members.find((m) => m.id === 'n3')!;
    expect(n3).toMatchObject({ reachable: false, health: 'unreachable', role: 'follower', term: null, appliedIndex: null, lagEntries: 60 });
    expect(n3.detail).toContain('ECONNREFUSED');
  });

  it('names members without a known client URL and one that answers as another node', async () => {
    const self = status('n1');
    self.members[1]!.clientUrl = null;
    const overview = await clusterOverview(self, fetcherOf({ [URLS.n3!]: status('n2') }));
    expect(overview.members[1]).toMatchObject({ id: 'n2', health: 'unreachable' });
    expect(overview.members[1]!.detail).toContain('clientUrls');
    expect(overview.members[2]).toMatchObject({ id: 'n3', health: 'unreachable', detail: 'answered as n2, not n3' });
  });

  it('finds the leader through the members when the asked node knows none, and reports no lag without one', async () => {
    const orphan = status('n2', { leader: null, role: 'follower' });
    const found = await clusterOverview(orphan, fetcherOf({ [URLS.n1!]: status('n1'), [URLS.n3!]: status('n3') }));
    expect(found.leader).toBe('n1');
    expect(found.members.find((m) => m.id === 'n2')).toMatchObject({ health: 'no-leader', lagEntries: 5 });
    const noLeader = (id: string): NodeStatus => status(id, { leader: null, role: 'follower' });
    const none = await clusterOverview(noLeader('n1'), fetcherOf({ [URLS.n2!]: noLeader('n2'), [URLS.n3!]: noLeader('n3') }));
    expect(none.leader).toBeNull();
    expect(none.members.map((m) => [m.health, m.lagEntries])).toEqual([['no-leader', null], ['no-leader', null], ['no-leader', null]]);
  });

  it('reports a stopping or removed member by its lifecycle', async () => {
    const overview = await clusterOverview(status('n1'), fetcherOf({ [URLS.n2!]: status('n2', { lifecycle: 'stopping' }), [URLS.n3!]: status('n3', { lifecycle: 'removed' }) }));
    expect(overview.members.map((m) => m.health)).toEqual(['healthy', 'stopping', 'removed']);
  });
});

describe('formatOverview', () => {
  it('prints a header and an aligned row per member, marking the node asked and listing problems', async () => {
    const overview = await clusterOverview(status('n2'), fetcherOf({ [URLS.n1!]: status('n1') }));
    const text = formatOverview(overview);
    const lines = text.split('\n');
    expect(lines[0]).toBe('cluster prod · leader n1 · term 4 · commit 200 · asked n2');
    expect(lines[2]).toMatch(/^NODE\s+ROLE\s+HEALTH\s+TERM\s+COMMIT\s+APPLIED\s+LAG\s+UPTIME\s+CLIENT URL$/);
    expect(lines[3]).toMatch(/^n1\s+leader\s+healthy\s+4\s+200\s+200\s+0\s+60 min\s+http:\/\/h1:8080$/);
    expect(lines[4]).toMatch(/^n2 \*\s+follower\s+healthy\s+4\s+200\s+200\s+5\s+60 min\s+http:\/\/h2:8080$/);
    expect(lines[5]).toMatch(/^n3\s+follower\s+unreachable\s+-\s+-\s+-\s+60\s+-\s+http:\/\/h3:8080$/);
    // Columns line up: every row starts its ROLE column at the same place.
    const roleAt = lines[2]!.indexOf('ROLE');
    for (const row of lines.slice(3, 6)) expect(row.slice(roleAt)).toMatch(/^(leader|follower)/);
    expect(text).toContain('problems:\n  n3: cannot reach');
  });

  it('says so when no member is known yet', () => {
    const text = formatOverview({ clusterId: 'c', answeredBy: 'n4', leader: null, term: 0, commitIndex: 0, members: [] });
    expect(text).toBe('cluster c · leader (none) · term 0 · commit 0 · asked n4\n\nno members known yet (the node is starting or joining)');
  });
});
