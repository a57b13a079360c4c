// All points of one series, split into time blocks of blockSpanMs (block
// start = ts − ts mod span). Recent blocks are open: typed-array heads that
// take appends in any order (same timestamp: last write wins). A block is
// sealed — encoded by src/tsdb/codec into immutable bytes — once the newest
// timestamp seen is latenessMs past its end, when too many blocks are open,
// or on sealAll(). A write into a sealed block reopens it (decode, merge) and
// it is sealed again at the end of that call: correct, but the slow path.
//
// Deterministic: the same calls in the same order give the same blocks and
// the same serialize() bytes on every replica. Formats: docs/segment-format.md.
//
// Persistence (docs/storage.md, "State machine"): the owner captures what
// changed since its last checkpoint (captureCheckpoint: the open blocks as one
// head record, sealed blocks not yet written, written blocks since removed) and
// writes it with the applied index. Once written, a sealed block's bytes may
// leave memory (evictBytes); reads then fetch them through blockReader and
// check them against the length and CRC kept in memory.
import { TsraftError, assert, rethrowIfBug } from '../errors.js';
import { ByteReader, ByteWriter } from './codec/byte-buffer.js';
import { MAX_BLOCK_POINTS, decodeBlock, encodeBlock, readBlockHeader } from './codec/block-format.js';
import type { DecodedBlockCache } from './block-cache.js';
import { corruptSegment } from './codec/corrupt.js';
import { crc32c } from './codec/crc32c.js';
import { MAX_TIMESTAMP_MAGNITUDE_MS, isValidTimestampMs } from './codec/timestamp-codec.js';
import { emptyColumns, type PointColumns } from './points.js';

export interface SeriesDataOptions {
  /** Span of one time block in ms. Default 2 h; 1 ms ≤ span ≤ 2^40 ms. */
  blockSpanMs?: number;
  /** A block stays open until the newest timestamp reaches its end plus this
   *  many ms, so slightly late points land in a head, not a sealed block.
   *  Default 30 min; 0 ≤ lateness ≤ 2^40 ms. */
  latenessMs?: number;
  /** Most distinct points one block may hold (TSR_ERR_BLOCK_FULL beyond).
   *  Default 1,048,576; at most 2^24. */
  maxPointsPerBlock?: number;
  /** Most blocks open at once; past it the oldest open block is sealed.
   *  Default 4; 1 ≤ maxOpenBlocks ≤ 1024. */
  maxOpenBlocks?: number;
}

export const DEFAULT_BLOCK_SPAN_MS = 2 * 60 * 60 * 1000;
export const DEFAULT_LATENESS_MS = 30 * 60 * 1000;
export const DEFAULT_MAX_POINTS_PER_BLOCK = 1 << 20;
export const DEFAULT_MAX_OPEN_BLOCKS = 4;
const MAX_SPAN_MS = 2 ** 40;
const MAX_OPEN_BLOCKS_LIMIT = 1024;
const SNAPSHOT_VERSION = 1;
const SNAPSHOT_HAS_NEWEST = 1;
const BLOCK_STATE_SEALED = 0;
const BLOCK_STATE_OPEN = 1;
/** 8 points: a sparse series (most, at high cardinality) keeps its arrays
 *  on V8's heap (≤ 64 bytes each) instead of 1 KiB of ArrayBuffers; a busy
 *  one doubles its way up. */
const INITIAL_HEAD_CAPACITY = 8;
const INT53 = 2n ** 53n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const TWO_POW_63 = 2 ** 63;

function invalid(message: string, details: Record<string, unknown> = {}): TsraftError {
  return new TsraftError('TSR_ERR_INVALID_ARGUMENT', message, { details });
}

function checkOption(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalid(`${name} must be an integer in [${min}, ${max}], got ${value}`, { option: name, value });
  }
  return value;
}

