// Ingest benchmark: a local 3-node cluster of real `tsraft serve` processes
// (fsync on: the storage syncs every Ready batch), written to through the
// WebSocket API by the TypeScript client (columnar puts, exactly-once
// sessions) and through OpenTSDB POST /api/put (JSON), with batches of 1, 100
// and 5,000 points. Reports points/s and ack latency p50/p99 per batch size.
// Target: ≥ 300,000 points/s with 5,000-point batches over the WebSocket API.
//
//   npx tsc -p tsconfig.json && node dist/bench/ingest.js [--duration-s 10] [--batches 1,100,5000] [--api ws,http] [--quick]
//
// Writes bench/results/ingest.json and bench/results/ingest.md. The cluster
// helpers here are shared with bench/single-point.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { connect, type PutColumns, type TsraftClient } from '../src/client/index.js';
import { canonicalSeriesKey } from '../src/client/points.js';
import { fmt, percentile, repoRoot, writeResults } from './lib.js';

export const TARGET_POINTS_PER_SECOND = 300_000;

// ---------------------------------------------------------------------------
// A local cluster of real processes

export interface BenchCluster {
  /** Client HTTP URLs by node id. */
  httpUrls: Map<string, string>;
  leader: string;
  leaderUrl: string;
  /** Process ids by node id (for CPU accounting). */
  pids: Map<string, number>;
  stop(): Promise<void>;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux);
 *  null where /proc is not there. */
export function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU used per node (leader first) and by this process while `run` runs. */
export async function measureCpu<T>(cluster: BenchCluster, run: () => Promise<T>): Promise<{ result: T; cpuSeconds: Record<string, number> | null }> {
  const ids = [cluster.leader, ...[...cluster.pids.keys()].filter((id) => id !== cluster.leader)];
  const before = ids.map((id) => processCpuSeconds(cluster.pids.get(id)!));
  const clientBefore = process.cpuUsage();
  const result = await run();
  const client = process.cpuUsage(clientBefore);
  const after = ids.map((id) => processCpuSeconds(cluster.pids.get(id)!));
  if (before.some((v) => v === null) || after.some((v) => v === null)) return { result, cpuSeconds: null };
  const cpuSeconds: Record<string, number> = {};
  ids.forEach((id, i) => (cpuSeconds[i === 0 ? `${id} (leader)` : id] = after[i]! - before[i]!));
  cpuSeconds.client = (client.user + client.system) / 1e6;
  return { result, cpuSeconds };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (!ports.includes(port) && (await canBind(port))) ports.push(port);
  }
  return ports;
}

async function leaderOf(url: string): Promise<string | null> {
  try {
    const response = await fetch(`${url}/status`, { signal: AbortSignal.timeout(1_000) });
    return ((await response.json()) as { leader: string | null }).leader;
  } catch {
    return null;
  }
}

