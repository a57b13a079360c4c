// The devops dataset (../shared/data/devops-1d.put.gz, OpenTSDB telnet put
// lines) parsed for the peer benchmarks: every point keeps the exact text of
// its timestamp and value, so a peer can be sent the file's own numbers and
// what it gives back can be compared with them bit for bit.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export interface DevopsPoint {
  /** Index of the series in DevopsDataset.series. */
  seriesIndex: number;
  /** The timestamp as written in the file: 10 digits = seconds, 13 = milliseconds. */
  timestampText: string;
  timestampMs: number;
  valueText: string;
  /** The float64 the value text denotes (what a JSON parser reads). */
  value: number;
  /** No '.', no exponent: an OpenTSDB int64. */
  isInteger: boolean;
}

export interface DevopsSeries {
  metric: string;
  tags: Record<string, string>;
  /** metric plus sorted k=v tags: the identity used to match a peer's export. */
  key: string;
}

export interface DevopsDataset {
  path: string;
  /** Points in file order (the order a collector would send them). */
  points: DevopsPoint[];
  series: DevopsSeries[];
}

export function seriesKey(metric: string, tags: Record<string, string>): string {
  const parts = Object.keys(tags)
    .sort()
    .map((k) => `${k}=${tags[k]}`);
  return [metric, ...parts].join(' ');
}

/** Parses a gzip'd file of `put <metric> <ts> <value> <k=v>...` lines. */
export function loadDevopsDataset(path: string, maxPoints = Number.POSITIVE_INFINITY): DevopsDataset {
  const text = gunzipSync(readFileSync(path)).toString('utf8');
  const points: DevopsPoint[] = [];
  const series: DevopsSeries[] = [];
  const seriesByKey = new Map<string, number>();
  let start = 0;
  let lineNumber = 0;
  while (start < text.length && points.length < maxPoints) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    lineNumber++;
    if (line === '') continue;
    const parts = line.split(/\s+/);
    if (parts[0] !== 'put' || parts.length < 5) throw new Error(`${path}:${lineNumber}: not a put line: ${line}`);
    const [, metric, timestampText, valueText, ...tagTexts] = parts as [string, string, string, string, ...string[]];
    const tags: Record<string, string> = {};
    for (const t of tagTexts) {
      const eq = t.indexOf('=');
      if (eq <= 0) throw new Error(`${path}:${lineNumber}: bad tag ${t}`);
      tags[t.slice(0, eq)] = t.slice(eq + 1);
    }
    const key = seriesKey(metric, tags);
    let seriesIndex = seriesByKey.get(key);
    if (seriesIndex === undefined) {
      seriesIndex = series.length;
      series.push({ metric, tags, key });
      seriesByKey.set(key, seriesIndex);
    }
    if (!/^\d{10}$|^\d{13}$/.test(timestampText)) throw new Error(`${path}:${lineNumber}: bad timestamp ${timestampText}`);
    const timestampMs = timestampText.length === 13 ? Number(timestampText) : Number(timestampText) * 1000;
    const value = Number(valueText);
    if (!Number.isFinite(value)) throw new Error(`${path}:${lineNumber}: bad value ${valueText}`);
    points.push({ seriesIndex, timestampText, timestampMs, valueText, value, isInteger: !/[.eE]/.test(valueText) });
  }
  return { path, points, series };
}
