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
// stored; after the ingest the leader's point count must equal the file's.
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
import { loadDevopsDataset } from './peers/devops-data.js';
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

/** How long the cluster may take, after the last acknowledgement, to show every point on its leader. */
const SETTLE_TIMEOUT_MS = 30_000;

async function getJson<T>(url: string): Promise<T | null> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    return response.status === 200 ? ((await response.json()) as T) : null;
  } catch (error) {
    // A refused or timed-out request: the node is busy or changing roles; ask again.
    if (!(error instanceof TypeError) && (error as Error).name !== 'TimeoutError') throw error;
    return null;
  }
}

/**
 * Points held by the current leader once it holds `expected` (or the most
 * seen when the wait runs out). The leader can change during a run on a
 * loaded machine: the node first elected may be a follower that has not yet
 * applied the last entries, so ask whichever node leads now.
 */
async function settledPoints(cluster: BenchCluster, expected: number): Promise<number> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  let most = 0;
  for (;;) {
    const status = await getJson<{ leader: string | null }>(`${cluster.leaderUrl}/status`);
    const leaderUrl = status?.leader == null ? undefined : cluster.httpUrls.get(status.leader);
    if (leaderUrl !== undefined) {
      const state = await getJson<{ pointCount: number }>(`${leaderUrl}/cluster/state`);
      if (state !== null) {
        most = Math.max(most, state.pointCount);
        if (state.pointCount === expected) return expected;
      }
    }
    if (Date.now() > deadline) return most;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function oneRun(bodies: string[], points: number): Promise<Run> {
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
    const stored = await settledPoints(cluster, points);
    if (stored !== points) throw new Error(`ingest-devops: ${SETTLE_TIMEOUT_MS / 1000} s after the last acknowledgement the leader holds ${stored} points; the file has ${points}`);
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
  const runs: Run[] = [];
  for (let i = 0; i < runCount; i++) {
    const run = await oneRun(bodies, ds.points.length);
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
