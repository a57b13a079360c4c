// The time-series state machine kept in a StateMachineStore (docs/storage.md,
// "State machine"): loading it at start-up, and the checkpoints the replica
// asks for (StateMachinePersistence), each one atomic batch holding the
// changed series and the applied index. A restart then replays only the log
// entries after that index.
import { TsraftError, assert } from '../errors.js';
import { KEY_BLOCK_BYTES, KEY_META, KEY_RESTORE_MARKER, blockKey, checkpointOps, coveredIndexKey, encodeCoveredIndex, decodePersistedState, decodeStoredState, encodeRestoreMarker, metaKey, restoreMarkerKey, seriesOps, type StateKvOp } from '../tsdb/persisted-state.js';
import { SeriesData } from '../tsdb/series-data.js';
import { SnapshotStreamParser, snapshotWithoutSeries, type SnapshotHeader } from '../tsdb/snapshot-stream.js';
import type { PersistedBlockReader, TimeSeriesStateMachine } from '../tsdb/state-machine.js';
import type { StateMachineStore } from '../storage/types.js';
import type { ReplicaTestingKnobs, StateMachinePersistence } from './types.js';

/** Reads written sealed blocks back from the store (a state machine's local.blockReader). */
export function storeBlockReader(store: StateMachineStore): PersistedBlockReader {
  return { readBlock: (seriesId, startMs) => store.readSync(blockKey(KEY_BLOCK_BYTES, seriesId, startMs)) };
}

/** Every key of a state machine store lies in [ALL_FROM, ALL_TO). */
const ALL_FROM = Uint8Array.of(KEY_RESTORE_MARKER);
const ALL_TO = Uint8Array.of(0xff);
/** Bytes of records gathered before one write while installing a snapshot. */
const INSTALL_BATCH_BYTES = 8 * 1024 * 1024;

/** Loads what the store holds into `machine` (which must be empty, built with
 *  storeBlockReader(store)). Returns false when the store is empty, or held
 *  an install cut short (then it is cleared: the replica installs the
 *  snapshot again from its file). Damaged records fail with
 *  TSR_ERR_CORRUPT_STATE naming the record. */
export async function loadPersistedState(machine: TimeSeriesStateMachine, store: StateMachineStore): Promise<boolean> {
  const records = await store.readRange(ALL_FROM, Uint8Array.of(KEY_BLOCK_BYTES));
  const decoded = decodeStoredState(records);
  if (decoded.kind === 'empty') return false;
  if (decoded.kind === 'incomplete-restore') {
    await store.clearRange(ALL_FROM, ALL_TO);
    return false;
  }
  machine.loadPersisted(decoded.parts);
  return true;
}

/**
 * Writes a state machine snapshot straight into the store, one series at a
 * time, so memory holds one series and never the whole snapshot. begin()
 * writes a restore marker (deleting the old meta record in the same batch)
 * and clears the rest: a crash midway leaves a store that loadPersistedState
 * clears. finish() writes the meta record last, in the batch that removes the
 * marker, then loads the machine (indexes and open blocks) from the store.
 * Series must come in increasing id order; the header may come last (a
 * backup pack lists it after the series).
 */
export class SnapshotInstaller {
  private ops: StateKvOp[] = [];
  private pendingBytes = 0;
  private previousId = -1;
  seriesCount = 0;
  bytesWritten = 0;

  private constructor(
    private readonly store: StateMachineStore,
    private readonly snapshotIndex: number,
  ) {}

  /** Starts replacing `machine`'s stored state (its evicted blocks are gone
   *  from here on: machine.beginStoreReplacement). */
  static async begin(store: StateMachineStore, snapshotIndex: number, machine: TimeSeriesStateMachine, knobs: Pick<ReplicaTestingKnobs, 'installMetaFirst'> = {}): Promise<SnapshotInstaller> {
    machine.beginStoreReplacement();
    if (knobs.installMetaFirst === true) {
      // Planted bug: no marker (installSnapshotStream writes the meta record first).
      await store.clearRange(ALL_FROM, ALL_TO);
      return new SnapshotInstaller(store, snapshotIndex);
    }
    await store.write([{ type: 'put', key: restoreMarkerKey(), value: encodeRestoreMarker(snapshotIndex) }, { type: 'del', key: metaKey() }], { replaceAll: false });
    await store.clearRange(Uint8Array.of(KEY_RESTORE_MARKER + 1), ALL_TO);
    return new SnapshotInstaller(store, snapshotIndex);
  }

