import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/raft/types.js';
import { entryKey } from '../../src/storage/kv-log-store.js';
import { encodeEntry } from '../../src/storage/entry-codec.js';
import { MemoryDisk } from '../../src/storage/memory-disk.js';
import { encodeHardState } from '../../src/storage/record-codec.js';
import { encodeCommand } from '../../src/tsdb/command.js';
import { WriteBatchBuilder } from '../../src/tsdb/write-batch.js';
import { buildCommitOrder, emptyStats, pointKey, type CommitOrder } from '../../sim/checkers/commit-order.js';
import type { AppliedEntry, WriteApplyKind } from '../../sim/checkers/online.js';
import { checkDurability, checkLinearizability } from '../../sim/checkers/linearizability.js';
import { checkLogMatching, readDiskLog } from '../../sim/checkers/log-matching.js';
import { PersistenceChecker } from '../../sim/checkers/persistence.js';
import { Violations } from '../../sim/checkers/violations.js';
import { History, VALUE_STRIDE, type WriteOp } from '../../sim/history.js';

const SERIES = 'sim.cpu{host=a}';
const TS = 1_000_000;

/** A history of single-point writes to one (series, ts), and its commit order. */
function world(): { history: History; order: CommitOrder; write: (invokeMs: number, ackMs: number | null, index: number | null) => WriteOp } {
  const history = new History();
  const order: CommitOrder = { indexOfWrite: new Map(), changesOfKey: new Map(), keysOfMetric: new Map([['sim.cpu', new Set([pointKey(SERIES, TS)])]]), stats: emptyStats() };
  const write = (invokeMs: number, ackMs: number | null, index: number | null): WriteOp => {
    const writeId = history.writes.length + 1;
    const op = history.newWrite(`c${writeId}`, 1, [{ metric: 'sim.cpu', seriesKey: SERIES, tags: { host: 'a' }, timestampMs: TS, value: writeId * VALUE_STRIDE }], invokeMs);
    op.outcome = ackMs === null ? 'unknown' : 'ok';
    op.ackMs = ackMs;
    if (index !== null) {
      order.indexOfWrite.set(writeId, index);
      const list = order.changesOfKey.get(pointKey(SERIES, TS)) ?? [];
      list.push({ index, value: writeId * VALUE_STRIDE });
      list.sort((a, b) => a.index - b.index);
      order.changesOfKey.set(pointKey(SERIES, TS), list);
    }
    return op;
  };
  return { history, order, write };
}

function read(history: History, invokeMs: number, respondMs: number, value: number | null): void {
  history.addRead({ clientId: 'r', node: 'n1', metric: 'sim.cpu', consistency: 'linearizable', invokeMs, respondMs, result: value === null ? {} : { [SERIES]: [[TS, value]] } });
}

function staleRead(history: History, invokeMs: number, respondMs: number, value: number | null): void {
  history.addRead({ clientId: 'r', node: 'n1', metric: 'sim.cpu', consistency: 'stale', invokeMs, respondMs, result: value === null ? {} : { [SERIES]: [[TS, value]] } });
}

function check(history: History, order: CommitOrder): string[] {
  const v = new Violations(() => 0);
  checkLinearizability(history, order, v);
  return v.list.map((x) => x.message);
}

