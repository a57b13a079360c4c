// Exact JSON for /api/query bodies: JSON.parse turns 9223372036854775807 (a
// counterMax) into 9223372036854775808; this returns a bigint for every
// integer literal beyond ±2^53 and a number otherwise (src/tsdb/json-reader.ts).
import { readJson } from '../json-reader.js';

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

/** Deepest array/object nesting accepted. */
export const MAX_JSON_DEPTH = 64;
/** Longest body accepted, in UTF-16 code units. */
export const MAX_JSON_CHARS = 1 << 20;

/** Malformed text fails with TSR_ERR_INVALID_QUERY (details.part 'body', details.offset). */
export function parseJsonExact(text: string): JsonValue {
  return readJson(text, { numbers: 'exact', maxChars: MAX_JSON_CHARS, maxDepth: MAX_JSON_DEPTH, errorCode: 'TSR_ERR_INVALID_QUERY', errorDetails: { part: 'body' } }) as JsonValue;
}
