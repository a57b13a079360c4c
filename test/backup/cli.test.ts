// `tsraft backup ...` as the command line runs it (in-process): messages and
// exit codes of create, verify, restore, list, inspect and keygen.
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CORRUPT_BACKUP, runBackupCommand } from '../../src/cli/commands/backup.js';
import { startBackupServer, type TestBackupServer } from './backup-server.js';
import { TempDirs } from './temp.js';
import { LogArchiver } from '../../src/backup/log-archive.js';
import { Feeder, feedPoints, newStateMachine, syntheticPoints, writeEntry } from './workload.js';

const temp = new TempDirs();

async function run(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await runBackupCommand(argv, { print: (line) => lines.push(line) });
  return { code, out: lines.join('\n') };
}

describe('tsraft backup (command line)', () => {
  let server: TestBackupServer;
  let root: string;
  let full: string;
  let next: string;

  beforeAll(async () => {
    const sm = newStateMachine();
    const feeder = new Feeder(sm);
    let t = 1_700_000_000_000;
    feedPoints(feeder, syntheticPoints({ seed: 31, series: 6, pointsPerSeries: 500 }), 200, () => (t += 1000));
    server = await startBackupServer(sm, () => feeder.index);
    root = temp.make();
    full = join(root, 'b1');
    next = join(root, 'b2');
  });

  afterAll(async () => {
    await server.close();
    temp.removeAll();
  });

  it('creates and verifies a backup, then an incremental one on top of it', async () => {
    const first = await run('create', '--endpoint', 'http://127.0.0.1:1', '--endpoint', server.url, '--out', full);
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/^backup [0-9a-f]{32} of cluster source-cluster at index \d+/);
    expect(first.out).toContain('verified:');
    const second = await run('create', '--endpoint', server.url, '--out', next, '--base', full);
    expect(second.code).toBe(0);
    expect(second.out).toContain('reused from ../b1');
  });

  it('verifies, and exits 10 naming the file when a byte is flipped', async () => {
    expect((await run('verify', full)).out).toMatch(/^OK .*b1: backup [0-9a-f]{32} at index \d+, 6 series, \d+ points/);
    const seg = readdirSync(join(full, 'data')).find((n) => n.endsWith('.seg'))!;
    const path = join(full, 'data', seg);
    const original = readFileSync(path);
    const damaged = Buffer.from(original);
    damaged[10]! ^= 1;
    writeFileSync(path, damaged);
    try {
      const result = await run('verify', full);
      expect(result.code).toBe(EXIT_CORRUPT_BACKUP);
      expect(result.out).toContain(`FAILED ${full}: ${path}: SHA-256 mismatch`);
      // The incremental backup reads that file from its base: it fails too.
      expect((await run('verify', next)).code).toBe(EXIT_CORRUPT_BACKUP);
    } finally {
      writeFileSync(path, original);
    }
    const json = JSON.parse((await run('verify', next, '--json')).out) as { ok: boolean; seriesCount: number };
    expect(json).toMatchObject({ ok: true, seriesCount: 6 });
  });

  it('lists and inspects backups', async () => {
    const list = await run('list', next, full);
    expect(list.code).toBe(0);
    const rows = list.out.split('\n');
    expect(rows[0]).toMatch(/^DIR\s+INDEX\s+TIME\s+SERIES\s+POINTS\s+SIZE\s+STORED\s+BASE\s+ENC$/);
    expect(rows).toHaveLength(3);
    expect(rows[2]).toContain('../b1');
    const inspect = await run('inspect', next);
    expect(inspect.out).toMatch(/base {8}\.\.\/b1 \(backup [0-9a-f]{32}\)/);
    expect(inspect.out).toMatch(/contents {4}6 series, \d+ points/);
    const missing = await run('list', join(root, 'nope'));
    expect(missing.code).toBe(EXIT_CORRUPT_BACKUP);
  });

  it('restores a node from a configuration file', async () => {
    const dir = temp.make();
    const configPath = join(dir, 'n1.json');
    writeFileSync(
      configPath,
      JSON.stringify({ nodeId: 'n1', clusterId: 'restored', dataDir: './data-n1', secret: 'a-cluster-secret-of-enough-bytes', peers: { n1: 'ws://127.0.0.1:9201' } }),
    );
    const result = await run('restore', next, '--config', configPath);
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^restored node n1 of cluster restored into .*data-n1/);
    expect(existsSync(join(dir, 'data-n1', 'snapshots', 'snapshot.tsrs'))).toBe(true);
    await expect(run('restore', next, '--config', configPath)).rejects.toMatchObject({ code: 'TSR_ERR_TARGET_NOT_EMPTY' });
    expect((await run('restore', next, '--config', configPath, '--force')).code).toBe(0);
  });

  it('restores to a point in time with --until and --archive', async () => {
    // A log of 30 write entries, archived; the base backup holds the first 10.
    const entries = Array.from({ length: 30 }, (_, i) => ({ index: i + 1, term: 1, kind: 'normal' as const, data: writeEntry([{ metric: 'pitr.m', timestamp: 1_700_000_000_000 + i * 1000, value: i, tags: { h: 'a' } }], 1_700_000_000_000 + i * 1000) }));
    const archiveDir = join(temp.make(), 'archive');
    const archiver = await LogArchiver.open({ dir: archiveDir, clusterId: 'source-cluster' });
    for (const e of entries) archiver.append(e);
    await archiver.close();
    const base = newStateMachine();
    for (const e of entries.slice(0, 10)) base.apply(e.index, e.data);
    const baseServer = await startBackupServer(base, () => 10);
    const baseDir = join(temp.make(), 'pitr-base');
    try {
      expect((await run('create', '--endpoint', baseServer.url, '--out', baseDir)).code).toBe(0);
    } finally {
      await baseServer.close();
    }
    const dir = temp.make();
    const configPath = join(dir, 'n1.json');
    writeFileSync(configPath, JSON.stringify({ nodeId: 'n1', clusterId: 'pitr', dataDir: './data', secret: 'a-cluster-secret-of-enough-bytes', peers: { n1: 'ws://127.0.0.1:9202' } }));
    const result = await run('restore', baseDir, '--config', configPath, '--until', '2023-11-14T22:13:39.500Z', '--archive', archiveDir);
    expect(result.code).toBe(0);
    // Entries 11–20 are stamped at or before :39.5 (entry i at :20 + i - 1).
    expect(result.out).toContain('now at index 20');
    expect(result.out).toContain('replayed 10 archived entries');
  });

  it('writes a new key file once, readable only by its owner', async () => {
    const path = join(temp.make(), 'backup.key');
    expect((await run('keygen', '--out', path)).code).toBe(0);
    expect(readFileSync(path, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await expect(run('keygen', '--out', path)).rejects.toMatchObject({ code: 'TSR_ERR_TARGET_NOT_EMPTY' });
  });

  it('sends the client token the node requires', async () => {
    const sm = newStateMachine();
    const feeder = new Feeder(sm);
    feedPoints(feeder, syntheticPoints({ seed: 32, series: 2, pointsPerSeries: 50 }), 50, () => 1_700_000_000_000);
    const guarded = await startBackupServer(sm, () => feeder.index, { tokens: [{ name: 'ops', token: 'a-read-only-token-0123', access: 'read-only' }] });
    try {
      await expect(run('create', '--endpoint', guarded.url, '--out', join(root, 'no-token'))).rejects.toMatchObject({ code: 'TSR_ERR_UNAUTHORIZED' });
      expect(existsSync(join(root, 'no-token'))).toBe(false);
      expect((await run('create', '--endpoint', guarded.url, '--out', join(root, 'token'), '--token', 'a-read-only-token-0123')).code).toBe(0);
    } finally {
      await guarded.close();
    }
  });

  it('reports a bad command line as a usage error', async () => {
    await expect(run('create', '--out', join(root, 'x'))).rejects.toMatchObject({ code: 'TSR_ERR_INVALID_ARGUMENT', details: { usage: true } });
    await expect(run('verify')).rejects.toMatchObject({ details: { usage: true } });
    await expect(run('restore', full, '--config', 'x.json', '--until', '5')).rejects.toMatchObject({ details: { usage: true } });
    await expect(run('frobnicate')).rejects.toMatchObject({ details: { usage: true } });
    await expect(run('verify', full, '--bogus')).rejects.toMatchObject({ details: { usage: true } });
  });
});