describe('linearizability checker', () => {
  it('accepts reads that see the latest write acknowledged before them', () => {
    const { history, order, write } = world();
    const w1 = write(0, 10, 5);
    read(history, 20, 30, w1.points[0]!.value);
    expect(check(history, order)).toEqual([]);
  });

  it('accepts a read concurrent with a write whether or not it sees it', () => {
    const { history, order, write } = world();
    const w1 = write(0, 10, 5);
    const w2 = write(15, 40, 6);
    read(history, 20, 30, w1.points[0]!.value);
    read(history, 21, 31, w2.points[0]!.value);
    expect(check(history, order)).toEqual([]);
  });

  it('flags a stale read: a write acknowledged before the read began is missing', () => {
    const { history, order, write } = world();
    const w1 = write(0, 10, 5);
    write(11, 20, 6);
    read(history, 25, 30, w1.points[0]!.value);
    expect(check(history, order)).toEqual([expect.stringContaining('stale read')]);
  });

  it('flags a read of a value no client wrote', () => {
    const { history, order, write } = world();
    write(0, 10, 5);
    read(history, 20, 30, 999 * VALUE_STRIDE);
    expect(check(history, order)).toEqual([expect.stringContaining('no client wrote')]);
  });

  it('flags a read of a write that never committed', () => {
    const { history, order, write } = world();
    const lost = write(0, null, null);
    read(history, 20, 30, lost.points[0]!.value);
    expect(check(history, order)).toEqual([expect.stringContaining('never committed')]);
  });

  it('flags a read that sees a write issued only after the read ended', () => {
    const { history, order, write } = world();
    const w1 = write(50, 60, 5);
    read(history, 20, 30, w1.points[0]!.value);
    expect(check(history, order)).toEqual([expect.stringContaining('read from the future')]);
  });

  it('flags reads that go back in time', () => {
    const { history, order, write } = world();
    const w1 = write(0, 100, 5);
    const w2 = write(1, 100, 6);
    read(history, 10, 20, w2.points[0]!.value);
    read(history, 30, 40, w1.points[0]!.value);
    expect(check(history, order)).toEqual([expect.stringContaining('went back in time')]);
  });

  it('flags writes whose log order contradicts real time', () => {
    const { history, order, write } = world();
    write(0, 10, 6);
    write(20, 30, 5);
    expect(check(history, order)).toEqual([expect.stringContaining('took effect earlier')]);
  });

  it('durability: flags an acknowledged write missing from the log', () => {
    const { history, order, write } = world();
    write(0, 10, 5);
    write(0, 12, null);
    const v = new Violations(() => 0);
    expect(checkDurability(history, order, v)).toBe(1);
    expect(v.list[0]!.checker).toBe('durability');
  });

  it('accepts a read that misses a point a retention pass removed, until it is written again', () => {
    const { history, order, write } = world();
    write(0, 10, 5);
    removeAt(order, 6);
    read(history, 20, 30, null);
    const w2 = write(40, 50, 7);
    read(history, 60, 70, w2.points[0]!.value);
    expect(check(history, order)).toEqual([]);
  });

  it('flags a read that misses a point written again and acknowledged after its removal', () => {
    const { history, order, write } = world();
    write(0, 10, 5);
    removeAt(order, 6);
    write(11, 20, 7);
    read(history, 30, 40, null);
    expect(check(history, order)).toEqual([expect.stringContaining('stale read')]);
  });

  it('flags a read of a value a retention pass had removed before a write acknowledged before the read', () => {
    const { history, order, write } = world();
    const w1 = write(0, 10, 5);
    removeAt(order, 6);
    write(11, 20, 8);
    read(history, 30, 40, w1.points[0]!.value);
    expect(check(history, order)).toEqual([expect.stringContaining('stale read')]);
  });
});

/** A retention pass at `index` removes the point. */
function removeAt(order: CommitOrder, index: number): void {
  const list = order.changesOfKey.get(pointKey(SERIES, TS))!;
  list.push({ index, value: null });
  list.sort((a, b) => a.index - b.index);
}

describe('stale reads (some log prefix, no recency)', () => {
  it('accepts a stale read of a value overwritten before it began, or of nothing yet', () => {
    const { history, order, write } = world();
    const w1 = write(0, 10, 5);
    write(20, 30, 6);
    staleRead(history, 40, 50, w1.points[0]!.value);
    staleRead(history, 60, 70, null);
    expect(check(history, order)).toEqual([]);
  });

  it('flags a stale read of a write that never committed', () => {
    const { history, order, write } = world();
    const w1 = write(0, null, null);
    staleRead(history, 40, 50, w1.points[0]!.value);
    expect(check(history, order)).toEqual([expect.stringContaining('never committed')]);
  });

  it('flags a stale read of a value no client wrote', () => {
    const { history, order } = world();
    staleRead(history, 40, 50, 7 * VALUE_STRIDE + 3);
    expect(check(history, order)).toEqual([expect.stringContaining('a value no client wrote')]);
  });
});