/** Starts `nodes` `tsraft serve` processes and waits for a leader. */
export async function startCluster(nodes = 3, extraConfig: Record<string, unknown> = {}): Promise<BenchCluster> {
  const mainScript = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  const root = mkdtempSync(join(tmpdir(), 'tsraft-bench-'));
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.all(
      children.map((child) =>
        child.exitCode === null && child.signalCode === null
          ? new Promise<void>((done) => {
              const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
              child.once('exit', () => {
                clearTimeout(timer);
                done();
              });
            })
          : null,
      ),
    );
    rmSync(root, { recursive: true, force: true });
  };
  try {
    writeFileSync(join(root, 'secret'), randomBytes(24).toString('hex'), { mode: 0o600 });
    const ports = await freePorts(nodes * 2);
    const ids = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
    const httpUrls = new Map(ids.map((id, i) => [id, `http://127.0.0.1:${ports[2 * i]}`]));
    const peers = Object.fromEntries(ids.map((id, i) => [id, `ws://127.0.0.1:${ports[2 * i + 1]}`]));
    const clientUrls = Object.fromEntries(httpUrls);
    for (const [i, id] of ids.entries()) {
      const config = { nodeId: id, clusterId: 'bench', dataDir: id, secretFile: 'secret', httpPort: ports[2 * i], peerPort: ports[2 * i + 1], peers, clientUrls, logLevel: 'warn', ...extraConfig };
      const path = join(root, `${id}.json`);
      writeFileSync(path, JSON.stringify(config));
      // TSRAFT_BENCH_NODE_ARGS passes flags to the node processes (e.g. --cpu-prof).
      const nodeArgs = (process.env.TSRAFT_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
      children.push(spawn(process.execPath, [...nodeArgs, mainScript, 'serve', '--config', path], { stdio: ['ignore', 'ignore', 'inherit'], cwd: root }));
    }
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error('no leader elected within 30 s');
      const leaders = await Promise.all([...httpUrls.values()].map(leaderOf));
      if (leaders[0] !== null && leaders.every((l) => l === leaders[0])) {
        const leader = leaders[0]!;
        const pids = new Map(ids.map((id, i) => [id, children[i]!.pid!]));
        return { httpUrls, leader, leaderUrl: httpUrls.get(leader)!, pids, stop };
      }
      await sleep(100);
    }
  } catch (error) {
    await stop();
    throw error;
  }
}

// ---------------------------------------------------------------------------
// Workload

/** Series of a devops-like workload: 10 metrics × 200 hosts × up to 4 cpus. */
export function workloadSeries(count: number): Array<[string, Record<string, string>]> {
  const series: Array<[string, Record<string, string>]> = [];
  const metrics = ['cpu.user', 'cpu.system', 'cpu.iowait', 'mem.used', 'mem.free', 'disk.read_bytes', 'disk.write_bytes', 'net.bytes_in', 'net.bytes_out', 'load.1m'];
  for (let i = 0; series.length < count; i++) {
    series.push([`bench.${metrics[i % metrics.length]}`, { host: `host${Math.floor(i / metrics.length) % 1000}`, dc: `dc${i % 3}`, slot: String(Math.floor(i / 10_000)) }]);
  }
  return series;
}

/** Produces batches: consecutive points cycle through the series, each
 *  series' timestamps increase by 10 s per cycle. */
export class BatchSource {
  private next = 0;
  /** Canonical key of each series, computed once: a collector knows its
   *  series and need not rebuild their keys for every batch. */
  private readonly keys: string[];
  constructor(
    readonly series: Array<[string, Record<string, string>]>,
    private readonly startMs: number,
  ) {
    this.keys = series.map(([metric, tags]) => canonicalSeriesKey(metric, tags)!);
  }

  columns(size: number): PutColumns & { seriesKeys: string[]; series: Array<[string, Record<string, string>]> } {
    const s = this.series.length;
    const firstSeries = this.next % s;
    // The series a batch touches, in order; the batch indexes into that list.
    const used = Math.min(size, s);
    const seriesList = new Array<[string, Record<string, string>]>(used);
    const seriesKeys = new Array<string>(used);
    for (let k = 0; k < used; k++) {
      seriesList[k] = this.series[(firstSeries + k) % s]!;
      seriesKeys[k] = this.keys[(firstSeries + k) % s]!;
    }
    const seriesIndexes = new Uint32Array(size);
    const timestamps = new Float64Array(size);
    const values = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      const n = this.next + i;
      seriesIndexes[i] = i % used;
      timestamps[i] = this.startMs + Math.floor(n / s) * 10_000;
      values[i] = (n % 1000) * 0.25;
    }
    this.next += size;
    return { seriesKeys, series: seriesList, seriesIndexes, timestamps, values };
  }

  /** The batch with canonical series keys only (what the client sends). */
  wireColumns(size: number): PutColumns {
    const { seriesKeys, seriesIndexes, timestamps, values } = this.columns(size);
    return { seriesKeys, seriesIndexes, timestamps, values };
  }

  /** The same batch as OpenTSDB /api/put JSON. */
  json(size: number): string {
    const c = this.columns(size);
    const parts: string[] = [];
    for (let i = 0; i < size; i++) {
      const [metric, tags] = c.series[c.seriesIndexes[i]!]!;
      parts.push(`{"metric":"${metric}","timestamp":${c.timestamps[i]},"value":${c.values[i]},"tags":${JSON.stringify(tags)}}`);
    }
    return `[${parts.join(',')}]`;
  }
}

