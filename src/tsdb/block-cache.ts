// A bounded LRU of decoded sealed blocks. Dashboards re-run the same queries
// every few seconds; decoding a day of one metric costs tens of milliseconds
// (the entropy-coded blocks decode at ~10 M points/s), keeping the decoded
// columns of recently read blocks makes repeats cheap. The cache is keyed by
// an object that stands for one immutable encoding of a block (its bytes, or
// the series' record of a sealed block, which lives on when the bytes leave
// memory; a new encoding is a new key), holds no state the replicas must agree
// on, and is bounded in bytes.
import { assert } from '../errors.js';
import type { PointColumns } from './points.js';

/** Bytes one decoded point costs: f64 timestamp + f64 value + u8 flag (+ i64 when big). */
function decodedBytes(cols: PointColumns): number {
  return cols.length * (17 + (cols.bigInts !== null ? 8 : 0)) + 64;
}

export class DecodedBlockCache {
  private readonly entries = new Map<object, PointColumns>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  /** maxBytes: the bound on decoded bytes held (0 disables the cache). */
  constructor(readonly maxBytes: number) {
    assert(Number.isSafeInteger(maxBytes) && maxBytes >= 0, `block cache: maxBytes ${maxBytes} must be a non-negative integer`);
  }

  /** The decoded columns of `block` (treat them as read-only). */
  get<K extends object>(block: K, decode: (block: K) => PointColumns): PointColumns {
    const hit = this.entries.get(block);
    if (hit !== undefined) {
      // Refresh recency: Map iteration order is insertion order.
      this.entries.delete(block);
      this.entries.set(block, hit);
      this.hits++;
      return hit;
    }
    this.misses++;
    const cols = decode(block);
    const size = decodedBytes(cols);
    // A block larger than an eighth of the cache would evict too much to pay.
    if (size * 8 > this.maxBytes) return cols;
    this.entries.set(block, cols);
    this.bytes += size;
    for (const [key, value] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(key);
      this.bytes -= decodedBytes(value);
    }
    return cols;
  }

  /** Forget a block (it was replaced or dropped). */
  evict(block: object): void {
    const cols = this.entries.get(block);
    if (cols === undefined) return;
    this.entries.delete(block);
    this.bytes -= decodedBytes(cols);
  }

  /** Drop every entry (e.g. to measure cold reads). */
  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  stats(): { entries: number; bytes: number; maxBytes: number; hits: number; misses: number } {
    return { entries: this.entries.size, bytes: this.bytes, maxBytes: this.maxBytes, hits: this.hits, misses: this.misses };
  }
}
