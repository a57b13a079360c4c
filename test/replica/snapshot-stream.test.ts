// A state machine that streams its snapshot (ReplicatedStateMachine.
// writeSnapshot): the replica saves local snapshots through
// SnapshotStore.saveStream, never asks for snapshot(), hands the observer no
// bytes, and a follower behind the compacted log still catches up from the
// streamed file, sent in chunks.
import { describe, expect, it } from 'vitest';
import type { SnapshotMeta } from '../../src/raft/types.js';
import { MemorySnapshotStore } from '../../src/storage/memory-stores.js';
import type { SnapshotSink } from '../../src/storage/types.js';
import { ListStateMachine, ReplicaWorld, bytes } from './harness.js';

const IDS = ['a', 'b', 'c'];

/** Writes snapshot()'s bytes in 3-byte pieces, yielding between them; counts the in-memory snapshots the replica asked for. */
class StreamingList extends ListStateMachine {
  inMemorySnapshots = 0;
  streamed = 0;

  override snapshot(): Uint8Array {
    this.inMemorySnapshots++;
    return this.bytes();
  }

  async writeSnapshot(sink: SnapshotSink): Promise<number> {
    const all = this.bytes();
    for (let at = 0; at < all.length; at += 3) await sink.write(all.subarray(at, at + 3));
    this.streamed++;
    return all.length;
  }

  private bytes(): Uint8Array {
    return super.snapshot();
  }
}

describe('Replica: streamed local snapshots', () => {
  it('saves them through saveStream, hands the observer no bytes, and catches a lagging follower up from them', async () => {
    const taken: Array<{ id: string; meta: SnapshotMeta; data: Uint8Array | null }> = [];
    const installed: string[] = [];
    const w = new ReplicaWorld(IDS, {
      snapshotEveryEntries: 5,
      logEntriesKeptAfterSnapshot: 1,
      raft: { snapshotChunkBytes: 16 },
      observer: { onSnapshotTaken: (id, meta, data) => taken.push({ id, meta, data }), onSnapshotInstalled: (id) => installed.push(id) },
    });
    const machines = new Map<string, StreamingList>();
    const start = async (id: string, bootstrap: typeof w.founding | null): Promise<void> => {
      const sm = new StreamingList();
      machines.set(id, sm);
      await w.start(id, bootstrap, { stateMachine: sm });
    };
    await Promise.all(IDS.map((id) => start(id, w.founding)));
    await w.waitForLeader();
    const leader = w.leader()!;
    const follower = w.followers()[0]!;
    w.crash(follower.id);
    for (let i = 0; i < 15; i++) expect((await w.settle(leader.replica.propose(bytes(`s${i}`)))).ok).toBe(true);

    const leaderSm = machines.get(leader.id)!;
    expect(leaderSm.streamed).toBeGreaterThanOrEqual(2);
    expect(leaderSm.inMemorySnapshots).toBe(0);
    const mine = taken.filter((t) => t.id === leader.id);
    expect(mine.length).toBe(leaderSm.streamed);
    expect(mine.every((t) => t.data === null)).toBe(true);
    // The stored snapshot is the state at its index, with the size the stream produced.
    const stored = await new MemorySnapshotStore(leader.disk).load();
    const last = mine[mine.length - 1]!.meta;
    expect(stored?.meta).toEqual(last);
    const state = JSON.parse(new TextDecoder().decode(stored!.data)) as { items: string[]; appliedIndex: number };
    expect(state.appliedIndex).toBe(last.index);
    expect(stored!.data.length).toBe(last.sizeBytes);

    await start(follower.id, null);
    const restarted = machines.get(follower.id)!;
    await w.waitFor(() => restarted.items.length === 15, 10_000, 'snapshot catch-up');
    expect(installed).toContain(follower.id);
    expect(restarted.stateHash()).toBe(leaderSm.stateHash());
  });
});
