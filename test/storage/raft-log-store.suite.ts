// One behavioural suite for every RaftLogStore implementation (LevelDB and the
// simulator's memory disk). Each implementation's test file supplies a harness.
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AssertionError, TsraftError } from '../../src/errors.js';
import type { Entry, HardState, SnapshotMeta } from '../../src/raft/types.js';
import type { RaftLogStore, StoredRaftState } from '../../src/storage/types.js';

export interface RaftLogStoreHarness {
  /** Open a store on the durable medium (after close(), this is a restart). */
  open(): Promise<RaftLogStore>;
  /** Damage entry `index` on the medium while no store is open. */
  corruptEntry(index: number): Promise<void>;
  /** Release the medium (temporary directories). */
  destroy(): Promise<void>;
}

export function entry(index: number, term: number, text = `e${index}t${term}`): Entry {
  return { index, term, kind: 'normal', data: new TextEncoder().encode(text) };
}

export function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

export function snapshotMeta(index: number, term: number, sizeBytes = 0): SnapshotMeta {
  return { index, term, sizeBytes, config: { voters: ['n1', 'n2', 'n3'], learners: [], contexts: { n1: 'ws://127.0.0.1:1/raft' } } };
}

const hardState = (term: number, vote: string | null, commit: number): HardState => ({ term, vote, commit });
const none = { hardState: null, entries: [], snapshot: null };

