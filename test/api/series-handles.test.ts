import { describe, expect, it } from 'vitest';
import { SeriesHandleTable } from '../../src/api/series-handles.js';

describe('SeriesHandleTable', () => {
  it('maps declared handles to their keys and ignores malformed or out-of-bound ones', () => {
    const table = new SeriesHandleTable(4);
    table.declare([0, 3, 4, -1, 1.5, 2], ['a{h=0}', 'a{h=3}', 'a{h=4}', 'x', 'y', 7]);
    expect([0, 1, 2, 3, 4].map((h) => table.keyOf(h))).toEqual(['a{h=0}', undefined, undefined, 'a{h=3}', undefined]);
    table.declare('not handles', ['a{h=1}']);
    expect(table.keyOf(1)).toBeUndefined();
  });

  it('remembers series ids per handle and forgets one when its handle is declared for another key', () => {
    const table = new SeriesHandleTable(8);
    table.declare([0, 1], ['a{h=0}', 'a{h=1}']);
    expect([...table.idHints([0, 1, 5])]).toEqual([-1, -1, -1]);
    table.remember([0, 1], ['a{h=0}', 'a{h=1}'], Int32Array.of(10, 11));
    expect([...table.idHints([1, 0])]).toEqual([11, 10]);
    table.declare([0, 1], ['a{h=0}', 'a{h=other}']);
    expect([...table.idHints([0, 1])]).toEqual([10, -1]);
  });

  it('does not remember an id for a handle declared again while the put was in flight', () => {
    const table = new SeriesHandleTable(8);
    table.declare([0], ['a{h=0}']);
    table.declare([0], ['b{h=0}']);
    table.remember([0], ['a{h=0}'], Int32Array.of(10));
    expect([...table.idHints([0])]).toEqual([-1]);
  });
});
