// The client API on a real 3-node cluster (processes on 127.0.0.1): writes
// sent to a follower reach the leader, linearizable reads on a follower see
// them, subscriptions on any node see commits, and a client keeps writing
// through a kill -9 of the leader without losing an acknowledged point.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect, type TsraftClient } from '../../src/client/index.js';
import { TestCluster } from '../node/process-harness.js';

let cluster: TestCluster;
const clients: TsraftClient[] = [];

beforeAll(async () => {
  cluster = await TestCluster.create({ nodes: 3 });
  cluster.startAll();
  await cluster.waitForLeader(20_000);
}, 30_000);

afterAll(async () => {
  for (const c of clients) await c.close();
  await cluster.destroy();
}, 30_000);

async function client(endpoints: string[]): Promise<TsraftClient> {
  const c = await connect(endpoints, { timeoutMs: 20_000, minBackoffMs: 20, maxBackoffMs: 200 });
  clients.push(c);
  return c;
}

async function follower(): Promise<string> {
  const leader = await cluster.waitForLeader();
  return cluster.nodes.find((n) => n.id !== leader)!.id;
}

const T = 1_700_000_000_000;

describe('the client API on a 3-node cluster', () => {
  it('stores a write sent to a follower and serves it back from a follower with a linearizable read', async () => {
    const f = await follower();
    // A raw connection to the follower only: no leader discovery, so the follower must forward.
    const ws = new WebSocket(`${cluster.url(f).replace('http', 'ws')}/ws`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const answer = await new Promise<Record<string, unknown>>((resolve) => {
      ws.on('message', (data: Buffer) => {
        const m = JSON.parse(data.toString()) as Record<string, unknown>;
        if (m.id === 1) resolve(m);
      });
      ws.send(JSON.stringify({ id: 1, op: 'put', points: [{ metric: 'it.fwd', timestamp: T, value: 1, tags: { h: 'a' } }] }));
    });
    ws.close();
    expect(answer).toMatchObject({ ok: true, result: { success: 1 } });
    const c = await client([cluster.url(f)]);
    expect((await c.query('sum:it.fwd', { start: T - 1000, end: T + 1000 }))[0]!.dps).toEqual([[T, 1]]);
    // OpenTSDB /api/put on a follower is forwarded too.
    const res = await fetch(`${cluster.url(f)}/api/put`, { method: 'POST', body: JSON.stringify({ metric: 'it.fwd', timestamp: T + 1, value: 2, tags: { h: 'a' } }) });
    expect(res.status).toBe(204);
    expect((await c.query('sum:it.fwd', { start: T - 1000, end: T + 1000 }))[0]!.dps).toHaveLength(2);
  });

  it('pushes points committed through the leader to a subscriber on a follower', async () => {
    const f = await follower();
    const reader = await client([cluster.url(f)]);
    const writer = await client(cluster.nodes.map((n) => cluster.url(n.id)));
    const sub = reader.subscribe({ metric: 'it.live' });
    const got: number[] = [];
    const writing = (async () => {
      for (let i = 0; got.length < 3 && i < 300; i++) {
        await writer.put({ metric: 'it.live', tags: { h: 'a' }, timestamp: T + i, value: i });
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    for await (const p of sub) {
      got.push(p.value as number);
      if (got.length === 3) break;
    }
    await writing;
    expect(got).toHaveLength(3);
  });

  it('keeps writing through a kill -9 of the leader and loses no acknowledged point', async () => {
    const c = await client(cluster.nodes.map((n) => cluster.url(n.id)));
    const leader = await cluster.waitForLeader();
    const acknowledged: number[] = [];
    let killed = false;
    for (let i = 0; i < 60; i++) {
      if (i === 20) {
        await cluster.kill9(leader);
        killed = true;
      }
      const result = await c.put({ metric: 'it.failover', tags: { h: 'a' }, timestamp: T + i, value: i });
      if (result.success === 1) acknowledged.push(i);
    }
    expect(killed).toBe(true);
    expect(acknowledged).toHaveLength(60);
    const results = await c.query('none:it.failover', { start: T - 1000, end: T + 100_000 });
    expect(results[0]!.dps.map(([, v]) => v)).toEqual(acknowledged);
    cluster.start(leader);
  }, 60_000);
});
