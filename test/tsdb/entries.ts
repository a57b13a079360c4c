// Log entries for state machine tests: a write of validated points (with an
// optional client session) and a retention pass, encoded as the leader would.
import { expect } from 'vitest';
import { encodeCommand } from '../../src/tsdb/command.js';
import { validatePoints, type RawPoint } from '../../src/tsdb/validate.js';
import { WriteBatchBuilder } from '../../src/tsdb/write-batch.js';

export interface EntrySession {
  clientId: string;
  sequence: number;
  /** Default: `sequence` (nothing older is unacknowledged). */
  firstUnackedSequence?: number;
}

/** A write entry; with `seriesIdOf`, series it knows are given by id (batch
 *  version 2, what a leader writes for series its state machine holds). */
export function writeEntry(points: RawPoint[], leaderTimeMs: number, session?: EntrySession, seriesIdOf?: (key: string) => number | undefined): Uint8Array {
  const builder = seriesIdOf === undefined ? new WriteBatchBuilder() : new WriteBatchBuilder({}, 1024, seriesIdOf);
  const { errors } = validatePoints(points, builder);
  expect(errors).toEqual([]);
  return encodeCommand({
    type: 'write',
    clientId: session?.clientId ?? '',
    sequence: session?.sequence ?? 0,
    firstUnackedSequence: session?.firstUnackedSequence ?? session?.sequence ?? 0,
    leaderTimeMs,
    batch: builder.encode(),
  });
}

export function retentionEntry(leaderTimeMs: number, retentionMs: number): Uint8Array {
  return encodeCommand({ type: 'retention', leaderTimeMs, retentionMs });
}
