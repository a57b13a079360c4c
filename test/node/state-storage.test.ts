// The state machine's data in LevelDB on real processes (docs/storage.md,
// "State machine"): a restart loads it and replays only the log after its
// checkpoint; sealed blocks leave memory and queries read them back.
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { TestCluster, getJson, type StatusBody } from './process-harness.js';

type StorageStatus = StatusBody & {
  storage: { loadedIndex: number; checkpointIndex: number; checkpoints: number; residentBlockBytes: number; evictedBlocks: number };
};

const METRIC = 'storage.test';
const BASE_MS = 1_700_000_000_000;
const SPAN_MS = 60_000;
const POINTS_PER_PUT = 50;

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.destroy();
  cluster = null;
});

/** Put number k: 50 points of two series, 6 s apart, so each put fills five 1-minute blocks. */
async function putBatch(c: TestCluster, k: number): Promise<void> {
  const points = [];
  for (let i = 0; i < POINTS_PER_PUT; i++) points.push({ metric: METRIC, timestamp: BASE_MS + (k * POINTS_PER_PUT + i) * 6_000, value: k * 1000 + i, tags: { host: `h${i % 2}` } });
  await c.waitFor(`put ${k} acknowledged`, 15_000, async () => {
    for (const node of c.running()) {
      const response = await fetch(`${c.url(node.id)}/api/put?summary`, { method: 'POST', body: JSON.stringify(points), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(5_000) }).catch(() => null);
      if (response === null) continue;
      const answer = (await response.json()) as { success?: number };
      if (response.status === 200 && answer.success === POINTS_PER_PUT) return true;
    }
    return null;
  });
}

/** Round `round` of puts from CLIENTS sessions, sent back to back on one
 *  connection to the leader (as a follower forwarding several clients'
 *  writes does): the leader merges them into one `writes` entry, whose
 *  sessions then share its index in every snapshot and checkpoint. A round
 *  that does not fully succeed (a leader change under load) is sent again:
 *  the same client ids and sequences make that exactly-once. */
const CLIENTS = 4;
async function putSessions(c: TestCluster, round: number): Promise<void> {
  await c.waitFor(`session round ${round} acknowledged`, 20_000, async () => ((await sendSessionRound(c, await c.waitForLeader(), round)) ? true : null));
}

async function sendSessionRound(c: TestCluster, leader: string, round: number): Promise<boolean> {
  const socket = new WebSocket(`${c.url(leader).replace('http', 'ws')}/ws`);
  try {
    const opened = await new Promise<boolean>((resolve) => {
      socket.once('open', () => resolve(true));
      socket.once('error', () => resolve(false));
    });
    if (!opened) return false;
    const answers = new Map<number, { result?: { success?: number }; error?: unknown }>();
    const all = new Promise<boolean>((resolve) => {
      socket.on('message', (data: Buffer) => {
        const answer = JSON.parse(data.toString()) as { id?: number; result?: { success?: number }; error?: unknown };
        if (typeof answer.id !== 'number') return; // the server's hello push
        answers.set(answer.id, answer);
        if (answers.size === CLIENTS) resolve(true);
      });
      socket.once('close', () => resolve(false));
    });
    for (let k = 0; k < CLIENTS; k++) {
      const point = { metric: 'sessions.test', timestamp: BASE_MS + round * 1000, value: k, tags: { client: `c${k}` } };
      socket.send(JSON.stringify({ id: k + 1, op: 'put', clientId: `session-client-${k}`, seq: round, firstUnacked: round, points: [point] }));
    }
    if (!(await all)) return false;
    return [...answers.values()].every((answer) => answer.result?.success === 1);
  } finally {
    socket.close();
  }
}

async function storageStatus(c: TestCluster, id: string): Promise<StorageStatus['storage']> {
  return (await getJson<StorageStatus>(`${c.url(id)}/status`)).body.storage;
}

/** Points of METRIC by a default (linearizable) query on node `id`. A node
 *  just restarted may not know the leader yet (503, retryable: a client
 *  retries), so those answers are asked again; any other status fails. */
async function pointCount(c: TestCluster, id: string): Promise<number> {
  const query = `${c.url(id)}/api/query?start=${BASE_MS - 1}&end=${BASE_MS + 100_000_000}&m=sum:${METRIC}{host=*}&msResolution=true`;
  return c.waitFor(`a query answered by ${id}`, 15_000, async () => {
    const { status, body } = await getJson<Array<{ dps: Record<string, number> }>>(query, 10_000);
    if (status === 503) return null;
    expect(status, JSON.stringify(body)).toBe(200);
    return body.reduce((sum, series) => sum + Object.keys(series.dps).length, 0);
  });
}

