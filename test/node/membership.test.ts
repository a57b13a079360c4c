// Peer authentication and membership changes between real node processes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TestCluster, sleep } from './process-harness.js';

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.destroy();
  cluster = null;
});

async function threeNodes(): Promise<TestCluster> {
  cluster = await TestCluster.create({ nodes: 3 });
  cluster.startAll();
  await cluster.waitForLeader();
  return cluster;
}

async function writeMany(c: TestCluster, from: number, count: number): Promise<void> {
  for (let n = from; n < from + count; n += 1) expect(await c.put(n), `write ${n}`).toBe(true);
}

/** Restarts n3 with `extra` config, checks the others refuse it with `code`, then restarts it as it was. */
async function checkRefused(c: TestCluster, extra: Record<string, unknown>, code: string): Promise<void> {
  await writeMany(c, 0, 5);
  await c.kill9('n3');
  c.node('n3').extra = extra;
  c.start('n3');
  await c.waitFor(`n1 or n2 to refuse n3 with ${code}`, 15_000, async () => (c.log('n1') + c.log('n2')).includes(code));
  await writeMany(c, 5, 5);
  const leader = await c.status((await c.waitForLeader(15_000, ['n1', 'n2'])) as string);
  // n3 keeps being refused: it never hears of the writes made meanwhile.
  await sleep(500);
  const refused = await c.status('n3');
  expect(refused.appliedIndex).toBeLessThan(leader.commitIndex);
  expect(refused.transport!.peers.n1?.connected ?? false).toBe(false);
  expect(refused.transport!.peers.n2?.connected ?? false).toBe(false);
  const others = (await c.status('n1')).transport!;
  expect(others.authFailures + (await c.status('n2')).transport!.authFailures).toBeGreaterThan(0);

  await c.kill9('n3');
  c.node('n3').extra = {};
  c.start('n3');
  expect((await c.waitForConvergence(['n1', 'n2', 'n3'])).pointCount).toBe(10);
}

describe('peer authentication', () => {
  it('refuses a node that does not hold the cluster secret', async () => {
    const c = await threeNodes();
    writeFileSync(join(c.root, 'wrong-secret'), 'not-the-cluster-secret-at-all\n');
    await checkRefused(c, { secretFile: 'wrong-secret' }, 'TSR_ERR_PEER_AUTH_FAILED');
  });

  it('refuses a node of another cluster', async () => {
    const c = await threeNodes();
    await checkRefused(c, { clusterId: 'another-cluster' }, 'TSR_ERR_PEER_CLUSTER_MISMATCH');
  });
});

describe('membership from the command line', () => {
  it('adds a node as a learner, promotes it once caught up, moves leadership to it and removes another', async () => {
    const c = await threeNodes();
    await writeMany(c, 0, 30);
    const n4 = await c.addJoiningNode('n4');
    c.start('n4');

    const added = await c.runCli(['cluster', 'add-node', '--endpoint', `${c.url('n1')},${c.url('n2')}`, '--id', 'n4', '--peer-url', `ws://127.0.0.1:${n4.peerPort}`, '--timeout-ms', '30000']);
    expect(added.output).toContain('added n4');
    expect(added.output).toContain('promoted n4 to voter');
    expect(added.code, added.output).toBe(0);
    const members = (await c.status('n1')).members;
    expect(members.find((m) => m.id === 'n4')?.role).toMatch(/^(follower|leader)$/);
    expect((await c.waitForConvergence(['n1', 'n2', 'n3', 'n4'])).pointCount).toBe(30);

    const moved = await c.runCli(['cluster', 'transfer-leader', '--endpoint', c.url('n2'), '--id', 'n4']);
    expect(moved.code, moved.output).toBe(0);
    expect(await c.waitForLeader(15_000, ['n1', 'n2', 'n3', 'n4'])).toBe('n4');

    // n2 was started before n4 existed, so it does not know n4's client URL: give both endpoints.
    const removed = await c.runCli(['cluster', 'remove-node', '--endpoint', c.url('n2'), '--endpoint', c.url('n4'), '--id', 'n1']);
    expect(removed.code, removed.output).toBe(0);
    expect((await c.status('n4')).members.map((m) => m.id)).toEqual(['n2', 'n3', 'n4']);
    await writeMany(c, 30, 5);
    expect((await c.waitForConvergence(['n2', 'n3', 'n4'])).pointCount).toBe(35);

    const status = await c.runCli(['status', '--endpoint', c.url('n3')]);
    expect(status.code).toBe(0);
    expect(status.output).toMatch(/n4\s+leader/);
  });

  it('refuses to add a node whose peer URL is not a WebSocket URL', async () => {
    const c = await threeNodes();
    const result = await c.runCli(['cluster', 'add-node', '--endpoint', c.url('n1'), '--id', 'n9', '--peer-url', 'http://127.0.0.1:1', '--timeout-ms', '5000']);
    expect(result.code).toBe(1);
    expect(result.output).toContain('TSR_ERR_INVALID_ARGUMENT');
  });
});
