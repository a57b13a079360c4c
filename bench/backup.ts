// Backup benchmark on the standard dataset: loads ../shared/data/devops-1d.put.gz
// into the real state machine, serves it through the node's backup route on
// 127.0.0.1 (the HTTP stream `tsraft backup create` reads), and times:
//
//   create   full backup over HTTP into a directory (verification off, timed apart)
//   verify   every checksum, every page decoded, the state digest
//   restore  rebuild + write one node's data directory (snapshot file + Raft log)
//   incremental  99 % of the day as a full backup, then the last 1 % on top of it:
//            bytes stored by the second as a share of the first
//   rejoin   a 3-node cluster of real `tsraft serve` processes holding the day:
//            a follower killed (SIGKILL), its data directory wiped, restarted:
//            time until it holds the leader's state (snapshot + log from the
//            leader); and the same after a restart that keeps the data
//            (its own snapshot + log replay). Skipped with --skip-rejoin.
//
// MB/s are of the state machine snapshot (TSSM bytes), the same yardstick for
// every step; points/s of the points in the state.
//
//   npx tsc -p tsconfig.json && node dist/bench/backup.js [--runs N] [--skip-rejoin]
//
// Writes bench/results/backup.json and bench/results/backup.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { gunzipSync } from 'node:zlib';
import { HttpServer } from '../src/api/http-server.js';
import { createBackup } from '../src/backup/create.js';
import { deriveBackupKey } from '../src/backup/crypto.js';
import { restoreIntoDataDir } from '../src/backup/restore.js';
import { registerBackupRoutes } from '../src/backup/route.js';
import { verifyBackup } from '../src/backup/verify.js';
import { encodeCommand } from '../src/tsdb/command.js';
import { TimeSeriesStateMachine } from '../src/tsdb/state-machine.js';
import { validatePoint } from '../src/tsdb/validate.js';
import { WriteBatchBuilder } from '../src/tsdb/write-batch.js';
import { rethrowIfBug } from '../src/errors.js';
import { repoRoot, sharedDataDir, stats, writeResults, type Stats } from './lib.js';

const BATCH_POINTS = 5000;
const MB = 1e6;

interface Loaded {
  sm: TimeSeriesStateMachine;
  index: number;
  apply(lines: readonly string[]): void;
}

function parseLine(line: string): { metric: string; timestamp: number; value: string; tags: Record<string, string> } {
  const parts = line.split(' ');
  const tags: Record<string, string> = {};
  for (const kv of parts.slice(4)) {
    const eq = kv.indexOf('=');
    tags[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return { metric: parts[1]!, timestamp: Number(parts[2]), value: parts[3]!, tags };
}

function newLoaded(): Loaded {
  const sm = new TimeSeriesStateMachine();
  const loaded: Loaded = {
    sm,
    index: 0,
    apply(lines) {
      for (let i = 0; i < lines.length; i += BATCH_POINTS) {
        const builder = new WriteBatchBuilder({ maxPoints: BATCH_POINTS });
        let lastMs = 0;
        for (const line of lines.slice(i, i + BATCH_POINTS)) {
          const check = validatePoint(parseLine(line));
          if (!check.ok) throw new Error(`bad line ${line}: ${check.error.message}`);
          const p = check.point;
          builder.addPoint(p.seriesKey, p.timestampMs, p.value, p.isInteger, p.bigInt);
          lastMs = Math.max(lastMs, p.timestampMs);
        }
        const data = encodeCommand({ type: 'write', clientId: '', sequence: 0, firstUnackedSequence: 0, leaderTimeMs: lastMs, batch: builder.encode() });
        sm.apply(++loaded.index, data);
      }
    },
  };
  return loaded;
}

async function serve(loaded: Loaded): Promise<{ url: string; close: () => Promise<void> }> {
  const server = new HttpServer({ maxBodyBytes: 32 * 1024 * 1024, maxConnections: 16 });
  registerBackupRoutes(server, {
    readBarrier: async () => {},
    capture: () => ({
      tssm: loaded.sm.snapshot(),
      info: { clusterId: 'bench', nodeId: 'n1', raftIndex: loaded.index, raftTerm: 1, membership: { voters: ['n1'], learners: [], peerUrls: { n1: 'ws://127.0.0.1:1' } }, createdAtMs: Date.now() },
    }),
  });
  const { port } = await server.listen('127.0.0.1', 0);
  return { url: `http://127.0.0.1:${port}`, close: () => server.close(0) };
}

interface Timed {
  seconds: Stats;
  mbPerSecond: number;
  pointsPerSecond: number;
}

function timed(samples: number[], stateBytes: number, points: number): Timed {
  const s = stats(samples);
  return { seconds: s, mbPerSecond: stateBytes / MB / s.median, pointsPerSecond: points / s.median };
}


// ---------------------------------------------------------------------------
// Rejoin: a wiped follower rebuilt from the leader's snapshot and log.

const REJOIN_TIMEOUT_MS = 300_000;
const PUT_BATCH_POINTS = 5000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolvePromise) => setTimeout(resolvePromise, ms));
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePromise(true)));
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

