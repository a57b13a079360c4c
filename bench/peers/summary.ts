// Markdown summary of the peer benchmarks: reads bench/results/peers-etcd.json
// and bench/results/peers-victoria-metrics.json (whichever exist) and writes
// bench/results/peers-summary.md. Our own side of each comparison comes from
// bench/single-point.ts, bench/ingest.ts and bench/compression.ts; the ratio
// table joining them belongs to the bench harness (bench/run.ts).
//
//   node dist/bench/peers/summary.js
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot, type Spread } from './daemons.js';
import type { EtcdPeerReport } from './etcd.js';
import type { VmPeerReport } from './victoria-metrics.js';

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (n: number): string => n.toFixed(2);
const bpp = (n: number): string => n.toFixed(3);
const range = (s: Spread, f: (n: number) => string): string => `${f(s.median)} (${f(s.min)}–${f(s.max)})`;

/** "load average 4.1–9.8" over the runs that recorded it (older results did not). */
function loadNote(loads: (number | undefined)[]): string {
  const known = loads.filter((l): l is number => typeof l === 'number');
  if (known.length === 0) return '';
  return ` 1-minute load average at the start of the runs: ${Math.min(...known).toFixed(1)}–${Math.max(...known).toFixed(1)} (2 cores).`;
}

export function renderEtcd(r: EtcdPeerReport): string[] {
  const lines = [
    `## etcd ${r.peer.serverVersion} (${r.peer.members} members, Debian ${r.peer.debianPackage} ${r.peer.packageVersion ?? '?'})`,
    '',
    `${r.workload.operation}; ${r.workload.keyBytes}-byte keys over ${int(r.workload.keySpace)} distinct keys, ${r.workload.valueBytes}-byte values; ${r.workload.secondsPerRun} s per run, median of ${r.workload.runsPerFigure} runs (min–max). ${r.peer.mode}.${loadNote(r.runs.map((x) => x.loadAverage1m))}`,
    '',
    '| client path | concurrency | puts/s | p50 ms | p99 ms |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const f of r.figures) {
    const primary = f.protocol === r.primaryProtocol ? ' (primary)' : '';
    lines.push(`| ${f.protocol}${primary} | ${f.concurrency} | ${range(f.opsPerSecond, int)} | ${range(f.latencyP50Ms, ms)} | ${range(f.latencyP99Ms, ms)} |`);
  }
  lines.push('', 'Clients (Debian ships no etcd `benchmark` tool):', '');
  for (const [k, v] of Object.entries(r.clients)) lines.push(`- **${k}**: ${v}.`);
  lines.push('', `Target (${r.workload.target}).`, '');
  return lines;
}

