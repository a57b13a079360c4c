// Membership changes one server at a time (thesis §4.1–4.2), learners
// (thesis §4.2.1), leadership transfer (thesis §3.10) and proposal routing.
import { describe, expect, it } from 'vitest';
import { TestCluster } from './cluster-harness.js';

function commitAll(c: TestCluster): void {
  c.stabilize();
  c.tickAll(3);
}

describe('membership changes', () => {
  it('add-learner-promote: a learner catches up, never counts in a quorum, then is promoted', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    c.propose(leader, 'before');
    commitAll(c);
    c.addNode('n4');
    expect(c.raft(leader).proposeConfigChange({ op: 'add-learner', nodeId: 'n4', context: 'url-n4' }).ok).toBe(true);
    commitAll(c);
    expect(c.raft(leader).status().config.learners).toEqual(['n4']);
    expect(c.node('n4').applied.map((a) => a.data)).toEqual(['before']);
    expect(c.raft('n4').status().config.learners).toEqual(['n4']);
    // A learner never campaigns.
    c.isolate('n4');
    c.tickAll(50);
    expect(c.raft('n4').status().role).toBe('follower');
    c.heal();
    commitAll(c);
    expect(c.raft(leader).proposeConfigChange({ op: 'add-voter', nodeId: 'n4', context: '' }).ok).toBe(true);
    commitAll(c);
    expect(c.raft(leader).status().config.voters).toEqual(['n1', 'n2', 'n3', 'n4']);
    expect(c.raft(leader).status().config.contexts['n4']).toBe('url-n4');
  });

  it('a learner never counts in a quorum: leader plus learner cannot commit', () => {
    const c = new TestCluster(['n1', 'n2', 'n3', 'n4'], { learners: ['n4'] });
    c.campaign('n1');
    expect(c.leader()).toBe('n1');
    c.isolate('n2');
    c.isolate('n3');
    c.propose('n1', 'x');
    c.stabilize();
    expect(c.raft('n4').status().lastIndex).toBe(c.raft('n1').status().lastIndex);
    expect(c.node('n1').applied).toEqual([]);
  });

  it('refuses to promote a learner that has not caught up', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    c.addNode('n4');
    c.isolate('n4');
    c.raft(leader).proposeConfigChange({ op: 'add-learner', nodeId: 'n4', context: 'u' });
    commitAll(c);
    const r = c.raft(leader).proposeConfigChange({ op: 'add-voter', nodeId: 'n4', context: '' });
    expect(r.ok ? 'ok' : r.error.code).toBe('TSR_ERR_LEARNER_BEHIND');
  });

  it('allows only one uncommitted membership change at a time', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    commitAll(c);
    expect(c.raft(leader).proposeConfigChange({ op: 'add-learner', nodeId: 'n4', context: '' }).ok).toBe(true);
    const second = c.raft(leader).proposeConfigChange({ op: 'add-learner', nodeId: 'n5', context: '' });
    expect(second.ok ? 'ok' : second.error.code).toBe('TSR_ERR_CONFIG_CHANGE_PENDING');
  });

  it('a new leader refuses membership changes until it commits an entry of its term', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    commitAll(c);
    // The old leader is cut off and the new leader's appends are lost, so its no-op cannot commit.
    c.isolate(leader);
    c.filter = (m) => m.type !== 'append';
    c.tickAll(40);
    const next = c.leader()!;
    expect(next).not.toBe(leader);
    const early = c.raft(next).proposeConfigChange({ op: 'add-learner', nodeId: 'n9', context: '' });
    expect(early.ok ? 'ok' : early.error.code).toBe('TSR_ERR_CONFIG_CHANGE_PENDING');
  });

  it('rejects invalid changes with a typed error naming the problem', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    commitAll(c);
    const r = c.raft(leader).proposeConfigChange({ op: 'add-voter', nodeId: 'n2', context: '' });
    expect(r.ok ? 'ok' : r.error.code).toBe('TSR_ERR_CONFIG_CHANGE_INVALID');
    const r2 = c.raft(leader).proposeConfigChange({ op: 'remove', nodeId: 'nope', context: '' });
    expect(r2.ok ? 'ok' : r2.error.code).toBe('TSR_ERR_CONFIG_CHANGE_INVALID');
  });

  it('remove-leader: a removed leader steps down once the change commits; the rest elect a leader', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    commitAll(c);
    expect(c.raft(leader).proposeConfigChange({ op: 'remove', nodeId: leader, context: '' }).ok).toBe(true);
    commitAll(c);
    expect(c.raft(leader).status().role).toBe('follower');
    c.tickAll(40);
    const newLeader = c.leader();
    expect(newLeader).not.toBeNull();
    expect(newLeader).not.toBe(leader);
    expect(c.raft(newLeader!).status().config.voters).not.toContain(leader);
    c.propose(newLeader!, 'after');
    commitAll(c);
    const survivors = ['n1', 'n2', 'n3'].filter((id) => id !== leader);
    for (const id of survivors) expect(c.node(id).applied.map((a) => a.data)).toEqual(['after']);
  });

  it('a removed node cannot disrupt the cluster', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    commitAll(c);
    const victim = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    // The victim misses its own removal, so it still thinks it is a voter.
    c.isolate(victim);
    c.raft(leader).proposeConfigChange({ op: 'remove', nodeId: victim, context: '' });
    commitAll(c);
    const term = c.raft(leader).status().term;
    c.tickAll(60); // it campaigns while isolated
    c.heal();
    c.tickAll(60); // and keeps trying after the partition heals
    expect(c.leader()).toBe(leader);
    expect(c.raft(leader).status().term).toBe(term);
  });
});

