// What a node knows about the backups taken from it: the backup metrics
// (tsraft_backup_*) and the list the web console's backup view shows
// (GET /backups, docs/metrics.md "Backups").
//
// The backup room calls the BackupRecorder:
//   - the node's backup stream route, when a stream ends (success or failure):
//       recorder.record({ id, startedAtMs, durationSeconds, sizeBytes, raftIndex, outcome, verification: 'not-verified' })
//   - `tsraft backup create` after it verified its copy, through
//     POST /backups on the same node (same id): verification 'verified' or 'failed'.
// A second record with the same id replaces the first (its verification is
// the newest word). The history lives in memory and starts empty at each
// process start; it keeps the newest MAX_BACKUP_HISTORY records.
import { TsraftError, assert } from '../errors.js';
import type { MetricFamilies } from './definitions.js';

export const MAX_BACKUP_HISTORY = 50;
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,127}$/;
const MAX_ERROR_CHARS = 500;

export type BackupOutcome = 'success' | 'failure';
export type BackupVerification = 'verified' | 'failed' | 'not-verified';
export const BACKUP_VERIFICATIONS: readonly BackupVerification[] = ['verified', 'failed', 'not-verified'];

export interface BackupRecord {
  /** Names the backup (its folder or a content digest): 1–128 of [A-Za-z0-9_.:@+-]. */
  id: string;
  /** Unix time the backup started, ms. */
  startedAtMs: number;
  durationSeconds: number;
  sizeBytes: number;
  /** Raft index the backup is consistent at (0 when it failed before capture). */
  raftIndex: number;
  outcome: BackupOutcome;
  verification: BackupVerification;
  /** 'full' or 'incremental' when known. */
  kind?: 'full' | 'incremental';
  /** Why it failed (outcome 'failure' or verification 'failed'). */
  error?: string;
}

export interface BackupRecorder {
  record(record: BackupRecord): void;
}

export class BackupHistory implements BackupRecorder {
  private readonly records: BackupRecord[] = [];

  constructor(private readonly families: MetricFamilies) {}

  record(input: BackupRecord): void {
    const record = checkBackupRecord(input);
    const at = this.records.findIndex((r) => r.id === record.id);
    const previous = at >= 0 ? this.records[at]! : null;
    if (at >= 0) this.records.splice(at, 1);
    this.records.push(record);
    if (this.records.length > MAX_BACKUP_HISTORY) this.records.shift();
    // A report that only adds the verification of a known backup is not another run.
    if (previous === null || previous.outcome !== record.outcome) {
      this.families.backupRuns.inc({ result: record.outcome });
      const finishedSeconds = record.startedAtMs / 1000 + record.durationSeconds;
      if (record.outcome === 'success') {
        this.families.backupLastSuccess.set(finishedSeconds);
        this.families.backupLastDuration.set(record.durationSeconds);
        this.families.backupLastSize.set(record.sizeBytes);
      } else {
        this.families.backupLastFailure.set(finishedSeconds);
      }
    }
    if (record.verification === 'failed' && previous?.verification !== 'failed') this.families.backupVerificationFailures.inc();
    assert(this.records.length <= MAX_BACKUP_HISTORY, 'BackupHistory over its bound');
  }

  /** Newest first. */
  list(): BackupRecord[] {
    return this.records.map((r) => ({ ...r })).reverse();
  }
}

function invalid(field: string, message: string): TsraftError {
  return new TsraftError('TSR_ERR_INVALID_ARGUMENT', message, { details: { field } });
}

function nonNegative(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw invalid(field, `${field} must be a non-negative number, got ${JSON.stringify(value)}`);
  return value;
}

/** Validates a record (from code or from an HTTP body) and returns a clean copy. */
export function checkBackupRecord(value: unknown): BackupRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('body', 'a backup record must be a JSON object');
  const v = value as Record<string, unknown>;
  if (typeof v.id !== 'string' || !ID_PATTERN.test(v.id)) throw invalid('id', `id must be 1–128 characters of [A-Za-z0-9_.:@+-], got ${JSON.stringify(v.id)}`);
  if (v.outcome !== 'success' && v.outcome !== 'failure') throw invalid('outcome', `outcome must be "success" or "failure", got ${JSON.stringify(v.outcome)}`);
  if (typeof v.verification !== 'string' || !(BACKUP_VERIFICATIONS as readonly string[]).includes(v.verification)) {
    throw invalid('verification', `verification must be one of ${BACKUP_VERIFICATIONS.join(', ')}, got ${JSON.stringify(v.verification)}`);
  }
  if (v.kind !== undefined && v.kind !== 'full' && v.kind !== 'incremental') throw invalid('kind', `kind must be "full" or "incremental", got ${JSON.stringify(v.kind)}`);
  if (v.error !== undefined && typeof v.error !== 'string') throw invalid('error', 'error must be a string');
  const raftIndex = nonNegative(v.raftIndex, 'raftIndex');
  if (!Number.isSafeInteger(raftIndex)) throw invalid('raftIndex', 'raftIndex must be an integer');
  const record: BackupRecord = {
    id: v.id,
    startedAtMs: nonNegative(v.startedAtMs, 'startedAtMs'),
    durationSeconds: nonNegative(v.durationSeconds, 'durationSeconds'),
    sizeBytes: nonNegative(v.sizeBytes, 'sizeBytes'),
    raftIndex,
    outcome: v.outcome,
    verification: v.verification as BackupVerification,
  };
  if (v.kind !== undefined) record.kind = v.kind as 'full' | 'incremental';
  if (typeof v.error === 'string') record.error = v.error.slice(0, MAX_ERROR_CHARS);
  return record;
}
