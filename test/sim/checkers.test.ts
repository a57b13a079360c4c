import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/raft/types.js';
import { entryKey } from '../../src/storage/kv-log-store.js';
import { encodeEntry } from '../../src/storage/entry-codec.js';
import { MemoryDisk } from '../../src/storage/memory-disk.js';
import { encodeHardState } from '../../src/storage/record-codec.js';
import { checkDurability, checkLinearizability, pointKey, type CommitOrder } from '../../sim/checkers/linearizability.js';
import { checkLogMatching, readDiskLog } from '../../sim/checkers/log-matching.js';
import { PersistenceChecker } from '../../sim/checkers/persistence.js';
import { Violations } from '../../sim/checkers/violations.js';
import { History, VALUE_STRIDE, type WriteOp } from '../../sim/history.js';

const SERIES = 'sim.cpu{host=a}';
const TS = 1_000_000;

/** A history of single-point writes to one (series, ts), and its commit order. */
function world(): { history: History; order: CommitOrder; write: (invokeMs: number, ackMs: number | null, index: number | null) => WriteOp } {
  const history = new History();
  const order: CommitOrder = { indexOfWrite: new Map(), writesOfKey: new Map(), keysOfMetric: new Map([['sim.cpu', new Set([pointKey(SERIES, TS)])]]) };
  const write = (invokeMs: number, ackMs: number | null, index: number | null): WriteOp => {
    const writeId = history.writes.length + 1;
    const op = history.newWrite(`c${writeId}`, 1, [{ metric: 'sim.cpu', seriesKey: SERIES, tags: { host: 'a' }, timestampMs: TS, value: writeId * VALUE_STRIDE }], invokeMs);
    op.outcome = ackMs === null ? 'unknown' : 'ok';
    op.ackMs = ackMs;
    if (index !== null) {
      order.indexOfWrite.set(writeId, index);
      const list = order.writesOfKey.get(pointKey(SERIES, TS)) ?? [];
      list.push({ index, value: writeId * VALUE_STRIDE });
      list.sort((a, b) => a.index - b.index);
      order.writesOfKey.set(pointKey(SERIES, TS), list);
    }
    return op;
  };
  return { history, order, write };
}

function read(history: History, invokeMs: number, respondMs: number, value: number | null): void {
  history.addRead({ clientId: 'r', node: 'n1', metric: 'sim.cpu', invokeMs, respondMs, servedAtIndex: 0, result: value === null ? {} : { [SERIES]: [[TS, value]] } });
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
