import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { encodeBinaryFrame } from '../../src/api/protocol.js';
import { startApi, type ApiHarness } from './harness.js';
import { RawWsClient } from './ws-client.js';

let api: ApiHarness | null = null;
const clients: RawWsClient[] = [];

async function open(options: Parameters<typeof startApi>[0] = {}, clientOptions: Parameters<typeof RawWsClient.open>[1] = {}): Promise<RawWsClient> {
  api ??= await startApi(options);
  const c = await RawWsClient.open(api.wsUrl, clientOptions);
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await api?.close();
  api = null;
});

const T0 = 1_700_000_000;

function points(n: number, metric = 'sys.cpu.user'): Array<Record<string, unknown>> {
  return Array.from({ length: n }, (_, i) => ({ metric, timestamp: T0 - 600 + i, value: i, tags: { host: `h${i % 3}` } }));
}

describe('the WebSocket protocol', () => {
  it('greets a new connection with a hello naming the node, the leader and the limits', async () => {
    const c = await open();
    const hello = await c.waitFor((m) => m.push === 'hello');
    expect(hello).toMatchObject({ protocol: 1, node: 'local', leader: 'local', access: 'read-write' });
    expect(hello.limits).toMatchObject({ maxPointsPerPut: 50_000, maxInFlightRequests: 1024 });
  });

  it('stores a put of point objects and reports per-point errors by index', async () => {
    const c = await open();
    const bad = [...points(3), { metric: 'm', timestamp: 'soon', value: 1, tags: { h: 'a' } }, { metric: 'm', timestamp: T0, value: 1, tags: {} }];
    const answer = await c.request({ id: 1, op: 'put', points: bad });
    expect(answer.ok).toBe(true);
    const result = answer.result as { success: number; failed: number; errors: Array<{ index: number; code: string; details: { field: string; reason: string } }> };
    expect(result.success).toBe(3);
    expect(result.failed).toBe(2);
    expect(result.errors.map((e) => [e.index, e.code, e.details.field, e.details.reason])).toEqual([
      [3, 'TSR_ERR_INVALID_POINT', 'timestamp', 'not_an_integer'],
      [4, 'TSR_ERR_INVALID_POINT', 'tags', 'no_tags'],
    ]);
  });

  it('stores a columnar put with typed arrays', async () => {
    const c = await open();
    const answer = await c.request({
      id: 7,
      op: 'put',
      series: [['m.col', { h: 'a' }], ['m.col', { h: 'b' }]],
      seriesIndexes: new Uint32Array([0, 1, 0]),
      timestamps: new Float64Array([T0, T0, T0 + 1]),
      values: new Float64Array([1.5, 2, Number.NaN]),
    });
    expect(answer.result).toMatchObject({ success: 2, failed: 1, errors: [{ index: 2, details: { field: 'value', reason: 'not_finite' } }] });
  });

  it('answers JSON text frames with JSON and binary frames with CBOR on one connection', async () => {
    const c = await open({}, { protocol: 'json' });
    c.sendJson({ id: 1, op: 'ping' });
    c.sendCbor({ id: 2, op: 'ping' });
    await c.answer(1);
    await c.answer(2);
    const kinds: boolean[] = [];
    c.ws.on('message', (_d: unknown, isBinary: boolean) => kinds.push(isBinary));
    await c.request({ id: 3, op: 'ping' }, 'json');
    await c.request({ id: 4, op: 'ping' }, 'cbor');
    expect(kinds).toEqual([false, true]);
  });

  it('multiplexes many concurrent requests on one connection and answers each by id', async () => {
    const c = await open();
    for (let id = 1; id <= 50; id++) c.sendCbor({ id, op: id % 2 === 0 ? 'status' : 'put', points: points(10) });
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => c.answer(i + 1)));
    expect(answers.every((a) => a.ok === true)).toBe(true);
    expect((answers[0]!.result as { success: number }).success).toBe(10);
    expect((answers[1]!.result as { id: string }).id).toBe('local');
  });

  it('queries by m= and by an OpenTSDB body, linearizable by default and stale on request', async () => {
    const c = await open();
    await c.request({ id: 1, op: 'put', points: points(6) });
    const byM = await c.request({ id: 2, op: 'query', m: 'sum:sys.cpu.user{host=h0}', start: '1h-ago' });
    const results = (byM.result as { results: Array<{ timestamps: number[]; values: number[] }> }).results;
    expect(results).toHaveLength(1);
    expect(results[0]!.timestamps).toEqual([(T0 - 600) * 1000, (T0 - 597) * 1000]);
    expect(results[0]!.values).toEqual([0, 3]);
    const byBody = await c.request({ id: 3, op: 'query', consistency: 'stale', query: { start: '1h-ago', queries: [{ aggregator: 'max', metric: 'sys.cpu.user', tags: { host: 'h1' } }] } });
    expect((byBody.result as { results: Array<{ tags: Record<string, string> }> }).results[0]!.tags).toEqual({ host: 'h1' });
    const bad = await c.request({ id: 4, op: 'query', consistency: 'sometimes', m: 'sum:x', start: '1h-ago' });
    expect(bad.error).toMatchObject({ code: 'TSR_ERR_INVALID_ARGUMENT', details: { field: 'consistency' } });
  });

  it('answers suggest, lookup, last and status', async () => {
    const c = await open();
    await c.request({ id: 1, op: 'put', points: points(3) });
    expect((await c.request({ id: 2, op: 'suggest', type: 'tagv', q: 'h' })).result).toEqual(['h0', 'h1', 'h2']);
    expect((await c.request({ id: 3, op: 'lookup', m: 'sys.cpu.user{host=h2}' })).result).toMatchObject({ totalResults: 1, series: [{ tags: { host: 'h2' } }] });
    expect((await c.request({ id: 4, op: 'last', queries: [{ metric: 'sys.cpu.user', tags: { host: 'h0' } }] })).result).toMatchObject([{ timestamp: (T0 - 600) * 1000, value: 0 }]);
    expect((await c.request({ id: 5, op: 'status' })).result).toMatchObject({ id: 'local', role: 'leader' });
  });

  it('pushes committed points to a subscription until unsubscribe', async () => {
    const c = await open();
    const sub = ((await c.request({ id: 1, op: 'subscribe', metric: 'sys.cpu.user', tags: { host: 'h1' } })).result as { sub: number }).sub;
    await c.request({ id: 2, op: 'put', points: points(6) });
    await c.request({ id: 3, op: 'put', points: points(1, 'other.metric') });
    const push = await c.waitFor((m) => m.push === 'points' && m.sub === sub);
    expect(push.points).toEqual([
      { metric: 'sys.cpu.user', tags: { host: 'h1' }, timestamp: (T0 - 599) * 1000, value: 1 },
      { metric: 'sys.cpu.user', tags: { host: 'h1' }, timestamp: (T0 - 596) * 1000, value: 4 },
    ]);
    expect((await c.request({ id: 4, op: 'unsubscribe', sub })).ok).toBe(true);
    await c.request({ id: 5, op: 'put', points: points(6) });
    await c.request({ id: 6, op: 'ping' });
    expect(c.received.filter((m) => m.push === 'points')).toHaveLength(1);
    expect((await c.request({ id: 7, op: 'unsubscribe', sub })).error).toMatchObject({ code: 'TSR_ERR_NOT_FOUND' });
  });
});

