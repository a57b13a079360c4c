import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TsraftError } from '../../src/errors.js';
import { SeriesData, type SeriesDataOptions } from '../../src/tsdb/series-data.js';
import { crc32c } from '../../src/tsdb/codec/crc32c.js';
import { columnsOf, describePoint, floatArb, int64Arb, type PointSpec } from './codec-arbitraries.js';

const corrupt = expect.objectContaining({ code: 'TSR_ERR_CORRUPT_SEGMENT' });
const invalid = expect.objectContaining({ code: 'TSR_ERR_INVALID_ARGUMENT' });

type Op =
  | { kind: 'append'; point: PointSpec }
  | { kind: 'batch'; points: PointSpec[]; reversedIndexes: boolean }
  | { kind: 'seal' }
  | { kind: 'drop'; cutoffMs: number };

const SPAN = 1000;
const pointArb = (maxTs: number): fc.Arbitrary<PointSpec> =>
  fc.record({ ts: fc.integer({ min: -2000, max: maxTs }), value: fc.oneof(floatArb, int64Arb, fc.integer({ min: -50, max: 50 }).map((v) => v / 10)) });

const opArb = (maxTs: number): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 6, arbitrary: pointArb(maxTs).map((point) => ({ kind: 'append' as const, point })) },
    { weight: 3, arbitrary: fc.record({ points: fc.array(pointArb(maxTs), { minLength: 1, maxLength: 30 }), reversedIndexes: fc.boolean() }).map((b) => ({ kind: 'batch' as const, ...b })) },
    { weight: 1, arbitrary: fc.constant({ kind: 'seal' as const }) },
    { weight: 1, arbitrary: fc.integer({ min: -3000, max: maxTs }).map((cutoffMs) => ({ kind: 'drop' as const, cutoffMs })) },
  );

const optionsArb: fc.Arbitrary<SeriesDataOptions> = fc.record({
  blockSpanMs: fc.constant(SPAN),
  latenessMs: fc.constantFrom(0, 1, 500, 1500),
  maxOpenBlocks: fc.integer({ min: 1, max: 3 }),
});

/** Applies ops to a SeriesData and to a plain Map (last write wins). */
function run(options: SeriesDataOptions, ops: Op[]): { data: SeriesData; reference: Map<number, string> } {
  const data = new SeriesData(options);
  const reference = new Map<number, string>();
  const remember = (p: PointSpec): void => {
    const cols = columnsOf([p]);
    reference.set(p.ts, describePoint(cols, 0)[1]);
  };
  for (const op of ops) {
    applyOp(data, op);
    if (op.kind === 'append') {
      remember(op.point);
    } else if (op.kind === 'batch') {
      const order = op.reversedIndexes ? [...op.points].reverse() : op.points;
      order.forEach(remember);
    } else if (op.kind === 'drop') {
      for (const ts of [...reference.keys()]) {
        const start = ts - (((ts % SPAN) + SPAN) % SPAN);
        if (start + SPAN <= op.cutoffMs) reference.delete(ts);
      }
    }
  }
  return { data, reference };
}

function pointsOf(data: SeriesData, startMs = -Infinity, endMs = Infinity): [number, string][] {
  const cols = data.readPoints(startMs, endMs);
  return Array.from({ length: cols.length }, (_, i) => describePoint(cols, i));
}

function expected(reference: Map<number, string>, startMs = -Infinity, endMs = Infinity): [number, string][] {
  return [...reference.entries()].filter(([ts]) => ts >= startMs && ts <= endMs).sort((a, b) => a[0] - b[0]);
}

