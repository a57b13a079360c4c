import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionError, TsraftError } from '../../src/errors.js';
import { encodeCommand } from '../../src/tsdb/command.js';
import { exactValue, type PointColumns } from '../../src/tsdb/points.js';
import { TimeSeriesStateMachine, type ApplyResult } from '../../src/tsdb/state-machine.js';
import { validatePoints, type RawPoint } from '../../src/tsdb/validate.js';
import { writeEntry as entry } from './entries.js';
import { WriteBatchBuilder } from '../../src/tsdb/write-batch.js';

const T0 = 1_356_998_400_000; // 2013-01-01T00:00:00Z, a block boundary for 1 h and 2 h spans
const HOUR = 3_600_000;

interface Session {
  clientId: string;
  sequence: number;
  firstUnackedSequence: number;
}

function writeEntry(points: RawPoint[], session?: Session, leaderTimeMs = T0): Uint8Array {
  return entry(points, leaderTimeMs, session);
}

/** writeEntry() with the series `sm` holds given by id (what a leader writes). */
function writeEntryById(sm: TimeSeriesStateMachine, points: RawPoint[], session?: Session, leaderTimeMs = T0): Uint8Array {
  return entry(points, leaderTimeMs, session, (key) => sm.seriesIdOf(key));
}

function point(metric: string, host: string, timestampMs: number, value: number | string): RawPoint {
  return { metric, timestamp: timestampMs, value, tags: { host } };
}

function readAll(sm: TimeSeriesStateMachine, metric: string, host: string): [number, number | bigint][] {
  const info = sm.seriesOfMetric(metric).find((s) => s.tags.host === host);
  if (info === undefined) return [];
  const cols: PointColumns = sm.readPoints(info.id, 0, Number.MAX_SAFE_INTEGER);
  return Array.from({ length: cols.length }, (_, i) => [cols.timestampsMs[i]!, exactValue(cols, i)]);
}

function writeResult(result: ApplyResult): Extract<ApplyResult, { kind: 'write' }> {
  expect(result.kind).toBe('write');
  return result as Extract<ApplyResult, { kind: 'write' }>;
}

