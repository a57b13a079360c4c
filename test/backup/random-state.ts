// Random state machines for the streamed-snapshot suites: the same command
// sequence applied to a state machine that keeps everything in memory and to
// one kept in a store whose written blocks all leave memory
// (residentBlockBytes 0), checkpointed at random points. Both must give the
// same snapshot bytes, whichever way they are taken.
import fc from 'fast-check';
import { TsdbCheckpointer, storeBlockReader } from '../../src/replica/tsdb-persistence.js';
import { MemoryDisk } from '../../src/storage/memory-disk.js';
import { MemoryStateMachineStore } from '../../src/storage/state-machine-store.js';
import { encodeCommand } from '../../src/tsdb/command.js';
import { TimeSeriesStateMachine, type TimeSeriesStateMachineOptions } from '../../src/tsdb/state-machine.js';
import type { RawPoint } from '../../src/tsdb/validate.js';
import { writeEntry } from './workload.js';

export const T0 = 1_700_000_000_000;
export const SPAN_MS = 10_000;
const OPTIONS: Partial<TimeSeriesStateMachineOptions> = { blockSpanMs: SPAN_MS };

export type StateCommand =
  | { kind: 'write'; series: number[]; blocks: number[]; points: number; session: boolean; bigValues: boolean }
  | { kind: 'retention'; block: number }
  | { kind: 'backup'; slot: number }
  | { kind: 'checkpoint' };

export const stateCommands: fc.Arbitrary<StateCommand[]> = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('write' as const), series: fc.uniqueArray(fc.nat(7), { minLength: 1, maxLength: 4 }), blocks: fc.uniqueArray(fc.nat(30), { minLength: 1, maxLength: 3 }), points: fc.integer({ min: 1, max: 40 }), session: fc.boolean(), bigValues: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('retention' as const), block: fc.nat(30) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('backup' as const), slot: fc.integer({ min: 1, max: 5 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('checkpoint' as const) }) },
  ),
  { maxLength: 50 },
);

export interface RandomStates {
  /** Everything in memory. */
  plain: TimeSeriesStateMachine;
  /** Kept in a store; every written sealed block left memory. */
  persisted: TimeSeriesStateMachine;
  evictedBlocks: number;
}

/** Applies `commands` to both state machines (checkpoints only reach the persisted one). */
export async function buildStates(commands: readonly StateCommand[]): Promise<RandomStates> {
  const plain = new TimeSeriesStateMachine(OPTIONS);
  const store = new MemoryStateMachineStore(new MemoryDisk());
  const persisted = new TimeSeriesStateMachine(OPTIONS, { blockReader: storeBlockReader(store), residentBlockBytes: 0 });
  const checkpointer = new TsdbCheckpointer(() => persisted, store);
  let index = 0;
  let sequence = 0;
  const apply = (data: Uint8Array): void => {
    index++;
    plain.apply(index, data);
    persisted.apply(index, data);
  };
  for (const c of commands) {
    if (c.kind === 'checkpoint') {
      await checkpointer.persist();
      continue;
    }
    if (c.kind === 'retention') {
      apply(encodeCommand({ type: 'retention', leaderTimeMs: T0 + 40 * SPAN_MS, retentionMs: (40 - c.block) * SPAN_MS }));
      continue;
    }
    if (c.kind === 'backup') {
      apply(encodeCommand({ type: 'backup', event: 'start', leaderTimeMs: T0 + c.slot * 1000, slot: c.slot, attempt: 1, taker: 'n1', kind: 'full', name: `s${c.slot}`, baseName: '', destination: 'file:///b', claimTimeoutMs: 5000 }));
      continue;
    }
    const points: RawPoint[] = [];
    for (const s of c.series) {
      for (const block of c.blocks) {
        for (let k = 0; k < c.points; k++) {
          const value = c.bigValues && s % 3 === 0 ? String(2n ** 60n + BigInt(k)) : String(Math.round(Math.sin(s + k) * 1e4) / 100);
          points.push({ metric: `m${s % 3}`, timestamp: T0 + block * SPAN_MS + k * 250, value, tags: { host: `h${s}` } });
        }
      }
    }
    sequence++;
    apply(writeEntry(points, T0 + Math.max(...c.blocks) * SPAN_MS, c.session ? { clientId: 'client-a', sequence } : null));
  }
  await checkpointer.persist();
  return { plain, persisted, evictedBlocks: persisted.residencyStats().evictedBlocks };
}
