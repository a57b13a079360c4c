// The commands a log entry carries to the state machine (docs/tsdb-commands.md).
// Every command starts with a type byte and a version byte, ends its header
// with a CRC32C, and (for a write) is followed by the write batch, which has
// its own version byte and checksum. "Now" travels inside the entry as the
// leader-stamped time, so applying never reads a clock.
//
//   u8 type | u8 version | header fields | u32 LE crc32c of the bytes before it | payload
//
// An empty entry (Raft's leader no-op) decodes as a noop.
import { TsraftError, assert } from '../errors.js';
import { ByteReader, ByteWriter } from './byte-io.js';

export const COMMAND_TYPE = { write: 1, retention: 2, noop: 3, backup: 4, checkpoint: 5, writes: 6 } as const;
export type CommandTypeName = keyof typeof COMMAND_TYPE;
/** The version of each command's header this build writes and reads. */
export const COMMAND_VERSION = 1;
/** Client ids are chosen by clients (e.g. a random UUID); bounded in bytes. */
export const MAX_CLIENT_ID_BYTES = 64;
/** Writes one `writes` command carries. */
export const MAX_WRITES_PER_COMMAND = 4096;

export interface WriteCommand {
  type: 'write';
  /** '' for a write without a session (at-least-once, e.g. telnet put). */
  clientId: string;
  /** The client's sequence number of this request, ≥ 1 (0 without a session). */
  sequence: number;
  /** The lowest sequence the client has not yet seen a response for (≤ sequence);
   *  results below it are forgotten. 0 without a session. */
  firstUnackedSequence: number;
  /** Leader's wall-clock time when it proposed the entry, Unix ms. */
  leaderTimeMs: number;
  /** An encoded write batch (write-batch.ts). */
  batch: Uint8Array;
}

/** One client write inside a `writes` command: a write command without its
 *  own leader time (the command's applies to all). */
export type CoalescedWrite = Omit<WriteCommand, 'type' | 'leaderTimeMs'>;

/** Several client writes in one log entry, applied in order as if each were
 *  its own `write` entry at this index (docs/tsdb-commands.md, "writes"). The
 *  leader coalesces the puts that reach it in one turn of its event loop, so
 *  a hundred concurrent one-point puts cost one entry — one record to
 *  persist, replicate and decode on every replica — instead of a hundred. */
export interface WritesCommand {
  type: 'writes';
  leaderTimeMs: number;
  /** 1 ≤ length ≤ MAX_WRITES_PER_COMMAND. */
  writes: CoalescedWrite[];
}

export interface RetentionCommand {
  type: 'retention';
  leaderTimeMs: number;
  /** Blocks that end before leaderTimeMs − retentionMs are dropped. */
  retentionMs: number;
}

export interface NoopCommand {
  type: 'noop';
}

/** A scheduled backup's start or end, coordinated through the log
 *  (docs/backup-service.md, "Schedule"; applied by backup-schedule.ts). */
export interface BackupStartCommand {
  type: 'backup';
  event: 'start';
  leaderTimeMs: number;
  /** floor(leader time / interval): one backup per slot. ≥ 1. */
  slot: number;
  /** 1 for the first try of a slot, +1 for each retry. */
  attempt: number;
  /** The node that takes the backup (the proposing leader). */
  taker: string;
  kind: 'full' | 'incremental';
  /** The backup's folder name in the destination. */
  name: string;
  /** The backup it is built on ('' for a full backup). */
  baseName: string;
  /** The destination URL (no credentials). */
  destination: string;
  /** The taker loses the claim when no finish is applied within this much leader time. */
  claimTimeoutMs: number;
}

export interface BackupFinishCommand {
  type: 'backup';
  event: 'finish';
  leaderTimeMs: number;
  slot: number;
  attempt: number;
  ok: boolean;
  /** The manifest's backupId ('' when it failed). */
  backupId: string;
  /** The Raft index the backup holds the state of (0 when it failed). */
  backupIndex: number;
  /** The state digest at backupIndex (docs/backup-service.md, "State digest"); '' when it failed. */
  digest: string;
  storedBytes: number;
  /** Why it failed ('' when ok). */
  error: string;
}

