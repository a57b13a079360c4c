import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TsraftError } from '../../src/errors.js';
import type { Entry } from '../../src/raft/types.js';
import { decodeEntry, encodeEntry } from '../../src/storage/entry-codec.js';
import { decodeHardState, decodeSnapshotMeta, encodeHardState, encodeSnapshotMeta } from '../../src/storage/record-codec.js';
import { decodeSnapshotFile, encodeSnapshotFile } from '../../src/storage/snapshot-file-codec.js';

const entryArb: fc.Arbitrary<Entry> = fc.record({
  index: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  term: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  kind: fc.constantFrom('normal' as const, 'config' as const),
  data: fc.uint8Array({ maxLength: 300 }),
});

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof TsraftError) return error.code;
    throw error;
  }
  return undefined;
}

describe('entry codec', () => {
  it('round-trips every entry bit-exactly', () => {
    fc.assert(
      fc.property(entryArb, (entry) => {
        const decoded = decodeEntry(encodeEntry(entry), entry.index);
        expect({ ...decoded, data: [...decoded.data] }).toEqual({ ...entry, data: [...entry.data] });
      }),
    );
  });

  it('detects any single flipped bit as a corrupt log entry', () => {
    fc.assert(
      fc.property(entryArb, fc.nat(), (entry, where) => {
        const record = encodeEntry(entry);
        const bit = where % (record.length * 8);
        record[bit >> 3]! ^= 1 << (bit & 7);
        expect(codeOf(() => decodeEntry(record, entry.index))).toBe('TSR_ERR_CORRUPT_LOG');
      }),
    );
  });

  it('detects a record cut short', () => {
    const record = encodeEntry({ index: 5, term: 1, kind: 'normal', data: new Uint8Array(40) });
    for (const length of [0, 10, 25, record.length - 1]) expect(codeOf(() => decodeEntry(record.subarray(0, length), 5))).toBe('TSR_ERR_CORRUPT_LOG');
  });

  it('detects a valid record stored under another index', () => {
    const record = encodeEntry({ index: 5, term: 1, kind: 'normal', data: Uint8Array.of(1) });
    expect(codeOf(() => decodeEntry(record, 6))).toBe('TSR_ERR_CORRUPT_LOG');
  });
});

describe('small records', () => {
  it('round-trip the hard state, with and without a vote', () => {
    for (const hardState of [{ term: 0, vote: null, commit: 0 }, { term: 2 ** 40, vote: 'node-é', commit: 77 }]) {
      expect(decodeHardState(encodeHardState(hardState))).toEqual(hardState);
    }
  });

  it('round-trip snapshot metadata with its configuration', () => {
    const meta = { index: 9, term: 3, sizeBytes: 1234, config: { voters: ['a', 'b'], learners: ['c'], contexts: { a: 'wss://x:1/raft' } } };
    expect(decodeSnapshotMeta(encodeSnapshotMeta(meta))).toEqual(meta);
  });

  it('detect a flipped bit in the hard state', () => {
    const record = encodeHardState({ term: 3, vote: 'n1', commit: 2 });
    record[4]! ^= 2;
    expect(codeOf(() => decodeHardState(record))).toBe('TSR_ERR_CORRUPT_LOG');
  });
});

describe('snapshot file codec', () => {
  const meta = { index: 9, term: 3, sizeBytes: 100, config: { voters: ['a'], learners: [], contexts: {} } };

  it('round-trips metadata and data', () => {
    const data = new Uint8Array(100).map((_, i) => i);
    const decoded = decodeSnapshotFile(encodeSnapshotFile(meta, data), 'test');
    expect(decoded.meta).toEqual(meta);
    expect([...decoded.data]).toEqual([...data]);
  });

  it('detects a flipped bit anywhere in the file', () => {
    const file = encodeSnapshotFile(meta, new Uint8Array(100).fill(7));
    fc.assert(
      fc.property(fc.nat(file.length * 8 - 1), (bit) => {
        const damaged = file.slice();
        damaged[bit >> 3]! ^= 1 << (bit & 7);
        expect(codeOf(() => decodeSnapshotFile(damaged, 'test'))).toBe('TSR_ERR_CORRUPT_SNAPSHOT');
      }),
    );
  });
});
