import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/raft/types.js';
import { MemorySnapshotStore } from '../../src/storage/memory-stores.js';
import { ReplicaWorld, bytes, codeOf } from './harness.js';

const IDS = ['a', 'b', 'c'];

async function cluster(options: ConstructorParameters<typeof ReplicaWorld>[1] = {}): Promise<ReplicaWorld> {
  const w = new ReplicaWorld(IDS, options);
  await w.startAll();
  await w.waitForLeader();
  return w;
}

describe('Replica: proposals', () => {
  it('applies a proposal on every replica and answers with the state machine result', async () => {
    const w = await cluster();
    const leader = w.leader()!;
    const outcome = await w.settle(leader.replica.propose(bytes('x')));
    expect(outcome.ok).toBe(true);
    expect(outcome.ok === true && outcome.value).toMatch(/^applied:x@\d+$/);
    await w.waitFor(() => IDS.every((id) => w.node(id).sm.items.includes('x')), 5_000, 'x applied everywhere');
  });

  it('puts proposals made in one turn of the event loop into one persisted batch', async () => {
    const batches: number[] = [];
    const w = await cluster({ observer: { onPersisted: (id, entries: readonly Entry[]) => entries.length > 0 && id === 'a' && batches.push(entries.length) } });
    const leader = w.leader()!;
    if (leader.id !== 'a') {
      await w.settle(leader.replica.transferLeader('a'));
    }
    await w.run(200);
    batches.length = 0;
    const all = Promise.all(['p1', 'p2', 'p3', 'p4', 'p5'].map((p) => w.replica('a').propose(bytes(p))));
    expect((await w.settle(all)).ok).toBe(true);
    expect(batches[0]).toBe(5);
  });

  it('refuses a proposal on a follower with NOT_LEADER naming the leader and its URL', async () => {
    const w = await cluster();
    const leader = w.leader()!;
    await w.run(200);
    const follower = w.followers()[0]!;
    const outcome = await w.settle(follower.replica.propose(bytes('y')));
    expect(codeOf(outcome)).toBe('TSR_ERR_NOT_LEADER');
    const details = outcome.ok === false ? (outcome.error as { details: Record<string, unknown> }).details : {};
    expect(details).toEqual({ leader: leader.id, leaderUrl: `ws://${leader.id}:8180` });
  });

  it('refuses a proposal with NO_LEADER before any leader is known', async () => {
    const w = new ReplicaWorld(IDS);
    await w.startAll();
    const outcome = await w.settle(w.replica('a').propose(bytes('early')), 1);
    expect(codeOf(outcome)).toBe('TSR_ERR_NO_LEADER');
  });

  it('fails a pending proposal with LEADERSHIP_LOST when its leader steps down', async () => {
    const w = await cluster({ proposalTimeoutMs: 60_000 });
    const leader = w.leader()!;
    w.network.isolate(leader.id, IDS);
    const outcome = await w.settle(leader.replica.propose(bytes('lost')), 10_000);
    expect(codeOf(outcome)).toBe('TSR_ERR_LEADERSHIP_LOST');
  });

  it('fails a proposal that is not applied in time with TIMEOUT', async () => {
    const w = await cluster();
    const leader = w.leader()!;
    w.network.isolate(leader.id, IDS);
    const outcome = await w.settle(leader.replica.propose(bytes('slow'), { timeoutMs: 20 }));
    expect(codeOf(outcome)).toBe('TSR_ERR_TIMEOUT');
  });

  it('refuses proposals beyond maxPendingProposals with PROPOSAL_BACKPRESSURE', async () => {
    const w = await cluster({ maxPendingProposals: 2 });
    const leader = w.leader()!;
    const first = leader.replica.propose(bytes('1'));
    const second = leader.replica.propose(bytes('2'));
    const third = await w.settle(leader.replica.propose(bytes('3')), 1);
    expect(codeOf(third)).toBe('TSR_ERR_PROPOSAL_BACKPRESSURE');
    expect((await w.settle(Promise.all([first, second]))).ok).toBe(true);
  });

  it('refuses a proposal larger than maxProposalBytes', async () => {
    const w = await cluster({ maxProposalBytes: 8 });
    const outcome = await w.settle(w.leader()!.replica.propose(bytes('123456789')), 1);
    expect(codeOf(outcome)).toBe('TSR_ERR_BATCH_TOO_LARGE');
  });
});

