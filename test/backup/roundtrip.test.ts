// A slice of the devops dataset through the whole path: a node streams a
// backup while writes continue, the backup verifies, each node of a new
// cluster is restored from it, and the restored state answers every query
// exactly as the source did at the backup's index (same state hash).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANIFEST_FILE } from '../../src/backup/constants.js';
import { createBackup } from '../../src/backup/create.js';
import { NODE_DB_FOLDER, NODE_SNAPSHOT_FOLDER, RESTORED_FROM_FILE, restoreIntoDataDir, type RestoreNodeConfig } from '../../src/backup/restore.js';
import { verifyBackup } from '../../src/backup/verify.js';
import { FileSnapshotStore } from '../../src/storage/file-snapshot-store.js';
import { LevelRaftLogStore } from '../../src/storage/level-log-store.js';
import { executeQuery, parseQueryBody, renderQueryResults } from '../../src/tsdb/query/index.js';
import { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';
import { SOURCE_CLUSTER_ID, startBackupServer, type TestBackupServer } from './backup-server.js';
import { TempDirs } from './temp.js';
import { DEVOPS_PATH, Feeder, devopsLines, feedLines, newStateMachine } from './workload.js';

const SLICE_LINES = 250_000;
const temp = new TempDirs();

const QUERIES = [
  { start: 1_699_999_000_000, queries: [{ metric: 'sys.cpu.user', aggregator: 'sum', tags: { host: '*' } }] },
  { start: 1_699_999_000_000, queries: [{ metric: 'app.http.latency_ms', aggregator: 'avg', downsample: '5m-avg', filters: [{ type: 'literal_or', tagk: 'endpoint', filter: '/api/a', groupBy: true }] }] },
  { start: 1_699_999_000_000, queries: [{ metric: 'net.if.bytes_in', aggregator: 'sum', rate: true, tags: { host: 'h03' } }] },
  { start: 1_699_999_000_000, queries: [{ metric: 'sys.mem.free', aggregator: 'max', downsample: '1h-max' }, { metric: 'sys.disk.used_pct', aggregator: 'min', tags: { host: 'h1*' } }] },
];

function answers(sm: TimeSeriesStateMachine): string[] {
  return QUERIES.map((body) => {
    const query = parseQueryBody(body, { nowMs: 1_700_100_000_000 });
    return renderQueryResults(executeQuery(query, sm), query);
  });
}

function nodeConfig(dir: string, id: string): RestoreNodeConfig {
  return {
    nodeId: id,
    clusterId: 'restored-cluster',
    dataDir: join(dir, id),
    join: false,
    peers: { n1: 'ws://127.0.0.1:9101', n2: 'ws://127.0.0.1:9102', n3: 'ws://127.0.0.1:9103' },
  };
}

describe.runIf(existsSync(DEVOPS_PATH))('backup round trip of a devops slice', () => {
  let source: TimeSeriesStateMachine;
  let feeder: Feeder;
  let server: TestBackupServer;
  let backupDir: string;
  let atBackup: { hash: string; index: number; answers: string[] };

  beforeAll(async () => {
    const lines = devopsLines(SLICE_LINES + 20_000)!;
    source = newStateMachine();
    feeder = new Feeder(source);
    feedLines(feeder, lines.slice(0, SLICE_LINES));
    let late = SLICE_LINES;
    // Writes continue while the backup streams: each capture applies one more batch first.
    server = await startBackupServer(source, () => feeder.index, {
      beforeCapture: () => {
        feedLines(feeder, lines.slice(late, late + 5000));
        late += 5000;
        atBackup = { hash: source.stateHash(), index: feeder.index, answers: answers(source) };
      },
    });
    backupDir = join(temp.make(), 'devops');
    await createBackup({ endpoint: server.url, outDir: backupDir });
    // More writes after the capture must not be in the backup.
    feedLines(feeder, lines.slice(late, late + 5000));
  });

  afterAll(async () => {
    await server.close();
    temp.removeAll();
  });

  it('records the state at one Raft index, with the source state digest', () => {
    const { manifest, rebuild } = verifyBackup(backupDir);
    expect(manifest.raft.index).toBe(atBackup.index);
    expect(manifest.state.stateHash).toBe(atBackup.hash);
    expect(rebuild.stateHash).toBe(atBackup.hash);
    expect(manifest.pointCount).toBe(rebuild.pointCount);
    expect(manifest.seriesCount).toBe(140);
    expect(source.stateHash()).not.toBe(atBackup.hash);
    // The queries select real data, so equal answers mean something.
    for (const answer of atBackup.answers) expect(answer.length).toBeGreaterThan(200);
  });

  it('restores each node of a new cluster to a state that answers every query as the source did', async () => {
    const root = temp.make();
    const hashes: string[] = [];
    for (const id of ['n1', 'n2', 'n3']) {
      const cfg = nodeConfig(root, id);
      const result = await restoreIntoDataDir(backupDir, cfg);
      expect(result.index).toBe(atBackup.index);
      const store = await FileSnapshotStore.open(join(cfg.dataDir, NODE_SNAPSHOT_FOLDER));
      const loaded = await store.load();
      await store.close();
      expect(loaded!.meta).toMatchObject({ index: atBackup.index, term: 3, config: { voters: ['n1', 'n2', 'n3'], learners: [] } });
      const restored = TimeSeriesStateMachine.restore(loaded!.data);
      expect(answers(restored)).toEqual(atBackup.answers);
      hashes.push(restored.stateHash());
      const log = await LevelRaftLogStore.open({ location: join(cfg.dataDir, NODE_DB_FOLDER) });
      const stored = await log.load();
      await log.close();
      expect(stored.snapshot?.index).toBe(atBackup.index);
      expect(stored.hardState).toEqual({ term: 3, vote: null, commit: atBackup.index });
      expect(stored.entries).toEqual([]);
      expect(JSON.parse(readFileSync(join(cfg.dataDir, RESTORED_FROM_FILE), 'utf8')).backupIndex).toBe(atBackup.index);
    }
    expect(hashes).toEqual([atBackup.hash, atBackup.hash, atBackup.hash]);
  });

  it('refuses to overwrite a data directory without force, and replaces it with force', async () => {
    const root = temp.make();
    const cfg = nodeConfig(root, 'n1');
    await restoreIntoDataDir(backupDir, cfg);
    await expect(restoreIntoDataDir(backupDir, cfg)).rejects.toMatchObject({ code: 'TSR_ERR_TARGET_NOT_EMPTY' });
    const result = await restoreIntoDataDir(backupDir, cfg, { force: true });
    expect(result.stateHash).toBe(atBackup.hash);
  });

  it('gives the restored cluster a new cluster id unless told to keep the source id', async () => {
    const cfg = { ...nodeConfig(temp.make(), 'n1'), clusterId: SOURCE_CLUSTER_ID };
    await expect(restoreIntoDataDir(backupDir, cfg)).rejects.toMatchObject({ code: 'TSR_ERR_INVALID_ARGUMENT', details: { field: 'clusterId' } });
    expect(existsSync(join(cfg.dataDir, NODE_DB_FOLDER))).toBe(false);
    const kept = await restoreIntoDataDir(backupDir, cfg, { keepClusterId: true });
    expect(kept.stateHash).toBe(atBackup.hash);
  });

  it('refuses a backup that fails verification and leaves the data directory alone', async () => {
    const path = join(backupDir, MANIFEST_FILE);
    const original = readFileSync(path);
    writeFileSync(path, original.toString('utf8').replace(/"pointCount": (\d+)/, (_, n: string) => `"pointCount": ${Number(n) + 1}`));
    try {
      const cfg = nodeConfig(temp.make(), 'n1');
      await expect(restoreIntoDataDir(backupDir, cfg)).rejects.toMatchObject({ code: 'TSR_ERR_BACKUP_CORRUPT', details: { file: path } });
      expect(existsSync(join(cfg.dataDir, NODE_SNAPSHOT_FOLDER))).toBe(false);
    } finally {
      writeFileSync(path, original);
    }
  });

  it('refuses to restore a node that would join a running cluster', async () => {
    const cfg = { ...nodeConfig(temp.make(), 'n4'), join: true };
    await expect(restoreIntoDataDir(backupDir, cfg)).rejects.toMatchObject({ code: 'TSR_ERR_INVALID_ARGUMENT', details: { field: 'join' } });
  });
});
