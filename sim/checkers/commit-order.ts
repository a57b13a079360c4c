// The commit order: the applied log replayed against the client history and
// an independent model of the replicated series, for the durability and
// linearizability checkers (linearizability.ts).
//
// The log holds client writes in `write` entries (one write) and `writes`
// entries (several, coalesced by the leader), and retention passes. A write
// batch names each series by its key or (version 2) by the id the leader's
// state machine gave it. The model keeps what every replica must agree on —
// series ids are assigned in apply order to keys that have no series, never
// reused, and a retention pass drops the blocks that ended before its cutoff
// and removes the series it emptied — so it resolves an id without asking
// any replica, and knows when a write must apply as stale_series (it names
// an id retention removed) and when it must not.
//
// The client sessions (exactly-once, src/tsdb/sessions.ts) are modelled the
// same way, from the writes' client id, sequence and firstUnacked alone: a
// session is created by a write with firstUnacked 1, forgets the results
// below each write's firstUnacked and keeps at most maxResultsPerSession
// (the smallest goes). So the model knows for every write whether it must
// be applied, answered as a duplicate of its first application, or refused
// (TSR_ERR_SESSION_EXPIRED), and the log must agree: pipelined sequences
// applied out of order, and retries arriving after later sequences, are
// checked one by one.
//
// Each effective write becomes, per point, a change of that point's value at
// the entry's index; each retention pass a removal (value null) of the points
// it dropped. Values are unique per point written, so a value names its write.
import { assert } from '../../src/errors.js';
import { decodeCommand, type CoalescedWrite } from '../../src/tsdb/command.js';
import { parseSeriesKey } from '../../src/tsdb/validate.js';
import { decodeWriteBatch, type DecodedWriteBatch } from '../../src/tsdb/write-batch.js';
import type { History, WriteOp } from '../history.js';
import type { AppliedEntry, WriteApplyKind } from './online.js';
import type { Violations } from './violations.js';

/** A point's value from `index` on; null: removed by a retention pass. */
export interface PointChange {
  index: number;
  value: number | null;
}

/** What the committed log held (SeedResult's fields of the same names). */
export interface WritePathStats {
  writeEntries: number;
  coalescedEntries: number;
  coalescedWrites: number;
  byIdBatches: number;
  staleSeries: number;
  retentionPasses: number;
  seriesRemoved: number;
  /** Session writes whose firstUnacked was below their sequence (pipelined:
   *  earlier sequences of the client were still unanswered). */
  pipelinedWrites: number;
  /** Session writes applied (or answered as a duplicate) after a higher
   *  sequence of their client had taken effect. */
  outOfOrderWrites: number;
  /** Retries answered from the session, not applied again. */
  duplicateWrites: number;
  /** Writes refused with TSR_ERR_SESSION_EXPIRED. */
  expiredWrites: number;
}

export interface CommitOrder {
  /** writeId → log index where it took effect. */
  indexOfWrite: Map<number, number>;
  /** "seriesKey@ts" → the changes of that point, in log order. */
  changesOfKey: Map<string, PointChange[]>;
  /** metric → its point keys that were ever written effectively. */
  keysOfMetric: Map<string, Set<string>>;
  stats: WritePathStats;
}

export function pointKey(seriesKey: string, timestampMs: number): string {
  return `${seriesKey}@${timestampMs}`;
}

export function emptyStats(): WritePathStats {
  return {
    writeEntries: 0,
    coalescedEntries: 0,
    coalescedWrites: 0,
    byIdBatches: 0,
    staleSeries: 0,
    retentionPasses: 0,
    seriesRemoved: 0,
    pipelinedWrites: 0,
    outOfOrderWrites: 0,
    duplicateWrites: 0,
    expiredWrites: 0,
  };
}

/** The series every replica holds after a log prefix: ids and live points. */
class SeriesModel {
  private readonly keyOfId = new Map<number, string>();
  private readonly idOfKey = new Map<string, number>();
  /** series key → timestamps of its points (every live series has one). */
  readonly timestampsOf = new Map<string, Set<number>>();
  private nextId = 0;