describe('commit order (the log replayed against the history and the series model)', () => {
  type Point = [seriesKey: string, seriesId: number, timestampMs: number];

  /** A `write` entry of a new write of `clientId` (sequence 1) with these points, by key (id -1) or by id. */
  function writeEntry(history: History, applied: Map<number, AppliedEntry>, index: number, clientId: string, points: Point[], kind: WriteApplyKind): WriteOp {
    const writeId = history.writes.length + 1;
    const op = history.newWrite(
      clientId,
      1,
      points.map(([seriesKey, , timestampMs], i) => ({ metric: seriesKey.slice(0, seriesKey.indexOf('{')), seriesKey, tags: {}, timestampMs, value: writeId * VALUE_STRIDE + i })),
      0,
    );
    const builder = new WriteBatchBuilder();
    points.forEach(([seriesKey, seriesId, timestampMs], i) => builder.addPointOf(builder.seriesIndexOf(seriesKey, seriesId), timestampMs, writeId * VALUE_STRIDE + i, true, null));
    const data = encodeCommand({ type: 'write', clientId, sequence: 1, firstUnackedSequence: 1, leaderTimeMs: 1, batch: builder.encode() });
    applied.set(index, { index, term: 1, kind: 'normal', digest: `${index}`, writes: [kind], data, firstNode: 'n1' });
    return op;
  }

  /** A retention pass at `index` dropping every block that ended by `cutoffMs`. */
  function retentionEntry(applied: Map<number, AppliedEntry>, index: number, cutoffMs: number): void {
    const data = encodeCommand({ type: 'retention', leaderTimeMs: cutoffMs + 1_000, retentionMs: 1_000 });
    applied.set(index, { index, term: 1, kind: 'normal', digest: `${index}`, writes: null, data, firstNode: 'n1' });
  }

  const A = 'sim.cpu{host=a}';
  const B = 'sim.cpu{host=b}';
  const SPAN = 20_000;

  function build(history: History, applied: Map<number, AppliedEntry>): { order: CommitOrder; messages: string[] } {
    const v = new Violations(() => 0);
    const order = buildCommitOrder(history, applied, v, SPAN, 32);
    return { order, messages: v.list.map((x) => x.message) };
  }

  it('resolves a series given by id to the key the model assigned it', () => {
    const history = new History();
    const applied = new Map<number, AppliedEntry>();
    writeEntry(history, applied, 1, 'c1', [[A, -1, TS], [B, -1, TS]], 'effective'); // a → id 0, b → id 1
    const byId = writeEntry(history, applied, 2, 'c2', [[B, 1, TS + 1]], 'effective');
    const { order, messages } = build(history, applied);
    expect(messages).toEqual([]);
    expect(order.indexOfWrite.get(byId.writeId)).toBe(2);
    expect(order.stats.byIdBatches).toBe(1);
  });

  it('flags a batch whose series id names another series than the client wrote', () => {
    const history = new History();
    const applied = new Map<number, AppliedEntry>();
    writeEntry(history, applied, 1, 'c1', [[A, -1, TS], [B, -1, TS]], 'effective');
    writeEntry(history, applied, 2, 'c2', [[B, 0, TS + 1]], 'effective');
    expect(build(history, applied).messages).toEqual([expect.stringContaining('differ from what the client sent')]);
  });

  it('expects stale_series for an id a retention pass removed, and a new id for the key written again', () => {
    const history = new History();
    const applied = new Map<number, AppliedEntry>();
    writeEntry(history, applied, 1, 'c1', [[A, -1, TS]], 'effective'); // id 0
    retentionEntry(applied, 2, TS + SPAN); // the block ended: series a is removed
    writeEntry(history, applied, 3, 'c2', [[A, 0, TS]], 'stale_series');
    writeEntry(history, applied, 4, 'c3', [[A, -1, TS]], 'effective'); // id 1
    writeEntry(history, applied, 5, 'c4', [[A, 1, TS]], 'effective');
    const { order, messages } = build(history, applied);
    expect(messages).toEqual([]);
    expect(order.stats).toMatchObject({ staleSeries: 1, retentionPasses: 1, seriesRemoved: 1 });
    expect(order.changesOfKey.get(pointKey(A, TS))!.map((c) => c.index)).toEqual([1, 2, 4, 5]);
  });

  it('flags a write applied though it names a removed series, and a stale_series whose series exists', () => {
    const history = new History();
    const applied = new Map<number, AppliedEntry>();
    writeEntry(history, applied, 1, 'c1', [[A, -1, TS], [B, -1, TS + SPAN]], 'effective');
    retentionEntry(applied, 2, TS + SPAN); // removes a (id 0), keeps b (id 1)
    writeEntry(history, applied, 3, 'c2', [[A, 0, TS]], 'effective');
    writeEntry(history, applied, 4, 'c3', [[B, 1, TS]], 'stale_series');
    expect(build(history, applied).messages).toEqual([expect.stringContaining('instead of stale_series'), expect.stringContaining('every series id it names exists')]);
  });

  it('flags a write that took effect twice', () => {
    const history = new History();
    const applied = new Map<number, AppliedEntry>();
    writeEntry(history, applied, 1, 'c1', [[A, -1, TS]], 'effective');
    applied.set(2, { ...applied.get(1)!, index: 2 });
    expect(build(history, applied).messages).toEqual([expect.stringContaining('must be answered with the result of its first application'), expect.stringContaining('took effect twice')]);
  });
});

