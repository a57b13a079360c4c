// One client WebSocket connection: decodes frames, checks limits, runs
// operations concurrently (multiplexed by request id), answers each in the
// encoding of its request, and pushes subscription points. Bad input of any
// kind is answered with a typed error; the connection stays open (except for
// frames beyond the hard size cap, which ws refuses to read: close 1009).
import type { WebSocket } from 'ws';
import { TsraftError, assert, rethrowIfBug } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { Access } from './auth.js';
import type { ClientApiLimits } from './limits.js';
import {
  decodeBinaryFrame,
  decodeTextFrame,
  encodeFrame,
  isRequestId,
  peekRequestId,
  PROTOCOL_VERSION,
  wireErrorOf,
  type FrameEncoding,
} from './protocol.js';
import { describeValue, invalidArgument, parseSubscriptionSpec } from './requests.js';
import { SeriesHandleTable } from './series-handles.js';
import type { LivePoint, Subscription, TsdbService } from './service.js';
import type { OperationContext, OperationHandler } from './ws-operations.js';

export interface ConnectionOptions {
  service: TsdbService;
  clock: Clock;
  limits: ClientApiLimits;
  access: Access;
  operations: ReadonlyMap<string, OperationHandler>;
  /** Encoding of pushes sent before any request (the hello), from the subprotocol. */
  defaultEncoding: FrameEncoding;
  /** The connection's socket: corked from the first frame sent in a turn of
   *  the event loop to the end of that turn, so the answers to every write a
   *  Ready applied leave in one write(2) (each is a wakeup of the client, on
   *  a machine whose cores the replicas share). null: every frame is written at once. */
  socket: { cork(): void; uncork(): void } | null;
  onClose(): void;
}

interface LiveSubscription {
  subscription: Subscription;
  encoding: FrameEncoding;
}

const WS_OPEN = 1;

export class ClientConnection {
  private inFlight = 0;
  private readonly inFlightIds = new Set<number>();
  private readonly subscriptions = new Map<number, LiveSubscription>();
  private nextSubscriptionId = 1;
  private closed = false;
  private corked = false;
  private readonly drainWaiters: Array<() => void> = [];
  /** The series handles this connection's client declared (`seriesHandles` of a put). */
  private readonly seriesHandles: SeriesHandleTable;

