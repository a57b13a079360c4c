// /metrics, /backups, self-monitoring, the console's cluster overview and
// `tsraft status` on a real 3-node cluster (processes on 127.0.0.1).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, getJson } from '../node/process-harness.js';
import { PROMTOOL, missingTool } from '../required-tool.js';
import { findPromtool, runPromtool } from './promtool.js';

const promtool = findPromtool();
let cluster: TestCluster;
let leader: string;

beforeAll(async () => {
  cluster = await TestCluster.create({ nodes: 3, config: { selfMonitoring: { enabled: true, intervalMs: 1_000 } } });
  cluster.startAll();
  leader = await cluster.waitForLeader();
});

afterAll(async () => {
  await cluster?.destroy();
});

async function scrape(id: string): Promise<{ text: string; contentType: string; samples: Map<string, number> }> {
  const response = await fetch(`${cluster.url(id)}/metrics`, { signal: AbortSignal.timeout(5_000) });
  expect(response.status).toBe(200);
  const text = await response.text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return { text, contentType: response.headers.get('content-type') ?? '', samples };
}

function sumOf(samples: Map<string, number>, prefix: string): number {
  let sum = 0;
  for (const [key, value] of samples) if (key === prefix || key.startsWith(`${prefix}{`)) sum += value;
  return sum;
}

function follower(): string {
  return cluster.nodes.map((n) => n.id).find((id) => id !== leader)!;
}

