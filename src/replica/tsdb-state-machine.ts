// Adapts the time-series state machine (src/tsdb/state-machine.ts) to the
// replica's ReplicatedStateMachine interface. restore() replaces the state in
// place (the same TimeSeriesStateMachine object, keeping this process's caches
// and block reader); callers may keep `machine`. Given the store the machine
// is kept in, it also installs snapshots streamed into that store
// (restoreFrom: installSnapshotStream), never holding a snapshot whole.
import type { SnapshotMeta } from '../raft/types.js';
import type { StateMachineStore } from '../storage/types.js';
import { TimeSeriesStateMachine, type ApplyResult, type LocalStateMachineOptions, type TimeSeriesStateMachineOptions } from '../tsdb/state-machine.js';
import { installSnapshotStream } from './tsdb-persistence.js';
import type { ReplicaTestingKnobs, ReplicatedStateMachine } from './types.js';

export class TsdbStateMachine implements ReplicatedStateMachine<ApplyResult> {
  readonly machine: TimeSeriesStateMachine;
  /** Present when the machine is kept in a store (then installs stream into it). */
  readonly restoreFrom?: (meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>) => Promise<void>;

  constructor(
    options: Partial<TimeSeriesStateMachineOptions> = {},
    local: Partial<LocalStateMachineOptions> = {},
    store: StateMachineStore | null = null,
    knobs: Pick<ReplicaTestingKnobs, 'installMetaFirst'> = {},
  ) {
    this.machine = new TimeSeriesStateMachine(options, local);
    if (store !== null) {
      this.restoreFrom = async (meta, chunks) => {
        await installSnapshotStream(this.machine, store, chunks, meta.index, knobs);
      };
    }
  }

  /** Every committed entry up to here is reflected (applied or skipped). */
  get appliedIndex(): number {
    return this.machine.coveredIndex;
  }

  apply(index: number, data: Uint8Array): ApplyResult {
    return this.machine.apply(index, data);
  }

  noteUnappliedEntry(index: number): void {
    this.machine.noteUnappliedEntry(index);
  }

  snapshot(): Uint8Array {
    return this.machine.snapshot();
  }

  restore(bytes: Uint8Array): void {
    this.machine.restore(bytes);
  }

  stateHash(): string {
    return this.machine.stateHash();
  }
}