/** A state digest checkpoint: every replica computes its digest at this entry's index. */
export interface CheckpointCommand {
  type: 'checkpoint';
  leaderTimeMs: number;
}

export type BackupCommand = BackupStartCommand | BackupFinishCommand;

export type Command = WriteCommand | WritesCommand | RetentionCommand | NoopCommand | BackupCommand | CheckpointCommand;

/** Bounds on the strings of a backup record, bytes. */
export const MAX_BACKUP_NAME_BYTES = 128;
export const MAX_BACKUP_DESTINATION_BYTES = 1024;
export const MAX_BACKUP_ERROR_BYTES = 512;
export const MAX_NODE_ID_BYTES = 64;
const BACKUP_EVENT_START = 1;
const BACKUP_EVENT_FINISH = 2;
const BACKUP_KIND = { full: 1, incremental: 2 } as const;

function checkBackupCommand(cmd: BackupCommand): string | null {
  const count = (v: number): boolean => Number.isSafeInteger(v) && v >= 0;
  if (!count(cmd.leaderTimeMs)) return `leaderTimeMs ${cmd.leaderTimeMs} is not a non-negative integer`;
  if (!count(cmd.slot) || cmd.slot < 1) return `slot ${cmd.slot} must be ≥ 1`;
  if (!count(cmd.attempt) || cmd.attempt < 1) return `attempt ${cmd.attempt} must be ≥ 1`;
  if (cmd.event === 'start') {
    if (cmd.taker === '' || utf8.encode(cmd.taker).length > MAX_NODE_ID_BYTES) return 'taker must be a node id';
    if (cmd.name === '' || utf8.encode(cmd.name).length > MAX_BACKUP_NAME_BYTES) return `name must be 1–${MAX_BACKUP_NAME_BYTES} bytes`;
    if (utf8.encode(cmd.baseName).length > MAX_BACKUP_NAME_BYTES) return `baseName longer than ${MAX_BACKUP_NAME_BYTES} bytes`;
    if ((cmd.kind === 'full') !== (cmd.baseName === '')) return 'a full backup has no base and an incremental one has one';
    if (cmd.destination === '' || utf8.encode(cmd.destination).length > MAX_BACKUP_DESTINATION_BYTES) return `destination must be 1–${MAX_BACKUP_DESTINATION_BYTES} bytes`;
    if (!count(cmd.claimTimeoutMs) || cmd.claimTimeoutMs < 1) return `claimTimeoutMs ${cmd.claimTimeoutMs} must be ≥ 1`;
    return null;
  }
  if (!count(cmd.backupIndex) || !count(cmd.storedBytes)) return 'backupIndex and storedBytes must be non-negative integers';
  if (utf8.encode(cmd.backupId).length > MAX_BACKUP_NAME_BYTES || utf8.encode(cmd.digest).length > MAX_BACKUP_NAME_BYTES) return 'backupId or digest too long';
  if (utf8.encode(cmd.error).length > MAX_BACKUP_ERROR_BYTES) return `error longer than ${MAX_BACKUP_ERROR_BYTES} bytes`;
  if (cmd.ok && (cmd.backupId === '' || cmd.backupIndex < 1)) return 'a successful backup names its backupId and index';
  return null;
}

/** Cuts a text to at most maxBytes of UTF-8, never inside a character (for error texts in backup records). */
export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = utf8.encode(text);
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}

const utf8 = new TextEncoder();

/** UTF-8 bytes of a string, without encoding it (checked on every write). */
function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4; // a surrogate pair
      i++;
    } else bytes += 3; // a lone surrogate encodes as U+FFFD: 3 bytes
  }
  return bytes;
}

function checkWriteHeader(cmd: WriteCommand): string | null {
  if (!Number.isSafeInteger(cmd.leaderTimeMs) || cmd.leaderTimeMs < 0) return `leaderTimeMs ${cmd.leaderTimeMs} is not a non-negative integer`;
  return writeSessionProblem(cmd);
}

/** What is wrong with a write's session fields (clientId, sequence,
 *  firstUnackedSequence), or null. */
