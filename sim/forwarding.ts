// Follower forwarding over the simulated network. A sim node's
// ReplicatedTsdbService runs the real LeaderForwarder (src/api/leader-forwarder.ts:
// its connection cache, the forwarded frame, NO_LEADER when the leader
// cannot be reached); this file gives it the connections (its
// ForwardConnectionOpener). A connection is a WebSocket from one process of
// the follower to one process of the leader:
//
// - opening: a handshake round trip (the hello); a node without a process
//   refuses it (connection lost), a lost frame leaves it to the connect timeout;
// - a request is the real binary client frame (src/api/protocol.ts), carried
//   by SimNetwork.carry (delay, loss, partitions, wiped senders), run at the
//   leader through the `put` operation (src/api/ws-operations.ts) of a
//   per-connection context, as the leader's WebSocket server would, once
//   the leader is not paused; the answer travels back the same way;
// - timeouts and the in-flight bound are the client library's Connection's:
//   TSR_ERR_TIMEOUT after the deadline (the outcome is unknown), and
//   TSR_ERR_TOO_MANY_IN_FLIGHT beyond maxInFlight;
// - a frame reaching a restarted leader process is answered by a reset
//   (TSR_ERR_CONNECTION_LOST for every waiting request); one reaching a node
//   without a process is lost (a machine that lost power sends no reset);
// - when the follower's process dies its requests die with it, unanswered.
import { TsraftError, assert } from '../src/errors.js';
import { errorFromWire } from '../src/client/connection.js';
import { toWebSocketUrl } from '../src/client/endpoints.js';
import type { ForwardConnection, ForwardConnectionOpener } from '../src/api/leader-forwarder.js';
import { DEFAULT_CLIENT_API_LIMITS } from '../src/api/limits.js';
import { decodeBinaryFrame, encodeBinaryFrame, wireErrorOf, type WireError } from '../src/api/protocol.js';
import { SeriesHandleTable } from '../src/api/series-handles.js';
import type { PutResult } from '../src/api/service.js';
import { BUILT_IN_OPERATIONS, type OperationContext } from '../src/api/ws-operations.js';
import type { NodeId } from '../src/raft/types.js';
import { gated, type EventGate } from './clock.js';
import type { FrameStream, SimNetwork } from './network.js';
import type { SimNode } from './node.js';
import type { Scheduler } from './scheduler.js';
import type { Trace } from './trace.js';

const PUT = BUILT_IN_OPERATIONS.get('put')!;

/** Deadline of one forwarded put in the simulator, ms: below the clients'
 *  attempt timeout (2 s), so a forwarding timeout reaches the client as
 *  TSR_ERR_TIMEOUT (outcome unknown) and is retried with the same session. */
export const SIM_FORWARD_TIMEOUT_MS = 1_500;
/** Forwarded puts waiting on one follower → leader connection in the
 *  simulator: small, so pipelining clients sometimes reach it. */
export const SIM_MAX_FORWARDED_IN_FLIGHT = 8;

/** What forwarding did in a run (SeedResult counters). */
export interface ForwardingStats {
  /** Forwarded put requests sent by followers. */
  forwardedPuts: number;
  /** Forwarded puts answered (by a node that was no longer leader) with NOT_LEADER. */
  forwardedNotLeader: number;
  /** Forwarded puts that reached their deadline unanswered. */
  forwardTimeouts: number;
  /** Forwarded puts refused by the connection's in-flight bound. */
  forwardInFlightRefused: number;
  /** Forwarded puts that reached the leader in the same instant as another
   *  client's on the same connection (so the leader's coalescer may put
   *  them in one `writes` entry). */
  forwardedTogether: number;
  /** Connections opened, and those that failed or broke. */
  forwardConnections: number;
  forwardConnectionsLost: number;
}

export function emptyForwardingStats(): ForwardingStats {
  return { forwardedPuts: 0, forwardedNotLeader: 0, forwardTimeouts: 0, forwardInFlightRefused: 0, forwardedTogether: 0, forwardConnections: 0, forwardConnectionsLost: 0 };
}

/** Planted bugs in the follower's forwarding (write-path-bugs.ts describes them). */
export interface ForwardingBugs {
  forwardWithoutSession: boolean;
  forwardAckEarly: boolean;
}

export interface ForwardingWorld {
  scheduler: Scheduler;
  network: SimNetwork;
  trace: Trace;
  stats: ForwardingStats;
  bugs: ForwardingBugs;
  /** The node whose client WebSocket URL is `url`. */
  nodeAtUrl(url: string): SimNode | undefined;
}

/** One process of a node, as one end of a connection sees it. */
export interface ProcessEnd {
  node: SimNode;
  incarnation: number;
  gate: EventGate;
}

function currentProcess(node: SimNode): ProcessEnd | null {
  if (node.life !== 'up' || node.gate === null || node.clientService === null || node.clock === null) return null;
  return { node, incarnation: node.incarnation, gate: node.gate };
}

function alive(end: ProcessEnd): boolean {
  return end.node.incarnation === end.incarnation && end.node.life === 'up';
}

