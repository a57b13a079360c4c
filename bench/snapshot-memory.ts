// Memory of a local Raft snapshot, in-memory vs streamed (issue 4: data
// larger than memory). A state of ~5 M points in ~10 k series is written to
// LevelDB as a node keeps it (checkpoints; sealed blocks leave memory under
// a small residentBlockBytes). Then, in a fresh process per measurement (as
// a restarted node: indexes and open blocks loaded, sealed blocks stay in
// LevelDB), the node's snapshot path runs once:
//
//   memory   BackupFormatStateMachine.snapshot() (the whole TSSM, then the
//            whole pack) + FileSnapshotStore.save()   — the path before
//   stream   FileSnapshotStore.saveStream(meta, adapter.writeSnapshot) —
//            what Replica.takeSnapshot does now
//
// and reports the growth over the memory held before it: peak RSS (the
// kernel's high-water mark, which also sees the synchronous in-memory path)
// and, for the streamed path, the peak of V8 heap + array buffers sampled
// every 2 ms. Both paths must write the same file (same SHA-256). The page
// cache of sealed blocks' pages (BackupFormatOptions.pageCacheBytes, default
// 64 MiB, a fixed bound) is set to 1 MiB for the main comparison and to its
// default for a second one.
//
//   npx tsc -p tsconfig.json && node dist/bench/snapshot-memory.js [--series 10240] [--points 480] [--runs 3]
//
// Writes bench/results/snapshot-memory.json and bench/results/snapshot-memory.md.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { BackupFormatStateMachine } from '../src/backup/state-machine-adapter.js';
import { PageCache } from '../src/backup/series-pages.js';
import { packState } from '../src/backup/snapshot-pack.js';
import { TssmStream } from '../src/backup/tssm-stream.js';
import { loadPersistedState, storeBlockReader } from '../src/replica/tsdb-persistence.js';
import type { SnapshotMeta } from '../src/raft/types.js';
import { FileSnapshotStore, SNAPSHOT_FILE } from '../src/storage/file-snapshot-store.js';
import { LevelStateMachineStore } from '../src/storage/state-machine-store.js';
import { TimeSeriesStateMachine } from '../src/tsdb/state-machine.js';
import { PeakMemory, argValue, fmt, requireGc, stats, writeResults, type Stats } from './lib.js';
import { RESIDENT_BLOCK_BYTES, fill, openDb, prepare } from './snapshot-state.js';

const MiB = 1024 * 1024;

type Mode = 'memory' | 'stream';

interface Measurement {
  mode: Mode;
  /** Forced GCs: the growth of live memory (see measure()), not timed. */
  live: boolean;
  pageCacheMiB: number;
  loadSeconds: number;
  snapshotSeconds: number;
  sizePassSeconds: number;
  rssBeforeBytes: number;
  heapBeforeBytes: number;
  peakRssGrowthBytes: number;
  sampledPeakHeapGrowthBytes: number;
  fileBytes: number;
  fileSha256: string;
  packBytes: number;
  stateBytes: number;
  groups: number;
}


/** Runs both snapshot paths once on a small state, so that the code they
 *  run is compiled before the baseline (V8's code and feedback are heap too). */
async function warmUp(): Promise<void> {
  const sm = new TimeSeriesStateMachine();
  await fill(sm, null, 200, 480);
  const adapter = new BackupFormatStateMachine(sm, { clusterId: 'warm', nodeId: 'n1', pageCacheBytes: 1 });
  adapter.snapshot();
  packState(sm.snapshot(), { clusterId: 'warm', nodeId: 'n1', raftIndex: sm.appliedIndex, raftTerm: null, membership: null, createdAtMs: 0 });
  await adapter.writeSnapshot({ write: async () => {} });
}

/**
 * One snapshot in this (fresh) process; prints the Measurement as JSON.
 * Without `live`: timed, with the peak RSS (garbage included: V8 collects
 * when it likes) and heap + array buffers sampled every 2 ms. With `live`:
 * the growth of live memory, after forced GCs — the streamed path GCs after
 * every MiB it writes (a group's files are written once all its pages are
 * cut: its peak); the in-memory path cannot be stopped inside snapshot(), so
 * it is measured holding the TSSM and the pack at once, as the last step of
 * snapshot() does (a lower bound: encodePack also holds every file while it
 * builds the pack).
 */
