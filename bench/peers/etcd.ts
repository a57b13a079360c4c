// etcd side of the peer benchmarks (issue 9): single-key puts against a
// 3-member etcd cluster (Debian's etcd-server 3.4, fsync on, all on
// 127.0.0.1) at concurrency 1, 16 and 64: ops/s and latency p50/p99.
//
// Debian ships no etcd `benchmark` tool, so the load comes from a small Node
// client, over two paths:
//   - grpc: etcd's native API, KV/Put over one HTTP/2 connection with
//     `concurrency` streams in flight (what etcd's own benchmark tool does with
//     --conns=1 --clients=N), protobuf framed by hand (node:http2, no library);
//   - json-gateway: etcd's v3 HTTP/JSON gateway POST /v3/kv/put over
//     `concurrency` keep-alive HTTP/1.1 connections (the gateway adds a JSON to
//     gRPC hop inside etcd, so it is the slower path).
// Each put writes an 8-byte key (cycling over a bounded key space) with an
// 8-byte value, etcd benchmark's defaults, and is sent to the leader.
//
//   node dist/bench/peers/etcd.js [--runs N] [--seconds S] [--quick]
//
// Writes bench/results/peers-etcd.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  commandExists,
  type Daemon,
  debianPackageVersion,
  freePort,
  LOOPBACK,
  machineInfo,
  repoRoot,
  sleep,
  type Spread,
  spread,
  startDaemon,
  stopAll,
  tempDir,
  waitForHttp,
} from './daemons.js';

const ETCD_COMMAND = 'etcd';
const MEMBERS = 3;
const CONCURRENCIES = [1, 16, 64] as const;
/** Distinct keys the puts cycle over (bounds the keyspace, not the revisions). */
const KEY_SPACE = 100_000;
const KEY_BYTES = 8;
const VALUE_BYTES = 8;
/** Bound on recorded latencies per run; past it ops still count, latencies are sampled no more. */
const MAX_LATENCY_SAMPLES = 4_000_000;
/** A single put taking longer than this fails the run (etcd would be unhealthy). */
const PUT_TIMEOUT_MS = 10_000;

export type EtcdProtocol = 'grpc' | 'json-gateway';

// ---------------------------------------------------------------------------
// The cluster

interface EtcdMember {
  name: string;
  clientUrl: string;
  daemon: Daemon;
}

interface EtcdCluster {
  members: EtcdMember[];
  stop: () => Promise<void>;
}

