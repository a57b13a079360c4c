// tsraft query 'sum:1m-avg:sys.cpu.user{host=*}' [MORE_M...] --start 1h-ago [--end T]
//              [--format table|csv|json] [--consistency linearizable|stale]
//
// table: one row per point (time in UTC ISO-8601, series, value);
// csv:   metric,tags,timestamp_ms,value (tags as k=v separated by spaces);
// json:  OpenTSDB's /api/query shape with dps keyed by millisecond timestamps.
import type { QueryResult } from '../../client/index.js';
import { connectFromArgs, parseCommandArgs, stringOption, usageError, write, type CommandIo } from './client-args.js';

export const QUERY_USAGE = "tsraft query 'AGG:[INTERVAL-AGG:][rate:]METRIC{TAG=FILTER}' --start 1h-ago [--end T] [--format table|csv|json] [--consistency stale]";

const FORMATS = ['table', 'csv', 'json'] as const;
type Format = (typeof FORMATS)[number];

export function seriesLabel(metric: string, tags: Record<string, string>): string {
  const keys = Object.keys(tags).sort();
  return keys.length === 0 ? metric : `${metric}{${keys.map((k) => `${k}=${tags[k]}`).join(',')}}`;
}

function valueText(value: number | bigint | null): string {
  if (value === null) return 'null';
  return typeof value === 'bigint' ? value.toString() : String(value);
}

export function csvField(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function formatResults(results: readonly QueryResult[], format: Format): string {
  if (format === 'json') {
    const out = results.map((r) => {
      const dps: Record<string, unknown> = {};
      for (const [ts, v] of r.dps) dps[String(ts)] = typeof v === 'bigint' ? v.toString() : v;
      return { metric: r.metric, tags: r.tags, aggregateTags: r.aggregateTags, dps };
    });
    return JSON.stringify(out, null, 2) + '\n';
  }
  if (format === 'csv') {
    let text = 'metric,tags,timestamp_ms,value\n';
    for (const r of results) {
      const tags = csvField(Object.keys(r.tags).sort().map((k) => `${k}=${r.tags[k]}`).join(' '));
      for (const [ts, v] of r.dps) text += `${csvField(r.metric)},${tags},${ts},${valueText(v)}\n`;
    }
    return text;
  }
  const rows: Array<[string, string, string]> = [];
  for (const r of results) {
    const label = seriesLabel(r.metric, r.tags);
    for (const [ts, v] of r.dps) rows.push([new Date(ts).toISOString(), label, valueText(v)]);
  }
  if (rows.length === 0) return '(no data)\n';
  const header: [string, string, string] = ['TIME', 'SERIES', 'VALUE'];
  const widths = [0, 1].map((c) => Math.max(header[c]!.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: [string, string, string]): string => `${r[0].padEnd(widths[0]!)}  ${r[1].padEnd(widths[1]!)}  ${r[2]}\n`;
  return line(header) + rows.map(line).join('');
}

export async function runQuery(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    { start: { type: 'string' }, end: { type: 'string' }, format: { type: 'string' }, consistency: { type: 'string' }, timezone: { type: 'string' } },
    true,
  );
  if (positionals.length === 0) throw usageError(`query needs at least one m= expression (${QUERY_USAGE})`);
  const start = stringOption(values, 'start');
  if (start === undefined) throw usageError('query needs --start (e.g. --start 1h-ago)');
  const format = (stringOption(values, 'format') ?? 'table') as Format;
  if (!FORMATS.includes(format)) throw usageError(`--format must be one of ${FORMATS.join(', ')}`);
  const consistency = stringOption(values, 'consistency') ?? 'linearizable';
  if (consistency !== 'linearizable' && consistency !== 'stale') throw usageError('--consistency must be linearizable or stale');
  const client = await connectFromArgs(values, io);
  try {
    const results = await client.query(positionals, { start, end: stringOption(values, 'end'), timezone: stringOption(values, 'timezone'), consistency });
    await write(io.stdout, formatResults(results, format));
    return 0;
  } finally {
    await client.close();
  }
}
