// tsraft export --metric M [--start 0] [--end now] [--filter k=v ...]
//               [--format put|csv|json] [--out FILE] [--consistency stale]
//
// Streams every point of the metric's series (optionally filtered) to stdout
// or a file, with bounded memory: the range is read in time windows (a
// `none`-aggregator query per window, so each series comes back raw) whose
// width adapts to the data: empty windows widen 4×, sparse ones 2×, windows
// with more than WINDOW_MAX_POINTS points (or that the node refuses as too
// large) narrow. Output is written window by window, waiting for the stream
// to drain. Formats re-import with `tsraft import`:
//   put   put <metric> <ts ms> <value> <k=v>...
//   csv   metric,tags,timestamp_ms,value
//   json  an array of OpenTSDB /api/put point objects, one per line
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { QueryResult, TsraftClient } from '../../client/index.js';
import { TsraftError, rethrowIfBug } from '../../errors.js';
import { connectFromArgs, parseCommandArgs, parseTagList, stringOption, usageError, write, type CommandIo } from './client-args.js';
import { ProgressBar, formatCount } from './progress.js';
import { csvField } from './query.js';

export const EXPORT_USAGE = 'tsraft export --metric M [--start 0] [--end now] [--filter k=v ...] [--format put|csv|json] [--out FILE]';

const FORMATS = ['put', 'csv', 'json'] as const;
type Format = (typeof FORMATS)[number];

const HOUR_MS = 3_600_000;
const MIN_WINDOW_MS = 1_000;
const MAX_WINDOW_MS = 366 * 24 * HOUR_MS;
/** Points per window the export aims below (memory bound of one window). */
export const WINDOW_MAX_POINTS = 200_000;
const WINDOW_SPARSE_POINTS = 25_000;

function valueText(v: number | bigint | null): string | null {
  if (v === null || (typeof v === 'number' && !Number.isFinite(v))) return null;
  return typeof v === 'bigint' ? v.toString() : String(v);
}

function tagText(tags: Record<string, string>, separator: string): string {
  return Object.keys(tags)
    .sort()
    .map((k) => `${k}=${tags[k]}`)
    .join(separator);
}

class ExportWriter {
  points = 0;
  private first = true;
  constructor(
    private readonly out: Writable,
    private readonly format: Format,
  ) {}

  async begin(): Promise<void> {
    if (this.format === 'csv') await write(this.out, 'metric,tags,timestamp_ms,value\n');
    if (this.format === 'json') await write(this.out, '[\n');
  }

  async window(results: readonly QueryResult[]): Promise<void> {
    let text = '';
    for (const r of results) {
      const tagsPut = tagText(r.tags, ' ');
      const tagsCsv = csvField(tagText(r.tags, ' '));
      for (const [ts, v] of r.dps) {
        const value = valueText(v);
        if (value === null) continue;
        this.points++;
        if (this.format === 'put') text += `put ${r.metric} ${ts} ${value} ${tagsPut}\n`;
        else if (this.format === 'csv') text += `${csvField(r.metric)},${tagsCsv},${ts},${value}\n`;
        else {
          text += `${this.first ? '' : ',\n'}${JSON.stringify({ metric: r.metric, timestamp: ts, value: 0, tags: r.tags }).replace('"value":0', `"value":${value}`)}`;
          this.first = false;
        }
        if (text.length > 1 << 20) {
          await write(this.out, text);
          text = '';
        }
      }
    }
    if (text !== '') await write(this.out, text);
  }

  async end(): Promise<void> {
    if (this.format === 'json') await write(this.out, this.first ? ']\n' : '\n]\n');
  }
}

