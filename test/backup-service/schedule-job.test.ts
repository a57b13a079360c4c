// Taking a scheduled backup straight into a destination: encrypted full and
// incremental backups that verify end to end with the key, files reused from
// the base, the digest recorded; a backup whose claim was taken over is never
// committed (no manifest: it does not look complete).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deriveBackupKey } from '../../src/backup/crypto.js';
import { LocalDestination } from '../../src/backup/destinations/local.js';
import { withDownloadedBackup } from '../../src/backup/destinations/remote.js';
import { listCatalog } from '../../src/backup/destinations/transfer.js';
import { takeScheduledBackup, type ScheduledBackupInput } from '../../src/backup/schedule-job.js';
import { verifyBackup } from '../../src/backup/verify.js';
import { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';
import { Feeder, feedPoints, syntheticPoints } from '../backup/workload.js';

const root = mkdtempSync(join(tmpdir(), 'tsraft-sched-job-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function input(sm: TimeSeriesStateMachine, over: Partial<ScheduledBackupInput>): ScheduledBackupInput {
  return {
    tssm: sm.snapshot(),
    info: { clusterId: 'c', nodeId: 'n1', raftIndex: sm.appliedIndex, raftTerm: 2, membership: { voters: ['n1'], learners: [], peerUrls: { n1: 'ws://127.0.0.1:1' } }, createdAtMs: 1_700_000_000_000 },
    dest: new LocalDestination(join(root, 'dest')),
    name: 'b',
    baseName: null,
    key: null,
    digest: sm.stateDigest(),
    schedule: { slot: 1, attempt: 1 },
    cache: null,
    beforeCommit: () => undefined,
    pause: async () => undefined,
    ...over,
  };
}

describe('takeScheduledBackup', () => {
  it('writes encrypted full and incremental backups that verify with the key and record their digest', async () => {
    const key = deriveBackupKey(new Uint8Array(32).fill(7), 'test key');
    const sm = new TimeSeriesStateMachine();
    const feeder = new Feeder(sm);
    let t = 1_700_000_000_000;
    feedPoints(feeder, syntheticPoints({ seed: 3, series: 5, pointsPerSeries: 300 }), 100, () => (t += 1000));
    const dest = new LocalDestination(join(root, 'enc'));
    const full = await takeScheduledBackup(input(sm, { dest, name: 'f', key }));
    feedPoints(feeder, syntheticPoints({ seed: 4, series: 1, pointsPerSeries: 20, startMs: 1_800_000_000_000 }), 20, () => (t += 1000));
    const incr = await takeScheduledBackup(input(sm, { dest, name: 'i', baseName: 'f', key, schedule: { slot: 2, attempt: 1 } }));
    expect(incr.reusedFiles).toBeGreaterThan(0);
    expect(incr.manifest.base?.path).toBe('../f');
    expect(incr.manifest.encryption?.keyCheck).toBe(key.keyCheck);
    expect(incr.manifest.stateDigest).toEqual({ algorithm: 'tsraft-digest-v1', index: sm.appliedIndex, digest: sm.stateDigest().digest });
    expect(incr.manifest.schedule).toEqual({ slot: 2, attempt: 1, kind: 'incremental' });
    const verified = await withDownloadedBackup(join(root, 'enc', 'i'), {}, (dir) => verifyBackup(dir, { key }));
    expect(verified.rebuild.stateSha256).toBe(incr.manifest.state.sha256);
    expect(full.manifest.base).toBeNull();
    // An incremental on an encrypted base needs the same key.
    await expect(takeScheduledBackup(input(sm, { dest, name: 'x', baseName: 'f', key: null }))).rejects.toMatchObject({ code: 'TSR_ERR_BACKUP_KEY' });
  });

  it('never commits a backup whose claim was taken over: no manifest, so it is not a backup', async () => {
    const sm = new TimeSeriesStateMachine();
    const feeder = new Feeder(sm);
    let t = 1_700_000_000_000;
    feedPoints(feeder, syntheticPoints({ seed: 8, series: 2, pointsPerSeries: 50 }), 50, () => (t += 1000));
    const dest = new LocalDestination(join(root, 'taken'));
    await expect(
      takeScheduledBackup(input(sm, { dest, name: 'late', beforeCommit: () => { throw new Error('the claim was taken over'); } })),
    ).rejects.toThrow(/taken over/);
    expect(await listCatalog(dest)).toEqual([expect.objectContaining({ name: 'late', manifest: null, problem: expect.stringMatching(/^incomplete/) })]);
  });
});
