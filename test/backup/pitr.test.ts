// Point-in-time recovery: the log archive keeps every applied entry in
// checksummed segments; a restore to an index (or a leader time) replays the
// archive on top of a base backup and gives exactly the state at that index.
import { appendFileSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackup, type CreateBackupResult } from '../../src/backup/create.js';
import { LogArchiver, listSegments, parseSegment, readArchive } from '../../src/backup/log-archive.js';
import { parseRestoreTarget } from '../../src/backup/pitr.js';
import { restoredState } from '../../src/backup/restore.js';
import type { Entry } from '../../src/raft/types.js';
import { encodeCommand } from '../../src/tsdb/command.js';
import { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';
import { SOURCE_CLUSTER_ID, startBackupServer, type TestBackupServer } from './backup-server.js';
import { TempDirs } from './temp.js';
import { newStateMachine, syntheticPoints, writeEntry } from './workload.js';

const temp = new TempDirs();
const START_MS = 1_700_000_000_000;

/** The replicated log of a run: writes, leader no-ops, a config entry, a retention entry. */
function buildLog(): Entry[] {
  const points = syntheticPoints({ seed: 21, series: 6, pointsPerSeries: 400 });
  const entries: Entry[] = [];
  let index = 0;
  const term = (i: number): number => (i < 60 ? 2 : 3);
  for (let i = 0; i < points.length; i += 40) {
    index++;
    if (index === 30) entries.push({ index, term: term(index), kind: 'normal', data: new Uint8Array(0) }), index++;
    if (index === 61) entries.push({ index, term: term(index), kind: 'config', data: new TextEncoder().encode('{"op":"add-learner"}') }), index++;
    entries.push({ index, term: term(index), kind: 'normal', data: writeEntry(points.slice(i, i + 40), START_MS + index * 60_000, { clientId: 'c1', sequence: index }) });
  }
  index++;
  entries.push({ index, term: 3, kind: 'normal', data: encodeCommand({ type: 'retention', leaderTimeMs: START_MS + index * 60_000, retentionMs: 365 * 86_400_000 }) });
  return entries;
}

/** The state after applying log entries up to `upTo`, the way the replica applies them. */
function stateAt(log: readonly Entry[], upTo: number): TimeSeriesStateMachine {
  const sm = newStateMachine();
  for (const e of log) {
    if (e.index > upTo) break;
    if (e.kind === 'normal' && e.data.length > 0) sm.apply(e.index, e.data);
  }
  return sm;
}

describe('point-in-time recovery', () => {
  const log = buildLog();
  const lastIndex = log[log.length - 1]!.index;
  const BASE_INDEX = 25;
  let archiveDir: string;
  let server: TestBackupServer;
  let base: CreateBackupResult;

  beforeAll(async () => {
    archiveDir = join(temp.make(), 'archive');
    const archiver = await LogArchiver.open({ dir: archiveDir, clusterId: SOURCE_CLUSTER_ID, maxSegmentBytes: 8192, flushIntervalMs: 50 });
    for (const e of log) archiver.append(e);
    await archiver.close();
    const sm = stateAt(log, BASE_INDEX);
    server = await startBackupServer(sm, () => BASE_INDEX, { raftTerm: 2 });
    base = await createBackup({ endpoint: server.url, outDir: join(temp.make(), 'base') });
  });

  afterAll(async () => {
    await server.close();
    temp.removeAll();
  });

  it('archives every entry in sealed, checksummed segments', () => {
    const segments = listSegments(archiveDir);
    expect(segments.length).toBeGreaterThan(3);
    let next = 1;
    for (const s of segments) {
      const parsed = parseSegment(new Uint8Array(readFileSync(s.file)), s.file);
      expect(parsed.sealed).toBe(true);
      expect(parsed.firstIndex).toBe(next);
      next += parsed.entries.length;
    }
    expect(next - 1).toBe(lastIndex);
  });

  it('restores to any index after the base the exact state at that index', () => {
    fc.assert(
      fc.property(fc.integer({ min: BASE_INDEX, max: lastIndex }), (target) => {
        const state = restoredState(base.dir, { until: { kind: 'index', index: target }, archiveDir });
        expect(state.index).toBe(target);
        expect(TimeSeriesStateMachine.restore(state.tssm).stateHash()).toBe(stateAt(log, target).stateHash());
      }),
      { numRuns: 15, seed: 77 },
    );
  });

  it('restores to a leader time: every entry stamped at or before it, none after', () => {
    const target = 47;
    const time = new Date(START_MS + target * 60_000 + 30_000).toISOString();
    const state = restoredState(base.dir, { until: parseRestoreTarget(time), archiveDir });
    expect(state.index).toBe(target);
    expect(TimeSeriesStateMachine.restore(state.tssm).stateHash()).toBe(stateAt(log, target).stateHash());
    expect(state.replay?.archiveEndedEarly).toBe(false);
  });

  it('carries the term of the last replayed entry', () => {
    expect(restoredState(base.dir, { until: { kind: 'index', index: 59 }, archiveDir }).term).toBe(2);
    expect(restoredState(base.dir, { until: { kind: 'index', index: 62 }, archiveDir }).term).toBe(3);
  });

  it('reports a gap in the archive when entries up to the target are missing', () => {
    const dir = temp.make();
    const segments = listSegments(archiveDir);
    for (const s of segments) writeFileSync(join(dir, s.file.slice(s.file.lastIndexOf('/') + 1)), readFileSync(s.file), { flag: 'w' });
    const middle = listSegments(dir)[2]!;
    rmSync(middle.file);
    expect(() => restoredState(base.dir, { until: { kind: 'index', index: lastIndex }, archiveDir: dir })).toThrow(expect.objectContaining({ code: 'TSR_ERR_ARCHIVE_GAP' }));
    expect(() => restoredState(base.dir, { until: { kind: 'index', index: lastIndex + 5 }, archiveDir })).toThrow(expect.objectContaining({ code: 'TSR_ERR_ARCHIVE_GAP', details: expect.objectContaining({ firstMissingIndex: lastIndex + 1 }) }));
  });

  it('fails on a flipped byte in an archived segment, naming the file', () => {
    const dir = temp.make();
    for (const s of listSegments(archiveDir)) writeFileSync(join(dir, s.file.slice(s.file.lastIndexOf('/') + 1)), readFileSync(s.file));
    const victim = listSegments(dir)[1]!.file;
    const bytes = readFileSync(victim);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x10;
    writeFileSync(victim, bytes);
    expect(() => restoredState(base.dir, { until: { kind: 'index', index: lastIndex }, archiveDir: dir })).toThrow(expect.objectContaining({ code: 'TSR_ERR_ARCHIVE_CORRUPT', details: expect.objectContaining({ file: victim }) }));
  });

  it('refuses a target before the base backup', () => {
    expect(() => restoredState(base.dir, { until: { kind: 'index', index: BASE_INDEX - 1 }, archiveDir })).toThrow(expect.objectContaining({ code: 'TSR_ERR_INVALID_ARGUMENT' }));
  });

  it('parses --until as an index (digits) or an ISO-8601 time', () => {
    expect(parseRestoreTarget('1234')).toEqual({ kind: 'index', index: 1234 });
    expect(parseRestoreTarget('2023-11-14T22:13:20Z')).toMatchObject({ kind: 'time', timeMs: 1_700_000_000_000 });
    expect(() => parseRestoreTarget('yesterday')).toThrow(expect.objectContaining({ code: 'TSR_ERR_INVALID_ARGUMENT' }));
  });
});

describe('log archiver', () => {
  const entry = (index: number, term = 1): Entry => ({ index, term, kind: 'normal', data: encodeCommand({ type: 'noop' }) });

  afterAll(() => temp.removeAll());

  it('skips entries it already holds when a restarted node replays its log', async () => {
    const dir = join(temp.make(), 'replay');
    const first = await LogArchiver.open({ dir, clusterId: 'c' });
    for (let i = 1; i <= 10; i++) first.append(entry(i));
    await first.close();
    const second = await LogArchiver.open({ dir, clusterId: 'c' });
    expect(second.status().lastIndex).toBe(10);
    for (let i = 5; i <= 15; i++) second.append(entry(i));
    await second.close();
    expect([...iterate(dir, 1)].map((e) => e.index)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
  });

  it('starts a new segment after a gap (a snapshot installed from the leader) and reports the gap to a reader', async () => {
    const dir = join(temp.make(), 'gap');
    const archiver = await LogArchiver.open({ dir, clusterId: 'c' });
    for (let i = 1; i <= 5; i++) archiver.append(entry(i));
    for (let i = 20; i <= 22; i++) archiver.append(entry(i));
    await archiver.close();
    expect(listSegments(dir).map((s) => s.firstIndex)).toEqual([1, 20]);
    expect([...iterate(dir, 20)].map((e) => e.index)).toEqual([20, 21, 22]);
    expect(() => [...iterate(dir, 1)]).toThrow(expect.objectContaining({ code: 'TSR_ERR_ARCHIVE_GAP', details: expect.objectContaining({ firstMissingIndex: 6 }) }));
  });

  it('continues after a crash, dropping the torn tail of the open segment', async () => {
    const dir = join(temp.make(), 'torn');
    const archiver = await LogArchiver.open({ dir, clusterId: 'c' });
    for (let i = 1; i <= 8; i++) archiver.append(entry(i));
    await archiver.flush();
    // Crash: the open segment stays unsealed and its last record is cut in half.
    const file = listSegments(dir)[0]!.file;
    truncateSync(file, statSync(file).size - 7);
    appendFileSync(file, Buffer.from([1, 200, 0]));
    const reopened = await LogArchiver.open({ dir, clusterId: 'c' });
    expect(reopened.status().lastIndex).toBe(7);
    for (let i = 8; i <= 12; i++) reopened.append(entry(i));
    await reopened.close();
    expect([...iterate(dir, 1)].map((e) => e.index)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    await archiver.close().catch(() => undefined);
  });

  it('refuses an archive directory of another cluster', async () => {
    const dir = join(temp.make(), 'other');
    const a = await LogArchiver.open({ dir, clusterId: 'one' });
    a.append(entry(1));
    await a.close();
    await expect(LogArchiver.open({ dir, clusterId: 'two' })).rejects.toMatchObject({ code: 'TSR_ERR_ARCHIVE_CORRUPT' });
    expect(readdirSync(dir).length).toBe(1);
  });

  function* iterate(dir: string, from: number): Generator<Entry> {
    for (const { entry: e } of readArchive(dir, from)) yield e;
  }
});
