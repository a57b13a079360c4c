// Planted bugs in the write path (`--inject-bug`), wrapped around the real
// code by the simulator (the state machine and the API layer have no knobs
// for them): each breaks one thing the production path must get right, and
// a checker must catch it.
//
// - coalesced-session-lost: applying a `writes` entry records no session for
//   any write after the first (the entry is applied as if those writes had no
//   client id). A retry of such a write, after its answer was lost, is then
//   applied a second time instead of answered from the session.
// - wrong-series-id: the leader's encoder names a series by the id of another
//   series of the same metric (a mix-up of series ids, e.g. in the ids a
//   connection remembers for its handles). The entry then writes the client's
//   points into the wrong series on every replica alike.
import type { ReplicaTestingKnobs } from '../src/replica/types.js';
import { TsdbStateMachine } from '../src/replica/tsdb-state-machine.js';
import type { StateMachineStore } from '../src/storage/types.js';
import { decodeCommand, encodeCommand } from '../src/tsdb/command.js';
import type { ApplyResult, LocalStateMachineOptions, TimeSeriesStateMachine, TimeSeriesStateMachineOptions } from '../src/tsdb/state-machine.js';
import { parseSeriesKey, seriesKeyOf } from '../src/tsdb/validate.js';

export interface WritePathBugs {
  coalescedSessionLost: boolean;
  wrongSeriesId: boolean;
}

/** The replica's state machine adapter, with the coalesced-session-lost bug when asked. */
export class SimTsdbStateMachine extends TsdbStateMachine {
  constructor(
    options: Partial<TimeSeriesStateMachineOptions>,
    local: Partial<LocalStateMachineOptions>,
    store: StateMachineStore,
    knobs: ReplicaTestingKnobs,
    private readonly bugs: WritePathBugs,
  ) {
    super(options, local, store, knobs);
  }

  override apply(index: number, data: Uint8Array): ApplyResult {
    if (this.bugs.coalescedSessionLost) data = withoutLaterSessions(data);
    return super.apply(index, data);
  }
}

/** A `writes` entry whose writes after the first carry no session. */
function withoutLaterSessions(data: Uint8Array): Uint8Array {
  if (data.length === 0) return data;
  const cmd = decodeCommand(data);
  if (cmd.type !== 'writes' || cmd.writes.length < 2) return data;
  const writes = cmd.writes.map((w, i) => (i === 0 ? w : { ...w, clientId: '', sequence: 0, firstUnackedSequence: 0 }));
  return encodeCommand({ ...cmd, writes });
}

/** What the leader's API layer sees of its state machine, with the
 *  wrong-series-id bug: a key of a series that exists resolves to the id of
 *  another existing series of its metric (the next one by tag value). */
export function misresolvingView(machine: TimeSeriesStateMachine): TimeSeriesStateMachine {
  return new Proxy(machine, {
    get(target, property) {
      if (property === 'seriesIdOf') return (key: string) => wrongIdOf(target, key);
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function wrongIdOf(machine: TimeSeriesStateMachine, key: string): number | undefined {
  const id = machine.seriesIdOf(key);
  const parsed = parseSeriesKey(key);
  if (id === undefined || parsed === null) return id;
  const others = machine.seriesOfMetric(parsed.metric).filter((s) => s.id !== id);
  if (others.length === 0) return id;
  others.sort((a, b) => (seriesKeyOf(a.metric, a.tags) < seriesKeyOf(b.metric, b.tags) ? -1 : 1));
  return others[0]!.id;
}
