// Linearizable reads by ReadIndex (thesis §6.4).
import { describe, expect, it } from 'vitest';
import { TestCluster } from './cluster-harness.js';

describe('ReadIndex (thesis §6.4)', () => {
  it('the leader answers a read with its commit index after one heartbeat round, without a log write', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    c.propose(leader, 'x');
    c.stabilize();
    const lastBefore = c.raft(leader).status().lastIndex;
    c.delivered.length = 0;
    expect(c.raft(leader).readIndex('r1').ok).toBe(true);
    c.stabilize();
    expect(c.node(leader).readStates).toEqual([{ requestId: 'r1', index: c.raft(leader).status().commit }]);
    expect(c.raft(leader).status().lastIndex).toBe(lastBefore);
    expect(c.delivered.filter((m) => m.type === 'heartbeat').length).toBe(2);
  });

  it('reads arriving together share one heartbeat round', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    c.delivered.length = 0;
    for (let i = 0; i < 20; i++) c.raft(leader).readIndex(`r${i}`);
    c.stabilize();
    expect(c.node(leader).readStates).toHaveLength(20);
    expect(c.delivered.filter((m) => m.type === 'heartbeat').length).toBe(2);
  });

  it('a follower obtains the read index from the leader', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    c.propose(leader, 'x');
    c.stabilize();
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    expect(c.raft(follower).readIndex('f1').ok).toBe(true);
    c.stabilize();
    expect(c.node(follower).readStates).toEqual([{ requestId: 'f1', index: c.raft(leader).status().commit }]);
  });

  it('ReadIndex refuses to answer from a deposed leader', () => {
    // Without CheckQuorum the cut-off leader keeps believing it leads: only
    // the read-index round protects its readers.
    const c = new TestCluster(['n1', 'n2', 'n3'], { raft: { checkQuorum: false } });
    const oldLeader = c.electLeader();
    c.isolate(oldLeader);
    c.tickAll(40);
    const newLeader = [...c.nodes.keys()].find((id) => id !== oldLeader && c.raft(id).status().role === 'leader');
    expect(newLeader).toBeDefined();
    c.propose(newLeader!, 'newer');
    c.stabilize();
    expect(c.raft(oldLeader).status().role).toBe('leader');
    expect(c.raft(oldLeader).readIndex('stale').ok).toBe(true);
    c.tickAll(30);
    expect(c.node(oldLeader).readStates).toEqual([]);
    // Once it hears of the newer term it steps down and fails the read.
    c.heal();
    c.tickAll(5);
    expect(c.raft(oldLeader).status().role).toBe('follower');
    expect(c.node(oldLeader).readStates).toEqual([]);
    expect(c.node(oldLeader).readFailures.map((f) => f.requestId)).toEqual(['stale']);
  });

  it('a deposed leader that has not yet noticed holds reads until it steps down, then fails them', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    c.isolate(leader);
    expect(c.raft(leader).status().role).toBe('leader');
    expect(c.raft(leader).readIndex('r').ok).toBe(true);
    c.stabilize();
    expect(c.node(leader).readStates).toEqual([]);
    c.tickAll(25); // CheckQuorum makes it step down
    expect(c.raft(leader).status().role).not.toBe('leader');
    expect(c.node(leader).readFailures).toEqual([{ requestId: 'r', code: 'TSR_ERR_READ_INDEX_FAILED' }]);
  });

  it('a new leader delays reads until it has committed an entry of its term', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    c.tickAll(2);
    c.isolate(leader);
    // Block appends so the next leader's no-op cannot commit.
    c.filter = (m) => m.type !== 'append';
    c.tickAll(40);
    const next = c.leader()!;
    expect(next).not.toBe(leader);
    c.raft(next).readIndex('early');
    c.tickAll(3);
    expect(c.node(next).readStates).toEqual([]);
    c.filter = null;
    c.tickAll(3);
    expect(c.node(next).readStates.map((r) => r.requestId)).toEqual(['early']);
    expect(c.node(next).readStates[0]!.index).toBe(c.raft(next).status().commit);
  });

  it('fails at once with a typed error when no leader is known', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const r = c.raft('n1').readIndex('x');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('TSR_ERR_NO_LEADER');
  });

  it('bounds the number of pending reads', () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], { raft: { maxPendingReads: 5 } });
    const leader = c.electLeader();
    c.isolate(leader);
    const codes = Array.from({ length: 8 }, (_, i) => c.raft(leader).readIndex(`r${i}`)).map((r) => (r.ok ? 'ok' : r.error.code));
    expect(codes.filter((x) => x === 'ok')).toHaveLength(5);
    expect(codes.slice(5)).toEqual(Array(3).fill('TSR_ERR_TOO_MANY_PENDING_READS'));
  });
});
