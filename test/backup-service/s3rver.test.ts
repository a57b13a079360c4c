// The S3 destination against a third-party S3-compatible server (s3rver,
// from npm, on loopback), so the calls are not only checked against our own
// test server. s3rver has no ListMultipartUploads: a multipart upload still
// works there, it just cannot be resumed.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Destination } from '../../src/backup/destinations/s3.js';
import { createBackupAt, withDownloadedBackup } from '../../src/backup/destinations/remote.js';
import { listCatalog } from '../../src/backup/destinations/transfer.js';
import { verifyBackup } from '../../src/backup/verify.js';
import { startBackupServer, type TestBackupServer } from '../backup/backup-server.js';
import { Feeder, feedPoints, newStateMachine, syntheticPoints } from '../backup/workload.js';

const scratch = mkdtempSync(join(tmpdir(), 'tsraft-s3rver-'));
let server: S3rver;
let endpoint: string;
let backups: TestBackupServer;

beforeAll(async () => {
  server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: join(scratch, 'store'), configureBuckets: [{ name: 'tsraft-compat', configs: [] }] });
  const info = await server.run();
  endpoint = `http://127.0.0.1:${info.port}`;
  const sm = newStateMachine();
  const feeder = new Feeder(sm);
  let t = 1_700_000_000_000;
  feedPoints(feeder, syntheticPoints({ seed: 9, series: 5, pointsPerSeries: 300 }), 100, () => (t += 1000));
  backups = await startBackupServer(sm, () => feeder.index);
});

afterAll(async () => {
  await backups.close();
  await server.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('S3 destination on s3rver', () => {
  const settings = (): { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string; partSizeBytes: number; multipartThresholdBytes: number } => ({
    endpoint,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    partSizeBytes: 5 * 1024 * 1024,
    multipartThresholdBytes: 5 * 1024 * 1024,
  });

  it('creates, lists and verifies a backup', async () => {
    const created = await createBackupAt({ endpoint: backups.url, location: 's3://tsraft-compat/c1/b1', s3: settings() });
    expect(created.manifest.seriesCount).toBe(5);
    const dest = new S3Destination('s3://tsraft-compat/c1', settings());
    expect((await listCatalog(dest)).map((e) => [e.name, e.manifest?.backupId])).toEqual([['b1', created.manifest.backupId]]);
    await dest.close();
    const verified = await withDownloadedBackup('s3://tsraft-compat/c1/b1', settings(), (dir) => verifyBackup(dir));
    expect(verified.rebuild.stateSha256).toBe(created.manifest.state.sha256);
  });

  it('uploads a large file in parts', async () => {
    const dest = new S3Destination('s3://tsraft-compat/c2', settings());
    const bytes = randomBytes(11 * 1024 * 1024);
    const path = join(scratch, 'big');
    writeFileSync(path, bytes);
    const sha = createHash('sha256').update(bytes).digest('hex');
    await dest.upload('b/data/big.seg', path, { sha256: sha });
    await dest.download('b/data/big.seg', `${path}.back`);
    expect(createHash('sha256').update(readFileSync(`${path}.back`)).digest('hex')).toBe(sha);
    await dest.close();
  });
});
