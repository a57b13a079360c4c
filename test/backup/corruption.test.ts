// Verify must catch every damage to a backup: for random single-byte flips and
// truncations across every file (manifest, index, group, segment, sessions; in
// a full backup, an incremental one with its base, and an encrypted one), a
// missing file, an edited manifest and a wrong key, verify fails and names
// the damaged file.
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_FOLDER, MANIFEST_FILE } from '../../src/backup/constants.js';
import { createBackup } from '../../src/backup/create.js';
import { deriveBackupKey } from '../../src/backup/crypto.js';
import { canonicalJson, sealManifest, type BackupManifest } from '../../src/backup/manifest.js';
import { verifyBackup } from '../../src/backup/verify.js';
import { isTsraftError } from '../../src/errors.js';
import { startBackupServer, type TestBackupServer } from './backup-server.js';
import { TempDirs } from './temp.js';
import { Feeder, feedPoints, newStateMachine, syntheticPoints } from './workload.js';

const temp = new TempDirs();
const key = deriveBackupKey(new Uint8Array(32).fill(7), 'test key');
const otherKey = deriveBackupKey(new Uint8Array(32).fill(8), 'other key');
const SMALL_LAYOUT = { pagesPerBlock: 8, seriesPerGroup: 4, minSegmentBytes: 2048 };

let server: TestBackupServer;
let full: string;
let incremental: string;
let encrypted: string;

/** Every file of a backup directory (relative names), manifest first. */
function filesOf(dir: string): string[] {
  return [MANIFEST_FILE, ...readdirSync(join(dir, DATA_FOLDER)).sort().map((n) => `${DATA_FOLDER}/${n}`)];
}

function expectCorruptNaming(run: () => unknown, path: string): void {
  let caught: unknown = null;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught, `verify passed with ${path} damaged`).not.toBeNull();
  expect(isTsraftError(caught) ? caught.code : caught).toBe('TSR_ERR_BACKUP_CORRUPT');
  expect(isTsraftError(caught) ? caught.details.file : null).toBe(path);
}

/** Damages one file, runs the check, restores the file. */
function withDamage(path: string, damage: (bytes: Buffer) => Buffer | null, check: () => void): void {
  const original = readFileSync(path);
  const damaged = damage(Buffer.from(original));
  if (damaged === null) rmSync(path);
  else writeFileSync(path, damaged);
  try {
    check();
  } finally {
    writeFileSync(path, original);
  }
}

beforeAll(async () => {
  const sm = newStateMachine();
  const feeder = new Feeder(sm);
  let t = 1_700_000_000_000;
  const points = syntheticPoints({ seed: 11, series: 10, pointsPerSeries: 800 });
  feedPoints(feeder, points, 400, () => (t += 1000), true);
  server = await startBackupServer(sm, () => feeder.index);
  full = join(temp.make(), 'full');
  await createBackup({ endpoint: server.url, outDir: full, layout: SMALL_LAYOUT });
  feedPoints(feeder, syntheticPoints({ seed: 12, series: 12, pointsPerSeries: 40, startMs: 1_700_000_000_000 + 800 * 10_000 }), 200, () => (t += 1000));
  incremental = join(temp.make(), 'incremental');
  await createBackup({ endpoint: server.url, outDir: incremental, baseDir: full });
  encrypted = join(temp.make(), 'encrypted');
  await createBackup({ endpoint: server.url, outDir: encrypted, key, layout: SMALL_LAYOUT });
});

afterAll(async () => {
  await server.close();
  temp.removeAll();
});