async function putJson(id: string, points: unknown[]): Promise<{ status: number; body: { success?: number; failed?: number } }> {
  const response = await fetch(`${cluster.url(id)}/api/put?summary`, { method: 'POST', body: JSON.stringify(points), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: (await response.json()) as { success?: number; failed?: number } };
}

describe('/metrics on a running cluster', () => {
  it('is served by every node in the Prometheus text format that promtool accepts', async () => {
    for (const node of cluster.nodes) {
      const { text, contentType } = await scrape(node.id);
      expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(text).toContain(`tsraft_node_info{node_id="${node.id}",cluster_id="${cluster.clusterId}"`);
      if (promtool === null) return missingTool(PROMTOOL);
      const run = runPromtool(promtool, ['check', 'metrics'], text);
      expect(run.code, `${node.id}: ${run.output}`).toBe(0);
    }
  });

  it('shows one leader, known to every node, at one term, and each follower\'s lag on the leader', async () => {
    const scrapes = await Promise.all(cluster.nodes.map(async (n) => ({ id: n.id, s: (await scrape(n.id)).samples })));
    expect(scrapes.filter((x) => x.s.get('tsraft_raft_is_leader') === 1).map((x) => x.id)).toEqual([leader]);
    for (const { s } of scrapes) expect(s.get('tsraft_raft_has_leader')).toBe(1);
    expect(new Set(scrapes.map((x) => x.s.get('tsraft_raft_term'))).size).toBe(1);
    const onLeader = scrapes.find((x) => x.id === leader)!.s;
    const lagSeries = [...onLeader.keys()].filter((k) => k.startsWith('tsraft_raft_follower_lag_entries{')).sort();
    expect(lagSeries).toEqual(cluster.nodes.filter((n) => n.id !== leader).map((n) => `tsraft_raft_follower_lag_entries{peer="${n.id}"}`));
    expect(onLeader.get('tsraft_raft_members{kind="voter"}')).toBe(3);
    // Heartbeats flow every tick: the leader has timed round trips to each follower.
    for (const n of cluster.nodes.filter((x) => x.id !== leader)) expect(onLeader.get(`tsraft_raft_round_trip_seconds_count{peer="${n.id}",message="heartbeat"}`)).toBeGreaterThan(0);
  });

  it('counts writes received by a follower, rejected points by reason, and times log syncs and queries', async () => {
    const id = follower();
    const before = (await scrape(id)).samples;
    const nowSeconds = Math.floor(Date.now() / 1000);
    const good = Array.from({ length: 5 }, (_, i) => ({ metric: 'cluster.test.writes', timestamp: nowSeconds - i, value: i, tags: { host: 'a' } }));
    const answer = await putJson(id, [...good, { metric: '', timestamp: nowSeconds, value: 1, tags: { host: 'a' } }, { metric: 'x', timestamp: nowSeconds, value: 'NaNx', tags: { host: 'a' } }]);
    expect(answer.body).toMatchObject({ success: 5, failed: 2 });
    const query = await getJson<unknown[]>(`${cluster.url(id)}/api/query?start=1h-ago&m=sum:cluster.test.writes`, 5_000);
    expect(query.status).toBe(200);
    const after = (await scrape(id)).samples;
    expect(sumOf(after, 'tsraft_tsdb_points_ingested_total') - sumOf(before, 'tsraft_tsdb_points_ingested_total')).toBeGreaterThanOrEqual(5);
    expect(after.get('tsraft_tsdb_points_rejected_total{reason="empty"}')! - before.get('tsraft_tsdb_points_rejected_total{reason="empty"}')!).toBe(1);
    expect(after.get('tsraft_tsdb_points_rejected_total{reason="not_a_number"}')! - before.get('tsraft_tsdb_points_rejected_total{reason="not_a_number"}')!).toBe(1);
    expect(after.get('tsraft_tsdb_query_duration_seconds_count{operation="query"}')! - before.get('tsraft_tsdb_query_duration_seconds_count{operation="query"}')!).toBe(1);
    expect(after.get('tsraft_storage_sync_duration_seconds_count{operation="append"}')).toBeGreaterThan(before.get('tsraft_storage_sync_duration_seconds_count{operation="append"}')!);
    expect(after.get('tsraft_storage_log_entries')).toBeGreaterThan(0);
    expect(after.get('tsraft_storage_leveldb_size_bytes')).toBeGreaterThan(0);
    expect(after.get('tsraft_storage_filesystem_avail_bytes')).toBeGreaterThan(0);
    expect(after.get('tsraft_tsdb_series')).toBeGreaterThan(0);
    expect(sumOf(after, 'tsraft_transport_sent_bytes_total')).toBeGreaterThan(0);
  });
});

describe('self-monitoring', () => {
  it('writes tsraft.* series for every node through the cluster, queryable like any data', async () => {
    const suggested = await cluster.waitFor('self-monitoring series', 15_000, async () => {
      const names = (await getJson<string[]>(`${cluster.url(leader)}/api/suggest?type=metrics&q=tsraft.&max=100`)).body;
      return names.includes('tsraft.raft.applied_index') ? names : null;
    });
    expect(suggested).toEqual(expect.arrayContaining(['tsraft.raft.term', 'tsraft.tsdb.points_ingested', 'tsraft.process.resident_memory_bytes']));
    const hosts = await cluster.waitFor('a sample from each node', 15_000, async () => {
      const groups = (await getJson<Array<{ tags: Record<string, string>; dps: unknown[] }>>(`${cluster.url(follower())}/api/query?start=5m-ago&m=sum:tsraft.raft.term{host=*}&arrays=true`)).body;
      const seen = groups.filter((g) => g.dps.length > 0).map((g) => g.tags.host).sort();
      return seen.length === 3 ? seen : null;
    });
    expect(hosts).toEqual(['n1', 'n2', 'n3']);
    for (const n of cluster.nodes) expect((await scrape(n.id)).samples.get('tsraft_self_monitor_writes_total{result="success"}')).toBeGreaterThan(0);
    // Every replica applied the same entries: the states stay identical.
    await cluster.waitForConvergence(cluster.nodes.map((n) => n.id));
  });
});

describe('/backups', () => {
  it('lists no backups on a new node, then a reported one, and exports it as metrics', async () => {
    const id = follower();
    expect((await getJson<{ backups: unknown[] }>(`${cluster.url(id)}/backups`)).body.backups).toEqual([]);
    const record = { id: 'backup-1', startedAtMs: Date.now() - 5_000, durationSeconds: 4.5, sizeBytes: 123_456, raftIndex: 42, outcome: 'success', verification: 'verified', kind: 'full' };
    const posted = await fetch(`${cluster.url(id)}/backups`, { method: 'POST', body: JSON.stringify(record), headers: { 'content-type': 'application/json' } });
    expect(posted.status).toBe(200);
    expect((await getJson<{ node: string; backups: unknown[] }>(`${cluster.url(id)}/backups`)).body).toEqual({ node: id, backups: [record] });
    const s = (await scrape(id)).samples;
    expect(s.get('tsraft_backup_last_size_bytes')).toBe(123_456);
    expect(s.get('tsraft_backup_runs_total{result="success"}')).toBe(1);
    expect(s.get('tsraft_backup_last_success_timestamp_seconds')).toBeCloseTo(record.startedAtMs / 1000 + 4.5, 3);
  });

  it('refuses a malformed report naming the field', async () => {
    const response = await fetch(`${cluster.url(leader)}/backups`, { method: 'POST', body: JSON.stringify({ id: 'x', outcome: 'maybe' }), headers: { 'content-type': 'application/json' } });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 'TSR_ERR_INVALID_ARGUMENT', details: { field: 'outcome' } } });
  });
});

