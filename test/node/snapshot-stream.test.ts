// A real node whose sealed blocks all left memory (storage.residentBlockBytes
// 0) streams its local snapshots (docs/storage.md, "Snapshot files"): the
// snapshot file it writes is, byte for byte, the in-memory pack of the same
// state (BackupFormatStateMachine.snapshot()), so followers, backups and
// restores see nothing new.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { unpackState } from '../../src/backup/snapshot-pack.js';
import { BackupFormatStateMachine } from '../../src/backup/state-machine-adapter.js';
import { FileSnapshotStore } from '../../src/storage/file-snapshot-store.js';
import { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';
import { TestCluster, getJson, type StatusBody } from './process-harness.js';

const METRIC = 'snapshot.stream';
const BASE_MS = 1_700_000_000_000;
const HOSTS = 20;
const PUTS = 24;

type StorageStatus = StatusBody & { storage: { evictedBlocks: number; residentBlockBytes: number } };

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.destroy();
  cluster = null;
});

/** Put k: 3 points of each host, 20 s apart, so the 1-minute blocks seal as the puts go on. */
async function put(c: TestCluster, k: number): Promise<void> {
  const points = [];
  for (let h = 0; h < HOSTS; h++) {
    for (let i = 0; i < 3; i++) points.push({ metric: METRIC, timestamp: BASE_MS + (k * 3 + i) * 20_000, value: k * 100 + h + i / 10, tags: { host: `h${h}` } });
  }
  const response = await fetch(`${c.url('n1')}/api/put?summary`, { method: 'POST', body: JSON.stringify(points), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(5_000) });
  expect(response.status).toBe(200);
  expect(((await response.json()) as { success: number }).success).toBe(points.length);
}

describe('streamed local snapshot on a node', () => {
  it('writes the same snapshot file as the in-memory path while every sealed block is read back from LevelDB', async () => {
    const c = (cluster = await TestCluster.create({
      nodes: 1,
      config: {
        tsdb: { blockSpanMs: 60_000 },
        storage: { residentBlockBytes: 0, checkpointEveryEntries: 3 },
        snapshotEveryEntries: 8,
      },
    }));
    c.startAll();
    await c.waitForLeader();
    for (let k = 0; k < PUTS; k++) await put(c, k);
    const status = await c.waitFor('a snapshot after the last put, with blocks evicted', 15_000, async () => {
      const s = (await getJson<StorageStatus>(`${c.url('n1')}/status`)).body;
      return s.snapshotIndex >= PUTS && s.storage.evictedBlocks > HOSTS ? s : null;
    });
    expect(status.storage.residentBlockBytes).toBe(0);
    expect((await c.terminate('n1')).code).toBe(0);

    const store = await FileSnapshotStore.open(join(c.root, 'n1', 'snapshots'));
    const local = await store.load();
    await store.close();
    expect(local).not.toBeNull();
    const { meta, data } = local!;
    expect(meta.sizeBytes).toBe(data.length);
    // The same state, snapshotted in memory by the same adapter, gives the same bytes.
    const { tssm, manifest } = unpackState(data);
    expect(manifest.seriesCount).toBe(HOSTS);
    expect(manifest.state.appliedIndex).toBeGreaterThanOrEqual(status.snapshotIndex);
    const state = TimeSeriesStateMachine.restore(tssm);
    const inMemory = new BackupFormatStateMachine(state, { clusterId: c.clusterId, nodeId: 'n1' }).snapshot();
    expect(Buffer.from(inMemory).equals(Buffer.from(data))).toBe(true);
    expect(state.stats().pointCount).toBeGreaterThan(HOSTS * 3 * 10);
  });
});
