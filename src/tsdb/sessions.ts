// Exactly-once client sessions (Raft thesis §6.3), applied as part of the
// state machine, so every replica makes the same decision.
//
// A client picks an id and numbers its writes 1, 2, 3, ... Each write also
// carries the lowest sequence the client has not yet seen a response for
// (`firstUnackedSequence`); the session keeps the result of every applied
// sequence at or above it, so a retry returns the cached result instead of
// applying twice, even when the client pipelines several writes and they
// commit out of order.
//
// Bounds, both deterministic (they depend only on the applied entries):
// - at most `maxResultsPerSession` cached results per client: beyond it the
//   smallest sequence is forgotten;
// - at most `maxSessions` sessions: beyond it the least recently used session
//   (the one whose last write has the smallest log index) is evicted.
// A write whose sequence was forgotten, or whose session was evicted, is not
// applied and gets TSR_ERR_SESSION_EXPIRED (outcome of the earlier attempt
// unknown): the client must start a new client id. A session is created only
// by a write with firstUnackedSequence = 1, i.e. from a client that has never
// had a response under that id; a later write of an unknown client proves its
// session was evicted.
import { AssertionError, assert } from '../errors.js';
import type { ByteReader, ByteWriter } from './byte-io.js';
import type { PointError } from './validate.js';

export interface SessionLimits {
  /** Sessions kept; default 10,000. */
  maxSessions: number;
  /** Cached results per session; default 32. */
  maxResultsPerSession: number;
}

export const DEFAULT_SESSION_LIMITS: Readonly<SessionLimits> = Object.freeze({ maxSessions: 10_000, maxResultsPerSession: 32 });

/** What applying a write did, as cached for retries. */
export interface WriteOutcome {
  storedCount: number;
  rejectedCount: number;
  /** Per-point apply-time errors (indexes are positions in the write batch),
   *  the first maxErrorsPerResult of them. */
  errors: PointError[];
}

export type SessionDecision =
  /** Apply the write, then call `recordResult`. */
  | { kind: 'apply' }
  /** Already applied: answer with the cached result, do not apply. */
  | { kind: 'duplicate'; outcome: WriteOutcome }
  /** Cannot tell whether it was applied: refuse (TSR_ERR_SESSION_EXPIRED). */
  | { kind: 'expired'; reason: 'unknown_session' | 'result_forgotten' };

interface Session {
  /** Log index of the session's latest write (its recency). */
  lastActiveIndex: number;
  /** Every sequence ≤ this has no cached result any more. */
  forgottenThroughSequence: number;
  /** sequence → outcome, at most maxResultsPerSession entries. */
  results: Map<number, WriteOutcome>;
}

export class ClientSessions {
  readonly limits: SessionLimits;
  /** Map order is recency order: the first entry is least recently used.
   *  A touch re-inserts, so the order depends only on the applied entries. */
  private readonly sessions = new Map<string, Session>();
  private evictedSessionCount = 0;

