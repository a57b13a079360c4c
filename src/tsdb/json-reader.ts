// A JSON reader for client input that keeps numbers exact, which JSON.parse
// cannot: in `exact` mode integers beyond ±2^53 become bigints (counters near
// 2^63 and a query's counterMax survive); in `literal` mode a number whose JS
// value would lose its OpenTSDB meaning (an integer beyond ±2^53, or a float
// literal with an integral value such as 42.0 or 1e3) is returned as a
// JsonNumberText holding its source text, so /api/put can tell "42.0" (a
// float in OpenTSDB) from "42" (an int64), as OpenTSDB's Jackson-to-String
// binding does; other numbers are plain numbers. A "__proto__" key stays
// plain data (never the prototype). Everything else follows RFC 8259.
// Bounded: nesting depth and input length, so a hostile body cannot exhaust
// the stack; errors name the offset.
//
// Pure (no I/O), so both src/tsdb (query bodies) and src/api (put bodies,
// client frames) read JSON with this one reader.
import { TsraftError } from '../errors.js';

export class JsonNumberText {
  constructor(readonly text: string) {}
  /** True when the literal has no fraction or exponent. */
  get isInteger(): boolean {
    return !/[.eE]/.test(this.text);
  }
  toNumber(): number {
    return Number(this.text);
  }
}

export type JsonNumberMode = 'exact' | 'literal';

export interface JsonReadOptions {
  numbers: JsonNumberMode;
  /** Longest input, UTF-16 units. */
  maxChars: number;
  /** Deepest nesting of arrays and objects. */
  maxDepth: number;
  /** Error code thrown for malformed input; default TSR_ERR_INVALID_ARGUMENT. */
  errorCode?: 'TSR_ERR_INVALID_ARGUMENT' | 'TSR_ERR_BAD_FRAME' | 'TSR_ERR_INVALID_QUERY';
  /** Fields added to the error's details (beside reason and offset). */
  errorDetails?: Record<string, unknown>;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

export function readJson(text: string, options: JsonReadOptions): unknown {
  const reader = new Reader(text, options);
  if (text.length > options.maxChars) reader.fail(`input is longer than ${options.maxChars} characters`, options.maxChars);
  reader.skipSpace();
  const value = reader.value(0);
  reader.skipSpace();
  if (reader.pos !== text.length) reader.fail('unexpected characters after the JSON value', reader.pos);
  return value;
}

class Reader {
  pos = 0;
  constructor(
    private readonly text: string,
    private readonly options: JsonReadOptions,
  ) {}

  fail(message: string, at: number): never {
    throw new TsraftError(this.options.errorCode ?? 'TSR_ERR_INVALID_ARGUMENT', `invalid JSON at offset ${at}: ${message}`, {
      details: { ...this.options.errorDetails, reason: 'invalid_json', offset: at },
    });
  }

  skipSpace(): void {
    const t = this.text;
    let p = this.pos;
    while (p < t.length) {
      const c = t.charCodeAt(p);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      p++;
    }
    this.pos = p;
  }

  value(depth: number): unknown {
    if (depth > this.options.maxDepth) this.fail(`nesting deeper than ${this.options.maxDepth}`, this.pos);
    const c = this.text.charCodeAt(this.pos);
    switch (c) {
      case 0x7b: // {
        return this.object(depth);
      case 0x5b: // [
        return this.array(depth);
      case 0x22: // "
        return this.string();
      case 0x74: // t
        return this.word('true', true);
      case 0x66: // f
        return this.word('false', false);
      case 0x6e: // n
        return this.word('null', null);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
        return this.fail(Number.isNaN(c) ? 'unexpected end of input' : `unexpected character ${JSON.stringify(this.text[this.pos])}`, this.pos);
    }
  }

  private word<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail(`expected ${word}`, this.pos);
    this.pos += word.length;
    return value;
  }

  private number(): number | bigint | JsonNumberText {
    const start = this.pos;
    NUMBER.lastIndex = start;
    const match = NUMBER.exec(this.text);
    if (match === null || match[0] === '-') this.fail('malformed number', start);
    const literal = match[0];
    this.pos = start + literal.length;
    if (this.options.numbers === 'literal') {
      // A plain number when it means the same under OpenTSDB's rule (no '.',
      // 'e' or 'E': int64; otherwise float64), which is most of them.
      const n = Number(literal);
      const integerLiteral = match[1] === undefined && match[2] === undefined;
      if (integerLiteral ? Number.isSafeInteger(n) : Number.isFinite(n) && !Number.isInteger(n)) return n;
      return new JsonNumberText(literal);
    }
    if (match[1] === undefined && match[2] === undefined) {
      const n = Number(literal);
      return Number.isSafeInteger(n) ? n : BigInt(literal);
    }
    return Number(literal);
  }

  private string(): string {
    const t = this.text;
    let out = '';
    let chunk = ++this.pos;
    for (;;) {
      if (this.pos >= t.length) this.fail('unterminated string', this.pos);
      const c = t.charCodeAt(this.pos);
      if (c === 0x22) {
        out += t.slice(chunk, this.pos);
        this.pos++;
        return out;
      }
      if (c < 0x20) this.fail('control character in a string', this.pos);
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      out += t.slice(chunk, this.pos);
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
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape', this.pos);
          out += String.fromCharCode(parseInt(hex, 16));
          this.pos += 4;
          break;
        }
        default:
          this.fail('bad escape', this.pos - 1);
      }
      chunk = this.pos;
    }
  }

  private array(depth: number): unknown[] {
    const out: unknown[] = [];
    this.pos++;
    this.skipSpace();
    if (this.text.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipSpace();
      out.push(this.value(depth + 1));
      this.skipSpace();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 0x5d) return out;
      if (c !== 0x2c) this.fail("expected ',' or ']'", this.pos - 1);
    }
  }

  private object(depth: number): Record<string, unknown> {
    // A plain object (fast property access); "__proto__" is defined as data
    // below, never assigned, so it cannot replace the prototype.
    const out: Record<string, unknown> = {};
    this.pos++;
    this.skipSpace();
    if (this.text.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipSpace();
      if (this.text.charCodeAt(this.pos) !== 0x22) this.fail('expected a property name', this.pos);
      const key = this.string();
      this.skipSpace();
      if (this.text.charCodeAt(this.pos++) !== 0x3a) this.fail("expected ':'", this.pos - 1);
      this.skipSpace();
      const value = this.value(depth + 1);
      if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      else out[key] = value;
      this.skipSpace();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 0x7d) return out;
      if (c !== 0x2c) this.fail("expected ',' or '}'", this.pos - 1);
    }
  }
}