describe('Replica: persistence before sending', () => {
  it('acknowledges appended entries only after its save is durable', async () => {
    const w = await cluster();
    const leader = w.leader()!;
    await w.run(200);
    const [slow, down] = w.followers();
    if (slow === undefined || down === undefined) throw new Error('expected two followers');
    w.crash(down.id);
    w.holdDisk.add(slow.id);
    const proposal = leader.replica.propose(bytes('durable'));
    await w.run(500);
    // The only other voter has the entry in its page cache, not on disk: no quorum yet.
    expect((await w.settle(proposal, 1)).ok).toBe('pending');
    w.releaseDisk(slow.id);
    expect((await w.settle(proposal)).ok).toBe(true);
  });

  it('sends its appends before its own write is durable, so the followers persist while the leader syncs', async () => {
    const persistedBy = new Map<string, number>();
    const w = await cluster({ observer: { onPersisted: (id, entries: readonly Entry[]) => entries.length > 0 && persistedBy.set(id, entries.at(-1)!.index) } });
    const leader = w.leader()!;
    await w.run(200);
    w.holdDisk.add(leader.id);
    const before = leader.replica.status().lastIndex;
    const proposal = leader.replica.propose(bytes('early'));
    await w.run(500);
    for (const f of w.followers()) expect(persistedBy.get(f.id)).toBeGreaterThan(before);
    expect(persistedBy.get(leader.id) ?? 0).toBeLessThanOrEqual(before);
    w.releaseDisk(leader.id);
    expect((await w.settle(proposal)).ok).toBe(true);
  });

  it('answers a committed proposal while the leader\'s write of newer entries is still in flight', async () => {
    const w = await cluster();
    const leader = w.leader()!;
    await w.run(200);
    w.holdDisk.add(leader.id);
    const first = leader.replica.propose(bytes('first'));
    await w.run(500); // both followers persisted and acknowledged it: committed
    w.releaseDisk(leader.id); // the leader's write of `first` completes ...
    w.holdDisk.add(leader.id); // ... and its next write (of `second`) hangs
    const second = leader.replica.propose(bytes('second'));
    expect((await w.settle(first, 500)).ok).toBe(true);
    expect((await w.settle(second, 500)).ok).toBe('pending');
    expect(leader.sm.items).toContain('first');
    w.releaseDisk(leader.id);
    expect((await w.settle(second)).ok).toBe(true);
  });

  it('applies a commit without waiting for a sync: a commit-index-only save is not awaited', async () => {
    const w = await cluster();
    const leader = w.leader()!;
    await w.run(200);
    w.holdDisk.add(leader.id);
    const proposal = leader.replica.propose(bytes('commit-only'));
    await w.run(500);
    w.releaseDisk(leader.id);
    w.holdDisk.add(leader.id); // any synced write from now on hangs
    expect((await w.settle(proposal, 500)).ok).toBe(true);
  });
});

describe('Replica: reads', () => {
  it('serves a linearizable read on a follower once it applied the read index', async () => {
    const w = await cluster();
    const leader = w.leader()!;
    const write = await w.settle(leader.replica.propose(bytes('seen')));
    expect(write.ok).toBe(true);
    const follower = w.followers()[0]!;
    let itemsAtRead: string[] = [];
    const read = await w.settle(follower.replica.readBarrier().then((index) => ((itemsAtRead = [...follower.sm.items]), index)));
    expect(read.ok).toBe(true);
    expect(itemsAtRead).toContain('seen');
  });

  it('fails a linearizable read on a leader cut off from the majority', async () => {
    const w = await cluster();
    const leader = w.leader()!;
    await w.run(200);
    w.network.isolate(leader.id, IDS);
    const read = await w.settle(leader.replica.readBarrier({ timeoutMs: 5_000 }));
    expect(read.ok).toBe(false);
    expect(['TSR_ERR_READ_INDEX_FAILED', 'TSR_ERR_TIMEOUT']).toContain(codeOf(read));
  });

  it('serves a stale read at once from local state', async () => {
    const w = await cluster();
    const follower = w.followers()[0]!;
    w.network.isolate(follower.id, IDS);
    const read = await w.settle(follower.replica.readBarrier({ consistency: 'stale' }), 1);
    expect(read.ok === true && read.value).toBe(follower.replica.appliedIndex);
  });
});

