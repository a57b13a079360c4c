// Reading a benchmark's JSON result file without trusting its shape: every
// field the harness uses is looked up through a JsonReader, which names the
// file and the path of a missing or mistyped field instead of letting an
// `undefined` slip into the summary as "NaN".
import type { Spread } from './figures.js';

/** A result file the harness cannot use (absent field, wrong type, bad JSON). */
export class ResultFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResultFormatError';
  }
}

export class JsonReader {
  constructor(
    readonly value: unknown,
    /** The file the value came from, for messages. */
    readonly file: string,
    /** JSON path of `value` inside the file ("" for the root). */
    readonly path = '',
  ) {}

  static parse(text: string, file: string): JsonReader {
    try {
      return new JsonReader(JSON.parse(text) as unknown, file);
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      throw new ResultFormatError(`${file}: not JSON (${error.message})`);
    }
  }

  private where(key: string | number): string {
    return typeof key === 'number' ? `${this.path}[${key}]` : this.path === '' ? key : `${this.path}.${key}`;
  }

  private fail(key: string | number, what: string): never {
    throw new ResultFormatError(`${this.file}: ${this.where(key)} ${what}`);
  }

  private object(): Record<string, unknown> {
    if (typeof this.value !== 'object' || this.value === null || Array.isArray(this.value)) {
      throw new ResultFormatError(`${this.file}: ${this.path === '' ? 'the file' : this.path} is not an object`);
    }
    return this.value as Record<string, unknown>;
  }

  /** Whether the field exists and is not null. */
  has(key: string): boolean {
    const v = this.object()[key];
    return v !== undefined && v !== null;
  }

  get(key: string): JsonReader {
    const v = this.object()[key];
    if (v === undefined) this.fail(key, 'is missing');
    return new JsonReader(v, this.file, this.where(key));
  }

  /** The field, or null when it is absent or null. */
  optional(key: string): JsonReader | null {
    return this.has(key) ? this.get(key) : null;
  }

  num(key: string): number {
    const v = this.object()[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, `is not a finite number (${JSON.stringify(v)})`);
    return v;
  }

  str(key: string): string {
    const v = this.object()[key];
    if (typeof v !== 'string') this.fail(key, `is not a string (${JSON.stringify(v)})`);
    return v;
  }

  bool(key: string): boolean {
    const v = this.object()[key];
    if (typeof v !== 'boolean') this.fail(key, `is not a boolean (${JSON.stringify(v)})`);
    return v;
  }

  items(key: string): JsonReader[] {
    const v = this.object()[key];
    if (!Array.isArray(v)) this.fail(key, 'is not an array');
    return v.map((item, i) => new JsonReader(item, this.file, `${this.where(key)}[${i}]`));
  }

  keys(): string[] {
    return Object.keys(this.object());
  }

  /** A `{median, min, max, runs}` object (the shape bench/lib.ts' stats() writes). */
  spread(key: string): Spread {
    const s = this.get(key);
    const spread = { median: s.num('median'), min: s.num('min'), max: s.num('max'), runs: s.num('runs') };
    if (!(spread.min <= spread.median && spread.median <= spread.max) || spread.runs < 1) {
      throw new ResultFormatError(`${this.file}: ${this.where(key)} is not a spread (min ${spread.min}, median ${spread.median}, max ${spread.max}, runs ${spread.runs})`);
    }
    return spread;
  }
}
