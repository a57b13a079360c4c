// Adapts the time-series state machine (src/tsdb/state-machine.ts) to the
// replica's ReplicatedStateMachine interface. Restoring builds a new
// TimeSeriesStateMachine from the snapshot bytes, so callers that query must
// read `machine` each time rather than keep a reference.
import { TimeSeriesStateMachine, type ApplyResult, type TimeSeriesStateMachineOptions } from '../tsdb/state-machine.js';
import type { ReplicatedStateMachine } from './types.js';

export class TsdbStateMachine implements ReplicatedStateMachine<ApplyResult> {
  private current: TimeSeriesStateMachine;

  constructor(options: Partial<TimeSeriesStateMachineOptions> = {}) {
    this.current = new TimeSeriesStateMachine(options);
  }

  /** The live state machine (replaced by restore()). */
  get machine(): TimeSeriesStateMachine {
    return this.current;
  }

  get appliedIndex(): number {
    return this.current.appliedIndex;
  }

  apply(index: number, data: Uint8Array): ApplyResult {
    return this.current.apply(index, data);
  }

  snapshot(): Uint8Array {
    return this.current.snapshot();
  }

  restore(bytes: Uint8Array): void {
    this.current = TimeSeriesStateMachine.restore(bytes);
  }

  stateHash(): string {
    return this.current.stateHash();
  }
}
