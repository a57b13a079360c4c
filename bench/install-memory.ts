// Memory of installing a Raft snapshot on a follower, in memory vs streamed
// (issue 4: data larger than memory). The state of snapshot-memory.ts (~5 M
// points in ~10 k series, kept in LevelDB as a node keeps it) is packed once
// into a leader's snapshot file (the node's format: a backup pack). Then, in
// a fresh process per measurement (a follower with an empty LevelDB, as
// after a wipe), the install runs once:
//
//   memory   the path before: the whole snapshot file read (promoteIncoming
//            returned its bytes), BackupFormatStateMachine.restore() (the pack
//            unpacked and rebuilt into the whole TSSM, then the state machine
//            rebuilt from it, every block in memory), then the checkpoint the
//            replica takes right after an install (the whole state written to
//            LevelDB, blocks leaving memory beyond residentBlockBytes)
//   stream   what Replica.installSnapshot does now: restoreFrom(meta,
//            snapshotStore.readData(meta)) — the pack streamed from the file
//            group by group into LevelDB, the state digest checked on the
//            state read back
//
// Both must end with the source's state (same state hash, read from LevelDB).
// Growth is over the memory held before (after a full GC): peak RSS (the
// kernel's high-water mark) and the peak of V8 heap + array buffers sampled
// every 2 ms; with --live, the growth of live memory (forced GCs every 25 ms
// and after each MiB read).
//
//   npx tsc -p tsconfig.json && node dist/bench/install-memory.js [--series 5120,10240] [--points 480] [--runs 3]
//
// Writes bench/results/install-memory.json and bench/results/install-memory.md.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { BackupFormatStateMachine } from '../src/backup/state-machine-adapter.js';
import { TssmStream } from '../src/backup/tssm-stream.js';
import type { SnapshotMeta } from '../src/raft/types.js';
import { TsdbCheckpointer, loadPersistedState, storeBlockReader } from '../src/replica/tsdb-persistence.js';
import { FileSnapshotStore } from '../src/storage/file-snapshot-store.js';
import { MemoryDisk } from '../src/storage/memory-disk.js';
import { LevelStateMachineStore, MemoryStateMachineStore } from '../src/storage/state-machine-store.js';
import type { StateMachineStore } from '../src/storage/types.js';
import { TimeSeriesStateMachine } from '../src/tsdb/state-machine.js';
import { PeakMemory, argValue, fmt, memoryNow, requireGc, stats, writeResults, type Stats } from './lib.js';
import { RESIDENT_BLOCK_BYTES, fill, openDb, prepare } from './snapshot-state.js';

const MiB = 1024 * 1024;
const LEADER_SNAPSHOTS = 'leader-snapshots';

type Mode = 'memory' | 'stream';

interface Source {
  meta: SnapshotMeta;
  stateHash: string;
  stateBytes: number;
  points: number;
  series: number;
}

interface Measurement {
  mode: Mode;
  live: boolean;
  installSeconds: number;
  rssBeforeBytes: number;
  peakRssGrowthBytes: number;
  sampledPeakHeapGrowthBytes: number;
  /** Heap + array buffers after the install (and its checkpoint), over the baseline. */
  heldAfterBytes: number;
  sealedBlocksInMemory: number;
  stateHash: string;
}


function machineOn(store: StateMachineStore): TimeSeriesStateMachine {
  return new TimeSeriesStateMachine({}, { blockReader: storeBlockReader(store), residentBlockBytes: RESIDENT_BLOCK_BYTES, decodedBlockCacheBytes: 0 });
}

function adapterOf(sm: TimeSeriesStateMachine, store: StateMachineStore): BackupFormatStateMachine {
  return new BackupFormatStateMachine(sm, { clusterId: 'bench', nodeId: 'n2', install: { store } });
}

