// A follower far behind the compacted log installs the leader's snapshot (a
// backup pack) streamed from its snapshot file straight into its state
// machine's store (ReplicatedStateMachine.restoreFrom), never through
// restore(bytes); killed in the middle of that install, it restarts on the
// restore marker, installs again from the file and ends with the leader's state.
import { describe, expect, it } from 'vitest';
import { BackupFormatStateMachine } from '../../src/backup/state-machine-adapter.js';
import type { SnapshotMeta } from '../../src/raft/types.js';
import { TsdbCheckpointer, loadPersistedState, storeBlockReader } from '../../src/replica/tsdb-persistence.js';
import type { ReplicatedStateMachine } from '../../src/replica/types.js';
import { MemorySnapshotStore, type MemoryDisk } from '../../src/storage/memory-stores.js';
import { MemoryStateMachineStore } from '../../src/storage/state-machine-store.js';
import { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';
import type { RawPoint } from '../../src/tsdb/validate.js';
import { writeEntry } from '../backup/workload.js';
import { ReplicaWorld } from './harness.js';

const IDS = ['a', 'b', 'c'];
const T0 = 1_700_000_000_000;
const SPAN_MS = 10_000;

/** The node's state machine: a time-series machine kept in a store on the node's disk. */
class NodeMachine extends BackupFormatStateMachine {
  inMemoryRestores = 0;
  streamedInstalls = 0;

  constructor(readonly store: MemoryStateMachineStore) {
    const machine = new TimeSeriesStateMachine({ blockSpanMs: SPAN_MS }, { blockReader: storeBlockReader(store), residentBlockBytes: 0 });
    // Two series a group: a pack of several groups.
    super(machine, { clusterId: 'c1', nodeId: 'n', layout: { pagesPerBlock: 2, seriesPerGroup: 2, minSegmentBytes: 256 }, install: { store, onInstalled: () => this.streamedInstalls++ } });
  }

  override restore(bytes: Uint8Array): void {
    this.inMemoryRestores++;
    super.restore(bytes);
  }
}

/** A snapshot store whose installs read 256-byte chunks, calling `onChunk` after each. */
class WatchedSnapshotStore extends MemorySnapshotStore {
  constructor(
    disk: MemoryDisk,
    private readonly onChunk: (count: number) => void,
  ) {
    super(disk, 256);
  }

  override async *readData(meta: SnapshotMeta): AsyncGenerator<Uint8Array, void, void> {
    let count = 0;
    for await (const chunk of super.readData(meta)) {
      yield chunk;
      this.onChunk(++count);
    }
  }
}

function writes(step: number): Uint8Array {
  const points: RawPoint[] = [];
  for (let s = 0; s < 7; s++) for (let k = 0; k < 6; k++) points.push({ metric: `m${s % 2}`, timestamp: T0 + step * 3_000 + k * 400, value: String((step * 13 + s * 7 + k) % 101), tags: { host: `h${s}` } });
  return writeEntry(points, T0 + step * 3_000, { clientId: 'cl', sequence: step + 1 });
}

async function cluster(): Promise<{ w: ReplicaWorld; machines: Map<string, NodeMachine>; start: (id: string, onChunk?: (count: number) => void) => Promise<NodeMachine> }> {
  const w = new ReplicaWorld(IDS, { snapshotEveryEntries: 8, logEntriesKeptAfterSnapshot: 1, persistEveryEntries: 4, raft: { snapshotChunkBytes: 700 } });
  const machines = new Map<string, NodeMachine>();
  const start = async (id: string, onChunk: (count: number) => void = () => {}): Promise<NodeMachine> => {
    const disk = w.disk(id);
    const store = new MemoryStateMachineStore(disk);
    const sm = new NodeMachine(store);
    // As the node does: load what the store holds (a marker left by an install cut short clears it).
    await loadPersistedState(sm.inner, store);
    machines.set(id, sm);
    await w.start(id, w.founding, {
      stateMachine: sm as unknown as ReplicatedStateMachine<string>,
      persistence: new TsdbCheckpointer(() => sm.inner, store),
      snapshotStore: new WatchedSnapshotStore(disk, onChunk),
    });
    return sm;
  };
  await Promise.all(IDS.map((id) => start(id)));
  await w.waitForLeader();
  return { w, machines, start };
}

async function write(w: ReplicaWorld, from: number, count: number): Promise<void> {
  for (let step = from; step < from + count; step++) expect((await w.settle(w.leader()!.replica.propose(writes(step)))).ok).toBe(true);
}

describe('Replica: streamed snapshot install', () => {
  it('a follower far behind installs the leader pack streamed into its store', async () => {
    const { w, machines, start } = await cluster();
    await write(w, 0, 5);
    const follower = w.followers()[0]!.id;
    w.crash(follower);
    await write(w, 5, 30);
    const leader = w.leader()!;
    const sm = await start(follower);
    await w.waitFor(() => w.replica(follower).appliedIndex === leader.replica.appliedIndex, 10_000, 'catch-up');
    expect(sm.streamedInstalls).toBe(1);
    expect(sm.inMemoryRestores).toBe(0);
    expect(sm.stateHash()).toBe(machines.get(leader.id)!.stateHash());
    expect(Buffer.from(sm.inner.snapshot()).equals(Buffer.from(machines.get(leader.id)!.inner.snapshot()))).toBe(true);
  });

  it('killed in the middle of the install, it restarts on the marker, installs again and ends with the leader state', async () => {
    const { w, machines, start } = await cluster();
    await write(w, 0, 5);
    const follower = w.followers()[0]!.id;
    w.crash(follower);
    await write(w, 5, 30);
    let killed = false;
    await start(follower, (count) => {
      // kill -9 a few chunks in: every write issued so far survives.
      if (count === 3 && !killed) {
        killed = true;
        w.crash(follower, 'kill');
      }
    });
    await w.waitFor(() => killed, 10_000, 'the install to begin');
    const disk = w.disk(follower);
    // The restore marker is on the disk (the old records were cleared under it).
    expect(disk.keys('sm/')[0]).toBe('sm/00');

    const sm = await start(follower);
    // Started from the snapshot file: the store was cleared and installed again, streamed.
    expect(sm.streamedInstalls).toBe(1);
    expect(disk.keys('sm/00')).toEqual([]);
    await write(w, 35, 3);
    const leader = w.leader()!;
    await w.waitFor(() => w.replica(follower).appliedIndex === leader.replica.appliedIndex, 10_000, 'catch-up');
    expect(sm.inMemoryRestores).toBe(0);
    expect(Buffer.from(sm.inner.snapshot()).equals(Buffer.from(machines.get(leader.id)!.inner.snapshot()))).toBe(true);
    // And what it stored loads back as the same state.
    const reloaded = new NodeMachine(new MemoryStateMachineStore(disk));
    await w.settle(w.replica(follower).stop(), 1_000);
    expect(await loadPersistedState(reloaded.inner, reloaded.store)).toBe(true);
    expect(reloaded.stateHash()).toBe(sm.stateHash());
  });
});
