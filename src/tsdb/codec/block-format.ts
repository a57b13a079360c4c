// A sealed block: one series' points of one time block, encoded. Header
// (version, count, time range, encodings), payloads, CRC-32C. The layout is
// docs/segment-format.md; this file only frames the payloads the per-encoding
// files produce and checks everything on the way back in.
import { TsraftError, assert } from '../../errors.js';
import type { PointColumns } from '../points.js';
import { ByteReader, ByteWriter } from './byte-buffer.js';
import { corruptSegment } from './corrupt.js';
import { crc32c } from './crc32c.js';
import { FLAGS_RUNS, decodeIntegerFlags, encodeIntegerFlagRuns, integerFlagsMode, FLAGS_ALL_INTEGER } from './integer-flags.js';
import {
  MAX_TIMESTAMP_MAGNITUDE_MS,
  TIMESTAMP_ENCODING_REGULAR,
  TIMESTAMP_ENCODING_SEQUENCE,
  decodeTimestamps,
  encodeTimestamps,
  isValidTimestampMs,
  regularTimestamps,
} from './timestamp-codec.js';
import { MAX_VALUE_ENCODING, decodeValues, encodeValues } from './value-codec.js';

export const BLOCK_FORMAT_VERSION = 1;
/** Most points one block may hold. */
export const MAX_BLOCK_POINTS = 1 << 24;
const CRC_BYTES = 4;
const MIN_BLOCK_BYTES = 1 + 1 + 1 + 1 + 1 + 1 + CRC_BYTES;
const TWO_POW_63 = 2 ** 63;

export interface BlockHeader {
  pointCount: number;
  minTimestampMs: number;
  maxTimestampMs: number;
}

function invalid(message: string, details: Record<string, unknown>): TsraftError {
  return new TsraftError('TSR_ERR_INVALID_ARGUMENT', message, { details });
}

/** Checks cols[start, end) can be encoded exactly; returns the time range. */
function validatePoints(cols: PointColumns, start: number, end: number): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  const { timestampsMs, values, isInteger, bigInts } = cols;
  // One tight pass with plain comparisons (this runs on every seal); the
  // slow checks only run for the point that fails.
  let bad = -1;
  for (let i = start; i < end; i++) {
    const ts = timestampsMs[i]!;
    const v = values[i]!;
    const flag = isInteger[i]!;
    if (!(ts >= -MAX_TIMESTAMP_MAGNITUDE_MS && ts <= MAX_TIMESTAMP_MAGNITUDE_MS) || ts !== Math.floor(ts) || v - v !== 0 || flag > 1) {
      bad = i;
      break;
    }
    if (ts < min) min = ts;
    if (ts > max) max = ts;
    if (flag === 1) {
      if (bigInts !== null ? Number(bigInts[i]!) !== v : v !== Math.floor(v) || Math.abs(v) >= TWO_POW_63) {
        bad = i;
        break;
      }
    }
  }
  if (bad >= 0) throw describeInvalidPoint(cols, bad);
  return { min, max };
}

function describeInvalidPoint(cols: PointColumns, i: number): TsraftError {
  const ts = cols.timestampsMs[i]!;
  const v = cols.values[i]!;
  const flag = cols.isInteger[i]!;
  if (!isValidTimestampMs(ts)) return invalid(`timestamp ${ts} is not an integer millisecond within ±2^48`, { index: i, timestampMs: ts });
  if (!Number.isFinite(v)) return invalid(`value ${v} is not finite`, { index: i });
  if (flag > 1) return invalid(`isInteger flag must be 0 or 1, got ${flag}`, { index: i });
  if (cols.bigInts !== null) return invalid(`integer value ${v} disagrees with its exact value ${cols.bigInts[i]}`, { index: i });
  return invalid(`integer point has value ${v}, not an int64`, { index: i });
}

/** Encodes points [start, end) of cols (any order; normally sorted and unique). */
export function encodeBlock(cols: PointColumns, start = 0, end = cols.length): Uint8Array {
  const n = end - start;
  assert(start >= 0 && end <= cols.length, 'block range outside the columns');
  if (n < 1 || n > MAX_BLOCK_POINTS) throw invalid(`a block holds 1 to ${MAX_BLOCK_POINTS} points, got ${n}`, { pointCount: n });
  const { min, max } = validatePoints(cols, start, end);
  const timestampsMs = cols.timestampsMs.subarray(start, end);
  const values = cols.values.subarray(start, end);
  const isInteger = cols.isInteger.subarray(start, end);
  const bigInts = cols.bigInts === null ? null : cols.bigInts.subarray(start, end);

  const flagsMode = integerFlagsMode(isInteger, n);
  const timestampWriter = new ByteWriter(64);
  const timestampEncoding = encodeTimestamps(timestampsMs, n, min, timestampWriter);
  const encodedValues = encodeValues(values, isInteger, bigInts, n, flagsMode === FLAGS_ALL_INTEGER);

  const w = new ByteWriter(32 + timestampWriter.length + encodedValues.bytes.length);
  w.u8(BLOCK_FORMAT_VERSION);
  w.varint(n);
  w.svarint(min);
  w.varint(max - min);
  w.u8(flagsMode | (timestampEncoding << 2) | (encodedValues.encoding << 4));
  if (flagsMode === FLAGS_RUNS) {
    const flagsWriter = new ByteWriter(16);
    encodeIntegerFlagRuns(isInteger, n, flagsWriter);
    w.varint(flagsWriter.length);
    w.bytes(flagsWriter.view());
  }
  if (timestampEncoding === TIMESTAMP_ENCODING_SEQUENCE) {
    w.varint(timestampWriter.length);
    w.bytes(timestampWriter.view());
  }
  w.bytes(encodedValues.bytes);
  w.u32le(crc32c(w.view()));
  return w.finish();
}