export function writeSessionProblem(cmd: CoalescedWrite): string | null {
  if (utf8ByteLength(cmd.clientId) > MAX_CLIENT_ID_BYTES) return `clientId longer than ${MAX_CLIENT_ID_BYTES} bytes`;
  if (cmd.clientId === '') {
    if (cmd.sequence !== 0 || cmd.firstUnackedSequence !== 0) return 'a write without a session has sequence 0';
    return null;
  }
  if (!Number.isSafeInteger(cmd.sequence) || cmd.sequence < 1) return `sequence ${cmd.sequence} must be ≥ 1`;
  if (!Number.isSafeInteger(cmd.firstUnackedSequence) || cmd.firstUnackedSequence < 1 || cmd.firstUnackedSequence > cmd.sequence) {
    return `firstUnackedSequence ${cmd.firstUnackedSequence} must lie in [1, sequence]`;
  }
  return null;
}

/** Encodes a command for a log entry. Throws TSR_ERR_INVALID_ARGUMENT for a
 *  malformed command (a caller bug on the leader, reported, not applied). */
export function encodeCommand(cmd: Command): Uint8Array {
  const w = new ByteWriter(cmd.type === 'write' ? 96 + cmd.batch.length : cmd.type === 'writes' ? initialWritesBytes(cmd) : 32);
  w.u8(COMMAND_TYPE[cmd.type]);
  w.u8(COMMAND_VERSION);
  switch (cmd.type) {
    case 'write': {
      const problem = checkWriteHeader(cmd);
      if (problem !== null) throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `write command: ${problem}`, { details: { field: 'write' } });
      w.string(cmd.clientId);
      w.varuint(cmd.sequence);
      w.varuint(cmd.firstUnackedSequence);
      w.varuint(cmd.leaderTimeMs);
      w.crc32c();
      w.bytes(cmd.batch);
      break;
    }
    case 'writes': {
      const count = cmd.writes.length;
      if (count < 1 || count > MAX_WRITES_PER_COMMAND || !Number.isSafeInteger(cmd.leaderTimeMs) || cmd.leaderTimeMs < 0) {
        throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `writes command needs 1–${MAX_WRITES_PER_COMMAND} writes and an integer leaderTimeMs ≥ 0 (got ${count}, ${cmd.leaderTimeMs})`, { details: { field: 'writes' } });
      }
      w.varuint(cmd.leaderTimeMs);
      w.varuint(count);
      let batchBytes = 0;
      for (const write of cmd.writes) {
        const problem = writeSessionProblem(write);
        if (problem !== null) throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `writes command: ${problem}`, { details: { field: 'writes' } });
        w.string(write.clientId);
        w.varuint(write.sequence);
        w.varuint(write.firstUnackedSequence);
        w.varuint(write.batch.length);
        batchBytes += write.batch.length;
      }
      w.crc32c();
      assert(batchBytes <= Number.MAX_SAFE_INTEGER, 'writes command batches too large');
      for (const write of cmd.writes) w.bytes(write.batch);
      break;
    }
    case 'retention': {
      if (!Number.isSafeInteger(cmd.leaderTimeMs) || cmd.leaderTimeMs < 0 || !Number.isSafeInteger(cmd.retentionMs) || cmd.retentionMs < 1) {
        throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `retention command needs integer leaderTimeMs ≥ 0 and retentionMs ≥ 1`, {
          details: { leaderTimeMs: cmd.leaderTimeMs, retentionMs: cmd.retentionMs },
        });
      }
      w.varuint(cmd.leaderTimeMs);
      w.varuint(cmd.retentionMs);
      w.crc32c();
      break;
    }
    case 'noop':
      w.crc32c();
      break;
    case 'backup': {
      const problem = checkBackupCommand(cmd);
      if (problem !== null) throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `backup command: ${problem}`, { details: { field: 'backup' } });
      w.u8(cmd.event === 'start' ? BACKUP_EVENT_START : BACKUP_EVENT_FINISH);
      w.varuint(cmd.leaderTimeMs);
      w.varuint(cmd.slot);
      w.varuint(cmd.attempt);
      if (cmd.event === 'start') {
        w.string(cmd.taker);
        w.u8(BACKUP_KIND[cmd.kind]);
        w.string(cmd.name);
        w.string(cmd.baseName);
        w.string(cmd.destination);
        w.varuint(cmd.claimTimeoutMs);
      } else {
        w.u8(cmd.ok ? 1 : 2);
        w.string(cmd.backupId);
        w.varuint(cmd.backupIndex);
        w.string(cmd.digest);
        w.varuint(cmd.storedBytes);
        w.string(cmd.error);
      }
      w.crc32c();
      break;
    }
    case 'checkpoint':
      if (!Number.isSafeInteger(cmd.leaderTimeMs) || cmd.leaderTimeMs < 0) throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `checkpoint command: leaderTimeMs ${cmd.leaderTimeMs} is not a non-negative integer`, { details: { field: 'checkpoint' } });
      w.varuint(cmd.leaderTimeMs);
      w.crc32c();
      break;
  }
  return w.finish();
}

