// Snapshots, compaction and InstallSnapshot in chunks (paper §7, thesis §5).
import { describe, expect, it } from 'vitest';
import { TestCluster } from './cluster-harness.js';
import type { SnapshotMsg } from '../../src/raft/types.js';

function writeMany(c: TestCluster, leader: string, prefix: string, n: number): void {
  for (let i = 0; i < n; i++) c.propose(leader, `${prefix}${i}-${'v'.repeat(20)}`);
  c.stabilize();
}

describe('snapshots and log compaction', () => {
  it('snapshot-catchup: a far-behind follower receives a chunked snapshot and then the log', () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], { raft: { snapshotChunkBytes: 64 } });
    const leader = c.electLeader();
    const lagger = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    c.crash(lagger);
    writeMany(c, leader, 'a', 30);
    const meta = c.snapshotAndCompact(leader);
    expect(c.raft(leader).status().firstIndex).toBe(meta.index + 1);
    writeMany(c, leader, 'b', 5);
    c.restart(lagger);
    c.tickAll(10);
    const chunks = c.delivered.filter((m) => m.type === 'snapshot' && m.to === lagger) as SnapshotMsg[];
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.every((m) => m.length <= 64)).toBe(true);
    expect(c.node(lagger).applied).toEqual(c.node(leader).applied);
    expect(c.node(lagger).disk.snapshot?.index).toBe(meta.index);
    expect(c.raft(lagger).status().commit).toBe(c.raft(leader).status().commit);
  });

  it('resumes a snapshot transfer from the acknowledged offset after a lost chunk', () => {
    const c = new TestCluster(['n1', 'n2', 'n3'], { raft: { snapshotChunkBytes: 50 } });
    const leader = c.electLeader();
    const lagger = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    c.crash(lagger);
    writeMany(c, leader, 'a', 30);
    c.snapshotAndCompact(leader);
    c.restart(lagger);
    let dropped = 0;
    c.filter = (m) => {
      if (m.type === 'snapshot' && m.offset === 100 && dropped === 0) {
        dropped++;
        return false;
      }
      return true;
    };
    c.tickAll(40);
    expect(dropped).toBe(1);
    const offsets = c.delivered.filter((m) => m.type === 'snapshot' && m.to === lagger).map((m) => (m as SnapshotMsg).offset);
    // Every chunk before the lost one went exactly once; the lost one was resent.
    expect(offsets.filter((o) => o === 0)).toHaveLength(1);
    expect(offsets.filter((o) => o === 100)).toHaveLength(1);
    expect(c.node(lagger).applied).toEqual(c.node(leader).applied);
  });

  it('a follower that already has the snapshot index in its log fast-forwards instead of restoring', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    writeMany(c, leader, 'a', 5);
    const meta = c.snapshotAndCompact(leader);
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    c.raft(follower).step({ type: 'snapshot', from: leader, to: follower, term: c.raft(leader).status().term, meta, offset: 0, length: 0, data: new Uint8Array(0), done: false });
    const rd = c.raft(follower).ready();
    expect(rd.snapshot).toBeNull();
    expect(rd.messages.some((m) => m.type === 'append-resp' && !m.reject && m.index === meta.index)).toBe(true);
    c.raft(follower).advance(rd);
  });

  it('restarts from a snapshot plus the log after it', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    writeMany(c, leader, 'a', 10);
    for (const id of ['n1', 'n2', 'n3']) c.snapshotAndCompact(id);
    writeMany(c, leader, 'b', 10);
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    const before = c.node(follower).applied;
    c.crash(follower);
    c.restart(follower);
    // Rebuilt: snapshot state, then log replay of the committed entries after it.
    c.stabilize();
    expect(c.node(follower).applied).toEqual(before);
  });

  it('compaction may keep a tail of entries so slightly-behind followers still get appends', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    const lagger = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    writeMany(c, leader, 'a', 10);
    c.crash(lagger);
    writeMany(c, leader, 'b', 3);
    c.snapshotAndCompact(leader, 10);
    c.restart(lagger);
    c.tickAll(5);
    expect(c.delivered.some((m) => m.type === 'snapshot')).toBe(false);
    expect(c.node(lagger).applied).toEqual(c.node(leader).applied);
  });
});

describe('a follower that lost its disk', () => {
  const wipe = (c: TestCluster, id: string): void => {
    // Rebuilt from scratch: only the founding bootstrap entries, term 1.
    c.crash(id);
    const fresh = new TestCluster(['n1', 'n2', 'n3']).node(id).disk;
    c.node(id).disk = fresh;
    c.restart(id);
  };

  it('catches up again in an idle cluster (the leader learns from its heartbeat answer)', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    writeMany(c, leader, 'a', 20);
    c.tickAll(3);
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    wipe(c, follower);
    c.tickAll(10);
    expect(c.node(follower).applied).toEqual(c.node(leader).applied);
  });

  it('catches up again when writes continue, and via a snapshot once the leader compacted', () => {
    const c = new TestCluster(['n1', 'n2', 'n3']);
    const leader = c.electLeader();
    writeMany(c, leader, 'a', 20);
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    wipe(c, follower);
    writeMany(c, leader, 'b', 5);
    c.tickAll(5);
    expect(c.node(follower).applied).toEqual(c.node(leader).applied);
    wipe(c, follower);
    c.snapshotAndCompact(leader);
    writeMany(c, leader, 'c', 5);
    c.tickAll(10);
    expect(c.node(follower).applied).toEqual(c.node(leader).applied);
  });
});