function summary(state: StoredRaftState): { hardState: HardState; snapshot: number | null; entries: string[] } {
  return {
    hardState: state.hardState,
    snapshot: state.snapshot?.index ?? null,
    entries: state.entries.map((e) => `${e.index}:${e.term}:${new TextDecoder().decode(e.data)}`),
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

export function describeRaftLogStore(name: string, createHarness: () => Promise<RaftLogStoreHarness>): void {
  describe(`RaftLogStore contract: ${name}`, () => {
    let harness: RaftLogStoreHarness;
    let store: RaftLogStore | null = null;

    beforeEach(async () => {
      harness = await createHarness();
      store = await harness.open();
    });
    afterEach(async () => {
      await store?.close();
      await harness.destroy();
    });

    async function reopen(): Promise<RaftLogStore> {
      await store!.close();
      store = null;
      store = await harness.open();
      return store;
    }

    it('loads an empty state from a fresh store', async () => {
      expect(await store!.load()).toEqual({ hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] });
    });

    it('loads back the entries and hard state it saved, byte for byte', async () => {
      const saved = [...entries(1, 3, 1), { index: 4, term: 2, kind: 'config' as const, data: Uint8Array.of(0, 255, 7) }, { index: 5, term: 2, kind: 'normal' as const, data: new Uint8Array(0) }];
      await store!.save({ hardState: hardState(2, 'n2', 3), entries: saved, snapshot: null });
      const loaded = await store!.load();
      expect(loaded.hardState).toEqual(hardState(2, 'n2', 3));
      expect(loaded.entries.map((e) => ({ ...e, data: [...e.data] }))).toEqual(saved.map((e) => ({ ...e, data: [...e.data] })));
    });

    it('keeps synced data across close and reopen', async () => {
      await store!.save({ hardState: hardState(1, null, 0), entries: entries(1, 4, 1), snapshot: null });
      await store!.save({ hardState: hardState(3, 'n1', 4), entries: entries(5, 6, 3), snapshot: null });
      const before = summary(await store!.load());
      const reopened = await reopen();
      expect(summary(await reopened.load())).toEqual(before);
      expect(before.entries).toHaveLength(6);
    });

    it('saves a hard state alone without touching entries', async () => {
      await store!.save({ hardState: hardState(1, null, 0), entries: entries(1, 2, 1), snapshot: null });
      await store!.save({ hardState: hardState(4, 'n3', 2), entries: [], snapshot: null });
      const loaded = summary(await store!.load());
      expect(loaded.hardState).toEqual(hardState(4, 'n3', 2));
      expect(loaded.entries).toHaveLength(2);
    });

    it('saves a commit-index change without a sync and reads it back', async () => {
      await store!.save({ hardState: hardState(2, 'n1', 0), entries: entries(1, 3, 2), snapshot: null });
      await store!.save({ hardState: hardState(2, 'n1', 3), entries: [], snapshot: null, sync: false });
      expect(summary(await store!.load()).hardState).toEqual(hardState(2, 'n1', 3));
      expect(summary(await reopen().then((s) => s.load())).hardState).toEqual(hardState(2, 'n1', 3));
    });

    it('refuses an unsynced save that changes the term or vote or carries entries', async () => {
      await store!.save({ hardState: hardState(2, 'n1', 0), entries: entries(1, 3, 2), snapshot: null });
      expect(await rejection(store!.save({ hardState: hardState(2, 'n2', 1), entries: [], snapshot: null, sync: false }))).toBeInstanceOf(AssertionError);
    });

    it('refuses an unsynced save of entries', async () => {
      expect(await rejection(store!.save({ hardState: null, entries: entries(1, 1, 1), snapshot: null, sync: false }))).toBeInstanceOf(AssertionError);
    });

    it('treats an empty batch as a no-op', async () => {
      await store!.save(none);
      expect(summary(await store!.load()).entries).toEqual([]);
    });

    it('truncates conflicting entries at and after the first new index', async () => {
      await store!.save({ hardState: null, entries: entries(1, 5, 1), snapshot: null });
      await store!.save({ hardState: null, entries: entries(3, 4, 2), snapshot: null });
      expect(summary(await reopen().then((s) => s.load())).entries).toEqual(['1:1:e1t1', '2:1:e2t1', '3:2:e3t2', '4:2:e4t2']);
    });

    it('appends after the last entry without rewriting earlier ones', async () => {
      await store!.save({ hardState: null, entries: entries(1, 2, 1), snapshot: null });
      await store!.save({ hardState: null, entries: entries(3, 3, 1), snapshot: null });
      expect(summary(await store!.load()).entries).toEqual(['1:1:e1t1', '2:1:e2t1', '3:1:e3t1']);
    });

    it('refuses to save entries that would leave a gap', async () => {
      await store!.save({ hardState: null, entries: entries(1, 2, 1), snapshot: null });
      expect(await rejection(store!.save({ hardState: null, entries: entries(4, 5, 1), snapshot: null }))).toBeInstanceOf(AssertionError);
    });

    it('drops entries covered by an installed snapshot and keeps later ones when the snapshot matches the log', async () => {
      await store!.save({ hardState: null, entries: entries(1, 10, 1), snapshot: null });
      await store!.save({ hardState: hardState(1, null, 6), entries: [], snapshot: snapshotMeta(6, 1) });
      const loaded = await reopen().then((s) => s.load());
      expect(loaded.snapshot?.index).toBe(6);
      expect(loaded.snapshot?.config.contexts).toEqual({ n1: 'ws://127.0.0.1:1/raft' });
      expect(summary(loaded).entries.map((e) => e.split(':')[0])).toEqual(['7', '8', '9', '10']);
    });

    it('discards the whole log when an installed snapshot does not match it (Raft §7)', async () => {
      await store!.save({ hardState: null, entries: entries(1, 10, 1), snapshot: null });
      await store!.save({ hardState: hardState(2, null, 6), entries: [], snapshot: snapshotMeta(6, 2) });
      const loaded = await reopen().then((s) => s.load());
      expect(loaded.snapshot?.index).toBe(6);
      expect(loaded.entries).toEqual([]);
    });

    it('installs a snapshot beyond the log together with the entries that follow it', async () => {
      await store!.save({ hardState: null, entries: entries(1, 3, 1), snapshot: null });
      await store!.save({ hardState: hardState(2, null, 20), entries: entries(21, 22, 2), snapshot: snapshotMeta(20, 2) });
      const loaded = summary(await reopen().then((s) => s.load()));
      expect(loaded.snapshot).toBe(20);
      expect(loaded.entries).toEqual(['21:2:e21t2', '22:2:e22t2']);
    });

    it('compacts entries up to a recorded local snapshot', async () => {
      await store!.save({ hardState: hardState(1, null, 8), entries: entries(1, 10, 1), snapshot: null });
      await store!.recordSnapshot(snapshotMeta(8, 1));
      await store!.compact(5);
      let loaded = summary(await reopen().then((s) => s.load()));
      expect(loaded.snapshot).toBe(8);
      expect(loaded.entries.map((e) => e.split(':')[0])).toEqual(['9', '10']);
      await store!.compact(8);
      await store!.save({ hardState: null, entries: entries(11, 11, 1), snapshot: null });
      loaded = summary(await reopen().then((s) => s.load()));
      expect(loaded.entries.map((e) => e.split(':')[0])).toEqual(['9', '10', '11']);
    });

    it('reads back entries a snapshot covers until compaction drops them', async () => {
      await store!.save({ hardState: hardState(1, null, 8), entries: entries(1, 10, 1), snapshot: null });
      await store!.recordSnapshot(snapshotMeta(8, 1));
      await store!.compact(3);
      // load() starts after the snapshot; readEntries still reaches behind it.
      expect((await store!.readEntries(5, 8))!.map((e) => e.index)).toEqual([5, 6, 7, 8]);
      expect(await store!.readEntries(9, 8)).toEqual([]);
      // Entry 3 is gone: the range is not whole.
      expect(await store!.readEntries(3, 6)).toBeNull();
      expect(await store!.readEntries(10, 12)).toBeNull();
    });

    it('refuses to compact past the recorded snapshot', async () => {
      await store!.save({ hardState: null, entries: entries(1, 10, 1), snapshot: null });
      await store!.recordSnapshot(snapshotMeta(4, 1));
      expect(await rejection(store!.compact(5))).toBeInstanceOf(AssertionError);
    });

    it('detects a corrupted entry on load and names its index', async () => {
      await store!.save({ hardState: hardState(1, null, 5), entries: entries(1, 5, 1), snapshot: null });
      await store!.close();
      store = null;
      await harness.corruptEntry(3);
      store = await harness.open();
      const error = await rejection(store.load());
      expect(error).toBeInstanceOf(TsraftError);
      expect((error as TsraftError).code).toBe('TSR_ERR_CORRUPT_LOG');
      expect((error as TsraftError).details.index).toBe(3);
      expect((error as TsraftError).message).toContain('3');
    });

    it('fails every later call after a corruption was found (fatal, never limps on)', async () => {
      await store!.save({ hardState: null, entries: entries(1, 3, 1), snapshot: null });
      await store!.close();
      store = null;
      await harness.corruptEntry(2);
      store = await harness.open();
      await rejection(store.load());
      const later = await rejection(store.save({ hardState: hardState(1, null, 0), entries: [], snapshot: null }));
      expect((later as TsraftError).code).toBe('TSR_ERR_CORRUPT_LOG');
    });

    it('reports committed entries that are missing from the log', async () => {
      await store!.save({ hardState: hardState(1, null, 3), entries: entries(1, 2, 1), snapshot: null });
      const error = await rejection(store!.load());
      expect((error as TsraftError).code).toBe('TSR_ERR_CORRUPT_LOG');
    });

    it('matches a simple reference log over random appends, snapshots and compactions', async () => {
      type Op =
        | { kind: 'append'; back: number; count: number; newTerm: boolean }
        | { kind: 'install'; ahead: number; matching: boolean }
        | { kind: 'compact'; back: number }
        | { kind: 'reopen' };
      const op: fc.Arbitrary<Op> = fc.oneof(
        { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), back: fc.nat(4), count: fc.integer({ min: 1, max: 4 }), newTerm: fc.boolean() }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('install' as const), ahead: fc.integer({ min: -6, max: 3 }), matching: fc.boolean() }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.nat(6) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
      );
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
          await store!.close();
          await harness.destroy();
          harness = await createHarness();
          store = await harness.open();
          // The reference: a map of index → entry, the snapshot, a running term.
          const model = new Map<number, Entry>();
          let snapshot: SnapshotMeta | null = null;
          let term = 1;
          const last = (): number => Math.max(0, ...model.keys(), snapshot?.index ?? 0);
          const termAt = (index: number): number | undefined => model.get(index)?.term ?? (snapshot?.index === index ? snapshot.term : undefined);
          for (const step of ops) {
            const snapIndex = snapshot?.index ?? 0;
            if (step.kind === 'append') {
              if (step.newTerm) term += 1;
              const low = Math.max(snapIndex + 1, last() + 1 - step.back);
              const batch = entries(low, low + step.count - 1, term);
              for (const index of [...model.keys()]) if (index >= low) model.delete(index);
              for (const e of batch) model.set(e.index, e);
              await store!.save({ hardState: null, entries: batch, snapshot: null });
            } else if (step.kind === 'install') {
              const index = Math.max(snapIndex, last() + step.ahead);
              const existing = termAt(index);
              const matching = step.matching && existing !== undefined;
              if (!matching) term += 1;
              const meta = snapshotMeta(index, matching ? existing! : term);
              for (const i of [...model.keys()]) if (i <= index || !matching) model.delete(i);
              snapshot = meta;
              await store!.save({ hardState: null, entries: [], snapshot: meta });
            } else if (step.kind === 'compact') {
              const index = Math.max(snapIndex, last() - step.back);
              const meta = snapshotMeta(index, termAt(index) ?? 0);
              if (index > snapIndex) {
                await store!.recordSnapshot(meta);
                snapshot = meta;
              }
              await store!.compact(snapshot?.index ?? 0);
              for (const i of [...model.keys()]) if (i <= (snapshot?.index ?? 0)) model.delete(i);
            } else {
              await reopen();
            }
          }
          const loaded = await store!.load();
          expect(loaded.snapshot?.index ?? 0).toBe(snapshot?.index ?? 0);
          expect(summary(loaded).entries).toEqual(summary({ hardState: loaded.hardState, snapshot: null, entries: [...model.values()].sort((a, b) => a.index - b.index) }).entries);
        }),
        { numRuns: 40 },
      );
    });
  });
}
