// Every backup command on a backup kept in S3 (the test server on loopback):
// create (full and incremental), verify, inspect, list DEST with its chain,
// restore, and a corrupted object caught by verify.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CORRUPT_BACKUP, runBackupCommand } from '../../src/cli/commands/backup.js';
import { startBackupServer, type TestBackupServer } from '../backup/backup-server.js';
import { TempDirs } from '../backup/temp.js';
import { Feeder, feedPoints, newStateMachine, syntheticPoints } from '../backup/workload.js';
import { TestS3Server } from './s3-server.js';

const temp = new TempDirs();
let s3: TestS3Server;
let server: TestBackupServer;
let feeder: Feeder;
const saved: Record<string, string | undefined> = {};
const ENV = ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;

async function run(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await runBackupCommand(argv, { print: (line) => lines.push(line) });
  return { code, out: lines.join('\n') };
}

beforeAll(async () => {
  s3 = await new TestS3Server().start();
  s3.createBucket('tsraft-backups');
  // The commands take S3 settings from the standard AWS environment.
  for (const k of ENV) saved[k] = process.env[k];
  process.env.AWS_ENDPOINT_URL = s3.endpoint;
  process.env.AWS_REGION = 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
  const sm = newStateMachine();
  feeder = new Feeder(sm);
  let t = 1_700_000_000_000;
  feedPoints(feeder, syntheticPoints({ seed: 5, series: 8, pointsPerSeries: 400 }), 200, () => (t += 1000));
  server = await startBackupServer(sm, () => feeder.index);
});

afterAll(async () => {
  await server.close();
  await s3.close();
  for (const k of ENV) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  temp.removeAll();
});

describe('tsraft backup with an S3 destination', () => {
  const dest = 's3://tsraft-backups/cluster-a';

  it('creates a full backup and an incremental one on it, and lists the chain', async () => {
    const first = await run('create', '--endpoint', server.url, '--out', `${dest}/b1`);
    expect(first.code, first.out).toBe(0);
    expect(first.out).toContain('verified:');
    let t = 1_800_000_000_000;
    feedPoints(feeder, syntheticPoints({ seed: 6, series: 2, pointsPerSeries: 50 }), 50, () => (t += 1000));
    const second = await run('create', '--endpoint', server.url, '--out', `${dest}/b2`, '--base', 'b1');
    expect(second.code, second.out).toBe(0);
    expect(second.out).toContain('reused from ../b1');
    expect(s3.keys('tsraft-backups').filter((k) => k.endsWith('manifest.json'))).toEqual(['cluster-a/b1/manifest.json', 'cluster-a/b2/manifest.json']);
    const listed = await run('list', dest);
    expect(listed.code, listed.out).toBe(0);
    expect(listed.out).toMatch(/b1\s+\d+\s+\S+\s+full\s+full/);
    expect(listed.out).toMatch(/b2\s+\d+\s+\S+\s+incremental\s+on b1/);
    const json = JSON.parse((await run('list', dest, '--json')).out) as { backups: Array<{ name: string; chainRoot: string; chainDepth: number; status: string }> };
    expect(json.backups.map((b) => [b.name, b.chainRoot, b.chainDepth, b.status])).toEqual([['b1', 'b1', 0, 'complete'], ['b2', 'b1', 1, 'complete']]);
  });

  it('verifies and inspects a backup in S3, reading the files it reuses from its base', async () => {
    const verified = await run('verify', `${dest}/b2`);
    expect(verified.code, verified.out).toBe(0);
    expect(verified.out).toMatch(/^OK s3:\/\/tsraft-backups\/cluster-a\/b2: backup [0-9a-f]{32}/);
    const inspected = await run('inspect', `${dest}/b2`);
    expect(inspected.out).toMatch(/base\s+\.\.\/b1/);
  });

  it('restores a node from a backup in S3', async () => {
    const root = temp.make();
    const config = join(root, 'n1.json');
    writeFileSync(config, JSON.stringify({ nodeId: 'n1', clusterId: 'restored', dataDir: 'data', secret: 'x'.repeat(32), peers: { n1: 'ws://127.0.0.1:1' } }));
    const restored = await run('restore', `${dest}/b2`, '--config', config);
    expect(restored.code, restored.out).toBe(0);
    expect(restored.out).toMatch(/restored node n1 of cluster restored/);
    expect(JSON.parse(readFileSync(join(root, 'data', 'restored-from.json'), 'utf8')).sourceClusterId).toBe('source-cluster');
  });

  it('exits 10 naming the object when a stored byte is flipped in S3', async () => {
    // A file b2 reuses from b1: verifying b2 reads it from b1's folder.
    const b2 = JSON.parse(s3.object('tsraft-backups', 'cluster-a/b2/manifest.json').toString('utf8')) as { files: Array<{ name: string; role: string; location: string }> };
    const seg = `cluster-a/b1/${b2.files.find((f) => f.location === 'base')!.name}`;
    s3.corrupt('tsraft-backups', seg);
    const verified = await run('verify', `${dest}/b2`);
    expect(verified.code).toBe(EXIT_CORRUPT_BACKUP);
    expect(verified.out).toMatch(/SHA-256 mismatch/);
    expect(verified.out).toContain(seg.slice('cluster-a/'.length));
    s3.corrupt('tsraft-backups', seg);
    expect((await run('verify', `${dest}/b2`)).code).toBe(0);
  });

  it('refuses to overwrite a backup of the same name with another one', async () => {
    let t = 1_900_000_000_000;
    feedPoints(feeder, syntheticPoints({ seed: 7, series: 1, pointsPerSeries: 10 }), 10, () => (t += 1000));
    await expect(run('create', '--endpoint', server.url, '--out', `${dest}/b1`)).rejects.toMatchObject({ code: 'TSR_ERR_TARGET_NOT_EMPTY' });
  });
});