describe('client sessions in the commit order (pipelined sequences, firstUnacked, the results bound)', () => {
  const A = 'sim.cpu{host=a}';

  /** A `write` entry at `index` of (clientId, sequence, firstUnacked), applied as `kind`; a new write in the history unless it retries one. */
  function sessionEntry(history: History, applied: Map<number, AppliedEntry>, index: number, clientId: string, sequence: number, firstUnacked: number, kind: WriteApplyKind): void {
    const op = history.writeOf(clientId, sequence) ?? history.newWrite(clientId, sequence, [{ metric: 'sim.cpu', seriesKey: A, tags: {}, timestampMs: TS, value: (history.writes.length + 1) * VALUE_STRIDE }], 0);
    const builder = new WriteBatchBuilder();
    builder.addPointOf(builder.seriesIndexOf(A, -1), TS, op.points[0]!.value, true, null);
    const data = encodeCommand({ type: 'write', clientId, sequence, firstUnackedSequence: firstUnacked, leaderTimeMs: 1, batch: builder.encode() });
    applied.set(index, { index, term: 1, kind: 'normal', digest: `${index}`, writes: [kind], data, firstNode: 'n1' });
  }

  function build(history: History, applied: Map<number, AppliedEntry>, maxResults = 32): { order: CommitOrder; messages: string[] } {
    const v = new Violations(() => 0);
    const order = buildCommitOrder(history, applied, v, 20_000, maxResults);
    return { order, messages: v.list.map((x) => x.message) };
  }

  it('accepts pipelined sequences applied out of order and a retry answered after a later sequence', () => {
    const history = new History();
    const applied = new Map<number, AppliedEntry>();
    sessionEntry(history, applied, 1, 'c', 2, 1, 'effective'); // seq 1 still in flight: 2 goes first
    sessionEntry(history, applied, 2, 'c', 1, 1, 'effective');
    sessionEntry(history, applied, 3, 'c', 3, 2, 'effective');
    sessionEntry(history, applied, 4, 'c', 2, 2, 'duplicate'); // a retry of 2, its answer was lost
    const { order, messages } = build(history, applied);
    expect(messages).toEqual([]);
    expect(order.stats).toMatchObject({ pipelinedWrites: 2, outOfOrderWrites: 2, duplicateWrites: 1, expiredWrites: 0 });
  });

  it('flags a pipelined retry applied again after a later sequence (its result must be kept)', () => {
    const history = new History();
    const applied = new Map<number, AppliedEntry>();
    sessionEntry(history, applied, 1, 'c', 1, 1, 'effective');
    sessionEntry(history, applied, 2, 'c', 2, 1, 'effective');
    sessionEntry(history, applied, 3, 'c', 1, 1, 'effective');
    expect(build(history, applied).messages).toEqual([expect.stringContaining('c#1 (firstUnacked 1) at log index 3 was applied, but must be answered'), expect.stringContaining('took effect twice')]);
  });

  it('flags a sequence answered as a duplicate that never took effect', () => {
    const history = new History();
    const applied = new Map<number, AppliedEntry>();
    sessionEntry(history, applied, 1, 'c', 2, 1, 'effective');
    sessionEntry(history, applied, 2, 'c', 1, 1, 'duplicate');
    expect(build(history, applied).messages).toEqual([expect.stringContaining('c#1 (firstUnacked 1) at log index 2 was answered as a duplicate, but must be applied')]);
  });

  it('expects a refusal once firstUnacked or the results bound dropped a result, and not before', () => {
    const history = new History();
    const applied = new Map<number, AppliedEntry>();
    sessionEntry(history, applied, 1, 'c', 1, 1, 'effective');
    sessionEntry(history, applied, 2, 'c', 2, 2, 'effective'); // forgets 1
    sessionEntry(history, applied, 3, 'c', 1, 1, 'refused');
    sessionEntry(history, applied, 4, 'c', 3, 3, 'effective');
    sessionEntry(history, applied, 5, 'c', 4, 3, 'effective'); // bound 1: 3 goes
    sessionEntry(history, applied, 6, 'c', 3, 3, 'refused');
    sessionEntry(history, applied, 7, 'c', 4, 3, 'duplicate');
    sessionEntry(history, applied, 8, 'c', 4, 3, 'refused'); // the model still keeps 4
    const { order, messages } = build(history, applied, 1);
    expect(messages).toEqual([expect.stringContaining('c#4 (firstUnacked 3) at log index 8 was refused (session expired), but must be answered')]);
    expect(order.stats.expiredWrites).toBe(3);
  });

  it('expects a refusal for an unknown session that does not start at firstUnacked 1', () => {
    const history = new History();
    const applied = new Map<number, AppliedEntry>();
    sessionEntry(history, applied, 1, 'c', 5, 4, 'refused');
    sessionEntry(history, applied, 2, 'd', 5, 4, 'effective');
    expect(build(history, applied).messages).toEqual([expect.stringContaining('d#5 (firstUnacked 4) at log index 2 was applied, but must be refused')]);
  });
});

