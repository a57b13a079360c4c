// The state both snapshot-memory benchmarks (snapshot-memory.ts: taking a
// local snapshot; install-memory.ts: installing one) run on: noisy
// random-walk gauges, `series` series every minute, in time order, kept in
// LevelDB as a node keeps them (checkpoints; written sealed blocks leave
// memory beyond RESIDENT_BLOCK_BYTES).
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ClassicLevel } from 'classic-level';
import { TssmStream } from '../src/backup/tssm-stream.js';
import { TsdbCheckpointer, storeBlockReader } from '../src/replica/tsdb-persistence.js';
import type { RootLevel } from '../src/storage/level-log-store.js';
import { LevelStateMachineStore } from '../src/storage/state-machine-store.js';
import { encodeCommand } from '../src/tsdb/command.js';
import { TimeSeriesStateMachine } from '../src/tsdb/state-machine.js';
import { WriteBatchBuilder } from '../src/tsdb/write-batch.js';

const MiB = 1024 * 1024;
const BATCH_POINTS = 5000;
const START_MS = 1_700_000_000_000;
const INTERVAL_MS = 60_000;
export const RESIDENT_BLOCK_BYTES = 1 * MiB;
const CHECKPOINT_EVERY_BATCHES = 20;

export function openDb(dir: string): RootLevel {
  return new ClassicLevel(join(dir, 'db'), { createIfMissing: true }) as RootLevel;
}

/** Noisy random-walk gauges, `series` series every minute, in time order, into LevelDB. */
export async function prepare(dir: string, series: number, points: number): Promise<{ points: number; seconds: number; stateBytes: number }> {
  const started = performance.now();
  const db = openDb(dir);
  await db.open();
  const store = new LevelStateMachineStore(db);
  const sm = new TimeSeriesStateMachine({}, { blockReader: storeBlockReader(store), residentBlockBytes: RESIDENT_BLOCK_BYTES, decodedBlockCacheBytes: 0 });
  await fill(sm, new TsdbCheckpointer(() => sm, store), series, points);
  const stateBytes = new TssmStream(sm).sizeBytes;
  const total = sm.stats().pointCount;
  await db.close();
  return { points: total, seconds: (performance.now() - started) / 1000, stateBytes };
}

export async function fill(sm: TimeSeriesStateMachine, checkpointer: { persist(): Promise<number> } | null, series: number, points: number): Promise<void> {
  const levels = new Float64Array(series).map((_, s) => 20 + (s % 60));
  let seed = 12345;
  const rand = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  const keys = Array.from({ length: series }, (_, s) => `bench.snap.kind${s % 4}{dc=dc${s % 8},host=host${String(s).padStart(5, '0')}}`);
  let index = 0;
  let builder = new WriteBatchBuilder({ maxPoints: BATCH_POINTS });
  let inBatch = 0;
  let batches = 0;
  for (let step = 0; step < points; step++) {
    const ts = START_MS + step * INTERVAL_MS;
    for (let s = 0; s < series; s++) {
      // A random walk plus full-precision noise: ~8 bytes a point after
      // compression, so the state is large for its point count.
      levels[s] = Math.min(100, Math.max(0, levels[s]! + (rand() - 0.5) * 2));
      builder.addPoint(keys[s]!, ts, levels[s]! + rand(), false, null);
      if (++inBatch === BATCH_POINTS) {
        sm.apply(++index, encodeCommand({ type: 'write', clientId: '', sequence: 0, firstUnackedSequence: 0, leaderTimeMs: ts, batch: builder.encode() }));
        builder = new WriteBatchBuilder({ maxPoints: BATCH_POINTS });
        inBatch = 0;
        if (++batches % CHECKPOINT_EVERY_BATCHES === 0) await checkpointer?.persist();
      }
    }
  }
  if (inBatch > 0) sm.apply(++index, encodeCommand({ type: 'write', clientId: '', sequence: 0, firstUnackedSequence: 0, leaderTimeMs: START_MS + points * INTERVAL_MS, batch: builder.encode() }));
  await checkpointer?.persist();
}

