// The scheduled-backup record of the replicated state (docs/backup-service.md,
// "Schedule"): which backup slot was claimed by which node, how it ended, the
// last good backup and the chain it extends. Every replica applies the same
// `backup` records, so every replica agrees on who takes each backup and
// whether it happened — no wall clock on any node decides it. The leader reads
// this state to decide what to propose next; a new leader just continues.
//
// Rules (deterministic, from the records alone):
//   start(slot, attempt)  accepted when nothing is in progress and the slot is
//                         new (attempt 1) or its last attempt failed (attempt
//                         + 1); or when the claim in progress is for the same
//                         slot and its claim timed out in leader time (attempt
//                         + 1: the taker is presumed dead). An incremental must
//                         build on the last good backup.
//   finish(slot, attempt) accepted only for the claim in progress.
// Pure: part of src/tsdb (no clock, no I/O). Serialized as an extension of the
// state machine snapshot (docs/tsdb-commands.md, "Snapshot").
import { assert } from '../errors.js';
import type { ByteReader, ByteWriter } from './byte-io.js';
import { MAX_BACKUP_DESTINATION_BYTES, MAX_BACKUP_ERROR_BYTES, MAX_BACKUP_NAME_BYTES, MAX_NODE_ID_BYTES, type BackupCommand, type BackupFinishCommand, type BackupStartCommand } from './command.js';

/** Longest chain of incrementals on one full backup (the backup format resolves at most 32 levels). */
export const MAX_SCHEDULED_CHAIN = 32;
const SECTION_VERSION = 1;

export interface BackupClaim {
  slot: number;
  attempt: number;
  taker: string;
  kind: 'full' | 'incremental';
  name: string;
  baseName: string;
  destination: string;
  /** Log index of the start record: the state the backup holds. */
  startIndex: number;
  startLeaderTimeMs: number;
  claimTimeoutMs: number;
}

export interface FinishedBackup {
  slot: number;
  name: string;
  kind: 'full' | 'incremental';
  baseName: string;
  destination: string;
  backupId: string;
  backupIndex: number;
  digest: string;
  storedBytes: number;
  finishedLeaderTimeMs: number;
}

export interface BackupScheduleSnapshot {
  current: BackupClaim | null;
  /** Highest slot a start was accepted for (0: none yet). */
  lastSlot: number;
  /** Attempt number of the last accepted start. */
  lastAttempt: number;
  /** Whether the last attempt of lastSlot failed (a retry of that slot may start). */
  lastSlotFailed: boolean;
  lastFailedLeaderTimeMs: number;
  lastError: string;
  lastOk: FinishedBackup | null;
  /** Backups in the chain lastOk belongs to (its full backup counts 1). */
  chainLength: number;
  started: number;
  succeeded: number;
  failed: number;
  /** Claims taken over after their taker timed out. */
  superseded: number;
  /** Slots that passed without any start (the cluster could not start one in time). */
  missedSlots: number;
}

export type BackupRecordResult =
  | { kind: 'backup'; event: 'start' | 'finish'; accepted: true }
  | { kind: 'backup'; event: 'start' | 'finish'; accepted: false; reason: string };

function emptyState(): BackupScheduleSnapshot {
  return { current: null, lastSlot: 0, lastAttempt: 0, lastSlotFailed: false, lastFailedLeaderTimeMs: 0, lastError: '', lastOk: null, chainLength: 0, started: 0, succeeded: 0, failed: 0, superseded: 0, missedSlots: 0 };
}

export class BackupScheduleState {
  private state: BackupScheduleSnapshot = emptyState();

  /** A copy of the state (the leader's scheduler and /status read it). */
  view(): BackupScheduleSnapshot {
    return structuredCopy(this.state);
  }

  /** Whether no backup record was ever applied (the snapshot then carries no section). */
  get isEmpty(): boolean {
    return this.state.started === 0 && this.state.lastSlot === 0;
  }

  apply(index: number, cmd: BackupCommand): BackupRecordResult {
    return cmd.event === 'start' ? this.applyStart(index, cmd) : this.applyFinish(cmd);
  }

  private refuse(event: 'start' | 'finish', reason: string): BackupRecordResult {
    return { kind: 'backup', event, accepted: false, reason };
  }