  constructor(limits: Partial<SessionLimits> = {}) {
    this.limits = { ...DEFAULT_SESSION_LIMITS, ...limits };
    assert(this.limits.maxSessions >= 1 && this.limits.maxResultsPerSession >= 1, 'session limits must be ≥ 1');
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Sessions evicted by the maxSessions bound since this state began. */
  get evictedCount(): number {
    return this.evictedSessionCount;
  }

  /** Decides what to do with write `sequence` of `clientId` committed at log
   *  `index`, updating recency and forgetting acknowledged results. Must be
   *  followed by recordResult when the decision is 'apply'. */
  begin(clientId: string, sequence: number, firstUnackedSequence: number, index: number): SessionDecision {
    assert(clientId !== '' && sequence >= 1 && firstUnackedSequence >= 1 && firstUnackedSequence <= sequence, 'malformed session write');
    let session = this.sessions.get(clientId);
    if (session === undefined) {
      if (firstUnackedSequence !== 1) return { kind: 'expired', reason: 'unknown_session' };
      session = { lastActiveIndex: index, forgottenThroughSequence: 0, results: new Map() };
      this.sessions.set(clientId, session);
      this.maybeEvictSessions();
    } else {
      // Equal when one `writes` entry carries several writes of this client.
      if (!(index >= session.lastActiveIndex)) throw new AssertionError(`session write at index ${index} before ${session.lastActiveIndex}`);
      this.sessions.delete(clientId);
      this.sessions.set(clientId, session);
      session.lastActiveIndex = index;
    }
    // The client has seen every response below firstUnackedSequence.
    if (firstUnackedSequence - 1 > session.forgottenThroughSequence) {
      session.forgottenThroughSequence = firstUnackedSequence - 1;
      for (const seq of [...session.results.keys()]) if (seq < firstUnackedSequence) session.results.delete(seq);
    }
    const cached = session.results.get(sequence);
    if (cached !== undefined) return { kind: 'duplicate', outcome: cached };
    if (sequence <= session.forgottenThroughSequence) return { kind: 'expired', reason: 'result_forgotten' };
    return { kind: 'apply' };
  }

  recordResult(clientId: string, sequence: number, outcome: WriteOutcome): void {
    const session = this.sessions.get(clientId);
    assert(session !== undefined, `recordResult for unknown session ${clientId}`);
    assert(!session.results.has(sequence) && sequence > session.forgottenThroughSequence, `sequence ${sequence} recorded twice`);
    session.results.set(sequence, outcome);
    if (session.results.size > this.limits.maxResultsPerSession) {
      let smallest = Infinity;
      for (const seq of session.results.keys()) if (seq < smallest) smallest = seq;
      session.results.delete(smallest);
      session.forgottenThroughSequence = Math.max(session.forgottenThroughSequence, smallest);
    }
    assert(session.results.size <= this.limits.maxResultsPerSession, 'session results over their bound');
  }

  private maybeEvictSessions(): void {
    while (this.sessions.size > this.limits.maxSessions) {
      const leastRecent = this.sessions.keys().next().value as string;
      this.sessions.delete(leastRecent);
      this.evictedSessionCount++;
    }
  }

  /** Sessions in recency order, least recent first (for snapshots and tests). */
  describe(): { clientId: string; lastActiveIndex: number; forgottenThroughSequence: number; cachedSequences: number[] }[] {
    return [...this.sessions].map(([clientId, s]) => ({
      clientId,
      lastActiveIndex: s.lastActiveIndex,
      forgottenThroughSequence: s.forgottenThroughSequence,
      cachedSequences: [...s.results.keys()].sort((a, b) => a - b),
    }));
  }

  /** Layout in docs/tsdb-commands.md ("Sessions"). */
  serialize(w: ByteWriter): void {
    w.varuint(this.evictedSessionCount);
    w.varuint(this.sessions.size);
    for (const [clientId, s] of this.sessions) {
      w.string(clientId);
      w.varuint(s.lastActiveIndex);
      w.varuint(s.forgottenThroughSequence);
      const sequences = [...s.results.keys()].sort((a, b) => a - b);
      w.varuint(sequences.length);
      for (const seq of sequences) {
        w.varuint(seq);
        writeOutcome(w, s.results.get(seq)!);
      }
    }
  }

  static deserialize(r: ByteReader, limits: SessionLimits, maxClientIdBytes: number): ClientSessions {
    const sessions = new ClientSessions(limits);
    sessions.evictedSessionCount = r.varuint('evictedSessionCount');
    const count = r.varuintAtMost(limits.maxSessions, 'sessionCount');
    let previousIndex = -1;
    for (let i = 0; i < count; i++) {
      const clientId = r.string(maxClientIdBytes, 'clientId');
      if (clientId === '' || sessions.sessions.has(clientId)) throw r.corrupt(`bad or repeated session id ${JSON.stringify(clientId)}`);
      const lastActiveIndex = r.varuint('lastActiveIndex');
      // Equal for the sessions of one `writes` entry (they share its index).
      if (lastActiveIndex < previousIndex) throw r.corrupt('sessions out of recency order');
      previousIndex = lastActiveIndex;
      const forgottenThroughSequence = r.varuint('forgottenThroughSequence');
      const resultCount = r.varuintAtMost(limits.maxResultsPerSession, 'resultCount');
      const results = new Map<number, WriteOutcome>();
      let previousSeq = forgottenThroughSequence;
      for (let j = 0; j < resultCount; j++) {
        const seq = r.varuint('sequence');
        if (seq <= previousSeq) throw r.corrupt('cached sequences out of order');
        previousSeq = seq;
        results.set(seq, readOutcome(r));
      }
      sessions.sessions.set(clientId, { lastActiveIndex, forgottenThroughSequence, results });
    }
    return sessions;
  }
}

const MAX_ERROR_TEXT_BYTES = 4096;

export function writeOutcome(w: ByteWriter, outcome: WriteOutcome): void {
  w.varuint(outcome.storedCount);
  w.varuint(outcome.rejectedCount);
  w.varuint(outcome.errors.length);
  for (const e of outcome.errors) {
    w.varuint(e.index);
    w.string(e.code);
    w.string(e.message);
    w.string(e.details.field);
    w.string(e.details.reason);
    w.string(e.details.tagKey ?? '');
  }
}

export function readOutcome(r: ByteReader): WriteOutcome {
  const storedCount = r.varuint('storedCount');
  const rejectedCount = r.varuint('rejectedCount');
  const errorCount = r.varuintAtMost(Math.min(rejectedCount, r.remainingBytes), 'errorCount');
  const errors: PointError[] = [];
  for (let i = 0; i < errorCount; i++) {
    const index = r.varuint('error index');
    const code = r.string(64, 'error code') as PointError['code'];
    const message = r.string(MAX_ERROR_TEXT_BYTES, 'error message');
    const field = r.string(64, 'error field') as PointError['details']['field'];
    const reason = r.string(64, 'error reason') as PointError['details']['reason'];
    const tagKey = r.string(MAX_ERROR_TEXT_BYTES, 'error tagKey');
    const details: PointError['details'] = { field, reason };
    if (tagKey !== '') details.tagKey = tagKey;
    errors.push({ index, code, message, details });
  }
  return { storedCount, rejectedCount, errors };
}