/** The leader's snapshot of the prepared state, as the node writes it (a pack, streamed). */
async function leaderSnapshot(dir: string, series: number): Promise<Source> {
  const db = openDb(dir);
  await db.open();
  const store = new LevelStateMachineStore(db);
  const sm = machineOn(store);
  if (!(await loadPersistedState(sm, store))) throw new Error(`no state in ${dir}`);
  const adapter = adapterOf(sm, store);
  const snapshots = await FileSnapshotStore.open(join(dir, LEADER_SNAPSHOTS));
  const base = { index: sm.appliedIndex, term: 1, config: { voters: ['n1', 'n2'], learners: [], contexts: { n1: 'ws://127.0.0.1:1', n2: 'ws://127.0.0.1:2' } } };
  const meta = await snapshots.saveStream(base, (sink) => adapter.writeSnapshot(sink));
  await snapshots.close();
  const source: Source = { meta, stateHash: adapter.stateHash(), stateBytes: new TssmStream(sm).sizeBytes, points: sm.stats().pointCount, series };
  await db.close();
  writeFileSync(join(dir, 'source.json'), JSON.stringify(source));
  return source;
}

/** Both paths once on a small state, so their code is compiled before the baseline. */
async function warmUp(): Promise<void> {
  const leader = new TimeSeriesStateMachine();
  await fill(leader, null, 200, 480);
  const pack = new BackupFormatStateMachine(leader, { clusterId: 'warm', nodeId: 'n1' }).snapshot();
  const meta: SnapshotMeta = { index: leader.appliedIndex, term: 1, config: { voters: ['n1'], learners: [], contexts: {} }, sizeBytes: pack.length };
  for (const streamed of [false, true]) {
    const store = new MemoryStateMachineStore(new MemoryDisk());
    const sm = machineOn(store);
    const adapter = adapterOf(sm, store);
    if (streamed) {
      await adapter.restoreFrom!(
        meta,
        (async function* () {
          for (let at = 0; at < pack.length; at += MiB) yield pack.slice(at, at + MiB);
        })(),
      );
    } else {
      adapter.restore(pack);
      await new TsdbCheckpointer(() => sm, store).persist();
    }
  }
}

/** One install in this (fresh) process into an empty LevelDB; prints the Measurement as JSON. */
async function measure(dir: string, mode: Mode, live: boolean): Promise<void> {
  const gc = requireGc('the measure phase');
  const source = JSON.parse(readFileSync(join(dir, 'source.json'), 'utf8')) as Source;
  const followerDir = join(dir, `follower-${mode}-${process.pid}`);
  const db = openDb(followerDir);
  await db.open();
  const store = new LevelStateMachineStore(db);
  const sm = machineOn(store);
  const adapter = adapterOf(sm, store);
  const snapshots = await FileSnapshotStore.open(join(dir, LEADER_SNAPSHOTS));
  if ((await snapshots.loadMeta())?.index !== source.meta.index) throw new Error('the leader snapshot is missing');
  await warmUp();

  gc();
  gc();
  const memory = new PeakMemory(gc);
  const { before } = memory;
  const sample = (collect: boolean): void => memory.sample(collect);
  const sampler = setInterval(() => sample(live), live ? 25 : 2);
  const started = performance.now();
  if (mode === 'memory') {
    const local = await snapshots.load();
    sample(live);
    adapter.restore(local!.data);
    sample(live);
    await new TsdbCheckpointer(() => sm, store).persist();
  } else {
    let read = 0;
    let nextSample = MiB;
    const chunks = snapshots.readData(source.meta);
    await adapter.restoreFrom!(
      source.meta,
      (async function* () {
        for await (const chunk of chunks) {
          read += chunk.length;
          if (read >= nextSample) {
            nextSample = read + MiB;
            sample(live);
          }
          yield chunk;
        }
      })(),
    );
  }
  sample(live);
  const installSeconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const maxRssBytes = process.resourceUsage().maxRSS * 1024;
  gc();
  const heldAfterBytes = memoryNow().heap - before.heap;
  let sealedBlocksInMemory = 0;
  for (let id = 0; id < sm.nextSeriesId; id++) for (const record of sm.seriesDataOf(id)?.sealedRecords() ?? []) if (record.bytes !== null) sealedBlocksInMemory++;
  const stateHash = sm.stateHash();
  await snapshots.close();
  await db.close();
  rmSync(followerDir, { recursive: true, force: true });
  const result: Measurement = {
    mode,
    live,
    installSeconds,
    rssBeforeBytes: before.rss,
    peakRssGrowthBytes: Math.max(maxRssBytes, memory.peak.rss) - before.rss,
    sampledPeakHeapGrowthBytes: memory.peak.heap - before.heap,
    heldAfterBytes,
    sealedBlocksInMemory,
    stateHash,
  };
  console.log(JSON.stringify(result));
}

