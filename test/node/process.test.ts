// The tsraft process itself: exit codes for bad configurations and broken
// environments, a single-node cluster, and the `tsraft dev` launcher.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../src/node/exit-codes.js';
import { entryKey } from '../../src/storage/kv-log-store.js';
import { raftSublevel } from '../../src/storage/level-log-store.js';
import { MAIN_SCRIPT, TestCluster, ensureBuilt, freePorts, getJson, waitUntil, type StatusBody } from './process-harness.js';

let cluster: TestCluster | null = null;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await cluster?.destroy();
  cluster = null;
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function singleNode(config: Record<string, unknown> = {}): Promise<TestCluster> {
  cluster = await TestCluster.create({ nodes: 1, config });
  return cluster;
}

async function exitOf(c: TestCluster, id: string, timeoutMs = 20_000): Promise<number | null> {
  const exited = c.node(id).exited!;
  const result = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), timeoutMs))]);
  if (result === null) throw new Error(`${id} did not exit within ${timeoutMs} ms\n${c.describe()}`);
  return result.code;
}

describe('tsraft serve', () => {
  it('exits with code 3 and names the field when the configuration is invalid', async () => {
    const c = await singleNode();
    c.node('n1').extra = { peers: { n1: 'ws://127.0.0.1:1', n2: 'http://127.0.0.1:2' }, electionTimeoutTicks: 'ten' };
    c.start('n1');
    expect(await exitOf(c, 'n1')).toBe(EXIT_CODES.config);
    expect(c.log('n1')).toContain('config.peers.n2: not a ws:// or wss:// URL');
    expect(c.log('n1')).toContain('config.electionTimeoutTicks: must be an integer');
  });

  it('exits with code 3 on an unknown configuration field', async () => {
    const c = await singleNode();
    c.node('n1').extra = { snapshotEvery: 10 };
    c.start('n1');
    expect(await exitOf(c, 'n1')).toBe(EXIT_CODES.config);
    expect(c.log('n1')).toContain('config.snapshotEvery: unknown field');
  });

  it('exits with code 2 on a bad command line', async () => {
    const c = await singleNode();
    expect((await c.runCli(['serve'])).code).toBe(EXIT_CODES.usage);
    expect((await c.runCli(['frobnicate'])).code).toBe(EXIT_CODES.usage);
    expect((await c.runCli(['dev', '--nodes', 'many'])).code).toBe(EXIT_CODES.usage);
  });

  it('runs a single-node cluster that elects itself, accepts writes and reports ready', async () => {
    const c = await singleNode();
    c.start('n1');
    expect(await c.waitForLeader()).toBe('n1');
    expect(await c.put(1)).toBe(true);
    const status = await c.status('n1');
    expect(status).toMatchObject({ id: 'n1', role: 'leader', leader: 'n1', lifecycle: 'running' });
    expect(status.members).toEqual([{ id: 'n1', url: expect.stringMatching(/^ws:\/\/127\.0\.0\.1:\d+$/), role: 'leader', clientUrl: c.url('n1'), match: expect.any(Number) }]);
    expect((await getJson(`${c.url('n1')}/ready`)).status).toBe(200);
    expect((await getJson(`${c.url('n1')}/health`)).status).toBe(200);
  });

  it('exits with code 4 when its HTTP port is taken', async () => {
    const c = await singleNode();
    c.start('n1');
    await c.waitForLeader();
    const [peerPort] = await freePorts(1);
    const second = await c.addJoiningNode('n2');
    second.extra = { join: true, httpPort: c.node('n1').httpPort, peerPort };
    c.start('n2');
    expect(await exitOf(c, 'n2')).toBe(EXIT_CODES.addressInUse);
  });

  it('exits with code 5 when another process holds its data directory', async () => {
    const c = await singleNode();
    c.start('n1');
    await c.waitForLeader();
    const second = await c.addJoiningNode('n2');
    second.extra = { join: true, dataDir: 'n1' };
    c.start('n2');
    expect(await exitOf(c, 'n2')).toBe(EXIT_CODES.dataDirLocked);
    expect(c.isRunning('n1')).toBe(true);
  });

  it('exits with code 10 and says why when a stored log entry is corrupt', async () => {
    const c = await singleNode();
    c.start('n1');
    await c.waitForLeader();
    for (let n = 0; n < 5; n += 1) expect(await c.put(n)).toBe(true);
    const { lastIndex } = await c.status('n1');
    expect(await c.terminate('n1')).toEqual({ code: 0, signal: null });

    const db = new ClassicLevel(join(c.node('n1').dir, 'db'), { createIfMissing: false });
    await db.open();
    const raft = raftSublevel(db);
    const record = (await raft.get(entryKey(lastIndex)))!;
    record[record.length - 1]! ^= 0xff; // break the entry's CRC
    await raft.put(entryKey(lastIndex), record);
    await db.close();

    c.start('n1');
    expect(await exitOf(c, 'n1')).toBe(EXIT_CODES.corruptData);
    expect(c.log('n1')).toMatch(/could not start.*code=TSR_ERR_CORRUPT_LOG/);
  });
});