describe('applying writes', () => {
  it('stores points and serves them through the series source', () => {
    const sm = new TimeSeriesStateMachine();
    const result = writeResult(
      sm.apply(1, writeEntry([point('cpu', 'a', T0, '1'), point('cpu', 'b', T0, '2.5'), point('cpu', 'a', T0 + 10_000, '3')])),
    );
    expect(result).toEqual({ kind: 'write', storedCount: 3, rejectedCount: 0, errors: [], duplicate: false });
    expect(sm.seriesOfMetric('cpu').map((s) => [s.id, s.tags.host])).toEqual([
      [0, 'a'],
      [1, 'b'],
    ]);
    expect(readAll(sm, 'cpu', 'a')).toEqual([
      [T0, 1n],
      [T0 + 10_000, 3n],
    ]);
    expect(readAll(sm, 'cpu', 'b')).toEqual([[T0, 2.5]]);
    expect(sm.appliedIndex).toBe(1);
  });

  it('keeps the last write of the same series and timestamp, within and across batches', () => {
    const sm = new TimeSeriesStateMachine();
    sm.apply(1, writeEntry([point('cpu', 'a', T0, '1'), point('cpu', 'a', T0, '2')]));
    expect(readAll(sm, 'cpu', 'a')).toEqual([[T0, 2n]]);
    sm.apply(2, writeEntry([point('cpu', 'a', T0, '7.5')]));
    expect(readAll(sm, 'cpu', 'a')).toEqual([[T0, 7.5]]);
  });

  it('reads out-of-order points back in time order', () => {
    const sm = new TimeSeriesStateMachine();
    sm.apply(1, writeEntry([point('cpu', 'a', T0 + 20_000, '3'), point('cpu', 'a', T0, '1')]));
    sm.apply(2, writeEntry([point('cpu', 'a', T0 + 10_000, '2')]));
    expect(readAll(sm, 'cpu', 'a').map(([ts]) => ts)).toEqual([T0, T0 + 10_000, T0 + 20_000]);
  });

  it('keeps int64 values near 2^63 exact', () => {
    const sm = new TimeSeriesStateMachine();
    sm.apply(1, writeEntry([point('counter', 'a', T0, '9223372036854775807'), point('counter', 'a', T0 + 1000, '-9223372036854775808')]));
    expect(readAll(sm, 'counter', 'a')).toEqual([
      [T0, 9223372036854775807n],
      [T0 + 1000, -9223372036854775808n],
    ]);
  });

  it('rejects points that would exceed maxSeries, each with its reason, and stores the rest', () => {
    const sm = new TimeSeriesStateMachine({ maxSeries: 2 });
    const result = writeResult(
      sm.apply(
        1,
        writeEntry([point('cpu', 'a', T0, '1'), point('cpu', 'b', T0, '1'), point('cpu', 'c', T0, '1'), point('cpu', 'a', T0 + 1000, '1'), point('cpu', 'c', T0 + 1000, '1')]),
      ),
    );
    expect(result.storedCount).toBe(3);
    expect(result.rejectedCount).toBe(2);
    expect(result.errors.map((e) => [e.index, e.code, e.details.reason])).toEqual([
      [2, 'TSR_ERR_SERIES_LIMIT', 'series_limit'],
      [4, 'TSR_ERR_SERIES_LIMIT', 'series_limit'],
    ]);
    expect(sm.stats().seriesCount).toBe(2);
  });

  it('keeps at most maxErrorsPerResult errors but counts every rejected point', () => {
    const sm = new TimeSeriesStateMachine({ maxSeries: 1, maxErrorsPerResult: 2 });
    const points = Array.from({ length: 6 }, (_, i) => point('cpu', `h${i}`, T0, '1'));
    const result = writeResult(sm.apply(1, writeEntry(points)));
    expect(result).toMatchObject({ storedCount: 1, rejectedCount: 5 });
    expect(result.errors.map((e) => e.index)).toEqual([1, 2]);
  });

  it('rejects a series whose time block is full without storing any of its points, and stores the others', () => {
    const sm = new TimeSeriesStateMachine({ maxPointsPerBlock: 3 });
    sm.apply(1, writeEntry([point('cpu', 'a', T0, '1'), point('cpu', 'a', T0 + 1000, '1')]));
    const result = writeResult(
      sm.apply(2, writeEntry([point('cpu', 'a', T0 + 2000, '2'), point('cpu', 'b', T0, '5'), point('cpu', 'a', T0 + 3000, '2'), point('cpu', 'a', T0, '9')])),
    );
    expect(result).toMatchObject({ storedCount: 1, rejectedCount: 3 });
    expect(result.errors.map((e) => [e.index, e.code, e.details.reason])).toEqual([
      [0, 'TSR_ERR_BLOCK_FULL', 'block_full'],
      [2, 'TSR_ERR_BLOCK_FULL', 'block_full'],
      [3, 'TSR_ERR_BLOCK_FULL', 'block_full'],
    ]);
    expect(readAll(sm, 'cpu', 'a')).toEqual([
      [T0, 1n],
      [T0 + 1000, 1n],
    ]);
    expect(readAll(sm, 'cpu', 'b')).toEqual([[T0, 5n]]);
  });

  it('treats an empty entry as a noop that advances the applied index', () => {
    const sm = new TimeSeriesStateMachine();
    expect(sm.apply(3, new Uint8Array(0))).toEqual({ kind: 'noop' });
    expect(sm.apply(4, encodeCommand({ type: 'noop' }))).toEqual({ kind: 'noop' });
    expect(sm.appliedIndex).toBe(4);
  });

  it('refuses to apply an index that does not advance', () => {
    const sm = new TimeSeriesStateMachine();
    sm.apply(5, new Uint8Array(0));
    expect(() => sm.apply(5, new Uint8Array(0))).toThrow(AssertionError);
  });

  it('throws on a corrupt entry without changing any state', () => {
    const sm = new TimeSeriesStateMachine();
    sm.apply(1, writeEntry([point('cpu', 'a', T0, '1')]));
    const before = sm.snapshot();
    const bad = writeEntry([point('cpu', 'a', T0 + 1000, '2'), point('mem', 'z', T0, '1')]).slice();
    bad[bad.length - 6]! ^= 0xff; // inside the batch, caught by its checksum
    expect(() => sm.apply(2, bad)).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_ENTRY' }));
    expect(sm.snapshot()).toEqual(before);
    expect(sm.appliedIndex).toBe(1);
  });
});

