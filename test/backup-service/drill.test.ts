// Restore drills against a live cluster (in-process nodes on loopback) whose
// scheduled backups go to S3 (the test server): a drill of a healthy backup
// passes; a backup with a flipped byte fails; a backup replaced by another,
// self-consistent one (it verifies!) fails on the state digest and on the
// query answers. The node's scheduled drill reports its result as a metric.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScheduledDrill } from '../../src/backup/drill.js';
import { withDownloadedBackup } from '../../src/backup/destinations/remote.js';
import { S3Destination } from '../../src/backup/destinations/s3.js';
import { deleteBackup, listCatalog } from '../../src/backup/destinations/transfer.js';
import { restoredState } from '../../src/backup/restore.js';
import { takeScheduledBackup } from '../../src/backup/schedule-job.js';
import { verifyBackup } from '../../src/backup/verify.js';
import { EXIT_CORRUPT_BACKUP, runBackupCommand } from '../../src/cli/commands/backup.js';
import { createMetricFamilies } from '../../src/metrics/definitions.js';
import { DIGEST_ALGORITHM } from '../../src/tsdb/digest.js';
import { systemClock } from '../../src/util/clock.js';
import { InProcessCluster } from './inprocess-cluster.js';
import { TestS3Server } from './s3-server.js';

const HOUR = 3_600_000;
const saved: Record<string, string | undefined> = {};
const ENV = ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;

async function run(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await runBackupCommand(argv, { print: (line) => lines.push(line) });
  return { code, out: lines.join('\n') };
}