async function getJson<T>(url: string): Promise<T | null> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return response.status === 200 ? ((await response.json()) as T) : null;
  } catch (error) {
    // fetch reports a refused or cut connection as a TypeError: the node is (re)starting.
    if (!(error instanceof TypeError) && (error as Error).name !== 'TimeoutError') rethrowIfBug(error);
    return null;
  }
}

interface ClusterState {
  appliedIndex: number;
  stateHash: string;
  pointCount: number;
}

interface RejoinResult {
  points: number;
  wipedCatchUpMs: Stats;
  restartCatchUpMs: Stats;
}

async function rejoinBench(lines: readonly string[], runs: number, work: string): Promise<RejoinResult | null> {
  const mainScript = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(mainScript)) {
    console.log('rejoin skipped: dist/src/cli/main.js is missing (build first)');
    return null;
  }
  const root = join(work, 'cluster');
  rmSync(root, { recursive: true, force: true });
  const ids = ['n1', 'n2', 'n3'];
  const ports = await freePorts(ids.length * 2);
  const httpPort = new Map(ids.map((id, i) => [id, ports[2 * i]!]));
  const peers = Object.fromEntries(ids.map((id, i) => [id, `ws://127.0.0.1:${ports[2 * i + 1]}`]));
  const clientUrls = Object.fromEntries(ids.map((id) => [id, `http://127.0.0.1:${httpPort.get(id)}`]));
  const children = new Map<string, ChildProcess>();
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'secret'), randomBytes(24).toString('hex'), { mode: 0o600 });
  const start = (id: string): void => {
    const path = join(root, `${id}.json`);
    // Frequent snapshots and a short log tail: a wiped follower must get a snapshot.
    const config = { nodeId: id, clusterId: 'bench-rejoin', dataDir: id, secretFile: 'secret', httpPort: httpPort.get(id), peerPort: Number(new URL(peers[id]!).port), peers, clientUrls, logLevel: 'warn', snapshotEveryEntries: 50, logEntriesKeptAfterSnapshot: 10 };
    writeFileSync(path, JSON.stringify(config));
    children.set(id, spawn(process.execPath, [mainScript, 'serve', '--config', path], { stdio: 'ignore' }));
  };
  const stop = async (id: string): Promise<void> => {
    const child = children.get(id);
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGKILL');
    await exited;
  };
  const state = (id: string): Promise<ClusterState | null> => getJson<ClusterState>(`${clientUrls[id]}/cluster/state`);
  const leaderOf = async (): Promise<string | null> => {
    const answers = await Promise.all(ids.map((id) => getJson<{ leader: string | null }>(`${clientUrls[id]}/status`)));
    const named = answers.map((a) => a?.leader ?? null);
    return named[0] !== null && named.every((l) => l === named[0]) ? named[0] : null;
  };
  const deadline = Date.now() + REJOIN_TIMEOUT_MS;
  const waitFor = async <T>(what: string, check: () => Promise<T | null>): Promise<T> => {
    while (Date.now() < deadline) {
      const value = await check();
      if (value !== null) return value;
      await sleep(20);
    }
    throw new Error(`rejoin bench: timed out waiting for ${what}`);
  };
  try {
    for (const id of ids) start(id);
    let leader = await waitFor('a leader', leaderOf);
    // Retried until acknowledged (a busy machine may change leaders); a
    // repeated batch rewrites the same points, so the state is the same.
    const putBatch = async (body: string): Promise<void> => {
      for (;;) {
        try {
          const response = await fetch(`${clientUrls[leader]}/api/put`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(60_000) });
          if (response.status < 300) return;
          if (response.status !== 503 && response.status !== 421) throw new Error(`rejoin bench: /api/put answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
        } catch (error) {
          if (!(error instanceof TypeError) && (error as Error).name !== 'TimeoutError') throw error;
        }
        leader = await waitFor('a leader', leaderOf);
      }
    };
    for (let i = 0; i < lines.length; i += PUT_BATCH_POINTS) await putBatch(JSON.stringify(lines.slice(i, i + PUT_BATCH_POINTS).map(parseLine)));
    leader = await waitFor('a leader', leaderOf);
    const converged = async (): Promise<ClusterState | null> => {
      const states = await Promise.all(ids.map(state));
      const first = states[0];
      return first != null && states.every((x) => x !== null && x.appliedIndex === first.appliedIndex && x.stateHash === first.stateHash) ? first : null;
    };
    const loaded = await waitFor('the cluster to converge', converged);
    const follower = ids.find((id) => id !== leader)!;
    const caughtUp = async (): Promise<boolean | null> => {
      const [mine, theirs] = await Promise.all([state(follower), state(leader)]);
      return mine !== null && theirs !== null && mine.stateHash === theirs.stateHash && mine.appliedIndex === theirs.appliedIndex ? true : null;
    };
    const wiped: number[] = [];
    const restarted: number[] = [];
    let extra = 0;
    for (let r = 0; r < runs; r++) {
      const before = await waitFor('the follower state', () => state(follower));
      await stop(follower);
      rmSync(join(root, follower), { recursive: true, force: true });
      // Writes continue while it is down, until the leader compacted its log
      // past everything the follower had: it must come back through a
      // snapshot. (A wiped follower restarted while the leader still holds its
      // old match index does not catch up: see the backup room's report.)
      await waitFor('the leader to compact past the follower', async () => {
        await putBatch(JSON.stringify({ metric: 'bench.rejoin', timestamp: 1_800_000_000_000 + extra++, value: extra, tags: { run: String(r) } }));
        const status = await getJson<{ snapshotIndex: number }>(`${clientUrls[leader]}/status`);
        return status !== null && status.snapshotIndex > before.appliedIndex + 10 ? true : null;
      });
      let t = performance.now();
      start(follower);
      await waitFor('the wiped follower to catch up', caughtUp);
      wiped.push(performance.now() - t);
      await stop(follower);
      t = performance.now();
      start(follower);
      await waitFor('the restarted follower to catch up', caughtUp);
      restarted.push(performance.now() - t);
    }
    return { points: loaded.pointCount, wipedCatchUpMs: stats(wiped), restartCatchUpMs: stats(restarted) };
  } finally {
    for (const id of ids) await stop(id);
  }
}

async function main(): Promise<void> {
  const runsFlag = process.argv.indexOf('--runs');
  const runs = runsFlag > 0 ? Math.max(1, Number(process.argv[runsFlag + 1])) : 3;
  const data = sharedDataDir();
  const path = data === null ? null : join(data, 'devops-1d.put.gz');
  if (path === null) {
    console.log('skipped: ../shared/data/devops-1d.put.gz is absent');
    return;
  }
  const lines = gunzipSync(readFileSync(path)).toString('utf8').split('\n').filter((l) => l.length > 0);
  const work = mkdtempSync(join(tmpdir(), 'tsraft-bench-backup-'));
  try {
    // --- full dataset: create, verify, restore ---
    const loaded = newLoaded();
    const loadStart = performance.now();
    loaded.apply(lines);
    const loadSeconds = (performance.now() - loadStart) / 1000;
    const st = loaded.sm.stats();
    const stateBytes = loaded.sm.snapshot().length;
    const server = await serve(loaded);
    // The node keeps the pages of sealed blocks between backups: the first
    // backup of a node cuts every block, later ones only the changed blocks.
    let t0 = performance.now();
    await createBackup({ endpoint: server.url, outDir: join(work, 'cold'), verify: false });
    const coldSeconds = (performance.now() - t0) / 1000;
    rmSync(join(work, 'cold'), { recursive: true, force: true });
    const createSamples: number[] = [];
    const encryptedSamples: number[] = [];
    const verifySamples: number[] = [];
    const restoreSamples: number[] = [];
    let backupBytes = 0;
    let backupFiles = 0;
    const key = deriveBackupKey(new Uint8Array(32).fill(1), 'bench');
    for (let r = 0; r < runs; r++) {
      const dir = join(work, `full-${r}`);
      let t = performance.now();
      const created = await createBackup({ endpoint: server.url, outDir: dir, verify: false });
      createSamples.push((performance.now() - t) / 1000);
      backupBytes = created.manifest.totals.storedBytes;
      backupFiles = created.manifest.totals.files;
      t = performance.now();
      await createBackup({ endpoint: server.url, outDir: join(work, `enc-${r}`), verify: false, key });
      encryptedSamples.push((performance.now() - t) / 1000);
      t = performance.now();
      verifyBackup(dir);
      verifySamples.push((performance.now() - t) / 1000);
      t = performance.now();
      await restoreIntoDataDir(dir, { nodeId: 'n1', clusterId: 'bench-restored', dataDir: join(work, `node-${r}`), join: false, peers: { n1: 'ws://127.0.0.1:9' } });
      restoreSamples.push((performance.now() - t) / 1000);
      rmSync(join(work, `enc-${r}`), { recursive: true, force: true });
      rmSync(join(work, `node-${r}`), { recursive: true, force: true });
    }
    await server.close();

    // --- incremental after 1 % new data ---
    const cut = Math.floor(lines.length * 0.99);
    const partial = newLoaded();
    partial.apply(lines.slice(0, cut));
    const partialServer = await serve(partial);
    const first = await createBackup({ endpoint: partialServer.url, outDir: join(work, 'inc-base'), verify: false });
    partial.apply(lines.slice(cut));
    let t = (t0 = performance.now());
    const second = await createBackup({ endpoint: partialServer.url, outDir: join(work, 'inc-next'), baseDir: join(work, 'inc-base'), verify: false });
    const incrementalSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    verifyBackup(join(work, 'inc-next'));
    const incrementalVerifySeconds = (performance.now() - t) / 1000;
    await partialServer.close();
    const ratio = second.manifest.totals.storedBytes / first.manifest.totals.storedBytes;
    const rejoin = process.argv.includes('--skip-rejoin') ? null : await rejoinBench(lines, runs, work);

    const results = {
      dataset: 'devops-1d.put.gz',
      points: st.pointCount,
      series: st.seriesCount,
      stateBytes,
      loadSeconds,
      backupBytes,
      backupFiles,
      backupOverStateRatio: backupBytes / stateBytes,
      createCold: timed([coldSeconds], stateBytes, st.pointCount),
      create: timed(createSamples, stateBytes, st.pointCount),
      createEncrypted: timed(encryptedSamples, stateBytes, st.pointCount),
      verify: timed(verifySamples, stateBytes, st.pointCount),
      restore: timed(restoreSamples, stateBytes, st.pointCount),
      incremental: {
        newDataShare: (lines.length - cut) / lines.length,
        firstStoredBytes: first.manifest.totals.storedBytes,
        secondStoredBytes: second.manifest.totals.storedBytes,
        secondReusedBytes: second.manifest.totals.reusedBytes,
        storedRatio: ratio,
        target: 0.1,
        meetsTarget: ratio < 0.1,
        createSeconds: incrementalSeconds,
        verifySeconds: incrementalVerifySeconds,
      },
      rejoin,
    };
    const row = (name: string, x: Timed): string =>
      `| ${name} | ${x.seconds.median.toFixed(3)} (${x.seconds.min.toFixed(3)}–${x.seconds.max.toFixed(3)}) | ${x.mbPerSecond.toFixed(1)} | ${(x.pointsPerSecond / 1e6).toFixed(2)} M |`;
    const md = [
      '# Backup benchmark',
      '',
      `Generated by \`node dist/bench/backup.js --runs ${runs}\` on Node ${process.version}. Dataset: devops-1d.put.gz, ${st.seriesCount} series, ${st.pointCount} points; state machine snapshot ${(stateBytes / MB).toFixed(2)} MB. Backups stream over HTTP on 127.0.0.1 from the node's backup route into a directory; MB/s are of the state snapshot.`,
      '',
      '| step | seconds, median (min–max) | MB/s | points/s |',
      '| --- | ---: | ---: | ---: |',
      row('create (full, first backup of the node: every block cut into pages)', results.createCold),
      row('create (full, later backups: sealed blocks\' pages cached)', results.create),
      row('create (full, AES-256-GCM)', results.createEncrypted),
      row('verify (every checksum, page and count; state digest)', results.verify),
      row('restore one node (verify + rebuild + data directory)', results.restore),
      '',
      `Full backup: ${(backupBytes / MB).toFixed(2)} MB in ${backupFiles} files (${(results.backupOverStateRatio * 100).toFixed(1)} % of the state snapshot: the price of time pages that make incrementals small).`,
      '',
      '## Incremental after 1 % new data',
      '',
      '| first backup (99 % of the day) | second backup (+1 %) | stored ratio | target | meets target |',
      '| ---: | ---: | ---: | ---: | --- |',
      `| ${(first.manifest.totals.storedBytes / 1e3).toFixed(1)} kB | ${(second.manifest.totals.storedBytes / 1e3).toFixed(1)} kB stored, ${(second.manifest.totals.reusedBytes / 1e3).toFixed(1)} kB reused | **${(ratio * 100).toFixed(2)} %** | < 10 % | ${ratio < 0.1 ? 'yes' : 'no'} |`,
      '',
      `The incremental backup took ${incrementalSeconds.toFixed(3)} s to create and ${incrementalVerifySeconds.toFixed(3)} s to verify (verify reads the reused files from its base).`,
      '',
      '## Node rebuild: a follower back in a 3-node cluster of real processes',
      '',
      rejoin === null
        ? 'Skipped.'
        : [
            `The day (${rejoin.points} points) written through \`POST /api/put\`; snapshots every 50 entries, 10 entries kept behind each. A follower is killed with SIGKILL; wiped, it is restarted once the leader has compacted its log past the follower's last index (single-point writes meanwhile), so it must come back through a snapshot. The time runs from the restart until its applied index and state hash equal the leader's (median of ${runs}, min–max).`,
            '',
            '| follower restarted | ms, median (min–max) |',
            '| --- | ---: |',
            `| with its data directory wiped (snapshot + log from the leader) | ${rejoin.wipedCatchUpMs.median.toFixed(0)} (${rejoin.wipedCatchUpMs.min.toFixed(0)}–${rejoin.wipedCatchUpMs.max.toFixed(0)}) |`,
            `| with its data (own snapshot + log replay, then the leader's tail) | ${rejoin.restartCatchUpMs.median.toFixed(0)} (${rejoin.restartCatchUpMs.min.toFixed(0)}–${rejoin.restartCatchUpMs.max.toFixed(0)}) |`,
          ].join('\n'),
    ].join('\n');
    writeResults('backup', results, md);
    console.log(md);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