describe('exactly-once sessions', () => {
  it('answers a retried write from the session cache without applying it again', () => {
    const sm = new TimeSeriesStateMachine();
    const first = writeEntry([point('cpu', 'a', T0, '1')], { clientId: 'c1', sequence: 1, firstUnackedSequence: 1 });
    expect(writeResult(sm.apply(1, first)).duplicate).toBe(false);
    // Sequence 2 overwrites the point; a late retry of sequence 1 must not undo it.
    sm.apply(2, writeEntry([point('cpu', 'a', T0, '2')], { clientId: 'c1', sequence: 2, firstUnackedSequence: 1 }));
    const retry = writeResult(sm.apply(3, first));
    expect(retry).toEqual({ kind: 'write', storedCount: 1, rejectedCount: 0, errors: [], duplicate: true });
    expect(readAll(sm, 'cpu', 'a')).toEqual([[T0, 2n]]);
  });

  it('applies a write without a session every time it commits', () => {
    const sm = new TimeSeriesStateMachine();
    const entry = writeEntry([point('cpu', 'a', T0, '1')]);
    sm.apply(1, entry);
    sm.apply(2, writeEntry([point('cpu', 'a', T0, '2')]));
    expect(writeResult(sm.apply(3, entry)).duplicate).toBe(false);
    expect(readAll(sm, 'cpu', 'a')).toEqual([[T0, 1n]]);
  });

  it('refuses a write of an evicted session with TSR_ERR_SESSION_EXPIRED', () => {
    const sm = new TimeSeriesStateMachine({ maxSessions: 1 });
    sm.apply(1, writeEntry([point('cpu', 'a', T0, '1')], { clientId: 'c1', sequence: 1, firstUnackedSequence: 1 }));
    sm.apply(2, writeEntry([point('cpu', 'b', T0, '1')], { clientId: 'c2', sequence: 1, firstUnackedSequence: 1 }));
    const result = sm.apply(3, writeEntry([point('cpu', 'a', T0, '5')], { clientId: 'c1', sequence: 2, firstUnackedSequence: 2 }));
    expect(result).toMatchObject({ kind: 'refused', code: 'TSR_ERR_SESSION_EXPIRED', details: { clientId: 'c1', reason: 'unknown_session' } });
    expect(readAll(sm, 'cpu', 'a')).toEqual([[T0, 1n]]);
    expect(sm.stats().sessionCount).toBe(1);
  });
});

describe('retention', () => {
  it('drops only blocks entirely older than leader time minus retention', () => {
    const sm = new TimeSeriesStateMachine({ blockSpanMs: HOUR });
    sm.apply(
      1,
      writeEntry([
        point('cpu', 'a', T0 + 10_000, '1'), // block [T0, T0+1h): expired
        point('cpu', 'a', T0 + HOUR + 10_000, '2'), // block [T0+1h, T0+2h): holds the cutoff, kept
        point('cpu', 'a', T0 + 2 * HOUR + 10_000, '3'),
        point('cpu', 'old', T0 + 20_000, '4'), // the only point of its series: expired
      ]),
    );
    const result = sm.apply(2, encodeCommand({ type: 'retention', leaderTimeMs: T0 + 3 * HOUR, retentionMs: 90 * 60_000 }));
    expect(result).toEqual({ kind: 'retention', cutoffMs: T0 + 90 * 60_000, droppedPoints: 2, removedSeries: 1 });
    expect(readAll(sm, 'cpu', 'a')).toEqual([
      [T0 + HOUR + 10_000, 2n],
      [T0 + 2 * HOUR + 10_000, 3n],
    ]);
    expect(sm.seriesOfMetric('cpu').map((s) => s.tags.host)).toEqual(['a']);
    expect(sm.suggest('tagv', 'o')).toEqual([]);
    expect(sm.lastLeaderTimeMs).toBe(T0 + 3 * HOUR);
  });

  it('gives a series written again after retention removed it a new id', () => {
    const sm = new TimeSeriesStateMachine({ blockSpanMs: HOUR });
    sm.apply(1, writeEntry([point('cpu', 'a', T0, '1')]));
    sm.apply(2, encodeCommand({ type: 'retention', leaderTimeMs: T0 + 5 * HOUR, retentionMs: HOUR }));
    sm.apply(3, writeEntry([point('cpu', 'a', T0 + 5 * HOUR, '1')]));
    expect(sm.seriesOfMetric('cpu').map((s) => s.id)).toEqual([1]);
    const restored = TimeSeriesStateMachine.restore(sm.snapshot());
    restored.apply(4, writeEntry([point('cpu', 'b', T0 + 5 * HOUR, '1')]));
    expect(restored.seriesOfMetric('cpu').map((s) => s.id)).toEqual([1, 2]);
  });
});

