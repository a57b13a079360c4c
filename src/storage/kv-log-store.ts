// The Raft log store's logic, written once over a tiny ordered key-value
// interface so that LevelDB (level-log-store.ts) and the simulator's memory
// disk (memory-stores.ts) share every rule: conflict truncation, snapshot
// install, compaction and the checks load() makes. Key layout and value
// formats: docs/storage.md.
import { AssertionError, assert, TsraftError } from '../errors.js';
import type { Entry, HardState, SnapshotMeta } from '../raft/types.js';
import type { RaftLogStore, RaftSaveBatch, StoredRaftState } from './types.js';
import { decodeEntry, encodeEntry } from './entry-codec.js';
import { corruptRecord, decodeFormatMarker, decodeHardState, decodeSnapshotMeta, encodeFormatMarker, encodeHardState, encodeSnapshotMeta } from './record-codec.js';

/** Layout version of the keys and values below; bump on any incompatible change. */
export const LOG_FORMAT_VERSION = 1;
export const KEY_FORMAT = Uint8Array.of(0x6d); // 'm'
export const KEY_HARD_STATE = Uint8Array.of(0x68); // 'h'
export const KEY_SNAPSHOT = Uint8Array.of(0x73); // 's'
export const ENTRY_KEY_PREFIX = 0x65; // 'e'
const ENTRY_KEYS_END = Uint8Array.of(ENTRY_KEY_PREFIX + 1);
/** Saves queued behind one another. The replica awaits each save before the
 *  next Ready, so more than a handful means a caller stopped awaiting. */
export const MAX_QUEUED_LOG_OPERATIONS = 1024;

export type KvOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

/** An ordered byte-keyed store. `write` is atomic and resolves once durable
 *  (with `sync` false: once visible to reads; a later synced write makes it
 *  durable, as one write-ahead log does). */
