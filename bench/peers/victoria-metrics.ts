// VictoriaMetrics side of the peer benchmarks (issue 9): ingest of
// ../shared/data/devops-1d.put.gz through VictoriaMetrics' OpenTSDB HTTP
// /api/put (points/s), its bytes per point on disk after a forced flush and
// merge, and a bit-for-bit check of what it gives back through
// /api/v1/export against the file (is it lossless on this data?).
//
// Each run starts a fresh single-node victoria-metrics (Debian package) on
// 127.0.0.1 with an empty temporary data directory, and stops it again.
//
//   node dist/bench/peers/victoria-metrics.js [--runs N] [--quick] [--no-fidelity] [--no-telnet]
//
// Writes bench/results/peers-victoria-metrics.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { loadavg } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PointColumns } from '../../src/tsdb/points.js';
import { SeriesData } from '../../src/tsdb/series-data.js';
import {
  commandExists,
  debianPackageVersion,
  directoryBytes,
  freePort,
  LOOPBACK,
  machineInfo,
  repoRoot,
  type Spread,
  spread,
  startDaemon,
  stopDaemon,
  tempDir,
  waitForHttp,
} from './daemons.js';
import { type DevopsDataset, loadDevopsDataset, seriesKey } from './devops-data.js';

const VM_COMMAND = 'victoria-metrics';
/** Points per /api/put request: ~1 MB of JSON, well under VM's 32 MB limit. */
const DEFAULT_BATCH_POINTS = 10_000;
/** Requests in flight at once (the machine has 2 cores). */
const DEFAULT_CONCURRENCY = 4;
/** Bound on waiting for VM's background merges after /internal/force_merge. */
const MERGE_WAIT_MS = 120_000;

// ---------------------------------------------------------------------------
// Talking to VictoriaMetrics

interface VmInstance {
  httpUrl: string;
  putUrl: string;
  telnetPort: number;
  dataDir: string;
  logPath: string;
  stop: () => Promise<{ cleanExit: boolean }>;
}

async function startVictoriaMetrics(dataDir: string, logPath: string, extraArgs: string[] = []): Promise<VmInstance> {
  const httpPort = await freePort();
  const putPort = await freePort();
  const telnetPort = await freePort();
  const daemon = startDaemon(
    'victoria-metrics',
    VM_COMMAND,
    [
      `-storageDataPath=${dataDir}`,
      `-httpListenAddr=${LOOPBACK}:${httpPort}`,
      `-opentsdbHTTPListenAddr=${LOOPBACK}:${putPort}`,
      `-opentsdbListenAddr=${LOOPBACK}:${telnetPort}`,
      // The dataset is from November 2023: the default 1-month retention would drop it.
      '-retentionPeriod=100y',
      // Explicit defaults that decide fidelity: no deduplication, full 64-bit precision,
      // HTTP timestamps kept to the millisecond.
      '-dedup.minScrapeInterval=0s',
      '-precisionBits=64',
      '-opentsdbhttpTrimTimestamp=1ms',
      ...extraArgs,
    ],
    logPath,
  );
  const httpUrl = `http://${LOOPBACK}:${httpPort}`;
  try {
    await waitForHttp(daemon, `${httpUrl}/health`);
  } catch (e) {
    await stopDaemon(daemon, 'SIGKILL');
    throw e;
  }
  // SIGINT is VictoriaMetrics' graceful shutdown: it flushes in-memory rows to parts.
  return { httpUrl, putUrl: `http://${LOOPBACK}:${putPort}/api/put`, telnetPort, dataDir, logPath, stop: () => stopDaemon(daemon, 'SIGINT') };
}

/** The dataset as /api/put JSON bodies, values and timestamps copied verbatim from the file. */
export function buildPutBodies(ds: DevopsDataset, batchPoints: number): Buffer[] {
  const prefixes = ds.series.map((s) => `{"metric":${JSON.stringify(s.metric)},"tags":${JSON.stringify(s.tags)},"timestamp":`);
  const bodies: Buffer[] = [];
  for (let start = 0; start < ds.points.length; start += batchPoints) {
    const parts: string[] = [];
    const end = Math.min(ds.points.length, start + batchPoints);
    for (let i = start; i < end; i++) {
      const p = ds.points[i]!;
      parts.push(`${prefixes[p.seriesIndex]}${p.timestampText},"value":${p.valueText}}`);
    }
    bodies.push(Buffer.from(`[${parts.join(',')}]`));
  }
  return bodies;
}

