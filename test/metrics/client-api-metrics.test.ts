// The client API's metrics, measured around a real LocalTsdbService: points
// stored and rejected by reason, reads timed per operation, failures counted,
// forwarded and duplicate puts not counted twice; failed proposals by code.
import { describe, expect, it } from 'vitest';
import { LocalTsdbService } from '../../src/api/local-service.js';
import type { PutResult } from '../../src/api/service.js';
import { TsraftError } from '../../src/errors.js';
import { clientApiMetrics, instrumentReplicaHandle, instrumentTsdbService } from '../../src/metrics/client-api-metrics.js';
import { createMetricFamilies, type MetricFamilies } from '../../src/metrics/definitions.js';
import { parseQueryParams } from '../../src/tsdb/query/index.js';
import { systemClock } from '../../src/util/clock.js';

const NOW_MS = 1_700_000_000_000;

async function value(families: MetricFamilies, family: keyof MetricFamilies, labels: Record<string, string> = {}, suffix = ''): Promise<number> {
  const { values } = await (families[family] as { get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown>; metricName?: string }> }> }).get();
  const match = values.filter((v) => (suffix === '' || v.metricName?.endsWith(suffix)) && Object.entries(labels).every(([k, x]) => v.labels[k] === x));
  return match.reduce((sum, v) => sum + v.value, 0);
}

function setup(): { families: MetricFamilies; service: LocalTsdbService; metered: ReturnType<typeof instrumentTsdbService>; clock: { now: number } } {
  const { families } = createMetricFamilies();
  const service = new LocalTsdbService({ clock: systemClock });
  const clock = { now: 0 };
  const metered = instrumentTsdbService(service, clientApiMetrics(families), () => clock.now);
  return { families, service, metered, clock };
}

const point = (metric: unknown, value: unknown, host = 'a'): { metric: unknown; timestamp: number; value: unknown; tags: Record<string, string> } => ({ metric, timestamp: NOW_MS, value, tags: { host } });

describe('client API metrics', () => {
  it('counts stored points and rejected points by reason', async () => {
    const { families, metered } = setup();
    const result = await metered.put({ kind: 'objects', points: [point('cpu', 1), point('cpu', 2, 'b'), point('', 3), point('cpu', 'x')] });
    expect([result.success, result.failed]).toEqual([2, 2]);
    expect(await value(families, 'pointsIngested')).toBe(2);
    expect(await value(families, 'pointsRejected', { reason: 'empty' })).toBe(1);
    expect(await value(families, 'pointsRejected', { reason: 'not_a_number' })).toBe(1);
    expect(await value(families, 'pointsRejected')).toBe(2);
  });

  it('counts rejected points beyond the listed errors as unlisted', async () => {
    const { families } = createMetricFamilies();
    const api = clientApiMetrics(families);
    const listed: PutResult = { success: 1, failed: 5, duplicate: false, errors: [{ index: 0, code: 'TSR_ERR_INVALID_POINT', message: 'empty metric', details: { field: 'metric', reason: 'empty' } }] };
    api.countPut(listed);
    expect(await value(families, 'pointsRejected', { reason: 'empty' })).toBe(1);
    expect(await value(families, 'pointsRejected', { reason: 'unlisted' })).toBe(4);
  });

  it('does not count a put forwarded by a follower (the follower counted it) nor a duplicate', async () => {
    const { families, metered } = setup();
    await metered.put({ kind: 'objects', points: [point('cpu', 1)] }, { forwarded: true });
    expect(await value(families, 'pointsIngested')).toBe(0);
    const session = { clientId: 'c1', sequence: 1, firstUnackedSequence: 1 };
    await metered.put({ kind: 'objects', points: [point('mem', 1)] }, { session });
    const retry = await metered.put({ kind: 'objects', points: [point('mem', 1)] }, { session });
    expect(retry.duplicate).toBe(true);
    expect(await value(families, 'pointsIngested')).toBe(1);
  });

  it('times reads per operation and counts the ones that fail', async () => {
    const { families, metered, clock } = setup();
    await metered.put({ kind: 'objects', points: [point('cpu', 1)] });
    const query = parseQueryParams(new URLSearchParams({ start: String(NOW_MS - 60_000), m: 'sum:cpu' }), { nowMs: NOW_MS });
    // The query takes 250 ms on the test's clock.
    const running = metered.query(query, { consistency: 'stale' });
    clock.now += 0.25;
    const groups = await running;
    expect(groups).toHaveLength(1);
    await metered.suggest('metrics', 'c', 10, { consistency: 'stale' });
    expect(await value(families, 'queryDuration', { operation: 'query' }, '_count')).toBe(1);
    expect(await value(families, 'queryDuration', { operation: 'query' }, '_sum')).toBeCloseTo(0.25, 9);
    expect(await value(families, 'queryDuration', { operation: 'suggest' }, '_count')).toBe(1);
    expect(await value(families, 'queryErrors', { operation: 'query' })).toBe(0);
    expect(await value(families, 'queryErrors', { operation: 'suggest' })).toBe(0);
  });

  it('counts a read that fails as an error of its operation, and still times it', async () => {
    const { families } = createMetricFamilies();
    const local = new LocalTsdbService({ clock: systemClock });
    // A node that lost its leader: linearizable reads fail with NO_LEADER.
    const leaderless = Object.assign(Object.create(local) as LocalTsdbService, {
      lookup: async () => {
        throw new TsraftError('TSR_ERR_NO_LEADER', 'no leader is known');
      },
    });
    const metered = instrumentTsdbService(leaderless, clientApiMetrics(families));
    await expect(metered.lookup({ metric: 'cpu', tags: [] }, { consistency: 'linearizable' })).rejects.toMatchObject({ code: 'TSR_ERR_NO_LEADER' });
    expect(await value(families, 'queryErrors', { operation: 'lookup' })).toBe(1);
    expect(await value(families, 'queryDuration', { operation: 'lookup' }, '_count')).toBe(1);
    expect(await value(families, 'queryErrors', { operation: 'query' })).toBe(0);
  });

  it('counts failed proposals by error code and passes results through', async () => {
    const { families } = createMetricFamilies();
    let fail: TsraftError | null = null;
    const replica = {
      propose: async (data: Uint8Array) => {
        if (fail !== null) throw fail;
        return { kind: 'noop' as const, size: data.length };
      },
      readBarrier: async () => 7,
    };
    const handle = instrumentReplicaHandle(replica as never, families);
    expect(await handle.propose(new Uint8Array(3))).toEqual({ kind: 'noop', size: 3 });
    fail = new TsraftError('TSR_ERR_PROPOSAL_BACKPRESSURE', 'slow down');
    await expect(handle.propose(new Uint8Array(1))).rejects.toBe(fail);
    expect(await handle.readBarrier()).toBe(7);
    expect(await value(families, 'proposalsFailed', { code: 'TSR_ERR_PROPOSAL_BACKPRESSURE' })).toBe(1);
  });
});
