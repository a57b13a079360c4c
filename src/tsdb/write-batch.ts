// The binary columnar write batch: encoded once by the leader, carried in a
// log entry, decoded by every replica straight into typed-array columns (no
// per-point objects). Layout (docs/tsdb-commands.md, "Write batch"):
//
//   u8      version (1 or 2)
//   varuint seriesCount, then each series:
//             version 1: its canonical series key (varuint length + UTF-8)
//             version 2: varuint ref; 0 = the canonical key follows (as in
//             version 1), r ≥ 1 = the existing series with id r − 1
//   varuint pointCount
//   pointCount × varuint  series index (into the series above)
//   pointCount × zigzag varint  timestamp ms (first absolute, then deltas)
//   ceil(pointCount / 8) bytes  type bitmap (bit i%8 of byte i/8: 1 = int64)
//   pointCount values: int64 as zigzag varint, float64 as 8 bytes LE
//   u32 LE  CRC32C of every byte before it
//
// Version 2 exists because a key costs every replica a UTF-8 decode and a
// string-hash lookup per series per batch (and ~50 bytes of log, disk and
// network); a series id costs a varint. The leader refers to a series by id
// only when its own state machine already holds it; ids are replicated state
// (assigned in apply order, never reused), so the id means the same series on
// every replica. A series removed between the leader's encoding and the
// apply is detected by every replica alike (state-machine.ts).
import { AssertionError, TsraftError, assert } from '../errors.js';
import { ByteReader, ByteWriter } from './byte-io.js';
import type { PointColumns } from './points.js';
import { MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, type PointSink } from './validate.js';

/** The version a batch with only keys is written in (every build reads it). */
export const WRITE_BATCH_VERSION = 1;
/** The version a batch that refers to a series by id is written in. */
export const WRITE_BATCH_VERSION_SERIES_IDS = 2;
/** Series ids are dense and below the series ever created (state machine's
 *  maxSeries and retention bound them far below this). */
export const MAX_SERIES_ID = 0x7fff_fffe;
/** Longest canonical series key: a metric and 8 tags of MAX_NAME_LENGTH units,
 *  3 UTF-8 bytes each, plus separators, rounded up. */
export const MAX_SERIES_KEY_BYTES = 16 * 1024;

export interface WriteBatchLimits {
  /** Points per batch; default 100,000. */
  maxPoints: number;
  /** Distinct series keys per batch; default 100,000. */
  maxSeriesKeys: number;
  /** Encoded size; default 16 MiB. */
  maxBytes: number;
}

export const DEFAULT_WRITE_BATCH_LIMITS: Readonly<WriteBatchLimits> = Object.freeze({
  maxPoints: 100_000,
  maxSeriesKeys: 100_000,
  maxBytes: 16 * 1024 * 1024,
});

export interface DecodedWriteBatch {
  /** Canonical series keys (`metric{k=v,...}`), as written by the leader;
   *  '' where the batch refers to the series by id (seriesIds[k] ≥ 0).
   *  Its length is the batch's series count. */
  seriesKeys: string[];
  /** seriesIds[k]: the id of an existing series that batch series k refers
   *  to (version 2), or -1 where seriesKeys[k] names it. */
  seriesIds: Int32Array;
  /** seriesKeyIndexes[i] = index into seriesKeys of point i. */
  seriesKeyIndexes: Uint32Array;
  columns: PointColumns;
}

function tooLarge(limit: keyof WriteBatchLimits, bound: number, actual: number): TsraftError {
  return new TsraftError('TSR_ERR_BATCH_TOO_LARGE', `write batch exceeds ${limit} (${actual} > ${bound})`, {
    details: { limit, [limit]: bound, actual },
  });
}

/** The id of the series with this canonical key, or undefined. */
export type SeriesIdResolver = (seriesKey: string) => number | undefined;

/**
 * Which batch slot each series id got, for one builder at a time: a stamp
 * per id marks the slots of the current batch, so starting a batch costs
 * nothing and a lookup is an array read instead of a hash of the key (for a
 * 5,000-series put that map was 8 % of the leader's time). Reused by the
 * encoder across puts (they are encoded one at a time); grows with the ids seen.
 */
export class SeriesIdSlots {
  private stamps = new Int32Array(1024);
  private slots = new Int32Array(1024);
  private generation = 0;

  /** Forgets the previous batch's slots. */
  begin(): void {
    if (this.generation === 0x7fff_ffff) {
      this.stamps.fill(0);
      this.generation = 0;
    }
    this.generation++;
  }

  /** The slot of `id` in the current batch, or -1. */
  get(id: number): number {
    return id < this.stamps.length && this.stamps[id] === this.generation ? this.slots[id]! : -1;
  }

