// Failover benchmark: a 3-node cluster of real `tsraft serve` processes on
// 127.0.0.1 with the default timeouts (50 ms ticks, election timeout 10
// ticks). Each run kills the leader with SIGKILL while writes flow and
// measures, from the kill:
//   - electionMs:  until a surviving node reports a new leader;
//   - failoverMs:  until the first write acknowledged after the kill
//                  (OpenTSDB POST /api/put sent to the survivors, which
//                  forward to whichever node leads).
// Target: failover ≤ 1.5 s. Reports the median of several runs with min/max.
//
//   npx tsc -p tsconfig.json && node dist/bench/failover.js [--runs 7]
//
// Writes bench/results/failover.json and bench/results/failover.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot, stats, writeResults, type Stats } from './lib.js';

const TARGET_FAILOVER_MS = 1_500;
const NODES = 3;
/** One run gives up after this long (a broken build must not hang the bench). */
const RUN_TIMEOUT_MS = 30_000;
/** A write attempt after the kill waits at most this long before trying another node. */
const WRITE_ATTEMPT_TIMEOUT_MS = 1_000;

interface RunResult {
  electionMs: number;
  failoverMs: number;
  /** Write attempts made between the kill and the first acknowledgement. */
  attempts: number;
  oldLeader: string;
  newLeader: string;
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

/** Ports below the ephemeral range, free a moment ago. */
async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (!ports.includes(port) && (await canBind(port))) ports.push(port);
  }
  return ports;
}

async function status(httpPort: number): Promise<{ leader: string | null; role: string } | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${httpPort}/status`, { signal: AbortSignal.timeout(500) });
    return (await response.json()) as { leader: string | null; role: string };
  } catch {
    return null;
  }
}

async function put(httpPort: number, n: number, timeoutMs: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${httpPort}/api/put?summary`, {
      method: 'POST',
      body: JSON.stringify({ metric: 'bench.failover', timestamp: 1_700_000_000_000 + n, value: n, tags: { host: 'a' } }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await response.json()) as { success?: number };
    return response.status === 200 && body.success === 1;
  } catch {
    return false;
  }
}