export interface RunResult {
  api: 'ws' | 'http';
  batchPoints: number;
  concurrency: number;
  durationS: number;
  puts: number;
  points: number;
  pointsPerSecond: number;
  ackP50Ms: number;
  ackP99Ms: number;
  /** CPU µs per point of each node (leader first) and the client, while measuring (Linux). */
  cpuMicrosPerPoint: Record<string, number> | null;
}

/** Runs `worker` loops concurrently for `durationMs`, each timing its calls. */
export async function timedLoop(concurrency: number, durationMs: number, call: () => Promise<number>): Promise<{ latenciesMs: number[]; units: number; elapsedMs: number }> {
  const latenciesMs: number[] = [];
  let units = 0;
  const started = performance.now();
  const stopAt = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < stopAt) {
        const t0 = performance.now();
        const done = await call(); // not `units += await call()`: that reads `units` before the await
        units += done;
        latenciesMs.push(performance.now() - t0);
      }
    }),
  );
  return { latenciesMs, units, elapsedMs: performance.now() - started };
}

/** Retries of /api/put answered 503 (no leader) or 421 (the leader moved:
 *  a forwarded write reached a node that no longer leads), as a collector
 *  would retry them. */
export const httpRetries = { count: 0 };

export async function httpPut(url: string, body: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(`${url}/api/put`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    if (response.status === 204) {
      await response.arrayBuffer();
      return;
    }
    const text = await response.text();
    if ((response.status !== 503 && response.status !== 421) || attempt >= 50) throw new Error(`/api/put answered ${response.status}: ${text}`);
    httpRetries.count++;
    await sleep(50);
  }
}

export async function runIngest(cluster: BenchCluster, client: TsraftClient, api: 'ws' | 'http', batchPoints: number, concurrency: number, durationMs: number, source: BatchSource): Promise<RunResult> {
  const call =
    api === 'ws'
      ? async (): Promise<number> => {
          const result = await client.putColumns(source.wireColumns(batchPoints));
          if (result.failed > 0) throw new Error(`points rejected: ${JSON.stringify(result.errors[0])}`);
          return result.success;
        }
      : async (): Promise<number> => {
          await httpPut(cluster.leaderUrl, source.json(batchPoints));
          return batchPoints;
        };
  // Warm up connections, JIT and the series index, then measure.
  await timedLoop(concurrency, Math.min(2_000, durationMs / 4), call);
  const { result: loop, cpuSeconds } = await measureCpu(cluster, () => timedLoop(concurrency, durationMs, call));
  const { latenciesMs, units, elapsedMs } = loop;
  return {
    api,
    batchPoints,
    concurrency,
    durationS: Math.round(elapsedMs) / 1000,
    puts: latenciesMs.length,
    points: units,
    pointsPerSecond: Math.round((units / elapsedMs) * 1000),
    ackP50Ms: Math.round(percentile(latenciesMs, 50) * 100) / 100,
    ackP99Ms: Math.round(percentile(latenciesMs, 99) * 100) / 100,
    cpuMicrosPerPoint: cpuSeconds === null ? null : Object.fromEntries(Object.entries(cpuSeconds).map(([who, seconds]) => [who, Math.round((seconds / units) * 1e7) / 10])),
  };
}

