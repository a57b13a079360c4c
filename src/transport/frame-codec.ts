// Peer frames on the wire (docs/transport.md, "Frames"): every WebSocket
// binary message is `version (1) | kind (1) | CBOR payload`. A `messages`
// frame's payload is a CBOR array of Raft messages, each a CBOR array
// `[typeCode, from, to, term, ...fields]` in the order of SCHEMAS below.
//
// Decoding never throws: peer bytes that do not fit the schema are dropped
// and counted by the caller. The Raft core validates what it receives again.
import { Decoder, Encoder } from 'cbor-x';
import { AssertionError, assert } from '../errors.js';
import type { ConfigState, Entry, EntryKind, Message, MessageType, SnapshotMeta } from '../raft/types.js';

export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 2;
export const FrameKind = {
  hello: 1,
  challenge: 2,
  proof: 3,
  welcome: 4,
  reject: 5,
  messages: 16,
} as const;
export type FrameKindCode = (typeof FrameKind)[keyof typeof FrameKind];

/** Bounds on strings inside messages (node ids, read request ids, peer URLs). */
export const MAX_ID_CHARS = 255;
export const MAX_CONTEXT_CHARS = 2048;
/** Bound on the members of a configuration carried by a snapshot message. */
export const MAX_CONFIG_MEMBERS = 1024;

// Plain CBOR: byte strings for Uint8Array (no typed-array tags), no records,
// no structured clone, maps as Map (never plain objects: no prototype keys).
const encoder = new Encoder({ useRecords: false, tagUint8Array: false, mapsAsObjects: false, pack: false, structuredClone: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: false, structuredClone: false, int64AsNumber: true } as ConstructorParameters<typeof Decoder>[0]);

export function encodeCbor(value: unknown): Uint8Array {
  return encoder.encode(value);
}

/** Decode CBOR from a peer; undefined when the bytes are not valid CBOR. */
export function decodeCbor(bytes: Uint8Array): { value: unknown } | undefined {
  try {
    return { value: decoder.decode(bytes) };
  } catch {
    // cbor-x throws plain Errors (and could throw RangeError on hostile
    // lengths) for bad input: these are peer bytes, not our bug.
    return undefined;
  }
}

type FieldKind = 'uint' | 'bool' | 'id' | 'bytes' | 'entries' | 'meta';
type FieldsOf<T extends MessageType> = Exclude<keyof Extract<Message, { type: T }>, 'type' | 'from' | 'to' | 'term'>;
type Schema = { [T in MessageType]: { code: number; fields: ReadonlyArray<readonly [FieldsOf<T>, FieldKind]> } };

/** Wire codes and field order. Append-only: never renumber a code or reorder fields. */
export const SCHEMAS: Schema = {
  prevote: { code: 1, fields: [['lastIndex', 'uint'], ['lastTerm', 'uint']] },
  'prevote-resp': { code: 2, fields: [['reject', 'bool']] },
  vote: { code: 3, fields: [['lastIndex', 'uint'], ['lastTerm', 'uint'], ['transfer', 'bool']] },
  'vote-resp': { code: 4, fields: [['reject', 'bool']] },
  append: { code: 5, fields: [['prevIndex', 'uint'], ['prevTerm', 'uint'], ['entries', 'entries'], ['commit', 'uint']] },
  'append-resp': { code: 6, fields: [['reject', 'bool'], ['index', 'uint'], ['hintIndex', 'uint'], ['hintTerm', 'uint']] },
  heartbeat: { code: 7, fields: [['commit', 'uint'], ['readRound', 'uint']] },
  'heartbeat-resp': { code: 8, fields: [['readRound', 'uint']] },
  snapshot: { code: 9, fields: [['meta', 'meta'], ['offset', 'uint'], ['length', 'uint'], ['data', 'bytes'], ['done', 'bool']] },
  'snapshot-resp': { code: 10, fields: [['snapshotIndex', 'uint'], ['nextOffset', 'uint'], ['done', 'bool'], ['reject', 'bool']] },
  'timeout-now': { code: 11, fields: [] },
  'read-index': { code: 12, fields: [['requestId', 'id']] },
  'read-index-resp': { code: 13, fields: [['requestId', 'id'], ['index', 'uint'], ['reject', 'bool']] },
};

