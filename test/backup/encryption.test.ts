// Encrypted backups: AES-256-GCM per file, names that do not reveal content,
// the right key restores, a wrong or missing key fails as a key error, and an
// incremental backup only builds on a base encrypted with the same key.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_FOLDER, sha256Hex } from '../../src/backup/constants.js';
import { createBackup, type CreateBackupResult } from '../../src/backup/create.js';
import { decryptFile, deriveBackupKey, encryptFile, generateKeyHex, loadKeyFile } from '../../src/backup/crypto.js';
import { restoredState } from '../../src/backup/restore.js';
import { verifyBackup } from '../../src/backup/verify.js';
import { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';
import { startBackupServer, type TestBackupServer } from './backup-server.js';
import { TempDirs } from './temp.js';
import { Feeder, feedPoints, newStateMachine, syntheticPoints } from './workload.js';

const temp = new TempDirs();

describe('encrypted backups', () => {
  let server: TestBackupServer;
  let feeder: Feeder;
  let sm: TimeSeriesStateMachine;
  let keyDir: string;
  let plain: CreateBackupResult;
  let encrypted: CreateBackupResult;
  let clock = 1_700_000_000_000;

  beforeAll(async () => {
    sm = newStateMachine();
    feeder = new Feeder(sm);
    feedPoints(feeder, syntheticPoints({ seed: 5, series: 8, pointsPerSeries: 600 }), 300, () => (clock += 1000), true);
    server = await startBackupServer(sm, () => feeder.index);
    keyDir = temp.make();
    writeFileSync(join(keyDir, 'key.hex'), generateKeyHex() + '\n');
    writeFileSync(join(keyDir, 'other.hex'), generateKeyHex());
    plain = await createBackup({ endpoint: server.url, outDir: join(temp.make(), 'plain') });
    encrypted = await createBackup({ endpoint: server.url, outDir: join(temp.make(), 'enc'), key: loadKeyFile(join(keyDir, 'key.hex')) });
  });

  afterAll(async () => {
    await server.close();
    temp.removeAll();
  });

  it('stores only ciphertext, under names unrelated to the content', () => {
    expect(encrypted.manifest.encryption).toMatchObject({ algorithm: 'AES-256-GCM', kdf: 'HKDF-SHA256' });
    const plainNames = new Set(readdirSync(join(plain.dir, DATA_FOLDER)));
    const encryptedNames = readdirSync(join(encrypted.dir, DATA_FOLDER));
    expect(encryptedNames.length).toBe(plainNames.size);
    for (const name of encryptedNames) {
      expect(plainNames.has(name)).toBe(false);
      const bytes = readFileSync(join(encrypted.dir, DATA_FOLDER, name));
      expect(bytes.subarray(0, 4).toString('latin1')).toBe('TSBE');
      // No plaintext magic of a data file survives.
      expect(bytes.includes(Buffer.from('TSBS'))).toBe(false);
    }
  });

  it('verifies and restores with the right key to the same state as the unencrypted backup', () => {
    const key = loadKeyFile(join(keyDir, 'key.hex'));
    expect(verifyBackup(encrypted.dir, { key }).rebuild.stateSha256).toBe(plain.manifest.state.sha256);
    const state = restoredState(encrypted.dir, { key });
    expect(TimeSeriesStateMachine.restore(state.tssm).stateHash()).toBe(sm.stateHash());
  });

  it('fails with a key error for a wrong key or no key', () => {
    expect(() => verifyBackup(encrypted.dir, { key: loadKeyFile(join(keyDir, 'other.hex')) })).toThrow(expect.objectContaining({ code: 'TSR_ERR_BACKUP_KEY' }));
    expect(() => restoredState(encrypted.dir)).toThrow(expect.objectContaining({ code: 'TSR_ERR_BACKUP_KEY' }));
  });

  it('builds an incremental backup on an encrypted base with the same key only', async () => {
    const key = loadKeyFile(join(keyDir, 'key.hex'));
    feedPoints(feeder, syntheticPoints({ seed: 6, series: 8, pointsPerSeries: 20, startMs: 1_700_000_000_000 + 600 * 10_000 }), 100, () => (clock += 1000));
    const next = await createBackup({ endpoint: server.url, outDir: join(temp.make(), 'enc2'), baseDir: encrypted.dir, key });
    expect(next.manifest.totals.reusedBytes).toBeGreaterThan(0);
    expect(TimeSeriesStateMachine.restore(restoredState(next.dir, { key }).tssm).stateHash()).toBe(sm.stateHash());
    await expect(createBackup({ endpoint: server.url, outDir: join(temp.make(), 'x'), baseDir: encrypted.dir, key: loadKeyFile(join(keyDir, 'other.hex')) })).rejects.toMatchObject({ code: 'TSR_ERR_BACKUP_KEY' });
    await expect(createBackup({ endpoint: server.url, outDir: join(temp.make(), 'y'), baseDir: plain.dir, key })).rejects.toMatchObject({ code: 'TSR_ERR_BACKUP_KEY' });
    await expect(createBackup({ endpoint: server.url, outDir: join(temp.make(), 'z'), baseDir: encrypted.dir })).rejects.toMatchObject({ code: 'TSR_ERR_BACKUP_KEY' });
  });

  it('reads key files of 32 raw bytes or 64 hex digits and refuses anything else', () => {
    const raw = new Uint8Array(32).fill(3);
    writeFileSync(join(keyDir, 'raw.bin'), raw);
    writeFileSync(join(keyDir, 'same.hex'), Buffer.from(raw).toString('hex'));
    writeFileSync(join(keyDir, 'short.hex'), 'abcd');
    expect(loadKeyFile(join(keyDir, 'raw.bin')).keyCheck).toBe(loadKeyFile(join(keyDir, 'same.hex')).keyCheck);
    expect(() => loadKeyFile(join(keyDir, 'short.hex'))).toThrow(expect.objectContaining({ code: 'TSR_ERR_BACKUP_KEY' }));
    expect(() => loadKeyFile(join(keyDir, 'missing.hex'))).toThrow(expect.objectContaining({ code: 'TSR_ERR_BACKUP_KEY' }));
  });

  it('authenticates the file name, so encrypted files cannot be swapped', () => {
    const key = deriveBackupKey(new Uint8Array(32).fill(9), 'k');
    const sealed = encryptFile(key, 'data/a.seg', new TextEncoder().encode('points'));
    expect(new TextDecoder().decode(decryptFile(key, 'data/a.seg', sealed, 'a'))).toBe('points');
    expect(() => decryptFile(key, 'data/b.seg', sealed, 'b')).toThrow(expect.objectContaining({ code: 'TSR_ERR_BACKUP_CORRUPT', details: { file: 'b' } }));
    expect(sha256Hex(sealed)).not.toBe(sha256Hex(encryptFile(key, 'data/a.seg', new TextEncoder().encode('points'))));
  });
});