describe('leadership transfer (thesis §3.10)', () => {
  it('leader-transfer: completes to an up-to-date voter', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    c.propose(leader, 'x');
    commitAll(c);
    const target = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    expect(c.raft(leader).transferLeadership(target).ok).toBe(true);
    c.stabilize();
    expect(c.leader()).toBe(target);
  });

  it('catches the target up before handing over', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    const target = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    c.isolate(target);
    for (let i = 0; i < 5; i++) c.propose(leader, `x${i}`);
    c.stabilize();
    c.heal();
    c.raft(leader).transferLeadership(target);
    c.tickAll(3);
    expect(c.leader()).toBe(target);
    expect(c.node(target).applied).toHaveLength(5);
  });

  it('refuses proposals while a transfer is in progress, and aborts after an election timeout', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    const target = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    c.isolate(target);
    c.propose(leader, 'x');
    c.stabilize();
    expect(c.raft(leader).transferLeadership(target).ok).toBe(true);
    const during = c.raft(leader).propose(new Uint8Array([1]));
    expect(during.ok ? 'ok' : during.error.code).toBe('TSR_ERR_TRANSFER_IN_PROGRESS');
    c.tickAll(12);
    expect(c.leader()).toBe(leader);
    expect(c.raft(leader).status().transferringTo).toBeNull();
    expect(c.raft(leader).propose(new Uint8Array([2])).ok).toBe(true);
  });

  it('refuses to transfer to a learner or unknown node', () => {
    const c = new TestCluster(['n1', 'n2', 'n3', 'n4'], { learners: ['n4'] });
    c.campaign('n1');
    const r = c.raft('n1').transferLeadership('n4');
    expect(r.ok ? 'ok' : r.error.code).toBe('TSR_ERR_TRANSFER_INVALID');
  });
});

describe('proposal routing', () => {
  it('a follower rejects a proposal with NotLeader carrying the leader hint', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    const r = c.propose(follower, 'x');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('TSR_ERR_NOT_LEADER');
      expect(r.error.details).toMatchObject({ leader, leaderContext: `url-${leader}` });
    }
  });

  it('a proposal during an election fails fast with NoLeader', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const r = c.propose('n1', 'x');
    expect(r.ok ? 'ok' : r.error.code).toBe('TSR_ERR_NO_LEADER');
  });
});
