// The node's local snapshot written as it is cut (BackupFormatStateMachine.
// writeSnapshot → PackWriter → SnapshotStore.saveStream) is the in-memory
// pack byte for byte (snapshot() → save()): same pack, same manifest, same
// snapshot file, whatever the layout, with blocks in memory or read back.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../src/backup/constants.js';
import { PackWriter, encodePack, type PackEntry } from '../../src/backup/pack.js';
import { BackupFormatStateMachine, type BackupFormatOptions } from '../../src/backup/state-machine-adapter.js';
import { packState, unpackState, writePackedState, type CaptureInfo } from '../../src/backup/snapshot-pack.js';
import { TssmStream } from '../../src/backup/tssm-stream.js';
import { FileSnapshotStore, SNAPSHOT_FILE } from '../../src/storage/file-snapshot-store.js';
import type { SnapshotMeta } from '../../src/raft/types.js';
import type { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';
import { buildStates, stateCommands } from './random-state.js';

async function streamedPack(adapter: BackupFormatStateMachine): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  const size = await adapter.writeSnapshot({
    write: async (bytes) => {
      chunks.push(Buffer.from(bytes));
    },
  });
  const pack = Buffer.concat(chunks);
  expect(size).toBe(pack.length);
  return new Uint8Array(pack);
}

const layouts = fc.option(
  fc.record({ pagesPerBlock: fc.constantFrom(1, 2, 5, 8), seriesPerGroup: fc.integer({ min: 1, max: 3 }), minSegmentBytes: fc.constantFrom(1, 200, 16_384) }),
  { nil: null },
);

function adapterOf(sm: TimeSeriesStateMachine, layout: BackupFormatOptions['layout'], pageCacheBytes?: number): BackupFormatStateMachine {
  return new BackupFormatStateMachine(sm, { clusterId: 'c1', nodeId: 'n1', layout, ...(pageCacheBytes === undefined ? {} : { pageCacheBytes }) });
}

describe('streamed local snapshot', () => {
  it('is the in-memory pack byte for byte over random states and layouts, blocks in memory or read back', async () => {
    let evicted = 0;
    let multiGroup = 0;
    await fc.assert(
      fc.asyncProperty(stateCommands, layouts, async (commands, layout) => {
        const { plain, persisted, evictedBlocks } = await buildStates(commands);
        evicted += evictedBlocks;
        const reference = adapterOf(plain, layout).snapshot();
        // A fresh page cache each time, and one warmed by the in-memory snapshot.
        for (const adapter of [adapterOf(persisted, layout), adapterOf(plain, layout), adapterOf(persisted, layout, 1)]) {
          expect(Buffer.from(await streamedPack(adapter)).equals(Buffer.from(reference))).toBe(true);
          expect(adapter.stateHash()).toBe(plain.stateHash());
        }
        const warmed = adapterOf(persisted, layout);
        warmed.snapshot();
        expect(Buffer.from(await streamedPack(warmed)).equals(Buffer.from(reference))).toBe(true);
        if (unpackState(reference).manifest.files.filter((f) => f.role === 'group').length > 1) multiGroup++;
      }),
      { numRuns: 40, seed: 99 },
    );
    expect(evicted).toBeGreaterThan(50);
    expect(multiGroup).toBeGreaterThan(5);
  });

  it('gives the same manifest as packState', async () => {
    const { persisted } = await buildStates([
      { kind: 'write', series: [0, 1, 2, 3], blocks: [0, 1, 2, 3, 4], points: 20, session: true, bigValues: true },
      { kind: 'checkpoint' },
      { kind: 'write', series: [4, 5], blocks: [9, 12], points: 7, session: false, bigValues: false },
    ]);
    const info: CaptureInfo = { clusterId: 'c', nodeId: 'n2', raftIndex: persisted.appliedIndex, raftTerm: 3, membership: null, createdAtMs: 5 };
    const layout = { pagesPerBlock: 2, seriesPerGroup: 2, minSegmentBytes: 100 };
    const chunks: Buffer[] = [];
    let pauses = 0;
    const pause = { every: 1, wait: async () => void pauses++ };
    const written = await writePackedState(new TssmStream(persisted), info, { layout }, async (c) => void chunks.push(Buffer.from(c)), pause);
    // The event loop got a turn after every series.
    expect(pauses).toBe(persisted.stats().seriesCount);
    const reference = packState(persisted.snapshot(), info, { layout });
    expect(written.manifest).toEqual(reference.manifest);
    expect(written.sizeBytes).toBe(reference.pack.length);
    expect(Buffer.concat(chunks).equals(Buffer.from(reference.pack))).toBe(true);
  });

  it('saves the same snapshot file through saveStream as save() of the in-memory pack', async () => {
    const { persisted } = await buildStates([
      { kind: 'write', series: [0, 1, 2, 3, 4, 5, 6, 7], blocks: [0, 1, 2, 3, 4, 5, 6], points: 40, session: true, bigValues: false },
      { kind: 'checkpoint' },
    ]);
    expect(persisted.residencyStats().evictedBlocks).toBeGreaterThan(8);
    const adapter = adapterOf(persisted, null);
    const directory = await mkdtemp(join(tmpdir(), 'tsraft-streamed-'));
    try {
      const store = await FileSnapshotStore.open(directory);
      const data = adapter.snapshot();
      const meta: SnapshotMeta = { index: persisted.appliedIndex, term: 2, config: { voters: ['n1'], learners: [], contexts: { n1: 'ws://x' } }, sizeBytes: data.length };
      await store.save(meta, data);
      const inMemory = await readFile(join(directory, SNAPSHOT_FILE));
      const { sizeBytes: _size, ...base } = meta;
      expect(await store.saveStream(base, (sink) => adapter.writeSnapshot(sink))).toEqual(meta);
      expect((await readFile(join(directory, SNAPSHOT_FILE))).equals(inMemory)).toBe(true);
      await store.close();
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe('pack writer', () => {
  it('writes what encodePack gives for the same files, each name once', async () => {
    const names = ['a', 'b', 'c', 'd'].map((c) => `data/${c.repeat(64)}.seg`);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ name: fc.nat(3), size: fc.nat(3000) }), { maxLength: 8 }), fc.uint8Array({ maxLength: 400 }), async (files, manifest) => {
        const entries: PackEntry[] = files.map((f) => ({ name: names[f.name]!, bytes: new Uint8Array(f.size + f.name).fill(f.name + 1) }));
        // Content ids: a name always carries the same bytes.
        const byName = new Map<string, PackEntry>();
        for (const e of entries) if (!byName.has(e.name)) byName.set(e.name, e);
        const chunks: Buffer[] = [];
        const writer = new PackWriter(async (c) => void chunks.push(Buffer.from(c)));
        await writer.start();
        const fresh: boolean[] = [];
        for (const e of entries) fresh.push(await writer.file(e.name, byName.get(e.name)!.bytes));
        const size = await writer.finish(manifest);
        const reference = encodePack([...byName.values()], manifest);
        expect(Buffer.concat(chunks).equals(Buffer.from(reference))).toBe(true);
        expect(size).toBe(reference.length);
        expect(fresh.filter(Boolean).length).toBe(byName.size);
      }),
      { numRuns: 100, seed: 5 },
    );
  });

  it('refuses a name already written with other bytes', async () => {
    const writer = new PackWriter(async () => {});
    await writer.start();
    const name = `data/${'e'.repeat(64)}.grp`;
    await writer.file(name, sha256(new Uint8Array(3)));
    await expect(writer.file(name, new Uint8Array(5))).rejects.toThrow(/written with 32 bytes, again with 5/);
  });
});
