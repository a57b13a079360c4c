// The state machine kept in a store (docs/storage.md, "State machine"):
// checkpoints and loading give back the same state, written blocks leave
// memory and are read back, damage is detected and never served.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TsraftError } from '../../src/errors.js';
import { TsdbCheckpointer, loadPersistedState, storeBlockReader } from '../../src/replica/tsdb-persistence.js';
import { MemoryDisk } from '../../src/storage/memory-disk.js';
import { MemoryStateMachineStore } from '../../src/storage/state-machine-store.js';
import { KEY_BLOCK_BYTES, KEY_SERIES_HEAD, blockKey, journalKey, seriesHeadKey } from '../../src/tsdb/persisted-state.js';
import { scrubSeries } from '../../src/tsdb/scrub.js';
import { TimeSeriesStateMachine, type LocalStateMachineOptions, type TimeSeriesStateMachineOptions } from '../../src/tsdb/state-machine.js';
import type { RawPoint } from '../../src/tsdb/validate.js';
import { retentionEntry, writeEntry as entry } from './entries.js';

const T0 = 1_356_998_400_000;
const SPAN_MS = 10_000;
const OPTIONS: Partial<TimeSeriesStateMachineOptions> = { blockSpanMs: SPAN_MS };

function writeEntry(points: RawPoint[], leaderTimeMs = T0, session?: { clientId: string; sequence: number }): Uint8Array {
  return entry(points, leaderTimeMs, session);
}

/** A state machine on a store of its own, as a node runs it. */
function persisted(disk: MemoryDisk, local: Partial<LocalStateMachineOptions> = {}): { sm: TimeSeriesStateMachine; store: MemoryStateMachineStore; checkpointer: TsdbCheckpointer } {
  const store = new MemoryStateMachineStore(disk);
  const sm = new TimeSeriesStateMachine(OPTIONS, { blockReader: storeBlockReader(store), ...local });
  return { sm, store, checkpointer: new TsdbCheckpointer(() => sm, store) };
}

async function reload(disk: MemoryDisk, local: Partial<LocalStateMachineOptions> = {}): Promise<TimeSeriesStateMachine> {
  const { sm, store } = persisted(disk, local);
  expect(await loadPersistedState(sm, store)).toBe(true);
  return sm;
}

function allPoints(sm: TimeSeriesStateMachine): string[] {
  const out: string[] = [];
  for (let id = 0; id < sm.nextSeriesId; id++) {
    const key = sm.seriesKeyOf(id);
    if (key === undefined) continue;
    const cols = sm.readPoints(id, -1e15, 1e15);
    for (let i = 0; i < cols.length; i++) out.push(`${key}@${cols.timestampsMs[i]}=${cols.values[i]}`);
  }
  return out;
}

/** Ten blocks of four series, then a point far ahead so that all but the newest are sealed. */
function manyBlocks(sm: TimeSeriesStateMachine, firstIndex: number): number {
  let index = firstIndex;
  for (let block = 0; block < 10; block++) {
    const points: RawPoint[] = [];
    for (let host = 0; host < 4; host++) {
      for (let k = 0; k < 20; k++) points.push({ metric: 'cpu', timestamp: T0 + block * SPAN_MS + k * 500, value: String(block * 1000 + host * 100 + k), tags: { host: `h${host}` } });
    }
    sm.apply(index++, writeEntry(points));
  }
  sm.apply(index++, writeEntry([0, 1, 2, 3].map((h) => ({ metric: 'cpu', timestamp: T0 + 3_600_000, value: '1', tags: { host: `h${h}` } }))));
  return index;
}

