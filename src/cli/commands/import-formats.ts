// Readers of the files `tsraft import` accepts, each a stream of records
// numbered by the line they start on (every bad record is reported with its
// line, never skipped silently):
//
//   put    telnet put lines: `put <metric> <ts> <value> <k=v>...` (the leading
//          `put` is optional, as in tcollector's output); # comments and blank
//          lines are skipped
//   json   OpenTSDB /api/put JSON: one array of point objects, or one object
//          per line (NDJSON), or objects one after another
//   csv    a header line, then rows. `timestamp,value` (the NAB files) needs
//          --metric and --tags; `metric,tags,timestamp...,value` (what
//          `tsraft export --format csv` writes) carries its own series.
//          Timestamps: Unix seconds/milliseconds, or a date
//          `YYYY-MM-DD[ T]HH:MM[:SS[.fff]][Z|±HH:MM]` (UTC unless an offset is given).
//
// Any of them may be gzip-compressed (detected by its magic bytes). Memory is
// bounded by one line (or one JSON element) at a time.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { JsonNumberText, readJson } from '../../api/json-reader.js';
import { parseTelnetLine } from '../../api/telnet-line.js';
import type { Point } from '../../client/index.js';
import { TsraftError, rethrowIfBug } from '../../errors.js';

export type ImportFormat = 'put' | 'json' | 'csv';
export const IMPORT_FORMATS: readonly ImportFormat[] = ['put', 'json', 'csv'];

const INTEGER_TEXT = /^-?[0-9]{1,15}$/;
const DECIMAL_TEXT = /^-?[0-9]*\.[0-9]+$|^-?[0-9]+\.[0-9]*$/;

/** Value text as a number when the number means the same under OpenTSDB's
 *  text rule (an integer that fits exactly; a decimal that is not integral),
 *  so batches travel as Float64Arrays; otherwise the text itself ("4.0"
 *  stays a float, "9223372036854775807" stays exact). */
export function valueOfText(text: string): number | string {
  if (INTEGER_TEXT.test(text)) return Number(text) + 0; // + 0: "-0" is the int64 0, not the float -0
  if (DECIMAL_TEXT.test(text)) {
    const n = Number(text);
    if (!Number.isInteger(n)) return n;
  }
  return text;
}

/** Timestamp text as a number when it is plain digits (OpenTSDB's rule applies on the node). */
export function timestampOfText(text: string): number | string {
  return /^[0-9]{1,16}$/.test(text) ? Number(text) : text;
}

export type ImportRecord = { line: number; point: Point } | { line: number; error: string };

/** Longest line or JSON element read, characters. */
export const MAX_RECORD_CHARS = 1 << 20;

export interface CsvDefaults {
  metric?: string;
  tags?: Record<string, string>;
}

export interface OpenedInput {
  path: string;
  totalBytes: number;
  /** Bytes of the file read so far (compressed bytes for a gzip file). */
  bytesRead(): number;
  /** The (decompressed) text. */
  text: Readable;
  /** The first bytes of the decompressed text, for format detection. */
  head: string;
}

/** Takes the first chunk of a stream (to look at it) and returns a stream
 *  of everything, that chunk included. */
async function peek(source: AsyncIterable<unknown>, onChunk: (bytes: number) => void = () => undefined): Promise<{ first: Buffer | null; all: Readable }> {
  const iterator = (async function* () {
    for await (const chunk of source) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer);
      onChunk(buffer.length);
      yield buffer;
    }
  })();
  const head = await iterator.next();
  const first = head.done === true ? null : head.value;
  const all = Readable.from(
    (async function* () {
      if (first !== null) yield first;
      for (;;) {
        const next = await iterator.next();
        if (next.done === true) return;
        yield next.value;
      }
    })(),
    { objectMode: false },
  );
  return { first, all };
}

