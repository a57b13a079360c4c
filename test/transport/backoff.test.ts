import { describe, expect, it } from 'vitest';
import { SeededPrng } from '../../src/util/prng.js';
import { Backoff } from '../../src/transport/backoff.js';

describe('Backoff', () => {
  it('draws each delay from [cap/2, cap] with the cap doubling up to the maximum', () => {
    const backoff = new Backoff(new SeededPrng(7), 100, 1000);
    const caps = [100, 200, 400, 800, 1000, 1000, 1000];
    for (const cap of caps) {
      const delay = backoff.nextDelayMs();
      expect(delay).toBeGreaterThanOrEqual(cap / 2);
      expect(delay).toBeLessThanOrEqual(cap);
    }
  });

  it('starts over from the minimum after a reset', () => {
    const backoff = new Backoff(new SeededPrng(7), 100, 10_000);
    for (let i = 0; i < 6; i++) backoff.nextDelayMs();
    backoff.reset();
    expect(backoff.nextDelayMs()).toBeLessThanOrEqual(100);
  });

  it('reproduces the same jittered sequence from the same seed', () => {
    const run = (): number[] => {
      const backoff = new Backoff(new SeededPrng(42), 50, 5000);
      return Array.from({ length: 10 }, () => backoff.nextDelayMs());
    };
    expect(run()).toEqual(run());
    expect(new Set(run()).size).toBeGreaterThan(5);
  });
});