describe('state machine checkpoints', () => {
  it('loads back exactly the state it checkpointed, and both go on identically', async () => {
    const commands = fc.array(
      fc.oneof(
        { weight: 6, arbitrary: fc.array(fc.record({ host: fc.integer({ min: 0, max: 5 }), offsetMs: fc.integer({ min: 0, max: 40 * SPAN_MS }), value: fc.integer({ min: -5, max: 5 }) }), { minLength: 1, maxLength: 12 }).map((points) => ({ kind: 'write' as const, points })) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 40 * SPAN_MS }).map((cutMs) => ({ kind: 'retention' as const, cutMs })) },
        { weight: 2, arbitrary: fc.constant({ kind: 'checkpoint' as const }) },
        { weight: 1, arbitrary: fc.constant({ kind: 'reload' as const }) },
        // Reads compact open blocks written out of order; a repeat writes the
        // last write's timestamps again (overwriting points a checkpoint may hold).
        { weight: 1, arbitrary: fc.constant({ kind: 'read' as const }) },
        { weight: 1, arbitrary: fc.constant({ kind: 'repeat' as const }) },
      ),
      { minLength: 1, maxLength: 40 },
    );
    await fc.assert(
      fc.asyncProperty(commands, fc.integer({ min: 0, max: 600 }), async (steps, residentBlockBytes) => {
        const disk = new MemoryDisk();
        let node = persisted(disk, { residentBlockBytes });
        const reference = new TimeSeriesStateMachine(OPTIONS);
        let index = 0;
        let sequence = 0;
        let lastPoints: RawPoint[] = [];
        for (const step of steps) {
          if (step.kind === 'write' || step.kind === 'repeat') {
            index++;
            const points =
              step.kind === 'write'
                ? step.points.map((p) => ({ metric: 'm', timestamp: T0 + p.offsetMs, value: String(p.value), tags: { host: `h${p.host}` } }))
                : lastPoints.map((p) => ({ ...p, value: String(Number(p.value) + 100) }));
            lastPoints = points;
            // Sessions are state too: every other write carries a client id.
            const session = index % 2 === 0 ? { clientId: 'c1', sequence: ++sequence } : undefined;
            const entry = writeEntry(points, T0, session);
            expect(node.sm.apply(index, entry)).toEqual(reference.apply(index, entry));
          } else if (step.kind === 'retention') {
            index++;
            const entry = retentionEntry(T0 + step.cutMs + 3_600_000, 3_600_000);
            expect(node.sm.apply(index, entry)).toEqual(reference.apply(index, entry));
          } else if (step.kind === 'checkpoint') {
            await node.checkpointer.persist();
          } else if (step.kind === 'read') {
            expect(allPoints(node.sm)).toEqual(allPoints(reference));
          } else {
            // A restart: what was not checkpointed is applied again from "the log".
            await node.checkpointer.persist();
            const loaded = persisted(disk, { residentBlockBytes });
            expect(await loadPersistedState(loaded.sm, loaded.store)).toBe(true);
            node = loaded;
          }
          expect(node.sm.appliedIndex).toBe(reference.appliedIndex);
        }
        expect(node.sm.stateHash()).toBe(reference.stateHash());
        expect(allPoints(node.sm)).toEqual(allPoints(reference));
        await node.checkpointer.persist();
        const last = await reload(disk, { residentBlockBytes });
        expect(last.snapshot()).toEqual(reference.snapshot());
        expect(last.stateDigest()).toEqual(reference.stateDigest());
      }),
      { numRuns: 60 },
    );
  });

  it('writes only the series that changed since the last checkpoint', async () => {
    const { sm, checkpointer } = persisted(new MemoryDisk());
    sm.apply(1, writeEntry([0, 1, 2, 3].map((h) => ({ metric: 'cpu', timestamp: T0, value: '1', tags: { host: `h${h}` } }))));
    await checkpointer.persist();
    expect(checkpointer.stats.lastSeriesWritten).toBe(4);
    sm.apply(2, writeEntry([{ metric: 'cpu', timestamp: T0 + 1000, value: '2', tags: { host: 'h2' } }]));
    await checkpointer.persist();
    expect(checkpointer.stats.lastSeriesWritten).toBe(1);
    expect(checkpointer.stats.writtenIndex).toBe(2);
  });

  it('journals the points a series gained in its open blocks instead of rewriting its head', async () => {
    const disk = new MemoryDisk();
    const { sm, checkpointer } = persisted(disk);
    const reference = new TimeSeriesStateMachine(OPTIONS);
    const apply = (index: number, points: RawPoint[]): void => {
      const entry = writeEntry(points);
      sm.apply(index, entry);
      reference.apply(index, entry);
    };
    apply(1, [{ metric: 'cpu', timestamp: T0, value: '1', tags: { host: 'a' } }]);
    await checkpointer.persist();
    const headKey = `sm/${hex(seriesHeadKey(0))}`;
    const head = disk.read(headKey);
    for (let k = 1; k <= 3; k++) {
      apply(k + 1, [{ metric: 'cpu', timestamp: T0 + k * 100, value: String(k), tags: { host: 'a' } }, { metric: 'cpu', timestamp: T0 + k * 100, value: String(-k), tags: { host: 'a' } }]);
      await checkpointer.persist();
    }
    // The head record is as first written; three journal records follow it.
    expect(disk.read(headKey)).toBe(head);
    expect(disk.keys(headKey)).toEqual([headKey, ...[1, 2, 3].map((seq) => `sm/${hex(journalKey(0, seq))}`)]);
    const loaded = await reload(disk);
    expect(loaded.snapshot()).toEqual(reference.snapshot());
    expect(allPoints(loaded)).toEqual(allPoints(reference));
  });

  it('rewrites the head and drops the journal after 64 journal records', async () => {
    const disk = new MemoryDisk();
    const { sm, checkpointer } = persisted(disk);
    const reference = new TimeSeriesStateMachine(OPTIONS);
    for (let k = 0; k <= 70; k++) {
      const entry = writeEntry([{ metric: 'cpu', timestamp: T0 + k * 10, value: String(k), tags: { host: 'a' } }]);
      sm.apply(k + 1, entry);
      reference.apply(k + 1, entry);
      await checkpointer.persist();
    }
    const headKey = `sm/${hex(seriesHeadKey(0))}`;
    // 71 checkpoints: the head, 64 journal records, then a new head and 5 records.
    expect(disk.keys(headKey)).toHaveLength(1 + 5);
    expect((await reload(disk)).snapshot()).toEqual(reference.snapshot());
  });

  it('finds nothing in an empty store', async () => {
    const disk = new MemoryDisk();
    const { sm, store } = persisted(disk);
    expect(await loadPersistedState(sm, store)).toBe(false);
    expect(sm.appliedIndex).toBe(0);
  });

  it('replaces everything stored after a restore from a snapshot', async () => {
    const disk = new MemoryDisk();
    const { sm, checkpointer } = persisted(disk);
    sm.apply(1, writeEntry([{ metric: 'old', timestamp: T0, value: '1', tags: { host: 'a' } }]));
    await checkpointer.persist();
    const other = new TimeSeriesStateMachine(OPTIONS);
    other.apply(5, writeEntry([{ metric: 'new', timestamp: T0, value: '7', tags: { host: 'b' } }]));
    sm.restore(other.snapshot());
    await checkpointer.persist();
    const loaded = await reload(disk);
    expect(loaded.appliedIndex).toBe(5);
    expect(loaded.seriesOfMetric('old')).toEqual([]);
    expect(allPoints(loaded)).toEqual(['new{host=b}@1356998400000=7']);
    expect(loaded.snapshot()).toEqual(other.snapshot());
  });

  it('deletes the records of series that retention removed', async () => {
    const disk = new MemoryDisk();
    const { sm, checkpointer } = persisted(disk);
    const index = manyBlocks(sm, 1);
    await checkpointer.persist();
    expect(disk.keys('sm/').length).toBeGreaterThan(40);
    sm.apply(index, retentionEntry(T0 + 100 * 3_600_000, 3_600_000));
    expect(sm.stats().seriesCount).toBe(0);
    await checkpointer.persist();
    expect(disk.keys('sm/')).toEqual(['sm/01', 'sm/0101']);
  });

  it('stores the covered index: entries it skipped (no-ops, configuration) are not applied again after a restart', async () => {
    const disk = new MemoryDisk();
    const { sm, checkpointer } = persisted(disk);
    sm.apply(3, writeEntry([{ metric: 'cpu', timestamp: T0, value: '1', tags: { host: 'a' } }]));
    sm.noteUnappliedEntry(4);
    sm.noteUnappliedEntry(7);
    expect(() => sm.noteUnappliedEntry(6)).toThrow(/unapplied entry 6 not after 7/);
    await checkpointer.persist();
    const loaded = await reload(disk);
    // The replicated applied index (in snapshots and digests) is the last entry applied.
    expect(loaded.appliedIndex).toBe(3);
    expect(loaded.coveredIndex).toBe(7);
    expect(loaded.snapshot()).toEqual(sm.snapshot());
    loaded.apply(8, writeEntry([{ metric: 'cpu', timestamp: T0 + 1, value: '2', tags: { host: 'a' } }]));
    expect(loaded.coveredIndex).toBe(8);
  });
});

