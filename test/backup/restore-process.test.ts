// Real processes: `tsraft backup restore` (the built CLI) seeds each node of a
// new 3-node cluster from a backup; the `tsraft serve` processes then elect a
// leader, hold exactly the backed-up state (same state hash on every node)
// and take new writes. `tsraft backup verify` exits 10 on a damaged backup.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackup } from '../../src/backup/create.js';
import { TestCluster } from '../node/process-harness.js';
import { startBackupServer } from './backup-server.js';
import { TempDirs } from './temp.js';
import { Feeder, feedPoints, newStateMachine, syntheticPoints } from './workload.js';

const temp = new TempDirs();

describe('restoring a new cluster of real node processes', () => {
  let cluster: TestCluster;
  let backupDir: string;
  let sourceHash: string;
  let sourcePoints: number;

  beforeAll(async () => {
    const sm = newStateMachine();
    const feeder = new Feeder(sm);
    let t = 1_700_000_000_000;
    feedPoints(feeder, syntheticPoints({ seed: 41, series: 20, pointsPerSeries: 1500 }), 500, () => (t += 1000), true);
    sourceHash = sm.stateHash();
    sourcePoints = sm.stats().pointCount;
    const server = await startBackupServer(sm, () => feeder.index);
    backupDir = join(temp.make(), 'backup');
    try {
      await createBackup({ endpoint: server.url, outDir: backupDir });
    } finally {
      await server.close();
    }
    cluster = await TestCluster.create({ nodes: 3 });
  });

  afterAll(async () => {
    await cluster?.destroy();
    temp.removeAll();
  });

  it('restores every node with the CLI, then the cluster serves the backed-up state and new writes', async () => {
    for (const node of cluster.nodes) {
      const result = await cluster.runCli(['backup', 'restore', backupDir, '--config', node.configPath]);
      expect(result.code, result.output).toBe(0);
      expect(result.output).toContain(`restored node ${node.id} of cluster ${cluster.clusterId}`);
    }
    cluster.startAll();
    await cluster.waitForLeader(20_000);
    const state = await cluster.waitForConvergence(['n1', 'n2', 'n3'], 20_000);
    expect(state.stateHash).toBe(sourceHash);
    expect(state.pointCount).toBe(sourcePoints);
    expect(await cluster.put(1)).toBe(true);
    const after = await cluster.waitForConvergence(['n1', 'n2', 'n3'], 20_000);
    expect(after.pointCount).toBe(sourcePoints + 1);
    expect(after.stateHash).not.toBe(sourceHash);
  });

  it('exits 10 from tsraft backup verify on a damaged backup, naming the file', async () => {
    const seg = readdirSync(join(backupDir, 'data')).find((n) => n.endsWith('.seg'))!;
    const path = join(backupDir, 'data', seg);
    const original = readFileSync(path);
    const damaged = Buffer.from(original);
    damaged[damaged.length - 1]! ^= 0x80;
    writeFileSync(path, damaged);
    try {
      const result = await cluster.runCli(['backup', 'verify', backupDir]);
      expect(result.code).toBe(10);
      expect(result.output).toContain(path);
    } finally {
      writeFileSync(path, original);
    }
    expect((await cluster.runCli(['backup', 'verify', backupDir])).code).toBe(0);
  });
});