/** Decodes a log entry's data. TSR_ERR_CORRUPT_ENTRY for bad bytes,
 *  TSR_ERR_UNSUPPORTED_ENTRY for a type or version this build does not know.
 *  A write's batch is returned as a view, decoded later (write-batch.ts). */
export function decodeCommand(data: Uint8Array): Command {
  if (data.length === 0) return { type: 'noop' };
  const r = new ByteReader(data, 'TSR_ERR_CORRUPT_ENTRY', 'log entry command');
  const typeByte = r.u8('command type');
  const version = r.u8('command version');
  const known = typeByte >= COMMAND_TYPE.write && typeByte <= COMMAND_TYPE.writes;
  if (!known || version !== COMMAND_VERSION) {
    // A CRC failure here would also look unknown; say which it is when we can.
    throw new TsraftError('TSR_ERR_UNSUPPORTED_ENTRY', `command type ${typeByte} version ${version} is not supported by this build`, {
      details: { commandType: typeByte, version },
    });
  }
  let cmd: Command;
  if (typeByte === COMMAND_TYPE.write) {
    const clientId = r.string(MAX_CLIENT_ID_BYTES, 'clientId');
    const sequence = r.varuint('sequence');
    const firstUnackedSequence = r.varuint('firstUnackedSequence');
    const leaderTimeMs = r.varuint('leaderTimeMs');
    r.expectCrc32c(0, 'command header crc32c');
    cmd = { type: 'write', clientId, sequence, firstUnackedSequence, leaderTimeMs, batch: data.subarray(r.offset) };
    const problem = checkWriteHeader(cmd);
    if (problem !== null) throw r.corrupt(problem);
  } else if (typeByte === COMMAND_TYPE.writes) {
    cmd = decodeWritesCommand(r, data);
  } else if (typeByte === COMMAND_TYPE.retention) {
    const leaderTimeMs = r.varuint('leaderTimeMs');
    const retentionMs = r.varuint('retentionMs');
    r.expectCrc32c(0, 'command header crc32c');
    r.expectEnd();
    if (retentionMs < 1) throw r.corrupt('retentionMs must be ≥ 1');
    cmd = { type: 'retention', leaderTimeMs, retentionMs };
  } else if (typeByte === COMMAND_TYPE.backup) {
    cmd = decodeBackupCommand(r);
  } else if (typeByte === COMMAND_TYPE.checkpoint) {
    const leaderTimeMs = r.varuint('leaderTimeMs');
    r.expectCrc32c(0, 'command header crc32c');
    r.expectEnd();
    cmd = { type: 'checkpoint', leaderTimeMs };
  } else {
    r.expectCrc32c(0, 'command header crc32c');
    r.expectEnd();
    cmd = { type: 'noop' };
  }
  assert(COMMAND_TYPE[cmd.type] === typeByte, 'decoded command type differs from its byte');
  return cmd;
}

/** Room for a writes command: its headers (≤ 80 bytes each) and batches. */
function initialWritesBytes(cmd: WritesCommand): number {
  let bytes = 32;
  for (const write of cmd.writes) bytes += 80 + write.batch.length;
  return bytes;
}