/** In-flight puts per batch size: enough to keep the pipeline full. */
export function concurrencyFor(batchPoints: number): number {
  return batchPoints >= 5_000 ? 8 : batchPoints >= 100 ? 32 : 64;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'duration-s': { type: 'string' }, concurrency: { type: 'string' }, batches: { type: 'string', default: '1,100,5000' }, api: { type: 'string', default: 'ws,http' }, quick: { type: 'boolean' }, series: { type: 'string', default: '10000' } },
  });
  const durationMs = Number(values['duration-s'] ?? (values.quick === true ? '3' : '10')) * 1000;
  const batches = values.batches.split(',').map(Number);
  const apis = values.api.split(',') as Array<'ws' | 'http'>;
  const seriesCount = Number(values.series);
  const results: RunResult[] = [];
  // Other work on the machine skews these figures: record how busy it was.
  const loadAverageAtStart = loadavg()[0]!;
  const cluster = await startCluster(3);
  try {
    const client = await connect([cluster.leaderUrl, ...cluster.httpUrls.values()], { timeoutMs: 60_000 });
    const source = new BatchSource(workloadSeries(seriesCount), Date.UTC(2024, 0, 1));
    try {
      for (const api of apis) {
        for (const batch of batches) {
          const inFlight = values.concurrency === undefined ? concurrencyFor(batch) : Number(values.concurrency);
          const r = await runIngest(cluster, client, api, batch, inFlight, durationMs, source);
          results.push(r);
          const cpu = r.cpuMicrosPerPoint === null ? '' : `; CPU µs/point ${Object.entries(r.cpuMicrosPerPoint).map(([who, us]) => `${who} ${us}`).join(', ')}`;
          console.log(`${api} batch ${batch} ×${r.concurrency} in flight: ${fmt(r.pointsPerSecond)} points/s, ack p50 ${r.ackP50Ms} ms, p99 ${r.ackP99Ms} ms (${r.points} points in ${r.durationS} s)${cpu}`);
        }
      }
    } finally {
      await client.close();
    }
  } finally {
    await cluster.stop();
  }
  const best5000 = results.find((r) => r.api === 'ws' && r.batchPoints === 5000);
  const meetsTarget = best5000 !== undefined && best5000.pointsPerSecond >= TARGET_POINTS_PER_SECOND;
  const cpuCell = (r: RunResult): string => (r.cpuMicrosPerPoint === null ? '—' : Object.values(r.cpuMicrosPerPoint).join(' / '));
  const rows = results.map((r) => `| ${r.api === 'ws' ? 'WebSocket (CBOR columns)' : 'OpenTSDB /api/put (JSON)'} | ${r.batchPoints} | ${r.concurrency} | ${fmt(r.pointsPerSecond)} | ${r.ackP50Ms} ms | ${r.ackP99Ms} ms | ${r.points} | ${cpuCell(r)} |`);
  const markdown = [
    '# Ingest through a local 3-node cluster',
    '',
    `3 real \`tsraft serve\` processes on 127.0.0.1 (fsync on), ${seriesCount} series, ${durationMs / 1000} s per row after a warm-up; ` +
      `1-minute load average ${loadAverageAtStart.toFixed(1)} at the start (other work shares the machine). ` +
      'Writes go to the leader; each put is acknowledged after its entry is committed by a majority and applied on the leader.',
    '',
    '| API | points per put | puts in flight | points/s | ack p50 | ack p99 | points | CPU µs per point: leader / followers / client |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    best5000 === undefined ? '' : `Target: ≥ ${fmt(TARGET_POINTS_PER_SECOND)} points/s with 5,000-point batches over WebSocket — ${meetsTarget ? 'met' : 'NOT met'} (${fmt(best5000.pointsPerSecond)}).`,
    '',
    'Reproduce: `npx tsc -p tsconfig.json && node dist/bench/ingest.js`.',
  ].join('\n');
  writeResults('ingest', { targetPointsPerSecond: TARGET_POINTS_PER_SECOND, meetsTarget, seriesCount, durationS: durationMs / 1000, httpRetries: httpRetries.count, loadAverageAtStart, loadAverageAtEnd: loadavg()[0], results }, markdown);
  console.log(markdown);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