async function measure(dir: string, mode: Mode, live: boolean, pageCacheMiB: number): Promise<void> {
  const gc = requireGc('the measure phase');
  const loadStarted = performance.now();
  const db = openDb(dir);
  await db.open();
  const store = new LevelStateMachineStore(db);
  const sm = new TimeSeriesStateMachine({}, { blockReader: storeBlockReader(store), residentBlockBytes: RESIDENT_BLOCK_BYTES, decodedBlockCacheBytes: 0 });
  if (!(await loadPersistedState(sm, store))) throw new Error(`no state in ${dir}: run without --phase first`);
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  await warmUp();
  const adapter = new BackupFormatStateMachine(sm, { clusterId: 'bench', nodeId: 'n1', pageCacheBytes: pageCacheMiB * MiB });
  const snapshotDir = join(dir, `snap-${mode}-${process.pid}`);
  const snapshots = await FileSnapshotStore.open(snapshotDir);
  const base = { index: sm.appliedIndex, term: 1, config: { voters: ['n1'], learners: [], contexts: { n1: 'ws://127.0.0.1:1' } } };

  gc();
  gc();
  const memory = new PeakMemory(gc);
  const { before } = memory;
  const sample = (collect: boolean): void => memory.sample(collect);
  const sampler = live ? null : setInterval(() => sample(false), 2);
  const started = performance.now();
  let meta: SnapshotMeta;
  if (mode === 'memory') {
    let data: Uint8Array;
    if (live) {
      const tssm = sm.snapshot();
      sample(true);
      data = packState(tssm, { clusterId: 'bench', nodeId: 'n1', raftIndex: sm.appliedIndex, raftTerm: null, membership: null, createdAtMs: sm.lastLeaderTimeMs }, { cache: new PageCache(1_000_000, pageCacheMiB * MiB) }).pack;
      sample(true);
      if (tssm.length === 0) throw new Error('empty state');
    } else {
      data = adapter.snapshot();
      sample(false);
    }
    meta = { ...base, sizeBytes: data.length };
    await snapshots.save(meta, data);
    sample(live);
  } else {
    let written = 0;
    let nextSample = MiB;
    meta = await snapshots.saveStream(base, (sink) =>
      adapter.writeSnapshot({
        write: async (bytes) => {
          await sink.write(bytes);
          written += bytes.length;
          if (live && written >= nextSample) {
            nextSample = written + MiB;
            sample(true);
          }
        },
      }),
    );
    sample(live);
  }
  const snapshotSeconds = (performance.now() - started) / 1000;
  if (sampler !== null) clearInterval(sampler);
  const maxRssBytes = process.resourceUsage().maxRSS * 1024;
  await snapshots.close();

  const sizeStarted = performance.now();
  const stream = new TssmStream(sm);
  const sizePassSeconds = (performance.now() - sizeStarted) / 1000;
  const file = readFileSync(join(snapshotDir, SNAPSHOT_FILE));
  const groups = Math.ceil(sm.nextSeriesId / 1024);
  await db.close();
  const result: Measurement = {
    mode,
    live,
    pageCacheMiB,
    loadSeconds,
    snapshotSeconds,
    sizePassSeconds,
    rssBeforeBytes: before.rss,
    heapBeforeBytes: before.heap,
    peakRssGrowthBytes: Math.max(maxRssBytes, memory.peak.rss) - before.rss,
    sampledPeakHeapGrowthBytes: memory.peak.heap - before.heap,
    fileBytes: file.length,
    fileSha256: createHash('sha256').update(file).digest('hex'),
    packBytes: meta.sizeBytes,
    stateBytes: stream.sizeBytes,
    groups,
  };
  rmSync(snapshotDir, { recursive: true, force: true });
  console.log(JSON.stringify(result));
}

function runChild(dir: string, mode: Mode, live: boolean, pageCacheMiB: number): Measurement {
  const script = fileURLToPath(import.meta.url);
  const args = ['--expose-gc', script, '--phase', 'measure', '--dir', dir, '--mode', mode, '--page-cache-mib', String(pageCacheMiB), ...(live ? ['--live'] : [])];
  const child = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 16 * MiB });
  if (child.status !== 0) throw new Error(`measure ${mode} failed (${child.status}): ${child.stderr}`);
  const line = child.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as Measurement;
}