/** Index of the first element of sorted a[0..n) that is ≥ x. */
function lowerBound(a: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first element of sorted a[0..n) that is > x. */
function upperBound(a: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** An open block: raw appends in arrival order until normalize() sorts them
 *  and keeps the last write per timestamp. */
class HeadBlock {
  length = 0;
  timestampsMs: Float64Array;
  values: Float64Array;
  isInteger: Uint8Array;
  /** Exact int64 of every integer point, allocated when one exceeds ±2^53. */
  bigInts: BigInt64Array | null = null;
  /** Timestamps[0..length) strictly increasing (sorted, no duplicates). */
  sorted = true;
  /** The raw appends at [journalFrom, length) are the points this block
   *  gained since the series' last checkpoint, in arrival order: the next
   *  journal record, read from here instead of kept twice. -1 once a point
   *  before it was overwritten or the block was compacted (normalize): the
   *  stored head no longer plus those appends gives this block, so the next
   *  checkpoint rewrites the head. */
  journalFrom = 0;

  constructor(
    readonly startMs: number,
    capacity = INITIAL_HEAD_CAPACITY,
  ) {
    this.timestampsMs = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
    this.isInteger = new Uint8Array(capacity);
  }

  static fromColumns(startMs: number, cols: PointColumns): HeadBlock {
    const head = new HeadBlock(startMs, Math.max(INITIAL_HEAD_CAPACITY, cols.length));
    head.timestampsMs.set(cols.timestampsMs.subarray(0, cols.length));
    head.values.set(cols.values.subarray(0, cols.length));
    head.isInteger.set(cols.isInteger.subarray(0, cols.length));
    head.length = cols.length;
    if (cols.bigInts !== null) {
      head.allocateBigInts();
      for (let i = 0; i < cols.length; i++) if (cols.isInteger[i] === 1) head.bigInts![i] = cols.bigInts[i]!;
    }
    return head;
  }

  private allocateBigInts(): void {
    const big = new BigInt64Array(this.timestampsMs.length);
    for (let i = 0; i < this.length; i++) if (this.isInteger[i] === 1) big[i] = BigInt(this.values[i]!);
    this.bigInts = big;
  }

  private grow(minCapacity: number): void {
    let cap = this.timestampsMs.length * 2;
    while (cap < minCapacity) cap *= 2;
    const ts = new Float64Array(cap);
    ts.set(this.timestampsMs.subarray(0, this.length));
    const vs = new Float64Array(cap);
    vs.set(this.values.subarray(0, this.length));
    const ints = new Uint8Array(cap);
    ints.set(this.isInteger.subarray(0, this.length));
    this.timestampsMs = ts;
    this.values = vs;
    this.isInteger = ints;
    if (this.bigInts !== null) {
      const big = new BigInt64Array(cap);
      big.set(this.bigInts.subarray(0, this.length));
      this.bigInts = big;
    }
  }

  private store(i: number, ts: number, value: number, isInteger: number, big: bigint | null): void {
    // An overwrite of a point the last checkpoint holds is no append.
    if (i < this.journalFrom) this.journalFrom = -1;
    this.timestampsMs[i] = ts;
    this.values[i] = value;
    this.isInteger[i] = isInteger;
    if (big !== null && this.bigInts === null) this.allocateBigInts();
    if (this.bigInts !== null) this.bigInts[i] = isInteger === 1 ? (big ?? BigInt(value)) : 0n;
  }

  /** Appends one point (validated by the caller); false when the block is full. */
  append(ts: number, value: number, isInteger: number, big: bigint | null, maxPoints: number): boolean {
    const n = this.length;
    if (this.sorted && n > 0) {
      const last = this.timestampsMs[n - 1]!;
      if (ts === last) {
        this.store(n - 1, ts, value, isInteger, big);
        return true;
      }
      if (ts < last) this.sorted = false;
    }
    if (n >= maxPoints) {
      // Raw appends may hold duplicates: compact, then retry once.
      this.normalize();
      const i = lowerBound(this.timestampsMs, this.length, ts);
      if (i < this.length && this.timestampsMs[i] === ts) {
        this.store(i, ts, value, isInteger, big);
        return true;
      }
      if (this.length >= maxPoints) return false;
      this.sorted = this.length === 0 || ts > this.timestampsMs[this.length - 1]!;
    }
    if (this.length === this.timestampsMs.length) this.grow(this.length + 1);
    this.store(this.length, ts, value, isInteger, big);
    this.length++;
    return true;
  }

  /** Sorts by timestamp and keeps the last write of each timestamp. */
  normalize(): void {
    if (this.sorted) return;
    this.journalFrom = -1;
    const n = this.length;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const ts = this.timestampsMs;
    // Stable by construction: ties break on arrival order.
    order.sort((a, b) => ts[a]! - ts[b]! || a - b);
    const nts = new Float64Array(this.timestampsMs.length);
    const nvs = new Float64Array(this.timestampsMs.length);
    const nints = new Uint8Array(this.timestampsMs.length);
    const nbig = this.bigInts === null ? null : new BigInt64Array(this.timestampsMs.length);
    let m = 0;
    for (let k = 0; k < n; k++) {
      const i = order[k]!;
      // The last of a run of equal timestamps wins.
      if (k + 1 < n && ts[order[k + 1]!] === ts[i]) continue;
      nts[m] = ts[i]!;
      nvs[m] = this.values[i]!;
      nints[m] = this.isInteger[i]!;
      if (nbig !== null) nbig[m] = this.bigInts![i]!;
      m++;
    }
    this.timestampsMs = nts;
    this.values = nvs;
    this.isInteger = nints;
    this.bigInts = nbig;
    this.length = m;
    this.sorted = true;
    assert(m >= 1 || n === 0, 'normalizing lost every point');
  }

  /** Points appended since the last checkpoint, or -1 when the head must be rewritten. */
  journalLength(): number {
    return this.journalFrom < 0 ? -1 : this.length - this.journalFrom;
  }

  /** Distinct point count (compacts first). */
  pointCount(): number {
    this.normalize();
    return this.length;
  }

  /** A view of the normalized points (valid until the next append). */
  columns(): PointColumns {
    this.normalize();
    const n = this.length;
    return {
      length: n,
      timestampsMs: this.timestampsMs.subarray(0, n),
      values: this.values.subarray(0, n),
      isInteger: this.isInteger.subarray(0, n),
      bigInts: this.bigInts === null ? null : this.bigInts.subarray(0, n),
    };
  }
}

/** Reads back the bytes of a sealed block that left memory (a synchronous,
 *  deterministic function of what was written: the node's LevelDB, the
 *  simulator's disk). undefined when the store has no such block. */
export interface SealedBlockReader {
  readBlock(startMs: number): Uint8Array | undefined;
}

/** One sealed block. The record outlives its bytes in memory. */
export interface SealedBlockRecord {
  readonly startMs: number;
  /** The encoded block, or null once evicted (written; read back through blockReader). */
  bytes: Uint8Array | null;
  readonly byteLength: number;
  readonly pointCount: number;
  /** The block's stored CRC-32C (its last 4 bytes): digests and read-back checks need no read. */
  readonly crc: number;
  /** The checkpoint generation that captured it for writing; 0 while unwritten. */
  writtenBy: number;
  /** Set when the block left the series (reopened, dropped, replaced). */
  released: boolean;
}

/** A sealed block as a checkpoint writes it. */
export interface SealedBlockWrite {
  startMs: number;
  bytes: Uint8Array;
  pointCount: number;
  crc: number;
}

/** What a checkpoint writes for one series (SeriesData.captureCheckpoint). */
export interface SeriesCheckpointDelta {
  /** serialize({ sealed: false }) — options, newest timestamp and open blocks —
   *  when the head record is rewritten; null when it is not (then `journal`
   *  may carry the points appended since). */
  head: Uint8Array | null;
  /** Points appended since the last checkpoint, to be replayed on the stored
   *  head (encodeJournal), as journal record number `seq` (1, 2, …). */
  journal: { seq: number; bytes: Uint8Array } | null;
  /** When the head is rewritten: journal records 1..this to delete (0: none). */
  dropJournalThrough: number;
  /** Sealed blocks to write (new since the last checkpoint, or all for a full one). */
  putBlocks: SealedBlockWrite[];
  /** Starts of written blocks that left the series (and were not written again). */
  deleteBlocks: number[];
  /** The records of putBlocks, for the owner's residency bookkeeping. */
  records: SealedBlockRecord[];
}

/** A written sealed block as loaded from the store (its bytes stay there). */
export interface WrittenBlockMeta {
  startMs: number;
  byteLength: number;
  pointCount: number;
  crc: number;
}

/** The CRC-32C a block stores little-endian in its last 4 bytes. */
export function storedBlockCrc(bytes: Uint8Array): number {
  const at = bytes.length - 4;
  assert(at >= 0, `a block of ${bytes.length} bytes has no checksum`);
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/** Journal records of a series before its head record is rewritten anyway
 *  (bounds what start-up replays per series). */
const MAX_JOURNAL_RECORDS = 64;
/** Points journaled between checkpoints before the head is rewritten instead. */
const MAX_JOURNAL_POINTS = 65_536;
const JOURNAL_VERSION = 1;
const JOURNAL_INTEGER = 1;
const JOURNAL_BIG = 2;

/** docs/storage.md, "Series journal record": the points each open block
 *  gained since the last checkpoint (HeadBlock.journalFrom), block after
 *  block, each block's in arrival order. Blocks are independent, so replaying
 *  them block by block gives what arrival order across blocks gave (a later
 *  point with the same timestamp still wins). */
function encodeJournal(heads: readonly HeadBlock[], pointCount: number): Uint8Array {
  const w = new ByteWriter(16 + pointCount * 12);
  const f64 = new DataView(new ArrayBuffer(8));
  const f64Bytes = new Uint8Array(f64.buffer);
  w.u8(JOURNAL_VERSION);
  w.varint(pointCount);
  let previous = 0;
  let written = 0;
  for (const head of heads) {
    assert(head.journalFrom >= 0, 'journaling a block that must be rewritten');
    for (let i = head.journalFrom; i < head.length; i++) {
      const ts = head.timestampsMs[i]!;
      w.svarint(ts - previous);
      previous = ts;
      const isInteger = head.isInteger[i]!;
      const big = isInteger === 1 && head.bigInts !== null ? head.bigInts[i]! : 0n;
      if (big > INT53 || big < -INT53) {
        w.u8(JOURNAL_INTEGER | JOURNAL_BIG);
        const bits = BigInt.asUintN(64, big);
        w.u32le(Number(bits & 0xffffffffn));
        w.u32le(Number(bits >> 32n));
      } else {
        w.u8(isInteger === 1 ? JOURNAL_INTEGER : 0);
        f64.setFloat64(0, head.values[i]!, true);
        w.bytes(f64Bytes);
      }
      written++;
    }
  }
  assert(written === pointCount, `journal of ${pointCount} points wrote ${written}`);
  w.u32le(crc32c(w.view()));
  return w.finish();
}

/** Reads encodeJournal()'s bytes back as columns (in record order); TSR_ERR_CORRUPT_SEGMENT when damaged. */
function decodeJournal(bytes: Uint8Array): PointColumns {
  const r = checkedRecord(bytes, 'series journal record');
  const version = r.u8('journal version');
  if (version !== JOURNAL_VERSION) throw corruptSegment(`unsupported series journal version ${version}`, { version });
  const n = r.varint('journal point count');
  if (n > r.remaining) throw corruptSegment('series journal point count exceeds its bytes', { n });
  const cols = emptyColumns(n);
  let ts = 0;
  for (let i = 0; i < n; i++) {
    ts += r.svarint('journal timestamp');
    cols.timestampsMs[i] = ts;
    const flags = r.u8('journal flags');
    if ((flags & ~(JOURNAL_INTEGER | JOURNAL_BIG)) !== 0 || flags === JOURNAL_BIG) throw corruptSegment('series journal point has unknown flags', { flags });
    cols.isInteger[i] = flags & JOURNAL_INTEGER;
    const raw = r.bytes(8, 'journal value');
    if ((flags & JOURNAL_BIG) !== 0) {
      const view = new DataView(raw.buffer, raw.byteOffset, 8);
      const big = BigInt.asIntN(64, (BigInt(view.getUint32(4, true)) << 32n) | BigInt(view.getUint32(0, true)));
      cols.bigInts ??= new BigInt64Array(n);
      cols.bigInts[i] = big;
      cols.values[i] = Number(big);
    } else {
      cols.values[i] = new DataView(raw.buffer, raw.byteOffset, 8).getFloat64(0, true);
    }
  }
  if (cols.bigInts !== null) for (let i = 0; i < n; i++) if (cols.isInteger[i] === 1 && cols.bigInts[i] === 0n) cols.bigInts[i] = BigInt(cols.values[i]!);
  return cols;
}

/** A reader over bytes[0, length − 4) once the CRC-32C in the last 4 bytes
 *  matches them; TSR_ERR_CORRUPT_SEGMENT naming `what` otherwise. */
function checkedRecord(bytes: Uint8Array, what: string): ByteReader {
  if (bytes.length < 5) throw corruptSegment(`${what} is too short`, { byteLength: bytes.length });
  const bodyEnd = bytes.length - 4;
  const stored = new ByteReader(bytes, bodyEnd, bytes.length, what).u32le(`${what} checksum`);
  const computed = crc32c(bytes, 0, bodyEnd);
  if (stored !== computed) throw corruptSegment(`${what} checksum mismatch`, { stored, computed });
  return new ByteReader(bytes, 0, bodyEnd, what);
}

function newSealedRecord(startMs: number, bytes: Uint8Array, pointCount: number): SealedBlockRecord {
  return { startMs, bytes, byteLength: bytes.length, pointCount, crc: storedBlockCrc(bytes), writtenBy: 0, released: false };
}

export class SeriesData {
  readonly blockSpanMs: number;
  readonly latenessMs: number;
  readonly maxPointsPerBlock: number;
  readonly maxOpenBlocks: number;
  /** Sealed blocks in increasing startMs; never overlapping the open ones. */
  private sealed: SealedBlockRecord[] = [];
  /** Sealed blocks no checkpoint captured yet (null: none — most series, at
   *  high cardinality, have none between checkpoints, and an empty Set costs
   *  ~150 bytes). */
  private unwritten: Set<SealedBlockRecord> | null = null;
  /** Starts of captured blocks that have left the series since the last checkpoint (null: none). */
  private removedWritten: Set<number> | null = null;
  /** Open blocks in increasing startMs, at most maxOpenBlocks between calls. */
  private open: HeadBlock[] = [];
  /** Newest timestamp ever appended (drives sealing); null before the first. */
  private newestTimestampMs: number | null = null;
  private sealedPointCount = 0;
  private sealedBytes = 0;
  /** Shared cache of decoded sealed blocks for reads (set by the owner; null: decode every time). */
  blockCache: DecodedBlockCache | null = null;
  /** Where evicted blocks are read back from (set by the owner; null: nothing is ever evicted). */
  blockReader: SealedBlockReader | null = null;
  /** The owner checkpoints this series: journal appends between checkpoints
   *  (the open blocks keep them: HeadBlock.journalFrom). */
  private journaling = false;
  /** The open-block set changed since the last checkpoint (or no head record exists yet). */
  private headRewriteDue = true;
  /** Journal records written since the head record was. */
  private journalRecords = 0;

  constructor(options: SeriesDataOptions = {}) {
    this.blockSpanMs = checkOption('blockSpanMs', options.blockSpanMs ?? DEFAULT_BLOCK_SPAN_MS, 1, MAX_SPAN_MS);
    this.latenessMs = checkOption('latenessMs', options.latenessMs ?? DEFAULT_LATENESS_MS, 0, MAX_SPAN_MS);
    this.maxPointsPerBlock = checkOption('maxPointsPerBlock', options.maxPointsPerBlock ?? DEFAULT_MAX_POINTS_PER_BLOCK, 1, MAX_BLOCK_POINTS);
    this.maxOpenBlocks = checkOption('maxOpenBlocks', options.maxOpenBlocks ?? DEFAULT_MAX_OPEN_BLOCKS, 1, MAX_OPEN_BLOCKS_LIMIT);
  }

  /** Start of the block holding ts (floored, also for negative timestamps). */
  blockStartOf(timestampMs: number): number {
    const span = this.blockSpanMs;
    const r = timestampMs % span;
    return r >= 0 ? timestampMs - r : timestampMs - r - span;
  }

  // ---------------------------------------------------------------------------
  // Writes

  /** Appends one point. `bigInt` carries the exact value of an integer beyond
   *  ±2^53 (value must then equal Number(bigInt)). */
  append(timestampMs: number, value: number, isInteger: boolean, bigInt?: bigint): void {
    const big = this.validatePoint(timestampMs, value, isInteger, bigInt ?? null, -1);
    const head = this.headFor(this.blockStartOf(timestampMs));
    if (!head.append(timestampMs, value, isInteger ? 1 : 0, big, this.maxPointsPerBlock)) throw this.blockFull(head.startMs);
    this.noteNewest(timestampMs);
    this.maybeSealBlocks();
  }

  /**
   * Appends points of cols: indexes[k] in order, or every point 0..length-1.
   * Validates the whole batch before storing any point, so a bad point or a
   * full block rejects the call without a partial write.
   */
  appendColumns(cols: PointColumns, indexes?: ArrayLike<number>): void {
    const count = indexes === undefined ? cols.length : indexes.length;
    if (count === 0) return;
    const openHead = this.openBlockHolding(cols, indexes, count);
    if (openHead !== null) {
      this.appendToOneBlock(cols, indexes, count, openHead.startMs, openHead);
      return;
    }
    const oneBlock = this.sharedBlockStart(cols, indexes, count);
    if (oneBlock !== null) {
      this.appendToOneBlock(cols, indexes, count, oneBlock, null);
      return;
    }
    const at = (k: number): number => (indexes === undefined ? k : indexes[k]!);
    const starts = new Float64Array(count);
    let newest = -Infinity;
    let singleBlock = true;
    for (let k = 0; k < count; k++) {
      const i = at(k);
      if (!Number.isInteger(i) || i < 0 || i >= cols.length) throw invalid(`point index ${i} is outside the columns`, { index: i });
      const ts = cols.timestampsMs[i]!;
      this.validatePoint(ts, cols.values[i]!, cols.isInteger[i] === 1, cols.isInteger[i] === 1 && cols.bigInts !== null ? cols.bigInts[i]! : null, i);
      if (cols.isInteger[i]! > 1) throw invalid(`isInteger flag must be 0 or 1, got ${cols.isInteger[i]}`, { index: i });
      starts[k] = this.blockStartOf(ts);
      if (starts[k] !== starts[0]) singleBlock = false;
      if (ts > newest) newest = ts;
    }
    // Points grouped by block (stable, so arrival order within a block is
    // kept): each touched block is opened, filled and sealed at most once.
    let order: Uint32Array | null = null;
    if (!singleBlock) {
      order = new Uint32Array(count);
      for (let k = 0; k < count; k++) order[k] = k;
      order.sort((a, b) => starts[a]! - starts[b]! || a - b);
    }
    const kth = (g: number): number => (order === null ? g : order[g]!);
    this.checkCapacity(cols, count, at, starts, kth);
    let g = 0;
    while (g < count) {
      const blockStart = starts[kth(g)]!;
      const head = this.headFor(blockStart);
      for (; g < count && starts[kth(g)] === blockStart; g++) {
        const i = at(kth(g));
        const isInteger = cols.isInteger[i]!;
        const v = cols.values[i]!;
        let big: bigint | null = null;
        if (isInteger === 1 && cols.bigInts !== null) {
          const b = cols.bigInts[i]!;
          if (b > INT53 || b < -INT53) big = b;
        }
        const stored = head.append(cols.timestampsMs[i]!, v, isInteger, big, this.maxPointsPerBlock);
        assert(stored, 'block capacity was checked before appending');
      }
    }
    this.noteNewest(newest);
    this.maybeSealBlocks();
  }

  /** The block start every point of the call falls in, or null when they
   *  span blocks (or a timestamp is not even a number: the general path then
   *  validates and rejects it). Most calls append a few recent points of a
   *  series, all in one block: they skip the grouping below. */
  private sharedBlockStart(cols: PointColumns, indexes: ArrayLike<number> | undefined, count: number): number | null {
    const first = this.blockStartOf(cols.timestampsMs[indexes === undefined ? 0 : indexes[0]!]!);
    if (!Number.isFinite(first)) return null;
    for (let k = 1; k < count; k++) {
      if (this.blockStartOf(cols.timestampsMs[indexes === undefined ? k : indexes[k]!]!) !== first) return null;
    }
    return first;
  }

  /** The open block every point of the call falls in, or null (then the
   *  general path finds or opens the block, or rejects a timestamp that is
   *  not a number). Most calls append a few recent points of a series to its
   *  newest open block: two comparisons per point instead of a division. */
  private openBlockHolding(cols: PointColumns, indexes: ArrayLike<number> | undefined, count: number): HeadBlock | null {
    const open = this.open;
    const first = cols.timestampsMs[indexes === undefined ? 0 : indexes[0]!]!;
    let head: HeadBlock | null = null;
    for (let o = open.length - 1; o >= 0; o--) {
      const h = open[o]!;
      if (first >= h.startMs && first < h.startMs + this.blockSpanMs) {
        head = h;
        break;
      }
    }
    if (head === null) return null;
    const from = head.startMs;
    const to = from + this.blockSpanMs;
    for (let k = 1; k < count; k++) {
      const ts = cols.timestampsMs[indexes === undefined ? k : indexes[k]!]!;
      if (!(ts >= from && ts < to)) return null;
    }
    return head;
  }

  /** appendColumns for points that all fall in the block at blockStart
   *  (open as `openHead`, or null when not known to be open): the same checks
   *  in the same order, without grouping by block. */
  private appendToOneBlock(cols: PointColumns, indexes: ArrayLike<number> | undefined, count: number, blockStart: number, openHead: HeadBlock | null): void {
    assert(openHead === null || openHead.startMs === blockStart, 'appending to another open block');
    let newest = -Infinity;
    for (let k = 0; k < count; k++) {
      const i = indexes === undefined ? k : indexes[k]!;
      if (!Number.isInteger(i) || i < 0 || i >= cols.length) throw invalid(`point index ${i} is outside the columns`, { index: i });
      const ts = cols.timestampsMs[i]!;
      this.validatePoint(ts, cols.values[i]!, cols.isInteger[i] === 1, cols.isInteger[i] === 1 && cols.bigInts !== null ? cols.bigInts[i]! : null, i);
      if (cols.isInteger[i]! > 1) throw invalid(`isInteger flag must be 0 or 1, got ${cols.isInteger[i]}`, { index: i });
      if (ts > newest) newest = ts;
    }
    if ((openHead !== null ? openHead.length : this.existingPointCount(blockStart)) + count > this.maxPointsPerBlock) {
      // Rare: count the distinct union exactly.
      const union = new Set<number>();
      for (let k = 0; k < count; k++) union.add(cols.timestampsMs[indexes === undefined ? k : indexes[k]!]!);
      const cur = this.pointsOfBlock(blockStart);
      if (cur !== null) for (let i = 0; i < cur.length; i++) union.add(cur.timestampsMs[i]!);
      if (union.size > this.maxPointsPerBlock) throw this.blockFull(blockStart);
    }
    const head = openHead ?? this.headFor(blockStart);
    for (let k = 0; k < count; k++) {
      const i = indexes === undefined ? k : indexes[k]!;
      const isInteger = cols.isInteger[i]!;
      let big: bigint | null = null;
      if (isInteger === 1 && cols.bigInts !== null) {
        const b = cols.bigInts[i]!;
        if (b > INT53 || b < -INT53) big = b;
      }
      const stored = head.append(cols.timestampsMs[i]!, cols.values[i]!, isInteger, big, this.maxPointsPerBlock);
      assert(stored, 'block capacity was checked before appending');
    }
    this.noteNewest(newest);
    this.maybeSealBlocks();
  }

  /** Throws TSR_ERR_BLOCK_FULL before any write if some block of the batch
   *  would exceed maxPointsPerBlock distinct points. */
  private checkCapacity(
    cols: PointColumns,
    count: number,
    at: (k: number) => number,
    starts: Float64Array,
    kth: (g: number) => number,
  ): void {
    let g = 0;
    while (g < count) {
      const blockStart = starts[kth(g)]!;
      const from = g;
      while (g < count && starts[kth(g)] === blockStart) g++;
      const existing = this.existingPointCount(blockStart);
      if (existing + (g - from) <= this.maxPointsPerBlock) continue;
      // Rare: count the distinct union exactly.
      const union = new Set<number>();
      for (let k = from; k < g; k++) union.add(cols.timestampsMs[at(kth(k))]!);
      const cur = this.pointsOfBlock(blockStart);
      if (cur !== null) for (let i = 0; i < cur.length; i++) union.add(cur.timestampsMs[i]!);
      if (union.size > this.maxPointsPerBlock) throw this.blockFull(blockStart);
    }
  }

  private existingPointCount(blockStart: number): number {
    const head = this.findOpen(blockStart);
    if (head !== null) return head.length;
    const s = this.findSealedIndex(blockStart);
    return s >= 0 ? this.sealed[s]!.pointCount : 0;
  }

  private pointsOfBlock(blockStart: number): PointColumns | null {
    const head = this.findOpen(blockStart);
    if (head !== null) return head.columns();
    const s = this.findSealedIndex(blockStart);
    return s >= 0 ? decodeBlock(this.bytesOf(this.sealed[s]!)) : null;
  }

  /** Returns the exact int64 to keep for an integer beyond ±2^53, else null. */
  private validatePoint(ts: number, value: number, isInteger: boolean, bigInt: bigint | null, index: number): bigint | null {
    if (!isValidTimestampMs(ts)) {
      throw invalid(`timestamp ${ts} is not an integer millisecond within ±${MAX_TIMESTAMP_MAGNITUDE_MS}`, { index, timestampMs: ts });
    }
    if (value - value !== 0) throw invalid(`value ${value} is not finite`, { index });
    if (!isInteger) return null;
    if (bigInt !== null) {
      if (bigInt < INT64_MIN || bigInt > INT64_MAX) throw invalid(`integer ${bigInt} is outside int64`, { index });
      if (Number(bigInt) !== value) throw invalid(`integer value ${value} disagrees with its exact value ${bigInt}`, { index });
      return bigInt > INT53 || bigInt < -INT53 ? bigInt : null;
    }
    if (value !== Math.floor(value) || Math.abs(value) >= TWO_POW_63) throw invalid(`integer point has value ${value}, not an int64`, { index });
    return null;
  }

  private blockFull(blockStart: number): TsraftError {
    return new TsraftError('TSR_ERR_BLOCK_FULL', `the block starting at ${blockStart} ms already holds ${this.maxPointsPerBlock} points`, {
      details: { blockStartMs: blockStart, maxPointsPerBlock: this.maxPointsPerBlock },
    });
  }

  private noteNewest(ts: number): void {
    if (this.newestTimestampMs === null || ts > this.newestTimestampMs) this.newestTimestampMs = ts;
  }

  private findOpen(blockStart: number): HeadBlock | null {
    for (const h of this.open) if (h.startMs === blockStart) return h;
    return null;
  }

  private findSealedIndex(blockStart: number): number {
    let lo = 0;
    let hi = this.sealed.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sealed[mid]!.startMs < blockStart) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.sealed.length && this.sealed[lo]!.startMs === blockStart ? lo : -1;
  }

  /** The open block for blockStart: existing, reopened from its sealed bytes,
   *  or new. Seals the oldest other open block if the bound would be passed. */
  private headFor(blockStart: number): HeadBlock {
    const existing = this.findOpen(blockStart);
    if (existing !== null) return existing;
    while (this.open.length >= this.maxOpenBlocks) this.sealOpenAt(0);
    const s = this.findSealedIndex(blockStart);
    let head: HeadBlock;
    if (s >= 0) {
      const block = this.sealed[s]!;
      head = HeadBlock.fromColumns(blockStart, decodeBlock(this.bytesOf(block)));
      this.sealed.splice(s, 1);
      this.release(block);
    } else {
      head = new HeadBlock(blockStart);
    }
    if (this.open.length === 0) {
      // Most series have one open block: a literal holds exactly it (an
      // insert into an empty array reserves room for 16).
      this.open = [head];
    } else {
      let i = this.open.length;
      while (i > 0 && this.open[i - 1]!.startMs > blockStart) i--;
      this.open.splice(i, 0, head);
    }
    this.openBlocksChanged();
    return head;
  }

  private sealOpenAt(i: number): void {
    const head = this.open[i]!;
    this.open.splice(i, 1);
    this.openBlocksChanged();
    const cols = head.columns();
    if (cols.length === 0) return;
    assert(cols.length <= this.maxPointsPerBlock, `open block ${head.startMs} holds more than maxPointsPerBlock points`);
    assert(this.blockStartOf(cols.timestampsMs[0]!) === head.startMs && cols.timestampsMs[cols.length - 1]! < head.startMs + this.blockSpanMs, 'open block holds points outside its time block');
    const bytes = encodeBlock(cols);
    let at = this.sealed.length;
    while (at > 0 && this.sealed[at - 1]!.startMs > head.startMs) at--;
    assert(at === 0 || this.sealed[at - 1]!.startMs < head.startMs, 'a block is both open and sealed');
    const record = newSealedRecord(head.startMs, bytes, cols.length);
    this.sealed.splice(at, 0, record);
    (this.unwritten ??= new Set()).add(record);
    this.sealedPointCount += cols.length;
    this.sealedBytes += bytes.length;
  }

  /** The next checkpoint rewrites the head record: a journal would not rebuild it. */
  private openBlocksChanged(): void {
    this.headRewriteDue = true;
  }

  /** Points the open blocks gained since the last checkpoint, or -1 when
   *  the head record must be rewritten (a block was compacted or a
   *  checkpointed point overwritten) or more than MAX_JOURNAL_POINTS wait
   *  (cheaper to rewrite the head than to keep journaling). */
  private pendingJournalPoints(): number {
    let n = 0;
    for (const head of this.open) {
      const gained = head.journalLength();
      if (gained < 0) return -1;
      n += gained;
    }
    return n > MAX_JOURNAL_POINTS ? -1 : n;
  }

  /** The open blocks as they are now are what the last checkpoint holds. */
  private markJournaled(): void {
    for (const head of this.open) head.journalFrom = head.length;
  }

  /** The owner checkpoints this series from now on (persisted state machines). */
  enableJournal(): void {
    this.journaling = true;
  }

  /** Book-keeping for a sealed block leaving the series (already spliced out). */
  private release(block: SealedBlockRecord): void {
    block.released = true;
    this.blockCache?.evict(block);
    if (this.unwritten?.delete(block) !== true) (this.removedWritten ??= new Set()).add(block.startMs);
    this.sealedPointCount -= block.pointCount;
    this.sealedBytes -= block.byteLength;
  }

  /** A sealed block's bytes: in memory, or read back and checked against its record. */
  private bytesOf(block: SealedBlockRecord): Uint8Array {
    if (block.bytes !== null) return block.bytes;
    const bytes = this.blockReader?.readBlock(block.startMs);
    const where = { blockStartMs: block.startMs };
    if (bytes === undefined) throw corruptSegment(`sealed block ${block.startMs} ms is missing from the store`, where);
    if (bytes.length !== block.byteLength || storedBlockCrc(bytes) !== block.crc) {
      throw corruptSegment(`sealed block ${block.startMs} ms read back from the store is not the block written (${bytes.length} bytes, expected ${block.byteLength} with CRC ${block.crc})`, {
        ...where,
        byteLength: bytes.length,
        expectedByteLength: block.byteLength,
      });
    }
    return bytes;
  }

  /** Seals open blocks that are past the lateness window, and the oldest
   *  ones beyond maxOpenBlocks. */
  private maybeSealBlocks(): void {
    const newest = this.newestTimestampMs;
    if (newest !== null) {
      let i = 0;
      while (i < this.open.length) {
        const head = this.open[i]!;
        if (head.startMs + this.blockSpanMs + this.latenessMs <= newest) this.sealOpenAt(i);
        else i++;
      }
    }
    while (this.open.length > this.maxOpenBlocks) this.sealOpenAt(0);
  }

  /** Seals every open block. */
  sealAll(): void {
    while (this.open.length > 0) this.sealOpenAt(0);
  }

  /** Drops every block that ends at or before cutoffMs (all its points are
   *  older); returns the number of points dropped. Retention works in whole
   *  blocks: a block straddling the cutoff is kept. */
  dropBlocksBefore(cutoffMs: number): number {
    let dropped = 0;
    let keepFrom = 0;
    while (keepFrom < this.sealed.length && this.sealed[keepFrom]!.startMs + this.blockSpanMs <= cutoffMs) {
      dropped += this.sealed[keepFrom]!.pointCount;
      keepFrom++;
    }
    if (keepFrom > 0) for (const gone of this.sealed.splice(0, keepFrom)) this.release(gone);
    while (this.open.length > 0 && this.open[0]!.startMs + this.blockSpanMs <= cutoffMs) {
      dropped += this.open[0]!.pointCount();
      this.open.shift();
      this.openBlocksChanged();
    }
    return dropped;
  }

  // ---------------------------------------------------------------------------
  // Reads

  /** Points with startMs ≤ ts ≤ endMs, sorted by time, one per timestamp.
   *  Sealed blocks are checksum-verified as they are decoded. */
  readPoints(startMs: number, endMs: number): PointColumns {
    if (!(startMs <= endMs)) return emptyColumns(0);
    const pieces: { cols: PointColumns; from: number; to: number }[] = [];
    let total = 0;
    let anyBig = false;
    let si = 0;
    let oi = 0;
    const firstStart = this.blockStartOf(Math.max(-MAX_TIMESTAMP_MAGNITUDE_MS, Math.min(MAX_TIMESTAMP_MAGNITUDE_MS, startMs)));
    // Skip sealed blocks entirely before the range with a binary search.
    let lo = 0;
    let hi = this.sealed.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sealed[mid]!.startMs < firstStart) lo = mid + 1;
      else hi = mid;
    }
    si = lo;
    while (si < this.sealed.length || oi < this.open.length) {
      const takeSealed = oi >= this.open.length || (si < this.sealed.length && this.sealed[si]!.startMs < this.open[oi]!.startMs);
      const blockStart = takeSealed ? this.sealed[si]!.startMs : this.open[oi]!.startMs;
      if (blockStart > endMs) break;
      let cols: PointColumns | null = null;
      if (blockStart + this.blockSpanMs > startMs) {
        cols = takeSealed ? this.decodeSealed(this.sealed[si]!) : this.open[oi]!.columns();
      }
      if (takeSealed) si++;
      else oi++;
      if (cols === null) continue;
      const from = lowerBound(cols.timestampsMs, cols.length, startMs);
      const to = upperBound(cols.timestampsMs, cols.length, endMs);
      if (to <= from) continue;
      pieces.push({ cols, from, to });
      total += to - from;
      if (cols.bigInts !== null) anyBig = true;
    }
    const out = emptyColumns(total);
    if (anyBig) out.bigInts = new BigInt64Array(total);
    let at = 0;
    for (const { cols, from, to } of pieces) {
      out.timestampsMs.set(cols.timestampsMs.subarray(from, to), at);
      out.values.set(cols.values.subarray(from, to), at);
      out.isInteger.set(cols.isInteger.subarray(from, to), at);
      if (out.bigInts !== null) {
        if (cols.bigInts !== null) {
          out.bigInts.set(cols.bigInts.subarray(from, to), at);
        } else {
          for (let i = from; i < to; i++) if (cols.isInteger[i] === 1) out.bigInts[at + i - from] = BigInt(cols.values[i]!);
        }
      }
      at += to - from;
    }
    assert(at === total, 'readPoints assembled the wrong number of points');
    return out;
  }

  private decodeSealed(block: SealedBlockRecord): PointColumns {
    return this.blockCache === null ? decodeBlock(this.bytesOf(block)) : this.blockCache.get(block, (b) => decodeBlock(this.bytesOf(b)));
  }

  /** Distinct points stored (open blocks are compacted to count them). */
  pointCount(): number {
    let n = this.sealedPointCount;
    for (const head of this.open) n += head.pointCount();
    return n;
  }

  /** Bytes of the sealed (encoded) blocks; open blocks are not encoded yet. */
  encodedBytes(): number {
    return this.sealedBytes;
  }

  sealedBlockCount(): number {
    return this.sealed.length;
  }

  openBlockCount(): number {
    return this.open.length;
  }

  /** The sealed blocks' start and bytes, in time order (bytes are shared; do
   *  not modify). Evicted blocks are read back (and checked) for the call. */
  sealedBlocks(): readonly { startMs: number; bytes: Uint8Array }[] {
    return this.sealed.map((b) => ({ startMs: b.startMs, bytes: this.bytesOf(b) }));
  }

  /** The sealed blocks' records, in time order (for the scrubber). */
  sealedRecords(): readonly SealedBlockRecord[] {
    return this.sealed;
  }

  /** The record of the sealed block at startMs, or null. */
  sealedRecordAt(startMs: number): SealedBlockRecord | null {
    const s = this.findSealedIndex(startMs);
    return s < 0 ? null : this.sealed[s]!;
  }

  /** A block's bytes as held in memory or in the store, unchecked (the
   *  scrubber checks them); undefined when the store has none. */
  storedBytesOf(record: SealedBlockRecord): Uint8Array | undefined {
    return record.bytes ?? this.blockReader?.readBlock(record.startMs);
  }

  /** Start, length and stored CRC of each sealed block, in time order, without reading any. */
  sealedBlockSummaries(): readonly { startMs: number; byteLength: number; crc: number }[] {
    return this.sealed.map((b) => ({ startMs: b.startMs, byteLength: b.byteLength, crc: b.crc }));
  }

  /** Replaces the bytes of the sealed block at startMs with `bytes` of the same
   *  length and CRC (a scrubber's repair of a damaged copy): in place when the
   *  block's bytes are in memory, else they come back into memory; either way
   *  the block is written again by the next checkpoint. False when no such block. */
  replaceSealedBytes(startMs: number, bytes: Uint8Array): boolean {
    const s = this.findSealedIndex(startMs);
    if (s < 0) return false;
    const record = this.sealed[s]!;
    assert(bytes.length === record.byteLength && storedBlockCrc(bytes) === record.crc, `replacement for block ${startMs} ms is another block`);
    if (record.bytes !== null) record.bytes.set(bytes);
    else record.bytes = bytes.slice();
    this.blockCache?.evict(record);
    record.writtenBy = 0;
    (this.unwritten ??= new Set()).add(record);
    return true;
  }

  // ---------------------------------------------------------------------------
  // Persistence (docs/storage.md, "State machine")

  /** What changed since the last capture (or everything, when `full`): the
   *  head record, sealed blocks to write, written blocks to delete. Marks the
   *  captured blocks as written by `generation` (the caller writes them). */
  captureCheckpoint(generation: number, full: boolean): SeriesCheckpointDelta {
    assert(Number.isSafeInteger(generation) && generation > 0, `checkpoint generation ${generation}`);
    const records = full ? [...this.sealed] : [...(this.unwritten ?? [])];
    const putBlocks: SealedBlockWrite[] = [];
    const put = new Set<number>();
    for (const record of records) {
      assert(!record.released, 'capturing a released block');
      putBlocks.push({ startMs: record.startMs, bytes: this.bytesOf(record), pointCount: record.pointCount, crc: record.crc });
      put.add(record.startMs);
      record.writtenBy = generation;
    }
    const deleteBlocks = full ? [] : [...(this.removedWritten ?? [])].filter((start) => !put.has(start));
    this.unwritten = null;
    this.removedWritten = null;
    let head: Uint8Array | null = null;
    let journal: SeriesCheckpointDelta['journal'] = null;
    let dropJournalThrough = 0;
    const pending = full || this.headRewriteDue || !this.journaling ? -1 : this.pendingJournalPoints();
    if (pending < 0 || this.journalRecords >= MAX_JOURNAL_RECORDS) {
      head = this.serialize({ sealed: false });
      dropJournalThrough = full ? 0 : this.journalRecords;
      this.journalRecords = 0;
    } else if (pending > 0) {
      this.journalRecords++;
      journal = { seq: this.journalRecords, bytes: encodeJournal(this.open, pending) };
    }
    // After serialize: it compacts the open blocks it writes.
    this.markJournaled();
    this.headRewriteDue = false;
    return { head, journal, dropJournalThrough, putBlocks, deleteBlocks, records };
  }

  /** Journal records written since the head record (a removed series' keys to delete). */
  get journalRecordCount(): number {
    return this.journalRecords;
  }

  /** Starts of every written block (the keys a removed series leaves behind). */
  writtenBlockStarts(): number[] {
    const starts = new Set(this.removedWritten ?? []);
    for (const b of this.sealed) if (b.writtenBy > 0) starts.add(b.startMs);
    return [...starts];
  }

  /** Drops the in-memory bytes of a written sealed block (the owner decides
   *  which, by its memory budget). Returns the bytes freed. */
  static evictBytes(record: SealedBlockRecord): number {
    if (record.bytes === null || record.writtenBy === 0 || record.released) return 0;
    record.bytes = null;
    return record.byteLength;
  }

  /** Rebuilds a series from its head record and the metadata of its written
   *  blocks (whose bytes stay in the store, read through blockReader).
   *  TSR_ERR_CORRUPT_SEGMENT when they do not fit together. */
  static fromPersisted(head: Uint8Array, blocks: readonly WrittenBlockMeta[], generation: number, journals: readonly Uint8Array[] = []): SeriesData {
    const data = SeriesData.deserialize(head);
    if (data.sealed.length > 0) throw corruptSegment('a series head record holds sealed blocks', { sealedBlocks: data.sealed.length });
    // Replay the journal on the head as the points were appended: no block
    // opens, reopens or seals (any of those rewrote the head instead).
    for (let j = 0; j < journals.length; j++) {
      const cols = decodeJournal(journals[j]!);
      const openBefore = data.open.length;
      try {
        data.appendColumns(cols);
      } catch (error) {
        rethrowIfBug(error);
        throw corruptSegment(`series journal record ${j + 1} does not apply to its head: ${(error as Error).message}`, { journal: j + 1 });
      }
      if (data.open.length !== openBefore) throw corruptSegment(`series journal record ${j + 1} changes the open blocks`, { journal: j + 1 });
    }
    data.journalRecords = journals.length;
    data.headRewriteDue = false;
    data.markJournaled();
    const sorted = [...blocks].sort((a, b) => a.startMs - b.startMs);
    for (let i = 0; i < sorted.length; i++) {
      const meta = sorted[i]!;
      const where = { blockStartMs: meta.startMs };
      if (data.blockStartOf(meta.startMs) !== meta.startMs || (i > 0 && sorted[i - 1]!.startMs === meta.startMs)) throw corruptSegment('stored block metadata is misaligned or repeated', where);
      if (data.findOpen(meta.startMs) !== null) throw corruptSegment('a stored sealed block overlaps an open block', where);
      if (!(meta.pointCount >= 1 && meta.pointCount <= data.maxPointsPerBlock && meta.byteLength >= 5)) throw corruptSegment('stored block metadata is out of range', { ...where, ...meta });
      data.sealed.push({ startMs: meta.startMs, bytes: null, byteLength: meta.byteLength, pointCount: meta.pointCount, crc: meta.crc >>> 0, writtenBy: generation, released: false });
      data.sealedPointCount += meta.pointCount;
      data.sealedBytes += meta.byteLength;
    }
    data.trimArrays();
    return data;
  }

  /** Arrays built by push reserve room for 16 or more; a series loaded at
   *  start-up keeps exact-size copies (memory per series at high cardinality). */
  private trimArrays(): void {
    this.open = this.open.slice();
    this.sealed = this.sealed.slice();
  }

  // ---------------------------------------------------------------------------
  // Snapshot (docs/segment-format.md, "Series snapshot")

  /** The whole series; with `sealed: false` only its open blocks (the head
   *  record of a checkpoint: same format, no sealed blocks). */
  serialize(options: { sealed?: boolean } = {}): Uint8Array {
    const sealedBlocks = options.sealed === false ? [] : this.sealed;
    const w = new ByteWriter(64 + (options.sealed === false ? 0 : this.sealedBytes));
    w.u8(SNAPSHOT_VERSION);
    w.varint(this.blockSpanMs);
    w.varint(this.latenessMs);
    w.varint(this.maxPointsPerBlock);
    w.varint(this.maxOpenBlocks);
    w.u8(this.newestTimestampMs === null ? 0 : SNAPSHOT_HAS_NEWEST);
    if (this.newestTimestampMs !== null) w.svarint(this.newestTimestampMs);
    const openBlocks = this.open;
    for (const head of openBlocks) assert(head.pointCount() > 0, 'an open block is empty');
    w.varint(sealedBlocks.length + openBlocks.length);
    let si = 0;
    let oi = 0;
    while (si < sealedBlocks.length || oi < openBlocks.length) {
      const takeSealed = oi >= openBlocks.length || (si < sealedBlocks.length && sealedBlocks[si]!.startMs < openBlocks[oi]!.startMs);
      let startMs: number;
      let bytes: Uint8Array;
      if (takeSealed) {
        const block = sealedBlocks[si++]!;
        startMs = block.startMs;
        bytes = this.bytesOf(block);
        w.u8(BLOCK_STATE_SEALED);
      } else {
        const head = openBlocks[oi++]!;
        startMs = head.startMs;
        bytes = encodeBlock(head.columns());
        w.u8(BLOCK_STATE_OPEN);
      }
      w.svarint(startMs);
      w.varint(bytes.length);
      w.bytes(bytes);
    }
    w.u32le(crc32c(w.view()));
    return w.finish();
  }

  /** Restores a series from serialize() bytes, verifying every checksum;
   *  throws TSR_ERR_CORRUPT_SEGMENT on any damage. The bytes are copied. */
  static deserialize(bytes: Uint8Array): SeriesData {
    const r = checkedRecord(bytes, 'series snapshot');
    const version = r.u8('snapshot version');
    if (version !== SNAPSHOT_VERSION) throw corruptSegment(`unsupported series snapshot version ${version}`, { version });
    let data: SeriesData;
    try {
      data = new SeriesData({
        blockSpanMs: r.varint('blockSpanMs'),
        latenessMs: r.varint('latenessMs'),
        maxPointsPerBlock: r.varint('maxPointsPerBlock'),
        maxOpenBlocks: r.varint('maxOpenBlocks'),
      });
    } catch (e) {
      rethrowIfBug(e);
      if (e instanceof TsraftError && e.code === 'TSR_ERR_INVALID_ARGUMENT') throw corruptSegment(`series snapshot has invalid options: ${e.message}`);
      throw e;
    }
    const flags = r.u8('snapshot flags');
    if ((flags & ~SNAPSHOT_HAS_NEWEST) !== 0) throw corruptSegment('series snapshot has unknown flags', { flags });
    if ((flags & SNAPSHOT_HAS_NEWEST) !== 0) {
      const newest = r.svarint('newest timestamp');
      if (!isValidTimestampMs(newest)) throw corruptSegment('series snapshot newest timestamp out of range', { newest });
      data.newestTimestampMs = newest;
    }
    const blockCount = r.varint('block count');
    let previousStart = -Infinity;
    for (let b = 0; b < blockCount; b++) {
      const state = r.u8('block state');
      const startMs = r.svarint('block start');
      const length = r.varint('block length');
      const blockBytes = r.bytes(length, 'block bytes').slice();
      const where = { block: b, blockStartMs: startMs };
      if (state !== BLOCK_STATE_SEALED && state !== BLOCK_STATE_OPEN) throw corruptSegment('series snapshot block has an unknown state', { ...where, state });
      if (startMs <= previousStart || data.blockStartOf(startMs) !== startMs) {
        throw corruptSegment('series snapshot blocks are out of order or misaligned', where);
      }
      previousStart = startMs;
      let header;
      try {
        header = readBlockHeader(blockBytes);
      } catch (e) {
        rethrowIfBug(e);
        if (e instanceof TsraftError && e.code === 'TSR_ERR_CORRUPT_SEGMENT') {
          throw corruptSegment(`series snapshot block ${b} (start ${startMs} ms): ${e.message}`, { ...where, ...e.details });
        }
        throw e;
      }
      if (header.minTimestampMs < startMs || header.maxTimestampMs >= startMs + data.blockSpanMs || header.pointCount > data.maxPointsPerBlock) {
        throw corruptSegment('series snapshot block holds points outside its time block', { ...where, ...header });
      }
      if (state === BLOCK_STATE_SEALED) {
        data.sealed.push(newSealedRecord(startMs, blockBytes, header.pointCount));
        (data.unwritten ??= new Set()).add(data.sealed[data.sealed.length - 1]!);
        data.sealedPointCount += header.pointCount;
        data.sealedBytes += blockBytes.length;
      } else {
        const cols = decodeBlock(blockBytes);
        for (let i = 1; i < cols.length; i++) {
          if (!(cols.timestampsMs[i]! > cols.timestampsMs[i - 1]!)) throw corruptSegment('open block in series snapshot is not sorted', where);
        }
        data.open.push(HeadBlock.fromColumns(startMs, cols));
      }
    }
    if (data.open.length > data.maxOpenBlocks) throw corruptSegment('series snapshot has more open blocks than allowed', { openBlocks: data.open.length });
    if (r.remaining !== 0) throw corruptSegment('series snapshot has trailing bytes', { trailingBytes: r.remaining });
    data.trimArrays();
    return data;
  }
}
