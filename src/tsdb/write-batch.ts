// The binary columnar write batch: encoded once by the leader, carried in a
// log entry, decoded by every replica straight into typed-array columns (no
// per-point objects). Layout (docs/tsdb-commands.md, "Write batch"):
//
//   u8      version (1)
//   varuint seriesKeyCount, then each canonical series key as varuint length + UTF-8
//   varuint pointCount
//   pointCount × varuint  series key index
//   pointCount × zigzag varint  timestamp ms (first absolute, then deltas)
//   ceil(pointCount / 8) bytes  type bitmap (bit i%8 of byte i/8: 1 = int64)
//   pointCount values: int64 as zigzag varint, float64 as 8 bytes LE
//   u32 LE  CRC32C of every byte before it
import { AssertionError, TsraftError, assert } from '../errors.js';
import { ByteReader, ByteWriter } from './byte-io.js';
import type { PointColumns } from './points.js';
import { MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, type PointSink } from './validate.js';

export const WRITE_BATCH_VERSION = 1;
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
  /** Canonical series keys (`metric{k=v,...}`), as written by the leader. */
  seriesKeys: string[];
  /** seriesKeyIndexes[i] = index into seriesKeys of point i. */
  seriesKeyIndexes: Uint32Array;
  columns: PointColumns;
}

function tooLarge(limit: keyof WriteBatchLimits, bound: number, actual: number): TsraftError {
  return new TsraftError('TSR_ERR_BATCH_TOO_LARGE', `write batch exceeds ${limit} (${actual} > ${bound})`, {
    details: { limit, [limit]: bound, actual },
  });
}

/** Collects points on the leader, then encodes them once. */
export class WriteBatchBuilder implements PointSink {
  readonly maxPoints: number;
  private readonly limits: WriteBatchLimits;
  private readonly keyIndexByKey = new Map<string, number>();
  private readonly seriesKeys: string[] = [];
  private seriesKeyIndexes: Uint32Array;
  private timestampsMs: Float64Array;
  private values: Float64Array;
  private isInteger: Uint8Array;
  /** Exact int64 values beyond ±2^53, by point position (rare). */
  private readonly bigInts = new Map<number, bigint>();
  private count = 0;

  /** `expectedPoints` sizes the columns up front (they grow past it if needed):
   *  a one-point put should not allocate room for a thousand. */
  constructor(limits: Partial<WriteBatchLimits> = {}, expectedPoints = 1024) {
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

  /** Adds an already validated point (see validate.ts); returns its position.
   *  Throws TSR_ERR_BATCH_TOO_LARGE when a bound would be exceeded. */
  addPoint(seriesKey: string, timestampMs: number, value: number, isInteger: boolean, bigInt: bigint | null): number {
    if (!(Number.isInteger(timestampMs) && timestampMs >= MIN_TIMESTAMP_MS && timestampMs <= MAX_TIMESTAMP_MS)) throw new AssertionError(`timestamp ${timestampMs} was not validated`);
    assert(Number.isFinite(value) && (isInteger || bigInt === null), 'value was not validated');
    if (!(!isInteger || (Number.isInteger(value) && (Math.abs(value) <= 2 ** 53 || bigInt !== null)))) throw new AssertionError(`integer ${value} beyond 2^53 needs its exact bigint`);
    if (this.count >= this.limits.maxPoints) throw tooLarge('maxPoints', this.limits.maxPoints, this.count + 1);
    let keyIndex = this.keyIndexByKey.get(seriesKey);
    if (keyIndex === undefined) {
      if (this.seriesKeys.length >= this.limits.maxSeriesKeys) throw tooLarge('maxSeriesKeys', this.limits.maxSeriesKeys, this.seriesKeys.length + 1);
      keyIndex = this.seriesKeys.length;
      this.seriesKeys.push(seriesKey);
      this.keyIndexByKey.set(seriesKey, keyIndex);
    }
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
    w.u8(WRITE_BATCH_VERSION);
    w.varuint(this.seriesKeys.length);
    for (const key of this.seriesKeys) w.string(key);
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
    for (let i = 0; i < n; i++) {
      if (this.isInteger[i] === 1) w.varintExact(this.values[i]!, this.bigInts.get(i) ?? null);
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
  if (version !== WRITE_BATCH_VERSION) {
    throw new TsraftError('TSR_ERR_UNSUPPORTED_ENTRY', `write batch version ${version} is not supported (this build reads ${WRITE_BATCH_VERSION})`, {
      details: { version },
    });
  }
  const keyCount = r.varuintAtMost(Math.min(bounds.maxSeriesKeys, r.remainingBytes), 'seriesKeyCount');
  const seriesKeys = new Array<string>(keyCount);
  for (let k = 0; k < keyCount; k++) seriesKeys[k] = r.string(MAX_SERIES_KEY_BYTES, 'series key');
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
  assert(seriesKeyIndexes.length === n && values.length === n, 'decoded columns differ in length');
  return { seriesKeys, seriesKeyIndexes, columns: { length: n, timestampsMs, values, isInteger, bigInts } };
}
