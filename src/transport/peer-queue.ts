// The bounded outbound queue of one peer: encoded messages waiting for the
// next flush. Bounded in messages and in bytes. When full, heartbeats go
// first (the next one supersedes them); any other message that still does
// not fit is dropped and counted (backpressure: Raft retransmits appends).
import { assert } from '../errors.js';

export interface QueuedMessage {
  bytes: Uint8Array;
  /** A heartbeat or heartbeat response: may be evicted to make room. */
  droppable: boolean;
}

export type EnqueueResult =
  | { accepted: true; evicted: number }
  /** The new message was dropped; `evicted` heartbeats were dropped trying to fit it. */
  | { accepted: false; evicted: number };

export class PeerQueue {
  private items: QueuedMessage[] = [];
  /** Index of the first live item; the array is compacted as it advances. */
  private head = 0;
  private queuedBytes = 0;

  constructor(
    readonly maxMessages: number,
    readonly maxBytes: number,
  ) {
    assert(maxMessages >= 1 && maxBytes >= 1, `PeerQueue: bad bounds ${maxMessages}/${maxBytes}`);
  }

  get length(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.queuedBytes;
  }

  push(message: QueuedMessage): EnqueueResult {
    if (this.fits(message)) return this.add(message, 0);
    if (message.droppable) return { accepted: false, evicted: 0 };
    const evicted = this.evictDroppable(message);
    return this.fits(message) ? this.add(message, evicted) : { accepted: false, evicted };
  }

  /** Remove and return messages from the head whose bytes sum to at most
   *  `maxBytes` (always at least one when the queue is non-empty and the
   *  first fits). */
  takeUpTo(maxBytes: number): Uint8Array[] {
    const taken: Uint8Array[] = [];
    let total = 0;
    while (this.head < this.items.length) {
      const next = this.items[this.head]!;
      if (total + next.bytes.length > maxBytes) break;
      taken.push(next.bytes);
      total += next.bytes.length;
      this.head += 1;
    }
    this.queuedBytes -= total;
    this.compact();
    assert(this.queuedBytes >= 0, 'PeerQueue: negative byte count');
    return taken;
  }

  /** Drop everything; returns how many messages were dropped. */
  clear(): number {
    const dropped = this.length;
    this.items = [];
    this.head = 0;
    this.queuedBytes = 0;
    return dropped;
  }

  private fits(message: QueuedMessage): boolean {
    return this.length + 1 <= this.maxMessages && this.queuedBytes + message.bytes.length <= this.maxBytes;
  }

  private add(message: QueuedMessage, evicted: number): EnqueueResult {
    this.items.push(message);
    this.queuedBytes += message.bytes.length;
    return { accepted: true, evicted };
  }

  /** Evict queued heartbeats, oldest first, until `incoming` fits or none are left. */
  private evictDroppable(incoming: QueuedMessage): number {
    let count = this.length;
    let bytes = this.queuedBytes;
    const fitsNow = (): boolean => count + 1 <= this.maxMessages && bytes + incoming.bytes.length <= this.maxBytes;
    const kept: QueuedMessage[] = [];
    let evicted = 0;
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i]!;
      if (item.droppable && !fitsNow()) {
        count -= 1;
        bytes -= item.bytes.length;
        evicted += 1;
      } else {
        kept.push(item);
      }
    }
    if (evicted > 0) {
      this.items = kept;
      this.head = 0;
      this.queuedBytes = bytes;
    }
    assert(this.length === count, 'PeerQueue: eviction count mismatch');
    return evicted;
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