/** Opens a file (or '-' for stdin), decompressing gzip. */
export async function openInput(path: string, stdin: Readable): Promise<OpenedInput> {
  let totalBytes = 0;
  let raw: Readable;
  if (path === '-') raw = stdin;
  else {
    totalBytes = (await stat(path)).size;
    raw = createReadStream(path, { highWaterMark: 256 * 1024 });
  }
  let read = 0;
  const file = await peek(raw, (n) => {
    read += n;
  });
  const gzipped = file.first !== null && file.first.length >= 2 && file.first[0] === 0x1f && file.first[1] === 0x8b;
  let text: Readable = file.all;
  let first = file.first;
  if (gzipped) {
    const gunzip = createGunzip();
    file.all.on('error', (error) => gunzip.destroy(error));
    const inflated = await peek(file.all.pipe(gunzip));
    text = inflated.all;
    first = inflated.first;
  }
  text.setEncoding('utf8');
  return { path, totalBytes, bytesRead: () => read, text, head: first === null ? '' : first.subarray(0, 4096).toString('utf8') };
}

/** The format from --format, else the file name, else the first bytes. */
export function detectFormat(path: string, head: string): ImportFormat {
  const name = path.toLowerCase().replace(/\.gz$/, '');
  if (name.endsWith('.csv')) return 'csv';
  if (name.endsWith('.json') || name.endsWith('.ndjson') || name.endsWith('.jsonl')) return 'json';
  const trimmed = head.trimStart();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) return 'json';
  const firstLine = trimmed.split('\n', 1)[0] ?? '';
  if (/^"?timestamp"?\s*,/i.test(firstLine) || /^"?metric"?\s*,/i.test(firstLine)) return 'csv';
  return 'put';
}

async function* lines(text: Readable): AsyncGenerator<{ line: number; text: string }> {
  const rl = createInterface({ input: text, crlfDelay: Infinity });
  let n = 0;
  for await (const line of rl) {
    n++;
    yield { line: n, text: line };
  }
}

export async function* readPutLines(text: Readable): AsyncGenerator<ImportRecord> {
  for await (const { line, text: raw } of lines(text)) {
    if (raw.length > MAX_RECORD_CHARS) {
      yield { line, error: `line longer than ${MAX_RECORD_CHARS} characters` };
      continue;
    }
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const cmd = parseTelnetLine(trimmed.startsWith('put ') || trimmed.startsWith('put\t') ? trimmed : `put ${trimmed}`);
    if (cmd.kind === 'put') {
      const p = cmd.point;
      yield { line, point: { metric: p.metric as string, timestamp: timestampOfText(p.timestamp as string), value: valueOfText(p.value as string), tags: p.tags as Record<string, string> } };
    } else if (cmd.kind === 'bad-put') yield { line, error: cmd.message };
    else yield { line, error: `not a put line: ${trimmed.slice(0, 80)}` };
  }
}

// ---------------------------------------------------------------------------
// CSV

/** Splits one CSV line (RFC 4180 quoting, no line breaks inside fields). */
export function splitCsvLine(line: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let field = '';
      i++;
      for (;;) {
        if (i >= line.length) return null;
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += line[i++];
      }
      out.push(field);
      if (i === line.length) return out;
      if (line[i] !== ',') return null;
      i++;
    } else {
      const comma = line.indexOf(',', i);
      if (comma < 0) {
        out.push(line.slice(i).trim());
        return out;
      }
      out.push(line.slice(i, comma).trim());
      i = comma + 1;
    }
  }
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/;

/** A CSV timestamp as Unix ms (dates) or as given (Unix seconds/ms digits), or null. */
export function parseCsvTimestamp(text: string): number | string | null {
  if (/^[0-9]+(\.[0-9]+)?$/.test(text)) return text;
  const m = DATE.exec(text);
  if (m === null) return null;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4] ?? '0', m[5] ?? '0', m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  let utc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  const check = new Date(utc);
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) return null;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    utc -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  return utc;
}

