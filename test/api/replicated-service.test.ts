// ReplicatedTsdbService's decisions, on an in-process one-node "replica" that
// applies each proposal to a real TimeSeriesStateMachine at the next index
// (the real cluster is exercised in test/client/cluster.test.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { ReplicatedTsdbService, type ReplicaHandle } from '../../src/api/replicated-service.js';
import type { ServiceStatus, LivePoint } from '../../src/api/service.js';
import { TsraftError } from '../../src/errors.js';
import { TimeSeriesStateMachine, type ApplyResult } from '../../src/tsdb/state-machine.js';
import { decodeCommand, encodeCommand } from '../../src/tsdb/command.js';
import { decodeWriteBatch } from '../../src/tsdb/write-batch.js';
import { parseQueryParams } from '../../src/tsdb/query/index.js';
import { TestClock, startApi, type ApiHarness } from './harness.js';
import { Connection } from '../../src/client/connection.js';

class ApplyingReplica implements ReplicaHandle {
  readonly sm: TimeSeriesStateMachine;
  readonly applied: Array<{ index: number; data: Uint8Array; result: ApplyResult }> = [];
  barriers: string[] = [];
  /** Entries committed ahead of the next proposal (another proposer's). */
  committedFirst: Uint8Array[] = [];
  constructor(sm = new TimeSeriesStateMachine()) {
    this.sm = sm;
  }
  async propose(data: Uint8Array): Promise<ApplyResult> {
    for (const other of this.committedFirst.splice(0)) this.sm.apply(this.sm.appliedIndex + 1, other);
    const index = this.sm.appliedIndex + 1;
    const result = this.sm.apply(index, data);
    this.applied.push({ index, data, result });
    return result;
  }
  async readBarrier(options: { consistency?: 'linearizable' | 'stale' } = {}): Promise<number> {
    this.barriers.push(options.consistency ?? 'linearizable');
    return this.sm.appliedIndex;
  }
}

function status(overrides: Partial<ServiceStatus>): ServiceStatus {
  return { id: 'n1', role: 'leader', leader: 'n1', leaderClientUrl: null, term: 1, commitIndex: 0, appliedIndex: 0, members: [], ...overrides };
}

const apis: ApiHarness[] = [];
const services: ReplicatedTsdbService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) s.close();
  for (const a of apis.splice(0)) await a.close();
});

function service(replica: ApplyingReplica, current: () => ServiceStatus): ReplicatedTsdbService {
  const s = new ReplicatedTsdbService({ replica, stateMachine: () => replica.sm, status: current, clock: new TestClock() });
  services.push(s);
  return s;
}

const point = { metric: 'm', timestamp: 1_700_000_000, value: 1, tags: { h: 'a' } };