export interface KvLogBackend {
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  /** Pairs with gte ≤ key < lt in key order (descending when reverse), at most limit. */
  range(gte: Uint8Array, lt: Uint8Array, options?: { reverse?: boolean; limit?: number }): Promise<Array<[Uint8Array, Uint8Array]>>;
  write(ops: KvOp[], sync?: boolean): Promise<void>;
  /** Deletes every key in [gte, lt) in key order, without a sync: a power
   *  loss may undo the last deletions (a suffix in key order), never leave a
   *  hole. For compaction, which drops entries a recorded snapshot covers. */
  deleteRange(gte: Uint8Array, lt: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** `e` + the index as an 8-byte big-endian integer, so key order is index order. */
export function entryKey(index: number): Uint8Array {
  if (!(Number.isSafeInteger(index) && index >= 0)) throw new AssertionError(`entryKey: bad index ${index}`);
  const key = new Uint8Array(9);
  key[0] = ENTRY_KEY_PREFIX;
  new DataView(key.buffer).setBigUint64(1, BigInt(index));
  return key;
}

export function indexOfEntryKey(key: Uint8Array): number {
  if (key.length !== 9 || key[0] !== ENTRY_KEY_PREFIX) throw corruptRecord('entry key', `unexpected key of ${key.length} bytes`);
  return Number(new DataView(key.buffer, key.byteOffset, key.byteLength).getBigUint64(1));
}

/** What the store keeps in memory between calls: the stored entry range
 *  (0/0 when there is none) and the recorded snapshot. */
export interface LogStoreState {
  firstIndex: number;
  lastIndex: number;
  snapshot: SnapshotMeta | null;
  /** The hard state last written (null before any). */
  hardState: HardState | null;
}

/** Read the format marker (writing it on a fresh store) and the stored range. */
export async function openLogState(backend: KvLogBackend): Promise<LogStoreState> {
  const marker = await backend.get(KEY_FORMAT);
  const [first] = await backend.range(entryKey(0), ENTRY_KEYS_END, { limit: 1 });
  const [last] = await backend.range(entryKey(0), ENTRY_KEYS_END, { limit: 1, reverse: true });
  const snapshotRecord = await backend.get(KEY_SNAPSHOT);
  const hardStateRecord = await backend.get(KEY_HARD_STATE);
  if (marker === undefined) {
    if (first !== undefined || snapshotRecord !== undefined || hardStateRecord !== undefined) {
      throw new TsraftError('TSR_ERR_STORAGE_FORMAT', 'the Raft log holds data but no format marker: it was not written by tsraft or the marker was lost');
    }
    await backend.write([{ type: 'put', key: KEY_FORMAT, value: encodeFormatMarker(LOG_FORMAT_VERSION) }]);
  } else {
    const version = decodeFormatMarker(marker);
    if (version !== LOG_FORMAT_VERSION) {
      throw new TsraftError('TSR_ERR_STORAGE_FORMAT', `the Raft log uses format version ${version}; this build reads version ${LOG_FORMAT_VERSION}`, { details: { version } });
    }
  }
  const state: LogStoreState = {
    firstIndex: first === undefined ? 0 : indexOfEntryKey(first[0]),
    lastIndex: last === undefined ? 0 : indexOfEntryKey(last[0]),
    snapshot: snapshotRecord === undefined ? null : decodeSnapshotMeta(snapshotRecord),
    hardState: hardStateRecord === undefined ? null : decodeHardState(hardStateRecord),
  };
  assert(state.firstIndex <= state.lastIndex, 'openLogState: first key after last key');
  return state;
}

export class KvRaftLogStore implements RaftLogStore {
  private readonly backend: KvLogBackend;
  private state: LogStoreState;
  /** Operations run one at a time, in call order. */
  private tail: Promise<void> = Promise.resolve();
  private queuedOperations = 0;
  /** After a failed write the in-memory view may differ from the disk: every
   *  later call fails with the same error (fatal tier; never limp on). */
  private failure: unknown = null;
  private closed = false;

  protected constructor(backend: KvLogBackend, state: LogStoreState) {
    this.backend = backend;
    this.state = state;
  }

  /** The stored entry range and recorded snapshot (for status and tests). */
  get range(): Readonly<LogStoreState> {
    return this.state;
  }

  load(): Promise<StoredRaftState> {
    return this.serialize(() => this.loadNow());
  }

  save(batch: RaftSaveBatch): Promise<void> {
    return this.serialize(() => this.saveNow(batch));
  }

  compact(upTo: number): Promise<void> {
    return this.serialize(() => this.compactNow(upTo));
  }

  readEntries(from: number, to: number): Promise<Entry[] | null> {
    return this.serialize(async () => {
      assert(Number.isSafeInteger(from) && Number.isSafeInteger(to) && from >= 1 && from <= to + 1, `readEntries: bad range ${from}..${to}`);
      if (from > to) return [];
      const rows = await this.backend.range(entryKey(from), entryKey(to + 1));
      if (rows.length !== to - from + 1) return null; // compacted away
      const entries: Entry[] = [];
      for (const [key, value] of rows) {
        const index = indexOfEntryKey(key);
        if (index !== from + entries.length) return null;
        entries.push(decodeEntry(value, index));
      }
      return entries;
    });
  }

  recordSnapshot(meta: SnapshotMeta): Promise<void> {
    return this.serialize(() => this.recordSnapshotNow(meta));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    await this.backend.close();
  }

  private serialize<T>(operation: () => Promise<T>): Promise<T> {
    assert(!this.closed, 'Raft log store used after close()');
    assert(this.queuedOperations < MAX_QUEUED_LOG_OPERATIONS, `Raft log store has ${this.queuedOperations} queued operations: callers must await save()`);
    this.queuedOperations += 1;
    const run = this.tail.then(async () => {
      if (this.failure !== null) throw this.failure;
      try {
        return await operation();
      } catch (error) {
        // Corruption and I/O failures poison the store; so do bugs (they crash anyway).
        this.failure = error;
        throw error;
      } finally {
        this.queuedOperations -= 1;
      }
    });
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async loadNow(): Promise<StoredRaftState> {
    const hardStateRecord = await this.backend.get(KEY_HARD_STATE);
    const hardState: HardState = hardStateRecord === undefined ? { term: 0, vote: null, commit: 0 } : decodeHardState(hardStateRecord);
    const snapshotRecord = await this.backend.get(KEY_SNAPSHOT);
    const snapshot = snapshotRecord === undefined ? null : decodeSnapshotMeta(snapshotRecord);
    const snapshotIndex = snapshot?.index ?? 0;
    const rows = await this.backend.range(entryKey(snapshotIndex + 1), ENTRY_KEYS_END);
    const entries: Entry[] = [];
    let previousTerm = snapshot?.term ?? 0;
    for (const [key, value] of rows) {
      const index = indexOfEntryKey(key);
      const expected = snapshotIndex + 1 + entries.length;
      if (index !== expected) {
        throw new TsraftError('TSR_ERR_CORRUPT_LOG', `the Raft log has a gap: expected entry ${expected}, found ${index}`, { details: { index: expected } });
      }
      const entry = decodeEntry(value, index);
      if (entry.term < previousTerm) {
        throw new TsraftError('TSR_ERR_CORRUPT_LOG', `log entry ${index} has term ${entry.term}, lower than the ${previousTerm} before it`, { details: { index } });
      }
      previousTerm = entry.term;
      entries.push(entry);
    }
    const lastIndex = entries.at(-1)?.index ?? snapshotIndex;
    if (hardState.commit > lastIndex) {
      throw new TsraftError('TSR_ERR_CORRUPT_LOG', `the hard state commits index ${hardState.commit} but the log ends at ${lastIndex}: committed entries are missing`, {
        details: { index: lastIndex + 1 },
      });
    }
    assert(entries.length === 0 || entries[0]!.index === snapshotIndex + 1, 'loadNow: entries do not follow the snapshot');
    return { hardState, snapshot, entries };
  }

  private async saveNow(batch: RaftSaveBatch): Promise<void> {
    if (batch.hardState === null && batch.entries.length === 0 && batch.snapshot === null) return;
    const sync = batch.sync ?? true;
    if (!sync) this.checkUnsyncedSave(batch);
    const ops: KvOp[] = [];
    let { firstIndex, lastIndex, snapshot, hardState } = this.state;

    if (batch.snapshot !== null) {
      const installed = batch.snapshot;
      assert(installed.index >= (snapshot?.index ?? 0), `installing snapshot ${installed.index} older than the recorded ${snapshot?.index}`);
      // Raft §7 (Figure 13, steps 6–7): keep the entries after the snapshot
      // only if the log holds the snapshot's last entry with the same term;
      // otherwise they may belong to a history the snapshot overrode.
      let keepAfter = snapshot !== null && snapshot.index === installed.index && snapshot.term === installed.term;
      if (!keepAfter && firstIndex !== 0 && firstIndex <= installed.index && installed.index <= lastIndex) {
        const record = await this.backend.get(entryKey(installed.index));
        keepAfter = record !== undefined && decodeEntry(record, installed.index).term === installed.term;
      }
      const dropThrough = keepAfter ? Math.min(installed.index, lastIndex) : lastIndex;
      if (firstIndex !== 0) for (let i = firstIndex; i <= dropThrough; i++) ops.push({ type: 'del', key: entryKey(i) });
      if (keepAfter && lastIndex > installed.index) firstIndex = Math.max(firstIndex, installed.index + 1);
      else firstIndex = lastIndex = 0;
      ops.push({ type: 'put', key: KEY_SNAPSHOT, value: encodeSnapshotMeta(installed) });
      snapshot = installed;
    }

    if (batch.entries.length > 0) {
      const entries = batch.entries;
      const low = entries[0]!.index;
      const high = entries.at(-1)!.index;
      const snapshotIndex = snapshot?.index ?? 0;
      assert(high - low + 1 === entries.length, `save: entries ${low}..${high} are not contiguous`);
      assert(low > snapshotIndex, `save: entry ${low} is covered by snapshot ${snapshotIndex}`);
      const logLast = lastIndex !== 0 ? lastIndex : snapshotIndex;
      assert(low <= logLast + 1, `save: entry ${low} would leave a gap after ${logLast}`);
      for (let i = 1; i < entries.length; i++) {
        if (!(entries[i]!.index === low + i)) throw new AssertionError(`save: entry ${entries[i]!.index} out of order`);
        if (!(entries[i]!.term >= entries[i - 1]!.term)) throw new AssertionError(`save: entry ${entries[i]!.index} has a lower term than the one before it`);
      }
      // Conflict truncation: stored entries at or after `low` are replaced;
      // those beyond the new tail are deleted.
      if (lastIndex > high) for (let i = Math.max(high + 1, firstIndex); i <= lastIndex; i++) ops.push({ type: 'del', key: entryKey(i) });
      for (const entry of entries) ops.push({ type: 'put', key: entryKey(entry.index), value: encodeEntry(entry) });
      firstIndex = firstIndex === 0 ? low : Math.min(firstIndex, low);
      lastIndex = high;
    }

    if (batch.hardState !== null) {
      ops.push({ type: 'put', key: KEY_HARD_STATE, value: encodeHardState(batch.hardState) });
      hardState = batch.hardState;
    }

    await this.backend.write(ops, sync);
    this.state = { firstIndex, lastIndex, snapshot, hardState };
  }

  /** An unsynced save may only move the commit index: term and vote must be
   *  as last written (a vote must be durable before it is granted). */
  private checkUnsyncedSave(batch: RaftSaveBatch): void {
    const last = this.state.hardState;
    assert(batch.entries.length === 0 && batch.snapshot === null && batch.hardState !== null, 'an unsynced save carries entries or a snapshot');
    if (last === null || last.term !== batch.hardState.term || last.vote !== batch.hardState.vote) {
      assert(false, `an unsynced save changes term or vote (${last?.term}/${last?.vote} → ${batch.hardState.term}/${batch.hardState.vote})`);
    }
  }

  private async compactNow(upTo: number): Promise<void> {
    const { firstIndex, lastIndex, snapshot } = this.state;
    assert(Number.isSafeInteger(upTo) && upTo >= 0, `compact: bad index ${upTo}`);
    assert(upTo <= (snapshot?.index ?? 0), `compact(${upTo}) beyond the recorded snapshot ${snapshot?.index ?? 0} would leave a gap: call recordSnapshot first`);
    if (firstIndex === 0 || upTo < firstIndex) return;
    const through = Math.min(upTo, lastIndex);
    // One range delete, not a delete per entry (10,000 entries per snapshot
    // by default). Unsynced: an undone deletion only leaves entries the
    // recorded snapshot covers, which load() skips, and the entries left
    // stay contiguous because deletions are undone from the end.
    await this.backend.deleteRange(entryKey(firstIndex), entryKey(through + 1));
    this.state = through === lastIndex ? { ...this.state, firstIndex: 0, lastIndex: 0 } : { ...this.state, firstIndex: through + 1 };
  }

  private async recordSnapshotNow(meta: SnapshotMeta): Promise<void> {
    const { firstIndex, lastIndex, snapshot } = this.state;
    assert(meta.index >= (snapshot?.index ?? 0), `recordSnapshot(${meta.index}) older than the recorded ${snapshot?.index}`);
    assert(meta.index <= Math.max(lastIndex, snapshot?.index ?? 0), `recordSnapshot(${meta.index}) beyond the last stored entry ${lastIndex}`);
    if (firstIndex !== 0 && firstIndex <= meta.index) {
      const record = await this.backend.get(entryKey(meta.index));
      assert(record !== undefined, `recordSnapshot: entry ${meta.index} missing`);
      const stored = decodeEntry(record, meta.index);
      assert(stored.term === meta.term, `recordSnapshot: entry ${meta.index} has term ${stored.term}, the snapshot says ${meta.term}`);
    }
    await this.backend.write([{ type: 'put', key: KEY_SNAPSHOT, value: encodeSnapshotMeta(meta) }]);
    this.state = { ...this.state, snapshot: meta };
  }
}
