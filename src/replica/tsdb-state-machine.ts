// Adapts the time-series state machine (src/tsdb/state-machine.ts) to the
// replica's ReplicatedStateMachine interface. restore() replaces the state in
// place (the same TimeSeriesStateMachine object, keeping this process's caches
// and block reader); callers may keep `machine`.
import { TimeSeriesStateMachine, type ApplyResult, type LocalStateMachineOptions, type TimeSeriesStateMachineOptions } from '../tsdb/state-machine.js';
import type { ReplicatedStateMachine } from './types.js';

export class TsdbStateMachine implements ReplicatedStateMachine<ApplyResult> {
  readonly machine: TimeSeriesStateMachine;

  constructor(options: Partial<TimeSeriesStateMachineOptions> = {}, local: Partial<LocalStateMachineOptions> = {}) {
    this.machine = new TimeSeriesStateMachine(options, local);
  }

  get appliedIndex(): number {
    return this.machine.appliedIndex;
  }

  apply(index: number, data: Uint8Array): ApplyResult {
    return this.machine.apply(index, data);
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
