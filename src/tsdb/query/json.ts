// A JSON reader for query bodies that keeps integers exact. JSON.parse turns
// 9223372036854775807 (a counterMax) into 9223372036854775808; this reader
// returns a bigint for every integer literal beyond ±2^53 and a number
// otherwise. Everything else follows RFC 8259. Bounded: nesting depth and
// input length are capped so a hostile body cannot exhaust the stack.
import { TsraftError } from '../../errors.js';

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

/** Deepest array/object nesting accepted. */
export const MAX_JSON_DEPTH = 64;
/** Longest body accepted, in UTF-16 code units. */
export const MAX_JSON_CHARS = 1 << 20;

function fail(message: string, at: number): never {
  throw new TsraftError('TSR_ERR_INVALID_QUERY', `Invalid JSON at offset ${at}: ${message}`, { details: { part: 'body', offset: at } });
}

export function parseJsonExact(text: string): JsonValue {
  if (text.length > MAX_JSON_CHARS) fail(`body longer than ${MAX_JSON_CHARS} characters`, MAX_JSON_CHARS);
  const reader = new Reader(text);
  reader.skipSpace();
  const value = reader.readValue(0);
  reader.skipSpace();
  if (reader.pos !== text.length) fail('unexpected trailing characters', reader.pos);
  return value;
}

class Reader {
  pos = 0;
  constructor(private readonly text: string) {}

  skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      this.pos++;
    }
  }

  readValue(depth: number): JsonValue {
    if (depth > MAX_JSON_DEPTH) fail(`nesting deeper than ${MAX_JSON_DEPTH}`, this.pos);
    const c = this.text[this.pos];
    switch (c) {
      case '{':
        return this.readObject(depth);
      case '[':
        return this.readArray(depth);
      case '"':
        return this.readString();
      case 't':
        return this.readWord('true', true);
      case 'f':
        return this.readWord('false', false);
      case 'n':
        return this.readWord('null', null);
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.readNumber();
        return fail(c === undefined ? 'unexpected end of input' : `unexpected character '${c}'`, this.pos);
    }
  }

  private readWord<T extends JsonValue>(word: string, value: T): T {
    if (this.text.startsWith(word, this.pos)) {
      this.pos += word.length;
      return value;
    }
    return fail(`expected '${word}'`, this.pos);
  }

  private readNumber(): number | bigint {
    const start = this.pos;
    const m = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
    m.lastIndex = start;
    const match = m.exec(this.text);
    if (match === null || match[0] === '-') fail('malformed number', start);
    this.pos = start + match[0].length;
    const literal = match[0];
    if (match[1] === undefined && match[2] === undefined) {
      const n = Number(literal);
      return Number.isSafeInteger(n) ? n : BigInt(literal);
    }
    return Number(literal);
  }

  private readString(): string {
    const t = this.text;
    let out = '';
    let chunkStart = ++this.pos;
    for (;;) {
      if (this.pos >= t.length) fail('unterminated string', this.pos);
      const c = t.charCodeAt(this.pos);
      if (c === 0x22) {
        out += t.slice(chunkStart, this.pos);
        this.pos++;
        return out;
      }
      if (c < 0x20) fail('control character in string', this.pos);
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      out += t.slice(chunkStart, this.pos);
      const e = t[this.pos + 1];
      this.pos += 2;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const hex = t.slice(this.pos, this.pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape', this.pos);
          out += String.fromCharCode(parseInt(hex, 16));
          this.pos += 4;
          break;
        }
        default:
          fail('bad escape', this.pos - 1);
      }
      chunkStart = this.pos;
    }
  }

  private readArray(depth: number): JsonValue[] {
    const out: JsonValue[] = [];
    this.pos++;
    this.skipSpace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipSpace();
      out.push(this.readValue(depth + 1));
      this.skipSpace();
      const c = this.text[this.pos++];
      if (c === ']') return out;
      if (c !== ',') fail("expected ',' or ']'", this.pos - 1);
    }
  }

  private readObject(depth: number): { [key: string]: JsonValue } {
    // A null-prototype object: keys like "__proto__" stay plain data.
    const out: { [key: string]: JsonValue } = Object.create(null) as { [key: string]: JsonValue };
    this.pos++;
    this.skipSpace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] !== '"') fail('expected a property name', this.pos);
      const key = this.readString();
      this.skipSpace();
      if (this.text[this.pos++] !== ':') fail("expected ':'", this.pos - 1);
      this.skipSpace();
      out[key] = this.readValue(depth + 1);
      this.skipSpace();
      const c = this.text[this.pos++];
      if (c === '}') return out;
      if (c !== ',') fail("expected ',' or '}'", this.pos - 1);
    }
  }
}