function diskWith(entries: Array<[number, number, string]>, hardState?: { term: number; vote: string | null; commit: number }): MemoryDisk {
  const disk = new MemoryDisk();
  const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  const ops = entries.map(([index, term, data]) => ({ type: 'put' as const, key: `log/${hex(entryKey(index))}`, value: encodeEntry({ index, term, kind: 'normal', data: new TextEncoder().encode(data) }) }));
  if (hardState !== undefined) ops.push({ type: 'put', key: 'log/68', value: encodeHardState(hardState) });
  void disk.write(ops);
  return disk;
}

describe('log matching checker', () => {
  it('accepts logs that agree up to their last common entry of the same term', () => {
    const v = new Violations(() => 0);
    const a = diskWith([[1, 1, 'x'], [2, 1, 'y'], [3, 2, 'z']]);
    const b = diskWith([[1, 1, 'x'], [2, 1, 'y'], [3, 3, 'other']]);
    checkLogMatching(new Map([['a', readDiskLog(a)], ['b', readDiskLog(b)]]), v);
    expect(v.list).toEqual([]);
  });

  it('flags two entries with the same index and term but different data', () => {
    const v = new Violations(() => 0);
    const a = diskWith([[1, 1, 'x'], [2, 2, 'y']]);
    const b = diskWith([[1, 1, 'x'], [2, 2, 'not-y']]);
    checkLogMatching(new Map([['a', readDiskLog(a)], ['b', readDiskLog(b)]]), v);
    expect(v.list.map((x) => x.checker)).toEqual(['log-matching']);
  });

  it('flags logs that match at an index but differ before it', () => {
    const v = new Violations(() => 0);
    const a = diskWith([[1, 1, 'x'], [2, 2, 'y']]);
    const b = diskWith([[1, 1, 'q'], [2, 2, 'y']]);
    checkLogMatching(new Map([['a', readDiskLog(a)], ['b', readDiskLog(b)]]), v);
    expect(v.list.map((x) => x.checker)).toEqual(['log-matching']);
  });
});

describe('persistence checker (persist before send)', () => {
  const ack = (index: number, term: number): Message => ({ type: 'append-resp', from: 'b', to: 'a', term, reject: false, index, hintIndex: 0, hintTerm: 0 });

  it('accepts a crash that keeps everything acknowledged', () => {
    const v = new Violations(() => 0);
    const p = new PersistenceChecker(v);
    p.onSend(ack(2, 3));
    p.onSend({ type: 'vote-resp', from: 'b', to: 'a', term: 3, reject: false });
    p.onCrash('b', diskWith([[1, 1, 'x'], [2, 3, 'y']], { term: 3, vote: 'a', commit: 1 }), false);
    expect(v.list).toEqual([]);
  });

  it('flags an acknowledged entry that a crash lost', () => {
    const v = new Violations(() => 0);
    const p = new PersistenceChecker(v);
    p.onSend(ack(2, 3));
    p.onCrash('b', diskWith([[1, 1, 'x']], { term: 3, vote: 'a', commit: 1 }), false);
    expect(v.list.map((x) => x.message)).toEqual([expect.stringContaining('acknowledged entries up to 2')]);
  });

  it('flags a granted vote that a crash lost', () => {
    const v = new Violations(() => 0);
    const p = new PersistenceChecker(v);
    p.onSend({ type: 'vote-resp', from: 'b', to: 'c', term: 4, reject: false });
    p.onCrash('b', diskWith([], { term: 3, vote: 'a', commit: 0 }), false);
    expect(v.list.map((x) => x.message)).toEqual([expect.stringContaining('granted its vote to c in term 4')]);
  });
});
