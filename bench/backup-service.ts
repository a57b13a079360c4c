// Backups as a service, measured (docs/backup-service.md): the standard
// dataset (../shared/data/devops-1d.put.gz) in the real state machine, the
// S3-compatible test server (test/backup-service/s3-server.ts, objects on
// disk, Signature V4 checked) on 127.0.0.1, and:
//
//   backup to S3    the scheduled path (export straight into S3, what a node
//                   does) and the command-line path (HTTP stream → staging
//                   directory, verified → upload), full and incremental
//   restore from S3 download the chain, verify, rebuild the state
//   re-verify       one stored backup end to end at an unlimited rate
//   state digest    the incremental per-segment digest vs a full snapshot
//   scrubbing cost  ingest throughput of the state machine (batches applied
//                   with a turn of the event loop between them, as the
//                   replica does) without the scrubber, with it at its
//                   default rate (4 MiB/s), and at 16× that. Target < 5 %.
//
// MB/s are of the state machine snapshot (TSSM bytes).
//
//   npx tsc -p tsconfig.json && node dist/bench/backup-service.js [--runs N]
//
// Writes bench/results/backup-service.json and .md.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { gunzipSync } from 'node:zlib';
import { HttpServer } from '../src/api/http-server.js';
import { createBackupAt, withDownloadedBackup } from '../src/backup/destinations/remote.js';
import { S3Destination } from '../src/backup/destinations/s3.js';
import { restoredState } from '../src/backup/restore.js';
import { Reverifier } from '../src/backup/reverify.js';
import { registerBackupRoutes } from '../src/backup/route.js';
import { takeScheduledBackup } from '../src/backup/schedule-job.js';
import { PageCache } from '../src/backup/series-pages.js';
import { createMetricFamilies } from '../src/metrics/definitions.js';
import { Scrubber } from '../src/node/scrubber.js';
import { encodeCommand } from '../src/tsdb/command.js';
import { TimeSeriesStateMachine } from '../src/tsdb/state-machine.js';
import { validatePoint } from '../src/tsdb/validate.js';
import { WriteBatchBuilder } from '../src/tsdb/write-batch.js';
import { systemClock } from '../src/util/clock.js';
import { TestS3Server } from '../test/backup-service/s3-server.js';
import { sharedDataDir, stats, writeResults, type Stats } from './lib.js';

const BATCH_POINTS = 5000;
const MB = 1e6;
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

