// Forwards a put received on a follower to the leader over the client
// WebSocket protocol (the same frames a client sends), with the client's
// session fields unchanged, so exactly-once still holds when the client
// retries through another node. The forwarded frame carries
// `forwarded: true`; a node that is not the leader either answers it with
// NOT_LEADER instead of forwarding again, so a leader change never makes
// requests bounce between followers.
//
// One connection per leader URL, opened on first use, at most
// MAX_FORWARD_CONNECTIONS (leaders change rarely; old ones are closed).
// The connections are the client library's (src/client/connection.ts)
// unless the options give another opener: the simulator carries them over
// its simulated network (sim/forwarding.ts).
import { TsraftError, rethrowIfBug } from '../errors.js';
import { Connection } from '../client/connection.js';
import { toWebSocketUrl } from '../client/endpoints.js';
import type { Clock } from '../util/clock.js';
import type { PointsInput, PutResult, WriteSession } from './service.js';

const MAX_FORWARD_CONNECTIONS = 4;

/** What the forwarder needs of a connection to the leader (Connection's subset). */
export interface ForwardConnection {
  /** Sends one request; resolves with its `result`, rejects with its typed
   *  error (TSR_ERR_TIMEOUT after `timeoutMs`: the outcome is unknown). */
  request(message: Record<string, unknown>, timeoutMs: number): Promise<unknown>;
  close(): void;
  /** Called once when the connection ends (at once when it already has). */
  addCloseListener(listener: (error: TsraftError) => void): void;
}

/** Opens a connection to the node at a WebSocket URL and waits for its hello. */
export type ForwardConnectionOpener = (url: string, options: { connectTimeoutMs: number; maxInFlight: number; token?: string }) => Promise<ForwardConnection>;

export interface LeaderForwarderOptions {
  clock: Clock;
  /** Token presented to the leader (a read-write one when tokens are required). */
  token?: string;
  connectTimeoutMs: number;
  /** Forwarded requests waiting per leader connection. */
  maxInFlight: number;
  /** Opens the connections to leaders; default the client library's Connection.open. */
  openConnection?: ForwardConnectionOpener;
}

export class LeaderForwarder {
  private readonly connections = new Map<string, Promise<ForwardConnection>>();
  private closed = false;

  constructor(private readonly options: LeaderForwarderOptions) {}

  private connection(url: string): Promise<ForwardConnection> {
    const existing = this.connections.get(url);
    if (existing !== undefined) return existing;
    if (this.connections.size >= MAX_FORWARD_CONNECTIONS) {
      const [oldUrl, old] = this.connections.entries().next().value as [string, Promise<ForwardConnection>];
      this.connections.delete(oldUrl);
      old.then((c) => c.close(), () => undefined);
    }
    const { token, connectTimeoutMs, maxInFlight } = this.options;
    const opened =
      this.options.openConnection !== undefined
        ? this.options.openConnection(url, token === undefined ? { connectTimeoutMs, maxInFlight } : { token, connectTimeoutMs, maxInFlight })
        : Connection.open({ url, token, clock: this.options.clock, connectTimeoutMs, maxInFlight });
    const opening: Promise<ForwardConnection> = opened.then(
      (conn) => {
        conn.addCloseListener(() => {
          if (this.connections.get(url) === opening) this.connections.delete(url);
        });
        if (this.closed) conn.close();
        return conn;
      },
      (error: unknown) => {
        if (this.connections.get(url) === opening) this.connections.delete(url);
        throw error;
      },
    );
    this.connections.set(url, opening);
    return opening;
  }

  /** Sends the put to the leader at `leaderClientUrl` and returns its answer. */
  async put(leaderClientUrl: string, input: PointsInput, session: WriteSession | undefined, timeoutMs: number): Promise<PutResult> {
    if (this.closed) throw new TsraftError('TSR_ERR_SHUTTING_DOWN', 'this node is shutting down', { details: {} });
    const message: Record<string, unknown> = { op: 'put', forwarded: true };
    if (input.kind === 'objects') message.points = input.points;
    else {
      Object.assign(message, input.columns);
      // This node's remembered series ids are its own records, not the leader's input.
      delete message.seriesIds;
    }
    if (session !== undefined) {
      message.clientId = session.clientId;
      message.seq = session.sequence;
      message.firstUnacked = session.firstUnackedSequence;
    }
    let conn: ForwardConnection;
    try {
      conn = await this.connection(toWebSocketUrl(leaderClientUrl));
    } catch (error) {
      rethrowIfBug(error);
      if (error instanceof TsraftError && error.code !== 'TSR_ERR_UNAUTHORIZED') {
        // The leader we know of cannot be reached: an election is likely.
        throw new TsraftError('TSR_ERR_NO_LEADER', `the leader at ${leaderClientUrl} cannot be reached to forward the write (${error.message})`, {
          details: { leaderClientUrl },
          cause: error,
        });
      }
      throw error;
    }
    try {
      return (await conn.request(message, timeoutMs)) as PutResult;
    } catch (error) {
      rethrowIfBug(error);
      // This forwarder closed the connection under the put (it made room for
      // a newer leader's, or the node is stopping): the leader may or may not
      // have applied it. Say so as a retryable lost connection, not as the
      // client library's "closed by the client".
      if (error instanceof TsraftError && error.code === 'TSR_ERR_CLIENT_CLOSED') {
        throw new TsraftError('TSR_ERR_CONNECTION_LOST', `the forwarding connection to the leader at ${leaderClientUrl} closed before the answer; the outcome is unknown (retry with the same client id and sequence)`, {
          details: { leaderClientUrl },
          cause: error,
        });
      }
      throw error;
    }
  }

  close(): void {
    this.closed = true;
    for (const opening of this.connections.values()) opening.then((c) => c.close(), () => undefined);
    this.connections.clear();
  }
}
