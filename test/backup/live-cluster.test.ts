// Real processes end to end: `tsraft backup create` against a running 3-node
// cluster while it takes writes, the log archive a node keeps for
// point-in-time recovery, and `tsraft dev --restore-from` seeding a new local
// cluster that then holds exactly the backed-up state.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN_SCRIPT, TestCluster, freePorts, getJson, waitUntil, type StateBody, type StatusBody } from '../node/process-harness.js';

describe('backups of a live cluster', () => {
  let cluster: TestCluster;
  const scratch = mkdtempSync(join(tmpdir(), 'tsraft-live-backup-'));
  let dev: ChildProcess | null = null;

  beforeAll(async () => {
    cluster = await TestCluster.create({ nodes: 3 });
    cluster.node('n1').extra = { logArchive: { dir: 'archive-n1' } };
    cluster.startAll();
    await cluster.waitForLeader(20_000);
  });

  afterAll(async () => {
    if (dev !== null && dev.exitCode === null) {
      dev.kill('SIGTERM');
      await new Promise((r) => dev!.once('exit', r));
    }
    await cluster?.destroy();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('creates a verified backup while writes continue, archives the log, and seeds a new cluster with dev --restore-from', async () => {
    for (let n = 0; n < 40; n++) expect(await cluster.put(n)).toBe(true);
    // Writes keep flowing while the backup streams.
    const writer = (async () => {
      for (let n = 40; n < 80; n++) await cluster.put(n);
    })();
    const backupDir = join(scratch, 'backup');
    const created = await cluster.runCli(['backup', 'create', '--endpoint', cluster.url('n2'), '--out', backupDir], 60_000);
    await writer;
    expect(created.code, created.output).toBe(0);
    expect(created.output).toMatch(/verified/);
    const verified = await cluster.runCli(['backup', 'verify', backupDir]);
    expect(verified.code, verified.output).toBe(0);
    const inspected = await cluster.runCli(['backup', 'inspect', backupDir]);
    const backedUpPoints = Number(/contents\s+\d+ series, (\d+) points/.exec(inspected.output)?.[1]);
    expect(backedUpPoints).toBeGreaterThanOrEqual(40);
    expect(backedUpPoints).toBeLessThanOrEqual(80);

    // The archiving node wrote checksummed segments of the committed log.
    await waitUntil('archive segments', 10_000, async () => existsSync(join(cluster.root, 'archive-n1')) && readdirSync(join(cluster.root, 'archive-n1')).length > 0);

    // A new local cluster from the backup holds exactly the backed-up points.
    const [port] = await freePorts(1);
    const dataDir = join(scratch, 'restored');
    let output = '';
    dev = spawn(process.execPath, [MAIN_SCRIPT, 'dev', '--nodes', '3', '--data', dataDir, '--port', String(port), '--restore-from', backupDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    dev.stdout!.on('data', (d) => (output += String(d)));
    dev.stderr!.on('data', (d) => (output += String(d)));
    const url = `http://127.0.0.1:${port}`;
    await waitUntil(`restored cluster to elect a leader\n${output}`, 30_000, async () => {
      try {
        return (await getJson<StatusBody>(`${url}/status`)).body.leader !== null;
      } catch {
        return false;
      }
    });
    expect(output).toMatch(/restored n1 from/);
    const state = await waitUntil('restored state', 20_000, async () => {
      const s = (await getJson<StateBody>(`${url}/cluster/state`)).body;
      return s.pointCount === backedUpPoints ? s : null;
    });
    expect(state.pointCount).toBe(backedUpPoints);
    const status = (await getJson<StatusBody>(`${url}/status`)).body;
    expect(status.members).toHaveLength(3);
    dev.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => dev!.once('exit', (c) => r(c)));
    expect(code).toBe(0);
  });

  it('refuses --restore-from on a data folder that already holds a cluster', async () => {
    const dataDir = join(scratch, 'restored');
    const result = await cluster.runCli(['dev', '--data', dataDir, '--restore-from', join(scratch, 'backup')]);
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/already holds a cluster/);
  });
});
