import { describe, expect, it } from 'vitest';
import { SCENARIO_NAMES } from '../../sim/types.js';
import { runSeed } from '../../sim/world.js';

describe('named scenarios pass', () => {
  for (const scenario of SCENARIO_NAMES) {
    it(`${scenario}: expectations hold and every checker passes (seeds 1–2)`, async () => {
      for (const seed of [1, 2]) {
        const r = await runSeed({ seed, scenario });
        expect(r.violations, `${scenario} seed ${seed}`).toEqual([]);
        expect(r.acked_writes + r.reads_checked).toBeGreaterThan(0);
      }
    });
  }
});
