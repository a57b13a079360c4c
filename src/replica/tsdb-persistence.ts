// The time-series state machine kept in a StateMachineStore (docs/storage.md,
// "State machine"): loading it at start-up, and the checkpoints the replica
// asks for (StateMachinePersistence), each one atomic batch holding the
// changed series and the applied index. A restart then replays only the log
// entries after that index.
import { assert } from '../errors.js';
import { KEY_BLOCK_BYTES, KEY_RESTORE_MARKER, blockKey, checkpointOps, decodePersistedState, decodeStoredState, encodeRestoreMarker, metaKey, restoreMarkerKey, seriesOps, type StateKvOp } from '../tsdb/persisted-state.js';
import { SeriesData } from '../tsdb/series-data.js';
import { SnapshotStreamParser, snapshotWithoutSeries } from '../tsdb/snapshot-stream.js';
import type { PersistedBlockReader, TimeSeriesStateMachine } from '../tsdb/state-machine.js';
import type { StateMachineStore } from '../storage/types.js';
import type { StateMachinePersistence } from './types.js';

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
 * Installs a state machine snapshot (TSSM bytes, in order) straight into the
 * store, one series at a time, then loads `machine` from it: memory holds one
 * series and the indexes, never the whole snapshot. A restore marker written
 * first (with the old meta record deleted) makes a crash midway leave a store
 * that loadPersistedState clears; the meta record, written last in the same
 * batch that removes the marker, makes the new state whole. A damaged
 * snapshot fails with TSR_ERR_CORRUPT_SNAPSHOT and leaves the marker (the
 * state is then rebuilt from a good snapshot).
 */
export async function installSnapshotStream(machine: TimeSeriesStateMachine, store: StateMachineStore, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, snapshotIndex: number): Promise<{ seriesCount: number; bytesWritten: number }> {
  await store.write([{ type: 'put', key: restoreMarkerKey(), value: encodeRestoreMarker(snapshotIndex) }, { type: 'del', key: metaKey() }], { replaceAll: false });
  await store.clearRange(Uint8Array.of(KEY_RESTORE_MARKER + 1), ALL_TO);
  const parser = new SnapshotStreamParser();
  let ops: StateKvOp[] = [];
  let pendingBytes = 0;
  let bytesWritten = 0;
  let seriesCount = 0;
  for await (const chunk of chunks) {
    parser.push(chunk);
    for (const item of parser.take()) {
      if (!('series' in item)) continue;
      const { id, key, data } = item.series;
      // One series in memory at a time: its blocks go to the store, not to the machine.
      const { records: _records, ...delta } = SeriesData.deserialize(data).captureCheckpoint(1, true);
      const written = seriesOps({ id, key, ...delta });
      for (const op of written.ops) ops.push(op);
      pendingBytes += written.bytes;
      seriesCount++;
    }
    if (pendingBytes >= INSTALL_BATCH_BYTES) {
      await store.write(ops, { replaceAll: false });
      bytesWritten += pendingBytes;
      ops = [];
      pendingBytes = 0;
    }
  }
  const tail = parser.finish();
  const meta = snapshotWithoutSeries(parser.header!, tail);
  ops.push({ type: 'put', key: metaKey(), value: meta });
  ops.push({ type: 'del', key: restoreMarkerKey() });
  await store.write(ops, { replaceAll: false });
  bytesWritten += pendingBytes + meta.length;
  const parts = decodePersistedState(await store.readRange(ALL_FROM, Uint8Array.of(KEY_BLOCK_BYTES)));
  assert(parts !== null, 'an installed snapshot left no meta record');
  machine.replacePersisted(parts);
  return { seriesCount, bytesWritten };
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