describe('ReplicatedTsdbService', () => {
  it('proposes on the leader and answers with the applied result', async () => {
    const replica = new ApplyingReplica();
    const s = service(replica, () => status({}));
    const result = await s.put({ kind: 'objects', points: [point, { ...point, value: 'x' }] }, { session: { clientId: 'c', sequence: 1, firstUnackedSequence: 1 } });
    expect(result).toMatchObject({ success: 1, failed: 1, duplicate: false });
    expect(replica.applied).toHaveLength(1);
  });

  it('proposes without building the full status when the cheap leader hint says this node leads', async () => {
    const replica = new ApplyingReplica();
    let statusCalls = 0;
    const s = new ReplicatedTsdbService({ replica, stateMachine: () => replica.sm, status: () => (statusCalls++, status({})), isLeader: () => true, clock: new TestClock() });
    services.push(s);
    expect(await s.put({ kind: 'objects', points: [point] })).toMatchObject({ success: 1 });
    expect(statusCalls).toBe(0);
    expect(replica.applied).toHaveLength(1);
  });

  it('asks the full status when the leader hint says no, and proposes if the status says this node leads', async () => {
    const replica = new ApplyingReplica();
    const s = new ReplicatedTsdbService({ replica, stateMachine: () => replica.sm, status: () => status({}), isLeader: () => false, clock: new TestClock() });
    services.push(s);
    expect(await s.put({ kind: 'objects', points: [point] })).toMatchObject({ success: 1 });
    expect(replica.applied).toHaveLength(1);
  });

  it('refuses to forward a forwarded write and names the leader when it cannot forward', async () => {
    const replica = new ApplyingReplica();
    const follower = service(replica, () => status({ role: 'follower', leader: 'n2', leaderClientUrl: 'http://127.0.0.1:1' }));
    await expect(follower.put({ kind: 'objects', points: [point] }, { forwarded: true })).rejects.toMatchObject({
      code: 'TSR_ERR_NOT_LEADER',
      details: { leader: 'n2', leaderClientUrl: 'http://127.0.0.1:1' },
    });
    const unknown = service(replica, () => status({ role: 'follower', leader: null }));
    await expect(unknown.put({ kind: 'objects', points: [point] })).rejects.toMatchObject({ code: 'TSR_ERR_NO_LEADER' });
    expect(replica.applied).toHaveLength(0);
  });

  it('forwards a follower\'s write to the leader with its session unchanged', async () => {
    const leaderReplica = new ApplyingReplica();
    const leader = service(leaderReplica, () => status({}));
    const api = await startApi({ service: leader });
    apis.push(api);
    const follower = service(new ApplyingReplica(), () => status({ id: 'n2', role: 'follower', leader: 'n1', leaderClientUrl: api.baseUrl }));
    const session = { clientId: 'client-7', sequence: 1, firstUnackedSequence: 1 };
    const first = await follower.put({ kind: 'objects', points: [point] }, { session });
    const retry = await follower.put({ kind: 'objects', points: [point] }, { session });
    expect(first).toMatchObject({ success: 1, duplicate: false });
    expect(retry).toMatchObject({ success: 1, duplicate: true });
    expect(leaderReplica.sm.stats().pointCount).toBe(1);
  });

  it('forwards over the connections its injected opener gives, one per leader, with the frame marked forwarded', async () => {
    const leaderReplica = new ApplyingReplica();
    const api = await startApi({ service: service(leaderReplica, () => status({})) });
    apis.push(api);
    const opened: string[] = [];
    const sent: Array<Record<string, unknown>> = [];
    const clock = new TestClock();
    const follower = new ReplicatedTsdbService({
      replica: new ApplyingReplica(),
      stateMachine: () => leaderReplica.sm,
      status: () => status({ id: 'n2', role: 'follower', leader: 'n1', leaderClientUrl: api.baseUrl }),
      clock,
      openForwardConnection: async (url, options) => {
        opened.push(url);
        const conn = await Connection.open({ url, clock, ...options });
        return {
          request: (message, timeoutMs) => (sent.push(message), conn.request(message, timeoutMs)),
          close: () => conn.close(),
          addCloseListener: (listener) => conn.addCloseListener(listener),
        };
      },
    });
    services.push(follower);
    const session = { clientId: 'client-8', sequence: 1, firstUnackedSequence: 1 };
    await expect(follower.put({ kind: 'objects', points: [point] }, { session })).resolves.toMatchObject({ success: 1, duplicate: false });
    await expect(follower.put({ kind: 'objects', points: [{ ...point, value: 2 }] }, { session: { ...session, sequence: 2 } })).resolves.toMatchObject({ success: 1 });
    expect(opened).toHaveLength(1);
    expect(sent[0]).toMatchObject({ op: 'put', forwarded: true, clientId: 'client-8', seq: 1, firstUnacked: 1 });
  });

  it('passes the consistency of a read to the read barrier', async () => {
    const replica = new ApplyingReplica();
    const s = service(replica, () => status({ role: 'follower', leader: 'n2' }));
    const query = parseQueryParams([['start', '0'], ['m', 'sum:m']], { nowMs: 1_800_000_000_000 });
    await s.query(query, { consistency: 'linearizable' });
    await s.suggest('metrics', '', 10, { consistency: 'stale' });
    expect(replica.barriers).toEqual(['linearizable', 'stale']);
  });

  it('pushes applied points to subscribers and ends them with TSR_ERR_SUBSCRIPTION_GAP when a snapshot is installed', async () => {
    const replica = new ApplyingReplica();
    const s = service(replica, () => status({}));
    const pushed: LivePoint[] = [];
    const ended: TsraftError[] = [];
    s.subscribe({ metric: 'm', filters: [], explicitTags: false }, { onPoints: (points) => pushed.push(...points), onEnd: (e) => ended.push(e as TsraftError) });
    await s.put({ kind: 'objects', points: [point] });
    for (const a of replica.applied) s.onApplied(a.index, a.data, a.result);
    expect(pushed).toEqual([{ metric: 'm', tags: { h: 'a' }, timestampMs: 1_700_000_000_000, value: 1 }]);
    s.onSnapshotInstalled(42);
    expect(ended.map((e) => e.code)).toEqual(['TSR_ERR_SUBSCRIPTION_GAP']);
  });

  it('gives the series its state machine holds by id, and subscribers still see their names', async () => {
    const replica = new ApplyingReplica();
    const s = service(replica, () => status({}));
    const pushed: LivePoint[] = [];
    s.subscribe({ metric: 'm', filters: [], explicitTags: false }, { onPoints: (points) => pushed.push(...points), onEnd: () => undefined });
    await s.put({ kind: 'objects', points: [point] });
    await s.put({ kind: 'columns', columns: { seriesKeys: ['m{h=a}', 'm{h=b}'], seriesIndexes: [0, 1], timestamps: [1_700_000_010, 1_700_000_010], values: [2, 3] } });
    const second = decodeCommand(replica.applied[1]!.data);
    expect(second.type).toBe('write');
    const batch = decodeWriteBatch((second as { batch: Uint8Array }).batch);
    expect([...batch.seriesIds]).toEqual([0, -1]);
    for (const a of replica.applied) s.onApplied(a.index, a.data, a.result);
    expect(pushed.map((p) => [p.tags.h, p.value])).toEqual([
      ['a', 1],
      ['a', 2],
      ['b', 3],
    ]);
  });

  it('proposes a write again by key when retention removed a series it gave by id before it applied', async () => {
    const replica = new ApplyingReplica(new TimeSeriesStateMachine({ blockSpanMs: 3_600_000 }));
    const s = service(replica, () => status({}));
    await s.put({ kind: 'objects', points: [point] });
    replica.committedFirst.push(encodeCommand({ type: 'retention', leaderTimeMs: 1_700_000_000_000 + 5 * 3_600_000, retentionMs: 3_600_000 }));
    const session = { clientId: 'c', sequence: 1, firstUnackedSequence: 1 };
    const result = await s.put({ kind: 'objects', points: [{ ...point, timestamp: 1_700_020_000, value: 7 }] }, { session });
    expect(result).toMatchObject({ success: 1, failed: 0, duplicate: false });
    expect(replica.applied.map((a) => a.result.kind)).toEqual(['write', 'stale_series', 'write']);
    expect(replica.sm.seriesOfMetric('m').map((info) => info.id)).toEqual([1]);
  });

  it('proposes the puts of one turn as one entry, answers each, and pushes all their points to subscribers', async () => {
    const replica = new ApplyingReplica();
    const s = service(replica, () => status({}));
    const pushed: LivePoint[] = [];
    s.subscribe({ metric: 'm', filters: [], explicitTags: false }, { onPoints: (points) => pushed.push(...points), onEnd: () => undefined });
    const puts = [1, 2, 3].map((sequence) => s.put({ kind: 'objects', points: [{ ...point, value: sequence, tags: { h: `h${sequence}` } }] }, { session: { clientId: 'c', sequence, firstUnackedSequence: 1 } }));
    const results = await Promise.all(puts);
    expect(results.map((r) => r.success)).toEqual([1, 1, 1]);
    expect(replica.applied.map((a) => a.result.kind)).toEqual(['writes']);
    for (const a of replica.applied) s.onApplied(a.index, a.data, a.result);
    expect(pushed.map((p) => [p.tags.h, p.value])).toEqual([
      ['h1', 1],
      ['h2', 2],
      ['h3', 3],
    ]);
  });

  it('forgets a remembered series id that went stale and stores the put by key', async () => {
    const replica = new ApplyingReplica(new TimeSeriesStateMachine({ blockSpanMs: 3_600_000 }));
    const s = service(replica, () => status({}));
    await s.put({ kind: 'objects', points: [point] });
    replica.committedFirst.push(encodeCommand({ type: 'retention', leaderTimeMs: 1_700_000_000_000 + 5 * 3_600_000, retentionMs: 3_600_000 }));
    // The connection remembers id 0 for m{h=a}: retention removes it before the put applies.
    const seriesIds = Int32Array.of(0);
    const result = await s.put({ kind: 'columns', columns: { seriesKeys: ['m{h=a}'], seriesIds, seriesIndexes: [0], timestamps: [1_700_020_000], values: [7] } });
    expect(result).toMatchObject({ success: 1, failed: 0 });
    expect(replica.applied.map((a) => a.result.kind)).toEqual(['write', 'stale_series', 'write']);
    expect([...seriesIds]).toEqual([-1]);
    expect(replica.sm.seriesOfMetric('m').map((info) => info.id)).toEqual([1]);
  });
});
