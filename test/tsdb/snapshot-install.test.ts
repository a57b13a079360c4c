// Installing a snapshot straight into the state machine's store, one series
// at a time (docs/storage.md, "Installing a snapshot"): the result equals the
// snapshot, a cut-short install is detected and cleared, damage is refused.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TsdbCheckpointer, installSnapshotStream, loadPersistedState, storeBlockReader } from '../../src/replica/tsdb-persistence.js';
import { MemoryDisk } from '../../src/storage/memory-disk.js';
import { MemoryStateMachineStore } from '../../src/storage/state-machine-store.js';
import { SnapshotStreamParser } from '../../src/tsdb/snapshot-stream.js';
import { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';
import type { RawPoint } from '../../src/tsdb/validate.js';
import { writeEntry as entry } from './entries.js';

const T0 = 1_356_998_400_000;
const OPTIONS = { blockSpanMs: 10_000 };

function writeEntry(points: RawPoint[], session?: { clientId: string; sequence: number }): Uint8Array {
  return entry(points, T0, session);
}

/** A state with `series` series over 30 blocks, sessions included. */
function sourceState(series: number, seed: number): TimeSeriesStateMachine {
  const sm = new TimeSeriesStateMachine(OPTIONS);
  let index = 0;
  for (let step = 0; step < 30; step++) {
    const points: RawPoint[] = [];
    for (let s = 0; s < series; s++) points.push({ metric: `m${s % 3}`, timestamp: T0 + step * 10_000 + ((s * 7 + seed) % 9) * 1000, value: String((step * 31 + s * seed) % 97), tags: { host: `h${s}` } });
    sm.apply(++index, writeEntry(points, step % 2 === 0 ? { clientId: `c${seed}`, sequence: step + 1 } : undefined));
  }
  return sm;
}

function chunked(bytes: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  let k = 0;
  while (at < bytes.length) {
    const size = Math.max(1, sizes[k++ % sizes.length]!);
    out.push(bytes.subarray(at, at + size));
    at += size;
  }
  return out;
}

function persisted(disk: MemoryDisk): { sm: TimeSeriesStateMachine; store: MemoryStateMachineStore } {
  const store = new MemoryStateMachineStore(disk);
  return { sm: new TimeSeriesStateMachine(OPTIONS, { blockReader: storeBlockReader(store), residentBlockBytes: 0 }), store };
}

describe('the snapshot stream parser', () => {
  it('reads the same header, series and tail whatever the chunk sizes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 12 }), fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 8 }), (series, sizes) => {
        const bytes = sourceState(series, 3).snapshot();
        const parser = new SnapshotStreamParser();
        const seen: number[] = [];
        for (const chunk of chunked(bytes, sizes)) {
          parser.push(chunk);
          for (const item of parser.take()) if ('series' in item) seen.push(item.series.id);
        }
        parser.finish();
        expect(seen).toHaveLength(series);
        expect(parser.header!.seriesCount).toBe(series);
      }),
      { numRuns: 40 },
    );
  });

  it('refuses a snapshot that ends early or whose checksum fails', () => {
    const bytes = sourceState(4, 1).snapshot();
    const short = new SnapshotStreamParser();
    short.push(bytes.subarray(0, bytes.length - 100));
    expect(() => short.finish()).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_SNAPSHOT' }));
    const flipped = bytes.slice();
    flipped[bytes.length - 10]! ^= 0x40;
    const bad = new SnapshotStreamParser();
    bad.push(flipped);
    expect(() => bad.finish()).toThrow(/checksum mismatch/);
  });
});

/** A state machine on a memory disk whose store holds `old`, written by a checkpoint (its sealed blocks evicted). */
async function holding(old: TimeSeriesStateMachine): Promise<{ disk: MemoryDisk; sm: TimeSeriesStateMachine; store: MemoryStateMachineStore }> {
  const disk = new MemoryDisk();
  const { sm, store } = persisted(disk);
  sm.restore(old.snapshot());
  await new TsdbCheckpointer(() => sm, store).persist();
  return { disk, sm, store };
}

