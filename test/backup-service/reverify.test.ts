// Re-verification: stored backups in S3 are read back and verified end to
// end; a byte flipped in one object of the destination is caught, named, and
// counted, and the scheduler is asked for a full backup next.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackupAt } from '../../src/backup/destinations/remote.js';
import { S3Destination } from '../../src/backup/destinations/s3.js';
import { Reverifier } from '../../src/backup/reverify.js';
import { createMetricFamilies } from '../../src/metrics/definitions.js';
import { systemClock } from '../../src/util/clock.js';
import { startBackupServer, type TestBackupServer } from '../backup/backup-server.js';
import { Feeder, feedPoints, newStateMachine, syntheticPoints } from '../backup/workload.js';
import { TestS3Server } from './s3-server.js';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

describe('re-verification of stored backups', () => {
  let s3: TestS3Server;
  let server: TestBackupServer;
  const work = mkdtempSync(join(tmpdir(), 'tsraft-reverify-'));

  beforeAll(async () => {
    s3 = await new TestS3Server().start();
    s3.createBucket('rvbkt');
    const feeder = new Feeder(newStateMachine());
    server = await startBackupServer(feeder.sm, () => feeder.index);
    let t = 1_700_000_000_000;
    for (let i = 0; i < 3; i++) {
      feedPoints(feeder, syntheticPoints({ seed: 40 + i, series: 4, pointsPerSeries: 100, startMs: 1_700_000_000_000 + i * 7_200_000 }), 50, () => (t += 1000));
      await createBackupAt({ endpoint: server.url, location: `s3://rvbkt/c/b${i}`, base: i === 0 ? null : `b${i - 1}`, s3: s3.settings() });
    }
  });

  afterAll(async () => {
    await server.close();
    await s3.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('verifies the newest unverified backup first, then the one verified longest ago, within its byte rate', async () => {
    const { families, registry } = createMetricFamilies();
    const dest = new S3Destination('s3://rvbkt/c', s3.settings());
    const reverifier = new Reverifier({ destination: dest, key: null, intervalMs: 60_000, maxBytesPerSecond: 1 << 20, workDir: work, isLeader: () => true, clock: systemClock, log: quiet, families });
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      const outcome = (await reverifier.runOnce())!;
      expect(outcome.ok, outcome.error ?? '').toBe(true);
      order.push(outcome.name);
    }
    expect(order).toEqual(['b2', 'b1', 'b0', 'b2']);
    const text = await registry.metrics();
    expect(text).toMatch(/tsraft_backup_reverify_runs_total\{destination="s3:\/\/rvbkt\/c",result="success"\} 4/);
    expect(text).toMatch(/tsraft_backup_destination_last_verified_timestamp_seconds\{destination="s3:\/\/rvbkt\/c"\} [1-9]/);
    await dest.close();
  });

  it('catches a corrupted object in S3, names it, and asks for a full backup next', async () => {
    const { families, registry } = createMetricFamilies();
    const dest = new S3Destination('s3://rvbkt/c', s3.settings());
    const damaged: string[] = [];
    const reverifier = new Reverifier({ destination: dest, key: null, intervalMs: 60_000, maxBytesPerSecond: 1 << 20, workDir: work, isLeader: () => true, onDamaged: (name) => damaged.push(name), clock: systemClock, log: quiet, families });
    // The sessions file of the full backup b0, which b1 and b2 reuse: b2 is damaged too.
    const key = s3.keys('rvbkt').find((k) => k.startsWith('c/b0/data/') && k.endsWith('.ses'))!;
    s3.corrupt('rvbkt', key);
    const outcome = await reverifier.verify('b2');
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toMatch(/TSR_ERR_BACKUP_CORRUPT: .*SHA-256 mismatch/);
    expect(outcome.file).toContain(key.split('/').pop());
    expect(damaged).toEqual(['b2']);
    expect(reverifier.status().lastFailure?.name).toBe('b2');
    expect(await registry.metrics()).toMatch(/tsraft_backup_reverify_runs_total\{destination="s3:\/\/rvbkt\/c",result="failure"\} 1/);
    s3.corrupt('rvbkt', key);
    expect((await reverifier.verify('b2')).ok).toBe(true);
    await dest.close();
  });
});
