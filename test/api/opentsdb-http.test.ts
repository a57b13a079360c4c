import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { get, post, startApi, type ApiHarness } from './harness.js';

let api: ApiHarness;

beforeEach(async () => {
  api = await startApi();
});

afterEach(async () => {
  await api.close();
});

const T0 = 1_700_000_000; // seconds; the harness clock is at T0 * 1000

function point(metric: string, ts: number, value: unknown, tags: Record<string, string>): Record<string, unknown> {
  return { metric, timestamp: ts, value, tags };
}

describe('POST /api/put', () => {
  it('answers 204 with an empty body when every point is stored', async () => {
    const res = await post(`${api.baseUrl}/api/put`, [point('sys.cpu.user', T0, 1, { host: 'a' }), point('sys.cpu.user', T0 + 10, 2.5, { host: 'b' })]);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect(api.local!.stateMachine.stats().pointCount).toBe(2);
  });

  it('accepts a single object as well as an array', async () => {
    const res = await post(`${api.baseUrl}/api/put`, point('sys.cpu.user', T0, 1, { host: 'a' }));
    expect(res.status).toBe(204);
  });

  it('answers ?summary with success and failed counts', async () => {
    const res = await post(`${api.baseUrl}/api/put?summary`, [point('m', T0, 1, { h: 'a' })]);
    expect(res.status).toBe(200);
    expect(res.text).toBe('{"failed":0,"success":1}');
  });

  it('answers ?details with each failed data point and its error, status 400, and stores the good points', async () => {
    const res = await post(`${api.baseUrl}/api/put?details`, [point('m', T0, 1, { h: 'a' }), point('m', T0, 'NaN', { h: 'a' }), point('bad name', T0, 1, { h: 'a' })]);
    expect(res.status).toBe(400);
    const body = res.json as { errors: Array<{ datapoint: Record<string, unknown>; error: string }>; failed: number; success: number };
    expect(Object.keys(body)).toEqual(['errors', 'failed', 'success']);
    expect(body.failed).toBe(2);
    expect(body.success).toBe(1);
    expect(body.errors.map((e) => e.datapoint.value)).toEqual(['NaN', '1']);
    expect(body.errors[0]!.datapoint).toEqual({ metric: 'm', timestamp: T0, value: 'NaN', tags: { h: 'a' } });
    expect(body.errors[1]!.error).toMatch(/illegal character/);
    expect(api.local!.stateMachine.stats().pointCount).toBe(1);
  });

  it('answers a failure without flags with the OpenTSDB error object', async () => {
    const res = await post(`${api.baseUrl}/api/put`, [point('m', -5, 1, { h: 'a' })]);
    expect(res.status).toBe(400);
    const body = res.json as { error: { code: number; message: string; details: string } };
    expect(Object.keys(body.error)).toEqual(['code', 'message', 'details']);
    expect(body.error.code).toBe(400);
    expect(body.error.message).toBe('One or more data points had errors');
    expect(body.error.details).toMatch(/^TSR_ERR_INVALID_POINT/);
  });

  it('keeps 42.0 a float and 42 an integer, as OpenTSDB does', async () => {
    await post(`${api.baseUrl}/api/put`, `[{"metric":"m","timestamp":${T0},"value":42.0,"tags":{"h":"f"}},{"metric":"m","timestamp":${T0},"value":42,"tags":{"h":"i"}}]`);
    const sm = api.local!.stateMachine;
    const [f, i] = sm.seriesOfMetric('m');
    expect(sm.readPoints(f!.id, 0, 9e12).isInteger[0]).toBe(0);
    expect(sm.readPoints(i!.id, 0, 9e12).isInteger[0]).toBe(1);
  });

  it('stores int64 values beyond 2^53 exactly', async () => {
    await post(`${api.baseUrl}/api/put`, `{"metric":"c","timestamp":${T0},"value":9223372036854775807,"tags":{"h":"a"}}`);
    const res = await get(`${api.baseUrl}/api/query?start=${T0 - 10}&end=${T0 + 10}&m=sum:c`);
    expect(res.text).toContain('"dps":{"1700000000":9223372036854775807}');
  });

  it('accepts a gzip-encoded body', async () => {
    const body = gzipSync(JSON.stringify([point('gz', T0, 7, { h: 'a' })]));
    const res = await fetch(`${api.baseUrl}/api/put`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
    expect(res.status).toBe(204);
    expect(api.local!.stateMachine.seriesOfMetric('gz')).toHaveLength(1);
  });

  it('refuses malformed JSON, an empty array and GET with OpenTSDB error objects', async () => {
    const bad = await post(`${api.baseUrl}/api/put`, '[{"metric":');
    expect(bad.status).toBe(400);
    expect((bad.json as { error: { message: string } }).error.message).toMatch(/Unable to parse the given JSON/);
    const empty = await post(`${api.baseUrl}/api/put`, '[]');
    expect(empty.status).toBe(400);
    expect((empty.json as { error: { message: string } }).error.message).toBe('No datapoints found in content');
    const viaGet = await get(`${api.baseUrl}/api/put`);
    expect(viaGet.status).toBe(405);
    expect((viaGet.json as { error: { code: number } }).error.code).toBe(405);
  });

  it('answers unknown /api/ endpoints with 404 and the error object', async () => {
    const res = await get(`${api.baseUrl}/api/nope`);
    expect(res.status).toBe(404);
    expect((res.json as { error: { message: string } }).error.message).toBe('Endpoint not found');
  });
});

describe('/api/query', () => {
  beforeEach(async () => {
    const points = [];
    for (let i = 0; i < 6; i++) {
      points.push(point('sys.cpu.user', T0 - 600 + i * 60, i, { host: 'web01', dc: 'lga' }));
      points.push(point('sys.cpu.user', T0 - 600 + i * 60, 10 * i, { host: 'web02', dc: 'lga' }));
    }
    expect((await post(`${api.baseUrl}/api/put`, points)).status).toBe(204);
  });

  it('answers GET with m= exactly as OpenTSDB writes it', async () => {
    const res = await get(`${api.baseUrl}/api/query?start=1h-ago&m=sum:sys.cpu.user{host=*}`);
    expect(res.status).toBe(200);
    expect(res.text).toBe(
      '[{"metric":"sys.cpu.user","tags":{"dc":"lga","host":"web01"},"aggregateTags":[],"dps":{"1699999400":0,"1699999460":1,"1699999520":2,"1699999580":3,"1699999640":4,"1699999700":5}},' +
        '{"metric":"sys.cpu.user","tags":{"dc":"lga","host":"web02"},"aggregateTags":[],"dps":{"1699999400":0,"1699999460":10,"1699999520":20,"1699999580":30,"1699999640":40,"1699999700":50}}]',
    );
  });

  it('lists tags that differ across the group in aggregateTags and writes dps as arrays with ?arrays=true', async () => {
    const res = await get(`${api.baseUrl}/api/query?start=1h-ago&m=sum:sys.cpu.user&arrays=true`);
    expect(res.json).toEqual([{ metric: 'sys.cpu.user', tags: { dc: 'lga' }, aggregateTags: ['host'], dps: [[1699999400, 0], [1699999460, 11], [1699999520, 22], [1699999580, 33], [1699999640, 44], [1699999700, 55]] }]);
  });

  it('answers POST with queries as Grafana sends them, echoing each query with its index under showQuery', async () => {
    const body = {
      start: (T0 - 3600) * 1000,
      queries: [
        { metric: 'sys.cpu.user', aggregator: 'avg', downsample: '2m-avg', tags: { host: 'web01' } },
        { metric: 'sys.cpu.user', aggregator: 'max', filters: [{ type: 'literal_or', tagk: 'host', filter: 'web02', groupBy: true }] },
      ],
      msResolution: false,
      globalAnnotations: true,
      showQuery: true,
    };
    const res = await post(`${api.baseUrl}/api/query`, body);
    expect(res.status).toBe(200);
    const results = res.json as Array<{ metric: string; query: { index: number; aggregator: string }; dps: Record<string, number> }>;
    expect(results.map((r) => r.query.index)).toEqual([0, 1]);
    expect(results[0]!.query.aggregator).toBe('avg');
    expect(results[0]!.dps).toEqual({ '1699999320': 0, '1699999440': 1.5, '1699999560': 3.5, '1699999680': 5 });
    expect(results[1]!.dps['1699999700']).toBe(50);
  });

  it('returns millisecond timestamps with msResolution and appends statsSummary with showSummary', async () => {
    const res = await post(`${api.baseUrl}/api/query`, { start: '1h-ago', msResolution: true, showSummary: true, queries: [{ metric: 'sys.cpu.user', aggregator: 'sum', tags: { host: 'web01' } }] });
    const results = res.json as Array<Record<string, unknown>>;
    expect(Object.keys(results[0]!.dps as object)[0]).toBe('1699999400000');
    expect(results[1]).toHaveProperty('statsSummary.datapoints', 6);
  });

  it('answers a bad query with 400 and an error object naming the problem', async () => {
    const res = await get(`${api.baseUrl}/api/query?start=1h-ago&m=nosuchagg:sys.cpu.user`);
    expect(res.status).toBe(400);
    const body = res.json as { error: { code: number; message: string; details: string } };
    expect(body.error.code).toBe(400);
    expect(body.error.message).toMatch(/No such aggregator/);
    expect(body.error.details).toMatch(/^TSR_ERR_INVALID_QUERY/);
  });

  it('answers an unknown metric with an empty array', async () => {
    const res = await get(`${api.baseUrl}/api/query?start=1h-ago&m=sum:nope`);
    expect(res.text).toBe('[]');
  });

  it('serves /api/query/last with the latest point per series', async () => {
    const res = await get(`${api.baseUrl}/api/query/last?timeseries=sys.cpu.user{host=web02}&resolve=true`);
    expect(res.json).toEqual([{ metric: 'sys.cpu.user', timestamp: (T0 - 300) * 1000, value: '50', tags: { dc: 'lga', host: 'web02' }, tsuid: expect.any(String) as string }]);
    const viaPost = await post(`${api.baseUrl}/api/query/last`, { queries: [{ metric: 'sys.cpu.user', tags: { host: '*' } }], backScan: 1 });
    expect((viaPost.json as unknown[]).length).toBe(2);
  });
});

describe('OpenTSDB metadata endpoints', () => {
  beforeEach(async () => {
    await post(`${api.baseUrl}/api/put`, [point('sys.cpu.user', T0, 1, { host: 'web01', cpu: '0' }), point('sys.cpu.sys', T0, 1, { host: 'web02' }), point('net.bytes', T0, 1, { iface: 'eth0' })]);
  });

  it('suggests metrics, tag keys and tag values by prefix, 25 at most by default', async () => {
    expect((await get(`${api.baseUrl}/api/suggest?type=metrics&q=sys`)).json).toEqual(['sys.cpu.sys', 'sys.cpu.user']);
    expect((await get(`${api.baseUrl}/api/suggest?type=tagk&q=`)).json).toEqual(['cpu', 'host', 'iface']);
    expect((await get(`${api.baseUrl}/api/suggest?type=tagv&q=web&max=1`)).json).toEqual(['web01']);
    expect((await post(`${api.baseUrl}/api/suggest`, { type: 'metrics', q: 'net' })).json).toEqual(['net.bytes']);
  });

  it('refuses a suggest without a valid type', async () => {
    const res = await get(`${api.baseUrl}/api/suggest?q=sys`);
    expect(res.status).toBe(400);
    expect((res.json as { error: { message: string } }).error.message).toBe("Missing 'type' parameter");
  });

  it('looks series up the way Grafana asks for tag keys and values', async () => {
    const keys = (await get(`${api.baseUrl}/api/search/lookup?m=sys.cpu.user&limit=1000`)).json as { results: Array<{ tags: Record<string, string> }>; totalResults: number };
    expect(keys.results.map((r) => r.tags)).toEqual([{ cpu: '0', host: 'web01' }]);
    const values = (await get(`${api.baseUrl}/api/search/lookup?m=${encodeURIComponent('sys.cpu.sys{host=*}')}&limit=1000`)).json as { type: string; results: Array<{ metric: string; tags: Record<string, string> }> };
    expect(values.type).toBe('LOOKUP');
    expect(values.results).toEqual([{ tsuid: expect.any(String) as string, metric: 'sys.cpu.sys', tags: { host: 'web02' } }]);
  });

  it('lists aggregators, filters and the version', async () => {
    const aggs = (await get(`${api.baseUrl}/api/aggregators`)).json as string[];
    expect(aggs).toContain('sum');
    expect(aggs).toContain('avg');
    const filters = (await get(`${api.baseUrl}/api/config/filters`)).json as Record<string, { description: string }>;
    expect(Object.keys(filters).sort()).toEqual(['iliteral_or', 'iwildcard', 'literal_or', 'not_iliteral_or', 'not_literal_or', 'regexp', 'wildcard']);
    const version = (await get(`${api.baseUrl}/api/version`)).json as { version: string };
    expect(version.version).toMatch(/^2\./);
  });
});

describe('HTTP tokens', () => {
  const rw = 'read-write-token-0123456789';
  const ro = 'read-only-token-0123456789';
  let secured: ApiHarness;

  beforeEach(async () => {
    secured = await startApi({ tokens: [{ token: rw, access: 'read-write' }, { token: ro, access: 'read-only' }] });
  });
  afterEach(async () => {
    await secured.close();
  });

  it('refuses requests without a token with 401 and accepts Bearer and Basic auth', async () => {
    const none = await get(`${secured.baseUrl}/api/suggest?type=metrics`);
    expect(none.status).toBe(401);
    expect((none.json as { error: { code: number } }).error.code).toBe(401);
    expect((await get(`${secured.baseUrl}/api/suggest?type=metrics`, { authorization: `Bearer ${ro}` })).status).toBe(200);
    const basic = `Basic ${Buffer.from(`tcollector:${rw}`).toString('base64')}`;
    expect((await post(`${secured.baseUrl}/api/put`, point('m', T0, 1, { h: 'a' }), { authorization: basic })).status).toBe(204);
  });

  it('forbids a read-only token to put', async () => {
    const res = await post(`${secured.baseUrl}/api/put`, point('m', T0, 1, { h: 'a' }), { authorization: `Bearer ${ro}` });
    expect(res.status).toBe(403);
  });
});