describe('series given by id (write batch version 2)', () => {
  it('stores points of series given by id exactly as the same points given by key', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd'), fc.integer({ min: 0, max: 50 }), fc.integer({ min: -5, max: 5 })), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 39 }), (raw, split) => {
        const points = raw.map(([host, t, v]) => point('cpu', host, T0 + t * 1000, String(v)));
        const first = points.slice(0, split);
        const second = points.slice(split);
        const byKey = new TimeSeriesStateMachine();
        const byId = new TimeSeriesStateMachine();
        const results: ApplyResult[][] = [[], []];
        for (const [i, batch] of [first, second].entries()) {
          if (batch.length === 0) continue;
          results[0]!.push(byKey.apply(i + 1, writeEntry(batch)));
          results[1]!.push(byId.apply(i + 1, writeEntryById(byId, batch)));
        }
        expect(results[1]).toEqual(results[0]);
        expect(byId.stateHash()).toBe(byKey.stateHash());
      }),
      { numRuns: 100 },
    );
  });

  it('names a series given by id in the errors of a full block', () => {
    const sm = new TimeSeriesStateMachine({ maxPointsPerBlock: 1 });
    sm.apply(1, writeEntry([point('cpu', 'a', T0, '1')]));
    const result = writeResult(sm.apply(2, writeEntryById(sm, [point('cpu', 'a', T0 + 1000, '2')])));
    expect(result.errors.map((e) => [e.code, e.message.includes('cpu{host=a}')])).toEqual([['TSR_ERR_BLOCK_FULL', true]]);
  });

  it('applies nothing of an entry that gives a series retention removed, session included, so the write can be proposed again by key', () => {
    const sm = new TimeSeriesStateMachine({ blockSpanMs: HOUR });
    sm.apply(1, writeEntry([point('cpu', 'a', T0, '1'), point('cpu', 'b', T0 + 5 * HOUR, '1')]));
    const session = { clientId: 'c', sequence: 1, firstUnackedSequence: 1 };
    // The leader encodes while cpu{host=a} (id 0) exists …
    const stale = writeEntryById(sm, [point('cpu', 'a', T0 + 5 * HOUR, '2'), point('cpu', 'b', T0 + 5 * HOUR + 1000, '2')], session, T0 + 5 * HOUR);
    // … and retention removes it before the entry applies.
    sm.apply(2, encodeCommand({ type: 'retention', leaderTimeMs: T0 + 5 * HOUR, retentionMs: HOUR }));
    const before = sm.stats();
    expect(sm.apply(3, stale)).toEqual({ kind: 'stale_series', seriesId: 0 });
    expect(sm.stats()).toEqual({ ...before, appliedIndex: 3 });
    expect(readAll(sm, 'cpu', 'b')).toEqual([[T0 + 5 * HOUR, 1n]]);
    // The same session sequence, by key now: applied once, not a duplicate.
    const again = writeResult(sm.apply(4, writeEntryById(sm, [point('cpu', 'a', T0 + 5 * HOUR, '2'), point('cpu', 'b', T0 + 5 * HOUR + 1000, '2')], session, T0 + 5 * HOUR)));
    expect(again).toMatchObject({ storedCount: 2, duplicate: false });
    expect(sm.seriesOfMetric('cpu').map((s) => [s.id, s.tags.host])).toEqual([
      [1, 'b'],
      [2, 'a'],
    ]);
  });

  it('answers the same on every replica: a stale id is part of the replicated state', () => {
    const build = (): TimeSeriesStateMachine => {
      const sm = new TimeSeriesStateMachine({ blockSpanMs: HOUR });
      sm.apply(1, writeEntry([point('cpu', 'a', T0, '1')]));
      return sm;
    };
    const leader = build();
    const stale = writeEntryById(leader, [point('cpu', 'a', T0 + 5 * HOUR, '2')]);
    const replicas = [leader, build()];
    for (const sm of replicas) {
      sm.apply(2, encodeCommand({ type: 'retention', leaderTimeMs: T0 + 5 * HOUR, retentionMs: HOUR }));
      expect(sm.apply(3, stale)).toEqual({ kind: 'stale_series', seriesId: 0 });
    }
    expect(replicas[1]!.stateHash()).toBe(replicas[0]!.stateHash());
  });
});

