import { describe, expect, it } from 'vitest';
import { encodeCommand } from '../../src/tsdb/command.js';
import { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';
import { WriteBatchBuilder } from '../../src/tsdb/write-batch.js';

function batchOf(seriesKey: string, timestampMs: number, value: number): Uint8Array {
  const builder = new WriteBatchBuilder();
  builder.addPoint(seriesKey, timestampMs, value, true, null);
  return builder.encode();
}

describe('the production write path under the simulator', () => {
  // Found by the simulator once its clients' puts were coalesced: both
  // sessions of a `writes` entry have that entry's index as their recency,
  // and the snapshot decoder refused equal indexes (sessions out of recency
  // order), so every follower installing such a snapshot, and every node
  // restarting on such a checkpoint, stopped on TSR_ERR_CORRUPT_SNAPSHOT.
  it('restores a state whose last entry coalesced the writes of two clients', () => {
    const sm = new TimeSeriesStateMachine();
    sm.apply(
      1,
      encodeCommand({
        type: 'writes',
        leaderTimeMs: 1_000,
        writes: [
          { clientId: 'a', sequence: 1, firstUnackedSequence: 1, batch: batchOf('m{h=a}', 1_000, 1) },
          { clientId: 'b', sequence: 1, firstUnackedSequence: 1, batch: batchOf('m{h=b}', 1_000, 2) },
        ],
      }),
    );
    const bytes = sm.snapshot();
    expect(TimeSeriesStateMachine.restore(bytes).snapshot()).toEqual(bytes);
  });
});