  private applyStart(index: number, cmd: BackupStartCommand): BackupRecordResult {
    const s = this.state;
    const current = s.current;
    if (current !== null) {
      const expired = cmd.leaderTimeMs >= current.startLeaderTimeMs + current.claimTimeoutMs;
      if (cmd.slot !== current.slot || cmd.attempt !== current.attempt + 1 || !expired) {
        return this.refuse('start', `backup ${current.name} (slot ${current.slot}, attempt ${current.attempt}) by ${current.taker} is in progress`);
      }
      s.superseded++;
    } else if (cmd.slot < s.lastSlot || (cmd.slot === s.lastSlot && !s.lastSlotFailed)) {
      return this.refuse('start', `slot ${cmd.slot} is already taken (last slot ${s.lastSlot})`);
    } else if (cmd.attempt !== (cmd.slot === s.lastSlot ? s.lastAttempt + 1 : 1)) {
      return this.refuse('start', `attempt ${cmd.attempt} of slot ${cmd.slot} is out of turn`);
    }
    if (cmd.kind === 'incremental') {
      const base = s.lastOk;
      if (base === null || base.name !== cmd.baseName || base.destination !== cmd.destination) return this.refuse('start', `an incremental backup must build on the last good backup (${base?.name ?? 'none'})`);
      if (s.chainLength >= MAX_SCHEDULED_CHAIN) return this.refuse('start', `the chain on ${base.name} already holds ${s.chainLength} backups: take a full one`);
    }
    if (current === null && s.lastSlot > 0 && cmd.slot > s.lastSlot + 1) s.missedSlots += cmd.slot - s.lastSlot - 1;
    s.current = {
      slot: cmd.slot,
      attempt: cmd.attempt,
      taker: cmd.taker,
      kind: cmd.kind,
      name: cmd.name,
      baseName: cmd.baseName,
      destination: cmd.destination,
      startIndex: index,
      startLeaderTimeMs: cmd.leaderTimeMs,
      claimTimeoutMs: cmd.claimTimeoutMs,
    };
    s.lastSlot = cmd.slot;
    s.lastAttempt = cmd.attempt;
    s.lastSlotFailed = false;
    s.started++;
    return { kind: 'backup', event: 'start', accepted: true };
  }

  private applyFinish(cmd: BackupFinishCommand): BackupRecordResult {
    const s = this.state;
    const current = s.current;
    if (current === null || current.slot !== cmd.slot || current.attempt !== cmd.attempt) {
      return this.refuse('finish', `slot ${cmd.slot} attempt ${cmd.attempt} is not the backup in progress`);
    }
    if (cmd.ok) {
      s.lastOk = {
        slot: cmd.slot,
        name: current.name,
        kind: current.kind,
        baseName: current.baseName,
        destination: current.destination,
        backupId: cmd.backupId,
        backupIndex: cmd.backupIndex,
        digest: cmd.digest,
        storedBytes: cmd.storedBytes,
        finishedLeaderTimeMs: cmd.leaderTimeMs,
      };
      s.chainLength = current.kind === 'full' ? 1 : s.chainLength + 1;
      s.succeeded++;
    } else {
      s.lastSlotFailed = true;
      s.lastFailedLeaderTimeMs = cmd.leaderTimeMs;
      s.lastError = cmd.error;
      s.failed++;
    }
    s.current = null;
    assert(s.succeeded + s.failed <= s.started, 'more backups ended than started');
    return { kind: 'backup', event: 'finish', accepted: true };
  }