function decodeWritesCommand(r: ByteReader, data: Uint8Array): WritesCommand {
  const leaderTimeMs = r.varuint('leaderTimeMs');
  // Each write's header takes at least 4 bytes, which bounds the count by the input.
  const count = r.varuintAtMost(Math.min(MAX_WRITES_PER_COMMAND, Math.floor(r.remainingBytes / 4)), 'write count');
  if (count < 1) throw r.corrupt('a writes command holds no write');
  const headers: Array<{ clientId: string; sequence: number; firstUnackedSequence: number; batchBytes: number }> = new Array(count);
  let batchBytes = 0;
  for (let i = 0; i < count; i++) {
    const clientId = r.string(MAX_CLIENT_ID_BYTES, 'clientId');
    const sequence = r.varuint('sequence');
    const firstUnackedSequence = r.varuint('firstUnackedSequence');
    const bytes = r.varuint('batch length');
    headers[i] = { clientId, sequence, firstUnackedSequence, batchBytes: bytes };
    batchBytes += bytes;
  }
  r.expectCrc32c(0, 'command header crc32c');
  if (batchBytes !== r.remainingBytes) throw r.corrupt(`batch lengths add up to ${batchBytes} bytes, the entry holds ${r.remainingBytes}`);
  const writes: CoalescedWrite[] = new Array(count);
  let offset = r.offset;
  for (let i = 0; i < count; i++) {
    const h = headers[i]!;
    const write: CoalescedWrite = { clientId: h.clientId, sequence: h.sequence, firstUnackedSequence: h.firstUnackedSequence, batch: data.subarray(offset, offset + h.batchBytes) };
    const problem = writeSessionProblem(write);
    if (problem !== null) throw r.corrupt(`write ${i}: ${problem}`);
    writes[i] = write;
    offset += h.batchBytes;
  }
  assert(offset === data.length, 'writes command batches do not end the entry');
  return { type: 'writes', leaderTimeMs, writes };
}

function decodeBackupCommand(r: ByteReader): BackupCommand {
  const event = r.u8('backup event');
  if (event !== BACKUP_EVENT_START && event !== BACKUP_EVENT_FINISH) throw r.corrupt(`unknown backup event ${event}`);
  const leaderTimeMs = r.varuint('leaderTimeMs');
  const slot = r.varuint('slot');
  const attempt = r.varuint('attempt');
  let cmd: BackupCommand;
  if (event === BACKUP_EVENT_START) {
    const taker = r.string(MAX_NODE_ID_BYTES, 'taker');
    const kindByte = r.u8('kind');
    if (kindByte !== BACKUP_KIND.full && kindByte !== BACKUP_KIND.incremental) throw r.corrupt(`unknown backup kind ${kindByte}`);
    const name = r.string(MAX_BACKUP_NAME_BYTES, 'name');
    const baseName = r.string(MAX_BACKUP_NAME_BYTES, 'baseName');
    const destination = r.string(MAX_BACKUP_DESTINATION_BYTES, 'destination');
    const claimTimeoutMs = r.varuint('claimTimeoutMs');
    cmd = { type: 'backup', event: 'start', leaderTimeMs, slot, attempt, taker, kind: kindByte === BACKUP_KIND.full ? 'full' : 'incremental', name, baseName, destination, claimTimeoutMs };
  } else {
    const outcome = r.u8('outcome');
    if (outcome !== 1 && outcome !== 2) throw r.corrupt(`unknown backup outcome ${outcome}`);
    const backupId = r.string(MAX_BACKUP_NAME_BYTES, 'backupId');
    const backupIndex = r.varuint('backupIndex');
    const digest = r.string(MAX_BACKUP_NAME_BYTES, 'digest');
    const storedBytes = r.varuint('storedBytes');
    const error = r.string(MAX_BACKUP_ERROR_BYTES, 'error');
    cmd = { type: 'backup', event: 'finish', leaderTimeMs, slot, attempt, ok: outcome === 1, backupId, backupIndex, digest, storedBytes, error };
  }
  r.expectCrc32c(0, 'command header crc32c');
  r.expectEnd();
  const problem = checkBackupCommand(cmd);
  if (problem !== null) throw r.corrupt(problem);
  return cmd;
}