describe('cluster overview and tsraft status', () => {
  it('describes every member from one node: role, health, indexes, lag', async () => {
    const { body } = await getJson<{ leader: string; answeredBy: string; members: Array<{ id: string; role: string; health: string; lagEntries: number | null; appliedIndex: number }> }>(`${cluster.url(follower())}/console/api/cluster`, 5_000);
    expect(body.leader).toBe(leader);
    expect(body.answeredBy).toBe(follower());
    expect(body.members.map((m) => m.id)).toEqual(['n1', 'n2', 'n3']);
    expect(body.members.find((m) => m.id === leader)).toMatchObject({ role: 'leader', health: 'healthy', lagEntries: 0 });
    for (const m of body.members) {
      expect(m.health).toBe('healthy');
      expect(m.lagEntries).not.toBeNull();
      expect(m.appliedIndex).toBeGreaterThan(0);
    }
  });

  it('prints the cluster as a table, trying the next endpoint when one does not answer', async () => {
    const run = await cluster.runCli(['status', '--endpoint', 'http://127.0.0.1:1', '--endpoint', cluster.url('n1')]);
    expect(run.code, run.output).toBe(0);
    const lines = run.output.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^cluster ${cluster.clusterId} · leader ${leader} · term \\d+ · commit [\\d,]+ · asked n1$`));
    expect(run.output).toMatch(/NODE\s+ROLE\s+HEALTH\s+TERM\s+COMMIT\s+APPLIED\s+LAG\s+UPTIME\s+CLIENT URL/);
    expect(run.output).toMatch(/^n1 \*\s+\w+\s+healthy\s/m);
    expect(run.output).toMatch(new RegExp(`^${leader}(?: \\*)?\\s+leader\\s+healthy\\s+\\d+\\s+[\\d,]+\\s+[\\d,]+\\s+0\\s`, 'm'));
  });

  it('prints the same overview as JSON for scripts', async () => {
    const run = await cluster.runCli(['status', '--endpoint', cluster.url('n2'), '--json']);
    expect(run.code, run.output).toBe(0);
    const overview = JSON.parse(run.output) as { leader: string; clusterId: string; members: Array<{ id: string; health: string }> };
    expect(overview.leader).toBe(leader);
    expect(overview.clusterId).toBe(cluster.clusterId);
    expect(overview.members.map((m) => [m.id, m.health])).toEqual([['n1', 'healthy'], ['n2', 'healthy'], ['n3', 'healthy']]);
  });

  it('fails with TSR_ERR_UNREACHABLE when no endpoint answers', async () => {
    const run = await cluster.runCli(['status', '--endpoint', 'http://127.0.0.1:1']);
    expect(run.code).toBe(1);
    expect(run.output).toContain('TSR_ERR_UNREACHABLE');
  });

  it('shows a stopped member as unreachable', async () => {
    const stopped = follower();
    await cluster.kill9(stopped);
    const asked = cluster.nodes.map((n) => n.id).find((id) => id !== stopped)!;
    const run = await cluster.runCli(['status', '--endpoint', cluster.url(asked), '--json']);
    expect(run.code, run.output).toBe(0);
    const overview = JSON.parse(run.output) as { members: Array<{ id: string; health: string; reachable: boolean; detail: string | null }> };
    expect(overview.members.find((m) => m.id === stopped)).toMatchObject({ health: 'unreachable', reachable: false });
    const table = await cluster.runCli(['status', '--endpoint', cluster.url(asked)]);
    expect(table.output).toMatch(new RegExp(`^${stopped}\\s+\\w+\\s+unreachable\\s+-\\s+-\\s+-`, 'm'));
    expect(table.output).toContain('problems:');
  });
});
