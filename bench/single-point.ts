// Single-point writes: one point per put, at concurrency 1, 16 and 64 (that
// many puts in flight), on a local 3-node cluster of real processes (fsync
// on), over the WebSocket API (one client, requests multiplexed on one
// connection, exactly-once sessions) and over OpenTSDB POST /api/put (HTTP
// keep-alive). Reports ops/s and ack latency p50/p99.
// Targets (issue 6): ≥ 2× etcd 3.4 at concurrency 16 and 64 (etcd, 3 members on
// this machine: ~950 / 3,300 / 5,400 puts/s at 1 / 16 / 64), and p50 ≤ 1 ms at
// concurrency 1.
//
//   npx tsc -p tsconfig.json && node dist/bench/single-point.js [--duration-s 10] [--concurrency 1,16,64] [--api ws,http] [--quick]
//
// Writes bench/results/single-point.json and bench/results/single-point.md.
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { connect } from '../src/client/index.js';
import { BatchSource, httpPut, measureCpu, startCluster, timedLoop, workloadSeries } from './ingest.js';
import { fmt, percentile, writeResults } from './lib.js';

const ETCD_PUTS_PER_SECOND: Record<number, number> = { 1: 950, 16: 3_300, 64: 5_400 };
const TARGET_P50_MS_AT_1 = 1;

interface Row {
  api: 'ws' | 'http';
  concurrency: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  ops: number;
  /** CPU µs per put of each node (leader first) and the client, while measuring (Linux). */
  cpuMicrosPerOp: Record<string, number> | null;
  etcdOpsPerSecond: number | null;
  ratioToEtcd: number | null;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'duration-s': { type: 'string' }, concurrency: { type: 'string', default: '1,16,64' }, api: { type: 'string', default: 'ws,http' }, quick: { type: 'boolean' } } });
  const durationMs = Number(values['duration-s'] ?? (values.quick === true ? '3' : '10')) * 1000;
  const levels = values.concurrency.split(',').map(Number);
  const apis = values.api.split(',') as Array<'ws' | 'http'>;
  const rows: Row[] = [];
  // Other work on the machine skews these figures: record how busy it was.
  const loadAverageAtStart = loadavg()[0]!;
  const cluster = await startCluster(3);
  try {
    const client = await connect([cluster.leaderUrl, ...cluster.httpUrls.values()], { timeoutMs: 30_000 });
    const source = new BatchSource(workloadSeries(1_000), Date.UTC(2024, 0, 1));
    try {
      for (const api of apis) {
        for (const concurrency of levels) {
          const call =
            api === 'ws'
              ? async (): Promise<number> => {
                  const r = await client.putColumns(source.wireColumns(1));
                  if (r.success !== 1) throw new Error(`put rejected: ${JSON.stringify(r.errors)}`);
                  return 1;
                }
              : async (): Promise<number> => {
                  await httpPut(cluster.leaderUrl, source.json(1));
                  return 1;
                };
          await timedLoop(concurrency, Math.min(2_000, durationMs / 4), call);
          const { result: loop, cpuSeconds } = await measureCpu(cluster, () => timedLoop(concurrency, durationMs, call));
          const { latenciesMs, units, elapsedMs } = loop;
          const opsPerSecond = Math.round((units / elapsedMs) * 1000);
          const etcd = ETCD_PUTS_PER_SECOND[concurrency] ?? null;
          const row: Row = {
            api,
            concurrency,
            opsPerSecond,
            p50Ms: Math.round(percentile(latenciesMs, 50) * 100) / 100,
            p99Ms: Math.round(percentile(latenciesMs, 99) * 100) / 100,
            ops: units,
            cpuMicrosPerOp: cpuSeconds === null ? null : Object.fromEntries(Object.entries(cpuSeconds).map(([who, seconds]) => [who, Math.round((seconds / units) * 1e7) / 10])),
            etcdOpsPerSecond: etcd,
            ratioToEtcd: etcd === null ? null : Math.round((opsPerSecond / etcd) * 100) / 100,
          };
          rows.push(row);
          const cpu = row.cpuMicrosPerOp === null ? '' : `; CPU µs/put ${Object.entries(row.cpuMicrosPerOp).map(([who, us]) => `${who} ${us}`).join(', ')}`;
          console.log(`${api} concurrency ${concurrency}: ${fmt(opsPerSecond)} ops/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms${etcd === null ? '' : ` (${row.ratioToEtcd}× etcd)`}${cpu}`);
        }
      }
    } finally {
      await client.close();
    }
  } finally {
    await cluster.stop();
  }
  const ws = (c: number): Row | undefined => rows.find((r) => r.api === 'ws' && r.concurrency === c);
  const meets16 = (ws(16)?.ratioToEtcd ?? 0) >= 2;
  const meets64 = (ws(64)?.ratioToEtcd ?? 0) >= 2;
  const meetsP50 = (ws(1)?.p50Ms ?? Infinity) <= TARGET_P50_MS_AT_1;
  const markdown = [
    '# Single-point writes on a local 3-node cluster',
    '',
    `3 real \`tsraft serve\` processes on 127.0.0.1 (fsync on), one point per put, ${durationMs / 1000} s per row after a warm-up; ` +
      `1-minute load average ${loadAverageAtStart.toFixed(1)} at the start (other work shares the machine). ` +
      'Each put is acknowledged after its entry is committed by a majority and applied on the leader. etcd 3.4 figures: 3 members on the same machine (issue 6).',
    '',
    '| API | concurrency | ops/s | p50 | p99 | etcd ops/s | ratio | CPU µs per put: leader / followers / client |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.api === 'ws' ? 'WebSocket' : 'OpenTSDB /api/put'} | ${r.concurrency} | ${fmt(r.opsPerSecond)} | ${r.p50Ms} ms | ${r.p99Ms} ms | ${r.etcdOpsPerSecond ?? '—'} | ${r.ratioToEtcd ?? '—'}× | ${r.cpuMicrosPerOp === null ? '—' : Object.values(r.cpuMicrosPerOp).join(' / ')} |`),
    '',
    `Targets (WebSocket): ≥ 2× etcd at 16 — ${meets16 ? 'met' : 'NOT met'}; at 64 — ${meets64 ? 'met' : 'NOT met'}; p50 ≤ ${TARGET_P50_MS_AT_1} ms at concurrency 1 — ${meetsP50 ? 'met' : 'NOT met'}.`,
    '',
    'Reproduce: `npx tsc -p tsconfig.json && node dist/bench/single-point.js`.',
  ].join('\n');
  writeResults('single-point', { etcdPutsPerSecond: ETCD_PUTS_PER_SECOND, targets: { ratioToEtcdAt16And64: 2, p50MsAtConcurrency1: TARGET_P50_MS_AT_1 }, meets: { at16: meets16, at64: meets64, p50At1: meetsP50 }, durationS: durationMs / 1000, loadAverageAtStart, loadAverageAtEnd: loadavg()[0], rows }, markdown);
  console.log(markdown);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