  set(id: number, slot: number): void {
    assert(id >= 0 && id <= MAX_SERIES_ID && slot >= 0, 'series id slot out of range');
    if (id >= this.stamps.length) {
      let capacity = this.stamps.length * 2;
      while (capacity <= id) capacity *= 2;
      const stamps = new Int32Array(capacity);
      stamps.set(this.stamps);
      const slots = new Int32Array(capacity);
      slots.set(this.slots);
      this.stamps = stamps;
      this.slots = slots;
    }
    this.stamps[id] = this.generation;
    this.slots[id] = slot;
  }
}

/** Collects points on the leader, then encodes them once. */
export class WriteBatchBuilder implements PointSink {
  readonly maxPoints: number;
  private readonly limits: WriteBatchLimits;
  private readonly keyIndexByKey = new Map<string, number>();
  private readonly seriesKeys: string[] = [];
  /** Per series: its id (a reference, version 2) or -1 (the key is written). */
  private readonly seriesIds: number[] = [];
  private referencesById = false;
  private seriesKeyIndexes: Uint32Array;
  private timestampsMs: Float64Array;
  private values: Float64Array;
  private isInteger: Uint8Array;
  /** Exact int64 values beyond ±2^53, by point position (rare). */
  private readonly bigInts = new Map<number, bigint>();
  private count = 0;

  /** `expectedPoints` sizes the columns up front (they grow past it if needed):
   *  a one-point put should not allocate room for a thousand. `seriesIdOf`
   *  names the id of a series the proposing node's state machine holds
   *  (undefined when none): such series are referred to by id (version 2). */
  constructor(
    limits: Partial<WriteBatchLimits> = {},
    expectedPoints = 1024,
    private readonly seriesIdOf: SeriesIdResolver | null = null,
    /** Dedupes series given by id without hashing keys; null: by key. */
    private readonly idSlots: SeriesIdSlots | null = null,
  ) {
    idSlots?.begin();
    this.limits = { ...DEFAULT_WRITE_BATCH_LIMITS, ...limits };
    assert(this.limits.maxPoints >= 1 && this.limits.maxSeriesKeys >= 1 && this.limits.maxBytes >= 64, 'write batch limits must be positive');
    this.maxPoints = this.limits.maxPoints;
    const initial = Math.max(1, Math.min(this.limits.maxPoints, expectedPoints));
    this.seriesKeyIndexes = new Uint32Array(initial);
    this.timestampsMs = new Float64Array(initial);
    this.values = new Float64Array(initial);
    this.isInteger = new Uint8Array(initial);
  }

  get pointCount(): number {
    return this.count;
  }

  get seriesKeyCount(): number {
    return this.seriesKeys.length;
  }

  private grow(): void {
    const capacity = Math.min(this.limits.maxPoints, this.timestampsMs.length * 2);
    const keyIndexes = new Uint32Array(capacity);
    keyIndexes.set(this.seriesKeyIndexes);
    const timestamps = new Float64Array(capacity);
    timestamps.set(this.timestampsMs);
    const values = new Float64Array(capacity);
    values.set(this.values);
    const isInteger = new Uint8Array(capacity);
    isInteger.set(this.isInteger);
    this.seriesKeyIndexes = keyIndexes;
    this.timestampsMs = timestamps;
    this.values = values;
    this.isInteger = isInteger;
  }

  /** The batch's index of a series, added on first use. `seriesId` ≥ 0:
   *  the series exists with that id in the proposing node's state machine,
   *  and the batch refers to it by id (version 2); -1: by its key; absent:
   *  as the builder's resolver says. Add a series only with a point to
   *  follow: every series of a batch is created when applied, points or not. */
  seriesIndexOf(seriesKey: string, seriesId?: number): number {
    // With id slots, a series given by id is found by its id alone (a
    // builder is given a series consistently: always by id once it has one).
    const byId = seriesId !== undefined && seriesId >= 0 && this.idSlots !== null;
    let keyIndex = byId ? this.idSlots!.get(seriesId!) : (this.keyIndexByKey.get(seriesKey) ?? -1);
    if (keyIndex >= 0) return keyIndex;
    if (seriesId === undefined) seriesId = this.seriesIdOf?.(seriesKey) ?? -1;
    if (!(Number.isInteger(seriesId) && seriesId >= -1 && seriesId <= MAX_SERIES_ID)) throw new AssertionError(`series id ${seriesId} out of range`);
    if (this.seriesKeys.length >= this.limits.maxSeriesKeys) throw tooLarge('maxSeriesKeys', this.limits.maxSeriesKeys, this.seriesKeys.length + 1);
    keyIndex = this.seriesKeys.length;
    this.seriesKeys.push(seriesKey);
    this.seriesIds.push(seriesId);
    if (seriesId >= 0) this.referencesById = true;
    if (byId) this.idSlots!.set(seriesId, keyIndex);
    else this.keyIndexByKey.set(seriesKey, keyIndex);
    return keyIndex;
  }

