// One suite for every backup destination (a local directory and S3 through
// the test server), then what only S3 does: multipart uploads that resume
// after an interruption and are cleaned up when abandoned, credentials.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDestination } from '../../src/backup/destinations/local.js';
import { openDestination, splitBackupLocation } from '../../src/backup/destinations/open.js';
import { S3Destination } from '../../src/backup/destinations/s3.js';
import type { Destination } from '../../src/backup/destinations/types.js';
import { TestS3Server } from './s3-server.js';

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

const scratch = mkdtempSync(join(tmpdir(), 'tsraft-dest-'));
let s3: TestS3Server;

beforeAll(async () => {
  s3 = await new TestS3Server().start();
  s3.createBucket('backups');
});

afterAll(async () => {
  await s3.close();
  rmSync(scratch, { recursive: true, force: true });
});

const kinds: Array<[string, () => Destination]> = [
  ['a local directory', () => new LocalDestination(mkdtempSync(join(scratch, 'local-')))],
  ['S3', () => new S3Destination(`s3://backups/p${randomBytes(3).toString('hex')}/x`, s3.settings())],
];

describe.each(kinds)('a destination in %s', (_label, make) => {
  it('stores, reads, lists and deletes objects under backup folders', async () => {
    const dest = make();
    const a = new TextEncoder().encode('alpha');
    await dest.write('b1/manifest.json', a, { sha256: sha(a) });
    await dest.write('b1/data/x.seg', new Uint8Array(10), { sha256: sha(new Uint8Array(10)) });
    await dest.write('b2/data/y.seg', new Uint8Array(3), { sha256: sha(new Uint8Array(3)) });
    expect(await dest.listFolders()).toEqual(['b1', 'b2']);
    expect((await dest.list('b1/')).map((o) => [o.key, o.bytes])).toEqual([['b1/data/x.seg', 10], ['b1/manifest.json', 5]]);
    expect(new TextDecoder().decode((await dest.read('b1/manifest.json', 100))!)).toBe('alpha');
    expect(await dest.read('b1/nothing', 100)).toBeNull();
    expect((await dest.stat('b1/data/x.seg'))?.bytes).toBe(10);
    expect(await dest.stat('b3/data/x.seg')).toBeNull();
    await dest.delete(['b1/manifest.json', 'b1/data/x.seg']);
    expect(await dest.listFolders()).toEqual(['b2']);
    await dest.close();
  });

  it('uploads and downloads a file whole', async () => {
    const dest = make();
    const bytes = randomBytes(6 * 1024 * 1024 + 17);
    const path = join(scratch, `up-${randomBytes(3).toString('hex')}`);
    writeFileSync(path, bytes);
    await dest.upload('b/data/big.seg', path, { sha256: sha(bytes) });
    const back = join(scratch, `down-${randomBytes(3).toString('hex')}`);
    let metered = 0;
    expect(await dest.download('b/data/big.seg', back, async (n) => void (metered += n))).toBe(bytes.length);
    expect(metered).toBe(bytes.length);
    expect(sha(readFileSync(back))).toBe(sha(bytes));
    await dest.close();
  });

  it('refuses to read an object larger than the bound', async () => {
    const dest = make();
    await dest.write('b/manifest.json', new Uint8Array(100), { sha256: sha(new Uint8Array(100)) });
    await expect(dest.read('b/manifest.json', 10)).rejects.toMatchObject({ code: 'TSR_ERR_BACKUP_CORRUPT' });
    await dest.close();
  });
});