describe('state machine data in LevelDB', () => {
  it('restarts from its checkpoint: after kill -9 it replays at most one interval, after SIGTERM nothing', async () => {
    const c = (cluster = await TestCluster.create({
      nodes: 3,
      config: { tsdb: { blockSpanMs: SPAN_MS }, storage: { residentBlockBytes: 0, checkpointEveryEntries: 10, checkpointEveryMs: 60_000 } },
    }));
    c.startAll();
    const leader = await c.waitForLeader();
    for (let k = 0; k < 30; k++) await putBatch(c, k);
    const converged = await c.waitForConvergence(['n1', 'n2', 'n3']);
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    // Written blocks left memory (the budget is 0) and queries read them back.
    const before = await storageStatus(c, follower);
    expect(before.evictedBlocks).toBeGreaterThan(20);
    expect(before.residentBlockBytes).toBe(0);
    expect(await pointCount(c, follower)).toBe(30 * POINTS_PER_PUT);

    await c.kill9(follower);
    c.start(follower);
    await c.waitFor(`${follower} running`, 15_000, async () => (await c.status(follower).catch(() => null))?.lifecycle === 'running');
    await c.waitForConvergence(['n1', 'n2', 'n3']);
    const afterCrash = await storageStatus(c, follower);
    // It loaded a checkpoint at most ~one interval (10 entries) behind what it had applied.
    expect(afterCrash.loadedIndex).toBeGreaterThan(0);
    expect(afterCrash.loadedIndex).toBeGreaterThanOrEqual(converged.appliedIndex - 12);
    expect(await pointCount(c, follower)).toBe(30 * POINTS_PER_PUT);

    for (let k = 30; k < 35; k++) await putBatch(c, k);
    const settled = await c.waitForConvergence(['n1', 'n2', 'n3']);
    expect((await c.terminate(follower)).code).toBe(0);
    c.start(follower);
    // HTTP answers before the database is open: wait for the node to run.
    await c.waitFor(`${follower} running`, 15_000, async () => (await c.status(follower).catch(() => null))?.lifecycle === 'running');
    // A clean stop wrote a last checkpoint: nothing to replay.
    expect((await storageStatus(c, follower)).loadedIndex).toBe(settled.appliedIndex);
    const state = await c.waitForConvergence(['n1', 'n2', 'n3']);
    expect(state.stateHash).toBe(settled.stateHash);
    expect(await pointCount(c, follower)).toBe(35 * POINTS_PER_PUT);
  }, 120_000);

  it('a follower rebuilt from a snapshot installs it streamed into LevelDB and restarts from it', async () => {
    const c = (cluster = await TestCluster.create({
      nodes: 3,
      config: { tsdb: { blockSpanMs: SPAN_MS }, snapshotEveryEntries: 10, logEntriesKeptAfterSnapshot: 2, storage: { residentBlockBytes: 0, checkpointEveryEntries: 5 } },
    }));
    c.startAll();
    const leader = await c.waitForLeader();
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    for (let k = 0; k < 10; k++) await putBatch(c, k);
    await c.kill9(follower);
    c.wipe(follower);
    // The entries the wiped follower lacks are compacted on the leader: it gets a snapshot,
    // holding sessions written by shared entries (their last-active indexes are equal).
    for (let round = 1; round <= 3; round++) await putSessions(c, round);
    for (let k = 10; k < 30; k++) await putBatch(c, k);
    c.start(follower);
    const state = await c.waitForConvergence(['n1', 'n2', 'n3'], 30_000);
    expect(await pointCount(c, follower)).toBe(30 * POINTS_PER_PUT);
    expect(c.log(follower)).toContain('installed a snapshot from the leader');
    // Streamed from the snapshot file straight into the state store (never restore(bytes)), group by group.
    expect(c.log(follower)).toMatch(/installed a snapshot into the state store format=pack seriesCount=6 groups=1/);
    // The installed blocks stayed in LevelDB, and queries read them back.
    expect((await storageStatus(c, follower)).residentBlockBytes).toBe(0);
    // Its checkpoints hold the installed state: a kill -9 now restarts from LevelDB.
    await c.waitFor(`${follower} checkpointed`, 15_000, async () => (await storageStatus(c, follower)).checkpointIndex >= state.appliedIndex - 5 || null);
    await c.kill9(follower);
    c.start(follower);
    await c.waitFor(`${follower} running`, 15_000, async () => (await c.status(follower).catch(() => null))?.lifecycle === 'running');
    expect((await storageStatus(c, follower)).loadedIndex).toBeGreaterThanOrEqual(state.appliedIndex - 5);
    const after = await c.waitForConvergence(['n1', 'n2', 'n3']);
    expect(after.stateHash).toBe(state.stateHash);
    expect(await pointCount(c, follower)).toBe(30 * POINTS_PER_PUT);
  }, 120_000);
});