  constructor(
    private readonly ws: WebSocket,
    private readonly options: ConnectionOptions,
  ) {
    this.seriesHandles = new SeriesHandleTable(options.limits.maxSeriesHandles);
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => this.onFrame(data, isBinary));
    ws.on('close', () => this.onClose());
    ws.on('error', () => ws.terminate());
    this.sendHello();
  }

  get inFlightCount(): number {
    return this.inFlight;
  }

  get subscriptionCount(): number {
    return this.subscriptions.size;
  }

  private sendHello(): void {
    const status = this.options.service.status();
    const limits = this.options.limits;
    this.send(
      {
        push: 'hello',
        protocol: PROTOCOL_VERSION,
        node: status.id,
        leader: status.leader,
        leaderUrl: status.leaderClientUrl,
        access: this.options.access,
        limits: {
          maxFrameBytes: limits.maxFrameBytes,
          maxPointsPerPut: limits.maxPointsPerPut,
          maxInFlightRequests: limits.maxInFlightRequests,
          maxSubscriptions: limits.maxSubscriptionsPerConnection,
          maxSeriesHandles: limits.maxSeriesHandles,
        },
      },
      this.options.defaultEncoding,
    );
  }

  private send(message: unknown, encoding: FrameEncoding): void {
    if (this.closed || this.ws.readyState !== WS_OPEN) return;
    this.corkUntilTurnEnds();
    this.ws.send(encodeFrame(message, encoding), { binary: encoding === 'cbor' }, () => this.maybeWakeDrainWaiters());
  }

  private corkUntilTurnEnds(): void {
    const socket = this.options.socket;
    if (socket === null || this.corked) return;
    this.corked = true;
    socket.cork();
    // process.nextTick runs once the microtask queue is empty: after every
    // answer whose promise settled in this turn has been written.
    process.nextTick(() => {
      this.corked = false;
      socket.uncork();
    });
  }

  private maybeWakeDrainWaiters(): void {
    if (this.drainWaiters.length === 0 || this.ws.bufferedAmount > this.options.limits.maxSubscriptionBufferBytes / 2) return;
    for (const wake of this.drainWaiters.splice(0)) wake();
  }

  private answerError(id: number | null, error: unknown, encoding: FrameEncoding): void {
    this.send({ id, ok: false, error: wireErrorOf(error) }, encoding);
  }

  private onFrame(raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    const bytes = Array.isArray(raw) ? Buffer.concat(raw) : raw instanceof ArrayBuffer ? new Uint8Array(raw) : raw;
    const encoding: FrameEncoding = isBinary ? 'cbor' : 'json';
    const limit = this.options.limits.maxFrameBytes;
    const data: Uint8Array | string = isBinary ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    if (bytes.byteLength > limit) {
      const error = new TsraftError('TSR_ERR_FRAME_TOO_LARGE', `frame of ${bytes.byteLength} bytes exceeds maxFrameBytes (${limit})`, {
        details: { limitBytes: limit, frameBytes: bytes.byteLength },
      });
      this.answerError(peekRequestId(data), error, encoding);
      return;
    }
    const decoded = isBinary ? decodeBinaryFrame(bytes) : decodeTextFrame(data as string, limit);
    if (!decoded.ok) {
      this.answerError(peekRequestId(data), decoded.error, encoding);
      return;
    }
    const msg = decoded.message;
    if (!isRequestId(msg.id)) {
      this.answerError(null, new TsraftError('TSR_ERR_BAD_FRAME', 'a request needs an integer id ≥ 1', { details: { reason: 'bad_id' } }), encoding);
      return;
    }
    const id = msg.id;
    // Before any check that could refuse the request: the client counts on
    // every put it sent having declared its handles.
    if (msg.op === 'put' && msg.seriesHandles !== undefined) this.seriesHandles.declare(msg.seriesHandles, msg.seriesKeys);
    if (this.inFlightIds.has(id)) {
      this.answerError(id, new TsraftError('TSR_ERR_BAD_FRAME', `request id ${id} is already in flight on this connection`, { details: { reason: 'duplicate_id' } }), encoding);
      return;
    }
    if (this.inFlight >= this.options.limits.maxInFlightRequests) {
      const max = this.options.limits.maxInFlightRequests;
      this.answerError(id, new TsraftError('TSR_ERR_TOO_MANY_IN_FLIGHT', `this connection already has ${max} unanswered requests`, { details: { limit: 'maxInFlightRequests', maxInFlightRequests: max } }), encoding);
      return;
    }
    this.run(id, msg, encoding);
  }

  private run(id: number, msg: Record<string, unknown>, encoding: FrameEncoding): void {
    this.inFlight++;
    this.inFlightIds.add(id);
    let answered = false;
    const answer = (message: unknown): void => {
      if (answered) return;
      answered = true;
      this.inFlightIds.delete(id);
      this.send(message, encoding);
    };
    const timeoutMs = this.options.limits.requestTimeoutMs;
    const cancelTimer = this.options.clock.setTimer(timeoutMs, () => {
      answer({ id, ok: false, error: wireErrorOf(new TsraftError('TSR_ERR_TIMEOUT', `request ${id} was not answered within ${timeoutMs} ms; its outcome is unknown`, { details: { timeoutMs } })) });
    });
    let work: Promise<unknown>;
    try {
      work = this.dispatch(id, msg, encoding);
    } catch (error) {
      work = Promise.reject(error);
    }
    work.then(
      (result) => answer({ id, ok: true, result: result ?? {} }),
      (error: unknown) => {
        if (!(error instanceof TsraftError)) rethrowIfBugAsync(error);
        answer({ id, ok: false, error: wireErrorOf(error) });
      },
    ).finally(() => {
      // The slot stays taken until the work really ends, even after a
      // timeout answer, so slow work cannot pile up without bound.
      cancelTimer();
      this.inFlight--;
      assert(this.inFlight >= 0 && this.inFlight >= this.inFlightIds.size, 'in-flight count below the ids waiting for answers');
    });
  }

  private dispatch(id: number, msg: Record<string, unknown>, encoding: FrameEncoding): Promise<unknown> {
    const op = msg.op;
    if (op === 'subscribe') return Promise.resolve(this.subscribe(msg, encoding));
    if (op === 'unsubscribe') return Promise.resolve(this.unsubscribe(msg));
    const handler = typeof op === 'string' ? this.options.operations.get(op) : undefined;
    if (handler === undefined) {
      const shown = describeValue(op);
      throw new TsraftError('TSR_ERR_UNKNOWN_OPERATION', `unknown operation ${JSON.stringify(shown)}`, { details: { op: shown } });
    }
    const ctx: OperationContext = {
      service: this.options.service,
      clock: this.options.clock,
      limits: this.options.limits,
      access: this.options.access,
      sendPartial: (value) => this.send({ id, partial: value }, encoding),
      drained: () => this.drained(),
      seriesHandles: this.seriesHandles,
    };
    return handler(msg, ctx);
  }

  private drained(): Promise<void> {
    if (this.closed) return Promise.reject(new TsraftError('TSR_ERR_CONNECTION_LOST', 'the client connection closed', { details: {} }));
    if (this.ws.bufferedAmount <= this.options.limits.maxSubscriptionBufferBytes / 2) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private subscribe(msg: Record<string, unknown>, encoding: FrameEncoding): unknown {
    const max = this.options.limits.maxSubscriptionsPerConnection;
    if (this.subscriptions.size >= max) {
      throw new TsraftError('TSR_ERR_TOO_MANY_SUBSCRIPTIONS', `this connection already holds ${max} subscriptions`, { details: { limit: 'maxSubscriptions', maxSubscriptions: max } });
    }
    const spec = parseSubscriptionSpec(msg);
    const sub = this.nextSubscriptionId++;
    assert(!this.subscriptions.has(sub), `subscription id ${sub} reused`);
    const subscription = this.options.service.subscribe(spec, {
      onPoints: (points, logIndex) => this.pushPoints(sub, points, logIndex),
      onEnd: (error) => this.endSubscription(sub, error),
    });
    this.subscriptions.set(sub, { subscription, encoding });
    return { sub };
  }

  private unsubscribe(msg: Record<string, unknown>): unknown {
    const sub = msg.sub;
    if (typeof sub !== 'number' || !this.subscriptions.has(sub)) {
      throw new TsraftError('TSR_ERR_NOT_FOUND', `no subscription ${describeValue(sub)} on this connection`, { details: { sub: describeValue(sub) } });
    }
    this.subscriptions.get(sub)!.subscription.close();
    this.subscriptions.delete(sub);
    return {};
  }

  private pushPoints(sub: number, points: LivePoint[], logIndex: number): void {
    const live = this.subscriptions.get(sub);
    if (live === undefined) return;
    if (this.ws.bufferedAmount > this.options.limits.maxSubscriptionBufferBytes) {
      this.endSubscription(
        sub,
        new TsraftError('TSR_ERR_SUBSCRIPTION_OVERFLOW', `subscription ${sub} ended: the client reads too slowly (send buffer over ${this.options.limits.maxSubscriptionBufferBytes} bytes)`, {
          details: { sub, lastIndex: logIndex - 1 },
        }),
      );
      return;
    }
    this.send(
      { push: 'points', sub, index: logIndex, points: points.map((p) => ({ metric: p.metric, tags: p.tags, timestamp: p.timestampMs, value: p.value })) },
      live.encoding,
    );
  }

  private endSubscription(sub: number, error: Error): void {
    const live = this.subscriptions.get(sub);
    if (live === undefined) return;
    live.subscription.close();
    this.subscriptions.delete(sub);
    this.send({ push: 'end', sub, error: wireErrorOf(error) }, live.encoding);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const live of this.subscriptions.values()) live.subscription.close();
    this.subscriptions.clear();
    for (const wake of this.drainWaiters.splice(0)) wake();
    this.options.onClose();
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }
}

/** A non-TsraftError rejection: re-throw bugs outside the promise chain so
 *  they crash loudly instead of becoming an answer. */
function rethrowIfBugAsync(error: unknown): void {
  try {
    rethrowIfBug(error);
  } catch (bug) {
    queueMicrotask(() => {
      throw bug;
    });
  }
}

export { invalidArgument };
