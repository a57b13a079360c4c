// One WebSocket connection of the client to one node: binary CBOR frames
// (docs/protocol.md), request ids, answers matched to waiting requests, the
// hello push (leader hint, limits) and subscription pushes routed to their
// handlers. Closing (or losing) the connection fails every waiting request
// with TSR_ERR_CONNECTION_LOST and ends every subscription.
import WebSocket from 'ws';
import { ERROR_CODES, TsraftError, assert, type ErrorCode } from '../errors.js';
import { SUBPROTOCOL_CBOR, decodeBinaryFrame, decodeTextFrame, encodeBinaryFrame, type WireError } from '../api/protocol.js';
import type { Clock } from '../util/clock.js';
import { DeclaredSeriesHandles, type SeriesFields } from './series-handles.js';

export interface Hello {
  protocol: number;
  node: string;
  leader: string | null;
  /** The leader's client HTTP URL when the node knows it. */
  leaderUrl: string | null;
  access: string;
  /** maxSeriesHandles is absent on nodes that take no series handles. */
  limits: { maxFrameBytes: number; maxPointsPerPut: number; maxInFlightRequests: number; maxSubscriptions: number; maxSeriesHandles?: number };
}

export type { SeriesFields } from './series-handles.js';

export interface PushHandler {
  onPoints(points: unknown[], logIndex: number): void;
  onEnd(error: TsraftError): void;
}

interface Waiter {
  resolve(value: unknown): void;
  reject(error: TsraftError): void;
  cancelTimer(): void;
  onPartial?: (value: unknown) => void;
}

/** Largest frame the client reads, bytes (answers to big queries). */
const MAX_INCOMING_FRAME_BYTES = 256 * 1024 * 1024;

export function errorFromWire(wire: WireError | undefined): TsraftError {
  const code = wire !== undefined && Object.hasOwn(ERROR_CODES, wire.code) ? (wire.code as ErrorCode) : 'TSR_ERR_INTERNAL';
  const details = { ...(wire?.details ?? {}) };
  if (wire !== undefined && code !== wire.code) details.remoteCode = wire.code;
  return new TsraftError(code, wire?.message ?? 'malformed error answer', { details });
}

function connectionLost(url: string, why: string): TsraftError {
  return new TsraftError('TSR_ERR_CONNECTION_LOST', `connection to ${url} lost: ${why}`, { details: { url } });
}

export interface ConnectionOptions {
  url: string;
  token?: string;
  clock: Clock;
  connectTimeoutMs: number;
  /** Most requests this connection keeps waiting (also bounded by the node's hello). */
  maxInFlight: number;
}

export class Connection {
  readonly url: string;
  private readonly ws: WebSocket;
  private readonly waiters = new Map<number, Waiter>();
  private readonly pushHandlers = new Map<number, PushHandler>();
  private nextId = 1;
  private helloValue: Hello | null = null;
  private closedError: TsraftError | null = null;
  private readonly closeListeners: Array<(error: TsraftError) => void> = [];

  private corked = false;
  /** Handles this connection declared to the node (bounded by the node's
   *  hello limits.maxSeriesHandles; never reused on another connection). */
  private readonly seriesHandles = new DeclaredSeriesHandles();

