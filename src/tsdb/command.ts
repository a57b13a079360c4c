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

export const COMMAND_TYPE = { write: 1, retention: 2, noop: 3 } as const;
export type CommandTypeName = keyof typeof COMMAND_TYPE;
/** The version of each command's header this build writes and reads. */
export const COMMAND_VERSION = 1;
/** Client ids are chosen by clients (e.g. a random UUID); bounded in bytes. */
export const MAX_CLIENT_ID_BYTES = 64;

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

export interface RetentionCommand {
  type: 'retention';
  leaderTimeMs: number;
  /** Blocks that end before leaderTimeMs − retentionMs are dropped. */
  retentionMs: number;
}

export interface NoopCommand {
  type: 'noop';
}

export type Command = WriteCommand | RetentionCommand | NoopCommand;

const utf8 = new TextEncoder();

function checkWriteHeader(cmd: WriteCommand): string | null {
  if (utf8.encode(cmd.clientId).length > MAX_CLIENT_ID_BYTES) return `clientId longer than ${MAX_CLIENT_ID_BYTES} bytes`;
  if (!Number.isSafeInteger(cmd.leaderTimeMs) || cmd.leaderTimeMs < 0) return `leaderTimeMs ${cmd.leaderTimeMs} is not a non-negative integer`;
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
  const w = new ByteWriter(cmd.type === 'write' ? 96 + cmd.batch.length : 32);
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
  const known = typeByte === COMMAND_TYPE.write || typeByte === COMMAND_TYPE.retention || typeByte === COMMAND_TYPE.noop;
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
  } else if (typeByte === COMMAND_TYPE.retention) {
    const leaderTimeMs = r.varuint('leaderTimeMs');
    const retentionMs = r.varuint('retentionMs');
    r.expectCrc32c(0, 'command header crc32c');
    r.expectEnd();
    if (retentionMs < 1) throw r.corrupt('retentionMs must be ≥ 1');
    cmd = { type: 'retention', leaderTimeMs, retentionMs };
  } else {
    r.expectCrc32c(0, 'command header crc32c');
    r.expectEnd();
    cmd = { type: 'noop' };
  }
  assert(COMMAND_TYPE[cmd.type] === typeByte, 'decoded command type differs from its byte');
  return cmd;
}