describe('bad input on the WebSocket', () => {
  it('answers malformed frames with TSR_ERR_BAD_FRAME and keeps the connection open', async () => {
    const c = await open();
    c.sendRaw('{"id": 1, "op": ', false);
    expect((await c.answer(1)).error).toMatchObject({ code: 'TSR_ERR_BAD_FRAME', details: { reason: 'invalid_json' } });
    const good = encodeBinaryFrame({ id: 2, op: 'ping' });
    const flipped = good.slice();
    flipped[3] ^= 0x40;
    c.sendRaw(flipped, true);
    expect((await c.waitFor((m) => (m.error as { details?: { reason?: string } } | undefined)?.details?.reason === 'checksum')).ok).toBe(false);
    const wrongVersion = good.slice();
    wrongVersion[0] = 9;
    c.sendRaw(wrongVersion, true);
    expect((await c.waitFor((m) => (m.error as { details?: { reason?: string } } | undefined)?.details?.reason === 'version')).id).toBe(2);
    c.sendJson([1, 2, 3]);
    expect((await c.waitFor((m) => (m.error as { details?: { reason?: string } } | undefined)?.details?.reason === 'not_an_object')).ok).toBe(false);
    c.sendJson({ op: 'ping' });
    expect((await c.waitFor((m) => (m.error as { details?: { reason?: string } } | undefined)?.details?.reason === 'bad_id')).ok).toBe(false);
    // Invalid UTF-8 in a text frame: read with replacement characters, answered, connection kept.
    c.sendRaw(Buffer.concat([Buffer.from('{"id":77,"op":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), false);
    expect((await c.answer(77)).error).toMatchObject({ code: 'TSR_ERR_UNKNOWN_OPERATION' });
    expect((await c.request({ id: 3, op: 'ping' })).ok).toBe(true);
  });

  it('answers an unknown operation with TSR_ERR_UNKNOWN_OPERATION', async () => {
    const c = await open();
    expect((await c.request({ id: 1, op: 'drop_database' })).error).toMatchObject({ code: 'TSR_ERR_UNKNOWN_OPERATION', details: { op: 'drop_database' } });
  });

  it('refuses a frame over maxFrameBytes with a typed error naming the request', async () => {
    const c = await open({ limits: { maxFrameBytes: 4096 } });
    c.sendCbor({ id: 41, op: 'put', points: points(100) });
    expect((await c.answer(41)).error).toMatchObject({ code: 'TSR_ERR_FRAME_TOO_LARGE', details: { limitBytes: 4096 } });
    expect((await c.request({ id: 42, op: 'ping' })).ok).toBe(true);
  });

  it('names series by the handles a connection declared, and refuses a put naming an undeclared one as a whole', async () => {
    const c = await open({ limits: { maxSeriesHandles: 2 } });
    expect((await c.waitFor((m) => m.push === 'hello')).limits).toMatchObject({ maxSeriesHandles: 2 });
    const first = await c.request({ id: 1, op: 'put', seriesKeys: ['m{h=a}', 'm{h=b}', 'm{h=c}'], seriesHandles: [0, 1, 2], seriesIndexes: [0, 1, 2], timestamps: [T0, T0, T0], values: [1, 2, 3] });
    expect(first.result).toMatchObject({ success: 3, failed: 0 });
    const byHandle = await c.request({ id: 2, op: 'put', seriesRefs: new Uint32Array([1, 0]), seriesIndexes: [0, 1], timestamps: [T0 + 1, T0 + 1], values: [20, 10] });
    expect(byHandle.result).toMatchObject({ success: 2, failed: 0 });
    const stats = api!.local!.stateMachine;
    expect(stats.stats()).toMatchObject({ seriesCount: 3, pointCount: 5 });
    // Handle 2 lay beyond maxSeriesHandles: never declared.
    const unknown = await c.request({ id: 3, op: 'put', seriesRefs: [0, 2], seriesIndexes: [0, 1], timestamps: [T0 + 2, T0 + 2], values: [1, 1] });
    expect(unknown.error).toMatchObject({ code: 'TSR_ERR_INVALID_ARGUMENT', details: { field: 'seriesRefs', reason: 'unknown_handle' } });
    expect(stats.stats().pointCount).toBe(5);
    // Handles belong to their connection.
    const other = await open();
    expect((await other.request({ id: 1, op: 'put', seriesRefs: [0], seriesIndexes: [0], timestamps: [T0 + 3], values: [1] })).error).toMatchObject({ details: { reason: 'unknown_handle' } });
  });

  it('records the handles a put declares even when the put itself is refused', async () => {
    const c = await open({ limits: { maxPointsPerPut: 1 } });
    const refused = await c.request({ id: 1, op: 'put', seriesKeys: ['m{h=a}'], seriesHandles: [7], seriesIndexes: [0, 0], timestamps: [T0, T0 + 1], values: [1, 2] });
    expect(refused.error).toMatchObject({ code: 'TSR_ERR_BATCH_TOO_LARGE' });
    expect((await c.request({ id: 2, op: 'put', seriesRefs: [7], seriesIndexes: [0], timestamps: [T0], values: [1] })).result).toMatchObject({ success: 1 });
  });

  it('refuses a put over maxPointsPerPut with TSR_ERR_BATCH_TOO_LARGE and stores nothing', async () => {
    const c = await open({ limits: { maxPointsPerPut: 10 } });
    expect((await c.request({ id: 1, op: 'put', points: points(11) })).error).toMatchObject({ code: 'TSR_ERR_BATCH_TOO_LARGE' });
    expect(api!.local!.stateMachine.stats().pointCount).toBe(0);
  });

  it('refuses requests beyond maxInFlightRequests and reused ids', async () => {
    // A linearizable read on a service whose barrier never resolves keeps requests in flight.
    const c = await open({ limits: { maxInFlightRequests: 2, requestTimeoutMs: 60_000 }, service: stuckService() });
    c.sendCbor({ id: 1, op: 'query', m: 'sum:x', start: '1h-ago' });
    c.sendCbor({ id: 1, op: 'query', m: 'sum:x', start: '1h-ago' });
    expect((await c.waitFor((m) => m.id === 1 && m.ok === false)).error).toMatchObject({ code: 'TSR_ERR_BAD_FRAME', details: { reason: 'duplicate_id' } });
    c.sendCbor({ id: 2, op: 'query', m: 'sum:x', start: '1h-ago' });
    c.sendCbor({ id: 3, op: 'query', m: 'sum:x', start: '1h-ago' });
    expect((await c.answer(3)).error).toMatchObject({ code: 'TSR_ERR_TOO_MANY_IN_FLIGHT' });
  });

  it('answers a request the service never finishes with TSR_ERR_TIMEOUT', async () => {
    const c = await open({ limits: { requestTimeoutMs: 50 }, service: stuckService() });
    expect((await c.request({ id: 1, op: 'query', m: 'sum:x', start: '1h-ago' })).error).toMatchObject({ code: 'TSR_ERR_TIMEOUT' });
  });

  it('refuses subscriptions beyond maxSubscriptionsPerConnection', async () => {
    const c = await open({ limits: { maxSubscriptionsPerConnection: 1 } });
    expect((await c.request({ id: 1, op: 'subscribe', metric: 'a' })).ok).toBe(true);
    expect((await c.request({ id: 2, op: 'subscribe', metric: 'b' })).error).toMatchObject({ code: 'TSR_ERR_TOO_MANY_SUBSCRIPTIONS' });
  });
});

describe('WebSocket tokens', () => {
  const rw = 'ws-read-write-token-012345';
  const ro = 'ws-read-only-token-0123456';

  it('refuses the upgrade with HTTP 401 without a valid token', async () => {
    api = await startApi({ tokens: [{ token: rw, access: 'read-write' }] });
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(api!.wsUrl);
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => reject(new Error('upgrade accepted')));
      ws.once('error', () => undefined);
    });
    expect(status).toBe(401);
  });

  it('accepts a token in the Authorization header or the query string and forbids writes with a read-only one', async () => {
    api = await startApi({ tokens: [{ token: rw, access: 'read-write' }, { token: ro, access: 'read-only' }] });
    const writer = await RawWsClient.open(api.wsUrl, { headers: { authorization: `Bearer ${rw}` } });
    const reader = await RawWsClient.open(`${api.wsUrl}?token=${ro}`);
    clients.push(writer, reader);
    expect((await writer.request({ id: 1, op: 'put', points: points(1) })).ok).toBe(true);
    expect((await reader.request({ id: 1, op: 'put', points: points(1) })).error).toMatchObject({ code: 'TSR_ERR_FORBIDDEN' });
    expect((await reader.request({ id: 2, op: 'suggest', type: 'metrics' })).ok).toBe(true);
  });
});

/** A service whose reads never complete (a node that cannot reach its leader). */
function stuckService(): Parameters<typeof startApi>[0] extends infer O ? (O extends { service?: infer S } ? NonNullable<S> : never) : never {
  const never = new Promise<never>(() => undefined);
  return {
    put: () => never,
    query: () => never,
    suggest: () => never,
    lookup: () => never,
    last: () => never,
    status: () => ({ id: 'stuck', role: 'follower', leader: null, leaderClientUrl: null, term: 1, commitIndex: 0, appliedIndex: 0, members: [] }),
    subscribe: () => ({ close: () => undefined }),
  };
}