describe('several writes in one entry (writes command)', () => {
  function batchOf(points: RawPoint[]): Uint8Array {
    const builder = new WriteBatchBuilder();
    expect(validatePoints(points, builder).errors).toEqual([]);
    return builder.encode();
  }

  it('applies each write as its own write entry would, in order', () => {
    const writeArb = fc.record({
      client: fc.constantFrom('', 'a', 'b'),
      points: fc.array(fc.tuple(fc.constantFrom('x', 'y', 'z'), fc.integer({ min: 0, max: 20 }), fc.integer({ min: -3, max: 3 })), { minLength: 1, maxLength: 5 }),
      retry: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(writeArb, { minLength: 1, maxLength: 12 }), (specs) => {
        const sequences = new Map<string, number>();
        const writes = specs.map((spec) => {
          const previous = sequences.get(spec.client) ?? 0;
          // A retry reuses the previous sequence of its client (when there is one).
          const sequence = spec.client === '' ? 0 : spec.retry && previous > 0 ? previous : previous + 1;
          sequences.set(spec.client, sequence);
          return { clientId: spec.client, sequence, firstUnackedSequence: spec.client === '' ? 0 : 1, batch: batchOf(spec.points.map(([host, t, v]) => point('cpu', host, T0 + t * 1000, String(v)))) };
        });
        const one = new TimeSeriesStateMachine();
        const separate = new TimeSeriesStateMachine();
        const together = one.apply(1, encodeCommand({ type: 'writes', leaderTimeMs: T0, writes }));
        const alone = writes.map((w, i) => separate.apply(i + 1, encodeCommand({ type: 'write', leaderTimeMs: T0, ...w })));
        expect(together).toEqual({ kind: 'writes', results: alone });
        for (const host of ['x', 'y', 'z']) expect(readAll(one, 'cpu', host)).toEqual(readAll(separate, 'cpu', host));
        expect(one.seriesOfMetric('cpu')).toEqual(separate.seriesOfMetric('cpu'));
      }),
      { numRuns: 150 },
    );
  });

  it('changes nothing when any batch of the entry is corrupt', () => {
    const sm = new TimeSeriesStateMachine();
    sm.apply(1, writeEntry([point('cpu', 'a', T0, '1')]));
    const before = sm.stateHash();
    const bad = batchOf([point('cpu', 'b', T0, '2')]).slice();
    bad[bad.length - 1]! ^= 0xff;
    const entry = encodeCommand({
      type: 'writes',
      leaderTimeMs: T0 + 1000,
      writes: [
        { clientId: 'c', sequence: 1, firstUnackedSequence: 1, batch: batchOf([point('cpu', 'a', T0 + 1000, '3')]) },
        { clientId: 'c', sequence: 2, firstUnackedSequence: 1, batch: bad },
      ],
    });
    expect(() => sm.apply(2, entry)).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_ENTRY' }));
    expect(sm.stateHash()).toBe(before);
  });

  it('lets a later write of the entry give by key a series an earlier one created', () => {
    const sm = new TimeSeriesStateMachine();
    const result = sm.apply(
      1,
      encodeCommand({
        type: 'writes',
        leaderTimeMs: T0,
        writes: [
          { clientId: '', sequence: 0, firstUnackedSequence: 0, batch: batchOf([point('cpu', 'a', T0, '1')]) },
          { clientId: '', sequence: 0, firstUnackedSequence: 0, batch: batchOf([point('cpu', 'a', T0 + 1000, '2')]) },
        ],
      }),
    );
    expect(result.kind === 'writes' && result.results.map((r) => r.kind === 'write' && r.storedCount)).toEqual([1, 1]);
    expect(sm.seriesOfMetric('cpu').map((s) => s.id)).toEqual([0]);
    expect(readAll(sm, 'cpu', 'a')).toEqual([
      [T0, 1n],
      [T0 + 1000, 2n],
    ]);
  });
});