  keyOf(id: number): string | undefined {
    return this.keyOfId.get(id);
  }

  /** The series of `key`, created (next id) when it has none. */
  ensure(key: string): void {
    if (this.idOfKey.has(key)) return;
    const id = this.nextId++;
    this.idOfKey.set(key, id);
    this.keyOfId.set(id, key);
    this.timestampsOf.set(key, new Set());
  }

  remove(key: string): void {
    const id = this.idOfKey.get(key);
    assert(id !== undefined, `model: no series ${key} to remove`);
    this.idOfKey.delete(key);
    this.keyOfId.delete(id);
    this.timestampsOf.delete(key);
  }
}

/** What a client session must do with a write (sessions.ts's decision). */
type SessionVerdict = 'apply' | 'duplicate' | 'expired';

/** The sessions every replica holds after a log prefix: per client id, the
 *  sequences whose results are kept and the highest forgotten one. */
export class SessionModel {
  private readonly sessions = new Map<string, { forgottenThrough: number; kept: Set<number>; highestEffective: number }>();

  constructor(private readonly maxResultsPerSession: number) {
    assert(maxResultsPerSession >= 1, 'a session keeps at least one result');
  }

  /** The decision for `sequence` (and the model's update before it). */
  decide(clientId: string, sequence: number, firstUnacked: number): SessionVerdict {
    let session = this.sessions.get(clientId);
    if (session === undefined) {
      if (firstUnacked !== 1) return 'expired';
      session = { forgottenThrough: 0, kept: new Set(), highestEffective: 0 };
      this.sessions.set(clientId, session);
    }
    if (firstUnacked - 1 > session.forgottenThrough) {
      session.forgottenThrough = firstUnacked - 1;
      for (const seq of session.kept) if (seq < firstUnacked) session.kept.delete(seq);
    }
    if (session.kept.has(sequence)) return 'duplicate';
    if (sequence <= session.forgottenThrough) return 'expired';
    return 'apply';
  }

  /** `sequence` was applied: its result is kept (the smallest goes beyond the bound). */
  record(clientId: string, sequence: number): void {
    const session = this.sessions.get(clientId);
    assert(session !== undefined && !session.kept.has(sequence), `model: ${clientId}#${sequence} recorded without a decision`);
    session.kept.add(sequence);
    session.highestEffective = Math.max(session.highestEffective, sequence);
    if (session.kept.size > this.maxResultsPerSession) {
      let smallest = Infinity;
      for (const seq of session.kept) if (seq < smallest) smallest = seq;
      session.kept.delete(smallest);
      session.forgottenThrough = Math.max(session.forgottenThrough, smallest);
    }
  }

  /** The highest sequence of `clientId` that took effect so far (0: none). */
  highestEffective(clientId: string): number {
    return this.sessions.get(clientId)?.highestEffective ?? 0;
  }
}

const VERDICT_OF_KIND: Record<WriteApplyKind, SessionVerdict | null> = { effective: 'apply', duplicate: 'duplicate', refused: 'expired', stale_series: null };

/** Map the applied log onto the history; report writes nobody issued, that
 *  differ from what the client sent, that took effect twice, or whose
 *  stale_series outcome the model contradicts. `blockSpanMs`: the state
 *  machine's (retention drops whole blocks). */