/** The opener a follower's process (`follower`) gives its LeaderForwarder. */
export function forwardConnectionOpener(world: ForwardingWorld, follower: ProcessEnd): ForwardConnectionOpener {
  return (url, options) => {
    assert(alive(follower) && follower.node.clock !== null, `${follower.node.id} opens a forwarding connection from a process that ended`);
    return openForwardConnection(world, follower, url, options.connectTimeoutMs, options.maxInFlight);
  };
}

function openForwardConnection(world: ForwardingWorld, follower: ProcessEnd, url: string, connectTimeoutMs: number, maxInFlight: number): Promise<ForwardConnection> {
  const target = world.nodeAtUrl(url);
  const clock = follower.node.clock!;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      cancelTimer();
      outcome();
    };
    const cancelTimer = clock.setTimer(connectTimeoutMs, () =>
      settle(() => {
        world.stats.forwardConnectionsLost++;
        reject(new TsraftError('TSR_ERR_TIMEOUT', `no hello from ${url} within ${connectTimeoutMs} ms`, { details: { url } }));
      }),
    );
    if (target === undefined) {
      // No such host: the name does not resolve.
      settle(() => reject(connectionLost(url, 'no such host')));
      return;
    }
    const refused = (): void =>
      settle(() => {
        world.stats.forwardConnectionsLost++;
        reject(connectionLost(url, 'connection refused'));
      });
    world.network.carry(follower.node.id, target.id, () => {
      const leader = currentProcess(target);
      if (leader === null) {
        // Nothing listens: a machine without power answers nothing; a
        // process starting up (life up, no service yet) refuses.
        if (target.life === 'up') world.network.carry(target.id, follower.node.id, () => answerAt(follower, world.scheduler, refused));
        return;
      }
      gated(world.scheduler, leader.gate, () => {
        world.network.carry(target.id, follower.node.id, () =>
          answerAt(follower, world.scheduler, () =>
            settle(() => {
              world.stats.forwardConnections++;
              resolve(new SimForwardConnection(world, follower, leader, url, maxInFlight));
            }),
          ),
        );
      })();
    });
  });
}

/** Runs `fn` at the follower's process when it is not paused; never if it died. */
function answerAt(follower: ProcessEnd, scheduler: Scheduler, fn: () => void): void {
  gated(scheduler, follower.gate, fn)();
}

function connectionLost(url: string, why: string): TsraftError {
  return new TsraftError('TSR_ERR_CONNECTION_LOST', `connection to ${url} lost: ${why}`, { details: { url } });
}

interface Waiter {
  resolve(value: unknown): void;
  reject(error: TsraftError): void;
  cancelTimer(): void;
}

class SimForwardConnection implements ForwardConnection {
  private readonly waiters = new Map<number, Waiter>();
  private nextId = 1;
  private closedError: TsraftError | null = null;
  private readonly closeListeners: Array<(error: TsraftError) => void> = [];
  /** The leader's end: its handles and its `put` operation over its service. */
  private readonly leaderContext: OperationContext;
  /** Frames to the leader and back: each direction in order. */
  private readonly toLeader: FrameStream = { lastSentMs: -1, lastArrivalMs: 0 };
  private readonly toFollower: FrameStream = { lastSentMs: -1, lastArrivalMs: 0 };
  /** When the leader last began a forwarded put of this connection, and whose. */
  private lastServedMs = -1;
  private lastServedClientId: unknown = undefined;

  constructor(
    private readonly world: ForwardingWorld,
    private readonly follower: ProcessEnd,
    private readonly leader: ProcessEnd,
    private readonly url: string,
    private readonly maxInFlight: number,
  ) {
    const node = leader.node;
    this.leaderContext = {
      service: node.clientService!,
      clock: node.clock!,
      limits: DEFAULT_CLIENT_API_LIMITS,
      access: 'read-write',
      sendPartial: () => {},
      drained: () => Promise.resolve(),
      seriesHandles: new SeriesHandleTable(DEFAULT_CLIENT_API_LIMITS.maxSeriesHandles),
    };
  }

  private get from(): NodeId {
    return this.follower.node.id;
  }

  private get to(): NodeId {
    return this.leader.node.id;
  }

