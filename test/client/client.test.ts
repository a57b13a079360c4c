import { afterEach, describe, expect, it } from 'vitest';
import { TsraftError } from '../../src/errors.js';
import type { PointsInput, PutOptions, PutResult, TsdbService } from '../../src/api/service.js';
import { connect, type TsraftClient } from '../../src/client/index.js';
import { Connection } from '../../src/client/connection.js';
import { LocalTsdbService } from '../../src/api/local-service.js';
import { TestClock, startApi, type ApiHarness } from '../api/harness.js';
import { TcpProxy } from './tcp-proxy.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function api(options: Parameters<typeof startApi>[0] = {}): Promise<ApiHarness> {
  const a = await startApi(options);
  cleanups.push(() => a.close());
  return a;
}

async function client(endpoints: string | string[], options: Parameters<typeof connect>[1] = {}): Promise<TsraftClient> {
  const c = await connect(endpoints, options);
  cleanups.push(() => c.close());
  return c;
}

const NOW = 1_700_000_000_000;

function cpu(host: string, ts: number, value: number) {
  return { metric: 'sys.cpu.user', tags: { host }, timestamp: ts, value };
}

/** Wraps a service; `around` may replace put's behaviour. */
function wrap(inner: TsdbService, put: (input: PointsInput, options: PutOptions | undefined, next: () => Promise<PutResult>) => Promise<PutResult>): TsdbService {
  return {
    put: (input, options) => put(input, options, () => inner.put(input, options)),
    query: (q, o) => inner.query(q, o),
    suggest: (...a) => inner.suggest(...a),
    lookup: (q, o) => inner.lookup(q, o),
    last: (q, o) => inner.last(q, o),
    status: () => inner.status(),
    subscribe: (s, k) => inner.subscribe(s, k),
  };
}