describe('Replica: snapshots and restarts', () => {
  it('takes a snapshot every N applied entries and compacts the log behind it', async () => {
    const w = await cluster({ snapshotEveryEntries: 10, logEntriesKeptAfterSnapshot: 3 });
    const leader = w.leader()!;
    for (let i = 0; i < 25; i++) expect((await w.settle(leader.replica.propose(bytes(`e${i}`)))).ok).toBe(true);
    const status = leader.replica.status();
    expect(status.snapshotIndex).toBeGreaterThanOrEqual(20);
    const storedEntries = leader.disk.keys('log/65').length;
    expect(storedEntries).toBeLessThan(status.lastIndex - 10);
  });

  it('also takes a snapshot after N bytes of entries, before the entry count is reached', async () => {
    const w = await cluster({ snapshotEveryEntries: 1_000_000, snapshotEveryBytes: 1024, logEntriesKeptAfterSnapshot: 0 });
    const leader = w.leader()!;
    expect(leader.replica.status().snapshotIndex).toBe(0);
    // 5 entries of 300 bytes: the 1,024-byte threshold is crossed at the 4th.
    for (let i = 0; i < 5; i++) expect((await w.settle(leader.replica.propose(bytes(`${i}`.padEnd(300, 'x'))))).ok).toBe(true);
    const snapshotIndex = leader.replica.status().snapshotIndex;
    expect(snapshotIndex).toBeGreaterThan(0);
    expect(snapshotIndex).toBeLessThan(leader.replica.status().lastIndex);
  });

  it('restarts from its disk: restores the snapshot and replays the entries after it', async () => {
    const w = await cluster({ snapshotEveryEntries: 5, logEntriesKeptAfterSnapshot: 2 });
    const leader = w.leader()!;
    for (let i = 0; i < 12; i++) expect((await w.settle(leader.replica.propose(bytes(`r${i}`)))).ok).toBe(true);
    const follower = w.followers()[0]!;
    await w.waitFor(() => follower.sm.items.length === 12, 5_000, 'follower caught up');
    const before = [...follower.sm.items];
    w.crash(follower.id);
    const restarted = await w.start(follower.id, null);
    await w.waitFor(() => restarted.replica.appliedIndex >= leader.replica.status().commitIndex, 5_000, 'replay');
    expect(restarted.sm.items).toEqual(before);
  });

  it('catches a follower that fell behind the compacted log up with a snapshot', async () => {
    const installed: string[] = [];
    const w = await cluster({ snapshotEveryEntries: 5, logEntriesKeptAfterSnapshot: 1, raft: { snapshotChunkBytes: 16 }, observer: { onSnapshotInstalled: (id) => installed.push(id) } });
    const leader = w.leader()!;
    const follower = w.followers()[0]!;
    w.crash(follower.id);
    for (let i = 0; i < 15; i++) expect((await w.settle(leader.replica.propose(bytes(`s${i}`)))).ok).toBe(true);
    const restarted = await w.start(follower.id, null);
    await w.waitFor(() => restarted.sm.items.length === 15, 10_000, 'snapshot catch-up');
    expect(installed).toContain(follower.id);
    expect(restarted.sm.stateHash()).toBe(leader.sm.stateHash());
  });

  it('records a snapshot file that a crash left newer than the log', async () => {
    const w = await cluster();
    const leader = w.leader()!;
    for (let i = 0; i < 4; i++) expect((await w.settle(leader.replica.propose(bytes(`n${i}`)))).ok).toBe(true);
    const follower = w.followers()[0]!;
    await w.waitFor(() => follower.sm.items.length === 4, 5_000, 'follower caught up');
    const index = follower.replica.appliedIndex;
    const data = follower.sm.snapshot();
    const meta = { index, term: follower.replica.termAt(index)!, config: w.founding, sizeBytes: data.length };
    w.crash(follower.id);
    // The snapshot file was written; the process died before recordSnapshot().
    expect((await w.settle(new MemorySnapshotStore(follower.disk).save(meta, data))).ok).toBe(true);
    const restarted = await w.start(follower.id, null);
    expect(restarted.replica.status().snapshotIndex).toBe(index);
    expect(restarted.sm.items).toEqual(['n0', 'n1', 'n2', 'n3']);
  });

  it('refuses to start when the log records a snapshot the snapshot store lost', async () => {
    const w = await cluster({ snapshotEveryEntries: 3 });
    const leader = w.leader()!;
    for (let i = 0; i < 6; i++) expect((await w.settle(leader.replica.propose(bytes(`l${i}`)))).ok).toBe(true);
    const follower = w.followers()[0]!;
    await w.waitFor(() => follower.replica.status().snapshotIndex > 0, 5_000, 'a follower snapshot');
    w.crash(follower.id);
    expect((await w.settle(follower.disk.write([{ type: 'del', key: 'snap/snapshot.tsrs' }]))).ok).toBe(true);
    await expect(w.start(follower.id, null)).rejects.toMatchObject({ code: 'TSR_ERR_CORRUPT_SNAPSHOT' });
  });

  it('refuses to start on a log with a corrupted entry (TSR_ERR_CORRUPT_LOG)', async () => {
    const w = await cluster();
    const leader = w.leader()!;
    expect((await w.settle(leader.replica.propose(bytes('rot')))).ok).toBe(true);
    const follower = w.followers()[0]!;
    await w.run(100);
    w.crash(follower.id);
    const key = follower.disk.keys('log/65').at(-1)!;
    follower.disk.flipBit(key, 100);
    await expect(w.start(follower.id, null)).rejects.toMatchObject({ code: 'TSR_ERR_CORRUPT_LOG' });
  });
});

