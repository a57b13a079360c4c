// Log replication scenarios (paper §5.3, §5.4.2; thesis §3.5, §10.2).
import { describe, expect, it } from 'vitest';
import { TestCluster, bytes } from './cluster-harness.js';
import type { AppendMsg } from '../../src/raft/types.js';

function logTerms(c: TestCluster, id: string): number[] {
  const s = c.raft(id).status();
  const out: number[] = [];
  for (let i = s.firstIndex; i <= s.lastIndex; i++) out.push(c.raft(id).termOf(i)!);
  return out;
}

describe('telling followers the commit index (§5.3)', () => {
  const deferred = { raft: { commitNowBytes: 2048 } };
  const appliedOf = (c: TestCluster, id: string): string[] => c.node(id).applied.map((a) => a.data);

  it('sends a small commit with the next append, or at the next tick when none follows', () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], deferred);
    const leader = c.electLeader();
    const followers = ['n1', 'n2', 'n3'].filter((id) => id !== leader);
    const before = followers.map((id) => appliedOf(c, id).length);
    c.propose(leader, 'p1');
    c.stabilize();
    expect(appliedOf(c, leader)).toContain('p1');
    // Replicated and committed, but the followers were not told yet.
    expect(followers.map((id) => appliedOf(c, id).length)).toEqual(before);
    expect(c.delivered.filter((m) => m.type === 'append' && m.entries.length === 0)).toHaveLength(0);
    c.propose(leader, 'p2');
    c.stabilize();
    // p2's append carried p1's commit.
    for (const id of followers) expect(appliedOf(c, id)).toContain('p1');
    for (const id of followers) expect(appliedOf(c, id)).not.toContain('p2');
    c.raft(leader).tick();
    c.stabilize();
    for (const id of followers) expect(appliedOf(c, id)).toContain('p2');
  });

  it('sends a commit of commitNowBytes or more at once', () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], deferred);
    const leader = c.electLeader();
    c.propose(leader, 'x'.repeat(3000));
    c.stabilize();
    for (const id of ['n1', 'n2', 'n3']) expect(appliedOf(c, id)).toContain('x'.repeat(3000));
  });

  it('sends the commit of a membership change at once', () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], deferred);
    const leader = c.electLeader();
    expect(c.raft(leader).proposeConfigChange({ op: 'add-learner', nodeId: 'n4', context: '' }).ok).toBe(true);
    c.stabilize();
    for (const id of ['n1', 'n2', 'n3']) expect(c.raft(id).status().commit, id).toBe(c.raft(leader).status().commit);
  });

  it('sends a heartbeat to a follower whose appends this interval carried an older commit', () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], deferred);
    const leader = c.electLeader();
    c.propose(leader, 'p1');
    c.stabilize();
    const sent = c.delivered.length;
    // The heartbeat tick: the appends of this interval went out before p1 committed.
    c.raft(leader).tick();
    c.stabilize();
    const told = c.delivered.slice(sent).filter((m) => m.from === leader && (m.type === 'heartbeat' || m.type === 'append'));
    expect(told.length).toBeGreaterThanOrEqual(2);
    for (const id of ['n1', 'n2', 'n3']) expect(appliedOf(c, id)).toContain('p1');
  });
});