describe('installing a snapshot into the store', () => {
  it('replaces what the store held with exactly the snapshot, blocks left in the store', async () => {
    // The store holds an older, different state first.
    const { disk, sm, store } = await holding(sourceState(5, 9));
    const source = sourceState(8, 2);
    const result = await installSnapshotStream(sm, store, chunked(source.snapshot(), [333, 17, 4096]), source.appliedIndex);
    expect(result.seriesCount).toBe(8);
    expect(sm.snapshot()).toEqual(source.snapshot());
    expect(sm.stateDigest()).toEqual(source.stateDigest());
    // Sealed blocks were never loaded into memory.
    for (let id = 0; id < sm.nextSeriesId; id++) for (const record of sm.seriesDataOf(id)?.sealedRecords() ?? []) expect(record.bytes).toBeNull();
    // And a restart loads the same state.
    const again = persisted(disk);
    expect(await loadPersistedState(again.sm, again.store)).toBe(true);
    expect(again.sm.snapshot()).toEqual(source.snapshot());
    // The old state's series beyond the new ones are gone from the store.
    expect(again.sm.nextSeriesId).toBe(source.nextSeriesId);
  });

  it('answers a read of an evicted block during the install with a retryable TSR_ERR_STATE_RESTORING, never with missing points', async () => {
    const old = sourceState(4, 3);
    const { sm, store } = await holding(old);
    const everything = (id: number) => sm.readPoints(id, T0 - 1, T0 + 1_000_000);
    // Series 0 read now is in the decoded-block cache (still served, and right); series 1 is only in the store.
    expect(everything(0)).toEqual(old.readPoints(0, T0 - 1, T0 + 1_000_000));
    expect(sm.isStoreBeingReplaced).toBe(false);
    const source = sourceState(6, 8);
    const bytes = source.snapshot();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let halfway!: () => void;
    const atHalf = new Promise<void>((resolve) => (halfway = resolve));
    async function* paused(): AsyncGenerator<Uint8Array> {
      yield bytes.subarray(0, Math.floor(bytes.length / 2));
      halfway();
      await released;
      yield bytes.subarray(Math.floor(bytes.length / 2));
    }
    const install = installSnapshotStream(sm, store, paused(), source.appliedIndex);
    await atHalf;
    expect(sm.isStoreBeingReplaced).toBe(true);
    expect(everything(0)).toEqual(old.readPoints(0, T0 - 1, T0 + 1_000_000));
    expect(() => everything(1)).toThrow(expect.objectContaining({ code: 'TSR_ERR_STATE_RESTORING' }));
    release();
    await install;
    expect(sm.isStoreBeingReplaced).toBe(false);
    for (let id = 0; id < source.nextSeriesId; id++) expect(everything(id)).toEqual(source.readPoints(id, T0 - 1, T0 + 1_000_000));
  });

  it('leaves a marker when cut short; the next start clears the store', async () => {
    const { disk, sm, store } = await holding(sourceState(3, 4));
    const source = sourceState(6, 5).snapshot();
    async function* cut(): AsyncGenerator<Uint8Array> {
      yield source.subarray(0, Math.floor(source.length / 2));
      throw new Error('connection lost');
    }
    await expect(installSnapshotStream(sm, store, cut(), 99)).rejects.toThrow('connection lost');
    const restarted = persisted(disk);
    expect(await loadPersistedState(restarted.sm, restarted.store)).toBe(false);
    expect(disk.keys('sm/')).toEqual([]);
  });

  it('refuses a damaged snapshot and keeps the marker', async () => {
    const disk = new MemoryDisk();
    const { sm, store } = persisted(disk);
    const bytes = sourceState(4, 6).snapshot();
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await expect(installSnapshotStream(sm, store, [bytes], 7)).rejects.toMatchObject({ code: expect.stringMatching(/TSR_ERR_CORRUPT_(SNAPSHOT|SEGMENT)/) });
    expect(disk.keys('sm/')[0]).toBe('sm/00');
    const restarted = persisted(disk);
    expect(await loadPersistedState(restarted.sm, restarted.store)).toBe(false);
  });
});
