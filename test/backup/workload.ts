// Test workloads for the backup suites: state machines filled through the
// real apply path (encoded write batches in log entries), from a seeded
// synthetic generator or from a slice of ../shared/data/devops-1d.put.gz.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { encodeCommand } from '../../src/tsdb/command.js';
import { TimeSeriesStateMachine, type TimeSeriesStateMachineOptions } from '../../src/tsdb/state-machine.js';
import { validatePoint, type RawPoint } from '../../src/tsdb/validate.js';
import { WriteBatchBuilder } from '../../src/tsdb/write-batch.js';

export const DEVOPS_PATH = resolve('../shared/data/devops-1d.put.gz');

/** A small deterministic PRNG (mulberry32) so workloads repeat exactly. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Encodes points as one write entry's data. */
export function writeEntry(points: readonly RawPoint[], leaderTimeMs: number, session: { clientId: string; sequence: number } | null = null): Uint8Array {
  const builder = new WriteBatchBuilder({ maxPoints: Math.max(1, points.length) });
  for (const raw of points) {
    const check = validatePoint(raw);
    if (!check.ok) throw new Error(`invalid test point ${JSON.stringify(raw)}: ${check.error.message}`);
    const p = check.point;
    builder.addPoint(p.seriesKey, p.timestampMs, p.value, p.isInteger, p.bigInt);
  }
  return encodeCommand({
    type: 'write',
    clientId: session?.clientId ?? '',
    sequence: session?.sequence ?? 0,
    firstUnackedSequence: session === null ? 0 : 1,
    leaderTimeMs,
    batch: builder.encode(),
  });
}

/** Applies log entries in order, tracking the index. */
export class Feeder {
  index = 0;
  readonly entries: Array<{ index: number; data: Uint8Array }> = [];

  constructor(readonly sm: TimeSeriesStateMachine) {}

  apply(data: Uint8Array): number {
    this.index++;
    this.sm.apply(this.index, data);
    this.entries.push({ index: this.index, data });
    return this.index;
  }
}

export interface SyntheticOptions {
  seed: number;
  series: number;
  pointsPerSeries: number;
  /** Start time, ms. */
  startMs?: number;
  intervalMs?: number;
  batchPoints?: number;
}

/** Series of every kind the codecs handle: decimals, floats, counters, int64
 *  beyond 2^53, late and overwritten points, and a client session. */
export function syntheticPoints(o: SyntheticOptions): RawPoint[] {
  const rand = prng(o.seed);
  const start = o.startMs ?? 1_700_000_000_000;
  const interval = o.intervalMs ?? 10_000;
  const points: RawPoint[] = [];
  for (let i = 0; i < o.pointsPerSeries; i++) {
    for (let s = 0; s < o.series; s++) {
      const kind = s % 5;
      let ts = start + i * interval + (kind === 3 ? Math.floor(rand() * 900) : 0);
      if (rand() < 0.01 && i > 5) ts -= interval * 3; // a late point (overwrites)
      let value: number | string;
      if (kind === 0) value = Math.round(rand() * 10000) / 100;
      else if (kind === 1) value = rand() * 1e6 - 5e5;
      else if (kind === 2) value = 1000 * i + Math.floor(rand() * 10);
      else if (kind === 3) value = Math.round(rand() * 1000) / 1000;
      else value = String(2n ** 60n + BigInt(i) * 7n);
      points.push({ metric: `test.metric${kind}`, timestamp: ts, value, tags: { host: `h${s}`, dc: s % 2 === 0 ? 'east' : 'west' } });
    }
  }
  return points;
}

export function feedPoints(feeder: Feeder, points: readonly RawPoint[], batchPoints: number, leaderTimeMs: () => number, withSession = false): void {
  let sequence = 0;
  for (let i = 0; i < points.length; i += batchPoints) {
    sequence++;
    feeder.apply(writeEntry(points.slice(i, i + batchPoints), leaderTimeMs(), withSession ? { clientId: 'test-client', sequence } : null));
  }
}

export function newStateMachine(options: Partial<TimeSeriesStateMachineOptions> = {}): TimeSeriesStateMachine {
  return new TimeSeriesStateMachine(options);
}

/** Lines of the devops dataset, or null when the file is absent. */
export function devopsLines(maxLines: number): string[] | null {
  if (!existsSync(DEVOPS_PATH)) return null;
  const text = gunzipSync(readFileSync(DEVOPS_PATH)).toString('utf8');
  const lines: string[] = [];
  let at = 0;
  while (lines.length < maxLines && at < text.length) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    const line = text.slice(at, end).trim();
    if (line !== '') lines.push(line);
    at = end + 1;
  }
  return lines;
}

/** OpenTSDB telnet `put metric ts value k=v ...` to a raw point. */
export function parsePutLine(line: string): RawPoint {
  const parts = line.split(/\s+/);
  if (parts[0] !== 'put' || parts.length < 5) throw new Error(`not a put line: ${line}`);
  const tags: Record<string, string> = {};
  for (const kv of parts.slice(4)) {
    const eq = kv.indexOf('=');
    tags[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return { metric: parts[1], timestamp: Number(parts[2]), value: parts[3], tags };
}

/** Feeds put lines in batches; the leader time follows the data's timestamps. */
export function feedLines(feeder: Feeder, lines: readonly string[], batchPoints = 5000): void {
  for (let i = 0; i < lines.length; i += batchPoints) {
    const points = lines.slice(i, i + batchPoints).map(parsePutLine);
    const last = Number(points[points.length - 1]!.timestamp);
    feeder.apply(writeEntry(points, last < 1e11 ? last * 1000 : last));
  }
}

/** A day-like workload: gauges with two decimals (random walks), counters and
 *  millisecond-jittered latencies, `series` series every `intervalMs`, points
 *  [fromStep, toStep) of each, in time order. */
export function gaugePoints(seed: number, series: number, fromStep: number, toStep: number, intervalMs = 10_000, startMs = 1_700_000_000_000): RawPoint[] {
  const points: RawPoint[] = [];
  for (let s = 0; s < series; s++) {
    // Each series' walk depends only on (seed, s, step): appending later steps reproduces the same earlier values.
    const rand = prng(seed * 1000 + s);
    let level = 50 + 40 * rand();
    for (let step = 0; step < toStep; step++) {
      level = Math.min(100, Math.max(0, level + (rand() - 0.5) * 2));
      const jitter = Math.floor(rand() * 500);
      if (step < fromStep) continue;
      const kind = s % 3;
      const ts = startMs + step * intervalMs + (kind === 2 ? jitter : 0);
      const value = kind === 0 ? level.toFixed(2) : kind === 1 ? String(step * 1000 + Math.floor(level)) : (level * 3.7).toFixed(3);
      points.push({ metric: `bench.kind${kind}`, timestamp: ts, value, tags: { host: `host${String(s).padStart(3, '0')}` } });
    }
  }
  points.sort((a, b) => Number(a.timestamp) - Number(b.timestamp));
  return points;
}
