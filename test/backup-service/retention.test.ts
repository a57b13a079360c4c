// Retention: what to keep (property tests against the rules), and pruning a
// real destination keeps every remaining chain restorable.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Destination } from '../../src/backup/destinations/s3.js';
import { createBackupAt, withDownloadedBackup } from '../../src/backup/destinations/remote.js';
import { listCatalog } from '../../src/backup/destinations/transfer.js';
import { decideRetention, type RetainedCandidate } from '../../src/backup/retention.js';
import { pruneDestination } from '../../src/backup/retention-prune.js';
import { verifyBackup } from '../../src/backup/verify.js';
import { startBackupServer, type TestBackupServer } from '../backup/backup-server.js';
import { Feeder, feedPoints, newStateMachine, syntheticPoints } from '../backup/workload.js';
import { TestS3Server } from './s3-server.js';

const DAY = 86_400_000;

/** A history of backups: each either full or an incremental on the previous one. */
const histories = fc
  .array(fc.record({ full: fc.boolean(), gapMs: fc.integer({ min: 60_000, max: 2 * DAY }) }), { minLength: 1, maxLength: 40 })
  .map((steps) => {
    const backups: RetainedCandidate[] = [];
    let t = 1_700_000_000_000;
    steps.forEach((s, i) => {
      t += s.gapMs;
      backups.push({ name: `b${String(i).padStart(3, '0')}`, createdAtMs: t, index: (i + 1) * 10, base: i === 0 || s.full ? null : backups[i - 1]!.name });
    });
    return { backups, nowMs: t + 1000 };
  });

describe('decideRetention', () => {
  it('keeps the last N, the newest of each recent day, and every base a kept backup needs', () => {
    fc.assert(
      fc.property(histories, fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 10 }), ({ backups, nowMs }, keepLast, keepDailyDays) => {
        const decision = decideRetention(backups, { keepLast, keepDailyDays }, nowMs);
        const byName = new Map(backups.map((b) => [b.name, b]));
        const kept = new Set(decision.keep.keys());
        // The newest keepLast are kept.
        for (const b of backups.slice(-keepLast)) expect(kept.has(b.name)).toBe(true);
        // One per recent day: the newest of the day.
        for (let d = 0; d < keepDailyDays; d++) {
          const day = Math.floor(nowMs / DAY) - d;
          const ofDay = backups.filter((b) => Math.floor(b.createdAtMs / DAY) === day);
          if (ofDay.length > 0) expect(kept.has(ofDay[ofDay.length - 1]!.name)).toBe(true);
        }
        // Every kept chain is whole: nothing a kept backup is built on goes.
        for (const name of kept) {
          let base = byName.get(name)!.base;
          while (base !== null) {
            expect(kept.has(base)).toBe(true);
            base = byName.get(base)!.base;
          }
        }
        // Keep and remove partition the backups; dependents are removed before their bases.
        expect(kept.size + decision.remove.length).toBe(backups.length);
        const at = new Map(decision.remove.map((n, i) => [n, i]));
        for (const name of decision.remove) {
          const base = byName.get(name)!.base;
          if (base !== null && at.has(base)) expect(at.get(base)!).toBeGreaterThan(at.get(name)!);
        }
        // Nothing is kept without a reason.
        for (const [name, why] of decision.keep) {
          if (why !== 'base') continue;
          expect([...kept].some((k) => {
            let b = byName.get(k)!.base;
            while (b !== null) {
              if (b === name) return true;
              b = byName.get(b)!.base;
            }
            return false;
          })).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reports a kept backup whose base is missing, and keeps it', () => {
    const decision = decideRetention([{ name: 'b2', createdAtMs: 2, index: 2, base: 'b1' }], { keepLast: 1, keepDailyDays: 0 }, 10);
    expect(decision.broken).toEqual(['b2']);
    expect([...decision.keep.keys()]).toEqual(['b2']);
  });
});

describe('pruning a destination', () => {
  let s3: TestS3Server;
  let server: TestBackupServer;
  let feeder: Feeder;

  beforeAll(async () => {
    s3 = await new TestS3Server().start();
    s3.createBucket('prune');
    feeder = new Feeder(newStateMachine());
    server = await startBackupServer(feeder.sm, () => feeder.index);
  });

  afterAll(async () => {
    await server.close();
    await s3.close();
  });

  it('keeps every chain restorable: each remaining backup verifies end to end', async () => {
    // Eight backups, a full one every three: f0 i1 i2 f3 i4 i5 f6 i7.
    let t = 1_700_000_000_000;
    for (let i = 0; i < 8; i++) {
      feedPoints(feeder, syntheticPoints({ seed: 100 + i, series: 3, pointsPerSeries: 40, startMs: 1_700_000_000_000 + i * 7_200_000 }), 40, () => (t += 1000));
      await createBackupAt({ endpoint: server.url, location: `s3://prune/c/b${i}`, base: i % 3 === 0 ? null : `b${i - 1}`, s3: s3.settings() });
    }
    const dest = new S3Destination('s3://prune/c', s3.settings());
    // Keep only the newest two: b6 (full) and b7 (on b6); everything else goes.
    const pruned = await pruneDestination(dest, { keepLast: 2, keepDailyDays: 0 }, { nowMs: Date.now() });
    expect(pruned.deleted).toEqual(['b5', 'b2', 'b4', 'b1', 'b3', 'b0']);
    expect((await listCatalog(dest)).map((e) => e.name)).toEqual(['b6', 'b7']);
    // Now keep the last one only: b7 is an incremental on b6, so b6 stays.
    const again = await pruneDestination(dest, { keepLast: 1, keepDailyDays: 0 }, { nowMs: Date.now() });
    expect(again.deleted).toEqual([]);
    expect(again.decision.keep.get('b6')).toBe('base');
    for (const name of ['b6', 'b7']) {
      const verified = await withDownloadedBackup(`s3://prune/c/${name}`, s3.settings(), (dir) => verifyBackup(dir));
      expect(verified.manifest.backupId).toMatch(/^[0-9a-f]{32}$/);
    }
    expect(s3.keys('prune').every((k) => k.startsWith('c/b6/') || k.startsWith('c/b7/'))).toBe(true);
    await dest.close();
  });

  it('removes incomplete backups left by interrupted uploads, but not the one being written', async () => {
    const dest = new S3Destination('s3://prune/d', s3.settings());
    await dest.write('left-over/data/x.seg', new Uint8Array(4), { sha256: '0'.repeat(64) });
    await dest.write('in-progress/data/y.seg', new Uint8Array(4), { sha256: '0'.repeat(64) });
    const pruned = await pruneDestination(dest, { keepLast: 1, keepDailyDays: 0 }, { nowMs: Date.now(), protect: new Set(['in-progress']) });
    expect(pruned.deletedIncomplete).toEqual(['left-over']);
    expect(await dest.listFolders()).toEqual(['in-progress']);
    await dest.close();
  });
});
