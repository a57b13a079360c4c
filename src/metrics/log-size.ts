// Entry count and payload bytes of the Raft log on disk, followed through the
// log store's calls (load, save, compact) without reading the disk back.
// It keeps one number per stored entry: the same entries the Raft core
// already holds in memory, so it is bounded by the log's own bound
// (snapshotEveryEntries + logEntriesKeptAfterSnapshot, plus what a slow
// follower holds back).
import { assert } from '../errors.js';
import type { Entry } from '../raft/types.js';
import type { RaftSaveBatch, StoredRaftState } from '../storage/types.js';

export class LogSizeTracker {
  /** Index of sizes[0]; the first stored entry when sizes is not empty. */
  private firstIndex = 1;
  private sizes: number[] = [];
  private totalBytes = 0;

  get entries(): number {
    return this.sizes.length;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  onLoad(state: StoredRaftState): void {
    const first = state.entries[0]?.index ?? (state.snapshot?.index ?? 0) + 1;
    this.firstIndex = first;
    this.sizes = state.entries.map(sizeOf);
    this.totalBytes = this.sizes.reduce((a, b) => a + b, 0);
    assert(state.entries.every((e, i) => e.index === first + i), 'LogSizeTracker.onLoad: loaded entries are not contiguous');
  }

  onSave(batch: RaftSaveBatch): void {
    if (batch.snapshot !== null) this.dropThrough(batch.snapshot.index);
    const head = batch.entries[0];
    if (head === undefined) return;
    if (this.sizes.length === 0) this.firstIndex = head.index;
    // The store drops every stored entry at or after the first appended one.
    this.truncateFrom(head.index);
    for (const entry of batch.entries) {
      const size = sizeOf(entry);
      this.sizes.push(size);
      this.totalBytes += size;
    }
    assert(this.firstIndex + this.sizes.length - 1 === batch.entries[batch.entries.length - 1]!.index, 'LogSizeTracker.onSave: tracked log does not end at the last appended entry');
  }

  /** Entries ≤ upTo were removed (compaction or an installed snapshot). */
  dropThrough(upTo: number): void {
    const drop = Math.min(this.sizes.length, Math.max(0, upTo - this.firstIndex + 1));
    for (let i = 0; i < drop; i++) this.totalBytes -= this.sizes[i]!;
    this.sizes.splice(0, drop);
    this.firstIndex = Math.max(this.firstIndex, upTo + 1);
    assert(this.totalBytes >= 0, 'LogSizeTracker: negative byte count');
  }

  private truncateFrom(index: number): void {
    const keep = Math.max(0, index - this.firstIndex);
    if (keep >= this.sizes.length) {
      // A gap (the first append after a snapshot install): start over at `index`.
      if (keep > this.sizes.length) {
        this.sizes = [];
        this.totalBytes = 0;
        this.firstIndex = index;
      }
      return;
    }
    for (let i = keep; i < this.sizes.length; i++) this.totalBytes -= this.sizes[i]!;
    this.sizes.length = keep;
    if (keep === 0) this.firstIndex = index;
  }
}

function sizeOf(entry: Entry): number {
  return entry.data.length;
}
