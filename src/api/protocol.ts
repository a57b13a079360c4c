// Client WebSocket frames (docs/protocol.md). Shared by the node (src/api)
// and the client library (src/client), so it imports nothing of the server.
//
// Binary frame:  u8 version (1) | one CBOR data item | u32 LE CRC-32C of every byte before it
// Text frame:    one JSON object (UTF-8), no version byte or checksum (for
//                people and tools like wscat; the binary form is the fast one)
//
// Every client request is a map with `id` (integer 1..2^53−1, unique among
// the connection's unanswered requests) and `op`. Answers echo `id`; pushes
// (hello, subscription points) carry `push` instead.
import { Decoder, Encoder } from 'cbor-x';
import { TsraftError, rethrowIfBug } from '../errors.js';
import { crc32c } from '../tsdb/codec/crc32c.js';
import { readJson, writeJson } from './json-reader.js';

export const PROTOCOL_VERSION = 1;
/** WebSocket subprotocols: the first the server supports is chosen. */
export const SUBPROTOCOL_CBOR = 'tsraft.v1.cbor';
export const SUBPROTOCOL_JSON = 'tsraft.v1.json';
export const FRAME_TRAILER_BYTES = 4;
/** Deepest nesting accepted in a frame (CBOR or JSON). */
export const MAX_FRAME_DEPTH = 32;

export type FrameEncoding = 'cbor' | 'json';

// Plain CBOR maps decode to null-prototype-free plain objects; typed arrays
// (Float64Array columns) travel as RFC 8746 tags; no records or structured clone.
const encoder = new Encoder({ useRecords: false, tagUint8Array: false, mapsAsObjects: true, pack: false, structuredClone: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true, structuredClone: false });

export interface WireError {
  code: string;
  message: string;
  details: Record<string, unknown>;
}

export type FrameDecodeResult = { ok: true; message: Record<string, unknown> } | { ok: false; error: TsraftError };

function badFrame(reason: string, message: string): TsraftError {
  return new TsraftError('TSR_ERR_BAD_FRAME', message, { details: { reason } });
}

export function encodeBinaryFrame(message: unknown): Uint8Array {
  const body = encoder.encode(message);
  const frame = new Uint8Array(1 + body.length + FRAME_TRAILER_BYTES);
  frame[0] = PROTOCOL_VERSION;
  frame.set(body, 1);
  const crc = crc32c(frame.subarray(0, 1 + body.length));
  new DataView(frame.buffer, frame.byteOffset, frame.byteLength).setUint32(1 + body.length, crc, true);
  return frame;
}

export function encodeTextFrame(message: unknown): string {
  return writeJson(message);
}

export function encodeFrame(message: unknown, encoding: FrameEncoding): Uint8Array | string {
  return encoding === 'cbor' ? encodeBinaryFrame(message) : encodeTextFrame(message);
}

function depthOf(value: unknown, limit: number, depth = 0): number {
  if (depth > limit) return depth;
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return depth;
  let max = depth;
  const children = Array.isArray(value) ? value : Object.values(value);
  for (const child of children) {
    max = Math.max(max, depthOf(child, limit, depth + 1));
    if (max > limit) break;
  }
  return max;
}

function asMessage(value: unknown): FrameDecodeResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value) || value instanceof Map) {
    return { ok: false, error: badFrame('not_an_object', 'a frame must hold one map/object') };
  }
  return { ok: true, message: value as Record<string, unknown> };
}

export function decodeBinaryFrame(bytes: Uint8Array): FrameDecodeResult {
  if (bytes.length < 1 + 1 + FRAME_TRAILER_BYTES) return { ok: false, error: badFrame('truncated', `binary frame of ${bytes.length} bytes is too short`) };
  if (bytes[0] !== PROTOCOL_VERSION) {
    return { ok: false, error: badFrame('version', `binary frame version ${bytes[0]} is not supported (this node speaks ${PROTOCOL_VERSION})`) };
  }
  const bodyEnd = bytes.length - FRAME_TRAILER_BYTES;
  const expected = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(bodyEnd, true);
  if (crc32c(bytes.subarray(0, bodyEnd)) !== expected) return { ok: false, error: badFrame('checksum', 'binary frame checksum (CRC-32C) does not match') };
  let value: unknown;
  try {
    value = decoder.decode(bytes.subarray(1, bodyEnd));
  } catch (error) {
    // cbor-x reports malformed input with plain Errors (and RangeErrors on
    // hostile lengths): these are client bytes, not our bug.
    if (!(error instanceof RangeError)) rethrowIfBug(error);
    return { ok: false, error: badFrame('invalid_cbor', `frame is not valid CBOR: ${(error as Error).message}`) };
  }
  if (depthOf(value, MAX_FRAME_DEPTH) > MAX_FRAME_DEPTH) return { ok: false, error: badFrame('too_deep', `frame nests deeper than ${MAX_FRAME_DEPTH}`) };
  return asMessage(value);
}

export function decodeTextFrame(text: string, maxChars: number): FrameDecodeResult {
  let value: unknown;
  try {
    value = readJson(text, { numbers: 'exact', maxChars, maxDepth: MAX_FRAME_DEPTH, errorCode: 'TSR_ERR_BAD_FRAME' });
  } catch (error) {
    rethrowIfBug(error);
    return { ok: false, error: error as TsraftError };
  }
  return asMessage(value);
}

/** A TsraftError (or anything thrown) as the error object of an answer. */
export function wireErrorOf(error: unknown): WireError {
  if (error instanceof TsraftError) return { code: error.code, message: error.message, details: error.details };
  return { code: 'TSR_ERR_INTERNAL', message: error instanceof Error ? error.message : String(error), details: {} };
}

/** Largest request id (ids are JS-safe integers). */
export const MAX_REQUEST_ID = Number.MAX_SAFE_INTEGER;

export function isRequestId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

/** A best-effort request id from a frame that cannot be decoded whole (too
 *  large), so the error can still name the request. */
export function peekRequestId(data: Uint8Array | string): number | null {
  if (typeof data === 'string') {
    const m = /"id"\s*:\s*([0-9]{1,16})[,}\s]/.exec(data.slice(0, 256));
    const id = m === null ? NaN : Number(m[1]);
    return isRequestId(id) ? id : null;
  }
  // CBOR: version byte, a map header, then the key "id" (0x62 'i' 'd') and a uint.
  const b = data;
  let p = 1;
  const major = b[p]! >> 5;
  if (major !== 5) return null;
  const info = b[p]! & 0x1f;
  p += info < 24 ? 1 : info === 24 ? 2 : info === 25 ? 3 : info === 26 ? 5 : info === 31 ? 1 : 9;
  if (b[p] !== 0x62 || b[p + 1] !== 0x69 || b[p + 2] !== 0x64) return null;
  p += 3;
  const head = b[p];
  if (head === undefined || head >> 5 !== 0) return null;
  const small = head & 0x1f;
  let id: number;
  if (small < 24) id = small;
  else if (small === 24) id = b[p + 1] ?? -1;
  else if (small === 25) id = ((b[p + 1] ?? 0) << 8) | (b[p + 2] ?? 0);
  else if (small === 26) id = (((b[p + 1] ?? 0) << 24) >>> 0) + (((b[p + 2] ?? 0) << 16) | ((b[p + 3] ?? 0) << 8) | (b[p + 4] ?? 0));
  else return null;
  return isRequestId(id) ? id : null;
}
