// Hand-computed cases for rates: counters, roll-overs, resets, int64 exactness.
import { describe, expect, it } from 'vitest';
import { executeQuery } from '../../src/tsdb/query/engine.js';
import { parseQueryJson } from '../../src/tsdb/query/parse.js';
import { MemorySource, NOW_MS, dpsOf, runJson, runM } from './query-source.js';

const T = 1_700_002_800; // an hour boundary, in seconds
const s = (offsetSeconds: number): number => (T + offsetSeconds) * 1000;
const INT64_MAX = (1n << 63n) - 1n;

/** A counter that resets between T+10 and T+20. */
function counter(): MemorySource {
  return new MemorySource().add('c', { host: 'a' }, [[s(0), 100n], [s(10), 200n], [s(20), 50n], [s(30), 150n]]);
}

describe('rates', () => {
  it('gives per-second differences as doubles, from the second point on', () => {
    expect(dpsOf(runM(counter(), T, T + 100, 'sum:rate:c'))).toEqual([
      [T + 10, 10],
      [T + 20, -15],
      [T + 30, 10],
    ]);
  });

  it('rolls a decreasing counter over at counterMax (default int64 max)', () => {
    expect(dpsOf(runM(counter(), T, T + 100, 'sum:rate{counter}:c'))[1]).toEqual([T + 20, Number(INT64_MAX - 200n + 50n) / 10]);
    expect(dpsOf(runM(counter(), T, T + 100, 'sum:rate{counter,1000}:c'))).toEqual([
      [T + 10, 10],
      [T + 20, 85], // (1000 - 200 + 50) / 10
      [T + 30, 10],
    ]);
  });

  it('reports a roll-over rate above resetValue as 0', () => {
    expect(dpsOf(runM(counter(), T, T + 100, 'sum:rate{counter,1000,50}:c')).map((p) => p[1])).toEqual([10, 0, 10]);
    expect(dpsOf(runM(counter(), T, T + 100, 'sum:rate{counter,1000,100}:c')).map((p) => p[1])).toEqual([10, 85, 10]);
  });

  it('drops the point where a counter reset with dropResets, measuring the next rate from it', () => {
    expect(dpsOf(runM(counter(), T, T + 100, 'sum:rate{dropcounter}:c'))).toEqual([
      [T + 10, 10],
      [T + 30, 10],
    ]);
    const json = runJson(counter(), {
      start: T,
      end: T + 100,
      queries: [{ aggregator: 'sum', metric: 'c', rate: true, rateOptions: { counter: true, dropResets: true } }],
    });
    expect(dpsOf(json).map((p) => p[1])).toEqual([10, 10]);
  });

  it('ignores dropResets for a series that is not a counter', () => {
    const json = runJson(counter(), {
      start: T,
      end: T + 100,
      queries: [{ aggregator: 'sum', metric: 'c', rate: true, rateOptions: { counter: false, dropResets: true } }],
    });
    expect(dpsOf(json).map((p) => p[1])).toEqual([10, -15, 10]);
  });

  it('stays exact for int64 counters near 2^63', () => {
    const near = new MemorySource().add('c', { host: 'a' }, [[s(0), INT64_MAX - 100n], [s(10), INT64_MAX - 10n], [s(20), 5n]]);
    // As doubles both first values are 2^63 and the difference would be 0.
    const groups = runJson(near, {
      start: T,
      end: T + 100,
      queries: [{ aggregator: 'sum', metric: 'c', rate: true, rateOptions: { counter: true, counterMax: INT64_MAX } }],
    });
    expect(dpsOf(groups)).toEqual([
      [T + 10, 9],
      [T + 20, 1.5], // (max - (max - 10) + 5) / 10
    ]);
  });

  it('reads counterMax beyond 2^53 from JSON text exactly', () => {
    const max = (1n << 60n) + 1n; // JSON.parse would read 2^60
    const wrapped = new MemorySource().add('c', { host: 'a' }, [[s(0), max - 1n], [s(1), 0n]]);
    const body = `{"start":${T},"end":${T + 100},"queries":[{"aggregator":"sum","metric":"c","rate":true,"rateOptions":{"counter":true,"counterMax":${max}}}]}`;
    const groups = executeQuery(parseQueryJson(body, { nowMs: NOW_MS }), wrapped);
    expect(dpsOf(groups)).toEqual([[T + 1, 1]]); // (max - (max - 1) + 0) / 1s
  });

  it('rates floats in doubles', () => {
    const floats = new MemorySource().add('c', { host: 'a' }, [[s(0), 1.5], [s(4), 2.5]]);
    expect(dpsOf(runM(floats, T, T + 100, 'sum:rate:c'))).toEqual([[T + 4, 0.25]]);
  });
});

describe('rates across series', () => {
  it('holds each series latest rate instead of interpolating, until its last rate', () => {
    const source = new MemorySource()
      .add('m', { host: 'a' }, [[s(0), 0n], [s(10), 10n], [s(20), 20n]])
      .add('m', { host: 'b' }, [[s(0), 0n], [s(15), 30n]]);
    expect(dpsOf(runM(source, T, T + 100, 'sum:rate:m'))).toEqual([
      [T + 10, 1], // b still holds its first rate, 0 / T
      [T + 15, 3], // a holds 1, b rates 2
      [T + 20, 1], // b has no later rate: it no longer takes part
    ]);
  });

  it("uses a series' first rate (against time zero) before its second point", () => {
    const source = new MemorySource()
      .add('m', { host: 'a' }, [[s(0), 0n], [s(10), 10n]])
      .add('m', { host: 'b' }, [[s(5), 1000n], [s(15), 1010n]]);
    expect(dpsOf(runM(source, T, T + 100, 'sum:rate:m'))).toEqual([
      [T + 10, 1 + 1000 / (T + 5)],
      [T + 15, 1],
    ]);
  });

  it('ignores the interpolation of zimsum for rates', () => {
    const source = new MemorySource()
      .add('m', { host: 'a' }, [[s(0), 0n], [s(10), 10n], [s(20), 20n]])
      .add('m', { host: 'b' }, [[s(0), 0n], [s(15), 30n]]);
    expect(dpsOf(runM(source, T, T + 100, 'zimsum:rate:m')).map((p) => p[1])).toEqual([1, 3, 1]);
  });

  it('downsamples first, then rates the buckets', () => {
    const source = new MemorySource().add('m', { host: 'a' }, [[s(0), 1n], [s(5), 3n], [s(10), 10n], [s(20), 20n]]);
    expect(dpsOf(runM(source, T, T + 100, 'sum:10s-sum:rate:m'))).toEqual([
      [T + 10, 0.6], // (10 - 4) / 10
      [T + 20, 1],
    ]);
  });
});
