// JSON for client input and output that keeps numbers exact. Reading is
// src/tsdb/json-reader.ts (pure, shared with the query parser); writing,
// which needs a per-process nonce from node:crypto, is here.
import { randomBytes } from 'node:crypto';

export { JsonNumberText, readJson, type JsonNumberMode, type JsonReadOptions } from '../tsdb/json-reader.js';

// A per-process nonce: a client string cannot collide with the marker.
const BIGINT_NONCE = randomBytes(8).toString('hex');
const BIGINT_MARK = `\u0000${BIGINT_NONCE}:`;
const BIGINT_MARKER_RE = new RegExp(`"\\\\u0000${BIGINT_NONCE}:(-?[0-9]+)"`, 'g');

/** JSON text in which bigints are exact integer literals and non-finite
 *  numbers are the strings "NaN", "Infinity", "-Infinity" (as OpenTSDB writes them). */
export function writeJson(value: unknown): string {
  let sawBigInt = false;
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') {
      sawBigInt = true;
      return BIGINT_MARK + v.toString();
    }
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    return v;
  });
  if (!sawBigInt) return text;
  // JSON.stringify writes U+0000 as the six characters \u0000.
  return text.replace(BIGINT_MARKER_RE, '$1');
}