describe('log replication (§5.3)', () => {
  it('replicates and applies proposals on every node in order', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    for (let i = 0; i < 10; i++) expect(c.propose(leader, `p${i}`).ok).toBe(true);
    c.stabilize();
    for (const id of ['n1', 'n2', 'n3']) {
      expect(c.node(id).applied.map((a) => a.data)).toEqual(Array.from({ length: 10 }, (_, i) => `p${i}`));
    }
  });

  it('Figure 7: divergent follower logs are repaired to match the new leader', () => {
    // The leader of term 8 and followers (a)–(f) of the paper's Figure 7.
    const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const c = new TestCluster(['L', 'a', 'b', 'c', 'd', 'e', 'f'], {
      raft: { preVote: false },
      initial: {
        L: { term: 7, entryTerms: leaderLog },
        a: { term: 6, entryTerms: [1, 1, 1, 4, 4, 5, 5, 6, 6] },
        b: { term: 4, entryTerms: [1, 1, 1, 4] },
        c: { term: 6, entryTerms: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6] },
        d: { term: 7, entryTerms: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7] },
        e: { term: 4, entryTerms: [1, 1, 1, 4, 4, 4, 4] },
        f: { term: 3, entryTerms: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3] },
      },
    });
    c.campaign('L');
    expect(c.leader()).toBe('L');
    expect(c.raft('L').status().term).toBe(8);
    c.propose('L', 'after-election');
    c.stabilize();
    const expected = logTerms(c, 'L');
    expect(expected.slice(0, 10)).toEqual(leaderLog);
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) expect(logTerms(c, id), id).toEqual(expected);
    expect(c.raft('f').status().commit).toBe(expected.length);
  });

  it('fast backtracking: repairing follower (f) takes a few round trips, not one per entry', () => {
    const c = new TestCluster(['L', 'x', 'f'], {
      raft: { preVote: false },
      initial: {
        L: { term: 7, entryTerms: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6] },
        x: { term: 7, entryTerms: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6] },
        f: { term: 3, entryTerms: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3] },
      },
    });
    c.campaign('L');
    c.stabilize();
    const rejections = c.delivered.filter((m) => m.type === 'append-resp' && m.from === 'f' && m.reject);
    expect(rejections.length).toBeLessThanOrEqual(3);
    expect(logTerms(c, 'f')).toEqual(logTerms(c, 'L'));
  });

  it('Figure 8: a leader never commits an entry of an earlier term by counting replicas (§5.4.2)', () => {
    const run = (commitOldTerm: boolean) => {
      // (c) of Figure 8: S1 is leader again in term 4 and has replicated its
      // term-2 entry to S3; S5 holds a term-3 entry at index 2.
      const c = new TestCluster(['s1', 's2', 's3', 's4', 's5'], {
        raft: { preVote: false, checkQuorum: false, maxAppendBytes: 1 },
        perNode: { s1: { testingKnobs: { commitOldTerm } } },
        initial: {
          s1: { term: 3, entryTerms: [1, 2] },
          s2: { term: 3, entryTerms: [1, 2] },
          s3: { term: 3, entryTerms: [1] },
          s4: { term: 3, entryTerms: [1] },
          s5: { term: 3, entryTerms: [1, 3] },
        },
      });
      c.isolate('s5');
      // Only one entry per append (maxAppendBytes 1) and the leader's own
      // term-4 entry never reaches anyone: the old entry alone is replicated.
      c.filter = (m) => (m.type === 'append' ? { ...m, entries: m.entries.filter((e) => e.term !== 4) } : true);
      c.campaign('s1');
      expect(c.leader()).toBe('s1');
      c.tickAll(2);
      const s3HasOld = c.raft('s3').termOf(2) === 2;
      const committedOld = c.raft('s1').status().commit >= 2;
      // (d): S1 crashes; S5 (last term 3) wins with S2, S3, S4 and overwrites index 2.
      c.crash('s1');
      c.filter = null;
      c.heal();
      c.isolate('s1');
      for (let i = 0; i < 3 && c.leader() !== 's5'; i++) {
        c.raft('s5').campaign();
        c.runRounds(4);
      }
      return { s3HasOld, committedOld, s5Leader: c.leader() === 's5', s1Applied: c.node('s1').applied, s5TermAt2: c.raft('s5').termOf(2) };
    };
    const safe = run(false);
    expect(safe.s3HasOld).toBe(true); // stored on a majority (s1, s2, s3)...
    expect(safe.committedOld).toBe(false); // ...yet not committed
    expect(safe.s5Leader).toBe(true);
    expect(safe.s1Applied.some((a) => a.index === 2)).toBe(false);

    const buggy = run(true);
    expect(buggy.committedOld).toBe(true);
    // The planted bug lets S1 apply index 2 (term 2), yet S5 becomes leader
    // holding a different entry there: leader completeness is broken.
    expect(buggy.s1Applied.find((a) => a.index === 2)?.term).toBe(2);
    expect(buggy.s5Leader).toBe(true);
    expect(buggy.s5TermAt2).toBe(3);
  });

  it('batches many proposals into one append per follower', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    c.delivered.length = 0;
    for (let i = 0; i < 50; i++) c.propose(leader, `p${i}`);
    c.handleReady(leader);
    const appends = c.queue.filter((m) => m.type === 'append') as AppendMsg[];
    expect(appends).toHaveLength(2);
    expect(appends.every((m) => m.entries.length === 50)).toBe(true);
    c.stabilize();
    expect(c.node('n3').applied).toHaveLength(50);
  });

  it('pipelines appends within a bounded in-flight window per follower', () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], { raft: { maxInflightMsgs: 4, maxAppendBytes: 64 } });
    const leader = c.electLeader();
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    c.cutOneWay(follower, leader); // acknowledgements are lost: the window fills
    for (let round = 0; round < 10; round++) {
      c.propose(leader, 'x'.repeat(40));
      c.handleReady(leader);
    }
    const inflight = c.queue.filter((m) => m.type === 'append' && m.to === follower);
    expect(inflight.length).toBeLessThanOrEqual(4);
    expect(c.raft(leader).status().progress[follower]!.inflightMsgs).toBeLessThanOrEqual(4);
    c.heal();
    c.tickAll(20);
    expect(c.node(follower).applied).toHaveLength(10);
  });

  it('bounds the bytes in flight per follower, not only the message count', () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], { raft: { maxInflightMsgs: 100, maxInflightBytes: 500, maxAppendBytes: 200 } });
    const leader = c.electLeader();
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    c.cutOneWay(follower, leader);
    for (let i = 0; i < 20; i++) {
      c.propose(leader, 'b'.repeat(100));
      c.handleReady(leader);
    }
    const inflight = c.queue.filter((m) => m.type === 'append' && m.to === follower) as AppendMsg[];
    const bytesInFlight = inflight.reduce((sum, m) => sum + m.entries.reduce((s, e) => s + e.data.length + 24, 0), 0);
    // The window closes once 500 bytes are outstanding; one message may cross the line.
    expect(bytesInFlight).toBeLessThanOrEqual(500 + 200);
    expect(inflight.length).toBeLessThan(20);
    c.heal();
    c.tickAll(20);
    expect(c.node(follower).applied).toHaveLength(20);
  });

  it('bounds the bytes of one append message', () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], { raft: { maxAppendBytes: 100 } });
    const leader = c.electLeader();
    for (let i = 0; i < 10; i++) c.propose(leader, 'y'.repeat(50));
    c.handleReady(leader);
    const appends = c.queue.filter((m) => m.type === 'append') as AppendMsg[];
    expect(appends.length).toBeGreaterThan(2);
    for (const m of appends) expect(m.entries.length).toBeLessThanOrEqual(1);
    c.stabilize();
    c.tickAll(5);
    expect(c.node('n2').applied).toHaveLength(10);
  });

  it('refuses proposals beyond the uncommitted-bytes limit with a typed error', () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], { raft: { maxUncommittedBytes: 1000 } });
    const leader = c.electLeader();
    for (const id of ['n1', 'n2', 'n3']) if (id !== leader) c.isolate(id);
    let refused = null;
    for (let i = 0; i < 100 && refused === null; i++) {
      const r = c.raft(leader).propose(bytes('z'.repeat(100)));
      if (!r.ok) refused = r.error.code;
    }
    expect(refused).toBe('TSR_ERR_PROPOSAL_BACKPRESSURE');
  });

  it('coalesces heartbeats with appends: a follower that just got an append gets no heartbeat', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    c.tickAll(3);
    c.delivered.length = 0;
    c.propose(leader, 'a');
    c.stabilize();
    c.tickAll(1);
    const heartbeats = c.delivered.filter((m) => m.type === 'heartbeat');
    expect(heartbeats).toHaveLength(0);
    c.tickAll(1);
    expect(c.delivered.filter((m) => m.type === 'heartbeat').length).toBeGreaterThan(0);
  });

  it('commits only after the leader itself has persisted (advance)', () => {
    const c = new TestCluster(['n1']);
    c.electLeader();
    c.propose('n1', 'x');
    const before = c.raft('n1').status().commit;
    const rd = c.raft('n1').ready();
    expect(rd.entries).toHaveLength(1);
    expect(c.raft('n1').status().commit).toBe(before);
    c.raft('n1').advance(rd);
    expect(c.raft('n1').status().commit).toBe(before + 1);
  });

  it('persists entries before sending the acknowledgement that depends on them', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    c.propose(leader, 'x');
    c.handleReady(leader);
    while (c.deliverOne());
    const rd = c.raft(follower).ready();
    const ack = rd.messages.find((m) => m.type === 'append-resp');
    expect(ack).toBeDefined();
    // The acknowledged index is covered by entries in this same Ready (persisted first).
    expect(rd.entries.map((e) => e.index)).toContain((ack as { index: number }).index);
    c.raft(follower).advance(rd);
  });

  it('a restarted node recovers its log and term from disk and catches up', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    for (let i = 0; i < 5; i++) c.propose(leader, `a${i}`);
    c.stabilize();
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    c.crash(follower);
    for (let i = 0; i < 5; i++) c.propose(leader, `b${i}`);
    c.stabilize();
    c.restart(follower);
    c.tickAll(5);
    expect(c.node(follower).applied.map((a) => a.data)).toEqual([...Array.from({ length: 5 }, (_, i) => `a${i}`), ...Array.from({ length: 5 }, (_, i) => `b${i}`)]);
  });
});
