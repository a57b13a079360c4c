// Leader election scenarios (paper §5.2, thesis §3.4, §6.2 CheckQuorum, §9.6 PreVote).
import { describe, expect, it } from 'vitest';
import { TestCluster } from './cluster-harness.js';

describe('leader election (§5.2)', () => {
  it('elects exactly one leader in a healthy 3-node cluster', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    const statuses = ['n1', 'n2', 'n3'].map((id) => c.raft(id).status());
    expect(statuses.filter((s) => s.role === 'leader').map((s) => s.id)).toEqual([leader]);
    expect(new Set(statuses.map((s) => s.term)).size).toBe(1);
    expect(statuses.every((s) => s.leader === leader)).toBe(true);
  });

  it('a single-node cluster elects itself and commits alone', () => {
    const c = new TestCluster(['n1']);
    c.electLeader();
    expect(c.propose('n1', 'x').ok).toBe(true);
    c.stabilize();
    expect(c.node('n1').applied.map((a) => a.data)).toEqual(['x']);
  });

  it('rejects a vote request from a lower term', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    c.campaign('n1');
    const term = c.raft('n2').status().term;
    c.raft('n2').step({ type: 'vote', from: 'n3', to: 'n2', term: term - 1, lastIndex: 99, lastTerm: 99, transfer: false });
    const rd = c.raft('n2').ready();
    expect(rd.messages.filter((m) => m.type === 'vote-resp' && !m.reject)).toEqual([]);
    c.raft('n2').advance(rd);
  });

  it('grants at most one vote per term (§5.2)', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const n3 = c.raft('n3');
    n3.step({ type: 'vote', from: 'n1', to: 'n3', term: 5, lastIndex: 3, lastTerm: 1, transfer: false });
    n3.step({ type: 'vote', from: 'n2', to: 'n3', term: 5, lastIndex: 3, lastTerm: 1, transfer: false });
    const grants = n3.ready().messages.filter((m) => m.type === 'vote-resp' && !m.reject);
    expect(grants.map((m) => m.to)).toEqual(['n1']);
  });

  it('the vote-twice testing knob really grants two votes (so the simulator can catch it)', () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], { perNode: { n3: { testingKnobs: { voteTwice: true } } } });
    const n3 = c.raft('n3');
    n3.step({ type: 'vote', from: 'n1', to: 'n3', term: 5, lastIndex: 3, lastTerm: 1, transfer: false });
    n3.step({ type: 'vote', from: 'n2', to: 'n3', term: 5, lastIndex: 3, lastTerm: 1, transfer: false });
    expect(n3.ready().messages.filter((m) => m.type === 'vote-resp' && !m.reject)).toHaveLength(2);
  });

  it('refuses to vote for a candidate whose log is less up to date (§5.4.1)', () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], {
      initial: { n1: { term: 2, entryTerms: [1] }, n2: { term: 2, entryTerms: [1, 2] }, n3: { term: 2, entryTerms: [1, 2] } },
      raft: { preVote: false },
    });
    c.campaign('n1');
    expect(c.raft('n1').status().role).not.toBe('leader');
    c.campaign('n2');
    expect(c.leader()).toBe('n2');
  });

  it('a candidate that hears from a leader of its term steps down (§5.2)', () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], { raft: { preVote: false } });
    const leader = c.electLeader();
    const other = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    c.isolate(other);
    c.campaign(other); // becomes candidate at term+1, nobody hears it
    expect(c.raft(other).status().role).toBe('candidate');
    c.heal();
    c.tickAll(30);
    const l = c.leader()!;
    expect(['n1', 'n2', 'n3'].every((id) => c.raft(id).status().leader === l)).toBe(true);
  });

  it('randomized timeouts are drawn from the injected PRNG: the same seed gives the same leader', () => {
    const leaders = [1, 2].map(() => new TestCluster(['n1', 'n2', 'n3', 'n4', 'n5'], { seed: 77 }).electLeader());
    expect(leaders[0]).toBe(leaders[1]);
  });
});

describe('PreVote (thesis §9.6)', () => {
  it('prevote-rejoin: a partitioned node rejoining does not bump the term or depose the leader', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    const termBefore = c.raft(leader).status().term;
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    c.isolate(follower);
    c.tickAll(100); // the isolated node times out many times
    expect(c.raft(follower).status().term).toBe(termBefore);
    expect(c.raft(follower).status().role).toBe('pre-candidate');
    c.heal();
    c.tickAll(5);
    expect(c.leader()).toBe(leader);
    expect(c.raft(leader).status().term).toBe(termBefore);
    expect(c.raft(follower).status().leader).toBe(leader);
  });

  it('without PreVote the same rejoin disrupts the leader (the problem PreVote solves)', () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], { raft: { preVote: false, checkQuorum: false } });
    const leader = c.electLeader();
    const termBefore = c.raft(leader).status().term;
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    c.isolate(follower);
    c.tickAll(100);
    expect(c.raft(follower).status().term).toBeGreaterThan(termBefore);
    c.heal();
    c.tickAll(30);
    expect(c.raft(c.leader()!).status().term).toBeGreaterThan(termBefore);
  });
});

describe('CheckQuorum (thesis §6.2)', () => {
  it('checkquorum-isolated-leader: a leader cut off from the majority steps down', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    c.isolate(leader);
    c.tickAll(25);
    expect(c.raft(leader).status().role).not.toBe('leader');
    const others = ['n1', 'n2', 'n3'].filter((id) => id !== leader);
    const newLeader = c.leader();
    expect(others).toContain(newLeader);
  });

  it('leader stickiness: followers that hear from the leader ignore a disruptive vote request', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    const term = c.raft(leader).status().term;
    const [a, b] = ['n1', 'n2', 'n3'].filter((id) => id !== leader) as [string, string];
    c.raft(b).step({ type: 'vote', from: a, to: b, term: term + 5, lastIndex: 1000, lastTerm: term, transfer: false });
    c.stabilize();
    expect(c.raft(b).status().term).toBe(term);
    expect(c.leader()).toBe(leader);
  });
});