function batches(lines: readonly string[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < lines.length; i += BATCH_POINTS) {
    const builder = new WriteBatchBuilder({ maxPoints: BATCH_POINTS });
    let lastMs = 0;
    for (const line of lines.slice(i, i + BATCH_POINTS)) {
      const parts = line.split(' ');
      const tags: Record<string, string> = {};
      for (const kv of parts.slice(4)) tags[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
      const check = validatePoint({ metric: parts[1]!, timestamp: Number(parts[2]), value: parts[3]!, tags });
      if (!check.ok) throw new Error(`bad line ${line}`);
      const p = check.point;
      builder.addPoint(p.seriesKey, p.timestampMs, p.value, p.isInteger, p.bigInt);
      lastMs = Math.max(lastMs, p.timestampMs);
    }
    out.push(encodeCommand({ type: 'write', clientId: '', sequence: 0, firstUnackedSequence: 0, leaderTimeMs: lastMs, batch: builder.encode() }));
  }
  return out;
}

async function timeIt<T>(work: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { seconds: (performance.now() - started) / 1000, value };
}

interface Row {
  step: string;
  seconds: Stats;
  mbPerSecond: number;
  note: string;
}

async function main(): Promise<void> {
  const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] ?? 3) || 3;
  const dataDir = sharedDataDir();
  if (dataDir === null) throw new Error('../shared/data is missing: the benchmark needs devops-1d.put.gz');
  const lines = gunzipSync(readFileSync(join(dataDir, 'devops-1d.put.gz'))).toString('utf8').split('\n').filter((l) => l.startsWith('put '));
  const all = batches(lines);
  const cut = Math.floor(all.length * 0.99);
  const sm = new TimeSeriesStateMachine();
  let index = 0;
  for (const data of all.slice(0, cut)) sm.apply(++index, data);
  const work = mkdtempSync(join(tmpdir(), 'tsraft-bench-bs-'));
  const s3 = await new TestS3Server().start();
  s3.createBucket('bench');
  const settings = { ...s3.settings(), partSizeBytes: 5 * 1024 * 1024, multipartThresholdBytes: 5 * 1024 * 1024 };
  const server = new HttpServer({ maxBodyBytes: 32 * 1024 * 1024, maxConnections: 16 });
  registerBackupRoutes(server, {
    readBarrier: async () => {},
    capture: () => ({ tssm: sm.snapshot(), info: { clusterId: 'bench', nodeId: 'n1', raftIndex: index, raftTerm: 1, membership: { voters: ['n1'], learners: [], peerUrls: { n1: 'ws://127.0.0.1:1' } }, createdAtMs: Date.now() } }),
  });
  const { port } = await server.listen('127.0.0.1', 0);
  const endpoint = `http://127.0.0.1:${port}`;
  const rows: Row[] = [];
  const row = (step: string, samples: number[], bytes: number, note: string): void => {
    const s = stats(samples);
    rows.push({ step, seconds: s, mbPerSecond: bytes / MB / s.median, note });
  };
  try {
    const stateBytes = sm.snapshot().length;
    const points = sm.stats().pointCount;
    const dest = new S3Destination('s3://bench/sched', settings);
    const cache = new PageCache(1_000_000, 64 * 1024 * 1024);
    const digestOf = (): ReturnType<TimeSeriesStateMachine['stateDigest']> => sm.stateDigest();

    // Scheduled path: export straight into S3.
    const scheduled: number[] = [];
    let storedFull = 0;
    for (let r = 0; r < runs; r++) {
      const tssm = sm.snapshot();
      const { seconds, value } = await timeIt(() =>
        takeScheduledBackup({ tssm, info: { clusterId: 'bench', nodeId: 'n1', raftIndex: index, raftTerm: 1, membership: null, createdAtMs: Date.now() }, dest, name: `full-${r}`, baseName: null, key: null, digest: digestOf(), schedule: { slot: r + 1, attempt: 1 }, cache, beforeCommit: () => undefined, pause: async () => undefined }),
      );
      scheduled.push(seconds);
      storedFull = value.storedBytes;
    }
    row('scheduled full backup into S3 (export + upload)', scheduled, stateBytes, `${(storedFull / MB).toFixed(2)} MB stored`);

    // The last 1 % of the day, then an incremental on the last full one.
    for (const data of all.slice(cut)) sm.apply(++index, data);
    const incremental = await timeIt(() =>
      takeScheduledBackup({ tssm: sm.snapshot(), info: { clusterId: 'bench', nodeId: 'n1', raftIndex: index, raftTerm: 1, membership: null, createdAtMs: Date.now() }, dest, name: 'incr', baseName: `full-${runs - 1}`, key: null, digest: digestOf(), schedule: { slot: runs + 1, attempt: 1 }, cache, beforeCommit: () => undefined, pause: async () => undefined }),
    );
    row('scheduled incremental (+1 % of the day) into S3', [incremental.seconds], sm.snapshot().length, `${(incremental.value.storedBytes / 1e3).toFixed(1)} kB stored, ${incremental.value.reusedFiles} files reused`);

    // Command-line path: HTTP stream into staging, verified, uploaded.
    const cli: number[] = [];
    for (let r = 0; r < runs; r++) cli.push((await timeIt(() => createBackupAt({ endpoint, location: `s3://bench/cli/b${r}`, s3: settings, tempDir: work }))).seconds);
    row('tsraft backup create --out s3://… (stream, verify, upload)', cli, stateBytes, 'verification included');

    // Restore from S3: download the chain, verify, rebuild.
    const restore: number[] = [];
    for (let r = 0; r < runs; r++) restore.push((await timeIt(() => withDownloadedBackup('s3://bench/sched/incr', settings, (dir) => restoredState(dir)))).seconds);
    row('restore from S3 (download incremental + its base, verify, rebuild)', restore, sm.snapshot().length, '');

    // Re-verification at an unlimited rate.
    const { families } = createMetricFamilies();
    const reverifier = new Reverifier({ destination: dest, key: null, intervalMs: 60_000, maxBytesPerSecond: 0, workDir: work, isLeader: () => true, clock: systemClock, log: quiet, families });
    const reverify: number[] = [];
    for (let r = 0; r < runs; r++) reverify.push((await timeIt(() => reverifier.verify(`full-0`))).seconds);
    row('re-verify one stored backup (unlimited rate)', reverify, stateBytes, '');
    await dest.close();

    // The state digest against a full snapshot of the same state.
    const digestMs: number[] = [];
    const snapshotMs: number[] = [];
    for (let r = 0; r < Math.max(5, runs); r++) {
      let t = performance.now();
      sm.stateDigest();
      digestMs.push(performance.now() - t);
      t = performance.now();
      sm.snapshot();
      snapshotMs.push(performance.now() - t);
    }
    const digest = sm.stateDigest();

    // Scrubbing cost on ingest.
    const ingest = async (rate: number | null): Promise<number> => {
      const target = new TimeSeriesStateMachine();
      // Half the day first, so there are sealed segments to scrub.
      let i = 0;
      for (const data of all.slice(0, Math.floor(all.length / 2))) target.apply(++i, data);
      const scrubber = rate === null ? null : new Scrubber({ nodeId: 'n1', secret: new Uint8Array(32), maxBytesPerSecond: rate, passIntervalMs: 0, stateMachine: target, peerUrls: () => ({}), isMember: () => false, snapshotDir: work, clock: systemClock, log: quiet, families });
      scrubber?.start();
      const started = performance.now();
      let n = 0;
      for (const data of all.slice(Math.floor(all.length / 2))) {
        target.apply(++i, data);
        n++;
        // The replica hands the event loop back between Ready batches.
        await new Promise((r) => setImmediate(r));
      }
      const seconds = (performance.now() - started) / 1000;
      await scrubber?.stop();
      return (n * BATCH_POINTS) / seconds;
    };
    const modes: Array<[string, number | null]> = [['off', null], ['4 MiB/s (default)', 4 * 1024 * 1024], ['64 MiB/s', 64 * 1024 * 1024]];
    const ingestRates = new Map<string, number[]>();
    // One warm-up round (JIT), not counted; then the order rotates each round.
    for (const [, rate] of modes) await ingest(rate);
    const scrubRuns = Math.max(7, runs);
    for (let r = 0; r < scrubRuns; r++) {
      for (let k = 0; k < modes.length; k++) {
        const [label, rate] = modes[(r + k) % modes.length]!;
        ingestRates.set(label, [...(ingestRates.get(label) ?? []), await ingest(rate)]);
      }
    }
    // Best of the rounds: on a shared machine the fastest round is the least disturbed one.
    const offBest = stats(ingestRates.get('off')!).max;
    const scrubRows = modes.map(([label]) => {
      const s = stats(ingestRates.get(label)!);
      return { mode: label, pointsPerSecond: s, costPercent: label === 'off' ? 0 : ((offBest - s.max) / offBest) * 100 };
    });
    // The scrubber's own speed: a share of one core at a given rate, whatever the state size.
    const speedProbe = new Scrubber({ nodeId: 'n1', secret: new Uint8Array(32), maxBytesPerSecond: 1, passIntervalMs: 0, stateMachine: sm, peerUrls: () => ({}), isMember: () => false, snapshotDir: work, clock: systemClock, log: quiet, families });
    const speeds: number[] = [];
    for (let r = 0; r < 7; r++) {
      const t = performance.now();
      const bytes = speedProbe.scrubStep(Number.MAX_SAFE_INTEGER);
      speeds.push(bytes / ((performance.now() - t) / 1000));
      (speedProbe as unknown as { cursor: number }).cursor = 0;
    }
    const checkBytesPerSecond = stats(speeds).median;
    // What the scrubber can take from ingest at most: its share of one core at the default rate.
    const defaultShare = ((4 * 1024 * 1024) / checkBytesPerSecond) * 100;
    const defaultCost = Math.max(defaultShare, scrubRows[1]!.costPercent);

    const md = [
      '# Backups as a service benchmark',
      '',
      `Generated by \`node dist/bench/backup-service.js --runs ${runs}\` on Node ${process.version}. Dataset: devops-1d.put.gz, ${sm.stats().seriesCount} series, ${points} points; state machine snapshot ${(stateBytes / MB).toFixed(2)} MB. S3: the test server on 127.0.0.1 (objects on local disk, Signature V4 and payload SHA-256 checked), 5 MiB multipart parts. MB/s are of the state snapshot.`,
      '',
      '| step | seconds, median (min–max) | MB/s | note |',
      '| --- | ---: | ---: | --- |',
      ...rows.map((r) => `| ${r.step} | ${r.seconds.median.toFixed(3)} (${r.seconds.min.toFixed(3)}–${r.seconds.max.toFixed(3)}) | ${r.mbPerSecond.toFixed(1)} | ${r.note} |`),
      '',
      '## State digest',
      '',
      `${digest.seriesCount} series, ${digest.sealedBlocks} sealed segments (each contributes its stored CRC: not re-read), ${digest.openPoints} points in open blocks (hashed).`,
      '',
      '| operation | ms, median (min–max) |',
      '| --- | ---: |',
      `| state digest (incremental, per segment) | ${stats(digestMs).median.toFixed(1)} (${stats(digestMs).min.toFixed(1)}–${stats(digestMs).max.toFixed(1)}) |`,
      `| full snapshot of the same state (for scale) | ${stats(snapshotMs).median.toFixed(1)} (${stats(snapshotMs).min.toFixed(1)}–${stats(snapshotMs).max.toFixed(1)}) |`,
      '',
      '## Scrubbing cost on ingest',
      '',
      `The second half of the day applied to the state machine (5,000-point batches, one turn of the event loop between batches, as the replica does) while the scrubber re-reads the sealed segments of the first half, pass after pass (100 ms between passes). ${Math.max(7, runs)} rounds after a warm-up round, the order of the modes rotating.`,
      '',
      '| scrubber | points/s, best (median) | cost (best vs best) |',
      '| --- | ---: | ---: |',
      ...scrubRows.map((r) => `| ${r.mode} | ${(r.pointsPerSecond.max / 1e6).toFixed(2)} M (${(r.pointsPerSecond.median / 1e6).toFixed(2)} M) | ${r.mode === 'off' ? '—' : `${r.costPercent.toFixed(1)} %`} |`),
      '',
      `The scrubber checks ${(checkBytesPerSecond / MB).toFixed(0)} MB/s of segments on one core (CRC-32C of every byte and the block header). At its default 4 MiB/s it therefore takes at most **${defaultShare.toFixed(1)} % of one core** whatever the state size (64 MiB/s: ${((64 * 1024 * 1024) / checkBytesPerSecond * 100).toFixed(1)} %). Cost at the default rate (the larger of that share and the measured ingest loss): **${defaultCost.toFixed(1)} %**, target < 5 %: ${defaultCost < 5 ? 'met' : 'not met'}.`,
      '',
      'The machine is shared (2 cores, other work running): differences of a few percent between runs are noise; a negative cost means none was measurable.',
    ].join('\n');
    writeResults('backup-service', { stateBytes, points, runs, rows, digest: { ms: stats(digestMs), snapshotMs: stats(snapshotMs), sealedBlocks: digest.sealedBlocks, openPoints: digest.openPoints }, scrub: scrubRows, scrubDefaultCostPercent: defaultCost, scrubCheckBytesPerSecond: checkBytesPerSecond }, md);
    console.log(md);
  } finally {
    await server.close(0);
    await s3.close();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
