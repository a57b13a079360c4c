// A table of values by series id (src/tsdb: series index, state machine).
import { assert } from '../errors.js';

/** Values by series id in a plain array: ids are dense and handed out in
 *  increasing order, so a slot costs 8 bytes where a Map entry costs ~50
 *  (memory per series at high cardinality). Removed ids leave undefined. */
export class IdTable<T> {
  private readonly slots: Array<T | undefined> = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: number): T | undefined {
    return this.slots[id];
  }

  set(id: number, value: T): void {
    assert(Number.isSafeInteger(id) && id >= 0 && value !== undefined, `IdTable.set: bad id ${id}`);
    // Filling up to `id` keeps the array packed (no holes): removed series' ids are the only gaps.
    while (this.slots.length < id) this.slots.push(undefined);
    if (this.slots[id] === undefined) this.count++;
    this.slots[id] = value;
  }

  has(id: number): boolean {
    return this.slots[id] !== undefined;
  }

  delete(id: number): void {
    if (this.slots[id] === undefined) return;
    this.slots[id] = undefined;
    this.count--;
  }

  /** Values in id order. */
  *values(): IterableIterator<T> {
    for (const value of this.slots) if (value !== undefined) yield value;
  }

  /** [id, value] pairs in id order. */
  *entries(): IterableIterator<[number, T]> {
    for (let id = 0; id < this.slots.length; id++) {
      const value = this.slots[id];
      if (value !== undefined) yield [id, value];
    }
  }

  [Symbol.iterator](): IterableIterator<[number, T]> {
    return this.entries();
  }
}