const mb = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

interface SizeResult {
  series: number;
  pointsPerSeries: number;
  points: number;
  stateBytes: number;
  packBytes: number;
  groups: number;
  prepareSeconds: number;
  summary: Array<{ mode: Mode; live: boolean; pageCacheMiB: number; peakRssGrowthBytes: Stats; sampledPeakHeapGrowthBytes: Stats; snapshotSeconds: Stats; sizePassSeconds: Stats; rssBeforeBytes: Stats }>;
  measurements: Measurement[];
}

async function measureSize(series: number, points: number, runs: number, withDefaultCache: boolean): Promise<SizeResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tsraft-snapmem-'));
  try {
    console.log(`preparing ${series} series × ${points} points in ${dir} …`);
    const prepared = await prepare(dir, series, points);
    console.log(`prepared ${fmt(prepared.points)} points, state ${mb(prepared.stateBytes)}, in ${prepared.seconds.toFixed(1)} s`);
    const configs: Array<{ mode: Mode; live: boolean; pageCacheMiB: number }> = [
      { mode: 'memory', live: true, pageCacheMiB: 1 },
      { mode: 'stream', live: true, pageCacheMiB: 1 },
      { mode: 'memory', live: false, pageCacheMiB: 1 },
      { mode: 'stream', live: false, pageCacheMiB: 1 },
    ];
    if (withDefaultCache) configs.push({ mode: 'memory', live: false, pageCacheMiB: 64 }, { mode: 'stream', live: false, pageCacheMiB: 64 });
    const all: Measurement[] = [];
    for (let r = 0; r < runs; r++) {
      for (const c of configs) {
        const m = runChild(dir, c.mode, c.live, c.pageCacheMiB);
        console.log(`run ${r + 1} ${c.mode}${c.live ? ' live' : ''} cache ${c.pageCacheMiB} MiB: peak RSS +${mb(m.peakRssGrowthBytes)}, sampled heap +${mb(m.sampledPeakHeapGrowthBytes)}, ${m.snapshotSeconds.toFixed(2)} s`);
        all.push(m);
      }
    }
    const shas = new Set(all.map((m) => m.fileSha256));
    if (shas.size !== 1) throw new Error(`the paths wrote different snapshot files: ${[...shas].join(', ')}`);
    const summary = configs.map((c) => {
      const ms = all.filter((m) => m.mode === c.mode && m.live === c.live && m.pageCacheMiB === c.pageCacheMiB);
      return {
        ...c,
        peakRssGrowthBytes: stats(ms.map((m) => m.peakRssGrowthBytes)),
        sampledPeakHeapGrowthBytes: stats(ms.map((m) => m.sampledPeakHeapGrowthBytes)),
        snapshotSeconds: stats(ms.map((m) => m.snapshotSeconds)),
        sizePassSeconds: stats(ms.map((m) => m.sizePassSeconds)),
        rssBeforeBytes: stats(ms.map((m) => m.rssBeforeBytes)),
      };
    });
    const first = all[0]!;
    return { series, pointsPerSeries: points, points: prepared.points, stateBytes: first.stateBytes, packBytes: first.packBytes, groups: first.groups, prepareSeconds: prepared.seconds, summary, measurements: all };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const phase = argValue('phase', 'all');
  if (phase === 'measure') {
    await measure(argValue('dir', ''), argValue('mode', 'stream') as Mode, process.argv.includes('--live'), Number(argValue('page-cache-mib', '1')));
    return;
  }
  const seriesList = argValue('series', '5120,10240').split(',').map(Number);
  const points = Number(argValue('points', '480'));
  const runs = Number(argValue('runs', '3'));
  const sizes: SizeResult[] = [];
  for (let i = 0; i < seriesList.length; i++) sizes.push(await measureSize(seriesList[i]!, points, runs, i === seriesList.length - 1));
  const r = (x: Stats, f: (n: number) => string): string => `${f(x.median)} (${f(x.min)}–${f(x.max)})`;
  const pathName = (mode: Mode): string => (mode === 'memory' ? 'in memory (before)' : 'streamed (now)');
  const label = (size: SizeResult): string => `${fmt(size.points)} points, ${size.series.toLocaleString('en')} series: TSSM ${mb(size.stateBytes)}, pack ${mb(size.packBytes)}, ${size.groups} groups`;
  const lines: string[] = [
    '# Local snapshot memory: in memory vs streamed',
    '',
    `Each state: series of one point a minute for 8 h (noisy random-walk gauges, ${(sizes[sizes.length - 1]!.stateBytes / sizes[sizes.length - 1]!.points).toFixed(1)} bytes a point in the snapshot, so the state is large for its point count; 2 h blocks, the last one open), kept in LevelDB by checkpoints with residentBlockBytes ${mb(RESIDENT_BLOCK_BYTES)}. ` +
      'Each measurement is a fresh process that loads the state as a restarted node does (indexes and open blocks; sealed blocks stay in LevelDB), runs both paths once on a small state of its own (so their code is compiled before the baseline), and takes one local snapshot the old way (`snapshot()` + `save()`) or the new way (`saveStream` + `writeSnapshot`, what `Replica.takeSnapshot` does now), with a 1 MiB page cache. ' +
      `Growth is over the memory held before the snapshot (after a full GC). Median (min–max) of ${runs} runs. Both paths wrote the same snapshot file (same SHA-256) in every run of a state.`,
    '',
    '## Live memory (forced GCs)',
    '',
    'The streamed path is collected after every MiB it writes (a group\'s files are written once all its pages are cut: the group\'s peak). The in-memory path is measured holding the TSSM and the pack at once, as the end of `snapshot()` does: a lower bound (while `encodePack` builds the pack it also holds every file, about one more pack).',
    '',
    '| state | path | live memory growth (heap + array buffers) |',
    '| --- | --- | ---: |',
  ];
  for (const size of sizes) {
    for (const s of size.summary.filter((x) => x.live)) lines.push(`| ${label(size)} | ${pathName(s.mode)} | ${s.mode === 'memory' ? '≥ ' : ''}${r(s.sampledPeakHeapGrowthBytes, mb)} |`);
  }
  lines.push(
    '',
    '## Peak RSS and timing (no forced GC)',
    '',
    'Peak RSS is the kernel\'s high-water mark, so it also sees the synchronous in-memory path; it includes the garbage V8 has not collected yet, which on these states is of the same order as the snapshot itself.',
    '',
    '| state | path | page cache | peak RSS growth | peak heap + array buffers growth (sampled every 2 ms) | seconds | RSS before |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const size of sizes) {
    for (const s of size.summary.filter((x) => !x.live)) {
      const heap = s.mode === 'stream' ? r(s.sampledPeakHeapGrowthBytes, mb) : 'not sampled (synchronous)';
      lines.push(`| ${label(size)} | ${pathName(s.mode)} | ${s.pageCacheMiB} MiB | ${r(s.peakRssGrowthBytes, mb)} | ${heap} | ${r(s.snapshotSeconds, (n) => n.toFixed(2))} | ${mb(s.rssBeforeBytes.median)} |`);
    }
  }
  const sizePass = stats(sizes[sizes.length - 1]!.measurements.map((m) => m.sizePassSeconds));
  lines.push(
    '',
    `The streamed path first walks every series to learn the snapshot's exact size (the default layout depends on it) without reading sealed blocks: ${(sizePass.median * 1000).toFixed(0)} ms (${(sizePass.min * 1000).toFixed(0)}–${(sizePass.max * 1000).toFixed(0)}) for the largest state.`,
    '',
    "The page cache (BackupFormatOptions.pageCacheBytes) remembers the pages of sealed blocks between snapshots, a fixed bound of 64 MiB by default: in a fresh process it fills with this state's pages during the first snapshot, in both paths, which is what the 64 MiB rows show. Most of the snapshot's time is cutting blocks into pages (the codecs' encoders), the same in both paths.",
    '',
    `Reproduce: \`npx tsc -p tsconfig.json && node dist/bench/snapshot-memory.js --series ${seriesList.join(',')} --points ${points} --runs ${runs}\``,
  );
  writeResults('snapshot-memory', { residentBlockBytes: RESIDENT_BLOCK_BYTES, runs, sizes }, lines.join('\n'));
}

await main();
