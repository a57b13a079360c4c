// Ingest of ../shared/data/devops-1d.put.gz into a local 3-node cluster of
// real `tsraft serve` processes (fsync on) through OpenTSDB POST /api/put:
// our side of the VictoriaMetrics comparison (bench/peers/victoria-metrics.ts),
// with the same file, the same JSON bodies (bench/peers' buildPutBodies:
// 10,000 points per request, timestamps and values copied verbatim) and the
// same client shape (4 requests in flight, bodies built before the clock
// starts, time from the first request to the last acknowledgement).
// The difference that stays: VictoriaMetrics runs as one unreplicated node;
// here every request is committed by a majority of 3 before it is answered.
//
// Each run starts a fresh cluster, so no run overwrites points an earlier run
// stored; after the last acknowledgement a default-consistency query on every
// node must count exactly the file's points.
//
//   npx tsc -p tsconfig.json && node dist/bench/ingest-devops.js [--runs 3] [--quick]
//
// --quick: one run of the file's first 200,000 points.
// Writes bench/results/ingest-devops.json and .md.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildPutBodies } from './peers/victoria-metrics.js';
import { loadDevopsDataset, type DevopsDataset } from './peers/devops-data.js';
import { httpPut, httpRetries, startCluster, type BenchCluster } from './ingest.js';
import { fmt, sharedDataDir, stats, writeResults } from './lib.js';

const BATCH_POINTS = 10_000;
const REQUESTS_IN_FLIGHT = 4;
const QUICK_POINTS = 200_000;

interface Run {
  points: number;
  seconds: number;
  pointsPerSecond: number;
  loadAverage1m: number;
}

/** How long a node may keep failing (refused, timed out, no leader) before the check gives up on it. */
const CHECK_TIMEOUT_MS = 30_000;

/** One `zimsum:0all-count:<metric>` sub query per metric: the points of every series, counted by the query engine. */
function countQueryBody(ds: DevopsDataset): string {
  let startMs = Number.POSITIVE_INFINITY;
  let endMs = 0;
  for (const p of ds.points) {
    if (p.timestampMs < startMs) startMs = p.timestampMs;
    if (p.timestampMs > endMs) endMs = p.timestampMs;
  }
  const metrics = [...new Set(ds.series.map((s) => s.metric))];
  // No `consistency` field: the default, a linearizable read (read index).
  return JSON.stringify({ start: startMs, end: endMs + 1, queries: metrics.map((metric) => ({ aggregator: 'zimsum', downsample: '0all-count', metric })) });
}

/** Points one node's default-consistency query counts; null when the node gave no answer (down, electing, busy). */
async function queriedPoints(url: string, body: string): Promise<number | null> {
  try {
    const response = await fetch(`${url}/api/query`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(10_000) });
    if (response.status !== 200) {
      await response.arrayBuffer();
      return null;
    }
    let points = 0;
    for (const group of (await response.json()) as Array<{ dps: Record<string, number> }>) for (const count of Object.values(group.dps)) points += count;
    return points;
  } catch (error) {
    // A refused or timed-out request: the node is busy or changing roles; ask again.
    if (!(error instanceof TypeError) && (error as Error).name !== 'TimeoutError') throw error;
    return null;
  }
}

/**
 * Every acknowledged point must be in the answer of a default-consistency
 * query on EVERY node, at once: such a query is linearizable (the node gets
 * a read index from the leader and waits until it has applied it), so there
 * is nothing to wait for. Only a node that gives no answer is asked again.
 * (An earlier check read /cluster/state, the node's local statistics without
 * any read barrier, on the node first elected; after a leader change that
 * node is a follower that may not yet have applied the last entries, which
 * once showed 1,190,000 of 1,209,600 points without anything being lost.)
 */
async function checkEveryNodeSeesEveryPoint(cluster: BenchCluster, body: string, expected: number): Promise<void> {
  for (const [id, url] of cluster.httpUrls) {
    const deadline = Date.now() + CHECK_TIMEOUT_MS;
    let points = await queriedPoints(url, body);
    while (points === null && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      points = await queriedPoints(url, body);
    }
    if (points === null) throw new Error(`ingest-devops: node ${id} (${url}) answered no query within ${CHECK_TIMEOUT_MS / 1000} s after the last acknowledgement`);
    if (points !== expected) throw new Error(`ingest-devops: after every put was acknowledged, a default-consistency (linearizable) query on node ${id} counts ${points} points; the file has ${expected}`);
  }
}

async function oneRun(bodies: string[], points: number, countBody: string): Promise<Run> {
  const loadAverage1m = loadavg()[0]!;
  const cluster = await startCluster(3);
  try {
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: REQUESTS_IN_FLIGHT }, async () => {
        while (next < bodies.length) await httpPut(cluster.leaderUrl, bodies[next++]!);
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    await checkEveryNodeSeesEveryPoint(cluster, countBody, points);
    return { points, seconds, pointsPerSecond: points / seconds, loadAverage1m };
  } finally {
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, quick: { type: 'boolean' } } });
  const quick = values.quick === true;
  const runCount = Number(values.runs ?? (quick ? '1' : '3'));
  if (!Number.isSafeInteger(runCount) || runCount < 1 || runCount > 50) throw new Error('--runs must be an integer in [1, 50]');
  const data = sharedDataDir();
  if (data === null) {
    console.log('skipped: ../shared/data is absent');
    return;
  }
  const ds = loadDevopsDataset(join(data, 'devops-1d.put.gz'), quick ? QUICK_POINTS : Number.POSITIVE_INFINITY);
  const bodies = buildPutBodies(ds, BATCH_POINTS).map((b) => b.toString('utf8'));
  const countBody = countQueryBody(ds);
  const runs: Run[] = [];
  for (let i = 0; i < runCount; i++) {
    const run = await oneRun(bodies, ds.points.length, countBody);
    runs.push(run);
    console.log(`run ${i + 1}/${runCount}: ${fmt(run.pointsPerSecond)} points/s (${run.points} points in ${run.seconds.toFixed(2)} s, load average ${run.loadAverage1m.toFixed(1)})`);
  }
  const rate = stats(runs.map((r) => r.pointsPerSecond));
  const markdown = [
    '# Ingest of devops-1d.put.gz through /api/put into a local 3-node cluster',
    '',
    `${ds.points.length.toLocaleString('en')} points, ${ds.series.length} series; JSON bodies of ${BATCH_POINTS.toLocaleString('en')} points, ${REQUESTS_IN_FLIGHT} in flight (the VictoriaMetrics peer bench's client); ` +
      `a fresh cluster of 3 real \`tsraft serve\` processes (fsync on) per run; median of ${runs.length} runs (min–max). ` +
      `1-minute load average at the start of the runs: ${Math.min(...runs.map((r) => r.loadAverage1m)).toFixed(1)}–${Math.max(...runs.map((r) => r.loadAverage1m)).toFixed(1)}.`,
    '',
    '| points/s, median | min | max |',
    '| ---: | ---: | ---: |',
    `| **${fmt(rate.median)}** | ${fmt(rate.min)} | ${fmt(rate.max)} |`,
    '',
    `Reproduce: \`npx tsc -p tsconfig.json && node dist/bench/ingest-devops.js${quick ? ' --quick' : ''}\`.`,
  ].join('\n');
  writeResults('ingest-devops', { dataset: 'devops-1d.put.gz', quick, points: ds.points.length, series: ds.series.length, batchPoints: BATCH_POINTS, requestsInFlight: REQUESTS_IN_FLIGHT, httpRetries: httpRetries.count, pointsPerSecond: rate, runs }, markdown);
  console.log(markdown);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
