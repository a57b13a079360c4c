// Bounds of the client-facing surfaces (ARCHITECTURE.md, "Limits"). Hitting
// one gives the request a typed error; the connection stays open.
import { TsraftError } from '../errors.js';
import { DEFAULT_PUT_LIMITS, type PutLimits } from './put-encoder.js';

export interface ClientApiLimits extends PutLimits {
  /** Largest WebSocket frame answered normally, bytes; larger ones get
   *  TSR_ERR_FRAME_TOO_LARGE. Default 8 MiB. Frames above 4× this close the
   *  connection (code 1009): they are not even read. */
  maxFrameBytes: number;
  /** Unanswered requests per WebSocket connection. Default 1,024. */
  maxInFlightRequests: number;
  /** Subscriptions per WebSocket connection. Default 64. */
  maxSubscriptionsPerConnection: number;
  /** Series handles one WebSocket connection may declare (a put then names
   *  the series by handle instead of by key: docs/protocol.md, "put").
   *  Handles are 0 ≤ h < this bound. Default 65,536. */
  maxSeriesHandles: number;
  /** Bytes queued for a slow WebSocket client before its subscriptions end
   *  with TSR_ERR_SUBSCRIPTION_OVERFLOW. Default 16 MiB. */
  maxSubscriptionBufferBytes: number;
  /** Open client WebSocket connections. Default 1,024. */
  maxConnections: number;
  /** A request not answered by then gets TSR_ERR_TIMEOUT. Default 30 s. */
  requestTimeoutMs: number;
  /** A put a follower forwarded to the leader and not answered by then gets
   *  TSR_ERR_TIMEOUT (outcome unknown). Default 5 s: half the client
   *  library's default deadline, so the client can still retry it. */
  forwardTimeoutMs: number;
  /** Largest HTTP request body (after gzip decoding), bytes. Default 8 MiB. */
  maxHttpBodyBytes: number;
  /** Longest telnet line, bytes. Default 64 KiB. */
  maxTelnetLineBytes: number;
  /** Telnet points buffered per connection before reading pauses. Default 50,000. */
  maxTelnetPendingPoints: number;
  /** Open telnet connections. Default 1,024. */
  maxTelnetConnections: number;
  /** Most names /api/suggest returns. Default 10,000. */
  maxSuggest: number;
  /** Most series /api/search/lookup returns. Default 10,000. */
  maxLookup: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_CLIENT_API_LIMITS: Readonly<ClientApiLimits> = Object.freeze({
  ...DEFAULT_PUT_LIMITS,
  maxFrameBytes: 8 * MiB,
  maxInFlightRequests: 1024,
  maxSubscriptionsPerConnection: 64,
  maxSeriesHandles: 65_536,
  maxSubscriptionBufferBytes: 16 * MiB,
  maxConnections: 1024,
  requestTimeoutMs: 30_000,
  forwardTimeoutMs: 5_000,
  maxHttpBodyBytes: 8 * MiB,
  maxTelnetLineBytes: 64 * 1024,
  maxTelnetPendingPoints: 50_000,
  maxTelnetConnections: 1024,
  maxSuggest: 10_000,
  maxLookup: 10_000,
});

export function clientApiLimits(overrides: Partial<ClientApiLimits> = {}): ClientApiLimits {
  const limits = { ...DEFAULT_CLIENT_API_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `client API limit ${name} must be a positive integer, got ${value}`, { details: { field: name } });
    }
  }
  return limits;
}
