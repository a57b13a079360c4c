// The TypeScript client (README "Client library", docs/protocol.md).
//
//   const client = await connect(['http://127.0.0.1:8080', 'http://127.0.0.1:8081'], { token });
//   await client.put([{ metric: 'sys.cpu.user', tags: { host: 'a' }, timestamp: Date.now(), value: 42.5 }]);
//   const results = await client.query('sum:sys.cpu.user{host=*}', { start: '1h-ago' });
//   for await (const p of client.subscribe({ metric: 'sys.cpu.user' })) { ... }
//   await client.close();
//
// Writes go to the leader (learned from the node's hello and from
// NOT_LEADER answers); reads and subscriptions to the node first reached.
// Failures that are safe to retry (leader change, lost connection, an
// election, backpressure) are retried with jittered exponential backoff
// until the request's deadline. A put carries this client's id and a
// sequence number that a retry reuses, so the cluster applies it once.
import { randomUUID } from 'node:crypto';
import { ERROR_CODES, TsraftError, assert, rethrowIfBug } from '../errors.js';
import { Backoff } from '../transport/backoff.js';
import { SeededPrng } from '../util/prng.js';
import { systemClock, type Clock } from '../util/clock.js';
import { Connection, type Hello } from './connection.js';
import { leaderUrlFrom, toWebSocketUrl } from './endpoints.js';
import { toColumns, type Point, type PutColumns } from './points.js';
import { LiveSubscription } from './subscription.js';

export interface ConnectOptions {
  /** Client token (when the nodes require one). */
  token?: string;
  /** Default deadline of one request, retries included, ms. Default 10,000. */
  timeoutMs?: number;
  /** Deadline to open one connection, ms. Default 3,000. */
  connectTimeoutMs?: number;
  /** Backoff between retries: first delay and cap, ms. Defaults 25 and 1,000. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Exactly-once identity; default a random UUID. */
  clientId?: string;
  /** Requests waiting per connection. Default 1,024. */
  maxInFlight?: number;
  /** Points a subscription buffers before it ends with TSR_ERR_SUBSCRIPTION_OVERFLOW. Default 100,000. */
  maxBufferedPoints?: number;
  clock?: Clock;
}

export interface RequestOptions {
  /** Deadline of this request, retries included, ms. */
  timeoutMs?: number;
}

export interface ReadRequestOptions extends RequestOptions {
  /** 'linearizable' (default) or 'stale' (served at once from the node's state). */
  consistency?: 'linearizable' | 'stale';
}

export interface PointError {
  index: number;
  code: string;
  message: string;
  details: Record<string, unknown>;
}

export interface PutResult {
  success: number;
  failed: number;
  errors: PointError[];
  duplicate: boolean;
}

export interface QueryOptions extends ReadRequestOptions {
  /** For `m` queries: start (e.g. '1h-ago', a Unix time) and optional end. */
  start?: string | number;
  end?: string | number;
  timezone?: string;
}

export interface QueryResult {
  metric: string;
  tags: Record<string, string>;
  aggregateTags: string[];
  /** Index of the sub query that produced this result. */
  queryIndex: number;
  /** [Unix ms, value]; value is a bigint for int64 results beyond 2^53, null for `null`-filled intervals. */
  dps: Array<[number, number | bigint | null]>;
}

export interface SubscribeSpec {
  metric: string;
  /** Tag → filter as in /api/query tags: 'web01', 'web01|web02', '*', 'wildcard(web*)'. */
  tags?: Record<string, string>;
  filters?: Array<{ type: string; tagk: string; filter: string }>;
  explicitTags?: boolean;
}

export interface LastPointResult {
  metric: string;
  tags: Record<string, string>;
  timestamp: number;
  value: number | bigint;
  tsuid: string;
}

const MAX_CONNECTIONS = 32;

