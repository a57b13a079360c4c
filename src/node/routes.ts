// Mounts the client-facing surfaces of src/api on the node: the WebSocket
// protocol (/ws) and the OpenTSDB HTTP endpoints (/api/*) over a
// ReplicatedTsdbService, and the telnet `put` port when configured.
import { mountClientApi, startTelnet } from '../api/client-api.js';
import type { HttpServer } from '../api/http-server.js';
import { ReplicatedTsdbService } from '../api/replicated-service.js';
import type { TsdbService } from '../api/service.js';
import type { TelnetServer } from '../api/telnet-server.js';
import { instrumentReplicaHandle, instrumentTsdbService } from '../metrics/client-api-metrics.js';
import { systemClock } from '../util/clock.js';
import type { TsraftNode } from './node.js';

export interface ClientSurfaces {
  service: ReplicatedTsdbService;
  /** The same service with its reads and writes measured (src/metrics): what clients get. */
  metered: TsdbService;
  telnet: TelnetServer | null;
}

export async function mountClientRoutes(server: HttpServer, node: TsraftNode): Promise<ClientSurfaces> {
  const { clientApi } = node.config;
  // A follower forwards writes to the leader; when tokens are required it
  // presents one that may write (the same token list is on every node).
  const forwardToken = clientApi.tokens.find((t) => t.access === 'read-write')?.token;
  const service = new ReplicatedTsdbService({
    replica: instrumentReplicaHandle(node.replica, node.metrics.families),
    stateMachine: () => node.stateMachine,
    status: () => node.status(),
    isLeader: () => node.replica.isLeader,
    clock: systemClock,
    putLimits: clientApi.limits,
    forwardToken,
    forwardTimeoutMs: clientApi.limits.forwardTimeoutMs,
  });
  const metered = instrumentTsdbService(service, node.metrics.clientApi);
  mountClientApi(server, { service: metered, tokens: clientApi.tokens, limits: clientApi.limits, version: node.version });
  let telnet: TelnetServer | null = null;
  if (clientApi.telnetPort !== null) {
    const started = await startTelnet({ service: metered, tokens: clientApi.tokens, limits: clientApi.limits, version: node.version, host: clientApi.telnetHost, port: clientApi.telnetPort });
    telnet = started.server;
    node.log.info('telnet put listening', { address: `${clientApi.telnetHost}:${started.port}` });
  }
  return { service, metered, telnet };
}
