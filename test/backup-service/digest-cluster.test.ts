// State digests across a live cluster (in-process nodes on loopback): the
// leader's checkpoint records make every replica compute its digest at the
// same index; replicas that agree count matches, and a replica whose data
// differs raises the alarm on its peers, naming the series group.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessCluster } from './inprocess-cluster.js';

const T0 = 1_700_000_000_000;

interface DigestStatus {
  digests: { lastIndex: number; checks: { match: number; mismatch: number }; mismatches: Array<{ index: number; peer: string; groups: number[] }> };
}

describe('state digests compared between replicas', () => {
  let cluster: InProcessCluster;

  beforeAll(async () => {
    cluster = await InProcessCluster.start(3, { backup: { digest: { intervalMs: 1000 }, scrub: { enabled: false } } });
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  const status = (id: string): DigestStatus => cluster.node(id).status().backupService as unknown as DigestStatus;

  it('matches on healthy replicas, and alarms when one replica holds different data', async () => {
    const leader = await cluster.leader();
    const points = [];
    for (let m = 0; m < 8 * 60; m += 5) points.push({ metric: 'digest.cluster', timestamp: T0 + m * 60_000, value: m, tags: { host: 'a' } });
    expect((await fetch(`${cluster.url(leader)}/api/put`, { method: 'POST', body: JSON.stringify(points), headers: { 'content-type': 'application/json' } })).status).toBe(204);
    await cluster.waitFor('matching digests on every node', 20_000, () => cluster.ids.every((id) => status(id).digests.checks.match >= 2));
    expect(cluster.ids.every((id) => status(id).digests.checks.mismatch === 0)).toBe(true);

    // One follower's segment now holds another encoding (its stored checksum differs).
    const odd = cluster.ids.find((id) => id !== leader)!;
    const sm = cluster.node(odd).stateMachine;
    const record = sm.seriesDataOf(0)!.sealedRecords()[0]! as { crc: number };
    record.crc ^= 0xff;
    const others = cluster.ids.filter((id) => id !== odd);
    const seen = await cluster.waitFor('the peers to report the odd replica', 20_000, () => {
      const found = others.map((id) => status(id).digests.mismatches.find((m) => m.peer === odd));
      return found.every((m) => m !== undefined) ? found : null;
    });
    expect(seen[0]!.groups).toEqual([0]);
    expect(status(odd).digests.checks.mismatch).toBeGreaterThanOrEqual(2);
    const metrics = await (await fetch(`${cluster.url(others[0]!)}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`tsraft_state_digest_mismatches_total\\{peer="${odd}"\\} [1-9]`));
    record.crc ^= 0xff;
  });
});