describe('search', () => {
  it('suggests and looks up through the index', () => {
    const sm = new TimeSeriesStateMachine();
    sm.apply(1, writeEntry([point('sys.cpu.user', 'web01', T0, '1'), point('sys.cpu.sys', 'web02', T0, '1'), point('app.rps', 'web01', T0, '1')]));
    expect(sm.suggest('metrics', 'sys')).toEqual(['sys.cpu.sys', 'sys.cpu.user']);
    expect(sm.suggest('tagk', '')).toEqual(['host']);
    expect(sm.lookup({ metric: null, tags: [{ key: 'host', value: 'web01' }] }).series.map((s) => s.metric)).toEqual(['sys.cpu.user', 'app.rps']);
    expect(sm.seriesWithTag('host', 'web02')).toEqual([1]);
  });
});

// A random but reproducible workload: writes (with and without sessions,
// retries, out-of-order and duplicate timestamps, ints and floats), retention
// entries and noops.
function workload(seed: number, entryCount: number): Uint8Array[] {
  const entries: Uint8Array[] = [];
  let x = seed >>> 0 || 1;
  const rand = (n: number): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
  const sequences = new Map<string, number>();
  let now = T0;
  for (let e = 0; e < entryCount; e++) {
    now += rand(60_000);
    const kind = rand(20);
    if (kind === 0) {
      entries.push(encodeCommand({ type: 'retention', leaderTimeMs: now, retentionMs: 6 * HOUR }));
    } else if (kind === 1) {
      entries.push(new Uint8Array(0));
    } else if (kind === 2 && entries.length > 0) {
      entries.push(entries[rand(entries.length)]!); // a retry or duplicate delivery
    } else {
      const points: RawPoint[] = [];
      const count = 1 + rand(40);
      for (let i = 0; i < count; i++) {
        const ts = now - rand(3 * HOUR) + (rand(4) === 0 ? 0 : rand(1000));
        const value = rand(3) === 0 ? String(rand(1_000_000) / 100) : rand(10) === 0 ? '9223372036854775807' : String(rand(1000) - 500);
        points.push({ metric: `m${rand(4)}`, timestamp: ts, value, tags: { host: `h${rand(6)}`, dc: `d${rand(2)}` } });
      }
      const clientId = rand(3) === 0 ? '' : `client-${rand(3)}`;
      let session: Session | undefined;
      if (clientId !== '') {
        const sequence = (sequences.get(clientId) ?? 0) + 1;
        sequences.set(clientId, sequence);
        session = { clientId, sequence, firstUnackedSequence: Math.max(1, sequence - rand(3)) };
      }
      entries.push(writeEntry(points, session, now));
    }
  }
  return entries;
}

describe('determinism', () => {
  it('gives two instances fed the same entries the same state hash and snapshot bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const entries = workload(seed, 60);
        const a = new TimeSeriesStateMachine({ blockSpanMs: HOUR, maxSessions: 2 });
        const b = new TimeSeriesStateMachine({ blockSpanMs: HOUR, maxSessions: 2 });
        const resultsA = entries.map((entry, i) => a.apply(i + 1, entry));
        const resultsB = entries.map((entry, i) => b.apply(i + 1, entry));
        expect(resultsB).toEqual(resultsA);
        expect(b.stateHash()).toBe(a.stateHash());
        expect(b.snapshot()).toEqual(a.snapshot());
      }),
      { numRuns: 15 },
    );
  });

  it('distinguishes different states by hash', () => {
    const entries = workload(7, 30);
    const a = new TimeSeriesStateMachine();
    const b = new TimeSeriesStateMachine();
    entries.forEach((entry, i) => a.apply(i + 1, entry));
    entries.slice(0, -1).forEach((entry, i) => b.apply(i + 1, entry));
    b.apply(entries.length, writeEntry([point('other', 'x', T0, '1')]));
    expect(b.stateHash()).not.toBe(a.stateHash());
  });
});

