// BackupHistory: the backup metrics and the list behind GET /backups.
import { describe, expect, it } from 'vitest';
import { BackupHistory, MAX_BACKUP_HISTORY, checkBackupRecord, type BackupRecord } from '../../src/metrics/backup-history.js';
import { createMetricFamilies, type MetricFamilies } from '../../src/metrics/definitions.js';

async function read(families: MetricFamilies, family: keyof MetricFamilies, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await (families[family] as { get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown> }> }> }).get();
  return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((sum, v) => sum + v.value, 0);
}

function record(id: string, overrides: Partial<BackupRecord> = {}): BackupRecord {
  return { id, startedAtMs: 1_700_000_000_000, durationSeconds: 12.5, sizeBytes: 4096, raftIndex: 120, outcome: 'success', verification: 'not-verified', ...overrides };
}

describe('BackupHistory', () => {
  it('starts empty with every backup gauge at 0', async () => {
    const { families } = createMetricFamilies();
    const history = new BackupHistory(families);
    expect(history.list()).toEqual([]);
    expect(await read(families, 'backupLastSuccess')).toBe(0);
    expect(await read(families, 'backupRuns', { result: 'success' })).toBe(0);
  });

  it('sets the last success time, duration and size from a successful backup', async () => {
    const { families } = createMetricFamilies();
    const history = new BackupHistory(families);
    history.record(record('b1', { kind: 'full' }));
    expect(await read(families, 'backupLastSuccess')).toBe(1_700_000_000 + 12.5);
    expect(await read(families, 'backupLastDuration')).toBe(12.5);
    expect(await read(families, 'backupLastSize')).toBe(4096);
    expect(await read(families, 'backupRuns', { result: 'success' })).toBe(1);
    expect(history.list()).toEqual([record('b1', { kind: 'full' })]);
  });

  it('records a failure without touching the last success', async () => {
    const { families } = createMetricFamilies();
    const history = new BackupHistory(families);
    history.record(record('b1'));
    history.record(record('b2', { outcome: 'failure', startedAtMs: 1_700_000_100_000, durationSeconds: 1, error: 'client went away' }));
    expect(await read(families, 'backupLastSuccess')).toBe(1_700_000_000 + 12.5);
    expect(await read(families, 'backupLastFailure')).toBe(1_700_000_101);
    expect(await read(families, 'backupRuns', { result: 'failure' })).toBe(1);
    expect(history.list().map((b) => b.id)).toEqual(['b2', 'b1']);
  });

  it('replaces a record reported again with its verification, without counting another run', async () => {
    const { families } = createMetricFamilies();
    const history = new BackupHistory(families);
    history.record(record('b1'));
    history.record(record('b1', { verification: 'failed', error: 'page 3 checksum' }));
    expect(history.list()).toEqual([record('b1', { verification: 'failed', error: 'page 3 checksum' })]);
    expect(await read(families, 'backupRuns', { result: 'success' })).toBe(1);
    expect(await read(families, 'backupVerificationFailures')).toBe(1);
    history.record(record('b1', { verification: 'failed' }));
    expect(await read(families, 'backupVerificationFailures')).toBe(1);
  });

  it(`keeps only the newest ${MAX_BACKUP_HISTORY} records`, () => {
    const { families } = createMetricFamilies();
    const history = new BackupHistory(families);
    for (let i = 0; i < MAX_BACKUP_HISTORY + 5; i++) history.record(record(`b${i}`));
    const ids = history.list().map((b) => b.id);
    expect(ids).toHaveLength(MAX_BACKUP_HISTORY);
    expect(ids[0]).toBe(`b${MAX_BACKUP_HISTORY + 4}`);
    expect(ids).not.toContain('b4');
  });

  it('refuses a record with a bad id, outcome, verification or number, naming the field', () => {
    const bad: Array<[unknown, string]> = [
      [{ ...record('b1'), id: '../etc' }, 'id'],
      [{ ...record('b1'), outcome: 'ok' }, 'outcome'],
      [{ ...record('b1'), verification: 'maybe' }, 'verification'],
      [{ ...record('b1'), sizeBytes: -1 }, 'sizeBytes'],
      [{ ...record('b1'), durationSeconds: 'long' }, 'durationSeconds'],
      [{ ...record('b1'), raftIndex: 1.5 }, 'raftIndex'],
      [{ ...record('b1'), kind: 'partial' }, 'kind'],
      [[], 'body'],
    ];
    for (const [value, field] of bad) {
      expect(() => checkBackupRecord(value), field).toThrow(expect.objectContaining({ code: 'TSR_ERR_INVALID_ARGUMENT', details: { field } }));
    }
  });
});