export function buildCommitOrder(history: History, applied: ReadonlyMap<number, AppliedEntry>, violations: Violations, blockSpanMs: number, maxResultsPerSession: number): CommitOrder {
  const order: CommitOrder = { indexOfWrite: new Map(), changesOfKey: new Map(), keysOfMetric: new Map(), stats: emptyStats() };
  const model = new SeriesModel();
  const sessions = new SessionModel(maxResultsPerSession);
  const metricOf = new Map<string, string>();
  const change = (key: string, ts: number, index: number, value: number | null): void => {
    const pk = pointKey(key, ts);
    let list = order.changesOfKey.get(pk);
    if (list === undefined) order.changesOfKey.set(pk, (list = []));
    list.push({ index, value });
    if (value === null) return;
    let metric = metricOf.get(key);
    if (metric === undefined) metricOf.set(key, (metric = parseSeriesKey(key)?.metric ?? key));
    let keys = order.keysOfMetric.get(metric);
    if (keys === undefined) order.keysOfMetric.set(metric, (keys = new Set()));
    keys.add(pk);
  };

  const indexes = [...applied.keys()].sort((a, b) => a - b);
  for (const index of indexes) {
    const entry = applied.get(index)!;
    if (entry.data === null) continue;
    const cmd = decodeCommand(entry.data);
    if (cmd.type === 'retention') {
      order.stats.retentionPasses++;
      applyRetention(model, cmd.leaderTimeMs - cmd.retentionMs, blockSpanMs, index, change, order.stats);
      continue;
    }
    if (cmd.type !== 'write' && cmd.type !== 'writes') continue;
    const writes: CoalescedWrite[] = cmd.type === 'write' ? [cmd] : cmd.writes;
    if (cmd.type === 'write') order.stats.writeEntries++;
    else {
      order.stats.coalescedEntries++;
      order.stats.coalescedWrites += writes.length;
    }
    const kinds = entry.writes ?? [];
    if (kinds.length !== writes.length) {
      violations.report('linearizability', `log index ${index} holds ${writes.length} writes but applied ${kinds.length} results`, { index });
      continue;
    }
    for (let i = 0; i < writes.length; i++) {
      if (!checkSession(sessions, order.stats, violations, index, writes[i]!, kinds[i]!)) continue;
      applyWrite(history, order, model, violations, index, writes[i]!, kinds[i]!, change);
    }
  }
  return order;
}

type ChangeFn = (key: string, ts: number, index: number, value: number | null) => void;

/** The write's session decision in the log against the model's; updates
 *  the model. Returns false when they disagree (reported). A write without
 *  a client id, or applied as stale_series (refused before its session is
 *  consulted), passes. */
function checkSession(sessions: SessionModel, stats: WritePathStats, violations: Violations, index: number, write: CoalescedWrite, kind: WriteApplyKind): boolean {
  const expected = VERDICT_OF_KIND[kind];
  if (write.clientId === '' || expected === null) return true;
  const name = `${write.clientId}#${write.sequence}`;
  if (write.firstUnackedSequence < write.sequence) stats.pipelinedWrites++;
  if (kind !== 'refused' && sessions.highestEffective(write.clientId) > write.sequence) stats.outOfOrderWrites++;
  if (kind === 'duplicate') stats.duplicateWrites++;
  if (kind === 'refused') stats.expiredWrites++;
  const verdict = sessions.decide(write.clientId, write.sequence, write.firstUnackedSequence);
  if (verdict === 'apply') sessions.record(write.clientId, write.sequence);
  if (verdict === expected) return true;
  const must =
    verdict === 'apply'
      ? 'must be applied (no result of it is kept)'
      : verdict === 'duplicate'
        ? 'must be answered with the result of its first application (the session keeps it)'
        : 'must be refused (its session forgot the result)';
  violations.report('linearizability', `write ${name} (firstUnacked ${write.firstUnackedSequence}) at log index ${index} was ${kind === 'effective' ? 'applied' : kind === 'duplicate' ? 'answered as a duplicate' : 'refused (session expired)'}, but ${must}`, {
    index,
    clientId: write.clientId,
    sequence: write.sequence,
  });
  return kind === 'effective';
}