function parseTagField(text: string): Record<string, string> | null {
  const tags: Record<string, string> = {};
  for (const item of text.split(/[ ;]+/)) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0 || eq === item.length - 1) return null;
    tags[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return tags;
}

export async function* readCsv(text: Readable, defaults: CsvDefaults): AsyncGenerator<ImportRecord> {
  let columns: { timestamp: number; value: number; metric: number; tags: number } | null = null;
  for await (const { line, text: raw } of lines(text)) {
    if (raw.length > MAX_RECORD_CHARS) {
      yield { line, error: `line longer than ${MAX_RECORD_CHARS} characters` };
      continue;
    }
    if (raw.trim() === '') continue;
    const fields = splitCsvLine(raw);
    if (fields === null) {
      yield { line, error: 'malformed CSV quoting' };
      continue;
    }
    if (columns === null) {
      const names = fields.map((f) => f.toLowerCase());
      const find = (...candidates: string[]): number => names.findIndex((n) => candidates.includes(n));
      columns = { timestamp: find('timestamp', 'timestamp_ms', 'time'), value: find('value'), metric: find('metric'), tags: find('tags') };
      if (columns.timestamp < 0 || columns.value < 0) {
        throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `line ${line}: the CSV header must name a timestamp and a value column, got ${JSON.stringify(raw.slice(0, 200))}`, { details: { usage: true } });
      }
      if (columns.metric < 0 && defaults.metric === undefined) {
        throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', 'this CSV has no metric column: give --metric (and --tags)', { details: { usage: true } });
      }
      if (columns.tags < 0 && (defaults.tags === undefined || Object.keys(defaults.tags).length === 0)) {
        throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', 'this CSV has no tags column: give --tags k=v[,k=v] (OpenTSDB needs at least one tag)', { details: { usage: true } });
      }
      continue;
    }
    const tsText = fields[columns.timestamp] ?? '';
    const timestamp = parseCsvTimestamp(tsText);
    if (timestamp === null) {
      yield { line, error: `timestamp ${JSON.stringify(tsText)} is neither a Unix time nor a YYYY-MM-DD HH:MM:SS date` };
      continue;
    }
    const value = fields[columns.value] ?? '';
    const metric = columns.metric >= 0 ? (fields[columns.metric] ?? '') : defaults.metric!;
    let tags: Record<string, string> | null = { ...(defaults.tags ?? {}) };
    if (columns.tags >= 0) {
      const own = parseTagField(fields[columns.tags] ?? '');
      tags = own === null ? null : { ...tags, ...own };
    }
    if (tags === null) {
      yield { line, error: `tags ${JSON.stringify(fields[columns.tags])} are not k=v pairs` };
      continue;
    }
    yield { line, point: { metric, timestamp: typeof timestamp === 'string' ? timestampOfText(timestamp) : timestamp, value: valueOfText(value), tags } };
  }
}

// ---------------------------------------------------------------------------
// JSON

function pointOfJson(value: unknown): Point | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'a data point must be a JSON object';
  const o = value as Record<string, unknown>;
  const text = (v: unknown): unknown => (v instanceof JsonNumberText ? v.text : v);
  const metric = text(o.metric);
  if (typeof metric !== 'string') return 'metric must be a string';
  const tagsIn = o.tags;
  if (typeof tagsIn !== 'object' || tagsIn === null || Array.isArray(tagsIn)) return 'tags must be an object';
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(tagsIn as Record<string, unknown>)) {
    const t = text(v);
    if (typeof t !== 'string') return `value of tag ${JSON.stringify(k)} must be a string`;
    tags[k] = t;
  }
  const tsIn = o.timestamp;
  const timestamp = tsIn instanceof JsonNumberText ? tsIn.text : tsIn;
  if (typeof timestamp !== 'string' && typeof timestamp !== 'number') return 'timestamp must be a number';
  const v = text(o.value);
  if (typeof v !== 'string' && typeof v !== 'number') return 'value must be a number or a numeric string';
  return { metric, tags, timestamp, value: v };
}

