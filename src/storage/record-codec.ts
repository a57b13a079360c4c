// Small checksummed records stored beside the log: the format marker, the
// hard state and snapshot metadata (docs/storage.md, "Small records"). Every
// record is `version(1) | payload | crc32c(4)` with the checksum over the
// version byte and payload. Decoders throw TSR_ERR_CORRUPT_LOG naming the key
// (TSR_ERR_CORRUPT_SNAPSHOT for metadata inside a snapshot file is the
// snapshot store's job: it wraps these errors).
import { assert, TsraftError } from '../errors.js';
import type { ConfigState, HardState, SnapshotMeta } from '../raft/types.js';
import { crc32c } from '../tsdb/codec/crc32c.js';

export const RECORD_VERSION = 1;
/** Node ids are short; a longer stored vote is corruption. */
export const MAX_NODE_ID_BYTES = 255;
/** Bound on an encoded membership configuration (ids and peer URLs). */
export const MAX_CONFIG_BYTES = 1024 * 1024;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** Frame a payload as `version | payload | crc32c`. */
export function sealRecord(payload: Uint8Array): Uint8Array {
  const record = new Uint8Array(1 + payload.length + 4);
  record[0] = RECORD_VERSION;
  record.set(payload, 1);
  new DataView(record.buffer).setUint32(1 + payload.length, crc32c(record.subarray(0, 1 + payload.length)));
  return record;
}

/** Verify a record's checksum and version and return its payload (a view). */
export function openRecord(record: Uint8Array, what: string): Uint8Array {
  if (record.length < 5) throw corruptRecord(what, `record is ${record.length} bytes, shorter than 5`);
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const stored = view.getUint32(record.length - 4);
  const computed = crc32c(record.subarray(0, record.length - 4));
  if (stored !== computed) throw corruptRecord(what, 'checksum mismatch');
  if (record[0] !== RECORD_VERSION) throw corruptRecord(what, `unknown record version ${record[0]}`);
  return record.subarray(1, record.length - 4);
}

export function corruptRecord(what: string, why: string): TsraftError {
  return new TsraftError('TSR_ERR_CORRUPT_LOG', `stored ${what} is corrupt: ${why}`, { details: { record: what } });
}

export function encodeHardState(hardState: HardState): Uint8Array {
  assert(Number.isSafeInteger(hardState.term) && hardState.term >= 0, `encodeHardState: bad term ${hardState.term}`);
  assert(Number.isSafeInteger(hardState.commit) && hardState.commit >= 0, `encodeHardState: bad commit ${hardState.commit}`);
  const vote = hardState.vote === null ? new Uint8Array(0) : textEncoder.encode(hardState.vote);
  assert(vote.length <= MAX_NODE_ID_BYTES, `encodeHardState: vote id of ${vote.length} bytes`);
  const payload = new Uint8Array(8 + 8 + 1 + 2 + vote.length);
  const view = new DataView(payload.buffer);
  view.setBigUint64(0, BigInt(hardState.term));
  view.setBigUint64(8, BigInt(hardState.commit));
  view.setUint8(16, hardState.vote === null ? 0 : 1);
  view.setUint16(17, vote.length);
  payload.set(vote, 19);
  return sealRecord(payload);
}

export function decodeHardState(record: Uint8Array): HardState {
  const payload = openRecord(record, 'hard state');
  if (payload.length < 19) throw corruptRecord('hard state', `payload is ${payload.length} bytes`);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const term = Number(view.getBigUint64(0));
  const commit = Number(view.getBigUint64(8));
  const hasVote = view.getUint8(16);
  const voteLength = view.getUint16(17);
  if (payload.length !== 19 + voteLength) throw corruptRecord('hard state', 'vote length does not match the record size');
  if (hasVote > 1 || (hasVote === 0 && voteLength !== 0)) throw corruptRecord('hard state', 'bad vote flag');
  if (!Number.isSafeInteger(term) || !Number.isSafeInteger(commit)) throw corruptRecord('hard state', 'term or commit beyond 2^53');
  const vote = hasVote === 1 ? decodeUtf8(payload.subarray(19), 'hard state') : null;
  return { term, vote, commit };
}

