import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpServer, readJson, sendJson } from '../../src/api/http-server.js';
import { readinessOf, registerStatusRoutes, type NodeStatus } from '../../src/api/status.js';
import { TsraftError, assert } from '../../src/errors.js';

const servers: HttpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close(0)));
});

async function start(setup: (server: HttpServer) => void, maxBodyBytes = 1024): Promise<{ server: HttpServer; base: string }> {
  const server = new HttpServer({ maxBodyBytes, maxConnections: 16 });
  setup(server);
  servers.push(server);
  const { port } = await server.listen('127.0.0.1', 0);
  return { server, base: `http://127.0.0.1:${port}` };
}

function status(overrides: Partial<NodeStatus> = {}): NodeStatus {
  return {
    id: 'n1',
    role: 'follower',
    leader: 'n2',
    term: 3,
    commitIndex: 10,
    appliedIndex: 10,
    members: [{ id: 'n1', url: 'ws://127.0.0.1:1', role: 'follower', clientUrl: null, match: null }],
    clusterId: 'c',
    lifecycle: 'running',
    leaderClientUrl: null,
    lastIndex: 10,
    snapshotIndex: 0,
    transport: null,
    uptimeSeconds: 1,
    version: 'test',
    ...overrides,
  };
}

describe('the node HTTP server', () => {
  it('routes exact paths and answers 404 and 405 with error codes', async () => {
    const { base } = await start((server) => server.route('GET', '/hello', ({ res }) => sendJson(res, 200, { hello: 'world' })));
    expect(await (await fetch(`${base}/hello`)).json()).toEqual({ hello: 'world' });
    const missing = await fetch(`${base}/nope`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('TSR_ERR_NOT_FOUND');
    const wrongMethod = await fetch(`${base}/hello`, { method: 'POST' });
    expect(wrongMethod.status).toBe(405);
    expect(((await wrongMethod.json()) as { error: { code: string } }).error.code).toBe('TSR_ERR_METHOD_NOT_ALLOWED');
  });

  it('routes a prefix to the longest match and passes the rest of the path', async () => {
    const { base } = await start((server) => {
      server.routePrefix('*', '/api/', ({ res, subpath }) => sendJson(res, 200, { route: 'api', subpath }));
      server.routePrefix('GET', '/api/query/', ({ res, subpath }) => sendJson(res, 200, { route: 'query', subpath }));
      server.route('GET', '/api/put', ({ res }) => sendJson(res, 200, { route: 'put' }));
    });
    expect(await (await fetch(`${base}/api/suggest`)).json()).toEqual({ route: 'api', subpath: 'suggest' });
    expect(await (await fetch(`${base}/api/query/last`)).json()).toEqual({ route: 'query', subpath: 'last' });
    expect(await (await fetch(`${base}/api/query`)).json()).toEqual({ route: 'query', subpath: '' });
    expect(await (await fetch(`${base}/api/put`)).json()).toEqual({ route: 'put' });
  });

  it('turns a thrown TsraftError into its HTTP status and JSON body', async () => {
    const { base } = await start((server) =>
      server.route('POST', '/fail', async () => {
        throw new TsraftError('TSR_ERR_NOT_LEADER', 'ask n2', { details: { leader: 'n2' } });
      }),
    );
    const response = await fetch(`${base}/fail`, { method: 'POST' });
    expect(response.status).toBe(421);
    expect(await response.json()).toEqual({ error: { code: 'TSR_ERR_NOT_LEADER', message: 'ask n2', details: { leader: 'n2' } } });
  });

  it('refuses a body larger than the configured bound', async () => {
    const { base } = await start((server) =>
      server.route('POST', '/echo', async ({ req, res }) => sendJson(res, 200, await readJson(req, server.maxBodyBytes))),
    );
    expect(await (await fetch(`${base}/echo`, { method: 'POST', body: '{"a":1}' })).json()).toEqual({ a: 1 });
    const big = await fetch(`${base}/echo`, { method: 'POST', body: JSON.stringify({ a: 'x'.repeat(2000) }) });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe('TSR_ERR_BODY_TOO_LARGE');
    const bad = await fetch(`${base}/echo`, { method: 'POST', body: '{' });
    expect(bad.status).toBe(400);
  });

  it('refuses registering the same route twice', async () => {
    const server = new HttpServer({ maxBodyBytes: 1, maxConnections: 1 });
    server.route('GET', '/a', () => {});
    expect(() => server.route(['GET', 'POST'], '/a', () => {})).toThrow(/registered twice/);
  });

  it('lets a request in flight finish on close and refuses new ones', async () => {
    let release: () => void = () => {};
    let entered: () => void = () => {};
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const { server, base } = await start((s) =>
      s.route('GET', '/slow', async ({ res }) => {
        entered();
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        sendJson(res, 200, { done: true });
      }),
    );
    const slow = fetch(`${base}/slow`).then(async (r) => ({ status: r.status, body: await r.json() }));
    await inHandler;
    const closed = server.close(10_000);
    expect(server.isClosing).toBe(true);
    release();
    expect(await slow).toEqual({ status: 200, body: { done: true } });
    await closed;
    await expect(fetch(`${base}/slow`)).rejects.toThrow();
  });

  it('answers WebSocket upgrades only on registered paths', async () => {
    const { base } = await start((server) =>
      server.upgrade('/ws', (_req, socket) => {
        socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n');
      }),
    );
    const upgrade = (path: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = request(`${base}${path}`, { headers: { Connection: 'Upgrade', Upgrade: 'test' } });
        req.on('upgrade', (res, socket) => {
          socket.destroy();
          resolve(res.statusCode ?? 0);
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    expect(await upgrade('/ws')).toBe(101);
    expect(await upgrade('/other')).toBe(404);
  });
});

describe('the status endpoints', () => {
  it('serve /status, /health and /ready from the status source', async () => {
    let current = status();
    const { base } = await start((server) => registerStatusRoutes(server, { status: () => current }));
    const body = (await (await fetch(`${base}/status`)).json()) as NodeStatus;
    for (const field of ['id', 'role', 'leader', 'term', 'commitIndex', 'appliedIndex', 'members'] as const) expect(body).toHaveProperty(field);
    expect(body.members[0]).toEqual({ id: 'n1', url: 'ws://127.0.0.1:1', role: 'follower', clientUrl: null, match: null });
    expect((await fetch(`${base}/health`)).status).toBe(200);
    expect((await fetch(`${base}/ready`)).status).toBe(200);
    current = status({ leader: null });
    const notReady = await fetch(`${base}/ready`);
    expect(notReady.status).toBe(503);
    const reason = ((await notReady.json()) as { reason: string }).reason;
    assert(typeof reason === 'string', 'reason');
    expect(reason).toMatch(/no leader/);
  });

  it('is not ready while the node applies committed entries or starts', () => {
    expect(readinessOf(status({ appliedIndex: 7, commitIndex: 10 }))).toEqual({ ready: false, reason: 'catching up: applied 7 of 10 committed entries' });
    expect(readinessOf(status({ lifecycle: 'starting' })).ready).toBe(false);
    expect(readinessOf(status()).ready).toBe(true);
  });
});
