import { describe, expect, it } from 'vitest';
import { runSeed } from '../../sim/world.js';

describe('determinism', () => {
  it('the same seed gives the same run, bit for bit (trace_hash and counts)', async () => {
    const a = await runSeed({ seed: 42, faults: 'all' });
    const b = await runSeed({ seed: 42, faults: 'all' });
    expect(b.trace_hash).toBe(a.trace_hash);
    const { wall_seconds: _wa, ...restA } = a;
    const { wall_seconds: _wb, ...restB } = b;
    expect(restB).toEqual(restA);
  });

  it('different seeds give different runs', async () => {
    const a = await runSeed({ seed: 1, faults: 'all' });
    const b = await runSeed({ seed: 2, faults: 'all' });
    expect(b.trace_hash).not.toBe(a.trace_hash);
  });

  it('a scripted scenario is deterministic too', async () => {
    const a = await runSeed({ seed: 3, scenario: 'disk-wipe-rejoin' });
    const b = await runSeed({ seed: 3, scenario: 'disk-wipe-rejoin' });
    expect(b.trace_hash).toBe(a.trace_hash);
  });
});
