import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Entry, Message, SnapshotMeta } from '../../src/raft/types.js';
import { buildFrame, buildMessagesFrame, decodeMessagesPayload, encodeCbor, encodeMessage, FrameKind, parseFrame, SCHEMAS } from '../../src/transport/frame-codec.js';

const id = fc.string({ minLength: 1, maxLength: 12 });
const uint = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const small = fc.nat(1_000_000);
const bytes = fc.uint8Array({ maxLength: 64 });
const entry: fc.Arbitrary<Entry> = fc.record({ index: uint, term: uint, kind: fc.constantFrom('normal' as const, 'config' as const), data: bytes });
const meta: fc.Arbitrary<SnapshotMeta> = fc.record({
  index: uint,
  term: uint,
  sizeBytes: small,
  config: fc.record({ voters: fc.array(id, { maxLength: 5 }), learners: fc.array(id, { maxLength: 3 }), contexts: fc.dictionary(id, fc.string({ maxLength: 40 }), { maxKeys: 4 }) }),
});
const base = { from: id, to: id, term: uint };

const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ type: fc.constant('prevote' as const), ...base, lastIndex: uint, lastTerm: uint }),
  fc.record({ type: fc.constant('prevote-resp' as const), ...base, reject: fc.boolean() }),
  fc.record({ type: fc.constant('vote' as const), ...base, lastIndex: uint, lastTerm: uint, transfer: fc.boolean() }),
  fc.record({ type: fc.constant('vote-resp' as const), ...base, reject: fc.boolean() }),
  fc.record({ type: fc.constant('append' as const), ...base, prevIndex: uint, prevTerm: uint, entries: fc.array(entry, { maxLength: 4 }), commit: uint }),
  fc.record({ type: fc.constant('append-resp' as const), ...base, reject: fc.boolean(), index: uint, hintIndex: uint, hintTerm: uint }),
  fc.record({ type: fc.constant('heartbeat' as const), ...base, commit: uint, readRound: uint }),
  fc.record({ type: fc.constant('heartbeat-resp' as const), ...base, readRound: uint }),
  fc.record({ type: fc.constant('snapshot' as const), ...base, meta, offset: small, length: small, data: bytes, done: fc.boolean() }),
  fc.record({ type: fc.constant('snapshot-resp' as const), ...base, snapshotIndex: uint, nextOffset: small, done: fc.boolean(), reject: fc.boolean() }),
  fc.record({ type: fc.constant('timeout-now' as const), ...base }),
  fc.record({ type: fc.constant('read-index' as const), ...base, requestId: id }),
  fc.record({ type: fc.constant('read-index-resp' as const), ...base, requestId: id, index: uint, reject: fc.boolean() }),
);

/** Uint8Arrays (and Buffers) compared by content. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: [...value] };
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

function decodeFrame(frame: Uint8Array): ReturnType<typeof decodeMessagesPayload> {
  const parsed = parseFrame(frame, 1 << 20);
  if (!parsed.ok || parsed.kind !== FrameKind.messages) throw new Error('not a messages frame');
  return decodeMessagesPayload(parsed.payload);
}

const heartbeat: Message = { type: 'heartbeat', from: 'a', to: 'b', term: 3, commit: 7, readRound: 0 };

describe('frame codec', () => {
  it('covers every message type in the schema table', () => {
    expect(Object.keys(SCHEMAS).sort()).toEqual(
      ['append', 'append-resp', 'heartbeat', 'heartbeat-resp', 'prevote', 'prevote-resp', 'read-index', 'read-index-resp', 'snapshot', 'snapshot-resp', 'timeout-now', 'vote', 'vote-resp'].sort(),
    );
  });

  it('round-trips batches of every message type bit-exactly', () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 8 }), (messages) => {
        const decoded = decodeFrame(buildMessagesFrame(messages.map(encodeMessage)));
        expect(decoded.frameMalformed).toBe(false);
        expect(decoded.malformed).toBe(0);
        expect(plain(decoded.messages)).toEqual(plain(messages));
      }),
    );
  });

  it('round-trips batches longer than the short CBOR array header', () => {
    for (const count of [23, 24, 255, 256, 70_000]) {
      const decoded = decodeFrame(buildMessagesFrame(Array.from({ length: count }, () => encodeMessage(heartbeat))));
      expect(decoded.messages).toHaveLength(count);
    }
  });

  it('drops malformed items and keeps the valid ones', () => {
    const items = [
      [7, 'a', 'b', 3, 7, 0], // a valid heartbeat
      [7, 'a', 'b', -1, 7, 0], // negative term
      [7, 'a', 'b', 3, 7], // missing field
      [7, 'a', 'b', 3, 7, 0, 1], // extra field
      [99, 'a', 'b', 3], // unknown type
      [7, '', 'b', 3, 7, 0], // empty node id
      [7, 'a', 'b', 1.5, 7, 0], // not an integer
      [7, 'a', 'b', 2 ** 60, 7, 0], // beyond 2^53
      [5, 'a', 'b', 1, 0, 0, [[1, 1, 7, new Uint8Array(0)]], 0], // unknown entry kind
      [5, 'a', 'b', 1, 0, 0, [[1, 1, 0, 'text']], 0], // entry data not bytes
      'not an array',
      new Map([['type', 'heartbeat']]),
    ];
    const decoded = decodeMessagesPayload(encodeCbor(items));
    expect(decoded.messages).toEqual([heartbeat]);
    expect(decoded.malformed).toBe(items.length - 1);
  });

  it('keeps a context id named __proto__ as a plain key', () => {
    const snapshot = encodeCbor([[9, 'a', 'b', 1, [1, 1, 0, ['a'], [], [['__proto__', 'x']]], 0, 0, new Uint8Array(0), true]]);
    const [decoded] = decodeMessagesPayload(snapshot).messages as Array<Extract<Message, { type: 'snapshot' }>>;
    expect(Object.getPrototypeOf(decoded!.meta.config.contexts)).toBe(Object.prototype);
    expect(Object.keys(decoded!.meta.config.contexts)).toEqual(['__proto__']);
  });

  it('marks a payload that is not a CBOR array as a malformed frame', () => {
    expect(decodeMessagesPayload(Uint8Array.of(0xff, 0x00, 0x13)).frameMalformed).toBe(true);
    expect(decodeMessagesPayload(encodeCbor({ not: 'an array' })).frameMalformed).toBe(true);
    expect(decodeMessagesPayload(Uint8Array.of(0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)).frameMalformed).toBe(true);
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (garbage) => {
        const decoded = decodeMessagesPayload(garbage);
        expect(decoded.messages.length + decoded.malformed >= 0).toBe(true);
      }),
    );
  });

  it('refuses frames over the size limit, of another version or too short', () => {
    const frame = buildFrame(FrameKind.messages, []);
    expect(parseFrame(frame, frame.length - 1)).toEqual({ ok: false, reason: 'too-large' });
    expect(parseFrame(Uint8Array.of(2, 16, 0x80), 100)).toEqual({ ok: false, reason: 'bad-version' });
    expect(parseFrame(Uint8Array.of(1), 100)).toEqual({ ok: false, reason: 'too-short' });
    expect(parseFrame(frame, frame.length).ok).toBe(true);
  });
});
