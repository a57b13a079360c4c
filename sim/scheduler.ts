// Virtual time for the simulator. Every timer, message delivery and disk
// completion is an event in one priority queue ordered by (time, sequence
// number). Events run one at a time; after each, the microtasks it queued run
// (the replica's async code runs on promises). Nothing in the process but
// this queue and the program's own promise order decides what runs when, so
// a seed reproduces a run bit for bit.
import { assert } from '../src/errors.js';

interface SimEvent {
  timeMs: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Bound on queued events: a run that grows it without limit has a bug. */
export const MAX_QUEUED_EVENTS = 1_000_000;
/** Events in one virtual second beyond which a run is a storm (a message or
 *  retry loop feeding itself): the run stops and reports it. Normal runs use
 *  a few hundred to a few thousand. */
export const MAX_EVENTS_PER_SIM_SECOND = 25_000;

/** Microtask hops after each event: enough for the replica's promise chains
 *  (a Ready turn through the stores takes up to about 16: measured by
 *  comparing trace hashes with a full event-loop turn after every event),
 *  and far cheaper than a
 *  trip through the event loop. */
const MICROTASK_HOPS = 20;
/** Every this many events, and when a run pauses, the event loop is visited
 *  once (setImmediate), so even a deeper chain completes before time moves on. */
const FULL_DRAIN_EVERY_EVENTS = 64;

/** Resolves after the microtasks queued so far (and those they queue) ran. */
function drainFully(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Lets the microtasks queued by the last event run. Any chain longer than
 *  MICROTASK_HOPS finishes at a later drain: still a deterministic order. */
async function drainMicrotasks(): Promise<void> {
  for (let i = 0; i < MICROTASK_HOPS; i++) await null;
}

export class Scheduler {
  private heap: SimEvent[] = [];
  private nextSeq = 0;
  private now = 0;
  /** Events run so far (for the speed report). */
  eventsRun = 0;
  /** Set when MAX_EVENTS_PER_SIM_SECOND was exceeded; nothing runs after. */
  storm: { atMs: number; events: number } | null = null;
  private windowStartMs = 0;
  private windowEvents = 0;

  get nowMs(): number {
    return this.now;
  }

  get queued(): number {
    return this.heap.length;
  }

  /** Run `fn` at virtual time `timeMs` (not before now). Returns a cancel function. */
  at(timeMs: number, fn: () => void): () => void {
    assert(Number.isFinite(timeMs), `scheduler: bad time ${timeMs}`);
    assert(this.heap.length < MAX_QUEUED_EVENTS, `scheduler: ${this.heap.length} events queued`);
    const ev: SimEvent = { timeMs: Math.max(timeMs, this.now), seq: this.nextSeq++, fn, cancelled: false };
    this.push(ev);
    return () => {
      ev.cancelled = true;
    };
  }

  after(delayMs: number, fn: () => void): () => void {
    return this.at(this.now + Math.max(0, delayMs), fn);
  }

  sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => this.after(delayMs, resolve));
  }

  /** Run events until virtual time passes `endMs`, the queue empties, or
   *  `stop()` returns true (checked after each event). */
  async runUntil(endMs: number, stop?: () => boolean): Promise<void> {
    await drainFully();
    while (this.heap.length > 0 && this.storm === null) {
      const next = this.heap[0]!;
      if (next.timeMs > endMs) break;
      this.pop();
      if (next.cancelled) continue;
      this.now = next.timeMs;
      this.eventsRun++;
      if (this.now - this.windowStartMs >= 1000) {
        this.windowStartMs = this.now;
        this.windowEvents = 0;
      }
      if (++this.windowEvents > MAX_EVENTS_PER_SIM_SECOND) {
        this.storm = { atMs: this.now, events: this.windowEvents };
        return;
      }
      next.fn();
      if (this.eventsRun % FULL_DRAIN_EVERY_EVENTS === 0) await drainFully();
      else await drainMicrotasks();
      if (stop !== undefined && stop()) return;
    }
    if (this.now < endMs) this.now = endMs;
  }

  // Binary heap on (timeMs, seq).
  private less(a: SimEvent, b: SimEvent): boolean {
    return a.timeMs < b.timeMs || (a.timeMs === b.timeMs && a.seq < b.seq);
  }

  // Sift with a hole instead of swaps: no temporary arrays on the hot path.
  private push(ev: SimEvent): void {
    const h = this.heap;
    let i = h.length;
    h.push(ev);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent]!;
      if (!this.less(ev, p)) break;
      h[i] = p;
      i = parent;
    }
    h[i] = ev;
  }

  private pop(): SimEvent {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    const n = h.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && this.less(h[r]!, h[l]!) ? r : l;
        if (!this.less(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
