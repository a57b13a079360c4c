import { describe, it } from 'vitest';
import { expectSeedsPass } from './seed-batch.js';

// Seeds 61–120 of the CI batch (3 nodes, all faults); the batch is split
// over four files so the two test workers share it.
describe('simulator, 3 nodes, all faults', () => {
  for (let first = 61; first <= 120; first += 20) {
    it(`seeds ${first}–${first + 19} finish with no violation`, async () => {
      await expectSeedsPass(first, first + 19, { nodes: 3, faults: 'all' });
    });
  }
});
