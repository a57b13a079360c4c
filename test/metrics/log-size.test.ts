// LogSizeTracker follows the Raft log through load, save and compact; it must
// agree with a plain list of the stored entries after any valid sequence.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LogSizeTracker } from '../../src/metrics/log-size.js';
import type { Entry } from '../../src/raft/types.js';

function entry(index: number, size: number): Entry {
  return { index, term: 1, kind: 'normal', data: new Uint8Array(size) };
}

type Op =
  | { kind: 'append'; fromBack: number; sizes: number[] }
  | { kind: 'compact'; back: number }
  | { kind: 'install'; ahead: number; sizes: number[] };

const sizes = fc.array(fc.nat({ max: 300 }), { maxLength: 6 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('append' as const), fromBack: fc.nat({ max: 4 }), sizes }),
  fc.record({ kind: fc.constant('compact' as const), back: fc.nat({ max: 8 }) }),
  fc.record({ kind: fc.constant('install' as const), ahead: fc.integer({ min: -3, max: 5 }), sizes }),
);

describe('LogSizeTracker', () => {
  it('counts the entries and payload bytes a store holds after load, appends, truncations and compactions', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 200 }), { maxLength: 8 }), fc.nat({ max: 20 }), fc.array(op, { maxLength: 40 }), (initial, snapshotIndex, ops) => {
        const tracker = new LogSizeTracker();
        // The reference: the stored entries, as a store holds them.
        let stored = initial.map((size, i) => ({ index: snapshotIndex + 1 + i, size }));
        let compactedThrough = snapshotIndex;
        tracker.onLoad({ hardState: { term: 1, vote: null, commit: 0 }, snapshot: null, entries: stored.map((e) => entry(e.index, e.size)) });
        const last = (): number => stored[stored.length - 1]?.index ?? compactedThrough;
        for (const o of ops) {
          if (o.kind === 'append') {
            const from = Math.max(compactedThrough + 1, last() + 1 - o.fromBack);
            const entries = o.sizes.map((size, i) => entry(from + i, size));
            tracker.onSave({ hardState: null, entries, snapshot: null });
            if (entries.length > 0) stored = stored.filter((e) => e.index < from).concat(o.sizes.map((size, i) => ({ index: from + i, size })));
          } else if (o.kind === 'compact') {
            const upTo = Math.max(compactedThrough, last() - o.back);
            tracker.dropThrough(upTo);
            stored = stored.filter((e) => e.index > upTo);
            compactedThrough = upTo;
          } else {
            const index = Math.max(compactedThrough, last() + o.ahead);
            const entries = o.sizes.map((size, i) => entry(index + 1 + i, size));
            tracker.onSave({ hardState: null, entries, snapshot: { index, term: 1, config: { voters: [], learners: [], contexts: {} }, sizeBytes: 0 } });
            stored = stored.filter((e) => e.index > index && (entries.length === 0 || e.index < index + 1));
            stored = stored.concat(o.sizes.map((size, i) => ({ index: index + 1 + i, size })));
            compactedThrough = index;
          }
          expect(tracker.entries).toBe(stored.length);
          expect(tracker.bytes).toBe(stored.reduce((sum, e) => sum + e.size, 0));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('starts empty and counts an empty load as nothing', () => {
    const tracker = new LogSizeTracker();
    tracker.onLoad({ hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] });
    expect([tracker.entries, tracker.bytes]).toEqual([0, 0]);
    tracker.onSave({ hardState: null, entries: [entry(1, 10), entry(2, 5)], snapshot: null });
    expect([tracker.entries, tracker.bytes]).toEqual([2, 15]);
  });
});