function runChild(dir: string, mode: Mode, live: boolean): Measurement {
  const script = fileURLToPath(import.meta.url);
  const args = ['--expose-gc', script, '--phase', 'measure', '--dir', dir, '--mode', mode, ...(live ? ['--live'] : [])];
  const child = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 16 * MiB });
  if (child.status !== 0) throw new Error(`measure ${mode} failed (${child.status}): ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').pop()!) as Measurement;
}

const mb = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

interface SizeResult {
  source: Source;
  prepareSeconds: number;
  summary: Array<{ mode: Mode; live: boolean; peakRssGrowthBytes: Stats; sampledPeakHeapGrowthBytes: Stats; heldAfterBytes: Stats; installSeconds: Stats; rssBeforeBytes: Stats }>;
  measurements: Measurement[];
}

async function measureSize(series: number, points: number, runs: number): Promise<SizeResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tsraft-installmem-'));
  try {
    console.log(`preparing ${series} series × ${points} points in ${dir} …`);
    const prepared = await prepare(dir, series, points);
    const source = await leaderSnapshot(dir, series);
    console.log(`prepared ${fmt(prepared.points)} points, TSSM ${mb(source.stateBytes)}, pack ${mb(source.meta.sizeBytes)}, in ${prepared.seconds.toFixed(1)} s`);
    const configs: Array<{ mode: Mode; live: boolean }> = [
      { mode: 'memory', live: true },
      { mode: 'stream', live: true },
      { mode: 'memory', live: false },
      { mode: 'stream', live: false },
    ];
    const all: Measurement[] = [];
    for (let r = 0; r < runs; r++) {
      for (const c of configs) {
        const m = runChild(dir, c.mode, c.live);
        console.log(`run ${r + 1} ${c.mode}${c.live ? ' live' : ''}: peak RSS +${mb(m.peakRssGrowthBytes)}, sampled heap +${mb(m.sampledPeakHeapGrowthBytes)}, held after +${mb(m.heldAfterBytes)}, ${m.installSeconds.toFixed(2)} s`);
        if (m.stateHash !== source.stateHash) throw new Error(`${c.mode} install ended with state ${m.stateHash}, the leader's is ${source.stateHash}`);
        all.push(m);
      }
    }
    const summary = configs.map((c) => {
      const ms = all.filter((m) => m.mode === c.mode && m.live === c.live);
      return {
        ...c,
        peakRssGrowthBytes: stats(ms.map((m) => m.peakRssGrowthBytes)),
        sampledPeakHeapGrowthBytes: stats(ms.map((m) => m.sampledPeakHeapGrowthBytes)),
        heldAfterBytes: stats(ms.map((m) => m.heldAfterBytes)),
        installSeconds: stats(ms.map((m) => m.installSeconds)),
        rssBeforeBytes: stats(ms.map((m) => m.rssBeforeBytes)),
      };
    });
    return { source, prepareSeconds: prepared.seconds, summary, measurements: all };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (argValue('phase', 'all') === 'measure') {
    await measure(argValue('dir', ''), argValue('mode', 'stream') as Mode, process.argv.includes('--live'));
    return;
  }
  const seriesList = argValue('series', '5120,10240').split(',').map(Number);
  const points = Number(argValue('points', '480'));
  const runs = Number(argValue('runs', '3'));
  if (process.argv.includes('--render-only')) {
    // Rewrites the markdown from the last JSON (no measurement).
    const last = JSON.parse(readFileSync(join(fileURLToPath(new URL('../../bench/results/', import.meta.url)), 'install-memory.json'), 'utf8')) as { runs: number; sizes: SizeResult[] };
    render(last.sizes, last.runs, last.sizes.map((x) => x.source.series), Math.round(last.sizes[0]!.source.points / last.sizes[0]!.source.series));
    return;
  }
  const sizes: SizeResult[] = [];
  for (const series of seriesList) sizes.push(await measureSize(series, points, runs));
  render(sizes, runs, seriesList, points);
}