export function renderVm(r: VmPeerReport): string[] {
  const lines = [
    `## VictoriaMetrics ${r.peer.version ?? '?'} (Debian ${r.peer.debianPackage})`,
    '',
    `${r.dataset.path}: ${int(r.dataset.points)} points, ${r.dataset.series} series. ${r.peer.mode}; flags ${r.peer.flags.map((f) => `\`${f}\``).join(' ')}.`,
    `Client: ${r.client.protocol}; ${int(r.client.batchPoints)} points per request, ${r.client.concurrency} requests in flight; ${r.client.note}.`,
    '',
    `Median of ${r.ingestPointsPerSecond.runs} runs (min–max), each a fresh VictoriaMetrics ingesting the whole file, then /internal/force_flush, /internal/force_merge and a clean stop.${loadNote(r.runs.map((x) => x.loadAverage1m))}`,
    '',
    '| figure | value |',
    '| --- | ---: |',
    `| ingest, points/s | ${range(r.ingestPointsPerSecond, int)} |`,
    `| bytes/point, data/ + indexdb/ on disk | **${range(r.bytesPerPointDataPlusIndex, bpp)}** |`,
    `| bytes/point, data/ only (samples) | ${range(r.bytesPerPointDataParts, bpp)} |`,
    `| bytes/point, vm_data_size_bytes (all types) | ${range(r.bytesPerPointVmDataSizeMetric, bpp)} |`,
    `| bytes/point, whole data directory (with caches) | ${range(r.bytesPerPointWholeDirectory, bpp)} |`,
    '',
  ];
  const f = r.fidelity;
  if ('skipped' in f) {
    lines.push(`Fidelity check skipped (${f.skipped}).`, '');
  } else {
    lines.push(
      '### Is it lossless on this file?',
      '',
      `/api/v1/export after the warm-up run, compared with the file point by point (same series, same millisecond, same float64 bits): ` +
        `${int(f.exportedPoints)} of ${int(f.inputPoints)} points exported, ${int(f.bitExactValues)} bit-exact, ${int(f.changedValues)} changed, ` +
        `${int(f.missingPoints)} missing, ${int(f.extraPoints)} extra → **${f.lossless ? 'lossless' : 'lossy'}**.`,
      '',
    );
    if (r.ourCodecOnVmValues !== undefined && r.ourCodecOnInput !== undefined) {
      lines.push(`Our codec (SeriesData, 2 h blocks) on the same points: ${bpp(r.ourCodecOnInput.bytesPerPoint)} bytes/point on the file's values, ${bpp(r.ourCodecOnVmValues.bytesPerPoint)} on VictoriaMetrics' exported values.`, '');
    }
  }
  const t = r.telnetVariant;
  if (t !== undefined) {
    const latency = t.fidelity.byMetric['app.http.latency_ms'];
    lines.push(
      '### The same file over the telnet put protocol',
      '',
      `VictoriaMetrics' telnet parser reads every timestamp as seconds: the ${int(latency?.missing ?? 0)} points with 13-digit millisecond timestamps land ~50,000 years ahead and are refused with a log warning only. ` +
        `It stored ${int(t.run.storedPoints)} of ${int(t.run.points)} points; ${bpp(t.run.bytesPerPoint.dataPartsPlusIndexdb)} bytes per point sent, ${bpp(t.run.bytesPerStoredPoint)} per point stored ` +
        `(our codec on exactly those points: ${bpp(t.ourCodecOnStoredPoints.bytesPerPoint)} per point stored). A bytes/point figure measured this way describes a dataset without its costliest metric.`,
      '',
    );
  }
  return lines;
}

export function renderPeerSummary(etcd: EtcdPeerReport | null, vm: VmPeerReport | null): string {
  const machine = etcd?.machine ?? vm?.machine;
  const lines = ['# Peer benchmarks', ''];
  if (machine !== undefined) lines.push(`Machine: ${machine.cpus} × ${machine.cpuModel}, ${(machine.memoryBytes / 2 ** 30).toFixed(0)} GiB, ${machine.platform}, Node ${machine.node}. Command: \`make bench-peers\` (bench/peers/setup.sh). Everything on 127.0.0.1, started and stopped by the run.`, '');
  if (etcd !== null) lines.push(`etcd measured ${etcd.date}.`, '', ...renderEtcd(etcd));
  else lines.push('etcd: no results (bench/results/peers-etcd.json missing).', '');
  if (vm !== null) lines.push(`VictoriaMetrics measured ${vm.date}.`, '', ...renderVm(vm));
  else lines.push('VictoriaMetrics: no results (bench/results/peers-victoria-metrics.json missing).', '');
  return lines.join('\n');
}

function readJson<T>(path: string): T | null {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : null;
}

function main(): void {
  const dir = join(repoRoot(), 'bench', 'results');
  const md = renderPeerSummary(readJson<EtcdPeerReport>(join(dir, 'peers-etcd.json')), readJson<VmPeerReport>(join(dir, 'peers-victoria-metrics.json')));
  writeFileSync(join(dir, 'peers-summary.md'), md);
  console.log(md);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