describe('S3 multipart uploads', () => {
  const settings = (): ReturnType<TestS3Server['settings']> & { partSizeBytes: number; multipartThresholdBytes: number; maxAttempts: number } => ({
    ...s3.settings(),
    partSizeBytes: 5 * 1024 * 1024,
    multipartThresholdBytes: 5 * 1024 * 1024,
    maxAttempts: 1,
  });

  it('sends a large file in parts and records its SHA-256', async () => {
    const dest = new S3Destination('s3://backups/mp1', settings());
    const bytes = randomBytes(12 * 1024 * 1024);
    const path = join(scratch, 'mp1');
    writeFileSync(path, bytes);
    const before = s3.count('UploadPart');
    await dest.upload('b/data/f.seg', path, { sha256: sha(bytes) });
    expect(s3.count('UploadPart') - before).toBe(3);
    expect(await dest.stat('b/data/f.seg')).toEqual({ bytes: bytes.length, sha256: sha(bytes) });
    await dest.close();
  });

  it('never shows an interrupted upload as an object, and resumes it without resending the parts it holds', async () => {
    const dest = new S3Destination('s3://backups/mp2', settings());
    const bytes = randomBytes(16 * 1024 * 1024);
    const path = join(scratch, 'mp2');
    writeFileSync(path, bytes);
    // The connection drops while the third part goes up.
    s3.failNext({ operation: 'UploadPart', keyIncludes: 'mp2/', after: 2, mode: 'drop' });
    await expect(dest.upload('b/data/f.seg', path, { sha256: sha(bytes) })).rejects.toMatchObject({ code: 'TSR_ERR_DESTINATION' });
    expect(await dest.stat('b/data/f.seg')).toBeNull();
    expect(s3.pendingUploads().filter((u) => u.key.startsWith('mp2/'))).toEqual([{ key: 'mp2/b/data/f.seg', parts: 2 }]);
    const partsBefore = s3.count('UploadPart');
    await dest.upload('b/data/f.seg', path, { sha256: sha(bytes) });
    // Parts 1 and 2 were already there: only 3 and 4 went up again.
    expect(s3.count('UploadPart') - partsBefore).toBe(2);
    expect((await dest.stat('b/data/f.seg'))?.sha256).toBe(sha(bytes));
    expect(s3.pendingUploads().filter((u) => u.key.startsWith('mp2/'))).toEqual([]);
    await dest.close();
  });

  it('aborts an unfinished upload whose parts belong to other bytes, and starts over', async () => {
    const dest = new S3Destination('s3://backups/mp3', settings());
    const first = randomBytes(11 * 1024 * 1024);
    const path = join(scratch, 'mp3');
    writeFileSync(path, first);
    s3.failNext({ operation: 'UploadPart', keyIncludes: 'mp3/', after: 1 });
    await expect(dest.upload('b/data/f.seg', path, { sha256: sha(first) })).rejects.toMatchObject({ code: 'TSR_ERR_DESTINATION' });
    const second = randomBytes(11 * 1024 * 1024);
    writeFileSync(path, second);
    await dest.upload('b/data/f.seg', path, { sha256: sha(second) });
    const back = join(scratch, 'mp3-back');
    await dest.download('b/data/f.seg', back);
    expect(sha(readFileSync(back))).toBe(sha(second));
    expect(s3.pendingUploads().filter((u) => u.key.startsWith('mp3/'))).toEqual([]);
    await dest.close();
  });

  it('cleans up uploads abandoned before a cut-off time', async () => {
    const dest = new S3Destination('s3://backups/mp4', settings());
    const path = join(scratch, 'mp4');
    writeFileSync(path, randomBytes(11 * 1024 * 1024));
    s3.failNext({ operation: 'UploadPart', keyIncludes: 'mp4/', after: 1 });
    await expect(dest.upload('b/data/f.seg', path, { sha256: 'ab'.repeat(32) })).rejects.toThrow();
    expect(await dest.abortIncompleteUploads('', Date.now() - 60_000)).toBe(0);
    expect(await dest.abortIncompleteUploads('', Date.now() + 1_000)).toBe(1);
    expect(s3.pendingUploads().filter((u) => u.key.startsWith('mp4/'))).toEqual([]);
    await dest.close();
  });
});

describe('S3 credentials and locations', () => {
  it('fails with TSR_ERR_DESTINATION naming the problem when the secret key is wrong', async () => {
    const dest = new S3Destination('s3://backups/creds', { ...s3.settings(), secretAccessKey: 'wrong', maxAttempts: 1 });
    await expect(dest.listFolders()).rejects.toMatchObject({ code: 'TSR_ERR_DESTINATION', details: { reason: expect.stringMatching(/SignatureDoesNotMatch/) } });
    await dest.close();
  });

  it('takes the endpoint, region and credentials from the standard AWS environment variables', async () => {
    const saved = { ...process.env };
    process.env.AWS_ENDPOINT_URL = s3.endpoint;
    process.env.AWS_REGION = 'us-east-1';
    process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
    try {
      const dest = openDestination('s3://backups/env');
      await dest.write('b/manifest.json', new Uint8Array(1), { sha256: sha(new Uint8Array(1)) });
      expect(await dest.listFolders()).toEqual(['b']);
      await dest.close();
    } finally {
      for (const k of ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });

  it('splits a backup location into its destination and name', () => {
    expect(splitBackupLocation('s3://bkt/a/b/2024-05-01')).toEqual({ root: 's3://bkt/a/b', name: '2024-05-01' });
    expect(splitBackupLocation('s3://bkt/only')).toEqual({ root: 's3://bkt', name: 'only' });
    expect(splitBackupLocation('/backups/x1')).toEqual({ root: '/backups', name: 'x1' });
    expect(() => splitBackupLocation('s3://bkt')).toThrow(/name a backup/);
    expect(() => openDestination('ftp://host/x')).toThrow(/s3:\/\//);
  });
});