function render(sizes: SizeResult[], runs: number, seriesList: number[], points: number): void {
  const r = (x: Stats, f: (n: number) => string): string => `${f(x.median)} (${f(x.min)}–${f(x.max)})`;
  const pathName = (mode: Mode): string => (mode === 'memory' ? 'in memory (before)' : 'streamed (now)');
  const label = (size: SizeResult): string =>
    `${fmt(size.source.points)} points, ${size.source.series.toLocaleString('en')} series: TSSM ${mb(size.source.stateBytes)}, pack ${mb(size.source.meta.sizeBytes)}, ${Math.ceil(size.source.series / 1024)} groups`;
  const lines: string[] = [
    '# Snapshot install memory: in memory vs streamed',
    '',
    'The state of `snapshot-memory.md` (one point a minute for 8 h per series, noisy random-walk gauges, 2 h blocks), kept in LevelDB with residentBlockBytes ' +
      `${mb(RESIDENT_BLOCK_BYTES)}, packed once into a leader's snapshot file as the node writes it (a backup pack, streamed). ` +
      'Each measurement is a fresh process: a follower with an empty LevelDB (as after a wipe) and the same residentBlockBytes, which runs both paths once on a small state of its own (so their code is compiled before the baseline) and then installs the snapshot the old way (the whole file read, as `promoteIncoming` returned it; `restore()`: the pack rebuilt into the whole TSSM and the state machine rebuilt from it; then the checkpoint the replica takes right after an install, which writes the state to LevelDB) or the new way (`restoreFrom(meta, readData(meta))`, what `Replica.installSnapshot` does now: streamed group by group into LevelDB, the state digest checked on the state read back). ' +
      `Growth is over the memory held before the install (after a full GC). Median (min–max) of ${runs} runs. Every install ended with the leader's state hash, read back from LevelDB.`,
    '',
    '## Live memory (forced GCs)',
    '',
    'A full GC every 25 ms and after every MiB read from the file. "Held after" is what stays once the install (and, in memory, its checkpoint) is done, after a GC: the series index, open blocks and sealed blocks\' metadata (what a node holds after loading the state from LevelDB), plus resident sealed blocks. "Transient" is the peak less what is held after (medians): what the install itself needs on top of the state\'s resident part.',
    '',
    '| state | path | peak live growth (heap + array buffers) | held after | transient |',
    '| --- | --- | ---: | ---: | ---: |',
  ];
  for (const size of sizes) {
    for (const s of size.summary.filter((x) => x.live)) lines.push(`| ${label(size)} | ${pathName(s.mode)} | ${r(s.sampledPeakHeapGrowthBytes, mb)} | ${r(s.heldAfterBytes, mb)} | ${mb(s.sampledPeakHeapGrowthBytes.median - s.heldAfterBytes.median)} |`);
  }
  lines.push(
    '',
    '## Peak RSS and timing (no forced GC)',
    '',
    "Peak RSS is the kernel's high-water mark; it includes garbage V8 has not collected yet and LevelDB's native memory (memtables, compactions while the state is written). The in-memory path's `restore()` is synchronous, so the 2 ms sampler does not see inside it (peak RSS does). The streamed path writes every series to LevelDB as it goes and then reads the whole state back to check its digest: that is most of its extra time.",
    '',
    '| state | path | peak RSS growth | peak heap + array buffers growth (sampled every 2 ms) | seconds | RSS before |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  );
  for (const size of sizes) {
    for (const s of size.summary.filter((x) => !x.live)) lines.push(`| ${label(size)} | ${pathName(s.mode)} | ${r(s.peakRssGrowthBytes, mb)} | ${r(s.sampledPeakHeapGrowthBytes, mb)} | ${r(s.installSeconds, (n) => n.toFixed(2))} | ${mb(s.rssBeforeBytes.median)} |`);
  }
  lines.push('', `Reproduce: \`npx tsc -p tsconfig.json && node dist/bench/install-memory.js --series ${seriesList.join(',')} --points ${points} --runs ${runs}\``);
  writeResults('install-memory', { residentBlockBytes: RESIDENT_BLOCK_BYTES, runs, sizes }, lines.join('\n'));
}

await main();