describe('tsraft dev', () => {
  /** A base port p with p..p+n-1 and p+100..p+100+n-1 free. */
  async function freeBlock(nodes: number): Promise<number> {
    for (let attempt = 0; attempt < 50; attempt += 1) {
      const [candidate] = await freePorts(1);
      const base = candidate! - (candidate! % 10);
      const wanted = [...Array(nodes).keys()].flatMap((i) => [base + i, base + 100 + i]);
      const ok = await Promise.all(wanted.map((port) => canBind(port)));
      if (ok.every(Boolean)) return base;
    }
    throw new Error('no free port block');
  }

  async function canBind(port: number): Promise<boolean> {
    const { createServer } = await import('node:net');
    return new Promise((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  }

  function startDev(dataDir: string, port: number): { child: ReturnType<typeof spawn>; output: () => string; exited: Promise<number | null> } {
    ensureBuilt();
    const child = spawn(process.execPath, [MAIN_SCRIPT, 'dev', '--nodes', '3', '--data', dataDir, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      // Nodes of a launcher killed with SIGKILL outlive it: kill them by the pids it recorded.
      const clusterFile = join(dataDir, 'cluster.json');
      if (existsSync(clusterFile)) {
        for (const node of (JSON.parse(readFileSync(clusterFile, 'utf8')) as { nodes: Array<{ pid: number }> }).nodes) {
          try {
            process.kill(node.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
    });
    return { child, output: () => output, exited };
  }

  function alive(pid: number): boolean {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  it('starts a local cluster, lists it in cluster.json, stops it on SIGTERM and resumes it on a rerun', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tsraft-dev-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const port = await freeBlock(3);

    const first = startDev(dataDir, port);
    await waitUntil('the dev cluster to elect a leader', 30_000, async () => first.output().includes('leader: '));
    const clusterFile = JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as { clusterId: string; nodes: Array<{ id: string; pid: number; http: string; ws: string; config: string }> };
    expect(clusterFile.nodes.map((n) => n.id)).toEqual(['n1', 'n2', 'n3']);
    clusterFile.nodes.forEach((node, i) => {
      expect(node.http).toBe(`http://127.0.0.1:${port + i}`);
      expect(node.ws).toBe(`ws://127.0.0.1:${port + i}/ws`);
      expect(node.config).toBe(join(dataDir, `n${i + 1}.json`));
      expect(alive(node.pid)).toBe(true);
    });
    for (const text of [`http://127.0.0.1:${port}`, `ws://127.0.0.1:${port + 2}/ws`, `console http://127.0.0.1:${port + 1}/`]) expect(first.output()).toContain(text);
    const status = (await getJson<StatusBody>(`http://127.0.0.1:${port + 1}/status`)).body;
    expect(status.members.map((m) => m.url)).toEqual([0, 1, 2].map((i) => `ws://127.0.0.1:${port + 100 + i}`));

    const leaderUrl = status.leaderClientUrl!;
    const put = await fetch(`${leaderUrl}/api/put?summary`, { method: 'POST', body: JSON.stringify({ metric: 'dev.test', timestamp: 1_700_000_000, value: 1, tags: { a: 'b' } }) });
    expect(put.status).toBe(200);

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.output()).toContain('all nodes stopped cleanly');
    for (const node of clusterFile.nodes) expect(alive(node.pid)).toBe(false);

    const second = startDev(dataDir, port);
    await waitUntil('the resumed cluster to elect a leader', 30_000, async () => second.output().includes('leader: '));
    expect(second.output()).toContain(`resuming cluster ${clusterFile.clusterId}`);
    const state = await waitUntil('the resumed data', 10_000, async () => {
      const body = (await getJson<{ pointCount: number }>(`http://127.0.0.1:${port}/cluster/state`)).body;
      return body.pointCount === 1 ? body : null;
    });
    expect(state.pointCount).toBe(1);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('refuses a rerun with another node count than the data holds', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tsraft-dev-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    writeFileSync(join(dataDir, 'dev.json'), JSON.stringify({ format: 1, clusterId: 'dev-x', nodes: 5, port: 9000 }));
    const c = await singleNode();
    const result = await c.runCli(['dev', '--nodes', '3', '--data', dataDir]);
    expect(result.code).toBe(EXIT_CODES.usage);
    expect(result.output).toContain('holds a 5-node cluster; rerun with --nodes 5');
  });
});