function applyWrite(history: History, order: CommitOrder, model: SeriesModel, violations: Violations, index: number, write: CoalescedWrite, kind: WriteApplyKind, change: ChangeFn): void {
  const name = `${write.clientId}#${write.sequence}`;
  const batch = decodeWriteBatch(write.batch);
  // The key of each batch series: given, or the model's for a given id.
  const keys = batch.seriesKeys.slice();
  let staleId = -1;
  let byId = false;
  for (let k = 0; k < keys.length; k++) {
    const id = batch.seriesIds[k]!;
    if (id < 0) continue;
    byId = true;
    const key = model.keyOf(id);
    if (key === undefined && staleId < 0) staleId = id;
    keys[k] = key ?? '';
  }
  if (byId) order.stats.byIdBatches++;
  if (kind === 'stale_series') {
    order.stats.staleSeries++;
    if (staleId < 0) violations.report('linearizability', `write ${name} at log index ${index} applied as stale_series, yet every series id it names exists`, { index });
    return;
  }
  if (staleId >= 0) {
    violations.report('linearizability', `write ${name} at log index ${index} names series id ${staleId}, which no series has (removed by retention), yet applied as ${kind} instead of stale_series`, { index });
    return;
  }
  if (kind !== 'effective') return;
  // Applied: series for new keys in batch order, then the points.
  for (let k = 0; k < keys.length; k++) if (batch.seriesIds[k]! < 0) model.ensure(keys[k]!);
  for (let i = 0; i < batch.columns.length; i++) {
    const key = keys[batch.seriesKeyIndexes[i]!]!;
    const ts = batch.columns.timestampsMs[i]!;
    model.timestampsOf.get(key)!.add(ts);
    change(key, ts, index, batch.columns.values[i]!);
  }
  const op = history.writeOf(write.clientId, write.sequence);
  if (op === undefined) {
    violations.report('linearizability', `log index ${index} holds a write no client issued (${name})`, { index });
    return;
  }
  if (order.indexOfWrite.has(op.writeId)) {
    violations.report('linearizability', `write ${op.writeId} (${name}) took effect twice: at ${order.indexOfWrite.get(op.writeId)} and ${index}`, { writeId: op.writeId });
    return;
  }
  if (!samePoints(op, keys, batch)) {
    violations.report('linearizability', `log index ${index} holds ${name} with points that differ from what the client sent`, { index, writeId: op.writeId });
    return;
  }
  order.indexOfWrite.set(op.writeId, index);
}

/** The batch holds the client's points, in order (series resolved to `keys`). */
function samePoints(write: WriteOp, keys: readonly string[], batch: DecodedWriteBatch): boolean {
  if (batch.columns.length !== write.points.length) return false;
  for (let i = 0; i < write.points.length; i++) {
    const p = write.points[i]!;
    if (keys[batch.seriesKeyIndexes[i]!] !== p.seriesKey) return false;
    if (batch.columns.timestampsMs[i] !== p.timestampMs || batch.columns.values[i] !== p.value) return false;
  }
  return true;
}

/** A retention pass: every block that ended by `cutoffMs` is dropped, and
 *  the series left without points are removed (their ids with them). */
function applyRetention(model: SeriesModel, cutoffMs: number, blockSpanMs: number, index: number, change: ChangeFn, stats: WritePathStats): void {
  const emptied: string[] = [];
  for (const [key, timestamps] of model.timestampsOf) {
    for (const ts of timestamps) {
      const r = ts % blockSpanMs;
      const blockStartMs = r >= 0 ? ts - r : ts - r - blockSpanMs;
      if (blockStartMs + blockSpanMs > cutoffMs) continue;
      timestamps.delete(ts);
      change(key, ts, index, null);
    }
    if (timestamps.size === 0) emptied.push(key);
  }
  for (const key of emptied) model.remove(key);
  stats.seriesRemoved += emptied.length;
}

/** The model's state after log prefix `k`: point key → value. */
export function modelStateAt(order: CommitOrder, k: number): Map<string, number> {
  const state = new Map<string, number>();
  for (const [key, changes] of order.changesOfKey) {
    let value: number | null = null;
    for (const c of changes) if (c.index <= k) value = c.value;
    if (value !== null) state.set(key, value);
  }
  return state;
}
