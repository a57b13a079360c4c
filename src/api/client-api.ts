// One call that mounts every client surface of this room on the node's HTTP
// server: the WebSocket protocol on /ws and the OpenTSDB endpoints under
// /api/. The telnet port is separate (startTelnet). The node wires a
// TsdbService (ReplicatedTsdbService in production, LocalTsdbService in
// tests) and its configuration into these.
import { systemClock, type Clock } from '../util/clock.js';
import { TokenAuth, type ClientToken } from './auth.js';
import type { HttpServer } from './http-server.js';
import { clientApiLimits, type ClientApiLimits } from './limits.js';
import { registerOpenTsdbRoutes } from './opentsdb-routes.js';
import type { TsdbService } from './service.js';
import { TelnetServer } from './telnet-server.js';
import { ClientWsServer, WS_PATH } from './ws-server.js';
import type { OperationHandler } from './ws-operations.js';

export interface ClientApiOptions {
  service: TsdbService;
  /** Client tokens; none = an open API (read-write for everyone). */
  tokens?: readonly ClientToken[];
  limits?: Partial<ClientApiLimits>;
  clock?: Clock;
  /** tsraft's version (package.json), reported by /api/version and telnet `version`. */
  version: string;
  /** WebSocket operations added by other rooms (the backup stream). */
  extraOperations?: ReadonlyMap<string, OperationHandler>;
}

export interface ClientApi {
  ws: ClientWsServer;
  auth: TokenAuth;
  limits: ClientApiLimits;
}

export function mountClientApi(server: HttpServer, options: ClientApiOptions): ClientApi {
  const auth = new TokenAuth(options.tokens ?? []);
  const limits = clientApiLimits(options.limits);
  const clock = options.clock ?? systemClock;
  const ws = new ClientWsServer({ service: options.service, auth, limits, clock, extraOperations: options.extraOperations });
  server.upgrade(WS_PATH, (req, socket, head) => {
    ws.handleUpgrade(req, socket, head);
  });
  registerOpenTsdbRoutes(server, { service: options.service, auth, limits, clock, version: options.version });
  server.onClose(() => ws.close());
  return { ws, auth, limits };
}

export interface TelnetOptions {
  service: TsdbService;
  tokens?: readonly ClientToken[];
  limits?: Partial<ClientApiLimits>;
  version: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
}

/** Starts the telnet-style `put` port; close() it on shutdown. */
export async function startTelnet(options: TelnetOptions): Promise<{ server: TelnetServer; port: number }> {
  const server = new TelnetServer({ service: options.service, auth: new TokenAuth(options.tokens ?? []), limits: clientApiLimits(options.limits), version: options.version });
  const address = await server.listen(options.host, options.port);
  return { server, port: address.port };
}
