// The backup records in the log: their encoding, and the rules every replica
// applies to decide who takes each scheduled backup and whether it happened.
import { describe, expect, it } from 'vitest';
import { decodeCommand, encodeCommand, type BackupFinishCommand, type BackupStartCommand } from '../../src/tsdb/command.js';
import { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';
import { parseTssm } from '../../src/backup/tssm.js';
import { packState, unpackState } from '../../src/backup/snapshot-pack.js';
import { Feeder, feedPoints, syntheticPoints } from '../backup/workload.js';

const T0 = 1_700_000_000_000;

function start(slot: number, attempt: number, over: Partial<BackupStartCommand> = {}): BackupStartCommand {
  return { type: 'backup', event: 'start', leaderTimeMs: T0 + slot * 1000, slot, attempt, taker: 'n1', kind: 'full', name: `s${slot}-a${attempt}`, baseName: '', destination: 's3://b/p', claimTimeoutMs: 5000, ...over };
}

function finish(slot: number, attempt: number, ok: boolean, over: Partial<BackupFinishCommand> = {}): BackupFinishCommand {
  return { type: 'backup', event: 'finish', leaderTimeMs: T0 + slot * 1000 + 500, slot, attempt, ok, backupId: ok ? 'ab'.repeat(16) : '', backupIndex: ok ? 7 : 0, digest: ok ? 'cd'.repeat(16) : '', storedBytes: ok ? 100 : 0, error: ok ? '' : 'S3 said no', ...over };
}

class Log {
  readonly sm = new TimeSeriesStateMachine();
  index = 0;
  apply(cmd: BackupStartCommand | BackupFinishCommand): { accepted: boolean; reason?: string } {
    const result = this.sm.apply(++this.index, encodeCommand(cmd));
    if (result.kind !== 'backup') throw new Error(`unexpected result ${result.kind}`);
    return result.accepted ? { accepted: true } : { accepted: false, reason: result.reason };
  }
}

describe('backup records', () => {
  it('round-trip through their encoding, and a flipped byte is caught', () => {
    for (const cmd of [start(3, 1), start(4, 2, { kind: 'incremental', baseName: 's3-a1' }), finish(3, 1, true), finish(3, 2, false)]) {
      const bytes = encodeCommand(cmd);
      expect(decodeCommand(bytes)).toEqual(cmd);
      const bad = bytes.slice();
      bad[5] = bad[5]! ^ 1;
      expect(() => decodeCommand(bad)).toThrow(expect.objectContaining({ code: 'TSR_ERR_CORRUPT_ENTRY' }));
    }
    expect(decodeCommand(encodeCommand({ type: 'checkpoint', leaderTimeMs: 5 }))).toEqual({ type: 'checkpoint', leaderTimeMs: 5 });
    expect(() => encodeCommand(start(1, 1, { kind: 'incremental' }))).toThrow(/no base/);
  });
});

describe('the backup schedule state', () => {
  it('lets exactly one start claim a slot, and only its taker finish it', () => {
    const log = new Log();
    expect(log.apply(start(1, 1))).toEqual({ accepted: true });
    // Another leader proposing the same slot, or the next, while it runs: refused.
    expect(log.apply(start(1, 1, { taker: 'n2' })).accepted).toBe(false);
    expect(log.apply(start(2, 1, { taker: 'n2' })).accepted).toBe(false);
    expect(log.apply(finish(1, 2, true)).accepted).toBe(false);
    expect(log.apply(finish(1, 1, true))).toEqual({ accepted: true });
    // The slot is done: a second backup of it is refused.
    expect(log.apply(start(1, 2)).accepted).toBe(false);
    expect(log.apply(start(2, 1, { kind: 'incremental', baseName: 's1-a1' }))).toEqual({ accepted: true });
    const view = log.sm.backupScheduleView();
    expect(view.current?.name).toBe('s2-a1');
    expect(view.current?.startIndex).toBe(log.index);
    expect(view.lastOk?.name).toBe('s1-a1');
    expect(view.succeeded).toBe(1);
  });

  it('retries a failed slot with the next attempt, and hands a timed-out claim to another node', () => {
    const log = new Log();
    log.apply(start(1, 1));
    log.apply(finish(1, 1, false));
    expect(log.apply(start(1, 3)).accepted).toBe(false);
    expect(log.apply(start(1, 2))).toEqual({ accepted: true });
    // n1 disappears; before its claim times out nobody may take over.
    expect(log.apply(start(1, 3, { taker: 'n2', leaderTimeMs: T0 + 1000 + 4999 })).accepted).toBe(false);
    expect(log.apply(start(1, 3, { taker: 'n2', leaderTimeMs: T0 + 1000 + 5000 }))).toEqual({ accepted: true });
    // n1's late finish is refused: only the current claim ends the slot.
    expect(log.apply(finish(1, 2, true)).accepted).toBe(false);
    expect(log.apply(finish(1, 3, true))).toEqual({ accepted: true });
    const view = log.sm.backupScheduleView();
    expect([view.started, view.succeeded, view.failed, view.superseded]).toEqual([3, 1, 1, 1]);
  });

  it('requires an incremental to build on the last good backup, and counts missed slots', () => {
    const log = new Log();
    expect(log.apply(start(1, 1, { kind: 'incremental', baseName: 'x' })).accepted).toBe(false);
    log.apply(start(1, 1));
    log.apply(finish(1, 1, true));
    expect(log.apply(start(4, 1, { kind: 'incremental', baseName: 'other' })).accepted).toBe(false);
    expect(log.apply(start(4, 1, { kind: 'incremental', baseName: 's1-a1' })).accepted).toBe(true);
    expect(log.sm.backupScheduleView().missedSlots).toBe(2);
  });

  it('travels in the snapshot and in a backup of it, and leaves a state without backups unchanged', () => {
    const plain = new TimeSeriesStateMachine();
    const feeder = new Feeder(plain);
    let t = T0;
    feedPoints(feeder, syntheticPoints({ seed: 1, series: 2, pointsPerSeries: 20 }), 20, () => (t += 1000));
    const before = plain.snapshot();
    // No section without backup records: the snapshot bytes end with the sessions as before.
    expect(parseTssm(before).sessions.length).toBe(2);
    plain.apply(feeder.index + 1, encodeCommand(start(1, 1)));
    plain.apply(feeder.index + 2, encodeCommand(finish(1, 1, true)));
    const restored = TimeSeriesStateMachine.restore(plain.snapshot());
    expect(restored.backupScheduleView()).toEqual(plain.backupScheduleView());
    expect(restored.snapshot()).toEqual(plain.snapshot());
    const { pack } = packState(plain.snapshot(), { clusterId: 'c', nodeId: 'n1', raftIndex: plain.appliedIndex, raftTerm: 1, membership: null, createdAtMs: 0 });
    expect(TimeSeriesStateMachine.restore(unpackState(pack).tssm).backupScheduleView().lastOk?.name).toBe('s1-a1');
  });
});
