// Memory of a node's state machine as its data grows (issue 4: data larger
// than memory). The state machine runs as a node runs it — writes applied,
// checkpoints to LevelDB every `--checkpoint-every` entries, sealed blocks
// leaving memory beyond storage.residentBlockBytes — and, for comparison, as
// before the data moved to LevelDB (every block's bytes in memory). After
// every step of `--step` million points the process forces a GC and records
// the V8 heap plus array buffers (live memory) next to the data's encoded size.
//
//   npx tsc -p tsconfig.json && node --expose-gc dist/bench/resident-memory.js [--series 2000] [--points-m 12] [--step-m 2] [--resident-mib 8]
//
// Values are random doubles (about 5.4 bytes a point encoded, far above
// real metrics) so that the data outgrows the heap quickly.
// Writes bench/results/resident-memory.json and .md.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ClassicLevel } from 'classic-level';
import { TsdbCheckpointer, storeBlockReader } from '../src/replica/tsdb-persistence.js';
import type { RootLevel } from '../src/storage/level-log-store.js';
import { LevelStateMachineStore } from '../src/storage/state-machine-store.js';
import { encodeCommand } from '../src/tsdb/command.js';
import { TimeSeriesStateMachine } from '../src/tsdb/state-machine.js';
import { WriteBatchBuilder } from '../src/tsdb/write-batch.js';
import { SeededPrng } from '../src/util/prng.js';
import { argValue, fmt, writeResults } from './lib.js';

interface Sample {
  points: number;
  encodedMiB: number;
  liveMiB: number;
  residentBlockMiB: number;
  evictedBlocks: number;
}

function arg(name: string, fallback: number): number {
  return Number(argValue(name, String(fallback)));
}

const SERIES = arg('series', 2000);
const POINTS = arg('points-m', 12) * 1e6;
const STEP = arg('step-m', 2) * 1e6;
const RESIDENT_BYTES = arg('resident-mib', 8) * 1024 * 1024;
const CHECKPOINT_EVERY = arg('checkpoint-every', 200);
const INTERVAL_MS = 10_000;
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % 7_200_000);

function liveMiB(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  gc();
  gc();
  const m = process.memoryUsage();
  return (m.heapUsed + m.arrayBuffers) / (1024 * 1024);
}

async function run(mode: 'leveldb' | 'all-in-memory'): Promise<{ samples: Sample[]; seconds: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'tsraft-resident-'));
  const db: RootLevel = new ClassicLevel(dir, { createIfMissing: true });
  await db.open();
  try {
    const store = new LevelStateMachineStore(db);
    const sm =
      mode === 'leveldb'
        ? new TimeSeriesStateMachine({}, { blockReader: storeBlockReader(store), residentBlockBytes: RESIDENT_BYTES, decodedBlockCacheBytes: 8 * 1024 * 1024 })
        : new TimeSeriesStateMachine({}, { decodedBlockCacheBytes: 8 * 1024 * 1024 });
    const checkpointer = new TsdbCheckpointer(() => sm, store);
    const prng = new SeededPrng(42);
    const keys = Array.from({ length: SERIES }, (_, s) => `bench.memory{host=h${s}}`);
    const baseline = liveMiB();
    const samples: Sample[] = [];
    const start = performance.now();
    let index = 0;
    let written = 0;
    let step = 0;
    while (written < POINTS) {
      // One scrape of every series: one entry.
      const builder = new WriteBatchBuilder();
      for (const key of keys) builder.addPoint(key, T0 + step * INTERVAL_MS, prng.nextFloat() * 1000, false, null);
      sm.apply(++index, encodeCommand({ type: 'write', clientId: '', sequence: 0, firstUnackedSequence: 0, leaderTimeMs: T0, batch: builder.encode() }));
      written += SERIES;
      step++;
      if (mode === 'leveldb' && index % CHECKPOINT_EVERY === 0) await checkpointer.persist();
      if (written % STEP < SERIES) {
        if (mode === 'leveldb') await checkpointer.persist();
        const stats = sm.stats();
        const residency = sm.residencyStats();
        samples.push({
          points: written,
          encodedMiB: stats.encodedBytes / (1024 * 1024),
          liveMiB: liveMiB() - baseline,
          residentBlockMiB: residency.residentWrittenBytes / (1024 * 1024),
          evictedBlocks: residency.evictedBlocks,
        });
        const last = samples[samples.length - 1]!;
        console.log(`${mode}: ${fmt(written)} points, encoded ${last.encodedMiB.toFixed(1)} MiB, live +${last.liveMiB.toFixed(1)} MiB, resident blocks ${last.residentBlockMiB.toFixed(1)} MiB`);
      }
    }
    return { samples, seconds: (performance.now() - start) / 1000 };
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const leveldb = await run('leveldb');
  const memory = await run('all-in-memory');
  const rows = leveldb.samples.map((s, i) => {
    const m = memory.samples[i];
    return `| ${fmt(s.points)} | ${s.encodedMiB.toFixed(1)} | ${s.liveMiB.toFixed(1)} | ${s.residentBlockMiB.toFixed(1)} | ${m === undefined ? '—' : m.liveMiB.toFixed(1)} |`;
  });
  const first = leveldb.samples[0]!;
  const last = leveldb.samples[leveldb.samples.length - 1]!;
  const lastMemory = memory.samples[memory.samples.length - 1]!;
  const md = [
    '# State machine memory as the data grows (issue 4)',
    '',
    `${SERIES} series, one point each every 10 s, random doubles (about 5.4 bytes a point encoded); checkpoint every ${CHECKPOINT_EVERY} entries; storage.residentBlockBytes = ${RESIDENT_BYTES / (1024 * 1024)} MiB. Live memory = V8 heap + array buffers after forced GCs, above the process's baseline. \`node --expose-gc dist/bench/resident-memory.js\``,
    '',
    '| points | encoded data (MiB) | live memory, data in LevelDB (MiB) | of which written blocks kept (MiB) | live memory, every block in memory (MiB) |',
    '| ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    `From ${fmt(first.points)} to ${fmt(last.points)} points the encoded data grew by ${(last.encodedMiB - first.encodedMiB).toFixed(1)} MiB; live memory with the data in LevelDB grew by ${(last.liveMiB - first.liveMiB).toFixed(1)} MiB (indexes, open blocks, the bounded caches), with every block in memory by ${(lastMemory.liveMiB - memory.samples[0]!.liveMiB).toFixed(1)} MiB.`,
    '',
  ].join('\n');
  writeResults('resident-memory', { series: SERIES, residentBlockBytes: RESIDENT_BYTES, checkpointEveryEntries: CHECKPOINT_EVERY, leveldb, allInMemory: memory }, md);
}

await main();
