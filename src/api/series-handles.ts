// The series handles one client connection declared (docs/protocol.md,
// "put", "Series handles"): handle → canonical key as the client sent it, and
// the id of that series in the leader's state machine once a put resolved it.
//
// Remembering the id saves the leader a lookup of the key per series per put
// (a hash-table probe with cache misses: 12 % of the leader's time for
// 5,000-series puts). An id is safe to reuse without checking: ids are never
// given to another series, so a remembered id names this series or, once
// retention removed it, none — which every replica detects when it applies
// the batch (stale_series), and the leader then encodes the put by key and
// forgets the id. Redeclaring a handle for another key forgets its id.
//
// Bounded: handles are 0 ≤ h < maxHandles; larger ones are ignored.
import { assert } from '../errors.js';

/** Longest series key a handle is declared for, UTF-16 units (valid keys are shorter). */
const MAX_SERIES_KEY_CHARS = 16 * 1024;

function isHandle(value: unknown, maxHandles: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < maxHandles;
}

export class SeriesHandleTable {
  private readonly keys: Array<string | undefined> = [];
  /** ids[h]: the series id remembered for handle h, -1 when none. */
  private readonly ids: number[] = [];

  constructor(readonly maxHandles: number) {
    assert(Number.isSafeInteger(maxHandles) && maxHandles >= 1, `bad maxSeriesHandles ${maxHandles}`);
  }

  /** Records handles[k] → keys[k] for the well-formed pairs (the put itself
   *  reports malformed fields). */
  declare(handles: unknown, keys: unknown): void {
    if (!(Array.isArray(handles) || ArrayBuffer.isView(handles)) || !Array.isArray(keys)) return;
    const list = handles as ArrayLike<unknown>;
    for (let k = 0; k < list.length && k < keys.length; k++) {
      const handle = list[k];
      const key: unknown = keys[k];
      if (!isHandle(handle, this.maxHandles) || typeof key !== 'string' || key.length > MAX_SERIES_KEY_CHARS) continue;
      if (this.keys[handle] !== key) this.ids[handle] = -1;
      this.keys[handle] = key;
    }
  }

  /** The key declared for `handle`, or undefined. */
  keyOf(handle: unknown): string | undefined {
    return isHandle(handle, this.maxHandles) ? this.keys[handle] : undefined;
  }

  /** The remembered id of each handle (-1 when none or not a handle). */
  idHints(handles: ArrayLike<unknown>): Int32Array {
    const hints = new Int32Array(handles.length);
    for (let k = 0; k < handles.length; k++) {
      const handle = handles[k];
      hints[k] = isHandle(handle, this.maxHandles) && this.keys[handle] !== undefined ? (this.ids[handle] ?? -1) : -1;
    }
    return hints;
  }

  /** Remembers ids[k] for handles[k] while the handle still stands for
   *  keys[k] (the same string: it was not declared again meanwhile). */
  remember(handles: ArrayLike<unknown>, keys: ArrayLike<unknown>, ids: Int32Array): void {
    assert(ids.length === handles.length, 'one id per handle');
    for (let k = 0; k < handles.length && k < keys.length; k++) {
      const handle = handles[k];
      if (isHandle(handle, this.maxHandles) && this.keys[handle] === keys[k]) this.ids[handle] = ids[k]!;
    }
  }
}