/** Throws TSR_ERR_CORRUPT_SEGMENT unless the block's checksum matches. */
export function verifyBlockChecksum(bytes: Uint8Array): void {
  if (bytes.length < MIN_BLOCK_BYTES) throw corruptSegment(`block of ${bytes.length} bytes is too short`, { byteLength: bytes.length });
  const bodyEnd = bytes.length - CRC_BYTES;
  const stored = new ByteReader(bytes, bodyEnd).u32le('block checksum');
  const computed = crc32c(bytes, 0, bodyEnd);
  if (stored !== computed) throw corruptSegment('block checksum mismatch', { stored, computed });
}

interface ParsedHeader extends BlockHeader {
  flagsMode: number;
  timestampEncoding: number;
  valueEncoding: number;
  reader: ByteReader;
}

function parseHeader(bytes: Uint8Array): ParsedHeader {
  const r = new ByteReader(bytes, 0, bytes.length - CRC_BYTES);
  const version = r.u8('version');
  if (version !== BLOCK_FORMAT_VERSION) throw corruptSegment(`unsupported block format version ${version}`, { version });
  const pointCount = r.varint('point count');
  if (pointCount < 1 || pointCount > MAX_BLOCK_POINTS) throw corruptSegment(`block point count ${pointCount} out of range`, { pointCount });
  const minTimestampMs = r.svarint('min timestamp');
  const rangeMs = r.varint('time range');
  const maxTimestampMs = minTimestampMs + rangeMs;
  if (Math.abs(minTimestampMs) > MAX_TIMESTAMP_MAGNITUDE_MS || Math.abs(maxTimestampMs) > MAX_TIMESTAMP_MAGNITUDE_MS) {
    throw corruptSegment('block time range outside ±2^48 ms', { minTimestampMs, rangeMs });
  }
  const encodings = r.u8('encodings');
  const flagsMode = encodings & 0b11;
  const timestampEncoding = (encodings >>> 2) & 0b11;
  const valueEncoding = (encodings >>> 4) & 0b111;
  if ((encodings & 0x80) !== 0 || flagsMode > FLAGS_RUNS || timestampEncoding > TIMESTAMP_ENCODING_REGULAR || valueEncoding > MAX_VALUE_ENCODING) {
    throw corruptSegment('block names an unknown encoding', { encodings });
  }
  return { pointCount, minTimestampMs, maxTimestampMs, flagsMode, timestampEncoding, valueEncoding, reader: r };
}

/** Verifies the checksum and returns the header, without decoding the payloads. */
export function readBlockHeader(bytes: Uint8Array): BlockHeader {
  verifyBlockChecksum(bytes);
  const { pointCount, minTimestampMs, maxTimestampMs } = parseHeader(bytes);
  return { pointCount, minTimestampMs, maxTimestampMs };
}

/** Decodes a whole block, verifying checksum and structure. */
export function decodeBlock(bytes: Uint8Array): PointColumns {
  verifyBlockChecksum(bytes);
  const h = parseHeader(bytes);
  const r = h.reader;
  const n = h.pointCount;
  const isInteger = new Uint8Array(n);
  if (h.flagsMode === FLAGS_RUNS) {
    const length = r.varint('flags length');
    const flagsReader = new ByteReader(bytes, r.pos, r.pos + Math.min(length, r.remaining), 'integer flags');
    r.bytes(length, 'integer flags');
    decodeIntegerFlags(h.flagsMode, flagsReader, n, isInteger);
  } else {
    decodeIntegerFlags(h.flagsMode, null, n, isInteger);
  }
  const timestampsMs = new Float64Array(n);
  if (h.timestampEncoding === TIMESTAMP_ENCODING_REGULAR) {
    if (n > 1 && !Number.isInteger((h.maxTimestampMs - h.minTimestampMs) / (n - 1))) throw corruptSegment('regular timestamps do not divide the time range', { pointCount: n });
    regularTimestamps(n, h.minTimestampMs, h.maxTimestampMs, timestampsMs);
  } else {
    const timestampLength = r.varint('timestamp payload length');
    const timestampStart = r.pos;
    r.bytes(timestampLength, 'timestamp payload');
    decodeTimestamps(h.timestampEncoding, new ByteReader(bytes, timestampStart, r.pos, 'timestamps'), n, h.minTimestampMs, timestampsMs);
  }
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const ts = timestampsMs[i]!;
    if (!Number.isInteger(ts)) throw corruptSegment('decoded timestamp is not an integer', { index: i });
    if (ts < min) min = ts;
    if (ts > max) max = ts;
  }
  if (min !== h.minTimestampMs || max !== h.maxTimestampMs) {
    throw corruptSegment('decoded timestamps do not match the block time range', { minTimestampMs: h.minTimestampMs, maxTimestampMs: h.maxTimestampMs });
  }
  const values = new Float64Array(n);
  const bigInts = decodeValues(h.valueEncoding, bytes, r.pos, r.end, n, isInteger, values);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v) || (isInteger[i] === 1 && !Number.isInteger(v))) {
      throw corruptSegment('decoded value is not valid for its type', { index: i });
    }
  }
  return { length: n, timestampsMs, values, isInteger, bigInts };
}
