// The node's client HTTP server: a small router on node:http that the other
// client surfaces mount themselves on (`/status`, `/health`, `/ready` here in
// status.ts; `/ws`, `/api/*`, `/metrics` and the web console `/` elsewhere):
//
//   server.route('GET', '/metrics', handler);          // exact path
//   server.routePrefix('*', '/api/', handler);         // a path and everything below it
//   server.upgrade('/ws', (req, socket, head) => ...);  // WebSocket upgrades
//   server.onClose(async () => { ...close your sockets... });
//
// Errors thrown by a handler become JSON error responses
// `{"error": {"code", "message", "details"}}` with the code's HTTP status;
// bugs (assertions, TypeErrors) are answered with 500 and then re-thrown so the
// process crashes loudly. Shutdown (close) stops accepting connections, answers
// requests that arrive meanwhile with TSR_ERR_SHUTTING_DOWN, lets requests in
// flight finish within a grace period, then closes every connection.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { TsraftError, assert, isTsraftError, rethrowIfBug } from '../errors.js';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS';
/** A method, a list of methods, or '*' for any. GET routes also answer HEAD. */
export type MethodMatch = HttpMethod | readonly HttpMethod[] | '*';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** The parsed request URL (origin is a placeholder; use pathname and searchParams). */
  url: URL;
  method: string;
  /** For a prefix route: the rest of the path after the prefix ('' for the prefix itself). */
  subpath: string;
}

export type RouteHandler = (context: RouteContext) => void | Promise<void>;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface HttpLog {
  (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
}

export interface HttpServerOptions {
  /** Largest request body readBody()/readJson() accept, bytes. */
  maxBodyBytes: number;
  /** Open connections (WebSockets included); more are refused by the OS-level accept. */
  maxConnections: number;
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: Buffer; key: Buffer } | null;
  log?: HttpLog;
}

interface Route {
  methods: ReadonlySet<string> | '*';
  handler: RouteHandler;
}

const MAX_ROUTES = 256;
/** Bounds on how long a client may take to send its request. */
const HEADERS_TIMEOUT_MS = 30_000;
const REQUEST_TIMEOUT_MS = 120_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

export class HttpServer {
  readonly maxBodyBytes: number;
  private readonly server: Server;
  private readonly exact = new Map<string, Route[]>();
  private readonly prefixes: Array<{ prefix: string; route: Route }> = [];
  private readonly upgrades = new Map<string, UpgradeHandler>();
  private readonly closeHooks: Array<() => void | Promise<void>> = [];
  private readonly log: HttpLog;
  private routeCount = 0;
  private inFlight = 0;
  private closing = false;
  private closed: Promise<void> | null = null;
  private idleWaiters: Array<() => void> = [];