describe('data larger than memory', () => {
  it('keeps at most residentBlockBytes of written blocks in memory and reads the others back', async () => {
    const disk = new MemoryDisk();
    const { sm, checkpointer } = persisted(disk, { residentBlockBytes: 300, decodedBlockCacheBytes: 0 });
    const reference = new TimeSeriesStateMachine(OPTIONS);
    manyBlocks(reference, 1);
    manyBlocks(sm, 1);
    // Sealed but not written yet: every block is still in memory.
    expect(sm.residencyStats().evictedBlocks).toBe(0);
    await checkpointer.persist();
    const residency = sm.residencyStats();
    expect(residency.residentWrittenBytes).toBeLessThanOrEqual(300);
    expect(residency.evictedBlocks).toBeGreaterThan(20);
    expect(allPoints(sm)).toEqual(allPoints(reference));
    expect(sm.snapshot()).toEqual(reference.snapshot());
  });

  it('reopens an evicted block for a late write and writes the new block', async () => {
    const disk = new MemoryDisk();
    const { sm, checkpointer } = persisted(disk, { residentBlockBytes: 0 });
    const reference = new TimeSeriesStateMachine(OPTIONS);
    const next = manyBlocks(sm, 1);
    manyBlocks(reference, 1);
    await checkpointer.persist();
    const late = writeEntry([{ metric: 'cpu', timestamp: T0 + 2 * SPAN_MS + 250, value: '42', tags: { host: 'h1' } }]);
    sm.apply(next, late);
    reference.apply(next, late);
    await checkpointer.persist();
    const loaded = await reload(disk, { residentBlockBytes: 0 });
    expect(allPoints(loaded)).toEqual(allPoints(reference));
    expect(loaded.stateHash()).toBe(reference.stateHash());
  });

  it('loads indexes and open blocks only: no sealed block is read at start-up', async () => {
    const disk = new MemoryDisk();
    const { sm, checkpointer } = persisted(disk);
    manyBlocks(sm, 1);
    await checkpointer.persist();
    const store = new MemoryStateMachineStore(disk);
    let reads = 0;
    const counting = new TimeSeriesStateMachine(OPTIONS, { blockReader: { readBlock: (id, start) => (reads++, storeBlockReader(store).readBlock(id, start)) } });
    await loadPersistedState(counting, store);
    expect(reads).toBe(0);
    expect(counting.stats()).toEqual(sm.stats());
    expect(counting.stateDigest()).toEqual(sm.stateDigest());
    expect(reads).toBe(0);
    allPoints(counting);
    expect(reads).toBeGreaterThan(30);
  });
});