describe('Replica: membership and leadership', () => {
  it('adds a learner, promotes it to voter and tells the transport about it', async () => {
    const w = await cluster();
    const leader = w.leader()!;
    const d = await w.start('d', null);
    expect((await w.settle(leader.replica.addNode('d', 'ws://d:8180', 'learner'))).ok).toBe(true);
    expect(leader.transportPeers()['d']).toBe('ws://d:8180');
    // Caught up as the leader sees it (promotion checks the leader's match,
    // which the learner's acknowledgement moves after it applied).
    await w.waitFor(() => (leader.replica.status().progress['d']?.match ?? 0) >= leader.replica.status().commitIndex, 5_000, 'learner caught up');
    expect(d.replica.status().learner).toBe(true);
    expect((await w.settle(leader.replica.addNode('d', 'ws://d:8180', 'voter'))).ok).toBe(true);
    const members = leader.replica.status().members;
    expect(members.find((m) => m.id === 'd')).toEqual({ id: 'd', url: 'ws://d:8180', role: 'follower' });
  });

  it('keeps the join peers in the transport of a joining node until the membership arrives', async () => {
    const w = await cluster();
    const leader = w.leader()!;
    const joinPeers = { a: 'ws://a:8180', b: 'ws://b:8180', c: 'ws://c:8180', d: 'ws://d:8180' };
    const d = await w.start('d', null, { joinPeers });
    // No membership yet: the transport keeps the members it was told about (never itself).
    expect(d.transportPeers()).toEqual({ a: 'ws://a:8180', b: 'ws://b:8180', c: 'ws://c:8180' });
    expect((await w.settle(leader.replica.addNode('d', 'ws://d:8180', 'learner'))).ok).toBe(true);
    await w.waitFor(() => d.replica.appliedIndex === leader.replica.status().commitIndex, 5_000, 'learner caught up');
    // Then it follows the membership: the founding members from the log.
    expect(Object.keys(d.transportPeers()).sort()).toEqual(['a', 'b', 'c']);
  });

  it('gives a joining node without join peers an empty peer map', async () => {
    const w = await cluster();
    const d = await w.start('d', null);
    expect(d.transportPeers()).toEqual({});
  });

  it('removes a member: the leader stops replicating to it', async () => {
    const w = await cluster();
    const leader = w.leader()!;
    await w.run(200); // the new leader commits an entry of its term first
    const victim = w.followers()[0]!;
    expect((await w.settle(leader.replica.removeNode(victim.id))).ok).toBe(true);
    expect(leader.replica.status().members.map((m) => m.id)).not.toContain(victim.id);
    expect(leader.transportPeers()[victim.id]).toBeUndefined();
    expect((await w.settle(leader.replica.propose(bytes('after-removal')))).ok).toBe(true);
  });

  it('transfers leadership to the chosen voter', async () => {
    const w = await cluster();
    const leader = w.leader()!;
    const target = w.followers()[0]!;
    await w.run(200);
    expect((await w.settle(leader.replica.transferLeader(target.id))).ok).toBe(true);
    await w.waitFor(() => w.leader()?.id === target.id, 2_000, 'the new leader');
  });

  it('reports status: role, leader, indexes and members with their URLs', async () => {
    const w = await cluster();
    const leader = w.leader()!;
    await w.run(200);
    const s = leader.replica.status();
    expect(s).toMatchObject({ id: leader.id, role: 'leader', leader: leader.id, leaderUrl: `ws://${leader.id}:8180`, lifecycle: 'running' });
    expect(s.commitIndex).toBeGreaterThan(0);
    expect(s.appliedIndex).toBe(s.commitIndex);
    expect(s.members.map((m) => m.id)).toEqual(IDS);
    expect(Object.keys(s.progress).sort()).toEqual(IDS);
  });
});

describe('Replica: stopping', () => {
  it('stop() fails waiting proposals with SHUTTING_DOWN and refuses new ones', async () => {
    const w = await cluster();
    const leader = w.leader()!;
    w.network.isolate(leader.id, IDS);
    const pending = leader.replica.propose(bytes('never'), { timeoutMs: 60_000 }).then(
      () => 'applied',
      (e: { code?: string }) => e.code,
    );
    expect((await w.settle(leader.replica.stop(0))).ok).toBe(true);
    expect(await pending).toBe('TSR_ERR_SHUTTING_DOWN');
    expect(codeOf(await w.settle(leader.replica.propose(bytes('late')), 1))).toBe('TSR_ERR_SHUTTING_DOWN');
    expect(leader.replica.state).toBe('stopped');
  });

  it('stop(grace) lets in-flight proposals finish first', async () => {
    const w = await cluster();
    const leader = w.leader()!;
    const inFlight = leader.replica.propose(bytes('finishing'));
    const stopped = leader.replica.stop(5_000);
    expect((await w.settle(inFlight)).ok).toBe(true);
    expect((await w.settle(stopped)).ok).toBe(true);
  });
});
