// Planted bugs in the write and read paths (`--inject-bug`), wrapped around
// the real code by the simulator (the state machine and the API layer have
// no knobs for them): each breaks one thing the production path must get
// right, and a checker must catch it.
//
// - coalesced-session-lost: applying a `writes` entry records no session for
//   any write after the first (the entry is applied as if those writes had no
//   client id). A retry of such a write, after its answer was lost, is then
//   applied a second time instead of answered from the session.
// - wrong-series-id: the leader's encoder names a series by the id of another
//   series of the same metric (a mix-up of series ids, e.g. in the ids a
//   connection remembers for its handles). The entry then writes the client's
//   points into the wrong series on every replica alike.
// - session-forgets-pipelined: a client session drops the cached results
//   below each write's own sequence, as if one write were ever in flight
//   (firstUnacked = sequence), without counting them as forgotten. A
//   pipelined write whose answer was lost, retried after a later sequence
//   of its client was applied, is applied a second time.
// - session-in-order: a session takes a sequence below the highest one it
//   applied for an earlier retry, answering it with that highest sequence's
//   result (sessions that assume writes arrive in order). A pipelined write
//   whose first attempt was lost, retried after a later one applied, is
//   acknowledged and never applied.
// - query-as-stale: the service's query path serves a linearizable query
//   as stale (the consistency is dropped on the way to the read barrier).
// - query-end-exclusive: the query path takes the query's end as exclusive
//   (OpenTSDB's is inclusive): points at the end timestamp are left out of
//   the answer.
// - forward-without-session and forward-ack-early are planted in the
//   follower's forwarding connection (forwarding.ts): the follower forwards
//   a put without its session fields (the leader applies it as a write of no
//   client, and a retry applies it again), or answers the client success as
//   soon as the forwarded put has left, before the leader answered (a put
//   lost on the way, or refused NOT_LEADER, is acknowledged and never applied).
import type { ReplicatedTsdbService } from '../src/api/replicated-service.js';
import type { ReadOptions } from '../src/api/service.js';
import type { ReplicaTestingKnobs } from '../src/replica/types.js';
import { TsdbStateMachine } from '../src/replica/tsdb-state-machine.js';
import type { StateMachineStore } from '../src/storage/types.js';
import { decodeCommand, encodeCommand } from '../src/tsdb/command.js';
import type { ApplyResult, LocalStateMachineOptions, TimeSeriesStateMachine, TimeSeriesStateMachineOptions } from '../src/tsdb/state-machine.js';
import type { TsdbQuery } from '../src/tsdb/query/types.js';
import type { ClientSessions, SessionDecision, WriteOutcome } from '../src/tsdb/sessions.js';
import { parseSeriesKey, seriesKeyOf } from '../src/tsdb/validate.js';

export interface WritePathBugs {
  coalescedSessionLost: boolean;
  wrongSeriesId: boolean;
  sessionForgetsPipelined: boolean;
  sessionInOrder: boolean;
  queryAsStale: boolean;
  queryEndExclusive: boolean;
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
    if (this.bugs.sessionForgetsPipelined || this.bugs.sessionInOrder) plantSessionBug(this.machine, this.bugs.sessionInOrder ? 'in-order' : 'forgets-pipelined');
    return super.apply(index, data);
  }
}

/** The parts of ClientSessions a planted bug reaches into (private in src). */
interface SessionsInside {
  sessions: Map<string, { results: Map<number, WriteOutcome>; forgottenThroughSequence: number }>;
}

/** Sessions objects already carrying the planted bug (a restored state brings a new one). */
const buggySessions = new WeakSet<ClientSessions>();

/** Wraps the machine's current sessions' `begin` with the planted bug: the
 *  real decision, then the bug's change to it (every replica alike). */
function plantSessionBug(machine: TimeSeriesStateMachine, bug: 'forgets-pipelined' | 'in-order'): void {
  const sessions = (machine as unknown as { sessions: ClientSessions }).sessions;
  if (buggySessions.has(sessions)) return;
  buggySessions.add(sessions);
  const inside = (sessions as unknown as SessionsInside).sessions;
  const begin = sessions.begin.bind(sessions);
  sessions.begin = (clientId, sequence, firstUnackedSequence, index): SessionDecision => {
    const decision = begin(clientId, sequence, firstUnackedSequence, index);
    const session = inside.get(clientId);
    if (session === undefined || decision.kind === 'expired') return decision;
    if (bug === 'forgets-pipelined') {
      for (const seq of [...session.results.keys()]) if (seq < sequence) session.results.delete(seq);
      return decision;
    }
    let highest = 0;
    for (const seq of session.results.keys()) highest = Math.max(highest, seq);
    if (decision.kind === 'apply' && highest > sequence) return { kind: 'duplicate', outcome: session.results.get(highest)! };
    return decision;
  };
}

/** The service as a connection's operations see it, with a query-path bug:
 *  query-as-stale (every query reads the node's state at once) or
 *  query-end-exclusive (the end bound leaves its own timestamp out). */
export function buggyQueryView(service: ReplicatedTsdbService, bug: 'as-stale' | 'end-exclusive'): ReplicatedTsdbService {
  const query =
    bug === 'as-stale'
      ? (q: TsdbQuery, options: ReadOptions) => service.query(q, { ...options, consistency: 'stale' })
      : (q: TsdbQuery, options: ReadOptions) => service.query({ ...q, endMs: q.endMs - 1 }, options);
  return new Proxy(service, {
    get(target, property) {
      if (property === 'query') return query;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
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