describe('the TypeScript client', () => {
  it('writes points and reads them back through every read operation', async () => {
    const a = await api();
    const c = await client(a.baseUrl);
    const result = await c.put([cpu('a', NOW - 60_000, 1), cpu('b', NOW - 60_000, 2.5), cpu('a', NOW, 3), { metric: 'bad name', tags: { h: 'x' }, timestamp: NOW, value: 1 }]);
    expect(result).toMatchObject({ success: 3, failed: 1, duplicate: false, errors: [{ index: 3, code: 'TSR_ERR_INVALID_POINT' }] });
    const results = await c.query('sum:sys.cpu.user{host=a}', { start: '1h-ago' });
    expect(results).toEqual([{ metric: 'sys.cpu.user', tags: { host: 'a' }, aggregateTags: [], queryIndex: 0, dps: [[NOW - 60_000, 1], [NOW, 3]] }]);
    const byBody = await c.query({ start: '1h-ago', queries: [{ aggregator: 'max', metric: 'sys.cpu.user' }] }, { consistency: 'stale' });
    expect(byBody[0]!.aggregateTags).toEqual(['host']);
    expect(await c.suggest('tagv', '')).toEqual(['a', 'b']);
    expect((await c.lookup('sys.cpu.user{host=b}')).totalResults).toBe(1);
    expect(await c.last([{ metric: 'sys.cpu.user', tags: { host: 'a' } }])).toMatchObject([{ timestamp: NOW, value: 3 }]);
    expect(await c.status()).toMatchObject({ id: 'local' });
  });

  it('names series by handle once its connection declared them, and stores the same points', async () => {
    const a = await api();
    const c = await client(a.baseUrl);
    const conn = await (c as unknown as { connection(url: string): Promise<Connection> }).connection(c.homeEndpoint);
    const keys = ['sys.cpu.user{host=a}', 'sys.cpu.user{host=b}'];
    const columns = (ts: number, keysOfPut: string[]) => ({ seriesKeys: keysOfPut, seriesIndexes: new Uint32Array(keysOfPut.map((_, i) => i)), timestamps: new Float64Array(keysOfPut.map(() => ts)), values: new Float64Array(keysOfPut.map((_, i) => i + 1)) });
    expect(await c.putColumns(columns(NOW - 2000, keys))).toMatchObject({ success: 2, failed: 0 });
    // Declared now: the next put of these series sends handles only.
    expect(conn.seriesFields(keys)).toEqual({ seriesRefs: new Uint32Array([0, 1]) });
    expect(await c.putColumns(columns(NOW - 1000, [keys[1]!, keys[0]!]))).toMatchObject({ success: 2, failed: 0 });
    expect(await c.putColumns(columns(NOW, [keys[0]!, 'sys.cpu.user{host=c}']))).toMatchObject({ success: 2, failed: 0 });
    expect(a.local!.stateMachine.stats()).toMatchObject({ seriesCount: 3, pointCount: 6 });
  });

  it('declares no handle for a put its connection would refuse to send', async () => {
    const a = await api();
    const conn = await Connection.open({ url: a.wsUrl, clock: new TestClock(), connectTimeoutMs: 3_000, maxInFlight: 1 });
    cleanups.push(async () => conn.close());
    const ping = conn.request({ op: 'ping' }, 5_000);
    // At the in-flight bound: request() would refuse, so nothing is declared.
    expect(conn.seriesFields(['m{h=a}'])).toEqual({ seriesKeys: ['m{h=a}'] });
    await ping;
    expect(conn.seriesFields(['m{h=a}'])).toEqual({ seriesKeys: ['m{h=a}'], seriesHandles: new Int32Array([0]) });
  });

  it('sends the keys again when the node does not know a handle its connection declared', async () => {
    const a = await api();
    const c = await client(a.baseUrl);
    const conn = await (c as unknown as { connection(url: string): Promise<Connection> }).connection(c.homeEndpoint);
    // Declared on the client side only, as if the declaring frame had been lost.
    conn.seriesFields(['sys.cpu.user{host=a}']);
    const result = await c.putColumns({ seriesKeys: ['sys.cpu.user{host=a}'], seriesIndexes: new Uint32Array([0]), timestamps: new Float64Array([NOW]), values: new Float64Array([1]) });
    expect(result).toMatchObject({ success: 1, failed: 0, duplicate: false });
    expect(a.local!.stateMachine.stats().pointCount).toBe(1);
  });

  it('keeps int64 values beyond 2^53 exact and string values as OpenTSDB text', async () => {
    const a = await api();
    const c = await client(a.baseUrl);
    await c.put([
      { metric: 'big', tags: { h: 'a' }, timestamp: NOW, value: 1_152_921_504_606_846_977n },
      { metric: 'text', tags: { h: 'a' }, timestamp: NOW, value: '4.0' },
    ]);
    expect((await c.query('sum:big', { start: '1h-ago' }))[0]!.dps).toEqual([[NOW, 1_152_921_504_606_846_977n]]);
    const sm = a.local!.stateMachine;
    expect(sm.readPoints(sm.seriesOfMetric('text')[0]!.id, 0, 9e12).isInteger[0]).toBe(0);
  });

  it('delivers live points to a subscription as an async iterator until the loop breaks', async () => {
    const a = await api();
    const c = await client(a.baseUrl);
    const sub = c.subscribe({ metric: 'sys.cpu.user', tags: { host: 'b' } });
    // Writes until the subscription is registered on the node and sees them.
    const seen: number[] = [];
    const writer = (async () => {
      for (let i = 0; seen.length < 3 && i < 200; i++) {
        await c.put([cpu('a', NOW + i, i), cpu('b', NOW + i, i)]);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    for await (const p of sub) {
      expect(p.tags).toEqual({ host: 'b' });
      seen.push(p.value as number);
      if (seen.length === 3) break;
    }
    await writer;
    expect(seen).toHaveLength(3);
    expect(seen[1]! - seen[0]!).toBe(1);
  });

  it('retries a put whose answer was lost with the same client id and sequence, and the node applies it once', async () => {
    const local = new LocalTsdbService({ clock: new TestClock() });
    const applied: PutResult[] = [];
    let proxy: TcpProxy | null = null;
    const flaky = wrap(local, async (_input, _options, next) => {
      const result = await next();
      applied.push(result);
      if (applied.length === 1) {
        proxy!.cut(); // stored, but the answer never reaches the client
        await new Promise((r) => setTimeout(r, 20));
      }
      return result;
    });
    const a = await api({ service: flaky });
    proxy = new TcpProxy(Number(new URL(a.baseUrl).port));
    const url = await proxy.start();
    cleanups.push(() => proxy!.close());
    const c = await client(url, { minBackoffMs: 5, maxBackoffMs: 20 });
    const result = await c.put([cpu('a', NOW, 1), cpu('b', NOW, 2)]);
    expect(applied.map((r) => r.duplicate)).toEqual([false, true]);
    expect(result).toMatchObject({ success: 2, duplicate: true });
    // A second put after the retry still goes through under the same session.
    expect(await c.put([cpu('a', NOW + 1, 1)])).toMatchObject({ success: 1, duplicate: false });
    expect(local.stateMachine.stats()).toMatchObject({ pointCount: 3, sessionCount: 1 });
  });

  it('follows a NOT_LEADER answer to the leader named in it', async () => {
    const leader = await api();
    const follower = await api({
      service: wrap(leader.service, async () => {
        throw new TsraftError('TSR_ERR_NOT_LEADER', 'node f is not the leader', { details: { leader: 'l', leaderClientUrl: leader.baseUrl } });
      }),
    });
    const c = await client(follower.baseUrl);
    expect((await c.put(cpu('a', NOW, 1))).success).toBe(1);
    expect(c.knownLeader).toBe(leader.wsUrl);
    expect(leader.local!.stateMachine.stats().pointCount).toBe(1);
  });

  it('retries with backoff while there is no leader, until it succeeds', async () => {
    const inner = await api();
    let refusals = 3;
    const electing = await api({
      service: wrap(inner.service, async (_i, _o, next) => {
        if (refusals-- > 0) throw new TsraftError('TSR_ERR_NO_LEADER', 'election in progress');
        return next();
      }),
    });
    const c = await client(electing.baseUrl, { minBackoffMs: 5, maxBackoffMs: 10 });
    expect((await c.put(cpu('a', NOW, 1))).success).toBe(1);
    expect(refusals).toBe(-1);
  });

  it('renews a forgotten session for the put that met it, while puts already in flight keep their own identity', async () => {
    const inner = await api();
    const calls: Array<{ host: string; clientId: string; sequence: number }> = [];
    let expired = false;
    let refusedB = false;
    const forgetful = await api({
      service: wrap(inner.service, async (input, options, next) => {
        // Put a carries the value 1, put b the value 2 (the client sends columns).
        const value = input.kind === 'columns' ? Number(input.columns.values[0]) : Number(input.points[0]?.value);
        const host = value === 1 ? 'a' : value === 2 ? 'b' : '?';
        calls.push({ host, clientId: options!.session!.clientId, sequence: options!.session!.sequence });
        if (host === 'a' && !expired) {
          expired = true;
          throw new TsraftError('TSR_ERR_SESSION_EXPIRED', 'the cluster forgot this session', { details: { reason: 'unknown_session' } });
        }
        if (host === 'b' && !refusedB) {
          // Put b's first attempt fails (retryably) only after put a renewed the session.
          while (!expired) await new Promise((r) => setTimeout(r, 2));
          refusedB = true;
          throw new TsraftError('TSR_ERR_NO_LEADER', 'election in progress');
        }
        return next();
      }),
    });
    const c = await client(forgetful.baseUrl, { minBackoffMs: 5, maxBackoffMs: 10 });
    const firstId = c.clientId;
    const [a, b] = await Promise.all([c.put(cpu('a', NOW, 1)), c.put(cpu('b', NOW, 2))]);
    expect([a.success, b.success]).toEqual([1, 1]);
    const ofB = calls.filter((x) => x.host === 'b');
    const ofA = calls.filter((x) => x.host === 'a');
    // b is retried with the identity it was first sent with, never under the renewed one.
    expect(ofB.length).toBe(2);
    expect(new Set(ofB.map((x) => `${x.clientId}#${x.sequence}`)).size).toBe(1);
    expect(ofB[0]!.clientId).toBe(firstId);
    // a continues under a new identity from sequence 1.
    expect(ofA[0]!.clientId).toBe(firstId);
    expect(ofA[1]!.clientId).not.toBe(firstId);
    expect(ofA[1]!.sequence).toBe(1);
    expect(c.clientId).toBe(ofA[1]!.clientId);
  });

  it('retries a put a node answered with TSR_ERR_TIMEOUT (outcome unknown) while its deadline allows, under the same session', async () => {
    const inner = await api();
    const attempts: Array<{ clientId: string; sequence: number }> = [];
    const slow = await api({
      service: wrap(inner.service, async (_input, options, next) => {
        attempts.push({ clientId: options!.session!.clientId, sequence: options!.session!.sequence });
        if (attempts.length === 1) throw new TsraftError('TSR_ERR_TIMEOUT', 'the forwarded put timed out at the follower', { details: {} });
        return next();
      }),
    });
    const c = await client(slow.baseUrl, { minBackoffMs: 5, maxBackoffMs: 10 });
    expect((await c.put(cpu('a', NOW, 1))).success).toBe(1);
    expect(attempts).toHaveLength(2);
    expect(attempts[1]).toEqual(attempts[0]);
  });

  it('gives up on a request at its deadline with TSR_ERR_TIMEOUT', async () => {
    const never = new Promise<never>(() => undefined);
    const inner = await api();
    const stuck = await api({ service: wrap(inner.service, () => never) });
    const c = await client(stuck.baseUrl);
    await expect(c.put(cpu('a', NOW, 1), { timeoutMs: 100 })).rejects.toMatchObject({ code: 'TSR_ERR_TIMEOUT' });
  });

  it('does not retry a request that is wrong', async () => {
    const a = await api({ limits: { maxPointsPerPut: 2 } });
    const c = await client(a.baseUrl);
    await expect(c.put([cpu('a', NOW, 1), cpu('a', NOW + 1, 1), cpu('a', NOW + 2, 1)])).rejects.toMatchObject({ code: 'TSR_ERR_BATCH_TOO_LARGE' });
    await expect(c.query('nosuch:m', { start: '1h-ago' })).rejects.toMatchObject({ code: 'TSR_ERR_INVALID_QUERY' });
  });

  it('fails to connect with TSR_ERR_UNREACHABLE when no endpoint answers, and with TSR_ERR_UNAUTHORIZED without a token', async () => {
    const a = await api();
    const port = Number(new URL(a.baseUrl).port);
    await a.close();
    cleanups.pop();
    await expect(connect([`127.0.0.1:${port}`], { connectTimeoutMs: 500 })).rejects.toMatchObject({ code: 'TSR_ERR_UNREACHABLE' });
    const secured = await api({ tokens: [{ token: 'client-token-0123456789', access: 'read-write' }] });
    await expect(connect(secured.baseUrl)).rejects.toMatchObject({ code: 'TSR_ERR_UNAUTHORIZED' });
    const ok = await client(secured.baseUrl, { token: 'client-token-0123456789' });
    expect((await ok.put(cpu('a', NOW, 1))).success).toBe(1);
  });

  it('fails pending and later requests with TSR_ERR_CLIENT_CLOSED after close', async () => {
    const never = new Promise<never>(() => undefined);
    const inner = await api();
    const stuck = await api({ service: wrap(inner.service, () => never) });
    const c = await connect(stuck.baseUrl);
    const pending = c.put(cpu('a', NOW, 1));
    await new Promise((r) => setTimeout(r, 20));
    await c.close();
    await expect(pending).rejects.toMatchObject({ code: 'TSR_ERR_CLIENT_CLOSED' });
    await expect(c.status()).rejects.toMatchObject({ code: 'TSR_ERR_CLIENT_CLOSED' });
  });
});
