// A real client API on 127.0.0.1 (port 0) over an in-process
// LocalTsdbService: the node's HttpServer with /ws and /api/ mounted, and
// optionally the telnet port. Every test stops what it starts.
import { HttpServer } from '../../src/api/http-server.js';
import { mountClientApi, startTelnet } from '../../src/api/client-api.js';
import type { ClientToken } from '../../src/api/auth.js';
import type { ClientApiLimits } from '../../src/api/limits.js';
import { LocalTsdbService, type LocalTsdbServiceOptions } from '../../src/api/local-service.js';
import type { TsdbService } from '../../src/api/service.js';
import type { TelnetServer } from '../../src/api/telnet-server.js';
import { systemClock, type Clock } from '../../src/util/clock.js';

/** A clock whose "now" tests set; timers are real. */
export class TestClock implements Clock {
  constructor(public now = 1_700_000_000_000) {}
  nowMs(): number {
    return this.now;
  }
  setTimer(delayMs: number, fn: () => void): () => void {
    return systemClock.setTimer(delayMs, fn);
  }
}

export interface ApiHarness {
  http: HttpServer;
  service: TsdbService;
  local: LocalTsdbService | null;
  clock: TestClock;
  baseUrl: string;
  wsUrl: string;
  telnetPort: number | null;
  close(): Promise<void>;
}

export interface HarnessOptions {
  tokens?: ClientToken[];
  limits?: Partial<ClientApiLimits>;
  telnet?: boolean;
  service?: TsdbService;
  local?: Partial<LocalTsdbServiceOptions>;
}

export async function startApi(options: HarnessOptions = {}): Promise<ApiHarness> {
  const clock = new TestClock();
  const local = options.service === undefined ? new LocalTsdbService({ clock, ...options.local }) : null;
  const service = options.service ?? local!;
  const http = new HttpServer({ maxBodyBytes: 8 * 1024 * 1024, maxConnections: 256 });
  mountClientApi(http, { service, tokens: options.tokens, limits: options.limits, clock, version: 'test' });
  const { port } = await http.listen('127.0.0.1', 0);
  let telnet: TelnetServer | null = null;
  let telnetPort: number | null = null;
  if (options.telnet === true) {
    const started = await startTelnet({ service, tokens: options.tokens, limits: options.limits, version: 'test', host: '127.0.0.1', port: 0 });
    telnet = started.server;
    telnetPort = started.port;
  }
  return {
    http,
    service,
    local,
    clock,
    baseUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    telnetPort,
    close: async () => {
      await telnet?.close();
      await http.close(100);
    },
  };
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string; json: unknown }> {
  const res = await fetch(url, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
  const text = await res.text();
  return { status: res.status, text, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; json: unknown }> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return { status: res.status, text, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
}
