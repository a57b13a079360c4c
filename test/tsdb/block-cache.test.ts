import { describe, expect, it } from 'vitest';
import { DecodedBlockCache } from '../../src/tsdb/block-cache.js';
import { emptyColumns } from '../../src/tsdb/points.js';
import { SeriesData } from '../../src/tsdb/series-data.js';

const decodeTo = (n: number) => () => emptyColumns(n);

describe('decoded block cache', () => {
  it('returns the cached columns on a repeat read without decoding again', () => {
    const cache = new DecodedBlockCache(1 << 20);
    const block = new Uint8Array(10);
    let decodes = 0;
    const decode = () => {
      decodes++;
      return emptyColumns(100);
    };
    const a = cache.get(block, decode);
    const b = cache.get(block, decode);
    expect(a).toBe(b);
    expect(decodes).toBe(1);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, entries: 1 });
  });

  it('stays within its byte bound, evicting the least recently used block', () => {
    const cache = new DecodedBlockCache(10_000);
    const blocks = Array.from({ length: 20 }, () => new Uint8Array(1));
    for (const b of blocks) cache.get(b, decodeTo(50)); // ~914 bytes each
    expect(cache.stats().bytes).toBeLessThanOrEqual(10_000);
    expect(cache.stats().entries).toBeLessThan(20);
    // The newest block is still cached, the oldest is gone.
    const before = cache.stats().misses;
    cache.get(blocks[19]!, decodeTo(50));
    expect(cache.stats().misses).toBe(before);
    cache.get(blocks[0]!, decodeTo(50));
    expect(cache.stats().misses).toBe(before + 1);
  });

  it('does not cache a block too large for it, and a zero-byte cache caches nothing', () => {
    const cache = new DecodedBlockCache(1000);
    cache.get(new Uint8Array(1), decodeTo(1000));
    expect(cache.stats().entries).toBe(0);
    const off = new DecodedBlockCache(0);
    off.get(new Uint8Array(1), decodeTo(1));
    expect(off.stats().entries).toBe(0);
  });

  it('gives the same points through the cache as without it, also after a late write reopens a block', () => {
    const cached = new SeriesData({ blockSpanMs: 1000, latenessMs: 0, maxOpenBlocks: 1 });
    const plain = new SeriesData({ blockSpanMs: 1000, latenessMs: 0, maxOpenBlocks: 1 });
    cached.blockCache = new DecodedBlockCache(1 << 20);
    for (const s of [cached, plain]) for (let t = 0; t < 5000; t += 10) s.append(t, t * 0.5, false);
    for (const s of [cached, plain]) s.sealAll();
    expect(cached.readPoints(0, 5000)).toEqual(plain.readPoints(0, 5000));
    expect(cached.readPoints(0, 5000)).toEqual(plain.readPoints(0, 5000));
    for (const s of [cached, plain]) s.append(1505, 42, true); // into a sealed block
    for (const s of [cached, plain]) s.sealAll();
    const after = cached.readPoints(1500, 1510);
    expect(after).toEqual(plain.readPoints(1500, 1510));
    expect(Array.from(after.timestampsMs)).toEqual([1500, 1505, 1510]);
  });
});