  constructor(options: HttpServerOptions) {
    assert(options.maxBodyBytes >= 1 && options.maxConnections >= 1, 'HttpServer: limits must be positive');
    this.maxBodyBytes = options.maxBodyBytes;
    this.log = options.log ?? (() => {});
    const listener = (req: IncomingMessage, res: ServerResponse): void => this.handle(req, res);
    this.server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, listener) : createHttpServer(listener);
    this.server.maxConnections = options.maxConnections;
    this.server.headersTimeout = HEADERS_TIMEOUT_MS;
    this.server.requestTimeout = REQUEST_TIMEOUT_MS;
    this.server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.handleUpgrade(req, socket, head));
    this.server.on('clientError', (_error, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  /** Serve `path` exactly (no trailing-slash folding). */
  route(method: MethodMatch, path: string, handler: RouteHandler): this {
    assert(path.startsWith('/'), `route: path ${path} must start with /`);
    const routes = this.exact.get(path) ?? [];
    const route = makeRoute(method, handler);
    for (const other of routes) assert(!methodsOverlap(other.methods, route.methods), `route: ${path} registered twice for the same method`);
    this.countRoute();
    routes.push(route);
    this.exact.set(path, routes);
    return this;
  }

  /** Serve `prefix` (which must end with '/') and every path below it, plus the
   *  prefix without its trailing slash. The longest matching prefix wins; exact
   *  routes win over prefixes. */
  routePrefix(method: MethodMatch, prefix: string, handler: RouteHandler): this {
    assert(prefix.startsWith('/') && prefix.endsWith('/'), `routePrefix: ${prefix} must start and end with /`);
    const route = makeRoute(method, handler);
    for (const other of this.prefixes) {
      assert(other.prefix !== prefix || !methodsOverlap(other.route.methods, route.methods), `routePrefix: ${prefix} registered twice for the same method`);
    }
    this.countRoute();
    this.prefixes.push({ prefix, route });
    this.prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
    return this;
  }

  /** Whether a request `method path` would find a route (exact or prefix). */
  hasRoute(method: HttpMethod, path: string): boolean {
    const found = this.find(path, method);
    return found !== null && found !== 'method';
  }

  /** Handle HTTP upgrades (WebSockets) on exactly `path`. */
  upgrade(path: string, handler: UpgradeHandler): this {
    assert(!this.upgrades.has(path), `upgrade: ${path} registered twice`);
    this.countRoute();
    this.upgrades.set(path, handler);
    return this;
  }

  /** Run `hook` when the server closes, after it stops accepting and before it
   *  waits for requests in flight (close your WebSocket server here). */
  onClose(hook: () => void | Promise<void>): this {
    this.closeHooks.push(hook);
    return this;
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolvePromise, reject) => {
      const onError = (error: Error): void => reject(error);
      this.server.once('error', onError);
      this.server.listen({ host, port }, () => {
        this.server.off('error', onError);
        resolvePromise();
      });
    });
    this.server.on('error', (error) => this.log('error', 'client HTTP server error', { error: String(error) }));
    return this.address();
  }

  address(): AddressInfo {
    const address = this.server.address();
    assert(address !== null && typeof address === 'object', 'HttpServer.address: not listening');
    return address;
  }

  get listening(): boolean {
    return this.server.listening;
  }

  get inFlightRequests(): number {
    return this.inFlight;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** Stop accepting, run the close hooks, let requests in flight finish for up
   *  to `graceMs`, then close every connection. Idempotent. */
  close(graceMs: number): Promise<void> {
    if (this.closed === null) this.closed = this.closeNow(graceMs);
    return this.closed;
  }

  private async closeNow(graceMs: number): Promise<void> {
    this.closing = true;
    const serverClosed = new Promise<void>((resolvePromise) => {
      if (!this.server.listening) resolvePromise();
      else this.server.close(() => resolvePromise());
    });
    this.server.closeIdleConnections();
    for (const hook of this.closeHooks) {
      try {
        await hook();
      } catch (error) {
        rethrowIfBug(error);
        this.log('warn', 'an HTTP close hook failed', { error: String(error) });
      }
    }
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolvePromise) => this.idleWaiters.push(resolvePromise)),
        new Promise<void>((resolvePromise) => {
          timer = setTimeout(resolvePromise, graceMs);
        }),
      ]);
      clearTimeout(timer);
      if (this.inFlight > 0) this.log('warn', 'closing with HTTP requests still in flight', { inFlight: this.inFlight });
    }
    this.server.closeAllConnections();
    await serverClosed;
  }

  private countRoute(): void {
    this.routeCount += 1;
    assert(this.routeCount <= MAX_ROUTES, `HttpServer: more than ${MAX_ROUTES} routes`);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.inFlight += 1;
    res.once('close', () => {
      this.inFlight -= 1;
      if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    });
    if (this.closing) {
      res.setHeader('Connection', 'close');
      sendError(res, new TsraftError('TSR_ERR_SHUTTING_DOWN', 'this node is shutting down'));
      return;
    }
    const method = req.method ?? 'GET';
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://node.invalid');
    } catch {
      sendError(res, new TsraftError('TSR_ERR_INVALID_ARGUMENT', `bad request target ${JSON.stringify(req.url)}`));
      return;
    }
    const found = this.find(url.pathname, method);
    if (found === null) {
      sendError(res, notFound(url.pathname));
      return;
    }
    if (found === 'method') {
      sendError(res, new TsraftError('TSR_ERR_METHOD_NOT_ALLOWED', `method ${method} is not allowed on ${url.pathname}`, { details: { method } }));
      return;
    }
    const context: RouteContext = { req, res, url, method, subpath: found.subpath };
    let result: void | Promise<void>;
    try {
      result = found.route.handler(context);
    } catch (error) {
      this.fail(res, error);
      return;
    }
    if (result instanceof Promise) result.catch((error: unknown) => this.fail(res, error));
  }

  private find(pathname: string, method: string): { route: Route; subpath: string } | 'method' | null {
    let pathMatched = false;
    const routes = this.exact.get(pathname);
    if (routes !== undefined) {
      pathMatched = true;
      for (const route of routes) if (methodMatches(route.methods, method)) return { route, subpath: '' };
    }
    for (const { prefix, route } of this.prefixes) {
      const bare = prefix.slice(0, -1);
      if (pathname !== bare && !pathname.startsWith(prefix)) continue;
      pathMatched = true;
      if (methodMatches(route.methods, method)) return { route, subpath: pathname.length > prefix.length ? pathname.slice(prefix.length) : '' };
    }
    return pathMatched ? 'method' : null;
  }

  private fail(res: ServerResponse, error: unknown): void {
    if (isTsraftError(error)) {
      if (error.httpStatus >= 500) this.log('warn', 'request failed', { code: error.code, error: error.message });
      sendError(res, error);
      return;
    }
    sendError(res, new TsraftError('TSR_ERR_INTERNAL', 'internal error; see the node log'));
    this.log('error', 'request handler threw', { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    rethrowIfBug(error);
  }

  private handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const pathname = new URL(req.url ?? '/', 'http://node.invalid').pathname;
    const handler = this.upgrades.get(pathname);
    if (this.closing || handler === undefined) {
      const status = this.closing ? '503 Service Unavailable' : '404 Not Found';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    handler(req, socket, head);
  }
}

function makeRoute(method: MethodMatch, handler: RouteHandler): Route {
  if (method === '*') return { methods: '*', handler };
  const list: readonly string[] = typeof method === 'string' ? [method] : method;
  const methods = new Set(list);
  if (methods.has('GET')) methods.add('HEAD');
  return { methods, handler };
}

function methodsOverlap(a: Route['methods'], b: Route['methods']): boolean {
  if (a === '*' || b === '*') return true;
  for (const m of a) if (b.has(m)) return true;
  return false;
}

function methodMatches(methods: Route['methods'], method: string): boolean {
  return methods === '*' || methods.has(method);
}

function notFound(pathname: string): TsraftError {
  return new TsraftError('TSR_ERR_NOT_FOUND', `no such endpoint ${pathname}`, { details: { path: pathname } });
}

/** Send `value` as JSON with `status` (no body for HEAD). */
export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(value) + '\n';
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

/** Send an error as `{"error": {"code", "message", "details"}}` with its code's status. */
export function sendError(res: ServerResponse, error: TsraftError): void {
  sendJson(res, error.httpStatus, { error: error.toJSON() });
}

/** The request body, refusing more than `maxBytes` with TSR_ERR_BODY_TOO_LARGE. */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw bodyTooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    total += buffer.length;
    if (total > maxBytes) {
      req.resume();
      throw bodyTooLarge(maxBytes);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, total);
}

/** The request body parsed as JSON; TSR_ERR_INVALID_ARGUMENT when it is not JSON. */
export async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const body = await readBody(req, maxBytes);
  if (body.length === 0) throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', 'the request body is empty; a JSON document was expected', { details: { field: 'body' } });
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    rethrowIfBug(error);
    throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `the request body is not valid JSON (${(error as Error).message})`, { details: { field: 'body' } });
  }
}

function bodyTooLarge(maxBytes: number): TsraftError {
  return new TsraftError('TSR_ERR_BODY_TOO_LARGE', `the request body exceeds ${maxBytes} bytes`, { details: { limitBytes: maxBytes } });
}
