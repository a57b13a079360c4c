// Installing a snapshot that is a backup pack straight into the state
// machine's store as it streams (BackupFormatStateMachine.restoreFrom →
// pack-install.ts): the result is the state TimeSeriesStateMachine.restore
// gives for the pack's TSSM, byte for byte, whatever the layout (several
// groups), the chunking and whether blocks had left memory; a damaged pack
// is refused and leaves the restore marker, so the next start clears the
// store and installs again.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeManifest, decodeManifest, sealManifest } from '../../src/backup/manifest.js';
import { encodePack, unpackSync } from '../../src/backup/pack.js';
import { BackupFormatStateMachine, type BackupFormatOptions } from '../../src/backup/state-machine-adapter.js';
import type { SnapshotInstallSummary } from '../../src/backup/pack-install.js';
import { unpackState } from '../../src/backup/snapshot-pack.js';
import type { SnapshotMeta } from '../../src/raft/types.js';
import { TsdbCheckpointer, loadPersistedState, storeBlockReader } from '../../src/replica/tsdb-persistence.js';
import { MemoryDisk } from '../../src/storage/memory-disk.js';
import { MemoryStateMachineStore } from '../../src/storage/state-machine-store.js';
import { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';
import { SPAN_MS, buildStates, stateCommands } from './random-state.js';

const layouts = fc.record({ pagesPerBlock: fc.constantFrom(1, 2, 5, 8), seriesPerGroup: fc.integer({ min: 1, max: 3 }), minSegmentBytes: fc.constantFrom(1, 200, 16_384) });

interface Target {
  disk: MemoryDisk;
  store: MemoryStateMachineStore;
  machine: TimeSeriesStateMachine;
  adapter: BackupFormatStateMachine;
  installs: SnapshotInstallSummary[];
}

/** A node's state machine kept in a store on `disk`, every written block out of memory. */
function target(disk = new MemoryDisk(), install: Partial<NonNullable<BackupFormatOptions['install']>> = {}): Target {
  const store = new MemoryStateMachineStore(disk);
  const machine = new TimeSeriesStateMachine({ blockSpanMs: SPAN_MS }, { blockReader: storeBlockReader(store), residentBlockBytes: 0 });
  const installs: SnapshotInstallSummary[] = [];
  const adapter = new BackupFormatStateMachine(machine, { clusterId: 'c1', nodeId: 'n2', install: { store, onInstalled: (s) => installs.push(s), ...install } });
  return { disk, store, machine, adapter, installs };
}

function metaOf(bytes: Uint8Array, index: number): SnapshotMeta {
  return { index, term: 2, config: { voters: ['n1', 'n2'], learners: [], contexts: {} }, sizeBytes: bytes.length };
}

async function* chunked(bytes: Uint8Array, sizes: readonly number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (let k = 0; at < bytes.length; k++) {
    const size = Math.max(1, sizes[k % sizes.length]!);
    // Copies: the snapshot store hands out fresh buffers.
    yield bytes.slice(at, at + size);
    at += size;
  }
}

/** The store holds an older state first, checkpointed, so the install replaces something. */
async function withOldState(t: Target): Promise<void> {
  const { plain } = await buildStates([{ kind: 'write', series: [6, 7], blocks: [28, 29, 30], points: 9, session: true, bigValues: false }]);
  t.machine.restore(plain.snapshot());
  await new TsdbCheckpointer(() => t.machine, t.store).persist();
}

function sealedBytesInMemory(machine: TimeSeriesStateMachine): number {
  let n = 0;
  for (let id = 0; id < machine.nextSeriesId; id++) for (const record of machine.seriesDataOf(id)?.sealedRecords() ?? []) if (record.bytes !== null) n++;
  return n;
}

async function expectRefused(t: Target, pack: Uint8Array, code: string, message: RegExp = /./): Promise<void> {
  await expect(t.adapter.restoreFrom!(metaOf(pack, 50), chunked(pack, [777]))).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
  // The marker stays: a restart clears the store and the replica installs again.
  expect(t.disk.keys('sm/')[0]).toBe('sm/00');
  const restarted = target(t.disk);
  expect(await loadPersistedState(restarted.machine, restarted.store)).toBe(false);
  expect(t.disk.keys('sm/')).toEqual([]);
}

describe('streamed install of a snapshot pack', () => {
  it('gives the state restore() gives for the pack, byte for byte, over random states, layouts and chunkings', async () => {
    let multiGroup = 0;
    let evicted = 0;
    await fc.assert(
      fc.asyncProperty(stateCommands, layouts, fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 4 }), fc.boolean(), async (commands, layout, sizes, fromPersisted) => {
        const { plain, persisted, evictedBlocks } = await buildStates(commands);
        if (fromPersisted) evicted += evictedBlocks;
        const source = fromPersisted ? persisted : plain;
        const pack = new BackupFormatStateMachine(source, { clusterId: 'c1', nodeId: 'n1', layout }).snapshot();
        const { tssm, manifest } = unpackState(pack);
        const reference = TimeSeriesStateMachine.restore(tssm);
        const t = target();
        await withOldState(t);
        await t.adapter.restoreFrom!(metaOf(pack, source.appliedIndex + 3), chunked(pack, sizes));
        expect(Buffer.from(t.machine.snapshot()).equals(Buffer.from(tssm))).toBe(true);
        expect(t.machine.stateDigest()).toEqual(reference.stateDigest());
        expect(t.adapter.stateHash()).toBe(reference.stateHash());
        expect(sealedBytesInMemory(t.machine)).toBe(0);
        const groups = manifest.files.filter((f) => f.role === 'group').length;
        expect(t.installs).toEqual([expect.objectContaining({ format: 'pack', seriesCount: reference.stats().seriesCount, groups })]);
        if (groups > 1) multiGroup++;
        // No marker left; a restart loads the same state from the store.
        expect(t.disk.keys('sm/00')).toEqual([]);
        const restarted = target(t.disk);
        expect(await loadPersistedState(restarted.machine, restarted.store)).toBe(true);
        expect(Buffer.from(restarted.machine.snapshot()).equals(Buffer.from(tssm))).toBe(true);
      }),
      { numRuns: 40, seed: 17 },
    );
    expect(multiGroup).toBeGreaterThan(10);
    expect(evicted).toBeGreaterThan(15);
  });

  it('still installs a snapshot of raw TSSM bytes (taken before snapshots were packs)', async () => {
    const { plain } = await buildStates([{ kind: 'write', series: [0, 1, 2, 3], blocks: [0, 1, 2, 5], points: 12, session: true, bigValues: true }]);
    const tssm = plain.snapshot();
    const t = target();
    await withOldState(t);
    await t.adapter.restoreFrom!(metaOf(tssm, 9), chunked(tssm, [1, 2, 3, 500]));
    expect(Buffer.from(t.machine.snapshot()).equals(Buffer.from(tssm))).toBe(true);
    expect(t.installs).toEqual([expect.objectContaining({ format: 'tssm', seriesCount: 4 })]);
  });

  describe('refuses a damaged pack and leaves the restore marker', () => {
    async function packAndTarget(): Promise<{ pack: Uint8Array; t: Target }> {
      const { persisted } = await buildStates([
        { kind: 'write', series: [0, 1, 2, 3, 4, 5], blocks: [0, 1, 2, 3, 6], points: 25, session: true, bigValues: false },
        { kind: 'checkpoint' },
      ]);
      const pack = new BackupFormatStateMachine(persisted, { clusterId: 'c1', nodeId: 'n1', layout: { pagesPerBlock: 2, seriesPerGroup: 2, minSegmentBytes: 200 } }).snapshot();
      const t = target();
      await withOldState(t);
      return { pack, t };
    }

    /** Where the bytes of the first file with this extension start in the pack. */
    function offsetOf(pack: Uint8Array, extension: string): { at: number; length: number } {
      const unpacked = unpackSync(pack);
      const [, bytes] = [...unpacked.files].find(([name]) => name.endsWith(extension))!;
      return { at: bytes.byteOffset - pack.byteOffset, length: bytes.length };
    }

    it('a flipped byte in a segment file', async () => {
      const { pack, t } = await packAndTarget();
      const { at, length } = offsetOf(pack, '.seg');
      const damaged = pack.slice();
      damaged[at + Math.floor(length / 2)]! ^= 0x10;
      await expectRefused(t, damaged, 'TSR_ERR_BACKUP_CORRUPT', /\.seg: SHA-256 mismatch/);
    });

    it('a flipped byte in the manifest', async () => {
      const { pack, t } = await packAndTarget();
      const manifest = unpackSync(pack).manifest;
      const damaged = pack.slice();
      damaged[manifest.byteOffset - pack.byteOffset + 40]! ^= 0x01;
      await expectRefused(t, damaged, 'TSR_ERR_BACKUP_CORRUPT');
    });

    it('a pack cut short', async () => {
      const { pack, t } = await packAndTarget();
      await expectRefused(t, pack.subarray(0, pack.length - 100), 'TSR_ERR_BACKUP_CORRUPT');
    });

    it('a resealed manifest whose state digest is not the state the files give: caught on the state read back', async () => {
      const { pack, t } = await packAndTarget();
      const unpacked = unpackSync(pack);
      const m = decodeManifest(unpacked.manifest, 'manifest');
      const { manifestSha256: _sha, totals: _totals, ...draft } = m;
      const lying = sealManifest({ ...draft, state: { ...m.state, stateHash: '0123456789abcdef' } });
      const forged = encodePack([...unpacked.files].map(([name, bytes]) => ({ name, bytes })), encodeManifest(lying));
      await expectRefused(t, forged, 'TSR_ERR_BACKUP_CORRUPT', /differs from the state digest in the manifest/);
    });

    it('a group larger than the bound on what an install holds', async () => {
      const { pack } = await packAndTarget();
      const t = target(new MemoryDisk(), { maxGroupBytes: 64 });
      await expectRefused(t, pack, 'TSR_ERR_SNAPSHOT_GROUP_TOO_LARGE');
    });
  });
});