  private constructor(
    ws: WebSocket,
    private readonly options: ConnectionOptions,
    /** The socket under `ws`, corked for the rest of a turn once a request is
     *  sent: requests issued together leave in one write(2). */
    private readonly socket: { cork(): void; uncork(): void } | null,
  ) {
    this.url = options.url;
    this.ws = ws;
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onFrame(data, isBinary));
    ws.on('close', (code: number, reason: Buffer) => this.onClosed(connectionLost(this.url, `closed (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`)));
    ws.on('error', (error: Error) => this.onClosed(connectionLost(this.url, error.message)));
  }

  /** Opens a connection and waits for the node's hello. */
  static open(options: ConnectionOptions): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
      // An all-zero masking key: ws then neither copies nor XORs a request on the
      // way out and the node skips unmasking it. Masking (RFC 6455 §5.3) guards
      // HTTP intermediaries against scripts in browsers; this client is not one.
      const ws = new WebSocket(options.url, [SUBPROTOCOL_CBOR], { headers, maxPayload: MAX_INCOMING_FRAME_BYTES, perMessageDeflate: false, generateMask: zeroMask });
      let settled = false;
      const fail = (error: TsraftError): void => {
        if (settled) return;
        settled = true;
        cancelTimer();
        ws.terminate();
        reject(error);
      };
      const cancelTimer = options.clock.setTimer(options.connectTimeoutMs, () =>
        fail(new TsraftError('TSR_ERR_TIMEOUT', `no hello from ${options.url} within ${options.connectTimeoutMs} ms`, { details: { url: options.url } })),
      );
      ws.once('unexpected-response', (_req, res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        if (status === 401) fail(new TsraftError('TSR_ERR_UNAUTHORIZED', `${options.url} refused the connection: a valid token is required`, { details: { url: options.url } }));
        else fail(connectionLost(options.url, `upgrade refused with HTTP ${status}`));
      });
      ws.once('error', (error: Error) => fail(connectionLost(options.url, error.message)));
      ws.once('close', () => fail(connectionLost(options.url, 'closed before the hello')));
      let socket: { cork(): void; uncork(): void } | null = null;
      ws.once('upgrade', (res) => {
        socket = res.socket;
      });
      ws.once('open', () => {
        const connection = new Connection(ws, options, socket);
        connection.onHello = (hello) => {
          if (settled) return;
          settled = true;
          cancelTimer();
          resolve(connection);
        };
        connection.addCloseListener((error) => fail(error));
      });
    });
  }

  private onHello: ((hello: Hello) => void) | null = null;

  get hello(): Hello | null {
    return this.helloValue;
  }

  get isOpen(): boolean {
    return this.closedError === null;
  }

  get inFlight(): number {
    return this.waiters.size;
  }

  addCloseListener(listener: (error: TsraftError) => void): void {
    if (this.closedError !== null) listener(this.closedError);
    else this.closeListeners.push(listener);
  }

  private inFlightLimit(): number {
    return Math.min(this.options.maxInFlight, this.helloValue?.limits.maxInFlightRequests ?? Infinity);
  }

  /** Whether request() would send now (not closed, below the in-flight bound). */
  private canSendRequest(): boolean {
    return this.closedError === null && this.waiters.size < this.inFlightLimit();
  }

  /** Sends one request; resolves with its `result`, rejects with its typed error. */
  request(message: Record<string, unknown>, timeoutMs: number, onPartial?: (value: unknown) => void): Promise<unknown> {
    if (this.closedError !== null) return Promise.reject(this.closedError);
    const limit = this.inFlightLimit();
    if (this.waiters.size >= limit) {
      return Promise.reject(new TsraftError('TSR_ERR_TOO_MANY_IN_FLIGHT', `${limit} requests already wait on ${this.url}`, { details: { limit: 'maxInFlightRequests' } }));
    }
    const id = this.nextId++;
    assert(!this.waiters.has(id), `request id ${id} reused`);
    return new Promise((resolve, reject) => {
      const cancelTimer = this.options.clock.setTimer(timeoutMs, () => {
        this.waiters.delete(id);
        reject(new TsraftError('TSR_ERR_TIMEOUT', `no answer from ${this.url} within ${timeoutMs} ms; the outcome is unknown`, { details: { url: this.url, timeoutMs } }));
      });
      this.waiters.set(id, { resolve, reject, cancelTimer, onPartial });
      this.corkUntilTurnEnds();
      this.ws.send(encodeBinaryFrame({ ...message, id }));
    });
  }

  /** The series fields of a put with canonical `keys` on this connection
   *  (DeclaredSeriesHandles.fieldsFor, with the node's bound). */
  seriesFields(keys: readonly string[]): SeriesFields {
    const max = this.helloValue?.limits.maxSeriesHandles;
    // A request refused before it is sent (request()'s own checks) must not
    // declare anything: call this right before request(), in the same turn.
    if (typeof max !== 'number' || !(max >= 1) || !this.canSendRequest()) return { seriesKeys: keys };
    return this.seriesHandles.fieldsFor(keys, max);
  }

  /** Forgets every declared handle (the node lost one): keys are sent again. */
  forgetSeriesHandles(): void {
    this.seriesHandles.forget();
  }

  private corkUntilTurnEnds(): void {
    const socket = this.socket;
    if (socket === null || this.corked) return;
    this.corked = true;
    socket.cork();
    // Runs once the microtask queue is empty: after every request this turn issued.
    process.nextTick(() => {
      this.corked = false;
      socket.uncork();
    });
  }

  /** Routes pushes of subscription `sub` to `handler` until it ends. */
  setPushHandler(sub: number, handler: PushHandler | null): void {
    if (handler === null) this.pushHandlers.delete(sub);
    else this.pushHandlers.set(sub, handler);
  }

  close(): void {
    this.onClosed(new TsraftError('TSR_ERR_CLIENT_CLOSED', `connection to ${this.url} closed by the client`, { details: { url: this.url } }));
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    const decoded = isBinary ? decodeBinaryFrame(data) : decodeTextFrame(data.toString('utf8'), MAX_INCOMING_FRAME_BYTES);
    if (!decoded.ok) {
      // A node that sends garbage cannot be trusted with the waiting requests.
      this.onClosed(connectionLost(this.url, `bad frame from the node: ${decoded.error.message}`));
      return;
    }
    const msg = decoded.message;
    if (typeof msg.push === 'string') {
      this.onPush(msg);
      return;
    }
    const id = msg.id;
    if (typeof id !== 'number') return; // an error about a frame we could not name: nothing waits for it
    const waiter = this.waiters.get(id);
    if (waiter === undefined) return; // answered after its timeout
    if (msg.partial !== undefined && msg.ok === undefined) {
      waiter.onPartial?.(msg.partial);
      return;
    }
    this.waiters.delete(id);
    waiter.cancelTimer();
    if (msg.ok === true) waiter.resolve(msg.result);
    else waiter.reject(errorFromWire(msg.error as WireError | undefined));
  }

  private onPush(msg: Record<string, unknown>): void {
    if (msg.push === 'hello') {
      this.helloValue = msg as unknown as Hello;
      this.onHello?.(this.helloValue);
      return;
    }
    const handler = typeof msg.sub === 'number' ? this.pushHandlers.get(msg.sub) : undefined;
    if (handler === undefined) return;
    if (msg.push === 'points' && Array.isArray(msg.points)) handler.onPoints(msg.points, typeof msg.index === 'number' ? msg.index : 0);
    else if (msg.push === 'end') {
      this.pushHandlers.delete(msg.sub as number);
      handler.onEnd(errorFromWire(msg.error as WireError | undefined));
    }
  }

  private onClosed(error: TsraftError): void {
    if (this.closedError !== null) return;
    this.closedError = error;
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      if (error.code === 'TSR_ERR_CLIENT_CLOSED') this.ws.close(1000, 'client closed');
      else this.ws.terminate();
    }
    for (const waiter of this.waiters.values()) {
      waiter.cancelTimer();
      waiter.reject(error);
    }
    this.waiters.clear();
    for (const handler of this.pushHandlers.values()) handler.onEnd(error);
    this.pushHandlers.clear();
    for (const listener of this.closeListeners.splice(0)) listener(error);
  }
}

function zeroMask(mask: Uint8Array): void {
  mask.fill(0);
}
