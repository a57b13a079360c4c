import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TsraftError } from '../../src/errors.js';
import { entryKey, KEY_FORMAT } from '../../src/storage/kv-log-store.js';
import { LevelRaftLogStore, raftSublevel } from '../../src/storage/level-log-store.js';
import { encodeFormatMarker } from '../../src/storage/record-codec.js';
import { describeRaftLogStore, entries } from './raft-log-store.suite.js';

async function withRaw(location: string, edit: (db: ClassicLevel<string, string>) => Promise<void>): Promise<void> {
  const db = new ClassicLevel<string, string>(location);
  await db.open();
  try {
    await edit(db);
  } finally {
    await db.close();
  }
}

describeRaftLogStore('LevelRaftLogStore', async () => {
  const location = await mkdtemp(join(tmpdir(), 'tsraft-level-'));
  return {
    open: () => LevelRaftLogStore.open({ location }),
    corruptEntry: (index) =>
      withRaw(location, async (db) => {
        const log = raftSublevel(db);
        const stored = await log.get(entryKey(index));
        expect(stored).toBeDefined();
        const flipped = stored!.slice();
        flipped[12]! ^= 0x10; // inside the term field
        await log.put(entryKey(index), flipped);
      }),
    destroy: () => rm(location, { recursive: true, force: true }),
  };
});

describe('LevelRaftLogStore on a shared database', () => {
  let location: string;
  beforeEach(async () => {
    location = await mkdtemp(join(tmpdir(), 'tsraft-level-shared-'));
  });
  afterEach(async () => {
    await rm(location, { recursive: true, force: true });
  });

  it('shares one database with state-machine data in another sublevel without touching it', async () => {
    const db = new ClassicLevel<string, string>(location);
    await db.open();
    const stateMachine = db.sublevel<string, string>('sm', {});
    await stateMachine.put('applied', '0');
    const store = await LevelRaftLogStore.open({ db });
    await store.save({ hardState: { term: 1, vote: 'n1', commit: 3 }, entries: entries(1, 3, 1), snapshot: null });
    // The state machine writes its data and applied index in one atomic batch of its own.
    await db.batch([{ type: 'put', sublevel: stateMachine, key: 'applied', value: '3' }], { sync: true });
    await store.save({ hardState: null, entries: entries(4, 5, 1), snapshot: null });
    expect(await stateMachine.get('applied')).toBe('3');
    expect((await store.load()).entries.map((e) => e.index)).toEqual([1, 2, 3, 4, 5]);
    await store.close();
    expect(db.status).toBe('open'); // the caller owns the database
    await db.close();
  });

  it('refuses a log written in an unknown format version', async () => {
    await withRaw(location, (db) => raftSublevel(db).put(KEY_FORMAT, encodeFormatMarker(9)));
    const error = await LevelRaftLogStore.open({ location }).catch((e: unknown) => e);
    expect((error as TsraftError).code).toBe('TSR_ERR_STORAGE_FORMAT');
  });

  it('refuses log data that carries no format marker', async () => {
    await withRaw(location, (db) => raftSublevel(db).put(entryKey(1), Uint8Array.of(1, 2, 3)));
    const error = await LevelRaftLogStore.open({ location }).catch((e: unknown) => e);
    expect((error as TsraftError).code).toBe('TSR_ERR_STORAGE_FORMAT');
  });
});
