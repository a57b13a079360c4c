// The `backup` section of a node configuration: defaults, absolute paths,
// and errors that name the field.
import { describe, expect, it } from 'vitest';
import { parseNodeConfig } from '../../src/config/load.js';

const base = { nodeId: 'n1', clusterId: 'c', dataDir: 'data', secret: 'x'.repeat(32), peers: { n1: 'ws://127.0.0.1:8180' } };

function problemsOf(backup: unknown): string[] {
  try {
    parseNodeConfig({ ...base, backup }, { baseDir: '/etc/tsraft', configPath: null });
    return [];
  } catch (error) {
    return ((error as { details: { problems: Array<{ field: string; problem: string }> } }).details.problems ?? []).map((p) => `${p.field}: ${p.problem}`);
  }
}

describe('config.backup', () => {
  it('defaults to no schedule, digests every 5 minutes and scrubbing on', () => {
    const config = parseNodeConfig(base, { baseDir: '/etc/tsraft', configPath: null });
    expect(config.backup.schedule).toBeNull();
    expect(config.backup.digest.intervalMs).toBe(300_000);
    expect(config.backup.scrub).toEqual({ enabled: true, maxBytesPerSecond: 4 * 1024 * 1024, passIntervalMs: 3_600_000 });
    expect(config.backup.drill.intervalMs).toBe(0);
  });

  it('reads a schedule with an S3 destination, and makes a local destination and key files absolute', () => {
    const s3 = parseNodeConfig({ ...base, backup: { schedule: { destination: 's3://acme-backups/tsraft/prod/', intervalMs: 60_000, fullEvery: 6, retention: { keepLast: 10, keepDailyDays: 30 } }, s3: { region: 'eu-west-1' } } }, { baseDir: '/etc/tsraft', configPath: null });
    expect(s3.backup.schedule).toEqual({ destination: 's3://acme-backups/tsraft/prod', intervalMs: 60_000, fullEvery: 6, retention: { keepLast: 10, keepDailyDays: 30 }, claimTimeoutMs: 3_600_000, retryDelayMs: 300_000 });
    expect(s3.backup.s3.region).toBe('eu-west-1');
    const local = parseNodeConfig({ ...base, backup: { schedule: { destination: 'backups' }, encryptKeyFile: 'backup.key', s3: { accessKeyId: 'AK', secretAccessKeyFile: 's3.secret' } } }, { baseDir: '/etc/tsraft', configPath: null });
    expect(local.backup.schedule?.destination).toBe('/etc/tsraft/backups');
    expect(local.backup.encryptKeyFile).toBe('/etc/tsraft/backup.key');
    expect(local.backup.s3.secretAccessKeyFile).toBe('/etc/tsraft/s3.secret');
  });

  it('names each bad field', () => {
    expect(problemsOf({ schedule: { destination: 's3://Bad_Bucket/x' } })).toEqual([expect.stringMatching(/^config\.backup\.schedule\.destination: must be s3:\/\/bucket\/prefix/)]);
    expect(problemsOf({ schedule: { destination: 'ftp://host/x' } })).toEqual([expect.stringMatching(/^config\.backup\.schedule\.destination: must be a directory or an s3/)]);
    expect(problemsOf({ schedule: {} })).toEqual(['config.backup.schedule.destination: is required']);
    expect(problemsOf({ schedule: { destination: 'b', fullEvery: 40 } })).toEqual([expect.stringMatching(/^config\.backup\.schedule\.fullEvery: must lie in \[1, 32\]/)]);
    expect(problemsOf({ schedule: { destination: 'b', retention: { keepLast: 0 } } })).toEqual([expect.stringMatching(/^config\.backup\.schedule\.retention\.keepLast: must lie in \[1,/)]);
    expect(problemsOf({ s3: { accessKeyId: 'AK' } })).toEqual([expect.stringMatching(/^config\.backup\.s3\.secretAccessKey: give accessKeyId and a secret key together/)]);
    expect(problemsOf({ s3: { endpoint: 'localhost:9000' } })).toEqual([expect.stringMatching(/^config\.backup\.s3\.endpoint: not an http/)]);
    expect(problemsOf({ scrub: { maxBytesPerSecond: 10 } })).toEqual([expect.stringMatching(/^config\.backup\.scrub\.maxBytesPerSecond: must lie in/)]);
    expect(problemsOf({ drill: { intervalMs: 86_400_000 } })).toEqual(['config.backup.drill: scheduled drills restore the latest scheduled backup: configure backup.schedule too']);
    expect(problemsOf({ schedule: { destination: 'b', every: 5 } })).toEqual([expect.stringMatching(/^config\.backup\.schedule\.every: unknown field/)]);
    expect(problemsOf({ verify: {} })).toEqual([expect.stringMatching(/^config\.backup\.verify: unknown field/)]);
  });
});
