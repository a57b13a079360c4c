// Live-data scrubbing: a byte flipped in a sealed segment of one replica is
// never served (a query touching it fails), is found by the scrubber and
// repaired with the exact original bytes from a healthy replica; without a
// healthy replica, from the node's snapshot file; a copy that is another
// version of the block is refused.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packState } from '../../src/backup/snapshot-pack.js';
import { createMetricFamilies } from '../../src/metrics/definitions.js';
import { Scrubber } from '../../src/node/scrubber.js';
import { FileSnapshotStore } from '../../src/storage/file-snapshot-store.js';
import { KEY_BLOCK_BYTES, blockKey } from '../../src/tsdb/persisted-state.js';
import { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';
import { systemClock } from '../../src/util/clock.js';
import { Feeder, feedPoints, syntheticPoints, writeEntry } from '../backup/workload.js';
import { InProcessCluster } from './inprocess-cluster.js';

const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** The first sealed block of some series: its key, start and (shared) bytes. */
function someSealedBlock(sm: TimeSeriesStateMachine): { key: string; id: number; startMs: number; bytes: Uint8Array; resident: boolean } {
  for (let id = 0; id < sm.nextSeriesId; id++) {
    const series = sm.seriesDataOf(id);
    const block = series?.sealedBlocks()[0];
    if (block !== undefined) return { key: sm.seriesKeyOf(id)!, id, startMs: block.startMs, bytes: block.bytes, resident: series!.sealedRecords()[0]!.bytes !== null };
  }
  throw new Error('no sealed block');
}

describe('scrubbing a live cluster', () => {
  let cluster: InProcessCluster;

  beforeAll(async () => {
    cluster = await InProcessCluster.start(3, { backup: { scrub: { maxBytesPerSecond: 1 << 20, passIntervalMs: 200 }, digest: { intervalMs: 0 } } });
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  it('finds a flipped byte in one replica\'s segment, never serves it, and repairs it from a healthy replica', async () => {
    const leader = await cluster.leader();
    // Eight hours of points: the older two-hour blocks are sealed.
    const points = [];
    for (let h = 0; h < 4; h++) for (let m = 0; m < 8 * 60; m += 5) points.push({ metric: 'scrub.test', timestamp: T0 + m * 60_000, value: h * 1000 + m, tags: { host: `h${h}` } });
    const put = await fetch(`${cluster.url(leader)}/api/put?summary`, { method: 'POST', body: JSON.stringify(points), headers: { 'content-type': 'application/json' } });
    expect(put.status).toBe(200);
    await cluster.converged();
    // A follower that installed a snapshot holds its blocks in LevelDB only;
    // damage a block where the follower reads it from: memory when resident.
    const followers = cluster.ids.filter((id) => id !== leader);
    const victim = followers.find((id) => someSealedBlock(cluster.node(id).stateMachine).resident) ?? followers[0]!;
    const sm = cluster.node(victim).stateMachine;
    const block = someSealedBlock(sm);
    const original = block.bytes.slice();
    const host = /host=(h\d)/.exec(block.key)![1]!;
    const query = `/api/query?start=${block.startMs}&end=${block.startMs + 2 * HOUR - 1}&m=sum:scrub.test{host=${host}}&msResolution=true`;
    const before = await (await fetch(`${cluster.url(leader)}${query}`)).json();

    if (block.resident) {
      block.bytes[Math.floor(block.bytes.length / 2)]! ^= 0x10;
    } else {
      const store = cluster.node(victim).stateMachineStore!;
      const key = blockKey(KEY_BLOCK_BYTES, block.id, block.startMs);
      const stored = store.readSync(key)!.slice();
      stored[Math.floor(stored.length / 2)]! ^= 0x10;
      await store.write([{ type: 'put', key, value: stored }], { replaceAll: false });
    }
    // Not served: the damaged segment fails its checksum on read.
    const damaged = await fetch(`${cluster.url(victim)}${query}`);
    expect(damaged.status).toBe(500);
    expect(((await damaged.json()) as { error: { message: string } }).error.message).toMatch(/TSR_ERR_CORRUPT_SEGMENT|checksum/);

    const scrub = await cluster.waitFor('the scrubber to repair the segment', 20_000, () => {
      const status = cluster.node(victim).status().backupService as { scrub: { stats: { corruptFound: number; repairedFromPeer: number }; unrepaired: unknown[] } };
      return status.scrub.stats.repairedFromPeer >= 1 ? status.scrub : null;
    });
    expect(scrub.stats.corruptFound).toBe(1);
    expect(scrub.unrepaired).toEqual([]);
    expect(sm.seriesDataOf(block.id)!.sealedBlocks()[0]!.bytes).toEqual(original);
    expect(await (await fetch(`${cluster.url(victim)}${query}`)).json()).toEqual(before);
    // The replicas agree again, byte for byte.
    expect(sm.stateDigest()).toEqual(cluster.node(leader).stateMachine.stateDigest());
    const metrics = await (await fetch(`${cluster.url(victim)}/metrics`)).text();
    expect(metrics).toMatch(/tsraft_scrub_corrupt_segments_total 1/);
    expect(metrics).toMatch(/tsraft_scrub_repaired_segments_total\{source="peer"\} 1/);
    expect(cluster.fatal).toEqual([]);
  });
});

describe('scrubbing without a healthy replica', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsraft-scrub-'));

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function setup(): Promise<{ sm: TimeSeriesStateMachine; feeder: Feeder; scrubber: Scrubber; families: ReturnType<typeof createMetricFamilies>['families']; snapshotDir: string }> {
    const sm = new TimeSeriesStateMachine();
    const feeder = new Feeder(sm);
    let t = T0;
    feedPoints(feeder, syntheticPoints({ seed: 11, series: 3, pointsPerSeries: 400, intervalMs: 120_000 }), 100, () => (t += 1000));
    const snapshotDir = mkdtempSync(join(dir, 'snap-'));
    const store = await FileSnapshotStore.open(snapshotDir);
    const { pack } = packState(sm.snapshot(), { clusterId: 'c', nodeId: 'n1', raftIndex: sm.appliedIndex, raftTerm: null, membership: null, createdAtMs: 0 });
    await store.save({ index: sm.appliedIndex, term: 1, config: { voters: ['n1'], learners: [], contexts: {} }, sizeBytes: pack.length }, pack);
    await store.close();
    const { families } = createMetricFamilies();
    const scrubber = new Scrubber({ nodeId: 'n1', secret: new Uint8Array(32), maxBytesPerSecond: 1 << 30, passIntervalMs: 1000, stateMachine: sm, peerUrls: () => ({}), isMember: () => false, snapshotDir, clock: systemClock, log: quiet, families });
    return { sm, feeder, scrubber, families, snapshotDir };
  }

  it('repairs from the node\'s own snapshot file when no peer can help', async () => {
    const { sm, scrubber } = await setup();
    const block = someSealedBlock(sm);
    const original = block.bytes.slice();
    block.bytes[3]! ^= 0x01;
    scrubber.scrubStep(1 << 30);
    expect(scrubber.status().unrepaired).toHaveLength(1);
    await scrubber.repairDue();
    expect(scrubber.stats.repairedFromSnapshot).toBe(1);
    expect(block.bytes).toEqual(original);
    expect(scrubber.status().unrepaired).toEqual([]);
  });

  it('refuses a copy that is another version of the block, and keeps the segment listed', async () => {
    const { sm, feeder, scrubber } = await setup();
    const block = someSealedBlock(sm);
    // A late write rewrites that block after the snapshot was taken: the snapshot holds an older version.
    const host = /\{(.*)\}/.exec(block.key)![1]!.split(',').map((kv) => kv.split('='));
    const metric = block.key.slice(0, block.key.indexOf('{'));
    sm.apply(feeder.index + 1, writeEntry([{ metric, timestamp: block.startMs + 7, value: 42, tags: Object.fromEntries(host) }], T0 + 10 * HOUR));
    const current = someSealedBlock(sm);
    expect(current.startMs).toBe(block.startMs);
    current.bytes[current.bytes.length - 6]! ^= 0x02;
    scrubber.scrubStep(1 << 30);
    await scrubber.repairDue();
    expect(scrubber.stats.repairedFromSnapshot).toBe(0);
    expect(scrubber.status().unrepaired).toEqual([expect.objectContaining({ seriesKey: current.key, startMs: current.startMs, attempts: 1 })]);
  });
});