  /** Adds an already validated point (see validate.ts); returns its position.
   *  Throws TSR_ERR_BATCH_TOO_LARGE when a bound would be exceeded. */
  addPoint(seriesKey: string, timestampMs: number, value: number, isInteger: boolean, bigInt: bigint | null): number {
    if (this.count >= this.limits.maxPoints) throw tooLarge('maxPoints', this.limits.maxPoints, this.count + 1);
    return this.addPointOf(this.seriesIndexOf(seriesKey), timestampMs, value, isInteger, bigInt);
  }

  /** addPoint() for a series already added (seriesIndexOf): no key lookup per point. */
  addPointOf(keyIndex: number, timestampMs: number, value: number, isInteger: boolean, bigInt: bigint | null): number {
    if (!(Number.isInteger(timestampMs) && timestampMs >= MIN_TIMESTAMP_MS && timestampMs <= MAX_TIMESTAMP_MS)) throw new AssertionError(`timestamp ${timestampMs} was not validated`);
    assert(Number.isFinite(value) && (isInteger || bigInt === null), 'value was not validated');
    if (!(!isInteger || (Number.isInteger(value) && (Math.abs(value) <= 2 ** 53 || bigInt !== null)))) throw new AssertionError(`integer ${value} beyond 2^53 needs its exact bigint`);
    if (!(keyIndex >= 0 && keyIndex < this.seriesKeys.length)) throw new AssertionError(`series index ${keyIndex} was not added`);
    if (this.count >= this.limits.maxPoints) throw tooLarge('maxPoints', this.limits.maxPoints, this.count + 1);
    if (this.count === this.timestampsMs.length) this.grow();
    const i = this.count++;
    this.seriesKeyIndexes[i] = keyIndex;
    this.timestampsMs[i] = timestampMs;
    this.values[i] = value;
    this.isInteger[i] = isInteger ? 1 : 0;
    if (bigInt !== null) this.bigInts.set(i, bigInt);
    return i;
  }

  /** The encoded batch. Throws TSR_ERR_BATCH_TOO_LARGE beyond maxBytes. */
  encode(): Uint8Array {
    const n = this.count;
    const w = new ByteWriter(64 + n * 12 + this.seriesKeys.length * 32);
    const keyCount = this.seriesKeys.length;
    if (this.referencesById) {
      w.u8(WRITE_BATCH_VERSION_SERIES_IDS);
      w.varuint(keyCount);
      for (let k = 0; k < keyCount; k++) {
        const id = this.seriesIds[k]!;
        if (id >= 0) {
          w.varuint(id + 1);
        } else {
          w.u8(0);
          w.string(this.seriesKeys[k]!);
        }
      }
    } else {
      w.u8(WRITE_BATCH_VERSION);
      w.varuint(keyCount);
      for (let k = 0; k < keyCount; k++) w.string(this.seriesKeys[k]!);
    }
    w.varuint(n);
    for (let i = 0; i < n; i++) w.varuint(this.seriesKeyIndexes[i]!);
    let previous = 0;
    for (let i = 0; i < n; i++) {
      const ts = this.timestampsMs[i]!;
      w.varint(ts - previous);
      previous = ts;
    }
    for (let byte = 0; byte < n; byte += 8) {
      let bits = 0;
      for (let bit = 0; bit < 8 && byte + bit < n; bit++) bits |= this.isInteger[byte + bit]! << bit;
      w.u8(bits);
    }
    const hasBigInts = this.bigInts.size > 0;
    for (let i = 0; i < n; i++) {
      if (this.isInteger[i] === 1) w.varintExact(this.values[i]!, hasBigInts ? (this.bigInts.get(i) ?? null) : null);
      else w.f64le(this.values[i]!);
    }
    w.crc32c();
    if (w.lengthBytes > this.limits.maxBytes) throw tooLarge('maxBytes', this.limits.maxBytes, w.lengthBytes);
    return w.finish();
  }
}

const TWO_POW_53 = 2 ** 53;

/** Decodes a batch into columns. Verifies the checksum first, then every
 *  structural bound; a failure is TSR_ERR_CORRUPT_ENTRY (or
 *  TSR_ERR_UNSUPPORTED_ENTRY for an unknown version). */
