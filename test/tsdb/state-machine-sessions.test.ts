// Exactly-once sessions and the command envelope, tested on their own; the
// state machine tests cover them again end to end.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteReader, ByteWriter } from '../../src/tsdb/byte-io.js';
import { decodeCommand, encodeCommand, type Command } from '../../src/tsdb/command.js';
import { ClientSessions, type WriteOutcome } from '../../src/tsdb/sessions.js';

const outcome = (storedCount: number): WriteOutcome => ({ storedCount, rejectedCount: 0, errors: [] });

describe('client sessions', () => {
  it('applies a new sequence and answers its retry from the cache', () => {
    const sessions = new ClientSessions();
    expect(sessions.begin('c1', 1, 1, 10)).toEqual({ kind: 'apply' });
    sessions.recordResult('c1', 1, outcome(5));
    expect(sessions.begin('c1', 1, 1, 11)).toEqual({ kind: 'duplicate', outcome: outcome(5) });
  });

  it('applies pipelined sequences that commit out of order exactly once each', () => {
    const sessions = new ClientSessions();
    expect(sessions.begin('c1', 2, 1, 10).kind).toBe('apply');
    sessions.recordResult('c1', 2, outcome(2));
    expect(sessions.begin('c1', 1, 1, 11).kind).toBe('apply');
    sessions.recordResult('c1', 1, outcome(1));
    expect(sessions.begin('c1', 2, 1, 12)).toEqual({ kind: 'duplicate', outcome: outcome(2) });
    expect(sessions.begin('c1', 1, 1, 13)).toEqual({ kind: 'duplicate', outcome: outcome(1) });
  });

  it('forgets results the client acknowledged and refuses their late duplicates', () => {
    const sessions = new ClientSessions();
    sessions.begin('c1', 1, 1, 10);
    sessions.recordResult('c1', 1, outcome(1));
    expect(sessions.begin('c1', 2, 2, 11).kind).toBe('apply');
    sessions.recordResult('c1', 2, outcome(1));
    expect(sessions.describe()[0]!.cachedSequences).toEqual([2]);
    expect(sessions.begin('c1', 1, 1, 12)).toEqual({ kind: 'expired', reason: 'result_forgotten' });
  });

  it('keeps at most maxResultsPerSession results, forgetting the smallest sequence', () => {
    const sessions = new ClientSessions({ maxResultsPerSession: 2 });
    for (let seq = 1; seq <= 3; seq++) {
      expect(sessions.begin('c1', seq, 1, 10 + seq).kind).toBe('apply');
      sessions.recordResult('c1', seq, outcome(seq));
    }
    expect(sessions.describe()[0]).toMatchObject({ forgottenThroughSequence: 1, cachedSequences: [2, 3] });
    expect(sessions.begin('c1', 1, 1, 20)).toEqual({ kind: 'expired', reason: 'result_forgotten' });
    expect(sessions.begin('c1', 3, 1, 21)).toEqual({ kind: 'duplicate', outcome: outcome(3) });
  });

  it('evicts the least recently used session beyond maxSessions', () => {
    const sessions = new ClientSessions({ maxSessions: 2 });
    sessions.begin('a', 1, 1, 1);
    sessions.recordResult('a', 1, outcome(1));
    sessions.begin('b', 1, 1, 2);
    sessions.recordResult('b', 1, outcome(1));
    sessions.begin('a', 2, 2, 3); // a is now the most recent
    sessions.recordResult('a', 2, outcome(1));
    sessions.begin('c', 1, 1, 4);
    sessions.recordResult('c', 1, outcome(1));
    expect(sessions.describe().map((s) => s.clientId)).toEqual(['a', 'c']);
    expect(sessions.evictedCount).toBe(1);
  });

  it('refuses a write from an evicted client instead of applying it again', () => {
    const sessions = new ClientSessions({ maxSessions: 1 });
    sessions.begin('a', 1, 1, 1);
    sessions.recordResult('a', 1, outcome(1));
    sessions.begin('b', 1, 1, 2);
    sessions.recordResult('b', 1, outcome(1));
    expect(sessions.begin('a', 2, 2, 3)).toEqual({ kind: 'expired', reason: 'unknown_session' });
  });

  it('serializes and restores to the same bytes, recency order included', () => {
    const sessions = new ClientSessions({ maxSessions: 3 });
    const script: [string, number, number][] = [['a', 1, 1], ['b', 1, 1], ['a', 2, 1], ['c', 1, 1], ['b', 2, 2]];
    script.forEach(([id, seq, ack], i) => {
      sessions.begin(id, seq, ack, i + 1);
      sessions.recordResult(id, seq, {
        storedCount: 1,
        rejectedCount: 1,
        errors: [{ index: 0, code: 'TSR_ERR_SERIES_LIMIT', message: 'full', details: { field: 'series', reason: 'series_limit' } }],
      });
    });
    const w = new ByteWriter();
    sessions.serialize(w);
    const bytes = w.finish().slice();
    const restored = ClientSessions.deserialize(new ByteReader(bytes, 'TSR_ERR_CORRUPT_SNAPSHOT', 'sessions'), sessions.limits, 64);
    const again = new ByteWriter();
    restored.serialize(again);
    expect(again.finish()).toEqual(bytes);
    expect(restored.describe()).toEqual(sessions.describe());
  });
});