async function startEtcdCluster(baseDir: string): Promise<EtcdCluster> {
  const specs: { name: string; clientPort: number; peerPort: number }[] = [];
  for (let i = 0; i < MEMBERS; i++) specs.push({ name: `etcd${i}`, clientPort: await freePort(), peerPort: await freePort() });
  const initialCluster = specs.map((s) => `${s.name}=http://${LOOPBACK}:${s.peerPort}`).join(',');
  const members: EtcdMember[] = specs.map((s) => {
    const clientUrl = `http://${LOOPBACK}:${s.clientPort}`;
    const peerUrl = `http://${LOOPBACK}:${s.peerPort}`;
    const daemon = startDaemon(
      s.name,
      ETCD_COMMAND,
      [
        `--name=${s.name}`,
        `--data-dir=${join(baseDir, s.name)}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=${initialCluster}`,
        '--initial-cluster-state=new',
        `--initial-cluster-token=tsraft-bench-${process.pid}`,
        '--logger=zap',
        '--log-level=warn',
      ],
      join(baseDir, `${s.name}.log`),
    );
    return { name: s.name, clientUrl, daemon };
  });
  const cluster: EtcdCluster = { members, stop: () => stopAll(members.map((m) => m.daemon)) };
  try {
    for (const m of members) await waitForHttp(m.daemon, `${m.clientUrl}/health`, 60_000);
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

interface MemberStatus {
  memberId: string;
  leaderId: string;
  revision: number;
  version: string;
}

async function memberStatus(clientUrl: string): Promise<MemberStatus> {
  const res = await fetch(`${clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as { header?: { member_id?: string; revision?: string }; leader?: string; version?: string };
  if (!res.ok || body.header?.member_id === undefined) throw new Error(`etcd status at ${clientUrl} answered ${res.status}: ${JSON.stringify(body)}`);
  return { memberId: body.header.member_id, leaderId: body.leader ?? '0', revision: Number(body.header.revision ?? 0), version: body.version ?? '' };
}

/** The member that is leader, once all members agree on one. */
async function findLeader(cluster: EtcdCluster, timeoutMs = 30_000): Promise<{ leader: EtcdMember; version: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const statuses = await Promise.all(cluster.members.map((m) => memberStatus(m.clientUrl)));
      const leaderId = statuses[0]!.leaderId;
      if (leaderId !== '0' && statuses.every((s) => s.leaderId === leaderId)) {
        const i = statuses.findIndex((s) => s.memberId === leaderId);
        if (i >= 0) return { leader: cluster.members[i]!, version: statuses[i]!.version };
      }
    } catch {
      // Not ready yet.
    }
    if (Date.now() > deadline) throw new Error(`etcd cluster elected no leader within ${timeoutMs} ms`);
    await sleep(200);
  }
}

// ---------------------------------------------------------------------------
// Clients: one put = one request, answered after etcd committed it.

interface PutClient {
  put(key: Buffer, value: Buffer): Promise<void>;
  close(): void;
}

/** KV.Put's PutRequest: field 1 key (bytes), field 2 value (bytes); both < 128 bytes here. */
function encodePutRequest(key: Buffer, value: Buffer): Buffer {
  if (key.length >= 128 || value.length >= 128) throw new Error('key and value must be shorter than 128 bytes');
  const message = Buffer.concat([Buffer.from([0x0a, key.length]), key, Buffer.from([0x12, value.length]), value]);
  // gRPC length-prefixed message: 1 byte "compressed" flag, 4 bytes big-endian length.
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

function grpcClient(clientUrl: string): PutClient {
  const session: ClientHttp2Session = http2Connect(clientUrl);
  session.on('error', () => undefined); // Failures surface on the streams.
  return {
    put(key, value) {
      return new Promise((resolvePut, reject) => {
        const stream = session.request({ ':method': 'POST', ':path': '/etcdserverpb.KV/Put', 'content-type': 'application/grpc', te: 'trailers' });
        let status: string | undefined;
        let message = '';
        stream.setTimeout(PUT_TIMEOUT_MS, () => stream.close());
        stream.on('response', (headers) => {
          // A trailers-only answer (an error) carries grpc-status in the headers.
          if (headers['grpc-status'] !== undefined) {
            status = String(headers['grpc-status']);
            message = String(headers['grpc-message'] ?? '');
          }
        });
        stream.on('trailers', (trailers) => {
          status = String(trailers['grpc-status']);
          message = String(trailers['grpc-message'] ?? '');
        });
        stream.on('data', () => undefined);
        stream.on('error', reject);
        stream.on('close', () => {
          if (status === '0') resolvePut();
          else reject(new Error(`etcd KV/Put failed: grpc-status ${status ?? 'none (stream closed)'} ${decodeURIComponent(message)}`));
        });
        stream.end(encodePutRequest(key, value));
      });
    },
    close() {
      session.close();
    },
  };
}

function jsonGatewayClient(clientUrl: string, concurrency: number): PutClient {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const url = `${clientUrl}/v3/kv/put`;
  return {
    put(key, value) {
      const body = Buffer.from(JSON.stringify({ key: key.toString('base64'), value: value.toString('base64') }));
      return new Promise((resolvePut, reject) => {
        const req = request(url, { method: 'POST', agent, timeout: PUT_TIMEOUT_MS, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if (res.statusCode === 200) resolvePut();
            else reject(new Error(`etcd /v3/kv/put answered ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 300)}`));
          });
          res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error(`etcd /v3/kv/put took over ${PUT_TIMEOUT_MS} ms`)));
        req.on('error', reject);
        req.end(body);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

// ---------------------------------------------------------------------------
// Load

export interface PutRun {
  protocol: EtcdProtocol;
  concurrency: number;
  seconds: number;
  ops: number;
  opsPerSecond: number;
  latencyMs: { p50: number; p99: number; max: number; mean: number };
  /** Revision growth on the leader during the run: etcd's own count of puts applied. */
  revisionsAdded: number;
  /** 1-minute load average when the run started (other work on the 2 cores skews results). */
  loadAverage1m: number;
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

let keyCounter = 0;
function nextKey(): Buffer {
  keyCounter = (keyCounter + 1) % KEY_SPACE;
  return Buffer.from(`k${String(keyCounter).padStart(KEY_BYTES - 1, '0')}`);
}

async function runPuts(protocol: EtcdProtocol, clientUrl: string, concurrency: number, seconds: number): Promise<PutRun> {
  const client = protocol === 'grpc' ? grpcClient(clientUrl) : jsonGatewayClient(clientUrl, concurrency);
  const value = Buffer.alloc(VALUE_BYTES, 'v');
  const latencies = new Float64Array(MAX_LATENCY_SAMPLES);
  const loadAverage1m = loadavg()[0]!;
  let ops = 0;
  try {
    const revisionBefore = (await memberStatus(clientUrl)).revision;
    const started = performance.now();
    const deadline = started + seconds * 1000;
    const worker = async (): Promise<void> => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        await client.put(nextKey(), value);
        const t1 = performance.now();
        if (ops < MAX_LATENCY_SAMPLES) latencies[ops] = t1 - t0;
        ops++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const elapsed = (performance.now() - started) / 1000;
    const revisionAfter = (await memberStatus(clientUrl)).revision;
    const sample = latencies.subarray(0, Math.min(ops, MAX_LATENCY_SAMPLES)).sort();
    let total = 0;
    for (const l of sample) total += l;
    return {
      protocol,
      concurrency,
      seconds: elapsed,
      ops,
      opsPerSecond: ops / elapsed,
      latencyMs: { p50: percentile(sample, 0.5), p99: percentile(sample, 0.99), max: sample[sample.length - 1] ?? Number.NaN, mean: total / sample.length },
      revisionsAdded: revisionAfter - revisionBefore,
      loadAverage1m,
    };
  } finally {
    client.close();
  }
}

// ---------------------------------------------------------------------------
// The benchmark

export interface EtcdFigure {
  protocol: EtcdProtocol;
  concurrency: number;
  opsPerSecond: Spread;
  latencyP50Ms: Spread;
  latencyP99Ms: Spread;
}

export interface EtcdPeerReport {
  benchmark: 'peers-etcd';
  generatedBy: string;
  date: string;
  machine: ReturnType<typeof machineInfo>;
  peer: { name: 'etcd'; debianPackage: string; packageVersion: string | null; serverVersion: string; members: number; mode: string };
  workload: { operation: string; keyBytes: number; valueBytes: number; keySpace: number; secondsPerRun: number; runsPerFigure: number; target: string };
  /** Which client produced each protocol's figures. */
  clients: Record<EtcdProtocol, string>;
  /** The headline figures: grpc (etcd's native API) when measured. */
  primaryProtocol: EtcdProtocol;
  figures: EtcdFigure[];
  runs: PutRun[];
}

export interface EtcdBenchOptions {
  runs: number;
  seconds: number;
  protocols?: EtcdProtocol[];
  concurrencies?: readonly number[];
}

export async function runEtcdPeerBench(options: EtcdBenchOptions): Promise<EtcdPeerReport> {
  if (!commandExists(ETCD_COMMAND)) throw new Error(`${ETCD_COMMAND} is not installed: run bench/peers/setup.sh (apt-get install etcd-server)`);
  const protocols = options.protocols ?? ['grpc', 'json-gateway'];
  const concurrencies = options.concurrencies ?? CONCURRENCIES;
  const dir = tempDir('tsraft-peers-etcd-');
  let cluster: EtcdCluster | null = null;
  try {
    cluster = await startEtcdCluster(dir.path);
    const { leader, version } = await findLeader(cluster);
    console.log(`etcd ${version}: ${MEMBERS} members up, leader ${leader.name}`);
    const runs: PutRun[] = [];
    const figures: EtcdFigure[] = [];
    for (const protocol of protocols) {
      // Warm-up (not counted): connections, JIT, etcd's first allocations.
      await runPuts(protocol, leader.clientUrl, 16, Math.min(2, options.seconds));
      for (const concurrency of concurrencies) {
        const these: PutRun[] = [];
        for (let r = 0; r < options.runs; r++) {
          const run = await runPuts(protocol, leader.clientUrl, concurrency, options.seconds);
          if (run.revisionsAdded !== run.ops) throw new Error(`etcd applied ${run.revisionsAdded} revisions for ${run.ops} acknowledged puts`);
          these.push(run);
          console.log(`etcd ${protocol} c=${concurrency} run ${r + 1}/${options.runs}: ${Math.round(run.opsPerSecond)} ops/s, p50 ${run.latencyMs.p50.toFixed(2)} ms, p99 ${run.latencyMs.p99.toFixed(2)} ms`);
        }
        runs.push(...these);
        figures.push({
          protocol,
          concurrency,
          opsPerSecond: spread(these.map((r) => r.opsPerSecond)),
          latencyP50Ms: spread(these.map((r) => r.latencyMs.p50)),
          latencyP99Ms: spread(these.map((r) => r.latencyMs.p99)),
        });
      }
    }
    // Followers must still be healthy and caught up enough to answer.
    for (const m of cluster.members) await memberStatus(m.clientUrl);
    return {
      benchmark: 'peers-etcd',
      generatedBy: 'node dist/bench/peers/etcd.js',
      date: new Date().toISOString(),
      machine: machineInfo(),
      peer: {
        name: 'etcd',
        debianPackage: 'etcd-server',
        packageVersion: debianPackageVersion('etcd-server'),
        serverVersion: version,
        members: MEMBERS,
        mode: `${MEMBERS} members on 127.0.0.1, one process each, default flags (fsync on, --snapshot-count default), fresh data directories; puts sent to the leader`,
      },
      workload: {
        operation: 'put of one key (one write per request, acknowledged after commit)',
        keyBytes: KEY_BYTES,
        valueBytes: VALUE_BYTES,
        keySpace: KEY_SPACE,
        secondsPerRun: options.seconds,
        runsPerFigure: options.runs,
        target: 'issue 6: tsraft ≥ 2× etcd ops/s at concurrency 16 and 64; p50 ≤ 1 ms at concurrency 1',
      },
      clients: {
        grpc: 'Node node:http2, hand-framed protobuf KV/Put, one HTTP/2 connection, `concurrency` streams in flight (like etcd benchmark --conns=1 --clients=N)',
        'json-gateway': 'Node node:http, POST /v3/kv/put with base64 JSON, `concurrency` keep-alive connections',
      },
      primaryProtocol: protocols.includes('grpc') ? 'grpc' : protocols[0]!,
      figures,
      runs,
    };
  } finally {
    if (cluster !== null) await cluster.stop();
    dir.remove();
  }
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const runs = Number(argValue('--runs') ?? (quick ? 1 : 5));
  const seconds = Number(argValue('--seconds') ?? (quick ? 3 : 10));
  const protocolArg = argValue('--protocols');
  const protocols = protocolArg === undefined ? undefined : (protocolArg.split(',') as EtcdProtocol[]);
  const report = await runEtcdPeerBench({ runs, seconds, ...(protocols !== undefined ? { protocols } : {}) });
  const outDir = join(repoRoot(), 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'peers-etcd.json'), JSON.stringify(report, null, 2) + '\n');
  console.log(`wrote ${join(outDir, 'peers-etcd.json')}`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exit(1);
  });
}