describe('backup corruption', () => {
  it('verifies the undamaged backups', () => {
    expect(verifyBackup(full).rebuild.pointCount).toBeGreaterThan(7000);
    expect(verifyBackup(incremental).manifest.totals.reusedBytes).toBeGreaterThan(0);
    expect(verifyBackup(encrypted, { key }).rebuild.seriesCount).toBe(12);
    // Several files of every kind, so the flips below reach each of them.
    const roles = new Set(verifyBackup(full).manifest.files.map((f) => f.role));
    expect([...roles].sort()).toEqual(['group', 'index', 'segment', 'sessions']);
    expect(filesOf(full).length).toBeGreaterThan(8);
  });

  const cases = (): Array<{ name: string; dir: () => string; files: () => string[]; verify: () => unknown }> => [
    { name: 'full', dir: () => full, files: () => filesOf(full).map((f) => join(full, f)), verify: () => verifyBackup(full) },
    {
      name: 'incremental (and its base)',
      dir: () => incremental,
      // Its own files, the base's manifest and the base files it reuses (a base file it does not use may rot unnoticed by it).
      files: () => {
        const reused = verifyBackup(incremental).manifest.files.filter((f) => f.location === 'base').map((f) => join(full, f.name));
        return [...filesOf(incremental).map((f) => join(incremental, f)), join(full, MANIFEST_FILE), ...reused];
      },
      verify: () => verifyBackup(incremental),
    },
    { name: 'encrypted', dir: () => encrypted, files: () => filesOf(encrypted).map((f) => join(encrypted, f)), verify: () => verifyBackup(encrypted, { key }) },
  ];

  for (const c of cases()) {
    it(`fails on any single-byte flip in any file of the ${c.name} backup, naming the file`, () => {
      const files = c.files();
      fc.assert(
        fc.property(fc.nat(files.length - 1), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), fc.integer({ min: 1, max: 255 }), (which, where, mask) => {
          const path = files[which]!;
          withDamage(
            path,
            (bytes) => {
              bytes[Math.floor(where * bytes.length)]! ^= mask;
              return bytes;
            },
            () => expectCorruptNaming(c.verify, path),
          );
        }),
        { numRuns: 150, seed: 4242 },
      );
    });

    it(`fails on any truncation of any file of the ${c.name} backup, naming the file`, () => {
      const files = c.files();
      fc.assert(
        fc.property(fc.nat(files.length - 1), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), (which, where) => {
          const path = files[which]!;
          withDamage(path, (bytes) => bytes.subarray(0, Math.floor(where * bytes.length)), () => expectCorruptNaming(c.verify, path));
        }),
        { numRuns: 60, seed: 4343 },
      );
    });
  }

  it('fails when any data file is missing, naming it', () => {
    for (const f of filesOf(full).slice(1)) {
      const path = join(full, f);
      withDamage(path, () => null, () => expectCorruptNaming(() => verifyBackup(full), path));
    }
  });

  it('fails when the manifest is missing (an incomplete backup)', () => {
    const path = join(full, MANIFEST_FILE);
    withDamage(path, () => null, () => expectCorruptNaming(() => verifyBackup(full), path));
  });

  it('fails when a manifest field is edited, even in canonical form', () => {
    const path = join(full, MANIFEST_FILE);
    const manifest = JSON.parse(readFileSync(path, 'utf8')) as BackupManifest;
    withDamage(path, () => Buffer.from(canonicalJson({ ...manifest, pointCount: manifest.pointCount + 1 })), () => expectCorruptNaming(() => verifyBackup(full), path));
  });

  it('fails when a manifest is edited and its hash recomputed (the data disagrees)', () => {
    const path = join(full, MANIFEST_FILE);
    const { manifestSha256: _hash, totals: _totals, ...body } = JSON.parse(readFileSync(path, 'utf8')) as BackupManifest;
    const forged = sealManifest({ ...body, pointCount: body.pointCount - 5 });
    withDamage(path, () => Buffer.from(canonicalJson(forged)), () => expectCorruptNaming(() => verifyBackup(full), path));
  });

  it('fails on a base backup replaced by another one', () => {
    const path = join(full, MANIFEST_FILE);
    const { manifestSha256: _hash, totals: _totals, ...body } = JSON.parse(readFileSync(path, 'utf8')) as BackupManifest;
    const other = sealManifest({ ...body, createdAt: '2000-01-01T00:00:00.000Z' });
    withDamage(path, () => Buffer.from(canonicalJson(other)), () => expectCorruptNaming(() => verifyBackup(incremental), path));
  });

  it('refuses an encrypted backup without its key or with another key', () => {
    expect(() => verifyBackup(encrypted)).toThrow(expect.objectContaining({ code: 'TSR_ERR_BACKUP_KEY' }));
    expect(() => verifyBackup(encrypted, { key: otherKey })).toThrow(expect.objectContaining({ code: 'TSR_ERR_BACKUP_KEY' }));
  });

  it('warns about, but accepts, a stray file in the data folder', () => {
    const stray = join(full, DATA_FOLDER, 'notes.txt');
    writeFileSync(stray, 'hello');
    try {
      expect(verifyBackup(full).warnings).toEqual([`${stray} is not part of this backup (ignored)`]);
    } finally {
      rmSync(stray);
    }
  });
});