const TYPES_BY_CODE = new Map<number, MessageType>(Object.entries(SCHEMAS).map(([type, schema]) => [schema.code, type as MessageType]));
const ENTRY_KINDS: readonly EntryKind[] = ['normal', 'config'];

/** Heartbeats are superseded by the next one: the first to go when a queue is full. */
export function isDroppableMessage(message: Message): boolean {
  return message.type === 'heartbeat' || message.type === 'heartbeat-resp';
}

function encodeField(kind: FieldKind, value: unknown): unknown {
  if (kind === 'entries') return (value as Entry[]).map((e) => [e.index, e.term, ENTRY_KINDS.indexOf(e.kind), e.data]);
  if (kind === 'meta') {
    const meta = value as SnapshotMeta;
    return [meta.index, meta.term, meta.sizeBytes, meta.config.voters, meta.config.learners, Object.entries(meta.config.contexts)];
  }
  return value;
}

/** CBOR of one message as it sits inside a messages frame. */
export function encodeMessage(message: Message): Uint8Array {
  const schema = SCHEMAS[message.type];
  assert(schema !== undefined, `encodeMessage: unknown type ${String(message.type)}`);
  const record = message as unknown as Record<string, unknown>;
  const wire: unknown[] = [schema.code, message.from, message.to, message.term];
  for (const [name, kind] of schema.fields) wire.push(encodeField(kind, record[name as string]));
  return encodeCbor(wire);
}

/** Bytes of the CBOR array header for `count` items. */
function arrayHeader(count: number): Uint8Array {
  if (!(Number.isInteger(count) && count >= 0 && count <= 0xffffffff)) throw new AssertionError(`arrayHeader: ${count}`);
  if (count < 24) return Uint8Array.of(0x80 + count);
  if (count < 0x100) return Uint8Array.of(0x98, count);
  if (count < 0x10000) return Uint8Array.of(0x99, count >> 8, count & 0xff);
  return Uint8Array.of(0x9a, count >>> 24, (count >>> 16) & 0xff, (count >>> 8) & 0xff, count & 0xff);
}

/** Frame header plus the largest CBOR array header: bytes a frame adds to its messages. */
export const MESSAGES_FRAME_OVERHEAD_BYTES = FRAME_HEADER_BYTES + 5;

/** A messages frame from already-encoded messages (encodeMessage output). */
export function buildMessagesFrame(encodedMessages: readonly Uint8Array[]): Uint8Array {
  const header = arrayHeader(encodedMessages.length);
  let total = FRAME_HEADER_BYTES + header.length;
  for (const m of encodedMessages) total += m.length;
  const frame = new Uint8Array(total);
  frame[0] = FRAME_VERSION;
  frame[1] = FrameKind.messages;
  frame.set(header, FRAME_HEADER_BYTES);
  let at = FRAME_HEADER_BYTES + header.length;
  for (const m of encodedMessages) {
    frame.set(m, at);
    at += m.length;
  }
  assert(at === total, 'buildMessagesFrame: size mismatch');
  return frame;
}

export function buildFrame(kind: FrameKindCode, payload: unknown): Uint8Array {
  const body = encodeCbor(payload);
  const frame = new Uint8Array(FRAME_HEADER_BYTES + body.length);
  frame[0] = FRAME_VERSION;
  frame[1] = kind;
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
}

export type FrameRejection = 'too-large' | 'bad-version' | 'too-short';
export type ParsedFrame = { ok: true; kind: number; payload: Uint8Array } | { ok: false; reason: FrameRejection };