export class TsraftClient {
  private readonly endpoints: string[];
  private readonly options: Required<Omit<ConnectOptions, 'token' | 'clientId' | 'clock'>> & { token: string | undefined };
  private readonly clock: Clock;
  private readonly prng: SeededPrng;
  private readonly connections = new Map<string, Promise<Connection>>();
  private homeIndex = 0;
  private leaderUrl: string | null = null;
  private closed = false;
  private readonly subscriptions = new Set<LiveSubscription>();
  // Exactly-once session state (docs/tsdb-commands.md, "Sessions"). A put
  // keeps the session and sequence it was first sent with for every retry:
  // a renewal (the cluster forgot the session) starts a new session object
  // and never changes the identity of puts already in flight.
  private session: ClientSession;

  constructor(endpoints: readonly string[], options: ConnectOptions = {}) {
    if (endpoints.length === 0) throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', 'connect needs at least one endpoint', { details: { field: 'endpoints' } });
    this.endpoints = [...new Set(endpoints.map(toWebSocketUrl))];
    this.options = {
      token: options.token,
      timeoutMs: options.timeoutMs ?? 10_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 3_000,
      minBackoffMs: options.minBackoffMs ?? 25,
      maxBackoffMs: options.maxBackoffMs ?? 1_000,
      maxInFlight: options.maxInFlight ?? 1024,
      maxBufferedPoints: options.maxBufferedPoints ?? 100_000,
    };
    this.clock = options.clock ?? systemClock;
    this.session = newSession(options.clientId ?? randomUUID());
    this.prng = new SeededPrng((Math.random() * 0x1_0000_0000) >>> 0);
  }

  /** This client's exactly-once identity (changes only if the cluster forgot the session). */
  get clientId(): string {
    return this.session.clientId;
  }

  /** The node reads and subscriptions go to. */
  get homeEndpoint(): string {
    return this.endpoints[this.homeIndex]!;
  }

  /** The leader's WebSocket URL as last learned, or null. */
  get knownLeader(): string | null {
    return this.leaderUrl;
  }

  /** Opens the first reachable endpoint (in order). */
  async open(): Promise<void> {
    const tried: string[] = [];
    const deadline = this.clock.nowMs() + this.options.timeoutMs;
    for (let i = 0; i < this.endpoints.length; i++) {
      const index = (this.homeIndex + i) % this.endpoints.length;
      const url = this.endpoints[index]!;
      tried.push(url);
      try {
        await this.connection(url);
        this.homeIndex = index;
        return;
      } catch (error) {
        rethrowIfBug(error);
        if (error instanceof TsraftError && error.code === 'TSR_ERR_UNAUTHORIZED') throw error;
        if (this.clock.nowMs() >= deadline) break;
      }
    }
    throw new TsraftError('TSR_ERR_UNREACHABLE', `no endpoint could be reached: ${tried.join(', ')}`, { details: { endpoints: tried } });
  }

