import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { describe, expect, it } from 'vitest';
import { LevelRaftLogStore, type RootLevel } from '../../src/storage/level-log-store.js';
import { MemoryDisk } from '../../src/storage/memory-disk.js';
import { LevelStateMachineStore, MemoryStateMachineStore } from '../../src/storage/state-machine-store.js';
import { describeStateMachineStore } from './state-machine-store.suite.js';

describeStateMachineStore('LevelStateMachineStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tsraft-sm-store-'));
  let db: RootLevel | null = null;
  return {
    async open() {
      db = new ClassicLevel(dir, { createIfMissing: true });
      await db.open();
      return new LevelStateMachineStore(db);
    },
    async close() {
      if (db !== null && db.status === 'open') await db.close();
      db = null;
    },
    destroy: () => rm(dir, { recursive: true, force: true }),
  };
});

describeStateMachineStore('MemoryStateMachineStore', async () => {
  const disk = new MemoryDisk();
  return {
    open: async () => new MemoryStateMachineStore(disk),
    // A synced write of the same disk makes the unsynced state writes durable.
    close: async () => disk.write([{ type: 'put', key: 'log/sync', value: new Uint8Array(1) }]),
    destroy: async () => {},
  };
});

describe('state machine records beside the Raft log', () => {
  it('loses unsynced state writes in a power loss unless a later synced log write made them durable', async () => {
    const disk = new MemoryDisk();
    const store = new MemoryStateMachineStore(disk);
    await store.write([{ type: 'put', key: Uint8Array.of(1), value: Uint8Array.of(1) }], { replaceAll: false });
    disk.crash();
    expect(new MemoryStateMachineStore(disk).readSync(Uint8Array.of(1))).toBeUndefined();
    const again = new MemoryStateMachineStore(disk);
    await again.write([{ type: 'put', key: Uint8Array.of(1), value: Uint8Array.of(2) }], { replaceAll: false });
    await disk.write([{ type: 'put', key: 'log/x', value: Uint8Array.of(0) }]);
    disk.crash();
    expect(new MemoryStateMachineStore(disk).readSync(Uint8Array.of(1))).toEqual(Uint8Array.of(2));
  });

  it('shares one LevelDB database with the Raft log without touching its keys', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsraft-sm-shared-'));
    const db: RootLevel = new ClassicLevel(dir, { createIfMissing: true });
    await db.open();
    try {
      const log = await LevelRaftLogStore.open({ db });
      await log.save({ hardState: { term: 1, vote: 'a', commit: 0 }, entries: [{ index: 1, term: 1, kind: 'normal', data: Uint8Array.of(9) }], snapshot: null });
      const sm = new LevelStateMachineStore(db);
      await sm.write([{ type: 'put', key: Uint8Array.of(1), value: Uint8Array.of(5) }], { replaceAll: true });
      const stored = await log.load();
      expect(stored.entries.map((e) => e.index)).toEqual([1]);
      expect(stored.hardState).toEqual({ term: 1, vote: 'a', commit: 0 });
      expect(Array.from(sm.readSync(Uint8Array.of(1))!)).toEqual([5]);
    } finally {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
