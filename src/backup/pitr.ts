// Point-in-time recovery: replays archived log entries on top of a backup's
// state, up to a log index or a leader-stamped time (docs/backup-format.md,
// "Log archive"). Entries are applied exactly as the replica applies them:
// normal entries with data go to the state machine; configuration entries and
// empty no-ops only advance the index.
import { TsraftError, rethrowIfBug } from '../errors.js';
import { decodeCommand } from '../tsdb/command.js';
import type { TimeSeriesStateMachine } from '../tsdb/state-machine.js';
import { readArchive } from './log-archive.js';

export type RestoreTarget = { kind: 'index'; index: number } | { kind: 'time'; timeMs: number; text: string };

/** `--until`: digits are a log index; anything else an ISO-8601 time. */
export function parseRestoreTarget(text: string): RestoreTarget {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) {
    const index = Number(trimmed);
    if (!Number.isSafeInteger(index) || index < 1) throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `--until ${text}: a log index must be a positive integer`, { details: { field: 'until', usage: true } });
    return { kind: 'index', index };
  }
  const timeMs = Date.parse(trimmed);
  if (!/^\d{4}-\d{2}-\d{2}/.test(trimmed) || !Number.isFinite(timeMs)) {
    throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `--until ${text}: give a log index (digits) or an ISO-8601 time such as 2024-05-01T12:00:00Z`, { details: { field: 'until', usage: true } });
  }
  return { kind: 'time', timeMs, text: trimmed };
}

export interface ReplayResult {
  /** The Raft index the state is now at. */
  index: number;
  /** Term of that entry. */
  term: number;
  /** Entries read past the base (applied or index-only). */
  replayedEntries: number;
  /** Largest leader time applied (Unix ms). */
  leaderTimeMs: number;
  /** For a time target: the archive ended before any entry stamped later, so
   *  later entries ≤ the target may exist that were never archived. */
  archiveEndedEarly: boolean;
}

/** The leader-stamped time of an entry, or null when it carries none. */
function leaderTimeOf(kind: string, data: Uint8Array): number | null {
  if (kind !== 'normal' || data.length === 0) return null;
  const cmd = decodeCommand(data);
  return cmd.type === 'noop' ? null : cmd.leaderTimeMs;
}

/**
 * Applies archived entries after `baseIndex` to `sm` (which holds the state
 * at `baseIndex`) until the target. Throws TSR_ERR_ARCHIVE_GAP when entries up
 * to an index target are missing, TSR_ERR_ARCHIVE_CORRUPT on damage.
 */
export function replayArchive(sm: TimeSeriesStateMachine, baseIndex: number, baseTerm: number, archiveDir: string, target: RestoreTarget, clusterId: string): ReplayResult {
  if (target.kind === 'index' && target.index < baseIndex) {
    throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `--until ${target.index} lies before the backup (index ${baseIndex}): restore from an older base backup`, { details: { field: 'until' } });
  }
  if (target.kind === 'time' && target.timeMs < sm.lastLeaderTimeMs) {
    throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `--until ${target.text} lies before the backup (leader time ${new Date(sm.lastLeaderTimeMs).toISOString()}): restore from an older base backup`, { details: { field: 'until' } });
  }
  let index = baseIndex;
  let term = baseTerm;
  let replayed = 0;
  let endedEarly = true;
  if (target.kind === 'index' && target.index === baseIndex) return { index, term, replayedEntries: 0, leaderTimeMs: sm.lastLeaderTimeMs, archiveEndedEarly: false };
  const entries = readArchive(archiveDir, baseIndex + 1, clusterId);
  for (let step = entries.next(); step.done !== true; step = entries.next()) {
    const { entry, file } = step.value;
    let time: number | null;
    try {
      time = leaderTimeOf(entry.kind, entry.data);
    } catch (error) {
      rethrowIfBug(error);
      throw new TsraftError('TSR_ERR_ARCHIVE_CORRUPT', `${file}: entry ${entry.index} cannot be decoded: ${(error as Error).message}`, { details: { file, index: entry.index } });
    }
    if (target.kind === 'time' && time !== null && time > target.timeMs) {
      endedEarly = false;
      break;
    }
    if (entry.kind === 'normal' && entry.data.length > 0) {
      try {
        sm.apply(entry.index, entry.data);
      } catch (error) {
        rethrowIfBug(error);
        throw new TsraftError('TSR_ERR_ARCHIVE_CORRUPT', `${file}: entry ${entry.index} cannot be applied: ${(error as Error).message}`, { details: { file, index: entry.index } });
      }
    }
    index = entry.index;
    term = entry.term;
    replayed++;
    if (target.kind === 'index' && index === target.index) {
      endedEarly = false;
      break;
    }
  }
  if (target.kind === 'index' && index < target.index) {
    throw new TsraftError('TSR_ERR_ARCHIVE_GAP', `the log archive ${archiveDir} ends at index ${index}; entries ${index + 1}–${target.index} are missing`, {
      details: { dir: archiveDir, firstMissingIndex: index + 1, target: target.index },
    });
  }
  return { index, term, replayedEntries: replayed, leaderTimeMs: sm.lastLeaderTimeMs, archiveEndedEarly: target.kind === 'time' && endedEarly };
}