/** Splits a stream of JSON into the elements of a top-level array, or into
 *  top-level values (NDJSON), tracking strings so brackets inside them count
 *  for nothing. Yields each element's text and its starting line. */
export async function* jsonElements(text: Readable): AsyncGenerator<{ line: number; text: string } | { line: number; error: string }> {
  let line = 1;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let arrayMode: boolean | null = null;
  let collecting = false;
  let current = '';
  let startLine = 1;
  let tooLong = false;
  /** Inside a scalar that is not a data point (reported once, skipped to the next ','). */
  let skipping = false;
  for await (const chunk of text as AsyncIterable<string>) {
    let segmentStart = collecting ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (c === 0x0a) line++;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true;
        else if (c === 0x22) inString = false;
        continue;
      }
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
      if (c === 0x22) {
        inString = true;
        if (!collecting && !skipping) {
          skipping = true;
          yield { line, error: 'a string where a data point object was expected' };
        }
        continue;
      }
      if (arrayMode === null) {
        arrayMode = c === 0x5b;
        if (arrayMode) {
          depth = 1;
          continue;
        }
      }
      const base = arrayMode ? 1 : 0;
      if (c === 0x7b || c === 0x5b) {
        if (depth === base && !collecting) {
          collecting = true;
          skipping = false;
          current = '';
          segmentStart = i;
          startLine = line;
          tooLong = false;
        }
        depth++;
      } else if (c === 0x7d || c === 0x5d) {
        depth--;
        if (depth === base && collecting) {
          collecting = false;
          if (!tooLong) current += chunk.slice(segmentStart, i + 1);
          yield tooLong || current.length > MAX_RECORD_CHARS ? { line: startLine, error: `data point longer than ${MAX_RECORD_CHARS} characters` } : { line: startLine, text: current };
          current = '';
          segmentStart = -1;
        } else if (depth < base) {
          skipping = false;
          if (arrayMode && depth === 0) {
            arrayMode = null; // the array ended; another may follow
            continue;
          }
          yield { line, error: `unexpected '${String.fromCharCode(c)}'` };
          depth = base;
        }
      } else if (!collecting) {
        if (c === 0x2c) skipping = false;
        else if (!skipping) {
          skipping = true;
          yield { line, error: `unexpected ${JSON.stringify(String.fromCharCode(c))}: data points must be objects` };
        }
      }
    }
    if (collecting && segmentStart >= 0) {
      if (!tooLong) current += chunk.slice(segmentStart);
      if (current.length > MAX_RECORD_CHARS) {
        tooLong = true;
        current = '';
      }
    }
  }
  if (collecting || inString || depth > (arrayMode ? 1 : 0) || arrayMode === true) yield { line, error: 'the JSON ends in the middle of a value' };
}

export async function* readJsonPoints(text: Readable): AsyncGenerator<ImportRecord> {
  for await (const element of jsonElements(text)) {
    if ('error' in element) {
      yield element;
      continue;
    }
    let value: unknown;
    try {
      value = readJson(element.text, { numbers: 'literal', maxChars: MAX_RECORD_CHARS, maxDepth: 16 });
    } catch (error) {
      rethrowIfBug(error);
      yield { line: element.line, error: (error as Error).message };
      continue;
    }
    const point = pointOfJson(value);
    yield typeof point === 'string' ? { line: element.line, error: point } : { line: element.line, point };
  }
}

export function recordsOf(format: ImportFormat, input: OpenedInput, csv: CsvDefaults): AsyncGenerator<ImportRecord> {
  switch (format) {
    case 'put':
      return readPutLines(input.text);
    case 'json':
      return readJsonPoints(input.text);
    case 'csv':
      return readCsv(input.text, csv);
  }
}