  private connection(url: string): Promise<Connection> {
    if (this.closed) return Promise.reject(this.closedError());
    const existing = this.connections.get(url);
    if (existing !== undefined) return existing;
    if (this.connections.size >= MAX_CONNECTIONS) this.dropIdleConnection();
    const opening = Connection.open({
      url,
      token: this.options.token,
      clock: this.clock,
      connectTimeoutMs: this.options.connectTimeoutMs,
      maxInFlight: this.options.maxInFlight,
    }).then(
      (conn) => {
        this.learnLeader(conn.hello);
        conn.addCloseListener(() => {
          if (this.connections.get(url) === opening) this.connections.delete(url);
          if (this.leaderUrl === url) this.leaderUrl = null;
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

  private dropIdleConnection(): void {
    for (const [url, opening] of this.connections) {
      if (url === this.homeEndpoint || url === this.leaderUrl) continue;
      this.connections.delete(url);
      void opening.then((c) => c.close(), () => undefined);
      return;
    }
  }

  private learnLeader(hello: Hello | null): void {
    if (hello === null) return;
    if (hello.leader !== null && hello.leader === hello.node) {
      // The node we reached leads: find its URL among ours.
      return;
    }
    const url = leaderUrlFrom({ leaderClientUrl: hello.leaderUrl });
    if (url !== null) this.leaderUrl = url;
  }

  private closedError(): TsraftError {
    return new TsraftError('TSR_ERR_CLIENT_CLOSED', 'the client is closed', { details: {} });
  }

  private isRetryable(error: TsraftError): boolean {
    return ERROR_CODES[error.code].retryable;
  }

  /** Runs `attempt` against the right node until it succeeds, fails for good, or the deadline passes. */
  private async withRetries<T>(kind: 'write' | 'read', timeoutMs: number, attempt: (conn: Connection, remainingMs: number, attemptNumber: number) => Promise<T>): Promise<T> {
    const deadline = this.clock.nowMs() + timeoutMs;
    const backoff = new Backoff(this.prng, this.options.minBackoffMs, this.options.maxBackoffMs);
    let lastError: TsraftError | null = null;
    for (let n = 0; ; n++) {
      if (this.closed) throw this.closedError();
      const remaining = deadline - this.clock.nowMs();
      if (remaining <= 0) {
        throw lastError ?? new TsraftError('TSR_ERR_TIMEOUT', `request did not complete within ${timeoutMs} ms`, { details: { timeoutMs } });
      }
      const url = kind === 'write' && this.leaderUrl !== null ? this.leaderUrl : this.homeEndpoint;
      try {
        const conn = await this.connection(url);
        return await attempt(conn, deadline - this.clock.nowMs(), n);
      } catch (error) {
        rethrowIfBug(error);
        if (!(error instanceof TsraftError)) throw error;
        lastError = error;
        if (error.code === 'TSR_ERR_NOT_LEADER') {
          const leader = leaderUrlFrom(error.details);
          this.leaderUrl = leader;
          if (leader !== null) continue; // go to the leader at once
          this.rotateHome(url);
        } else if (error.code === 'TSR_ERR_CONNECTION_LOST' || error.code === 'TSR_ERR_SHUTTING_DOWN' || error.code === 'TSR_ERR_UNREACHABLE') {
          if (this.leaderUrl === url) this.leaderUrl = null;
          this.rotateHome(url);
        }
        if (!this.isRetryable(error)) throw error;
        // A TIMEOUT is retried only while this request's deadline allows: an
        // attempt's own timeout is the time left, so after it none is (and
        // the check below throws); a node's TIMEOUT answer (its proposal or
        // forwarded put timed out: outcome unknown) may come earlier, and a
        // retry with the same session applies the write at most once.
        const delay = backoff.nextDelayMs();
        if (this.clock.nowMs() + delay >= deadline) throw error;
        await new Promise<void>((resolve) => this.clock.setTimer(delay, resolve));
      }
    }
  }

  private rotateHome(failedUrl: string): void {
    if (this.endpoints[this.homeIndex] === failedUrl) this.homeIndex = (this.homeIndex + 1) % this.endpoints.length;
  }

  /** Writes points (one batch, applied atomically per point: every rejected
   *  point is listed in the result by its index). Exactly-once across retries. */
  async put(points: Point | readonly Point[], options: RequestOptions = {}): Promise<PutResult> {
    const list: readonly Point[] = Array.isArray(points) ? points : [points as Point];
    return this.putColumns(toColumns(list), options);
  }

  /** put() for bulk loaders that already hold points in columns (each
   *  series once, then an index, timestamp and value per point). */
  async putColumns(columns: PutColumns, options: RequestOptions = {}): Promise<PutResult> {
    let session = this.session;
    let sequence = session.nextSequence++;
    session.outstanding.add(sequence);
    const wire = wireColumns(columns);
    try {
      return await this.withRetries('write', options.timeoutMs ?? this.options.timeoutMs, async (conn, remainingMs, attemptNumber) => {
        assert(session.outstanding.has(sequence), `sequence ${sequence} is not outstanding`);
        const firstUnacked = session.established ? smallest(session.outstanding) : 1;
        assert(firstUnacked <= sequence, 'firstUnacked beyond the sequence');
        const send = (): Promise<unknown> => conn.request({ op: 'put', ...wire, ...seriesFieldsOn(conn, columns), clientId: session.clientId, seq: sequence, firstUnacked }, remainingMs);
        try {
          let result: PutResult;
          try {
            result = (await send()) as PutResult;
          } catch (error) {
            if (!(error instanceof TsraftError && error.code === 'TSR_ERR_INVALID_ARGUMENT' && error.details.reason === 'unknown_handle')) throw error;
            // The node does not know a handle this connection declared (the
            // declaring frame was lost): nothing was applied; send the keys again.
            conn.forgetSeriesHandles();
            result = (await send()) as PutResult;
          }
          session.established = true;
          return result;
        } catch (error) {
          if (error instanceof TsraftError && error.code === 'TSR_ERR_SESSION_EXPIRED' && attemptNumber === 0 && error.details.reason === 'unknown_session') {
            // The cluster evicted our session and did not apply this first
            // attempt: continue under a new identity (the one another put
            // already renewed to, if any), then retry. Other puts of the old
            // session keep its identity: one already applied is never sent
            // again under a new id, and a later one of theirs that meets the
            // evicted session fails as its outcome is unknown.
            session.outstanding.delete(sequence);
            if (this.session === session) this.session = newSession(randomUUID());
            session = this.session;
            sequence = session.nextSequence++;
            session.outstanding.add(sequence);
            throw new TsraftError('TSR_ERR_CONNECTION_LOST', 'session renewed; retrying', { details: {} });
          }
          throw error;
        }
      });
    } finally {
      session.outstanding.delete(sequence);
    }
  }

  /** An OpenTSDB query: `m` string(s) like 'sum:1m-avg:sys.cpu.user{host=*}'
   *  with options.start, or a full /api/query body object. */
  async query(query: string | readonly string[] | Record<string, unknown>, options: QueryOptions = {}): Promise<QueryResult[]> {
    const message: Record<string, unknown> = { op: 'query', consistency: options.consistency ?? 'linearizable' };
    if (typeof query === 'string' || Array.isArray(query)) {
      message.m = query;
      if (options.start === undefined) throw new TsraftError('TSR_ERR_INVALID_QUERY', 'a query by m= needs options.start (e.g. "1h-ago")', { details: { part: 'start' } });
      message.start = options.start;
      if (options.end !== undefined) message.end = options.end;
      if (options.timezone !== undefined) message.timezone = options.timezone;
    } else {
      message.query = query;
    }
    const answer = (await this.read(message, options)) as { results: Array<{ metric: string; tags: Record<string, string>; aggregateTags: string[]; queryIndex: number; timestamps: number[]; values: Array<number | bigint | null> }> };
    return answer.results.map((r) => ({
      metric: r.metric,
      tags: r.tags,
      aggregateTags: r.aggregateTags,
      queryIndex: r.queryIndex,
      dps: r.timestamps.map((ts, i) => [ts, r.values[i] ?? null] as [number, number | bigint | null]),
    }));
  }

  private read(message: Record<string, unknown>, options: RequestOptions): Promise<unknown> {
    return this.withRetries('read', options.timeoutMs ?? this.options.timeoutMs, (conn, remainingMs) => conn.request(message, remainingMs));
  }

  suggest(type: 'metrics' | 'tagk' | 'tagv', prefix = '', max = 25, options: ReadRequestOptions = {}): Promise<string[]> {
    return this.read({ op: 'suggest', type, q: prefix, max, consistency: options.consistency ?? 'linearizable' }, options) as Promise<string[]>;
  }

  /** Series of `m` = 'metric{tagk=tagv,...}' (values may be '*'). */
  lookup(m: string, limit = 25, options: ReadRequestOptions = {}): Promise<{ series: Array<{ metric: string; tags: Record<string, string>; tsuid: string }>; totalResults: number }> {
    return this.read({ op: 'lookup', m, limit, consistency: options.consistency ?? 'linearizable' }, options) as Promise<{ series: Array<{ metric: string; tags: Record<string, string>; tsuid: string }>; totalResults: number }>;
  }

  last(queries: ReadonlyArray<{ metric: string; tags?: Record<string, string> }>, options: ReadRequestOptions & { backScanHours?: number } = {}): Promise<LastPointResult[]> {
    return this.read({ op: 'last', queries, backScan: options.backScanHours ?? 0, consistency: options.consistency ?? 'linearizable' }, options) as Promise<LastPointResult[]>;
  }

  /** The home node's /status. */
  status(options: RequestOptions = {}): Promise<Record<string, unknown>> {
    return this.read({ op: 'status' }, options) as Promise<Record<string, unknown>>;
  }

  /** Live points of `spec`, committed from now on, as an async iterator. */
  subscribe(spec: SubscribeSpec): LiveSubscription {
    let connection: Connection | null = null;
    let sub: number | null = null;
    const subscription: LiveSubscription = new LiveSubscription(this.options.maxBufferedPoints, () => {
      this.subscriptions.delete(subscription);
      if (connection !== null && sub !== null && connection.isOpen) {
        connection.setPushHandler(sub, null);
        connection.request({ op: 'unsubscribe', sub }, this.options.timeoutMs).catch(() => undefined);
      }
    });
    this.subscriptions.add(subscription);
    const start = async (): Promise<void> => {
      const conn = await this.connection(this.homeEndpoint);
      const answer = (await conn.request({ op: 'subscribe', ...spec }, this.options.timeoutMs)) as { sub: number };
      connection = conn;
      sub = answer.sub;
      conn.setPushHandler(answer.sub, {
        onPoints: (points, index) => subscription.push(points, index),
        onEnd: (error) => subscription.end(error),
      });
    };
    start().catch((error: unknown) => {
      rethrowIfBug(error);
      subscription.end(error instanceof TsraftError ? error : new TsraftError('TSR_ERR_INTERNAL', String(error)));
    });
    return subscription;
  }

  /** Closes every connection; waiting requests fail with TSR_ERR_CLIENT_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subscriptions) s.end(null);
    this.subscriptions.clear();
    const all = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(all.map((p) => p.then((c) => c.close(), () => undefined)));
  }
}

/** Columns at most this long travel as plain CBOR arrays: encoding and
 *  decoding a typed array costs a few µs of fixed overhead (its type is found
 *  by a chain of instanceof checks, its bytes copied for alignment), which
 *  for one point is most of the put; beyond it the bulk copy wins. */
const MAX_PLAIN_COLUMN_LENGTH = 64;

function plainIfShort(column: ArrayLike<unknown>): ArrayLike<unknown> {
  return ArrayBuffer.isView(column) && column.length <= MAX_PLAIN_COLUMN_LENGTH ? Array.from(column) : column;
}

/** The columns as sent, but the series: short typed arrays as plain arrays (same values). */
function wireColumns(columns: PutColumns): Record<string, unknown> {
  return { seriesIndexes: plainIfShort(columns.seriesIndexes), timestamps: plainIfShort(columns.timestamps), values: plainIfShort(columns.values) };
}

/** The series of a put as sent on `conn`: by handle where the connection
 *  declared them (docs/protocol.md, "put"), `series` pairs as they are. */
function seriesFieldsOn(conn: Connection, columns: PutColumns): Record<string, unknown> {
  if (columns.seriesKeys !== undefined) {
    const fields = conn.seriesFields(columns.seriesKeys);
    if (fields.seriesRefs !== undefined) return { seriesRefs: plainIfShort(fields.seriesRefs) };
    return fields.seriesHandles === undefined ? { seriesKeys: fields.seriesKeys } : { seriesKeys: fields.seriesKeys, seriesHandles: plainIfShort(fields.seriesHandles) };
  }
  return { series: columns.series };
}

/** The smallest of a set of numbers, without spreading it into an argument list. */
/** One exactly-once identity: its id, the next sequence, the sequences not yet answered. */
interface ClientSession {
  readonly clientId: string;
  nextSequence: number;
  readonly outstanding: Set<number>;
  /** A put of this session succeeded, so firstUnacked may move past 1. */
  established: boolean;
}

function newSession(clientId: string): ClientSession {
  return { clientId, nextSequence: 1, outstanding: new Set(), established: false };
}

function smallest(values: ReadonlySet<number>): number {
  let min = Infinity;
  for (const v of values) if (v < min) min = v;
  return min;
}

/** Connects to a cluster: `endpoints` are client URLs of any of its nodes. */
export async function connect(endpoints: string | readonly string[], options: ConnectOptions = {}): Promise<TsraftClient> {
  const client = new TsraftClient(typeof endpoints === 'string' ? [endpoints] : endpoints, options);
  await client.open();
  return client;
}
