// The client WebSocket endpoint (`/ws` on the client HTTP port). The node's
// HTTP server hands upgrade requests for /ws to handleUpgrade; this checks
// the token (HTTP 401 without a valid one), the connection bound (HTTP 503),
// negotiates the subprotocol and starts a ClientConnection.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { assert } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { TokenAuth } from './auth.js';
import type { ClientApiLimits } from './limits.js';
import { SUBPROTOCOL_CBOR, SUBPROTOCOL_JSON, type FrameEncoding } from './protocol.js';
import type { TsdbService } from './service.js';
import { ClientConnection } from './ws-connection.js';
import { BUILT_IN_OPERATIONS, type OperationHandler } from './ws-operations.js';

export const WS_PATH = '/ws';

export interface ClientWsServerOptions {
  service: TsdbService;
  auth: TokenAuth;
  limits: ClientApiLimits;
  clock: Clock;
  /** Operations added by other rooms (e.g. the backup stream), by name. */
  extraOperations?: ReadonlyMap<string, OperationHandler>;
}

function refuse(socket: Duplex, status: number, reason: string, body: string): void {
  const text = JSON.stringify({ error: { code: status, message: body, details: reason } });
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 404 ? 'Not Found' : 'Service Unavailable'}\r\n` +
      (status === 401 ? 'WWW-Authenticate: Bearer realm="tsraft"\r\n' : '') +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}

export class ClientWsServer {
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<ClientConnection>();
  private readonly operations: ReadonlyMap<string, OperationHandler>;
  private closing = false;

  constructor(private readonly options: ClientWsServerOptions) {
    const ops = new Map(BUILT_IN_OPERATIONS);
    for (const [name, handler] of options.extraOperations ?? []) {
      assert(!ops.has(name) && name !== 'subscribe' && name !== 'unsubscribe', `operation ${name} registered twice`);
      ops.set(name, handler);
    }
    this.operations = ops;
    this.wss = new WebSocketServer({
      noServer: true,
      // Frames up to 4× the answered bound are read (and refused with a typed
      // error); beyond that ws closes with 1009 without buffering them.
      maxPayload: options.limits.maxFrameBytes * 4,
      perMessageDeflate: false,
      // Invalid UTF-8 in a text frame is answered as a bad frame (its JSON
      // does not parse) instead of closing the connection (ws's default, 1007).
      skipUTF8Validation: true,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL_CBOR) ? SUBPROTOCOL_CBOR : protocols.has(SUBPROTOCOL_JSON) ? SUBPROTOCOL_JSON : false),
    });
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** For the HTTP server's 'upgrade' event. Returns false when the path is not /ws. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== WS_PATH) return false;
    if (this.closing) {
      refuse(socket, 503, 'TSR_ERR_SHUTTING_DOWN', 'the node is shutting down');
      return true;
    }
    const access = this.options.auth.accessOf(req.headers, url);
    if (access === null) {
      refuse(socket, 401, 'TSR_ERR_UNAUTHORIZED', 'a valid client token is required');
      return true;
    }
    if (this.connections.size >= this.options.limits.maxConnections) {
      refuse(socket, 503, 'TSR_ERR_TOO_MANY_IN_FLIGHT', `the node already serves ${this.connections.size} client connections`);
      return true;
    }
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const encoding: FrameEncoding = ws.protocol === SUBPROTOCOL_CBOR ? 'cbor' : 'json';
      const connection: ClientConnection = new ClientConnection(ws, {
        service: this.options.service,
        clock: this.options.clock,
        limits: this.options.limits,
        access,
        operations: this.operations,
        defaultEncoding: encoding,
        socket,
        onClose: () => this.connections.delete(connection),
      });
      this.connections.add(connection);
    });
    return true;
  }

  /** Closes every connection (1001 going away) and refuses new ones. */
  async close(): Promise<void> {
    this.closing = true;
    for (const c of this.connections) c.close(1001, 'node shutting down');
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