describe('damaged state records', () => {
  it('fails the load naming a damaged series head record', async () => {
    const disk = new MemoryDisk();
    const { sm, checkpointer } = persisted(disk);
    manyBlocks(sm, 1);
    await checkpointer.persist();
    disk.flipBit(`sm/${hex(seriesHeadKey(2))}`, 20);
    const fresh = persisted(disk);
    const error = await loadPersistedState(fresh.sm, fresh.store).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TsraftError);
    expect((error as TsraftError).code).toBe('TSR_ERR_CORRUPT_STATE');
    expect((error as TsraftError).message).toContain('head record of series 2');
    expect(KEY_SERIES_HEAD).toBe(2);
  });

  it('never serves a damaged block read back from the store; the scrubber finds it and a repair writes the original back', async () => {
    const disk = new MemoryDisk();
    const { sm, checkpointer } = persisted(disk, { residentBlockBytes: 0, decodedBlockCacheBytes: 0 });
    manyBlocks(sm, 1);
    await checkpointer.persist();
    const key = `sm/${hex(blockKey(KEY_BLOCK_BYTES, 1, T0 + 3 * SPAN_MS))}`;
    const original = disk.read(key)!.slice();
    disk.flipBit(key, 30);
    const series = sm.seriesDataOf(1)!;
    expect(() => sm.readPoints(1, T0 + 3 * SPAN_MS, T0 + 3 * SPAN_MS + 100)).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_SEGMENT' }));
    // Other blocks of the series are still served.
    expect(sm.readPoints(1, T0, T0 + SPAN_MS - 1).length).toBe(20);
    const { damaged } = scrubSeries(series);
    expect(damaged.map((d) => d.startMs)).toEqual([T0 + 3 * SPAN_MS]);
    expect(sm.repairSealedBlock(1, damaged[0]!.record, original)).toBe(true);
    await checkpointer.persist();
    expect(disk.read(key)).toEqual(original);
    expect(scrubSeries(series).damaged).toEqual([]);
    expect(sm.readPoints(1, T0 + 3 * SPAN_MS, T0 + 3 * SPAN_MS + 9_999).length).toBe(20);
  });
});

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