  serialize(w: ByteWriter): void {
    const s = this.state;
    w.u8(SECTION_VERSION);
    const claim = s.current;
    w.u8(claim === null ? 0 : 1);
    if (claim !== null) {
      w.varuint(claim.slot);
      w.varuint(claim.attempt);
      w.string(claim.taker);
      w.u8(claim.kind === 'full' ? 1 : 2);
      w.string(claim.name);
      w.string(claim.baseName);
      w.string(claim.destination);
      w.varuint(claim.startIndex);
      w.varuint(claim.startLeaderTimeMs);
      w.varuint(claim.claimTimeoutMs);
    }
    w.varuint(s.lastSlot);
    w.varuint(s.lastAttempt);
    w.u8(s.lastSlotFailed ? 1 : 0);
    w.varuint(s.lastFailedLeaderTimeMs);
    w.string(s.lastError);
    const ok = s.lastOk;
    w.u8(ok === null ? 0 : 1);
    if (ok !== null) {
      w.varuint(ok.slot);
      w.string(ok.name);
      w.u8(ok.kind === 'full' ? 1 : 2);
      w.string(ok.baseName);
      w.string(ok.destination);
      w.string(ok.backupId);
      w.varuint(ok.backupIndex);
      w.string(ok.digest);
      w.varuint(ok.storedBytes);
      w.varuint(ok.finishedLeaderTimeMs);
    }
    for (const n of [s.chainLength, s.started, s.succeeded, s.failed, s.superseded, s.missedSlots]) w.varuint(n);
  }

  static deserialize(r: ByteReader): BackupScheduleState {
    const version = r.u8('backup schedule version');
    if (version !== SECTION_VERSION) throw r.corrupt(`backup schedule section version ${version} is not supported`);
    const kind = (byte: number): 'full' | 'incremental' => {
      if (byte !== 1 && byte !== 2) throw r.corrupt(`unknown backup kind ${byte}`);
      return byte === 1 ? 'full' : 'incremental';
    };
    const s = emptyState();
    const hasClaim = r.u8('backup claim flag');
    if (hasClaim > 1) throw r.corrupt('bad backup claim flag');
    if (hasClaim === 1) {
      s.current = {
        slot: r.varuint('slot'),
        attempt: r.varuint('attempt'),
        taker: r.string(MAX_NODE_ID_BYTES, 'taker'),
        kind: kind(r.u8('kind')),
        name: r.string(MAX_BACKUP_NAME_BYTES, 'name'),
        baseName: r.string(MAX_BACKUP_NAME_BYTES, 'baseName'),
        destination: r.string(MAX_BACKUP_DESTINATION_BYTES, 'destination'),
        startIndex: r.varuint('startIndex'),
        startLeaderTimeMs: r.varuint('startLeaderTimeMs'),
        claimTimeoutMs: r.varuint('claimTimeoutMs'),
      };
    }
    s.lastSlot = r.varuint('lastSlot');
    s.lastAttempt = r.varuint('lastAttempt');
    const failed = r.u8('lastSlotFailed');
    if (failed > 1) throw r.corrupt('bad lastSlotFailed flag');
    s.lastSlotFailed = failed === 1;
    s.lastFailedLeaderTimeMs = r.varuint('lastFailedLeaderTimeMs');
    s.lastError = r.string(MAX_BACKUP_ERROR_BYTES, 'lastError');
    const hasOk = r.u8('last good backup flag');
    if (hasOk > 1) throw r.corrupt('bad last good backup flag');
    if (hasOk === 1) {
      s.lastOk = {
        slot: r.varuint('slot'),
        name: r.string(MAX_BACKUP_NAME_BYTES, 'name'),
        kind: kind(r.u8('kind')),
        baseName: r.string(MAX_BACKUP_NAME_BYTES, 'baseName'),
        destination: r.string(MAX_BACKUP_DESTINATION_BYTES, 'destination'),
        backupId: r.string(MAX_BACKUP_NAME_BYTES, 'backupId'),
        backupIndex: r.varuint('backupIndex'),
        digest: r.string(MAX_BACKUP_NAME_BYTES, 'digest'),
        storedBytes: r.varuint('storedBytes'),
        finishedLeaderTimeMs: r.varuint('finishedLeaderTimeMs'),
      };
    }
    s.chainLength = r.varuint('chainLength');
    s.started = r.varuint('started');
    s.succeeded = r.varuint('succeeded');
    s.failed = r.varuint('failed');
    s.superseded = r.varuint('superseded');
    s.missedSlots = r.varuint('missedSlots');
    if (s.succeeded + s.failed > s.started) throw r.corrupt('backup schedule counts more ends than starts');
    const state = new BackupScheduleState();
    state.state = s;
    return state;
  }
}

function structuredCopy(s: BackupScheduleSnapshot): BackupScheduleSnapshot {
  return { ...s, current: s.current === null ? null : { ...s.current }, lastOk: s.lastOk === null ? null : { ...s.lastOk } };
}
