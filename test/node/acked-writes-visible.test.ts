// Linearizable reads on real processes: once a write is acknowledged, a
// query with default consistency on ANY node (follower, leader, a node that
// just lost leadership, a node just restarted after kill -9) must return
// every acknowledged point (ARCHITECTURE.md, "The read path").
//
// One writer streams batches, alternately over the WebSocket client
// (src/client, exactly-once sessions, follows the leader) and over OpenTSDB
// POST /api/put on a random running node (followers forward). After every
// acknowledgement it queries each running node over HTTP without a
// consistency parameter, and the client's home node over the WebSocket,
// and records any successful answer that lacks an acknowledged point.
// Meanwhile a script moves leadership: the admin route
// /cluster/transfer-leader, `tsraft cluster transfer-leader`, and kill -9 of
// the leader followed by its restart (twice). A query that fails (no
// leader, read index lost, node down, timeout) is allowed; a wrong answer
// never is.
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type TsraftClient } from '../../src/client/index.js';
import { TestCluster, sleep } from './process-harness.js';

const BASE_MS = 1_700_000_000_000;
const POINTS_PER_BATCH = 20;
const WS_METRIC = 'acked.ws';
const HTTP_METRIC = 'acked.http';
/** A node answers a query within this (a linearizable read waits at most for an election). */
const QUERY_TIMEOUT_MS = 5_000;
/** Batches acknowledged between two leadership moves. */
const BATCHES_BETWEEN_MOVES = 8;

let cluster: TestCluster | null = null;
let client: TsraftClient | null = null;
afterEach(async () => {
  await client?.close();
  client = null;
  await cluster?.destroy();
  cluster = null;
});

/** Batch `b` goes over the WebSocket when even, over /api/put when odd; its points have distinct timestamps. */
function metricOf(batch: number): string {
  return batch % 2 === 0 ? WS_METRIC : HTTP_METRIC;
}

function timestampsOf(batch: number): number[] {
  return Array.from({ length: POINTS_PER_BATCH }, (_, i) => BASE_MS + batch * POINTS_PER_BATCH + i);
}

/** Acknowledged timestamps per metric, in order. */
type Acked = Record<string, number[]>;

/** Timestamps acknowledged (`acked`) that a query answer (metric → returned timestamps) lacks. */
function missingPoints(acked: Acked, answer: ReadonlyMap<string, ReadonlySet<number>>): Array<{ metric: string; timestamp: number }> {
  const missing: Array<{ metric: string; timestamp: number }> = [];
  for (const [metric, timestamps] of Object.entries(acked)) {
    const seen = answer.get(metric);
    for (const t of timestamps) if (seen === undefined || !seen.has(t)) missing.push({ metric, timestamp: t });
  }
  return missing;
}

function answerOf(groups: ReadonlyArray<{ metric: string; dps: ReadonlyArray<readonly [number, unknown]> }>): Map<string, Set<number>> {
  const answer = new Map<string, Set<number>>();
  for (const g of groups) {
    const set = answer.get(g.metric) ?? new Set<number>();
    for (const [t] of g.dps) set.add(t);
    answer.set(g.metric, set);
  }
  return answer;
}

const QUERY_START = BASE_MS - 1_000;
const QUERY_END = BASE_MS + 3_600_000;

/** GET /api/query with no consistency parameter (so linearizable); null when the node did not answer 200. */
async function httpQuery(c: TestCluster, id: string): Promise<Map<string, Set<number>> | null> {
  const url = `${c.url(id)}/api/query?start=${QUERY_START}&end=${QUERY_END}&m=none:${WS_METRIC}&m=none:${HTTP_METRIC}&ms=true&arrays=true`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(QUERY_TIMEOUT_MS) });
    if (response.status !== 200) {
      await response.arrayBuffer();
      return null;
    }
    return answerOf((await response.json()) as Array<{ metric: string; dps: Array<[number, number]> }>);
  } catch {
    return null; // down, restarting, or timed out: not an answer
  }
}