/** Reads [startMs, endMs] of `m` window by window, handing each to `onWindow`. */
export async function exportWindows(
  client: TsraftClient,
  m: string,
  startMs: number,
  endMs: number,
  consistency: 'linearizable' | 'stale',
  onWindow: (results: QueryResult[], windowEndMs: number) => Promise<void>,
): Promise<void> {
  let from = startMs;
  let width = HOUR_MS;
  while (from <= endMs) {
    const to = Math.min(endMs, from + width - 1);
    let results: QueryResult[];
    try {
      // Both bounds are inclusive; `ms` marks them as milliseconds.
      results = await client.query(m, { start: `${from}ms`, end: `${Math.max(to, from + 1)}ms`, consistency });
    } catch (error) {
      rethrowIfBug(error);
      if (error instanceof TsraftError && error.code === 'TSR_ERR_QUERY_TOO_LARGE' && width > MIN_WINDOW_MS) {
        width = Math.max(MIN_WINDOW_MS, Math.floor(width / 4));
        continue;
      }
      throw error;
    }
    // A window one millisecond wide asks for [from, from + 1]: keep only `from`.
    if (to === from) for (const r of results) r.dps = r.dps.filter(([ts]) => ts === from);
    await onWindow(results, to);
    let n = 0;
    for (const r of results) n += r.dps.length;
    if (n === 0) width = Math.min(MAX_WINDOW_MS, width * 4);
    else if (n < WINDOW_SPARSE_POINTS) width = Math.min(MAX_WINDOW_MS, width * 2);
    else if (n > WINDOW_MAX_POINTS) width = Math.max(MIN_WINDOW_MS, Math.floor(width / 2));
    from = to + 1;
  }
}

function timeOption(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined) return fallback;
  if (text === 'now') return Date.now();
  const ago = /^([0-9]+)(ms|s|m|h|d|w|n|y)-ago$/.exec(text);
  if (ago !== null) {
    const unit = { ms: 1, s: 1000, m: 60_000, h: HOUR_MS, d: 24 * HOUR_MS, w: 7 * 24 * HOUR_MS, n: 30 * 24 * HOUR_MS, y: 365 * 24 * HOUR_MS }[ago[2] as 'ms'];
    return Date.now() - Number(ago[1]) * unit;
  }
  if (/^[0-9]+$/.test(text)) return text.length <= 10 ? Number(text) * 1000 : Number(text);
  const date = Date.parse(text);
  if (!Number.isNaN(date)) return date;
  throw usageError(`--${name} must be a Unix time (s or ms), an ISO date, now or <n><unit>-ago, got ${JSON.stringify(text)}`);
}

export async function runExport(args: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandArgs(
    args,
    { metric: { type: 'string' }, start: { type: 'string' }, end: { type: 'string' }, filter: { type: 'string', multiple: true }, format: { type: 'string' }, out: { type: 'string' }, consistency: { type: 'string' } },
    false,
  );
  const metric = stringOption(values, 'metric');
  if (metric === undefined || metric === '') throw usageError(`export needs --metric (${EXPORT_USAGE})`);
  const format = (stringOption(values, 'format') ?? 'put') as Format;
  if (!FORMATS.includes(format)) throw usageError(`--format must be one of ${FORMATS.join(', ')}`);
  const consistency = stringOption(values, 'consistency') ?? 'linearizable';
  if (consistency !== 'linearizable' && consistency !== 'stale') throw usageError('--consistency must be linearizable or stale');
  const startMs = timeOption(stringOption(values, 'start'), 0, 'start');
  const endMs = timeOption(stringOption(values, 'end'), Date.now(), 'end');
  if (endMs < startMs) throw usageError('--end is before --start');
  const filters = Array.isArray(values.filter) ? parseTagList(values.filter, '--filter') : {};
  const braces = Object.keys(filters).length === 0 ? '' : `{${Object.entries(filters).map(([k, v]) => `${k}=${v}`).join(',')}}`;
  const m = `none:${metric}${braces}`;

  const outPath = stringOption(values, 'out');
  const out: Writable = outPath === undefined ? io.stdout : createWriteStream(outPath);
  const progress = new ProgressBar(io.stderr, io.stderrIsTty && outPath !== undefined);
  const writer = new ExportWriter(out, format);
  const client = await connectFromArgs(values, io);
  const startedMs = Date.now();
  try {
    await writer.begin();
    await exportWindows(client, m, startMs, endMs, consistency, async (results, windowEndMs) => {
      await writer.window(results);
      progress.update((windowEndMs - startMs) / Math.max(1, endMs - startMs), `${formatCount(writer.points)} points exported`);
    });
    await writer.end();
  } finally {
    await client.close();
    progress.clear();
    if (outPath !== undefined) await new Promise<void>((resolve) => out.end(() => resolve()));
  }
  const seconds = (Date.now() - startedMs) / 1000;
  await write(io.stderr, `exported ${writer.points} points of ${metric} in ${seconds.toFixed(1)} s\n`);
  return 0;
}