  /** One series (SeriesData.serialize() bytes); its blocks go to the store, not to memory. */
  async addSeries(id: number, key: string, data: Uint8Array): Promise<void> {
    if (id <= this.previousId) throw new TsraftError('TSR_ERR_CORRUPT_SNAPSHOT', `snapshot series ${id} comes after series ${this.previousId}`, { details: { seriesId: id } });
    this.previousId = id;
    const { records: _records, ...delta } = SeriesData.deserialize(data).captureCheckpoint(1, true);
    const written = seriesOps({ id, key, ...delta });
    for (const op of written.ops) this.ops.push(op);
    this.pendingBytes += written.bytes;
    this.seriesCount++;
    if (this.pendingBytes >= INSTALL_BATCH_BYTES) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.ops.length === 0) return;
    await this.store.write(this.ops, { replaceAll: false });
    this.bytesWritten += this.pendingBytes;
    this.ops = [];
    this.pendingBytes = 0;
  }

  /** Writes the meta record (`header`'s fields and the sessions `tail`) and
   *  loads `machine` from the store. With `verify`, the marker stays until
   *  verify(machine) resolves (the machine then holds the installed state,
   *  read back from the store): a check that fails leaves the store marked,
   *  to be cleared at the next start. */
  async finish(header: SnapshotHeader, tail: Uint8Array, machine: TimeSeriesStateMachine, verify: ((installed: TimeSeriesStateMachine) => Promise<void>) | null = null): Promise<void> {
    if (header.seriesCount !== this.seriesCount) {
      throw new TsraftError('TSR_ERR_CORRUPT_SNAPSHOT', `the snapshot announces ${header.seriesCount} series but holds ${this.seriesCount}`, { details: { seriesCount: header.seriesCount } });
    }
    const meta = snapshotWithoutSeries(header, tail);
    // The snapshot reflects every entry up to its index, the last of which may be a no-op.
    this.ops.push({ type: 'put', key: coveredIndexKey(), value: encodeCoveredIndex(Math.max(this.snapshotIndex, header.appliedIndex)) });
    this.ops.push({ type: 'put', key: metaKey(), value: meta });
    if (verify === null) this.ops.push({ type: 'del', key: restoreMarkerKey() });
    this.pendingBytes += meta.length;
    await this.flush();
    const parts = decodePersistedState(await this.store.readRange(Uint8Array.of(KEY_META), Uint8Array.of(KEY_BLOCK_BYTES)));
    assert(parts !== null, 'an installed snapshot left no meta record');
    machine.replacePersisted(parts);
    if (verify === null) return;
    await verify(machine);
    await this.store.write([{ type: 'del', key: restoreMarkerKey() }], { replaceAll: false });
  }
}

/** Installs a state machine snapshot given as TSSM bytes in order (any chunking) with SnapshotInstaller. */
export async function installSnapshotStream(
  machine: TimeSeriesStateMachine,
  store: StateMachineStore,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  snapshotIndex: number,
  knobs: Pick<ReplicaTestingKnobs, 'installMetaFirst'> = {},
): Promise<{ seriesCount: number; bytesWritten: number }> {
  const installer = await SnapshotInstaller.begin(store, snapshotIndex, machine, knobs);
  const parser = new SnapshotStreamParser();
  for await (const chunk of chunks) {
    parser.push(chunk);
    for (const item of parser.take()) {
      if ('series' in item) await installer.addSeries(item.series.id, item.series.key, item.series.data);
      // Planted bug: the store claims the snapshot's applied index before it holds the series.
      else if (knobs.installMetaFirst === true) await store.write([{ type: 'put', key: metaKey(), value: snapshotWithoutSeries(item.header, machine.snapshotTail()) }], { replaceAll: false });
    }
  }
  const tail = parser.finish();
  await installer.finish(parser.header!, tail, machine);
  return { seriesCount: installer.seriesCount, bytesWritten: installer.bytesWritten };
}

export interface CheckpointStats {
  checkpoints: number;
  /** Applied index of the last checkpoint written. */
  writtenIndex: number;
  bytesWritten: number;
  lastSeriesWritten: number;
}

/** Writes checkpoints of the machine `current()` returns (it may be replaced by a restore). */
export class TsdbCheckpointer implements StateMachinePersistence {
  readonly stats: CheckpointStats = { checkpoints: 0, writtenIndex: 0, bytesWritten: 0, lastSeriesWritten: 0 };

  constructor(
    private readonly current: () => TimeSeriesStateMachine,
    private readonly store: StateMachineStore,
  ) {}

  async persist(): Promise<number> {
    const machine = this.current();
    const cp = machine.captureCheckpoint();
    const write = checkpointOps(cp);
    assert(write.ops.length > 0, 'a checkpoint writes at least its meta record');
    await this.store.write(write.ops, { replaceAll: write.replaceAll });
    machine.checkpointWritten(cp.generation);
    this.stats.checkpoints++;
    this.stats.writtenIndex = cp.appliedIndex;
    this.stats.bytesWritten += write.bytes;
    this.stats.lastSeriesWritten = cp.series.length;
    return cp.appliedIndex;
  }
}