describe('log entry commands', () => {
  const batch = new Uint8Array([1, 2, 3]);
  const commands: Command[] = [
    { type: 'write', clientId: 'client-7', sequence: 9, firstUnackedSequence: 4, leaderTimeMs: 1_700_000_000_000, batch },
    { type: 'write', clientId: '', sequence: 0, firstUnackedSequence: 0, leaderTimeMs: 5, batch },
    { type: 'retention', leaderTimeMs: 1_700_000_000_000, retentionMs: 86_400_000 },
    { type: 'noop' },
    {
      type: 'writes',
      leaderTimeMs: 1_700_000_000_001,
      writes: [
        { clientId: 'client-7', sequence: 10, firstUnackedSequence: 4, batch },
        { clientId: '', sequence: 0, firstUnackedSequence: 0, batch: new Uint8Array([9]) },
        { clientId: 'client-7', sequence: 11, firstUnackedSequence: 4, batch: new Uint8Array(0) },
      ],
    },
  ];

  it('round-trips every command type', () => {
    for (const cmd of commands) expect(decodeCommand(encodeCommand(cmd))).toEqual(cmd);
  });

  it('reads an empty entry (the leader no-op) as a noop', () => {
    expect(decodeCommand(new Uint8Array(0))).toEqual({ type: 'noop' });
  });

  it('detects a flipped header byte', () => {
    const bytes = encodeCommand(commands[0]!);
    const headerLength = bytes.length - batch.length;
    for (let i = 2; i < headerLength; i++) {
      const copy = bytes.slice();
      copy[i]! ^= 0x01;
      expect(() => decodeCommand(copy), `byte ${i}`).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_ENTRY' }));
    }
  });

  it('refuses unknown command types and versions as unsupported', () => {
    const unknownType = encodeCommand({ type: 'noop' }).slice();
    unknownType[0] = 77;
    expect(() => decodeCommand(unknownType)).toThrow(expect.objectContaining({ code: 'TSR_ERR_UNSUPPORTED_ENTRY' }));
    const newerVersion = encodeCommand({ type: 'noop' }).slice();
    newerVersion[1] = 2;
    expect(() => decodeCommand(newerVersion)).toThrow(expect.objectContaining({ code: 'TSR_ERR_UNSUPPORTED_ENTRY' }));
  });

  it('refuses malformed session fields when encoding', () => {
    expect(() => encodeCommand({ type: 'write', clientId: 'c', sequence: 3, firstUnackedSequence: 4, leaderTimeMs: 1, batch })).toThrow(
      expect.objectContaining({ code: 'TSR_ERR_INVALID_ARGUMENT' }),
    );
    expect(() => encodeCommand({ type: 'write', clientId: 'x'.repeat(65), sequence: 1, firstUnackedSequence: 1, leaderTimeMs: 1, batch })).toThrow(
      expect.objectContaining({ code: 'TSR_ERR_INVALID_ARGUMENT' }),
    );
  });

  it('detects a flipped header byte of a writes command, and batch lengths that do not add up', () => {
    const writes = commands.find((c) => c.type === 'writes')!;
    const bytes = encodeCommand(writes);
    const headerLength = bytes.length - 4; // the batches: 3 + 1 + 0 bytes
    for (let i = 2; i < headerLength; i++) {
      const copy = bytes.slice();
      copy[i]! ^= 0x01;
      expect(() => decodeCommand(copy), `byte ${i}`).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_ENTRY' }));
    }
    expect(() => decodeCommand(bytes.subarray(0, bytes.length - 1))).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_ENTRY' }));
  });

  it('refuses a writes command without writes or with a malformed session', () => {
    expect(() => encodeCommand({ type: 'writes', leaderTimeMs: 1, writes: [] })).toThrow(expect.objectContaining({ code: 'TSR_ERR_INVALID_ARGUMENT' }));
    expect(() => encodeCommand({ type: 'writes', leaderTimeMs: 1, writes: [{ clientId: 'c', sequence: 0, firstUnackedSequence: 0, batch }] })).toThrow(
      expect.objectContaining({ code: 'TSR_ERR_INVALID_ARGUMENT' }),
    );
  });

  it('bounds a client id by its UTF-8 bytes, surrogates included', () => {
    const utf8 = new TextEncoder();
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(fc.constant('é'), fc.constant('東'), fc.constant('😀'), fc.constant('\ud800'), fc.constant('a')), minLength: 1, maxLength: 40 }), (clientId) => {
        const write = { type: 'write' as const, clientId, sequence: 1, firstUnackedSequence: 1, leaderTimeMs: 1, batch };
        if (utf8.encode(clientId).length <= 64) expect(decodeCommand(encodeCommand(write))).toMatchObject({ clientId: clientId.replace(/[\ud800-\udbff](?![\udc00-\udfff])/g, '\ufffd') });
        else expect(() => encodeCommand(write)).toThrow(expect.objectContaining({ code: 'TSR_ERR_INVALID_ARGUMENT' }));
      }),
      { numRuns: 300 },
    );
  });
});
