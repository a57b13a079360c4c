// The console's files are served from the package itself (no CDN): the page,
// its script and style, and the chart library from the installed uplot package.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpServer } from '../../src/api/http-server.js';
import { registerConsoleRoutes } from '../../src/api/console/routes.js';
import type { NodeStatus } from '../../src/api/status.js';

let server: HttpServer;
let base: string;

const self: NodeStatus = {
  id: 'solo',
  role: 'leader',
  leader: 'solo',
  term: 1,
  commitIndex: 3,
  appliedIndex: 3,
  members: [{ id: 'solo', url: 'ws://127.0.0.1:1', role: 'leader', clientUrl: null, match: 3 }],
  clusterId: 'one',
  lifecycle: 'running',
  leaderClientUrl: null,
  lastIndex: 3,
  snapshotIndex: 0,
  transport: null,
  uptimeSeconds: 5,
  version: 'test',
};

beforeAll(async () => {
  server = new HttpServer({ maxBodyBytes: 1024, maxConnections: 16 });
  registerConsoleRoutes(server, { status: { status: () => self } });
  base = `http://127.0.0.1:${(await server.listen('127.0.0.1', 0)).port}`;
});

afterAll(async () => {
  await server.close(0);
});

async function get(path: string): Promise<{ status: number; type: string; body: string; csp: string | null }> {
  const response = await fetch(base + path);
  return { status: response.status, type: response.headers.get('content-type') ?? '', body: await response.text(), csp: response.headers.get('content-security-policy') };
}

describe('console routes', () => {
  it('serves the page at / with a policy that allows this origin only', async () => {
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.type).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('<title>tsraft console</title>');
    expect(page.csp).toContain("default-src 'self'");
    // Every script and stylesheet is a path on this node.
    const references = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(references.filter((r) => !r.startsWith('#'))).toEqual(['data:,', '/console/uplot.css', '/console/app.css', '/console/uplot.js', '/console/app.js']);
  });

  it('serves the script, the style and the chart library', async () => {
    const app = await get('/console/app.js');
    expect([app.status, app.type]).toEqual([200, 'text/javascript; charset=utf-8']);
    expect(app.body).not.toMatch(/https?:\/\//);
    const css = await get('/console/app.css');
    expect([css.status, css.type]).toEqual([200, 'text/css; charset=utf-8']);
    const uplot = await get('/console/uplot.js');
    expect(uplot.status).toBe(200);
    expect(uplot.body).toContain('uPlot');
    expect((await get('/console/uplot.css')).status).toBe(200);
  });

  it('answers 404 for a file that is not part of the console', async () => {
    const missing = await get('/console/../../package.json');
    expect(missing.status).toBe(404);
    expect((await get('/console/secret.txt')).status).toBe(404);
  });

  it('answers the cluster overview of a single node without asking anyone', async () => {
    const overview = await get('/console/api/cluster');
    expect(overview.status).toBe(200);
    expect(JSON.parse(overview.body)).toMatchObject({ clusterId: 'one', leader: 'solo', members: [{ id: 'solo', role: 'leader', health: 'healthy', lagEntries: 0 }] });
  });
});