/** POST /api/put?summary to running nodes until one acknowledges every point of the batch. */
async function httpPut(c: TestCluster, batch: number, deadlineMs: number): Promise<void> {
  const body = JSON.stringify(timestampsOf(batch).map((t) => ({ metric: HTTP_METRIC, timestamp: t, value: batch, tags: { host: 'a' } })));
  let target: string | null = null;
  for (let attempt = 0; Date.now() < deadlineMs; attempt++) {
    const running = c.running();
    const url = target ?? (running.length > 0 ? c.url(running[attempt % running.length]!.id) : null);
    target = null;
    if (url !== null) {
      try {
        const response = await fetch(`${url}/api/put?summary`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(QUERY_TIMEOUT_MS) });
        const answer = (await response.json()) as { success?: number; failed?: number; error?: { details?: string } };
        if (response.status === 200 && answer.success === POINTS_PER_BATCH) return;
        target = /"leaderClientUrl":"([^"]+)"/.exec(answer.error?.details ?? '')?.[1] ?? null;
      } catch {
        // Down or timed out: the outcome is unknown; the same points are sent again.
      }
    }
    if (target === null) await sleep(25);
  }
  throw new Error(`batch ${batch} over /api/put was not acknowledged in time\n${c.describe()}`);
}

interface Violation {
  reader: string;
  afterBatch: number;
  missing: number;
  first: { metric: string; timestamp: number };
}

