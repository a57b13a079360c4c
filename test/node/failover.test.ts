// Real node processes on loopback: kill -9, restart, wiped disk, SIGTERM.
// Writes go through POST /api/put; each write is one point with its own
// timestamp on one series, so a node's point count is the number of distinct
// writes it holds.
import { afterEach, describe, expect, it } from 'vitest';
import { TestCluster } from './process-harness.js';

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.destroy();
  cluster = null;
});

async function threeNodes(config: Record<string, unknown> = {}): Promise<TestCluster> {
  cluster = await TestCluster.create({ nodes: 3, config });
  cluster.startAll();
  await cluster.waitForLeader();
  return cluster;
}

async function writeMany(c: TestCluster, from: number, count: number): Promise<void> {
  for (let n = from; n < from + count; n += 1) expect(await c.put(n), `write ${n}`).toBe(true);
}

describe('a 3-node cluster of real processes', () => {
  it('elects a new leader after kill -9 of the leader, keeps writing, and the restarted node catches up', async () => {
    const c = await threeNodes();
    const first = await c.waitForLeader();
    await writeMany(c, 0, 20);
    const termBefore = (await c.status(first)).term;

    await c.kill9(first);
    const survivors = c.nodes.map((n) => n.id).filter((id) => id !== first);
    const second = await c.waitForLeader(15_000, survivors);
    expect(second).not.toBe(first);
    expect((await c.status(second)).term).toBeGreaterThan(termBefore);
    await writeMany(c, 20, 20);

    c.start(first);
    const state = await c.waitForConvergence(c.nodes.map((n) => n.id));
    expect(state.pointCount).toBe(40);
    expect((await c.status(first)).leader).toBe(second);
  });

  it('loses no acknowledged write when the leader is killed in the middle of a stream of writes', async () => {
    const c = await threeNodes();
    const leader = await c.waitForLeader();
    let next = 0;
    let acknowledged = 0;
    let stop = false;
    const writer = async (): Promise<void> => {
      while (!stop) {
        const n = next++;
        // Each write retries (same point) until acknowledged, so none is left in doubt.
        expect(await c.put(n), `write ${n}`).toBe(true);
        acknowledged += 1;
      }
    };
    const writers = [writer(), writer(), writer(), writer()];
    while (acknowledged < 40) await new Promise((r) => setTimeout(r, 10));
    await c.kill9(leader);
    const killedAt = acknowledged;
    while (acknowledged < killedAt + 40) await new Promise((r) => setTimeout(r, 10));
    stop = true;
    await Promise.all(writers);

    const survivors = c.nodes.map((n) => n.id).filter((id) => id !== leader);
    const state = await c.waitForConvergence(survivors);
    expect(state.pointCount).toBe(acknowledged);
    c.start(leader);
    expect((await c.waitForConvergence(c.nodes.map((n) => n.id))).pointCount).toBe(acknowledged);
  });

  it('rebuilds a follower whose data directory was wiped from a snapshot and the log', async () => {
    const c = await threeNodes({ snapshotEveryEntries: 20, logEntriesKeptAfterSnapshot: 5 });
    const leader = await c.waitForLeader();
    const follower = c.nodes.find((n) => n.id !== leader)!.id;
    await writeMany(c, 0, 50);

    await c.kill9(follower);
    c.wipe(follower);
    // Enough writes that the entries the follower lacks are compacted on the leader.
    await writeMany(c, 50, 40);
    expect((await c.status(leader)).snapshotIndex).toBeGreaterThan(40);

    c.start(follower);
    const state = await c.waitForConvergence(c.nodes.map((n) => n.id));
    expect(state.pointCount).toBe(90);
    expect(c.log(follower)).toContain('installed a snapshot from the leader');
    expect((await c.status(follower)).snapshotIndex).toBeGreaterThan(0);
  });

  it('stops cleanly on SIGTERM (exit code 0) and restarts from its data', async () => {
    const c = await threeNodes();
    const leader = await c.waitForLeader();
    const follower = c.nodes.find((n) => n.id !== leader)!.id;
    await writeMany(c, 0, 10);
    const before = await c.state(follower);

    expect(await c.terminate(follower)).toEqual({ code: 0, signal: null });
    expect(c.log(follower)).toMatch(/SIGTERM received: stopping gracefully[\s\S]*stopped/);

    c.start(follower);
    await c.waitForLeader();
    const after = await c.waitForConvergence(c.nodes.map((n) => n.id));
    expect(after.appliedIndex).toBeGreaterThanOrEqual(before.appliedIndex);
    expect(after.pointCount).toBe(10);
  });

  it('hands leadership over when the leader receives SIGTERM', async () => {
    const c = await threeNodes();
    const leader = await c.waitForLeader();
    await writeMany(c, 0, 5);
    expect(await c.terminate(leader)).toEqual({ code: 0, signal: null });
    expect(c.log(leader)).toContain('handed leadership over before stopping');
    const next = await c.waitForLeader(15_000, c.nodes.map((n) => n.id).filter((id) => id !== leader));
    expect(next).not.toBe(leader);
    await writeMany(c, 5, 5);
  });
});