describe('SeriesData', () => {
  it('keeps the last write per timestamp, like a plain map, through sealing, reopening and retention', () => {
    fc.assert(
      fc.property(optionsArb, fc.array(opArb(8000), { maxLength: 60 }), fc.integer({ min: -3000, max: 9000 }), fc.nat({ max: 4000 }), (options, ops, from, width) => {
        const { data, reference } = run(options, ops);
        expect(pointsOf(data)).toEqual(expected(reference));
        expect(pointsOf(data, from, from + width)).toEqual(expected(reference, from, from + width));
        expect(data.pointCount()).toBe(reference.size);
        expect(data.openBlockCount()).toBeLessThanOrEqual(options.maxOpenBlocks!);
        data.sealAll();
        expect(pointsOf(data)).toEqual(expected(reference));
      }),
      { numRuns: 200 },
    );
  });

  it('serializes to bytes that deserialize to an identical state', () => {
    fc.assert(
      fc.property(optionsArb, fc.array(opArb(8000), { maxLength: 40 }), fc.array(opArb(12000), { maxLength: 20 }), (options, ops, more) => {
        const { data, reference } = run(options, ops);
        const bytes = data.serialize();
        const restored = SeriesData.deserialize(bytes);
        expect(restored.serialize()).toEqual(bytes);
        expect(pointsOf(restored)).toEqual(expected(reference));
        // The restored copy behaves exactly like the original from here on.
        const a = run(options, [...ops, ...more]).data.serialize();
        const b = SeriesData.deserialize(bytes);
        for (const op of more) applyOp(b, op);
        expect(b.serialize()).toEqual(a);
      }),
      { numRuns: 150 },
    );
  });

  it('is deterministic: two instances fed the same calls hold the same bytes', () => {
    fc.assert(
      fc.property(optionsArb, fc.array(opArb(20000), { maxLength: 60 }), (options, ops) => {
        expect(run(options, ops).data.serialize()).toEqual(run(options, ops).data.serialize());
      }),
      { numRuns: 100 },
    );
  });

  it('seals a block once the newest timestamp passes its end plus the lateness window', () => {
    const data = new SeriesData({ blockSpanMs: 1000, latenessMs: 300 });
    data.append(100, 1, false);
    data.append(900, 2, false);
    data.append(1200, 3, false);
    expect(data.sealedBlockCount()).toBe(0);
    data.append(1299, 4, false);
    expect(data.sealedBlockCount()).toBe(0);
    data.append(1300, 5, false);
    expect(data.sealedBlockCount()).toBe(1);
    expect(data.openBlockCount()).toBe(1);
    expect(data.encodedBytes()).toBeGreaterThan(0);
    data.sealAll();
    expect(data.openBlockCount()).toBe(0);
    expect(data.sealedBlockCount()).toBe(2);
    expect(pointsOf(data).map(([ts]) => ts)).toEqual([100, 900, 1200, 1299, 1300]);
  });

  it('accepts a late write into a sealed block by decoding, merging and sealing it again', () => {
    const data = new SeriesData({ blockSpanMs: 1000, latenessMs: 0 });
    for (let ts = 0; ts < 5000; ts += 100) data.append(ts, ts / 10, false);
    expect(data.sealedBlockCount()).toBe(4);
    data.append(1500, -1, false); // overwrite inside sealed block 1000
    data.append(1550, 7, true); // new point inside it
    expect(data.sealedBlockCount()).toBe(4);
    const cols = data.readPoints(1500, 1550);
    expect(Array.from(cols.timestampsMs)).toEqual([1500, 1550]);
    expect(Array.from(cols.values)).toEqual([-1, 7]);
    expect(Array.from(cols.isInteger)).toEqual([0, 1]);
    expect(data.pointCount()).toBe(51);
  });

  it('keeps at most maxOpenBlocks open, sealing the oldest', () => {
    const data = new SeriesData({ blockSpanMs: 1000, latenessMs: 1_000_000, maxOpenBlocks: 2 });
    for (const ts of [5000, 1000, 3000, 2000]) data.append(ts, 1, false);
    expect(data.openBlockCount()).toBe(2);
    expect(data.sealedBlockCount()).toBe(2);
    expect(data.pointCount()).toBe(4);
  });

  it('drops whole blocks that end at or before the retention cutoff', () => {
    const data = new SeriesData({ blockSpanMs: 1000, latenessMs: 0 });
    for (let ts = 0; ts < 4000; ts += 250) data.append(ts, 1, true);
    expect(data.dropBlocksBefore(1999)).toBe(4);
    expect(pointsOf(data)[0]![0]).toBe(1000);
    expect(data.dropBlocksBefore(2000)).toBe(4);
    expect(data.dropBlocksBefore(10_000)).toBe(8);
    expect(data.pointCount()).toBe(0);
    expect(data.encodedBytes()).toBe(0);
  });

  it('floors block starts for negative timestamps', () => {
    const data = new SeriesData({ blockSpanMs: 1000 });
    expect(data.blockStartOf(-1)).toBe(-1000);
    expect(data.blockStartOf(-1000)).toBe(-1000);
    expect(data.blockStartOf(999)).toBe(0);
    data.append(-1, 1, false);
    data.append(0, 2, false);
    data.sealAll();
    expect(data.sealedBlockCount()).toBe(2);
  });

  it('returns exact int64 values beyond 2^53 alongside smaller integers and floats', () => {
    const data = new SeriesData({ blockSpanMs: 1000 });
    data.append(10, 1.5, false);
    data.append(20, Number(2n ** 63n - 1n), true, 2n ** 63n - 1n);
    data.append(1010, 3, true);
    data.sealAll();
    const cols = data.readPoints(0, 2000);
    expect(cols.bigInts).not.toBeNull();
    expect(cols.bigInts![1]).toBe(2n ** 63n - 1n);
    expect(cols.bigInts![2]).toBe(3n);
    expect(cols.values[0]).toBe(1.5);
  });

  it('rejects an invalid point without storing any point of its batch', () => {
    const data = new SeriesData();
    expect(() => data.append(1, NaN, false)).toThrow(invalid);
    expect(() => data.append(1.5, 1, false)).toThrow(invalid);
    expect(() => data.append(2 ** 49, 1, false)).toThrow(invalid);
    expect(() => data.append(1, 1.5, true)).toThrow(invalid);
    expect(() => data.append(1, 5, true, 6n)).toThrow(invalid);
    expect(() => data.append(1, Number(2n ** 64n), true, 2n ** 64n)).toThrow(invalid);
    const cols = columnsOf([
      { ts: 1, value: 1 },
      { ts: 2, value: Infinity },
    ]);
    expect(() => data.appendColumns(cols)).toThrow(invalid);
    expect(() => data.appendColumns(cols, [0, 7])).toThrow(invalid);
    expect(data.pointCount()).toBe(0);
    // The same checks when the points fall in a block already open.
    data.append(0, 1, false);
    expect(() => data.appendColumns(cols)).toThrow(invalid);
    expect(() => data.appendColumns(cols, [0, 7])).toThrow(invalid);
    expect(() => data.appendColumns(columnsOf([{ ts: 3, value: 1 }, { ts: 4.5, value: 1 }]))).toThrow(invalid);
    expect(() => data.appendColumns(columnsOf([{ ts: 3, value: 1 }, { ts: NaN, value: 1 }]))).toThrow(invalid);
    expect(data.pointCount()).toBe(1);
    expect(() => new SeriesData({ blockSpanMs: 0 })).toThrow(invalid);
  });

  it('refuses the point past maxPointsPerBlock with TSR_ERR_BLOCK_FULL but still takes overwrites', () => {
    const data = new SeriesData({ blockSpanMs: 1000, maxPointsPerBlock: 3 });
    data.append(3, 1, false);
    data.append(1, 1, false);
    data.append(2, 1, false);
    data.append(1, 9, false);
    expect(() => data.append(4, 1, false)).toThrow(expect.objectContaining({ code: 'TSR_ERR_BLOCK_FULL' }));
    expect(() => data.appendColumns(columnsOf([{ ts: 2, value: 5 }, { ts: 5, value: 5 }]))).toThrow(expect.objectContaining({ code: 'TSR_ERR_BLOCK_FULL' }));
    expect(pointsOf(data)).toEqual([
      [1, 'float:9'],
      [2, 'float:1'],
      [3, 'float:1'],
    ]);
    data.append(1500, 1, false);
    expect(data.pointCount()).toBe(4);
  });

  it('detects corruption of a snapshot or of a block inside it', () => {
    const data = new SeriesData({ blockSpanMs: 1000, latenessMs: 0 });
    for (let ts = 0; ts < 3500; ts += 10) data.append(ts, Math.sin(ts), false);
    const bytes = data.serialize();
    fc.assert(
      fc.property(fc.nat({ max: bytes.length * 8 - 1 }), (bit) => {
        const damaged = bytes.slice();
        damaged[bit >>> 3]! ^= 1 << (bit & 7);
        expect(() => SeriesData.deserialize(damaged)).toThrow(corrupt);
      }),
      { numRuns: 200 },
    );
    // Damage inside a block, with the outer checksum recomputed: the block's own checksum catches it.
    const inner = bytes.slice();
    inner[40]! ^= 0x10;
    new DataView(inner.buffer).setUint32(inner.length - 4, crc32c(inner, 0, inner.length - 4), true);
    expect(() => SeriesData.deserialize(inner)).toThrow(corrupt);
    expect(() => SeriesData.deserialize(bytes.subarray(0, 10))).toThrow(corrupt);
  });

  it('never reports damage as anything but TSR_ERR_CORRUPT_SEGMENT', () => {
    const data = new SeriesData({ blockSpanMs: 1000, latenessMs: 0 });
    for (let ts = 0; ts < 2500; ts += 100) data.append(ts, ts, true);
    const bytes = data.serialize();
    fc.assert(
      fc.property(fc.array(fc.record({ at: fc.nat(), byte: fc.nat({ max: 255 }) }), { minLength: 1, maxLength: 3 }), (edits) => {
        const damaged = bytes.slice();
        for (const { at, byte } of edits) damaged[at % (damaged.length - 4)] = byte;
        new DataView(damaged.buffer).setUint32(damaged.length - 4, crc32c(damaged, 0, damaged.length - 4), true);
        try {
          SeriesData.deserialize(damaged).readPoints(-Infinity, Infinity);
        } catch (e) {
          expect(e).toBeInstanceOf(TsraftError);
          expect((e as TsraftError).code).toBe('TSR_ERR_CORRUPT_SEGMENT');
        }
      }),
      { numRuns: 300 },
    );
  });
});

function applyOp(data: SeriesData, op: Op): void {
  if (op.kind === 'append') {
    const p = op.point;
    if (typeof p.value === 'bigint') data.append(p.ts, Number(p.value), true, p.value);
    else data.append(p.ts, p.value, false);
  } else if (op.kind === 'batch') {
    const cols = columnsOf(op.points);
    if (op.reversedIndexes) data.appendColumns(cols, Uint32Array.from(op.points.map((_, i) => op.points.length - 1 - i)));
    else data.appendColumns(cols);
  } else if (op.kind === 'seal') {
    data.sealAll();
  } else {
    data.dropBlocksBefore(op.cutoffMs);
  }
}
