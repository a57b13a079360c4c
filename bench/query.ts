// Query latency on the standard dataset: loads ../shared/data/devops-1d.put.gz
// into the real state machine (through the same write batches and commands the
// leader proposes), then times OpenTSDB queries over the whole day.
//
//   npx tsc -p tsconfig.json && node dist/bench/query.js [--runs N]
//
// Target (issue 5): < 50 ms median for each query.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { performance } from 'node:perf_hooks';
import { TimeSeriesStateMachine } from '../src/tsdb/state-machine.js';
import { WriteBatchBuilder } from '../src/tsdb/write-batch.js';
import { encodeCommand } from '../src/tsdb/command.js';
import { validatePoint } from '../src/tsdb/validate.js';
import { executeQuery } from '../src/tsdb/query/engine.js';
import { parseQueryParams } from '../src/tsdb/query/mquery.js';
import { sharedDataDir, stats, writeResults, type Stats } from './lib.js';

const BATCH_POINTS = 5000;

function load(path: string): { sm: TimeSeriesStateMachine; points: number; firstMs: number; lastMs: number; loadSeconds: number } {
  const started = performance.now();
  const lines = gunzipSync(readFileSync(path)).toString('utf8').split('\n');
  const sm = new TimeSeriesStateMachine();
  let builder = new WriteBatchBuilder({ maxPoints: BATCH_POINTS });
  let index = 0;
  let points = 0;
  let firstMs = Infinity;
  let lastMs = -Infinity;
  const flush = (): void => {
    if (builder.pointCount === 0) return;
    const data = encodeCommand({ type: 'write', clientId: '', sequence: 0, firstUnackedSequence: 0, leaderTimeMs: 0, batch: builder.encode() });
    sm.apply(++index, data);
    builder = new WriteBatchBuilder({ maxPoints: BATCH_POINTS });
  };
  for (const line of lines) {
    if (line.length === 0) continue;
    const parts = line.split(' ');
    const tags: Record<string, string> = {};
    for (const kv of parts.slice(4)) {
      const eq = kv.indexOf('=');
      tags[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    const check = validatePoint({ metric: parts[1], timestamp: parts[2], value: parts[3], tags });
    if (!check.ok) throw new Error(`bad line in dataset: ${line}: ${check.error.message}`);
    const p = check.point;
    builder.addPoint(p.seriesKey, p.timestampMs, p.value, p.isInteger, p.bigInt);
    firstMs = Math.min(firstMs, p.timestampMs);
    lastMs = Math.max(lastMs, p.timestampMs);
    points++;
    if (builder.pointCount >= BATCH_POINTS) flush();
  }
  flush();
  return { sm, points, firstMs, lastMs, loadSeconds: (performance.now() - started) / 1000 };
}

function main(): void {
  const runsArg = process.argv.indexOf('--runs');
  const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 15;
  const data = sharedDataDir();
  if (data === null) {
    console.log('query bench: ../shared/data is absent; nothing to measure');
    return;
  }
  const { sm, points, firstMs, lastMs, loadSeconds } = load(join(data, 'devops-1d.put.gz'));
  const start = String(Math.floor(firstMs / 1000));
  const end = String(Math.ceil(lastMs / 1000));
  const queries = [
    { name: 'sum:1m-avg:sys.cpu.user', m: 'sum:1m-avg:sys.cpu.user' },
    { name: 'p99:1m-avg:sys.cpu.user', m: 'p99:1m-avg:sys.cpu.user' },
    { name: 'sum:sys.cpu.user (raw, no downsampling)', m: 'sum:sys.cpu.user' },
    { name: 'sum:1m-avg:rate{counter}:net.if.bytes_in{host=*}', m: 'sum:1m-avg:rate{counter}:net.if.bytes_in{host=*}' },
  ];
  const results: Array<{ query: string; latencyMs: Stats; coldLatencyMs: Stats; seriesRead: number; groups: number; pointsOut: number }> = [];
  for (const q of queries) {
    const samples: number[] = [];
    const coldSamples: number[] = [];
    let groups = 0;
    let pointsOut = 0;
    // Cold: every block decoded from its compressed bytes (cache emptied first).
    for (let r = 0; r < runs; r++) {
      sm.blockCache.clear();
      const t0 = performance.now();
      executeQuery(parseQueryParams([['start', start], ['end', end], ['m', q.m]], { nowMs: lastMs }), sm);
      coldSamples.push(performance.now() - t0);
    }
    // Warm: repeated queries (a dashboard refreshing) hit the decoded-block cache.
    for (let r = 0; r < runs + 2; r++) {
      const t0 = performance.now();
      const parsed = parseQueryParams([['start', start], ['end', end], ['m', q.m]], { nowMs: lastMs });
      const out = executeQuery(parsed, sm);
      const elapsed = performance.now() - t0;
      if (r >= 2) samples.push(elapsed); // two warm-up runs
      groups = out.length;
      pointsOut = out.reduce((n, g) => n + g.dps.length, 0);
    }
    const series = sm.seriesOfMetric(q.m.split(':').pop()!.split('{')[0]!).length;
    results.push({ query: q.name, latencyMs: stats(samples), coldLatencyMs: stats(coldSamples), seriesRead: series, groups, pointsOut });
    console.log(`${q.name}: cold median ${stats(coldSamples).median.toFixed(2)} ms, warm median ${stats(samples).median.toFixed(2)} ms over ${runs} runs`);
  }
  const target = 50;
  const md = [
    '# Query latency',
    '',
    `Dataset: devops-1d.put.gz, ${points.toLocaleString('en')} points loaded through write batches into one state machine in ${loadSeconds.toFixed(1)} s. One day, queried whole. Cold: the decoded-block cache is emptied before each of ${runs} runs, so every block is decoded from its compressed bytes. Warm: ${runs} runs after 2 warm-ups, as a dashboard refreshing the same panel. Command: \`node dist/bench/query.js\`.`,
    '',
    '| query | series | output points | cold median ms (min–max) | warm median ms (min–max) | target < 50 ms (cold) |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
    ...results.map((r) => `| \`${r.query}\` | ${r.seriesRead} | ${r.pointsOut} | **${r.coldLatencyMs.median.toFixed(2)}** (${r.coldLatencyMs.min.toFixed(1)}–${r.coldLatencyMs.max.toFixed(1)}) | **${r.latencyMs.median.toFixed(2)}** (${r.latencyMs.min.toFixed(1)}–${r.latencyMs.max.toFixed(1)}) | ${r.query.startsWith('sum:1m') || r.query.startsWith('p99') ? (r.coldLatencyMs.median < target ? 'met' : 'not met') : '—'} |`),
  ].join('\n');
  writeResults('query', { dataset: 'devops-1d.put.gz', points, runs, results, targetMs: target }, md);
}

main();