export function decodeWriteBatch(bytes: Uint8Array, limits: Partial<WriteBatchLimits> = {}): DecodedWriteBatch {
  const bounds = { ...DEFAULT_WRITE_BATCH_LIMITS, ...limits };
  if (bytes.length < 5) {
    throw new TsraftError('TSR_ERR_CORRUPT_ENTRY', `write batch of ${bytes.length} bytes is too short`, { details: { reason: 'truncated' } });
  }
  // Check the CRC over everything but the trailing 4 bytes before reading fields.
  const crcReader = new ByteReader(bytes, 'TSR_ERR_CORRUPT_ENTRY', 'write batch', bytes.length - 4);
  crcReader.expectCrc32c(0, 'write batch crc32c');

  const r = new ByteReader(bytes, 'TSR_ERR_CORRUPT_ENTRY', 'write batch', 0, bytes.length - 4);
  const version = r.u8('version');
  if (version !== WRITE_BATCH_VERSION && version !== WRITE_BATCH_VERSION_SERIES_IDS) {
    throw new TsraftError('TSR_ERR_UNSUPPORTED_ENTRY', `write batch version ${version} is not supported (this build reads ${WRITE_BATCH_VERSION} and ${WRITE_BATCH_VERSION_SERIES_IDS})`, {
      details: { version },
    });
  }
  const keyCount = r.varuintAtMost(Math.min(bounds.maxSeriesKeys, r.remainingBytes), 'seriesKeyCount');
  const seriesKeys = new Array<string>(keyCount);
  const seriesIds = new Int32Array(keyCount).fill(-1);
  if (version === WRITE_BATCH_VERSION) {
    for (let k = 0; k < keyCount; k++) seriesKeys[k] = r.string(MAX_SERIES_KEY_BYTES, 'series key');
  } else {
    for (let k = 0; k < keyCount; k++) {
      const ref = r.varuintAtMost(MAX_SERIES_ID + 1, 'series ref');
      if (ref === 0) {
        seriesKeys[k] = r.string(MAX_SERIES_KEY_BYTES, 'series key');
      } else {
        seriesKeys[k] = '';
        seriesIds[k] = ref - 1;
      }
    }
  }
  // Each point needs at least 3 bytes (key index, timestamp, value), which
  // also bounds the allocation below by the input size.
  const n = r.varuintAtMost(Math.min(bounds.maxPoints, Math.floor(r.remainingBytes / 3)), 'pointCount');
  if (n > 0 && keyCount === 0) throw r.corrupt('points without series keys');

  const seriesKeyIndexes = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const k = r.varuint('series key index');
    if (k >= keyCount) throw r.corrupt(`series key index ${k} ≥ ${keyCount}`);
    seriesKeyIndexes[i] = k;
  }
  const timestampsMs = new Float64Array(n);
  let ts = 0;
  for (let i = 0; i < n; i++) {
    ts += r.varint('timestamp delta');
    if (ts < MIN_TIMESTAMP_MS || ts > MAX_TIMESTAMP_MS) throw r.corrupt(`timestamp ${ts} outside the stored range`);
    timestampsMs[i] = ts;
  }
  const isInteger = new Uint8Array(n);
  const bitmap = r.bytesView(Math.ceil(n / 8), 'type bitmap');
  for (let i = 0; i < n; i++) isInteger[i] = (bitmap[i >>> 3]! >>> (i & 7)) & 1;
  const values = new Float64Array(n);
  let bigInts: BigInt64Array | null = null;
  for (let i = 0; i < n; i++) {
    if (isInteger[i] === 1) {
      const v = r.varintExact('int64 value');
      if (typeof v === 'bigint') {
        if (v < -(2n ** 63n) || v >= 2n ** 63n) throw r.corrupt(`int64 value ${v} out of range`);
        const asNumber = Number(v);
        values[i] = asNumber;
        if (Math.abs(asNumber) > TWO_POW_53) {
          if (bigInts === null) bigInts = new BigInt64Array(n);
          bigInts[i] = v;
        }
      } else {
        values[i] = v;
      }
    } else {
      const v = r.f64le('float64 value');
      if (!Number.isFinite(v)) throw r.corrupt(`non-finite value ${v}`);
      values[i] = v;
    }
  }
  r.expectEnd();
  if (bigInts !== null) {
    // Fill the exact column for every integer so readers can use it uniformly.
    for (let i = 0; i < n; i++) if (isInteger[i] === 1 && Math.abs(values[i]!) <= TWO_POW_53) bigInts[i] = BigInt(values[i]!);
  }
  assert(seriesKeyIndexes.length === n && values.length === n && seriesIds.length === keyCount, 'decoded columns differ in length');
  return { seriesKeys, seriesIds, seriesKeyIndexes, columns: { length: n, timestampsMs, values, isInteger, bigInts } };
}