describe('restore drills', () => {
  let s3: TestS3Server;
  let cluster: InProcessCluster;
  const work = mkdtempSync(join(tmpdir(), 'tsraft-drill-'));
  const dest = 's3://drills/c';
  let names: string[] = [];

  beforeAll(async () => {
    s3 = await new TestS3Server().start();
    s3.createBucket('drills');
    for (const k of ENV) saved[k] = process.env[k];
    process.env.AWS_ENDPOINT_URL = s3.endpoint;
    process.env.AWS_REGION = 'us-east-1';
    process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
    cluster = await InProcessCluster.start(3, {
      backup: {
        schedule: { destination: dest, intervalMs: 1000, fullEvery: 1, retention: { keepLast: 50, keepDailyDays: 0 }, claimTimeoutMs: 5000, retryDelayMs: 1000 },
        s3: s3.settings(),
        scrub: { enabled: false },
        digest: { intervalMs: 0 },
        reverify: { intervalMs: 0 },
      },
    });
    const leader = await cluster.leader();
    // Two phases of writes, each followed by a backup that holds it.
    const now = Date.now();
    for (let phase = 0; phase < 2; phase++) {
      const points = [];
      for (let h = 0; h < 3; h++) for (let m = 0; m < 60; m += 2) points.push({ metric: `drill.m${h}`, timestamp: now - 3 * HOUR + phase * 30 * 60_000 + m * 60_000, value: phase * 100 + h + m / 7, tags: { host: `h${h}` } });
      const put = await fetch(`${cluster.url(leader)}/api/put?summary`, { method: 'POST', body: JSON.stringify(points), headers: { 'content-type': 'application/json' } });
      expect(put.status).toBe(200);
      const index = cluster.node(leader).replica.appliedIndex;
      await cluster.waitFor(`a backup holding phase ${phase}`, 20_000, async () => {
        const complete = (await listCatalog(new S3Destination(dest, s3.settings()))).filter((e) => e.manifest !== null && e.manifest.raft.index > index);
        return complete.length > 0;
      });
    }
    names = (await listCatalog(new S3Destination(dest, s3.settings()))).filter((e) => e.manifest !== null).map((e) => e.name);
  });

  afterAll(async () => {
    await cluster?.destroy();
    await s3?.close();
    for (const k of ENV) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    rmSync(work, { recursive: true, force: true });
  });

  const endpoints = (): string[] => cluster.ids.flatMap((id) => ['--endpoint', cluster.url(id)]);

  it('passes on a healthy cluster: digests and query answers match at the backup\'s index', async () => {
    const latest = names[names.length - 1]!;
    const drill = await run('drill', '--from', dest, '--backup', latest, ...endpoints(), '--json');
    const result = JSON.parse(drill.out) as { pass: boolean; reasons: string[]; digests: Array<{ source: string; match: boolean | null }>; queries: Array<{ match: boolean; restoredSeries: number }> };
    expect(result.reasons).toEqual([]);
    expect(result.pass).toBe(true);
    expect(drill.code).toBe(0);
    // The digest recorded in the backup and the three live replicas' at that index.
    expect(result.digests.map((d) => [d.source, d.match])).toEqual([['manifest', true], ['n1', true], ['n2', true], ['n3', true]]);
    expect(result.queries).toHaveLength(3);
    expect(result.queries.every((q) => q.match && q.restoredSeries > 0)).toBe(true);
    expect((await run('drill', '--from', dest, ...endpoints())).out).toMatch(/^PASS drill of s3:\/\/drills\/c\//);
  });

  it('fails when a byte of the backup was flipped in S3', async () => {
    const name = names[names.length - 1]!;
    const key = s3.keys('drills').find((k) => k.startsWith(`c/${name}/data/`) && k.endsWith('.seg'))!;
    s3.corrupt('drills', key);
    try {
      const drill = await run('drill', '--from', dest, '--backup', name, ...endpoints());
      expect(drill.code).toBe(EXIT_CORRUPT_BACKUP);
      expect(drill.out).toMatch(/SHA-256 mismatch/);
    } finally {
      s3.corrupt('drills', key);
    }
  });

  it('fails when the backup was replaced by another, self-consistent state (that verify accepts)', async () => {
    // The state of the first backup, relabelled as the second: every checksum holds.
    const [older, target] = [names[0]!, names[names.length - 1]!];
    const s3dest = new S3Destination(dest, s3.settings());
    const original = (await listCatalog(s3dest)).find((e) => e.name === target)!.manifest!;
    const olderState = await withDownloadedBackup(`${dest}/${older}`, s3.settings(), (dir) => restoredState(dir));
    await deleteBackup(s3dest, target);
    await takeScheduledBackup({
      tssm: olderState.tssm,
      info: { clusterId: original.clusterId, nodeId: original.source.nodeId, raftIndex: original.raft.index, raftTerm: original.raft.term, membership: original.raft.membership, createdAtMs: Date.parse(original.createdAt) },
      dest: s3dest,
      name: target,
      baseName: null,
      key: null,
      digest: { algorithm: DIGEST_ALGORITHM, index: original.raft.index, digest: original.stateDigest!.digest, seriesCount: 0, groups: {}, sealedBlocks: 0, openPoints: 0 },
      schedule: { slot: original.schedule!.slot, attempt: 1 },
      cache: null,
      beforeCommit: () => undefined,
      pause: async () => undefined,
    });
    expect(await withDownloadedBackup(`${dest}/${target}`, s3.settings(), (dir) => verifyBackup(dir).manifest.backupId)).toMatch(/^[0-9a-f]{32}$/);
    const drill = await run('drill', '--from', dest, '--backup', target, ...endpoints());
    expect(drill.code).toBe(EXIT_CORRUPT_BACKUP);
    expect(drill.out).toMatch(/^FAIL drill/);
    expect(drill.out).toMatch(/differs from the digest .* recorded when the backup was taken/);
    expect(drill.out).toMatch(/differs from node n\d's digest/);
    expect(drill.out).toMatch(/query of drill\.m\d .* answers differently/);
    await s3dest.close();
  });

  it('runs on a schedule in the node and reports its result as a metric', async () => {
    const { families, registry } = createMetricFamilies();
    const drill = new ScheduledDrill({
      destination: new S3Destination(dest, s3.settings()),
      key: null,
      intervalMs: 60_000,
      maxBytesPerSecond: 1 << 24,
      workDir: work,
      isLeader: () => true,
      endpoints: () => cluster.ids.map((id) => cluster.url(id)),
      token: null,
      clock: systemClock,
      log: { info: () => undefined, warn: () => undefined, error: () => undefined },
      families,
    });
    // The schedule has taken a new backup since the forgery: the latest is healthy again.
    const forged = names[names.length - 1]!;
    await cluster.waitFor('a backup newer than the forged one', 20_000, async () => {
      const complete = (await listCatalog(new S3Destination(dest, s3.settings()))).filter((e) => e.manifest !== null);
      return complete[complete.length - 1]!.name !== forged;
    });
    expect(await drill.runOnce()).toBe(true);
    const text = await registry.metrics();
    expect(text).toContain('tsraft_backup_drill_last_result 1');
    expect(text).toMatch(/tsraft_backup_drill_runs_total\{result="pass"\} 1/);
    expect(drill.status().last).not.toBeNull();
  });
});
