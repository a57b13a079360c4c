// The state digest: equal on replicas that applied the same log (also after
// a snapshot install or a restore from a backup), different as soon as one
// point or one segment differs, and the differing group is named.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeBackupSource } from '../../src/backup/route.js';
import { packState, unpackState } from '../../src/backup/snapshot-pack.js';
import { DIGEST_GROUP_SERIES, differingGroups } from '../../src/tsdb/digest.js';
import { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';
import { Feeder, feedPoints, syntheticPoints, writeEntry } from '../backup/workload.js';

const T0 = 1_700_000_000_000;

function fed(seed: number, series = 5, points = 300): { sm: TimeSeriesStateMachine; feeder: Feeder } {
  const sm = new TimeSeriesStateMachine();
  const feeder = new Feeder(sm);
  let t = T0;
  feedPoints(feeder, syntheticPoints({ seed, series, pointsPerSeries: points, intervalMs: 60_000 }), 100, () => (t += 1000));
  return { sm, feeder };
}

describe('the state digest', () => {
  it('is equal on replicas that applied the same entries, and covers sealed and open blocks', () => {
    const a = fed(1).sm.stateDigest();
    const b = fed(1).sm.stateDigest();
    expect(a).toEqual(b);
    expect(a.digest).toMatch(/^[0-9a-f]{16}$/);
    expect(a.sealedBlocks).toBeGreaterThan(0);
    expect(a.openPoints).toBeGreaterThan(0);
  });

  it('is unchanged by a snapshot install and by a round trip through the backup format', () => {
    const { sm } = fed(2);
    const installed = new TimeSeriesStateMachine();
    installed.restore(sm.snapshot());
    expect(installed.stateDigest()).toEqual(sm.stateDigest());
    const { pack } = packState(sm.snapshot(), { clusterId: 'c', nodeId: 'n1', raftIndex: sm.appliedIndex, raftTerm: 1, membership: null, createdAtMs: 0 });
    expect(TimeSeriesStateMachine.restore(unpackState(pack).tssm).stateDigest()).toEqual(sm.stateDigest());
  });

  it('is recorded in the manifest of a backup of the node (the backup route captures it with the state)', () => {
    const { sm } = fed(5);
    const source = nodeBackupSource({
      replica: { readBarrier: async () => sm.appliedIndex, status: () => ({ members: [], term: 1 }) as never, termAt: () => 1, appliedIndex: sm.appliedIndex },
      stateMachine: sm,
      clusterId: 'c',
      nodeId: 'n1',
    });
    const { tssm, info } = source.capture();
    expect(info.stateDigest).toEqual({ algorithm: 'tsraft-digest-v1', index: sm.appliedIndex, digest: sm.stateDigest().digest });
    const { pack, manifest } = packState(tssm, info);
    expect(manifest.stateDigest?.digest).toBe(sm.stateDigest().digest);
    expect(unpackState(pack).manifest.stateDigest).toEqual(info.stateDigest);
  });

  it('changes when one point differs, and names the group that differs', () => {
    const a = fed(3);
    const b = fed(3);
    const point = { metric: 'digest.test', timestamp: T0 + 10 * 3_600_000, value: 1, tags: { host: 'x' } };
    a.feeder.sm.apply(a.feeder.index + 1, writeEntry([point], T0 + 1));
    b.feeder.sm.apply(b.feeder.index + 1, writeEntry([{ ...point, value: 2 }], T0 + 1));
    const da = a.sm.stateDigest();
    const db = b.sm.stateDigest();
    expect(da.digest).not.toBe(db.digest);
    expect(differingGroups(da, db)).toEqual([Math.floor(a.sm.nextSeriesId / DIGEST_GROUP_SERIES)]);
  });

  it('changes when a sealed segment differs', () => {
    const { sm } = fed(4);
    const before = sm.stateDigest();
    const id = [...Array(sm.nextSeriesId).keys()].find((i) => (sm.seriesDataOf(i)?.sealedBlockCount() ?? 0) > 0)!;
    // A replica whose encoder produced another block (its CRC differs); the
    // digest reads the CRC recorded when the block was sealed.
    const record = sm.seriesDataOf(id)!.sealedRecords()[0]! as { crc: number };
    record.crc ^= 0xff;
    expect(sm.stateDigest().digest).not.toBe(before.digest);
    record.crc ^= 0xff;
    expect(sm.stateDigest()).toEqual(before);
  });

  it('agrees between a replica that applied everything and one that installed a snapshot midway (random logs)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 8 }), fc.double({ min: 0, max: 1, noNaN: true }), (seed, series, cut) => {
        const full = new TimeSeriesStateMachine();
        const feeder = new Feeder(full);
        let t = T0;
        feedPoints(feeder, syntheticPoints({ seed, series, pointsPerSeries: 120, intervalMs: 120_000 }), 37, () => (t += 1000));
        const at = Math.max(1, Math.floor(feeder.entries.length * cut));
        const partial = new TimeSeriesStateMachine();
        for (const e of feeder.entries.slice(0, at)) partial.apply(e.index, e.data);
        const follower = TimeSeriesStateMachine.restore(partial.snapshot());
        for (const e of feeder.entries.slice(at)) follower.apply(e.index, e.data);
        expect(follower.stateDigest()).toEqual(full.stateDigest());
      }),
      { numRuns: 40 },
    );
  });
});
