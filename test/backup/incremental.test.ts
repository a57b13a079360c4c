// Incremental backups: after 1 % new data, a backup on top of the previous one
// stores less than 10 % of the first one's bytes, and restores completely.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackup, type CreateBackupResult } from '../../src/backup/create.js';
import { restoredState } from '../../src/backup/restore.js';
import { verifyBackup } from '../../src/backup/verify.js';
import { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';
import { startBackupServer, type TestBackupServer } from './backup-server.js';
import { TempDirs } from './temp.js';
import { Feeder, feedPoints, gaugePoints, newStateMachine } from './workload.js';

const SERIES = 40;
/** One day at 10 s. */
const DAY_STEPS = 8640;
/** 1 % more points (rounded up: 87 steps of 8,640). */
const ONE_PERCENT_STEPS = Math.ceil(DAY_STEPS / 100);
const temp = new TempDirs();

function bytesOnDisk(dir: string): number {
  let total = 0;
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else total += st.size;
    }
  };
  walk(dir);
  return total;
}

describe('incremental backups', () => {
  let sm: TimeSeriesStateMachine;
  let feeder: Feeder;
  let server: TestBackupServer;
  let first: CreateBackupResult;
  let second: CreateBackupResult;
  let hashAtSecond: string;
  let clock = 1_700_000_000_000;

  beforeAll(async () => {
    sm = newStateMachine();
    feeder = new Feeder(sm);
    feedPoints(feeder, gaugePoints(1, SERIES, 0, DAY_STEPS), 5000, () => (clock += 1000));
    server = await startBackupServer(sm, () => feeder.index);
    first = await createBackup({ endpoint: server.url, outDir: join(temp.make(), 'first') });
    // 1 % more points: the next 14.4 minutes of every series.
    feedPoints(feeder, gaugePoints(1, SERIES, DAY_STEPS, DAY_STEPS + ONE_PERCENT_STEPS), 5000, () => (clock += 1000));
    hashAtSecond = sm.stateHash();
    second = await createBackup({ endpoint: server.url, outDir: join(temp.make(), 'second'), baseDir: first.dir });
  });

  afterAll(async () => {
    await server.close();
    temp.removeAll();
  });

  it('stores less than 10 % of the first backup after 1 % new data', () => {
    const ratio = second.manifest.totals.storedBytes / first.manifest.totals.storedBytes;
    const diskRatio = bytesOnDisk(second.dir) / bytesOnDisk(first.dir);
    console.log(`incremental after 1 % new data: ${second.manifest.totals.storedBytes} of ${first.manifest.totals.storedBytes} bytes (${(ratio * 100).toFixed(2)} %), on disk ${(diskRatio * 100).toFixed(2)} %`);
    expect(second.manifest.pointCount).toBe(first.manifest.pointCount + SERIES * ONE_PERCENT_STEPS);
    expect(ratio).toBeLessThan(0.1);
    expect(diskRatio).toBeLessThan(0.1);
    expect(second.manifest.totals.reusedBytes).toBeGreaterThan(0.9 * first.manifest.totals.storedBytes);
  });

  it('tells the node how each backup went: the stream, then the verified copy', () => {
    const ids = [first.manifest.backupId, second.manifest.backupId];
    expect(server.streamRecords.map((r) => [r.id, r.outcome, r.kind, r.raftIndex])).toEqual([
      [ids[0], 'success', 'full', first.manifest.raft.index],
      [ids[1], 'success', 'incremental', second.manifest.raft.index],
    ]);
    expect(server.clientReports.map((r) => [r.id, r.verification, r.sizeBytes])).toEqual([
      [ids[0], 'verified', first.manifest.totals.storedBytes],
      [ids[1], 'verified', second.manifest.totals.storedBytes],
    ]);
    expect(first.reported && second.reported).toBe(true);
  });

  it('restores the incremental backup completely (base files resolved through the chain)', () => {
    expect(verifyBackup(second.dir).rebuild.stateHash).toBe(hashAtSecond);
    const state = restoredState(second.dir);
    expect(TimeSeriesStateMachine.restore(state.tssm).stateHash()).toBe(hashAtSecond);
    expect(state.index).toBe(second.manifest.raft.index);
  });

  it('stores nothing but the manifest when nothing changed', async () => {
    const same = await createBackup({ endpoint: server.url, outDir: join(temp.make(), 'same'), baseDir: second.dir });
    expect(same.manifest.totals.storedBytes).toBe(0);
    expect(same.manifest.raft.index).toBe(second.manifest.raft.index);
    expect(verifyBackup(same.dir).rebuild.stateHash).toBe(hashAtSecond);
  });

  it('chains incrementals, each reading through its bases', async () => {
    feedPoints(feeder, gaugePoints(1, SERIES, DAY_STEPS + ONE_PERCENT_STEPS, DAY_STEPS + 2 * ONE_PERCENT_STEPS), 5000, () => (clock += 1000));
    const third = await createBackup({ endpoint: server.url, outDir: join(temp.make(), 'third'), baseDir: second.dir });
    expect(third.manifest.base?.backupId).toBe(second.manifest.backupId);
    expect(TimeSeriesStateMachine.restore(restoredState(third.dir).tssm).stateHash()).toBe(sm.stateHash());
  });

  it('refuses to write into a directory that is not empty', async () => {
    await expect(createBackup({ endpoint: server.url, outDir: first.dir })).rejects.toMatchObject({ code: 'TSR_ERR_TARGET_NOT_EMPTY' });
    expect(verifyBackup(first.dir).manifest.backupId).toBe(first.manifest.backupId);
  });
});
