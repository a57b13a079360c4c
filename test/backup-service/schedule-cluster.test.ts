// Scheduled backups of a real 3-node cluster (processes on loopback) into S3
// (the test server, in this process): the leader is killed (-9) while it
// uploads a backup it claimed; the next leader takes the slot over after the
// claim times out. Across the leader change no schedule slot is skipped and
// none has two backups; every backup records the state digest the live
// replicas computed at its index; the newest chain verifies end to end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Destination } from '../../src/backup/destinations/s3.js';
import { withDownloadedBackup } from '../../src/backup/destinations/remote.js';
import { listCatalog } from '../../src/backup/destinations/transfer.js';
import { verifyBackup } from '../../src/backup/verify.js';
import { TestCluster, getJson, sleep } from '../node/process-harness.js';
import { TestS3Server } from './s3-server.js';

interface ScheduleStatus {
  backupService: {
    schedule: {
      state: { started: number; succeeded: number; failed: number; superseded: number; missedSlots: number; current: { name: string; taker: string } | null; lastOk: { name: string; digest: string; backupIndex: number } | null };
      job: { phase: string; name: string } | null;
    } | null;
  } | null;
  leader: string | null;
}

describe('scheduled backups across a forced leader change', () => {
  let cluster: TestCluster;
  let s3: TestS3Server;
  const intervalMs = 2000;

  beforeAll(async () => {
    s3 = await new TestS3Server().start();
    s3.createBucket('sched');
    // Each object takes a while to store, so a backup is in flight long enough to kill its taker.
    s3.writeLatencyMs = 100;
    cluster = await TestCluster.create({
      nodes: 3,
      config: {
        backup: {
          schedule: { destination: 's3://sched/cluster', intervalMs, fullEvery: 3, retention: { keepLast: 1000, keepDailyDays: 0 }, claimTimeoutMs: 1200, retryDelayMs: 1000 },
          s3: s3.settings(),
          digest: { intervalMs: 0 },
          scrub: { enabled: false },
        },
      },
    });
    cluster.startAll();
    await cluster.waitForLeader(20_000);
  });

  afterAll(async () => {
    await cluster?.destroy();
    await s3?.close();
  });

  async function scheduleOf(id: string): Promise<ScheduleStatus> {
    return (await getJson<ScheduleStatus>(`${cluster.url(id)}/status`)).body;
  }

  it('skips no slot and doubles none; the killed taker\'s slot is taken over', async () => {
    let writes = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await cluster.put(writes++);
        await sleep(20);
      }
    })();
    const leader = await cluster.waitForLeader();
    // Two backups succeed, then the leader is killed while it uploads the third.
    await cluster.waitFor('two scheduled backups', 30_000, async () => ((await scheduleOf(leader)).backupService?.schedule?.state.succeeded ?? 0) >= 2);
    await cluster.waitFor('the leader uploading a backup', 30_000, async () => (await scheduleOf(leader)).backupService?.schedule?.job?.phase === 'uploading');
    await cluster.kill9(leader);
    const survivors = cluster.running().map((n) => n.id);
    const next = await cluster.waitForLeader(20_000, survivors);
    expect(next).not.toBe(leader);
    const before = (await scheduleOf(next)).backupService!.schedule!.state.succeeded;
    await cluster.waitFor('three more scheduled backups after the leader change', 40_000, async () => ((await scheduleOf(next)).backupService?.schedule?.state.succeeded ?? 0) >= before + 3);
    cluster.start(leader);
    writing = false;
    await writer;

    const state = (await scheduleOf(next)).backupService!.schedule!.state;
    expect(state.superseded).toBeGreaterThanOrEqual(1);
    expect(state.missedSlots).toBe(0);

    // What the destination holds: one complete backup per slot, consecutive slots.
    const dest = new S3Destination('s3://sched/cluster', s3.settings());
    await cluster.waitFor('no backup in progress', 20_000, async () => (await scheduleOf(next)).backupService?.schedule?.state.current === null);
    const catalog = await listCatalog(dest);
    const complete = catalog.filter((e) => e.manifest !== null);
    const slots = complete.map((e) => e.manifest!.schedule!.slot);
    expect(new Set(slots).size).toBe(slots.length);
    const sorted = [...slots].sort((a, b) => a - b);
    expect(sorted[sorted.length - 1]! - sorted[0]! + 1).toBe(sorted.length);
    expect(sorted.length).toBeGreaterThanOrEqual(5);
    // The slot whose taker died was finished by another attempt, in the same folder family.
    expect(complete.some((e) => e.manifest!.schedule!.attempt >= 2)).toBe(true);
    // Incrementals chain on the last full one (a full one every three).
    for (const e of complete) {
      if (e.manifest!.schedule!.kind === 'full') expect(e.base).toBeNull();
      else expect(complete.map((c) => c.name)).toContain(e.base);
    }

    // Every backup records the digest the live replicas computed at its index.
    const newest = complete[complete.length - 1]!;
    const digest = newest.manifest!.stateDigest!;
    expect(digest.index).toBe(newest.manifest!.raft.index);
    for (const id of survivors) {
      const answer = (await getJson<{ digests: Array<{ index: number; digest: string }> }>(`${cluster.url(id)}/api/maintenance/digests?index=${digest.index}`)).body;
      expect(answer.digests).toEqual([expect.objectContaining({ index: digest.index, digest: digest.digest })]);
    }
    expect(state.lastOk?.digest === digest.digest || state.lastOk?.backupIndex !== digest.index).toBe(true);

    // The newest chain restores: verify it end to end from S3.
    const verified = await withDownloadedBackup(`s3://sched/cluster/${newest.name}`, s3.settings(), (dir) => verifyBackup(dir));
    expect(verified.manifest.backupId).toBe(newest.manifest!.backupId);
    await dest.close();
  });
});