async function oneRun(mainScript: string): Promise<RunResult> {
  const root = mkdtempSync(join(tmpdir(), 'tsraft-failover-'));
  const children = new Map<string, ChildProcess>();
  try {
    writeFileSync(join(root, 'secret'), randomBytes(24).toString('hex'), { mode: 0o600 });
    const ports = await freePorts(NODES * 2);
    const ids = Array.from({ length: NODES }, (_, i) => `n${i + 1}`);
    const httpPort = new Map(ids.map((id, i) => [id, ports[2 * i]!]));
    const peers = Object.fromEntries(ids.map((id, i) => [id, `ws://127.0.0.1:${ports[2 * i + 1]}`]));
    const clientUrls = Object.fromEntries(ids.map((id) => [id, `http://127.0.0.1:${httpPort.get(id)}`]));
    for (const [i, id] of ids.entries()) {
      const config = { nodeId: id, clusterId: 'bench-failover', dataDir: id, secretFile: 'secret', httpPort: httpPort.get(id), peerPort: ports[2 * i + 1], peers, clientUrls, logLevel: 'warn' };
      const path = join(root, `${id}.json`);
      writeFileSync(path, JSON.stringify(config));
      children.set(id, spawn(process.execPath, [mainScript, 'serve', '--config', path], { stdio: 'ignore' }));
    }
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    let leader: string | null = null;
    while (leader === null) {
      if (Date.now() > deadline) throw new Error('no leader elected');
      const answers = await Promise.all(ids.map((id) => status(httpPort.get(id)!)));
      const named = answers.map((a) => a?.leader ?? null);
      if (named[0] !== null && named.every((l) => l === named[0])) leader = named[0];
      else await sleep(50);
    }
    // Warm up the write path (connections, forwarding) before measuring.
    for (let n = 0; n < 20; n += 1) if (!(await put(httpPort.get(leader)!, n, 5_000))) throw new Error('warm-up write failed');

    const survivors = ids.filter((id) => id !== leader);
    const killedAt = performance.now();
    children.get(leader)!.kill('SIGKILL');

    let electionMs = -1;
    let newLeader = '';
    const watchElection = (async () => {
      while (electionMs < 0 && Date.now() < deadline) {
        for (const id of survivors) {
          const s = await status(httpPort.get(id)!);
          if (s !== null && s.leader !== null && s.leader !== leader) {
            electionMs = performance.now() - killedAt;
            newLeader = s.leader;
            return;
          }
        }
        await sleep(5);
      }
    })();

    let attempts = 0;
    let failoverMs = -1;
    for (let n = 1000; failoverMs < 0; n += 1) {
      if (Date.now() > deadline) throw new Error('no write acknowledged after the kill');
      const target = survivors[attempts % survivors.length]!;
      attempts += 1;
      if (await put(httpPort.get(target)!, n, WRITE_ATTEMPT_TIMEOUT_MS)) failoverMs = performance.now() - killedAt;
      else await sleep(5);
    }
    await watchElection;
    if (electionMs < 0) throw new Error('no new leader reported');
    return { electionMs, failoverMs, attempts, oldLeader: leader, newLeader };
  } finally {
    for (const child of children.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all([...children.values()].map((child) => (child.exitCode === null && child.signalCode === null ? new Promise((done) => child.once('exit', done)) : null)));
    rmSync(root, { recursive: true, force: true });
  }
}

function round(s: Stats): Stats {
  return { median: Math.round(s.median), min: Math.round(s.min), max: Math.round(s.max), runs: s.runs };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' } } });
  const runs = Number(values.runs);
  if (!Number.isSafeInteger(runs) || runs < 1 || runs > 100) throw new Error('--runs must be an integer in [1, 100]');
  const mainScript = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  const results: RunResult[] = [];
  for (let i = 0; i < runs; i += 1) {
    const result = await oneRun(mainScript);
    results.push(result);
    console.log(`run ${i + 1}/${runs}: killed ${result.oldLeader}, ${result.newLeader} elected after ${result.electionMs.toFixed(0)} ms, first write acknowledged after ${result.failoverMs.toFixed(0)} ms`);
  }
  const failover = round(stats(results.map((r) => r.failoverMs)));
  const election = round(stats(results.map((r) => r.electionMs)));
  const meetsTarget = failover.median <= TARGET_FAILOVER_MS;
  const config = { nodes: NODES, tickIntervalMs: 50, electionTimeoutTicks: 10, heartbeatIntervalTicks: 1 };
  const markdown = [
    '# Failover: kill -9 of the leader → first acknowledged write',
    '',
    `${NODES} real \`tsraft serve\` processes on 127.0.0.1 with the default timeouts (50 ms ticks, election timeout 10–20 ticks). ` +
      'Each run kills the leader with SIGKILL, then writes one point at a time to the survivors (followers forward to the leader) until one is acknowledged.',
    '',
    '| measure | median | min | max | runs |',
    '| --- | --- | --- | --- | --- |',
    `| new leader reported | ${election.median} ms | ${election.min} ms | ${election.max} ms | ${election.runs} |`,
    `| first acknowledged write | ${failover.median} ms | ${failover.min} ms | ${failover.max} ms | ${failover.runs} |`,
    '',
    `Target: ≤ ${TARGET_FAILOVER_MS} ms — ${meetsTarget ? 'met' : 'NOT met'} (median).`,
    '',
    'Reproduce: `npx tsc -p tsconfig.json && node dist/bench/failover.js --runs 7`.',
  ].join('\n');
  writeResults('failover', { config, targetMs: TARGET_FAILOVER_MS, meetsTarget, failoverMs: failover, electionMs: election, runs: results }, markdown);
  console.log(markdown);
}

await main();
