import { describe, it } from 'vitest';
import { expectSeedsPass } from './seed-batch.js';

describe('simulator, 5 nodes, all faults', () => {
  it('seeds 1–20 finish with no violation', async () => {
    await expectSeedsPass(1, 20, { nodes: 5, faults: 'all' });
  });
});

describe('simulator, one fault class at a time', () => {
  for (const faults of ['none', 'network', 'crash', 'disk', 'clock'] as const) {
    it(`seeds 1–5 with ${faults} faults finish with no violation`, async () => {
      await expectSeedsPass(1, 5, { nodes: 3, faults });
    });
  }
});
