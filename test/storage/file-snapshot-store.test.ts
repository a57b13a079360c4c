import { mkdtemp, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileSnapshotStore, SNAPSHOT_FILE } from '../../src/storage/file-snapshot-store.js';
import { snapshotMeta } from './raft-log-store.suite.js';
import { describeSnapshotStore, pattern } from './snapshot-store.suite.js';

describeSnapshotStore('FileSnapshotStore', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'tsraft-snap-'));
  return {
    open: () => FileSnapshotStore.open(directory),
    corruptSnapshot: async () => {
      const handle = await open(join(directory, SNAPSHOT_FILE), 'r+');
      try {
        const { size } = await handle.stat();
        const byte = new Uint8Array(1);
        await handle.read(byte, 0, 1, size - 1);
        byte[0]! ^= 0x01;
        await handle.write(byte, 0, 1, size - 1);
      } finally {
        await handle.close();
      }
    },
    destroy: () => rm(directory, { recursive: true, force: true }),
  };
});

describe('FileSnapshotStore files', () => {
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'tsraft-snap-files-'));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('discards a half-written replacement left by a crash and keeps the old snapshot', async () => {
    const store = await FileSnapshotStore.open(directory);
    await store.save(snapshotMeta(3, 1, 64), pattern(64));
    await store.close();
    await writeFile(join(directory, 'snapshot.tsrs.tmp'), pattern(10, 2));
    const restarted = await FileSnapshotStore.open(directory);
    expect((await restarted.load())?.meta.index).toBe(3);
    expect(await readdir(directory)).toEqual([SNAPSHOT_FILE]);
    await restarted.close();
  });

  it('writes a streamed snapshot to the same file bytes as save(), leaving no temp file', async () => {
    const data = pattern(3_000_000, 8);
    const meta = snapshotMeta(30, 4, data.length);
    const store = await FileSnapshotStore.open(directory);
    await store.save(meta, data);
    const saved = await readFile(join(directory, SNAPSHOT_FILE));
    const { sizeBytes: _size, ...base } = meta;
    await store.saveStream(base, async (sink) => {
      for (let at = 0; at < data.length; at += 333_333) await sink.write(data.subarray(at, at + 333_333));
      return data.length;
    });
    expect((await readFile(join(directory, SNAPSHOT_FILE))).equals(saved)).toBe(true);
    expect(await readdir(directory)).toEqual([SNAPSHOT_FILE]);
    await store.close();
  });

  it('promotes by a rename: the incoming file already has the snapshot file layout', async () => {
    const data = pattern(200_000, 3);
    const meta = snapshotMeta(6, 2, data.length);
    const store = await FileSnapshotStore.open(directory);
    for (let at = 0; at < data.length; at += 50_000) await store.writeIncomingChunk(meta, at, data.subarray(at, at + 50_000));
    const incoming = (await readdir(directory)).filter((name) => name.startsWith('incoming'));
    expect(incoming.sort()).toEqual(['incoming.meta', 'incoming.tsrs']);
    const before = await stat(join(directory, 'incoming.tsrs'));
    await store.promoteIncoming(meta);
    const after = await stat(join(directory, SNAPSHOT_FILE));
    // Same inode, header written into the room left for it: the file save() would write.
    expect(after.ino).toBe(before.ino);
    const promoted = await readFile(join(directory, SNAPSHOT_FILE));
    await store.save(meta, data);
    expect((await readFile(join(directory, SNAPSHOT_FILE))).equals(promoted)).toBe(true);
    await store.close();
  });

  it('resumes an incoming snapshot complete before a crash, and receives one in the older layout again from offset 0', async () => {
    const data = pattern(5_000, 4);
    const meta = snapshotMeta(7, 2, data.length);
    const store = await FileSnapshotStore.open(directory);
    await store.writeIncomingChunk(meta, 0, data);
    await store.close();
    const restarted = await FileSnapshotStore.open(directory);
    expect(await restarted.incomingOffset(meta)).toBe(data.length);
    await restarted.promoteIncoming(meta);
    expect((await restarted.loadMeta())?.index).toBe(7);
    await restarted.writeIncomingChunk(snapshotMeta(9, 2, 100), 0, pattern(50));
    await restarted.close();
    // What an older build left: incoming.data without header room.
    await rm(join(directory, 'incoming.tsrs'));
    await writeFile(join(directory, 'incoming.data'), pattern(50));
    const upgraded = await FileSnapshotStore.open(directory);
    expect(await upgraded.incomingOffset(snapshotMeta(9, 2, 100))).toBe(0);
    expect(await readdir(directory)).not.toContain('incoming.data');
    await upgraded.close();
  });

  it('removes the incoming files once promoted', async () => {
    const store = await FileSnapshotStore.open(directory);
    const meta = snapshotMeta(4, 1, 10);
    await store.writeIncomingChunk(meta, 0, pattern(10));
    await store.promoteIncoming(meta);
    expect(await readdir(directory)).toEqual([SNAPSHOT_FILE]);
    await store.close();
  });
});