function httpPost(agent: Agent, url: string, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolvePost, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolvePost({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends every body with `concurrency` requests in flight; fails on any non-2xx answer. */
async function sendBodies(url: string, bodies: Buffer[], concurrency: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < bodies.length) {
      const body = bodies[next++]!;
      const res = await httpPost(agent, url, body);
      if (res.status < 200 || res.status > 299) throw new Error(`VictoriaMetrics /api/put answered ${res.status}: ${res.text.slice(0, 300)}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  return (performance.now() - started) / 1000;
}

/** Sends the file's put lines verbatim over one telnet connection; resolves when VM closes it. */
function sendTelnet(port: number, text: Buffer): Promise<number> {
  return new Promise((resolveSend, reject) => {
    const started = performance.now();
    const socket = connect(port, LOOPBACK, () => socket.end(text));
    socket.on('data', () => undefined);
    socket.on('error', reject);
    socket.on('close', () => resolveSend((performance.now() - started) / 1000));
  });
}

async function httpGetText(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(600_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}: ${text.slice(0, 300)}`);
  return text;
}

/** Sums a Prometheus text metric by its `type` label (or '' when unlabelled). */
function metricByType(metricsText: string, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  const re = new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm');
  for (const m of metricsText.matchAll(re)) {
    const type = /type="([^"]*)"/.exec(m[1] ?? '')?.[1] ?? '';
    out[type] = (out[type] ?? 0) + Number(m[2]);
  }
  return out;
}

const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

/**
 * Flushes buffered rows to parts, merges the month's parts, and waits until the
 * merge is over. /internal/force_merge only starts a background merge, and
 * VictoriaMetrics 1.79 panics ("unexpected refCount ... when closing the
 * partition") if it is stopped while that merge runs, losing unflushed parts;
 * so this waits for the merge's "successfully finished" log line as well as
 * for the merge gauges to fall to zero.
 */
async function flushAndMerge(vm: VmInstance, partitionPrefix: string): Promise<number> {
  const started = performance.now();
  await httpGetText(`${vm.httpUrl}/internal/force_flush`);
  await httpGetText(`${vm.httpUrl}/internal/force_merge?partition_prefix=${partitionPrefix}`);
  const finished = `forced merge for partition_prefix="${partitionPrefix}" has been successfully finished`;
  const deadline = Date.now() + MERGE_WAIT_MS;
  for (;;) {
    const text = await httpGetText(`${vm.httpUrl}/metrics`);
    const active = sum(metricByType(text, 'vm_active_merges')) + sum(metricByType(text, 'vm_active_force_merges'));
    const pending = sum(metricByType(text, 'vm_pending_rows'));
    if (active === 0 && pending === 0 && readFileSync(vm.logPath, 'utf8').includes(finished)) break;
    if (Date.now() > deadline) throw new Error(`VictoriaMetrics still merging after ${MERGE_WAIT_MS} ms; see ${vm.logPath}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return (performance.now() - started) / 1000;
}

interface ExportedSeries {
  timestampsMs: number[];
  values: number[];
}

/** Everything VM holds, by series key, from /api/v1/export (JSON lines). */
async function exportAll(vm: VmInstance): Promise<Map<string, ExportedSeries>> {
  const query = new URLSearchParams({ 'match[]': '{__name__!=""}', start: '0', end: String(4_102_444_800) });
  const text = await httpGetText(`${vm.httpUrl}/api/v1/export?${query}`);
  const out = new Map<string, ExportedSeries>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const row = JSON.parse(line) as { metric: Record<string, string>; values: number[]; timestamps: number[] };
    const { __name__: metric, ...tags } = row.metric;
    if (metric === undefined) throw new Error(`export row without __name__: ${line.slice(0, 200)}`);
    const key = seriesKey(metric, tags);
    const s = out.get(key) ?? { timestampsMs: [], values: [] };
    // A series may come back in several rows (one per stored block): concatenate.
    for (let i = 0; i < row.values.length; i++) {
      s.timestampsMs.push(row.timestamps[i]!);
      s.values.push(row.values[i]!);
    }
    out.set(key, s);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Fidelity: the export against the file, bit for bit

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
function bitsOf(x: number): bigint {
  f64[0] = x;
  return u64[0]!;
}

export interface FidelityReport {
  inputPoints: number;
  exportedPoints: number;
  inputSeries: number;
  exportedSeries: number;
  /** Input points with no exported point at the same series and millisecond. */
  missingPoints: number;
  /** Exported points with no input point at the same series and millisecond. */
  extraPoints: number;
  /** Points whose exported float64 has exactly the input's bits. */
  bitExactValues: number;
  /** Points whose exported value differs from the input's float64. */
  changedValues: number;
  /** Of the changed values: how far, in units in the last place. */
  changedByUlps: Record<string, number>;
  maxRelativeError: number;
  /** Changed and missing values per metric. */
  byMetric: Record<string, { points: number; changed: number; missing: number }>;
  /** Up to 10 examples: input text, input float64, exported float64. */
  examples: { series: string; timestampMs: number; inputText: string; input: number; exported: number }[];
  lossless: boolean;
}

/** Compares VM's export with the dataset; also returns VM's values aligned to the input points (NaN where missing). */
export function compareExport(ds: DevopsDataset, exported: Map<string, ExportedSeries>): { report: FidelityReport; alignedValues: Float64Array } {
  const alignedValues = new Float64Array(ds.points.length).fill(Number.NaN);
  // Per series: exported ms → exported value.
  const lookup = ds.series.map((s) => {
    const e = exported.get(s.key);
    const m = new Map<number, number>();
    if (e !== undefined) for (let i = 0; i < e.timestampsMs.length; i++) m.set(e.timestampsMs[i]!, e.values[i]!);
    return m;
  });
  const report: FidelityReport = {
    inputPoints: ds.points.length,
    exportedPoints: [...exported.values()].reduce((n, s) => n + s.values.length, 0),
    inputSeries: ds.series.length,
    exportedSeries: exported.size,
    missingPoints: 0,
    extraPoints: 0,
    bitExactValues: 0,
    changedValues: 0,
    changedByUlps: {},
    maxRelativeError: 0,
    byMetric: {},
    examples: [],
    lossless: false,
  };
  const matched = ds.series.map(() => new Set<number>());
  for (let i = 0; i < ds.points.length; i++) {
    const p = ds.points[i]!;
    const metric = ds.series[p.seriesIndex]!.metric;
    const perMetric = (report.byMetric[metric] ??= { points: 0, changed: 0, missing: 0 });
    perMetric.points++;
    const got = lookup[p.seriesIndex]!.get(p.timestampMs);
    if (got === undefined) {
      report.missingPoints++;
      perMetric.missing++;
      continue;
    }
    matched[p.seriesIndex]!.add(p.timestampMs);
    alignedValues[i] = got;
    const a = bitsOf(p.value);
    const b = bitsOf(got);
    if (a === b) {
      report.bitExactValues++;
      continue;
    }
    report.changedValues++;
    perMetric.changed++;
    const sameSign = (a >> 63n) === (b >> 63n);
    const ulps = sameSign ? (a > b ? a - b : b - a) : -1n;
    const bucket = ulps < 0n ? 'sign differs' : ulps <= 4n ? String(ulps) : ulps <= 1000n ? '5-1000' : '>1000';
    report.changedByUlps[bucket] = (report.changedByUlps[bucket] ?? 0) + 1;
    const rel = p.value === 0 ? Math.abs(got) : Math.abs(got - p.value) / Math.abs(p.value);
    report.maxRelativeError = Math.max(report.maxRelativeError, rel);
    if (report.examples.length < 10) {
      report.examples.push({ series: ds.series[p.seriesIndex]!.key, timestampMs: p.timestampMs, inputText: p.valueText, input: p.value, exported: got });
    }
  }
  for (const [key, e] of exported) {
    const idx = ds.series.findIndex((s) => s.key === key);
    if (idx < 0) {
      report.extraPoints += e.values.length;
      continue;
    }
    for (const ts of e.timestampsMs) if (!matched[idx]!.has(ts)) report.extraPoints++;
  }
  report.lossless = report.missingPoints === 0 && report.extraPoints === 0 && report.changedValues === 0 && report.exportedPoints === report.inputPoints;
  return { report, alignedValues };
}

/** Our codec (SeriesData, 2 h blocks, all sealed) on the given values at the dataset's timestamps. */
export function ourCodecBytesPerPoint(ds: DevopsDataset, values: Float64Array): { points: number; encodedBytes: number; bytesPerPoint: number } {
  const bySeries = ds.series.map(() => [] as number[]);
  for (let i = 0; i < ds.points.length; i++) if (!Number.isNaN(values[i]!)) bySeries[ds.points[i]!.seriesIndex]!.push(i);
  let encodedBytes = 0;
  let points = 0;
  for (const indexes of bySeries) {
    const n = indexes.length;
    const cols: PointColumns = { length: n, timestampsMs: new Float64Array(n), values: new Float64Array(n), isInteger: new Uint8Array(n), bigInts: null };
    indexes.forEach((i, k) => {
      const p = ds.points[i]!;
      cols.timestampsMs[k] = p.timestampMs;
      cols.values[k] = values[i]!;
      cols.isInteger[k] = p.isInteger && Number.isSafeInteger(values[i]!) ? 1 : 0;
    });
    const data = new SeriesData();
    data.appendColumns(cols);
    data.sealAll();
    encodedBytes += data.encodedBytes();
    points += data.pointCount();
  }
  return { points, encodedBytes, bytesPerPoint: encodedBytes / points };
}

// ---------------------------------------------------------------------------
// One run

interface DiskBytes {
  /** data/ (the samples: small and big parts). */
  dataParts: number;
  /** indexdb/ (series names and the inverted index). */
  indexdb: number;
  /** Everything under -storageDataPath, caches and metadata included. */
  total: number;
}

export interface VmRun {
  /** How the points were sent: OpenTSDB HTTP /api/put (JSON) or telnet put lines. */
  protocol: 'http-api-put' | 'telnet-put';
  /** Points sent (the whole dataset). */
  points: number;
  /** Rows VM reports storing (vm_rows for storage/small + storage/big) after the merge. */
  storedPoints: number;
  ingestSeconds: number;
  pointsPerSecond: number;
  flushAndMergeSeconds: number;
  /** vm_data_size_bytes after the forced merge, by type (storage/small, storage/big, indexdb). */
  vmDataSizeBytes: Record<string, number>;
  /** vm_rows by type after the merge. */
  vmRows: Record<string, number>;
  /** On disk after a clean stop (SIGINT). */
  diskBytes: DiskBytes;
  /** Bytes divided by the points sent. */
  bytesPerPoint: { dataParts: number; dataPartsPlusIndexdb: number; wholeDataDirectory: number; vmDataSizeStorage: number; vmDataSizeAll: number };
  /** data/ + indexdb/ divided by the rows VM actually stored. */
  bytesPerStoredPoint: number;
  cleanExit: boolean;
  /** 1-minute load average when the run started (other work on the 2 cores skews ingest). */
  loadAverage1m: number;
}

type Load = { protocol: 'http-api-put'; bodies: Buffer[]; concurrency: number } | { protocol: 'telnet-put'; text: Buffer };

async function runOnce(ds: DevopsDataset, load: Load, withExport: boolean): Promise<{ run: VmRun; exported: Map<string, ExportedSeries> | null }> {
  const dir = tempDir('tsraft-peers-vm-');
  const dataDir = join(dir.path, 'storage');
  let vm: VmInstance | null = null;
  const loadAverage1m = loadavg()[0]!;
  try {
    vm = await startVictoriaMetrics(dataDir, join(dir.path, 'victoria-metrics.log'));
    const ingestSeconds = load.protocol === 'http-api-put' ? await sendBodies(vm.putUrl, load.bodies, load.concurrency) : await sendTelnet(vm.telnetPort, load.text);
    const partition = new Date(ds.points[0]!.timestampMs).toISOString().slice(0, 7).replace('-', '_');
    const flushAndMergeSeconds = await flushAndMerge(vm, partition);
    const metricsText = await httpGetText(`${vm.httpUrl}/metrics`);
    const vmDataSizeBytes = metricByType(metricsText, 'vm_data_size_bytes');
    const vmRows = metricByType(metricsText, 'vm_rows');
    const exported = withExport ? await exportAll(vm) : null;
    const { cleanExit } = await vm.stop();
    vm = null;
    if (!cleanExit) {
      // A killed or failed shutdown leaves unflushed parts behind: its disk size means nothing.
      const log = readFileSync(join(dir.path, 'victoria-metrics.log'), 'utf8').split('\n').slice(-40).join('\n');
      throw new Error(`victoria-metrics did not shut down cleanly; its log ends with:\n${log}`);
    }
    const diskBytes: DiskBytes = {
      dataParts: directoryBytes(join(dataDir, 'data')),
      indexdb: directoryBytes(join(dataDir, 'indexdb')),
      total: directoryBytes(dataDir),
    };
    const n = ds.points.length;
    const storage = (vmDataSizeBytes['storage/small'] ?? 0) + (vmDataSizeBytes['storage/big'] ?? 0);
    const storedPoints = (vmRows['storage/small'] ?? 0) + (vmRows['storage/big'] ?? 0);
    const run: VmRun = {
      protocol: load.protocol,
      points: n,
      storedPoints,
      ingestSeconds,
      pointsPerSecond: n / ingestSeconds,
      flushAndMergeSeconds,
      vmDataSizeBytes,
      vmRows,
      diskBytes,
      bytesPerPoint: {
        dataParts: diskBytes.dataParts / n,
        dataPartsPlusIndexdb: (diskBytes.dataParts + diskBytes.indexdb) / n,
        wholeDataDirectory: diskBytes.total / n,
        vmDataSizeStorage: storage / n,
        vmDataSizeAll: sum(vmDataSizeBytes) / n,
      },
      bytesPerStoredPoint: (diskBytes.dataParts + diskBytes.indexdb) / storedPoints,
      cleanExit,
      loadAverage1m,
    };
    return { run, exported };
  } finally {
    if (vm !== null) await vm.stop();
    dir.remove();
  }
}

// ---------------------------------------------------------------------------
// The benchmark

export interface VmPeerReport {
  benchmark: 'peers-victoria-metrics';
  generatedBy: string;
  date: string;
  machine: ReturnType<typeof machineInfo>;
  peer: { name: 'VictoriaMetrics'; debianPackage: string; version: string | null; mode: string; flags: string[] };
  dataset: { path: string; points: number; series: number };
  client: { protocol: string; batchPoints: number; concurrency: number; requests: number; note: string };
  ingestPointsPerSecond: Spread;
  /** Bytes per point of VM's data/ parts (the samples), median over runs. */
  bytesPerPointDataParts: Spread;
  /** data/ + indexdb/: what VM needs to answer queries. The figure to compare with ours. */
  bytesPerPointDataPlusIndex: Spread;
  bytesPerPointWholeDirectory: Spread;
  bytesPerPointVmDataSizeMetric: Spread;
  runs: VmRun[];
  /** The uncounted first run (its export is the one checked for fidelity). */
  warmupRun: VmRun | null;
  fidelity: FidelityReport | { skipped: string };
  /** Our codec on the same timestamps with VM's exported values (equal to the input when VM is lossless). */
  ourCodecOnVmValues?: { points: number; encodedBytes: number; bytesPerPoint: number };
  ourCodecOnInput?: { points: number; encodedBytes: number; bytesPerPoint: number };
  /**
   * The same file sent as telnet put lines instead (one run). VictoriaMetrics'
   * telnet parser reads every timestamp as seconds, so the 13-digit
   * millisecond timestamps become dates ~50,000 years ahead and those rows are
   * refused (logged as warnings only): bytes per point measured this way
   * describe a smaller dataset.
   */
  telnetVariant?: {
    run: VmRun;
    fidelity: FidelityReport;
    /** Our codec on exactly the points VM kept, divided by the points it kept. */
    ourCodecOnStoredPoints: { points: number; encodedBytes: number; bytesPerPoint: number };
  };
}

export interface VmBenchOptions {
  runs: number;
  maxPoints?: number;
  batchPoints?: number;
  concurrency?: number;
  fidelity?: boolean;
  /** Also run the telnet variant (default true). */
  telnet?: boolean;
}

export async function runVictoriaMetricsPeerBench(options: VmBenchOptions): Promise<VmPeerReport> {
  if (!commandExists(VM_COMMAND)) throw new Error(`${VM_COMMAND} is not installed: run bench/peers/setup.sh (apt-get install victoria-metrics)`);
  const root = repoRoot();
  const datasetPath = resolve(root, '..', 'shared', 'data', 'devops-1d.put.gz');
  const ds = loadDevopsDataset(datasetPath, options.maxPoints);
  const batchPoints = options.batchPoints ?? DEFAULT_BATCH_POINTS;
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const bodies = buildPutBodies(ds, batchPoints);
  const runs: VmRun[] = [];
  let fidelity: FidelityReport | { skipped: string } = { skipped: 'not requested' };
  let ourCodecOnVmValues: VmPeerReport['ourCodecOnVmValues'];
  let ourCodecOnInput: VmPeerReport['ourCodecOnInput'];
  // Run 0 warms the client (JIT, sockets) and the page cache; it is the run
  // whose data is exported and checked, and it is not counted in the medians.
  let warmupRun: VmRun | null = null;
  for (let r = 0; r <= options.runs; r++) {
    const withExport = r === 0 && options.fidelity !== false;
    const { run, exported } = await runOnce(ds, { protocol: 'http-api-put', bodies, concurrency }, withExport);
    if (r === 0) warmupRun = run;
    else runs.push(run);
    console.log(`victoria-metrics ${r === 0 ? 'warm-up run' : `run ${r}/${options.runs}`}: ${Math.round(run.pointsPerSecond)} points/s, ${run.bytesPerPoint.dataPartsPlusIndexdb.toFixed(3)} bytes/point (data+indexdb)`);
    if (exported !== null) {
      const { report, alignedValues } = compareExport(ds, exported);
      fidelity = report;
      const inputValues = Float64Array.from(ds.points, (p) => p.value);
      ourCodecOnInput = ourCodecBytesPerPoint(ds, inputValues);
      ourCodecOnVmValues = ourCodecBytesPerPoint(ds, alignedValues);
      console.log(`victoria-metrics fidelity: ${report.bitExactValues} bit-exact, ${report.changedValues} changed, ${report.missingPoints} missing, ${report.extraPoints} extra`);
    }
  }
  let telnetVariant: VmPeerReport['telnetVariant'];
  if (options.telnet !== false) {
    const text = gunzipSync(readFileSync(datasetPath));
    const { run, exported } = await runOnce(ds, { protocol: 'telnet-put', text }, true);
    const { report: fid, alignedValues } = compareExport(ds, exported!);
    telnetVariant = { run, fidelity: fid, ourCodecOnStoredPoints: ourCodecBytesPerPoint(ds, alignedValues) };
    console.log(`victoria-metrics telnet variant: stored ${run.storedPoints} of ${run.points} points, ${run.bytesPerPoint.dataPartsPlusIndexdb.toFixed(3)} bytes per sent point`);
  }
  const report: VmPeerReport = {
    benchmark: 'peers-victoria-metrics',
    generatedBy: 'node dist/bench/peers/victoria-metrics.js',
    date: new Date().toISOString(),
    machine: machineInfo(),
    peer: {
      name: 'VictoriaMetrics',
      debianPackage: 'victoria-metrics',
      version: debianPackageVersion('victoria-metrics'),
      mode: 'single node, unreplicated, one process on 127.0.0.1, fresh data directory per run',
      flags: ['-retentionPeriod=100y', '-dedup.minScrapeInterval=0s', '-precisionBits=64', '-opentsdbhttpTrimTimestamp=1ms'],
    },
    dataset: { path: relative(root, datasetPath), points: ds.points.length, series: ds.series.length },
    client: {
      protocol: 'OpenTSDB HTTP POST /api/put, JSON arrays, values and timestamps copied verbatim from the file',
      batchPoints,
      concurrency,
      requests: bodies.length,
      note: 'ingest time runs from the first request to the last 204 answer; bodies are built before timing; the client shares the 2 cores with VM',
    },
    ingestPointsPerSecond: spread(runs.map((r) => r.pointsPerSecond)),
    bytesPerPointDataParts: spread(runs.map((r) => r.bytesPerPoint.dataParts)),
    bytesPerPointDataPlusIndex: spread(runs.map((r) => r.bytesPerPoint.dataPartsPlusIndexdb)),
    bytesPerPointWholeDirectory: spread(runs.map((r) => r.bytesPerPoint.wholeDataDirectory)),
    bytesPerPointVmDataSizeMetric: spread(runs.map((r) => r.bytesPerPoint.vmDataSizeAll)),
    runs,
    warmupRun,
    fidelity,
  };
  if (ourCodecOnVmValues !== undefined) report.ourCodecOnVmValues = ourCodecOnVmValues;
  if (ourCodecOnInput !== undefined) report.ourCodecOnInput = ourCodecOnInput;
  if (telnetVariant !== undefined) report.telnetVariant = telnetVariant;
  return report;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  // Runs are short (1.2 M points, a few seconds each), so take more of them than elsewhere.
  const runs = Number(argValue('--runs') ?? (quick ? 1 : 7));
  const report = await runVictoriaMetricsPeerBench({ runs, fidelity: !process.argv.includes('--no-fidelity'), telnet: !process.argv.includes('--no-telnet') });
  const outDir = join(repoRoot(), 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'peers-victoria-metrics.json'), JSON.stringify(report, null, 2) + '\n');
  console.log(`wrote ${join(outDir, 'peers-victoria-metrics.json')}`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exit(1);
  });
}