describe('acknowledged writes', () => {
  it('are reported missing by the checker when an answer lacks one', () => {
    const acked: Acked = { [WS_METRIC]: timestampsOf(0), [HTTP_METRIC]: timestampsOf(1) };
    const full = new Map([
      [WS_METRIC, new Set(timestampsOf(0))],
      [HTTP_METRIC, new Set(timestampsOf(1))],
    ]);
    expect(missingPoints(acked, full)).toEqual([]);
    const lacking = new Map([
      [WS_METRIC, new Set(timestampsOf(0))],
      [HTTP_METRIC, new Set(timestampsOf(1).slice(1))],
    ]);
    expect(missingPoints(acked, lacking)).toEqual([{ metric: HTTP_METRIC, timestamp: timestampsOf(1)[0] }]);
    expect(missingPoints(acked, new Map())).toHaveLength(2 * POINTS_PER_BATCH);
  });

  it('are seen by a default-consistency query on every node while leadership is transferred and the leader is killed -9 and restarted', async () => {
    const c = (cluster = await TestCluster.create({ nodes: 3 }));
    c.startAll();
    await c.waitForLeader(20_000);
    client = await connect(
      c.nodes.map((n) => c.url(n.id)),
      { timeoutMs: 15_000, minBackoffMs: 20, maxBackoffMs: 200 },
    );
    const ws = client;

    const acked: Acked = { [WS_METRIC]: [], [HTTP_METRIC]: [] };
    const violations: Violation[] = [];
    const answered = new Map<string, number>();
    const moves: string[] = [];
    let batchesAcked = 0;
    let stopWriting = false;

    const check = async (afterBatch: number): Promise<void> => {
      // What was acknowledged before the queries were sent: each must be in every answer.
      const expected: Acked = { [WS_METRIC]: [...acked[WS_METRIC]!], [HTTP_METRIC]: [...acked[HTTP_METRIC]!] };
      const readers: Array<Promise<void>> = c.running().map(async (n) => {
        const answer = await httpQuery(c, n.id);
        if (answer === null) return;
        record(`http ${n.id}`, afterBatch, expected, answer);
      });
      readers.push(
        (async () => {
          let groups;
          try {
            groups = await ws.query([`none:${WS_METRIC}`, `none:${HTTP_METRIC}`], { start: QUERY_START, end: QUERY_END, timeoutMs: QUERY_TIMEOUT_MS });
          } catch {
            return; // failed, not wrong
          }
          record(`client ${ws.homeEndpoint}`, afterBatch, expected, answerOf(groups));
        })(),
      );
      await Promise.all(readers);
    };
    const record = (reader: string, afterBatch: number, expected: Acked, answer: Map<string, Set<number>>): void => {
      const key = reader.startsWith('http') ? reader : 'client';
      answered.set(key, (answered.get(key) ?? 0) + 1);
      const missing = missingPoints(expected, answer);
      if (missing.length > 0) violations.push({ reader, afterBatch, missing: missing.length, first: missing[0]! });
    };

    const writer = (async () => {
      const deadline = Date.now() + 45_000;
      for (let batch = 0; !stopWriting; batch++) {
        if (Date.now() > deadline) throw new Error(`the writer is still running after 45 s (moves: ${moves.join(', ')})\n${c.describe()}`);
        if (metricOf(batch) === WS_METRIC) {
          const result = await ws.put(timestampsOf(batch).map((t) => ({ metric: WS_METRIC, tags: { host: 'a' }, timestamp: t, value: batch })));
          expect(result.failed, `batch ${batch}`).toBe(0);
        } else {
          await httpPut(c, batch, Date.now() + 15_000);
        }
        acked[metricOf(batch)]!.push(...timestampsOf(batch));
        batchesAcked = batch + 1;
        await check(batch);
      }
    })();

    const waitForBatches = async (count: number): Promise<void> => {
      const target = batchesAcked + count;
      await c.waitFor(`${count} more acknowledged batches (at ${batchesAcked})`, 20_000, async () => batchesAcked >= target);
    };
    const otherVoter = (leader: string): string => {
      const others = c.running().map((n) => n.id).filter((id) => id !== leader);
      return others[batchesAcked % others.length]!;
    };

    const script = (async () => {
      try {
        await waitForBatches(BATCHES_BETWEEN_MOVES);
        // 1. The admin route on the leader.
        let leader = await c.waitForLeader();
        let target = otherVoter(leader);
        const response = await fetch(`${c.url(leader)}/cluster/transfer-leader`, {
          method: 'POST',
          body: JSON.stringify({ id: target }),
          headers: { 'content-type': 'application/json' },
          signal: AbortSignal.timeout(20_000),
        });
        expect(response.status, await response.text()).toBe(200);
        moves.push(`route ${leader}→${target}`);
        await waitForBatches(BATCHES_BETWEEN_MOVES);

        // 2. The CLI, given a follower's endpoint.
        leader = await c.waitForLeader();
        target = otherVoter(leader);
        const cli = await c.runCli(['cluster', 'transfer-leader', '--endpoint', c.url(target), '--id', target, '--timeout-ms', '20000'], 25_000);
        expect(cli.code, cli.output).toBe(0);
        moves.push(`cli ${leader}→${target}`);
        await waitForBatches(BATCHES_BETWEEN_MOVES);

        // 3. kill -9 of the leader, then its restart; twice.
        for (let round = 0; round < 2; round++) {
          leader = await c.waitForLeader();
          await c.kill9(leader);
          moves.push(`kill -9 ${leader}`);
          await waitForBatches(BATCHES_BETWEEN_MOVES);
          c.start(leader);
          moves.push(`restart ${leader}`);
          await c.waitForLeader(20_000, c.nodes.map((n) => n.id));
          await waitForBatches(BATCHES_BETWEEN_MOVES);
        }
        // 4. Leadership to the node restarted last (a leader whose state was rebuilt from disk and log).
        leader = await c.waitForLeader();
        const restarted = moves[moves.length - 1]!.split(' ')[1]!;
        if (leader !== restarted) {
          const cli = await c.runCli(['cluster', 'transfer-leader', '--endpoint', c.url(leader), '--id', restarted, '--timeout-ms', '20000'], 25_000);
          expect(cli.code, cli.output).toBe(0);
          moves.push(`cli ${leader}→${restarted}`);
        }
        await waitForBatches(BATCHES_BETWEEN_MOVES);
      } finally {
        stopWriting = true;
      }
    })();

    await Promise.all([script, writer]);

    expect(violations, `moves: ${moves.join(', ')}`).toEqual([]);
    // Every reader answered often enough for the check to mean something.
    for (const n of c.nodes) expect(answered.get(`http ${n.id}`) ?? 0, `answers from ${n.id}`).toBeGreaterThanOrEqual(BATCHES_BETWEEN_MOVES);
    expect(answered.get('client') ?? 0).toBeGreaterThanOrEqual(4 * BATCHES_BETWEEN_MOVES);
    expect(moves.filter((m) => m.startsWith('kill'))).toHaveLength(2);
    // Finally every node holds exactly the acknowledged points (and the duplicates of retries changed nothing).
    const all = await c.waitForConvergence(c.nodes.map((n) => n.id));
    expect(all.pointCount).toBe(acked[WS_METRIC]!.length + acked[HTTP_METRIC]!.length);
  });
});