  request(message: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    if (this.closedError !== null) return Promise.reject(this.closedError);
    if (this.waiters.size >= this.maxInFlight) {
      this.world.stats.forwardInFlightRefused++;
      return Promise.reject(new TsraftError('TSR_ERR_TOO_MANY_IN_FLIGHT', `${this.maxInFlight} requests already wait on ${this.url}`, { details: { limit: 'maxInFlightRequests' } }));
    }
    const bugs = this.world.bugs;
    if (bugs.forwardWithoutSession) {
      message = { ...message };
      delete message.clientId;
      delete message.seq;
      delete message.firstUnacked;
    }
    const id = this.nextId++;
    assert(!this.waiters.has(id), `forwarded request id ${id} reused`);
    this.world.stats.forwardedPuts++;
    const frame = encodeBinaryFrame({ ...message, id });
    this.world.trace.record('forward', `${this.from}->${this.to} #${id} ${String(message.clientId ?? '-')}#${String(message.seq ?? '-')}`);
    const answer = new Promise<unknown>((resolve, reject) => {
      const cancelTimer = this.follower.node.clock!.setTimer(timeoutMs, () => {
        this.waiters.delete(id);
        this.world.stats.forwardTimeouts++;
        reject(new TsraftError('TSR_ERR_TIMEOUT', `no answer from ${this.url} within ${timeoutMs} ms; the outcome is unknown`, { details: { url: this.url, timeoutMs } }));
      });
      this.waiters.set(id, { resolve, reject, cancelTimer });
    });
    this.world.network.carry(this.from, this.to, () => this.arriveAtLeader(frame), this.toLeader);
    if (bugs.forwardAckEarly) {
      // The planted bug: the follower answers success once the put has left.
      answer.catch(() => undefined);
      return Promise.resolve(successOf(message));
    }
    return answer;
  }

  /** The leader's side: a reset from a restarted process, the `put` operation otherwise. */
  private arriveAtLeader(frame: Uint8Array): void {
    if (!alive(this.leader)) {
      if (this.leader.node.life === 'up') {
        this.world.network.carry(this.to, this.from, () => answerAt(this.follower, this.world.scheduler, () => this.onClosed(connectionLost(this.url, 'reset by peer'))), this.toFollower);
      }
      return;
    }
    gated(this.world.scheduler, this.leader.gate, () => {
      const decoded = decodeBinaryFrame(frame);
      assert(decoded.ok, `a forwarded frame the leader cannot decode: ${decoded.ok ? '' : decoded.error.message}`);
      const request = decoded.message;
      const now = this.world.scheduler.nowMs;
      if (now === this.lastServedMs && request.clientId !== this.lastServedClientId) this.world.stats.forwardedTogether++;
      this.lastServedMs = now;
      this.lastServedClientId = request.clientId;
      PUT(request, this.leaderContext).then(
        (result) => this.answer({ id: request.id, ok: true, result }),
        (error: unknown) => this.answer({ id: request.id, ok: false, error: wireErrorOf(error) }),
      );
    })();
  }

  /** The leader's answer travels back (if the leader's process still lives). */
  private answer(message: Record<string, unknown>): void {
    if (!alive(this.leader)) return;
    const frame = encodeBinaryFrame(message);
    this.world.network.carry(this.to, this.from, () => answerAt(this.follower, this.world.scheduler, () => this.onAnswer(frame)), this.toFollower);
  }

  private onAnswer(frame: Uint8Array): void {
    const decoded = decodeBinaryFrame(frame);
    assert(decoded.ok, `a forwarded answer the follower cannot decode: ${decoded.ok ? '' : decoded.error.message}`);
    const msg = decoded.message;
    const waiter = typeof msg.id === 'number' ? this.waiters.get(msg.id) : undefined;
    if (waiter === undefined) return; // answered after its timeout, or the connection closed
    this.waiters.delete(msg.id as number);
    waiter.cancelTimer();
    if (msg.ok === true) {
      waiter.resolve(msg.result);
      return;
    }
    const error = errorFromWire(msg.error as WireError | undefined);
    if (error.code === 'TSR_ERR_NOT_LEADER') this.world.stats.forwardedNotLeader++;
    waiter.reject(error);
  }

  close(): void {
    // A follower process that died answers nothing: its requests end unanswered.
    if (!alive(this.follower)) {
      this.closedError ??= connectionLost(this.url, 'the process ended');
      for (const waiter of this.waiters.values()) waiter.cancelTimer();
      this.waiters.clear();
      return;
    }
    this.onClosed(new TsraftError('TSR_ERR_CLIENT_CLOSED', `connection to ${this.url} closed by the client`, { details: { url: this.url } }));
  }

  addCloseListener(listener: (error: TsraftError) => void): void {
    if (this.closedError !== null) listener(this.closedError);
    else this.closeListeners.push(listener);
  }

  private onClosed(error: TsraftError): void {
    if (this.closedError !== null) return;
    this.closedError = error;
    if (error.code === 'TSR_ERR_CONNECTION_LOST') this.world.stats.forwardConnectionsLost++;
    for (const waiter of this.waiters.values()) {
      waiter.cancelTimer();
      waiter.reject(error);
    }
    this.waiters.clear();
    for (const listener of this.closeListeners.splice(0)) listener(error);
  }
}

/** The answer a follower with the forward-ack-early bug makes up. */
function successOf(message: Record<string, unknown>): PutResult {
  const timestamps = message.timestamps as ArrayLike<number> | undefined;
  const points = message.points as readonly unknown[] | undefined;
  return { success: timestamps?.length ?? points?.length ?? 0, failed: 0, errors: [], duplicate: false };
}

/** The client WebSocket URL of a node (how forwarders name the leader). */
export function clientUrlOf(node: SimNode): string {
  return toWebSocketUrl(node.url);
}
