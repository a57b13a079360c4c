// The time-series state machine kept in a StateMachineStore (docs/storage.md,
// "State machine"): loading it at start-up, and the checkpoints the replica
// asks for (StateMachinePersistence), each one atomic batch holding the
// changed series and the applied index. A restart then replays only the log
// entries after that index.
import { assert } from '../errors.js';
import { KEY_BLOCK_BYTES, KEY_META, blockKey, checkpointOps, decodePersistedState } from '../tsdb/persisted-state.js';
import type { PersistedBlockReader, TimeSeriesStateMachine } from '../tsdb/state-machine.js';
import type { StateMachineStore } from '../storage/types.js';
import type { StateMachinePersistence } from './types.js';

/** Reads written sealed blocks back from the store (a state machine's local.blockReader). */
export function storeBlockReader(store: StateMachineStore): PersistedBlockReader {
  return { readBlock: (seriesId, startMs) => store.readSync(blockKey(KEY_BLOCK_BYTES, seriesId, startMs)) };
}

/** Loads what the store holds into `machine` (which must be empty, built with
 *  storeBlockReader(store)). Returns false when the store is empty. Damaged
 *  records fail with TSR_ERR_CORRUPT_STATE naming the record. */
export async function loadPersistedState(machine: TimeSeriesStateMachine, store: StateMachineStore): Promise<boolean> {
  const records = await store.readRange(Uint8Array.of(KEY_META), Uint8Array.of(KEY_BLOCK_BYTES));
  const parts = decodePersistedState(records);
  if (parts === null) return false;
  machine.loadPersisted(parts);
  return true;
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
