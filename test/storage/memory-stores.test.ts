import { describe, expect, it } from 'vitest';
import { TsraftError } from '../../src/errors.js';
import { MemoryDisk, MemoryRaftLogStore, MemorySnapshotStore } from '../../src/storage/memory-stores.js';
import { describeRaftLogStore, entries } from './raft-log-store.suite.js';
import { describeSnapshotStore, pattern } from './snapshot-store.suite.js';
import { snapshotMeta } from './raft-log-store.suite.js';

describeRaftLogStore('MemoryRaftLogStore', async () => {
  const disk = new MemoryDisk();
  return {
    open: () => MemoryRaftLogStore.open(disk),
    corruptEntry: async (index) => (await MemoryRaftLogStore.open(disk)).corruptEntry(index),
    destroy: async () => {},
  };
});

describeSnapshotStore('MemorySnapshotStore', async () => {
  const disk = new MemoryDisk();
  return {
    open: async () => new MemorySnapshotStore(disk),
    corruptSnapshot: async () => new MemorySnapshotStore(disk).corruptSnapshot(),
    destroy: async () => {},
  };
});

/** A disk whose writes become durable only when the test says so. */
function deferredDisk(): { disk: MemoryDisk; completions: Array<() => void> } {
  const completions: Array<() => void> = [];
  return { disk: new MemoryDisk({ schedule: (complete) => completions.push(complete) }), completions };
}

/** Await `promise`, completing every write it issues along the way. */
async function completingWrites<T>(promise: Promise<T>, completions: Array<() => void>): Promise<T> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) {
    await Promise.resolve();
    while (completions.length > 0) completions.shift()!();
  }
  return promise;
}

async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await microtasks();
  return done;
}

/** Let queued promise callbacks run (no timers involved). */
async function microtasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