describe('snapshots', () => {
  it('restores to a byte-identical state that then evolves identically', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 60 }), (seed, cut) => {
        const entries = workload(seed, 60);
        const original = new TimeSeriesStateMachine({ blockSpanMs: HOUR, maxSessions: 2 });
        entries.slice(0, cut).forEach((entry, i) => original.apply(i + 1, entry));
        const bytes = original.snapshot();
        const restored = TimeSeriesStateMachine.restore(bytes);
        expect(restored.snapshot()).toEqual(bytes);
        expect(restored.stats()).toEqual(original.stats());
        entries.slice(cut).forEach((entry, i) => {
          expect(restored.apply(cut + i + 1, entry)).toEqual(original.apply(cut + i + 1, entry));
        });
        expect(restored.stateHash()).toBe(original.stateHash());
      }),
      { numRuns: 15 },
    );
  });

  it('replaces a running instance\'s whole state in place, and keeps it when the bytes are corrupt', () => {
    const source = new TimeSeriesStateMachine({ blockSpanMs: HOUR });
    workload(3, 40).forEach((entry, i) => source.apply(i + 1, entry));
    const target = new TimeSeriesStateMachine();
    target.apply(1, writeEntry([point('other', 'x', T0, '1')]));
    target.restore(source.snapshot());
    expect(target.snapshot()).toEqual(source.snapshot());
    expect(target.options).toEqual(source.options);
    const bad = source.snapshot();
    bad[10]! ^= 1;
    expect(() => target.restore(bad)).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_SNAPSHOT' }));
    expect(target.stateHash()).toBe(source.stateHash());
  });

  it('carries its options, applied index and leader time', () => {
    const sm = new TimeSeriesStateMachine({ blockSpanMs: HOUR, maxSeries: 7 });
    sm.apply(9, writeEntry([point('cpu', 'a', T0, '1')], undefined, T0 + 5));
    const restored = TimeSeriesStateMachine.restore(sm.snapshot());
    expect(restored.options).toEqual(sm.options);
    expect(restored.appliedIndex).toBe(9);
    expect(restored.lastLeaderTimeMs).toBe(T0 + 5);
  });

  it('detects a corrupted snapshot', () => {
    const sm = new TimeSeriesStateMachine();
    sm.apply(1, writeEntry([point('cpu', 'a', T0, '1')], { clientId: 'c', sequence: 1, firstUnackedSequence: 1 }));
    const bytes = sm.snapshot();
    for (const at of [0, 5, Math.floor(bytes.length / 2), bytes.length - 1]) {
      const copy = bytes.slice();
      copy[at]! ^= 0x04;
      expect(() => TimeSeriesStateMachine.restore(copy), `byte ${at}`).toThrow(TsraftError);
      try {
        TimeSeriesStateMachine.restore(copy);
      } catch (error) {
        expect((error as TsraftError).code).toBe('TSR_ERR_CORRUPT_SNAPSHOT');
      }
    }
    expect(() => TimeSeriesStateMachine.restore(bytes.subarray(0, 6))).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_SNAPSHOT' }));
  });

  it('reports series, points and encoded bytes', () => {
    const sm = new TimeSeriesStateMachine();
    // 100 points 10 min apart span 16 h, so the older 2 h blocks are sealed (encoded).
    sm.apply(1, writeEntry(Array.from({ length: 100 }, (_, i) => point('cpu', `h${i % 4}`, T0 + i * 600_000, String(i)))));
    const stats = sm.stats();
    expect(stats).toMatchObject({ appliedIndex: 1, seriesCount: 4, pointCount: 100, sessionCount: 0 });
    expect(stats.encodedBytes).toBeGreaterThan(0);
  });
});