export function parseFrame(frame: Uint8Array, maxFrameBytes: number): ParsedFrame {
  if (frame.length > maxFrameBytes) return { ok: false, reason: 'too-large' };
  if (frame.length < FRAME_HEADER_BYTES) return { ok: false, reason: 'too-short' };
  if (frame[0] !== FRAME_VERSION) return { ok: false, reason: 'bad-version' };
  return { ok: true, kind: frame[1]!, payload: frame.subarray(FRAME_HEADER_BYTES) };
}

export interface DecodedMessages {
  messages: Message[];
  /** Array items that did not match any message schema (dropped). */
  malformed: number;
  /** The payload was not a CBOR array at all (the whole frame dropped). */
  frameMalformed: boolean;
}

export function decodeMessagesPayload(payload: Uint8Array): DecodedMessages {
  const decoded = decodeCbor(payload);
  if (decoded === undefined || !Array.isArray(decoded.value)) return { messages: [], malformed: 0, frameMalformed: true };
  const messages: Message[] = [];
  let malformed = 0;
  for (const item of decoded.value as unknown[]) {
    const message = validateWireMessage(item);
    if (message === null) malformed += 1;
    else messages.push(message);
  }
  return { messages, malformed, frameMalformed: false };
}

const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_CHARS;
const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;

/** A Raft message from its wire array, or null when anything does not fit. */
export function validateWireMessage(item: unknown): Message | null {
  if (!Array.isArray(item) || item.length < 4) return null;
  const [code, from, to, term] = item as unknown[];
  const type = typeof code === 'number' ? TYPES_BY_CODE.get(code) : undefined;
  if (type === undefined || !isId(from) || !isId(to) || !isUint(term)) return null;
  const schema = SCHEMAS[type];
  if (item.length !== 4 + schema.fields.length) return null;
  const message: Record<string, unknown> = { type, from, to, term };
  for (let i = 0; i < schema.fields.length; i++) {
    const [name, kind] = schema.fields[i]!;
    const value = decodeField(kind, item[4 + i]);
    if (value === undefined) return null;
    message[name as string] = value;
  }
  return message as unknown as Message;
}

function decodeField(kind: FieldKind, value: unknown): unknown {
  switch (kind) {
    case 'uint':
      return isUint(value) ? value : undefined;
    case 'bool':
      return typeof value === 'boolean' ? value : undefined;
    case 'id':
      return isId(value) ? value : undefined;
    case 'bytes':
      return isBytes(value) ? value : undefined;
    case 'entries':
      return decodeEntries(value);
    case 'meta':
      return decodeMeta(value);
  }
}

function decodeEntries(value: unknown): Entry[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const entries: Entry[] = [];
  for (const item of value as unknown[]) {
    if (!Array.isArray(item) || item.length !== 4) return undefined;
    const [index, term, kindCode, data] = item as unknown[];
    const kind = typeof kindCode === 'number' ? ENTRY_KINDS[kindCode] : undefined;
    if (!isUint(index) || !isUint(term) || kind === undefined || !isBytes(data)) return undefined;
    entries.push({ index, term, kind, data });
  }
  return entries;
}

function decodeMeta(value: unknown): SnapshotMeta | undefined {
  if (!Array.isArray(value) || value.length !== 6) return undefined;
  const [index, term, sizeBytes, voters, learners, contexts] = value as unknown[];
  if (!isUint(index) || !isUint(term) || !isUint(sizeBytes)) return undefined;
  const isIdList = (v: unknown): v is string[] => Array.isArray(v) && v.length <= MAX_CONFIG_MEMBERS && v.every(isId);
  if (!isIdList(voters) || !isIdList(learners) || !Array.isArray(contexts) || contexts.length > MAX_CONFIG_MEMBERS) return undefined;
  const config: ConfigState = { voters, learners, contexts: {} };
  for (const pair of contexts as unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2) return undefined;
    const [id, context] = pair as unknown[];
    if (!isId(id) || typeof context !== 'string' || context.length > MAX_CONTEXT_CHARS) return undefined;
    // defineProperty: an id such as "__proto__" stays a plain key.
    Object.defineProperty(config.contexts, id, { value: context, enumerable: true, writable: true, configurable: true });
  }
  return { index, term, sizeBytes, config };
}