describe('MemoryRaftLogStore durability model', () => {
  it('resolves a save only once the simulator completes its write', async () => {
    const { disk, completions } = deferredDisk();
    const store = await completingWrites(MemoryRaftLogStore.open(disk), completions);
    const save = store.save({ hardState: { term: 1, vote: null, commit: 0 }, entries: entries(1, 100, 1), snapshot: null });
    expect(await settled(save)).toBe(false);
    expect(disk.pendingWrites).toBe(1); // one write for 100 entries and the hard state: group commit
    completions.shift()!();
    expect(await settled(save)).toBe(true);
  });

  it('forgets unsynced saves on crash and keeps synced ones', async () => {
    const { disk, completions } = deferredDisk();
    const store = await completingWrites(MemoryRaftLogStore.open(disk), completions);
    await completingWrites(store.save({ hardState: null, entries: entries(1, 2, 1), snapshot: null }), completions);
    void store.save({ hardState: null, entries: entries(3, 4, 1), snapshot: null });
    await microtasks();
    expect(disk.pendingWrites).toBe(1);
    store.crash();
    const restarted = await MemoryRaftLogStore.open(disk);
    expect((await restarted.load()).entries.map((e) => e.index)).toEqual([1, 2]);
  });

  it('resolves an unsynced commit-index save at once, loses it in a crash, and makes it durable with the next synced save', async () => {
    const { disk, completions } = deferredDisk();
    const store = await completingWrites(MemoryRaftLogStore.open(disk), completions);
    await completingWrites(store.save({ hardState: { term: 1, vote: 'n1', commit: 0 }, entries: entries(1, 2, 1), snapshot: null }), completions);
    expect(await settled(store.save({ hardState: { term: 1, vote: 'n1', commit: 2 }, entries: [], snapshot: null, sync: false }))).toBe(true);
    store.crash();
    const restarted = await completingWrites(MemoryRaftLogStore.open(disk), completions);
    expect((await restarted.load()).hardState.commit).toBe(0);
    expect(await settled(restarted.save({ hardState: { term: 1, vote: 'n1', commit: 1 }, entries: [], snapshot: null, sync: false }))).toBe(true);
    await completingWrites(restarted.save({ hardState: null, entries: entries(3, 3, 1), snapshot: null }), completions);
    restarted.crash();
    const again = await MemoryRaftLogStore.open(disk);
    expect((await again.load()).hardState.commit).toBe(1);
  });

  it('compacts without a sync: a crash may bring compacted entries back, never a gap, and load() skips them', async () => {
    const { disk, completions } = deferredDisk();
    const store = await completingWrites(MemoryRaftLogStore.open(disk), completions);
    await completingWrites(store.save({ hardState: { term: 1, vote: 'n1', commit: 10 }, entries: entries(1, 10, 1), snapshot: null }), completions);
    await completingWrites(store.recordSnapshot(snapshotMeta(8, 1)), completions);
    expect(await settled(store.compact(6))).toBe(true);
    expect(store.range.firstIndex).toBe(7);
    store.crash();
    const restarted = await completingWrites(MemoryRaftLogStore.open(disk), completions);
    expect(restarted.range.firstIndex).toBe(1);
    expect((await completingWrites(restarted.load(), completions)).entries.map((e) => e.index)).toEqual([9, 10]);
    await completingWrites(restarted.compact(8), completions);
    await completingWrites(restarted.save({ hardState: null, entries: entries(11, 11, 1), snapshot: null }), completions);
    restarted.crash();
    const again = await MemoryRaftLogStore.open(disk);
    expect(again.range.firstIndex).toBe(9);
    expect((await again.load()).entries.map((e) => e.index)).toEqual([9, 10, 11]);
  });

  it('makes every earlier write durable when a later one completes first', async () => {
    const { disk, completions } = deferredDisk();
    const first = disk.write([{ type: 'put', key: 'a', value: Uint8Array.of(1) }]);
    const second = disk.write([{ type: 'put', key: 'b', value: Uint8Array.of(2) }]);
    completions[1]!();
    await Promise.all([first, second]);
    completions[0]!(); // a late completion of an already durable write is harmless
    disk.crash();
    expect(disk.keys('')).toEqual(['a', 'b']);
  });

  it('detects a torn last write as corruption on restart', async () => {
    const { disk, completions } = deferredDisk();
    const store = await completingWrites(MemoryRaftLogStore.open(disk), completions);
    // Four entry puts and the hard state: the first three reach the disk, the third torn.
    void store.save({ hardState: { term: 1, vote: null, commit: 0 }, entries: entries(1, 4, 1), snapshot: null });
    await microtasks();
    expect(store.tornLastWrite()).toBe(true);
    const restarted = await MemoryRaftLogStore.open(disk);
    const error = await restarted.load().catch((e: unknown) => e);
    expect((error as TsraftError).code).toBe('TSR_ERR_CORRUPT_LOG');
    expect((error as TsraftError).details.index).toBe(3);
  });

  it('starts empty after the disk is wiped', async () => {
    const disk = new MemoryDisk();
    const store = await MemoryRaftLogStore.open(disk);
    await store.save({ hardState: { term: 2, vote: 'n1', commit: 1 }, entries: entries(1, 3, 2), snapshot: null });
    store.wipe();
    const fresh = await MemoryRaftLogStore.open(disk);
    expect(await fresh.load()).toEqual({ hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] });
  });

  it('never settles operations of a store opened before a crash', async () => {
    const disk = new MemoryDisk();
    const stale = await MemoryRaftLogStore.open(disk);
    disk.crash();
    expect(await settled(stale.load())).toBe(false);
  });

  it('is deterministic: the same operations give byte-identical disks', async () => {
    const run = async (): Promise<string[]> => {
      const disk = new MemoryDisk();
      const store = await MemoryRaftLogStore.open(disk);
      await store.save({ hardState: { term: 1, vote: 'n2', commit: 0 }, entries: entries(1, 5, 1), snapshot: null });
      await store.save({ hardState: null, entries: entries(4, 6, 2), snapshot: null });
      return disk.keys('').map((key) => `${key}=${Buffer.from(disk.read(key)!).toString('hex')}`);
    };
    expect(await run()).toEqual(await run());
  });
});

describe('MemorySnapshotStore durability model', () => {
  it('loses an unsynced incoming chunk on crash, so the resume point stays behind it', async () => {
    const { disk, completions } = deferredDisk();
    const store = new MemorySnapshotStore(disk);
    const meta = snapshotMeta(5, 1, 300);
    await completingWrites(store.writeIncomingChunk(meta, 0, pattern(100)), completions);
    void store.writeIncomingChunk(meta, 100, pattern(100));
    await microtasks();
    expect(disk.pendingWrites).toBe(1);
    store.crash();
    expect(await new MemorySnapshotStore(disk).incomingOffset(meta)).toBe(100);
  });
});
