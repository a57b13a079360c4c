// The in-memory Raft log: entries after the last compaction point, which of
// them are durable, committed and handed out for applying.
//
// Invariants (checked by assertions):
//   offset ≤ applied ≤ committed ≤ lastIndex   (applied may trail committed)
//   offset ≤ stable ≤ lastIndex                 (entries ≤ stable are on disk)
//   entries[i].index === offset + 1 + i
//   entries' terms never decrease
// `offset` is the index just before the first entry in memory: the snapshot
// index or the index the log was compacted to; `offsetTerm` is its term.
import { AssertionError, assert } from '../errors.js';
import type { Entry, SnapshotMeta } from './types.js';

export class RaftLog {
  private entries: Entry[] = [];
  private offset: number;
  private offsetTerm: number;
  /** Highest index known to be persisted locally. */
  stable: number;
  committed: number;
  /** Highest index handed out in committedEntries (applied or being applied). */
  applied: number;

  constructor(snapshot: SnapshotMeta | null, entries: Entry[], committed: number, applied: number) {
    this.offset = snapshot?.index ?? 0;
    this.offsetTerm = snapshot?.term ?? 0;
    for (const [i, e] of entries.entries()) {
      if (!(e.index === this.offset + 1 + i)) throw new AssertionError(`log: stored entry ${e.index} is not contiguous after ${this.offset + i}`);
    }
    this.entries = entries.slice();
    this.stable = this.lastIndex();
    this.committed = Math.max(committed, this.offset);
    assert(this.committed <= this.lastIndex(), `log: commit ${committed} beyond last index ${this.lastIndex()}`);
    this.applied = Math.min(Math.max(applied, this.offset), this.committed);
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.length > 0 ? this.entries[this.entries.length - 1]!.term : this.offsetTerm;
  }

  /** The term of entry `index`, or undefined when it is compacted away or beyond the log. */
  term(index: number): number | undefined {
    if (index === this.offset) return this.offsetTerm;
    if (index < this.offset || index > this.lastIndex()) return undefined;
    return this.entries[index - this.offset - 1]!.term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  entry(index: number): Entry | undefined {
    if (index <= this.offset || index > this.lastIndex()) return undefined;
    return this.entries[index - this.offset - 1];
  }

  /** Entries in [lo, hi] (clamped to the log), at most maxBytes (but at least one). */
  slice(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    if (!(lo > this.offset)) throw new AssertionError(`log: slice from ${lo} reaches compacted entries (offset ${this.offset})`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i <= Math.min(hi, this.lastIndex()); i++) {
      const e = this.entries[i - this.offset - 1]!;
      bytes += entryBytes(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** Entries not yet handed out for persisting. */
  unstableEntries(): Entry[] {
    return this.stable >= this.lastIndex() ? [] : this.entries.slice(this.stable - this.offset);
  }

  /** Leader append of new entries at the end. */
  append(entries: Entry[]): void {
    for (const e of entries) {
      // Messages built only when an assertion fails: this runs for every entry.
      if (!(e.index === this.lastIndex() + 1)) throw new AssertionError(`log: append of ${e.index} after last ${this.lastIndex()}`);
      if (!(e.term >= this.lastTerm())) throw new AssertionError(`log: append of term ${e.term} after term ${this.lastTerm()}`);
      this.entries.push(e);
    }
  }

  /**
   * Follower append (AppendEntries receiver, paper Figure 2): returns the index
   * of the last new entry when prevIndex/prevTerm match, else undefined. An
   * entry that conflicts (same index, different term) and everything after it
   * is replaced; a committed entry can never conflict.
   */
  maybeAppend(prevIndex: number, prevTerm: number, entries: Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + entries.length;
    for (const [i, e] of entries.entries()) {
      if (e.index !== prevIndex + 1 + i) return undefined; // malformed: ignore the whole append
    }
    let firstNew = entries.length;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.index <= this.offset) continue; // already compacted, hence committed and matching
      const local = this.term(e.index);
      if (local !== e.term) {
        firstNew = i;
        break;
      }
    }
    if (firstNew < entries.length) {
      const from = entries[firstNew]!.index;
      assert(from > this.committed, `log: entry ${from} conflicts with committed entries (commit ${this.committed})`);
      this.truncateFrom(from);
      for (let i = firstNew; i < entries.length; i++) this.entries.push(entries[i]!);
    }
    return lastNew;
  }

  private truncateFrom(index: number): void {
    assert(index > this.offset, `log: truncate at ${index} below offset ${this.offset}`);
    this.entries.length = index - this.offset - 1;
    this.stable = Math.min(this.stable, index - 1);
  }

  /**
   * The fast-backtracking probe (as etcd-io/raft): the largest index ≤ index
   * whose term ≤ term. Everything above it cannot match a log whose entry at
   * `index` has term `term`.
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    while (i > this.offset) {
      const t = this.term(i)!;
      if (t <= term) return i;
      i--;
    }
    return this.offset;
  }

  /** Raft §5.4.1: is a candidate's log at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    return lastTerm > this.lastTerm() || (lastTerm === this.lastTerm() && lastIndex >= this.lastIndex());
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    if (!(index <= this.lastIndex())) throw new AssertionError(`log: commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
    return true;
  }

  /** Committed entries not yet handed out, at most maxBytes (at least one). */
  nextCommitted(maxBytes: number): Entry[] {
    if (this.applied >= this.committed) return [];
    return this.slice(this.applied + 1, this.committed, maxBytes);
  }

  hasNextCommitted(): boolean {
    return this.applied < this.committed;
  }

  appliedTo(index: number): void {
    if (!(index <= this.committed)) throw new AssertionError(`log: applied ${index} beyond commit ${this.committed}`);
    if (index > this.applied) this.applied = index;
  }

  stableTo(index: number, term: number): void {
    // The entry may have been replaced while it was being persisted; then the
    // new entry is still unstable and will be written again.
    if (index > this.stable && this.matchTerm(index, term)) this.stable = index;
  }

  /** Replace the whole log by a snapshot (InstallSnapshot receiver). */
  restore(meta: SnapshotMeta): void {
    assert(meta.index > this.committed, `log: restoring snapshot ${meta.index} at or below commit ${this.committed}`);
    this.entries = [];
    this.offset = meta.index;
    this.offsetTerm = meta.term;
    this.committed = meta.index;
    this.applied = meta.index;
    this.stable = meta.index;
  }

  /** Drop entries ≤ upTo (they are covered by a snapshot). */
  compact(upTo: number): void {
    if (upTo <= this.offset) return;
    assert(upTo <= this.applied, `log: compacting to ${upTo} beyond applied ${this.applied}`);
    assert(upTo <= this.stable, `log: compacting to ${upTo} beyond stable ${this.stable}`);
    const term = this.term(upTo)!;
    this.entries = this.entries.slice(upTo - this.offset);
    this.offset = upTo;
    this.offsetTerm = term;
  }
}

/** Bytes an entry costs in flow-control accounting (payload plus a fixed header). */
export function entryBytes(e: Entry): number {
  return e.data.length + 24;
}