/** Snapshot metadata payload (no record framing): reused inside snapshot file headers. */
export function encodeSnapshotMetaPayload(meta: SnapshotMeta): Uint8Array {
  assert(Number.isSafeInteger(meta.index) && meta.index >= 0, `snapshot meta: bad index ${meta.index}`);
  assert(Number.isSafeInteger(meta.term) && meta.term >= 0, `snapshot meta: bad term ${meta.term}`);
  assert(Number.isSafeInteger(meta.sizeBytes) && meta.sizeBytes >= 0, `snapshot meta: bad size ${meta.sizeBytes}`);
  const config = textEncoder.encode(JSON.stringify({ voters: meta.config.voters, learners: meta.config.learners, contexts: meta.config.contexts }));
  assert(config.length <= MAX_CONFIG_BYTES, `snapshot meta: config of ${config.length} bytes`);
  const payload = new Uint8Array(8 * 3 + 4 + config.length);
  const view = new DataView(payload.buffer);
  view.setBigUint64(0, BigInt(meta.index));
  view.setBigUint64(8, BigInt(meta.term));
  view.setBigUint64(16, BigInt(meta.sizeBytes));
  view.setUint32(24, config.length);
  payload.set(config, 28);
  return payload;
}

/** Throws TSR_ERR_CORRUPT_LOG naming `what`; callers outside the log re-code it. */
export function decodeSnapshotMetaPayload(payload: Uint8Array, what: string): SnapshotMeta {
  if (payload.length < 28) throw corruptRecord(what, `payload is ${payload.length} bytes`);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const index = Number(view.getBigUint64(0));
  const term = Number(view.getBigUint64(8));
  const sizeBytes = Number(view.getBigUint64(16));
  const configLength = view.getUint32(24);
  if (payload.length !== 28 + configLength) throw corruptRecord(what, 'config length does not match the record size');
  if (![index, term, sizeBytes].every(Number.isSafeInteger)) throw corruptRecord(what, 'a number beyond 2^53');
  let parsed: unknown;
  try {
    parsed = JSON.parse(decodeUtf8(payload.subarray(28), what));
  } catch (error) {
    if (error instanceof TsraftError) throw error;
    // JSON.parse throws SyntaxError for bad input: stored bytes, not a bug.
    throw corruptRecord(what, 'config is not valid JSON');
  }
  return { index, term, sizeBytes, config: validateConfig(parsed, what) };
}

export function encodeSnapshotMeta(meta: SnapshotMeta): Uint8Array {
  return sealRecord(encodeSnapshotMetaPayload(meta));
}

export function decodeSnapshotMeta(record: Uint8Array): SnapshotMeta {
  return decodeSnapshotMetaPayload(openRecord(record, 'snapshot metadata'), 'snapshot metadata');
}

/** The format marker: the storage layout version this data directory uses. */
export function encodeFormatMarker(formatVersion: number): Uint8Array {
  assert(Number.isInteger(formatVersion) && formatVersion >= 1 && formatVersion <= 255, `format version ${formatVersion}`);
  return sealRecord(Uint8Array.of(formatVersion));
}

export function decodeFormatMarker(record: Uint8Array): number {
  const payload = openRecord(record, 'format marker');
  if (payload.length !== 1) throw corruptRecord('format marker', `payload is ${payload.length} bytes`);
  return payload[0]!;
}

function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return textDecoder.decode(bytes);
  } catch (error) {
    // A fatal TextDecoder throws TypeError on invalid UTF-8: bad stored bytes, not a bug.
    throw corruptRecord(what, 'invalid UTF-8');
  }
}

function validateConfig(value: unknown, what: string): ConfigState {
  const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
  if (typeof value !== 'object' || value === null) throw corruptRecord(what, 'config is not an object');
  const { voters, learners, contexts } = value as Record<string, unknown>;
  if (!isStringArray(voters) || !isStringArray(learners)) throw corruptRecord(what, 'config voters/learners are not string arrays');
  if (typeof contexts !== 'object' || contexts === null || Array.isArray(contexts)) throw corruptRecord(what, 'config contexts is not an object');
  const copy: Record<string, string> = {};
  for (const [id, context] of Object.entries(contexts)) {
    if (typeof context !== 'string') throw corruptRecord(what, `config context of ${id} is not a string`);
    copy[id] = context;
  }
  return { voters: [...voters], learners: [...learners], contexts: copy };
}
