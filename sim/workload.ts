// The clients. Each writes batches of points and runs linearizable reads at
// any node (followers serve reads too), one operation at a time, as a real
// client library would: a per-attempt timeout, following NOT_LEADER hints,
// backing off on NO_LEADER, and retrying a write whose outcome is unknown
// with the same client id and sequence number (the state machine's sessions
// make the retry exactly-once).
//
// A write is a put request on the client's connection to the node
// (client-connection.ts): the node runs the production write path on it
// (ws-operations put → ReplicatedTsdbService → encodePut, series by id →
// WriteCoalescer → propose; stale_series → again by key). Clients start
// their operations on a shared grid of virtual time and requests travel a
// fixed time, so the writes of several clients often reach the leader in the
// same instant and are coalesced into one `writes` entry.
import { isTsraftError, rethrowIfBug, TsraftError } from '../src/errors.js';
import type { PutResult } from '../src/api/service.js';
import type { NodeId } from '../src/raft/types.js';
import { MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, seriesKeyOf } from '../src/tsdb/validate.js';
import type { SeededPrng } from '../src/util/prng.js';
import type { Violations } from './checkers/violations.js';
import { SimConnection } from './client-connection.js';
import { History, METRICS, type WriteOp } from './history.js';
import type { SimNode } from './node.js';
import type { Scheduler } from './scheduler.js';
import type { Trace } from './trace.js';

/** Client-side timeout of one attempt (the client library's request timeout). */
export const ATTEMPT_TIMEOUT_MS = 2_000;
/** A write is given up (outcome unknown) after this long. */
export const WRITE_DEADLINE_MS = 20_000;
/** Fraction of operations that are writes. */
const WRITE_FRACTION = 0.55;
/** Clients start operations on this grid of virtual time (as collectors
 *  flush on aligned intervals), so several often start in the same instant. */
export const OPERATION_GRID_MS = 100;
/** A request reaches its node this long after it leaves, virtual ms, the
 *  same for every client: requests sent together arrive together. Answers
 *  travel 0.5–2 ms. */
const REQUEST_TRAVEL_MS = 1;

export interface WorkloadWorld {
  scheduler: Scheduler;
  history: History;
  violations: Violations;
  trace: Trace;
  nodes: readonly SimNode[];
  /** Ops still to issue; clients stop when it reaches 0 or issuing stops. */
  opsRemaining: number;
  issuing: boolean;
  /** Mean virtual ms a client waits between operations. */
  thinkMs: number;
}

type Attempt<T> = { ok: true; value: T } | { ok: false; error: unknown };

export class SimClient {
  private sequence = 0;
  private leaderGuess: NodeId | null = null;
  /** The client's session id: its name, then a new one after a session expired. */
  clientId: string;
  private sessionsStarted = 1;
  /** One connection per node, for as long as the node's process lives. */
  private readonly connections = new Map<NodeId, SimConnection>();
  /** The client's current operation has finished (or it never started one). */
  idle = true;
  failedOps = 0;

  constructor(
    private readonly world: WorkloadWorld,
    readonly name: string,
    private readonly prng: SeededPrng,
  ) {
    this.clientId = name;
  }

  async run(): Promise<void> {
    const w = this.world;
    const s = w.scheduler;
    while (w.issuing && w.opsRemaining > 0) {
      const wakeMs = Math.round((s.nowMs + w.thinkMs * (0.5 + this.prng.nextFloat())) / OPERATION_GRID_MS) * OPERATION_GRID_MS;
      await s.sleep(wakeMs - s.nowMs);
      if (!w.issuing || w.opsRemaining <= 0) break;
      w.opsRemaining--;
      this.idle = false;
      if (this.prng.chance(WRITE_FRACTION)) await this.write();
      else await this.read();
      this.idle = true;
    }
  }

  /** Write a fresh batch of points; resolves once acknowledged or given up. */
  async write(): Promise<WriteOp> {
    const w = this.world;
    const sequence = ++this.sequence;
    const points = History.generatePoints(this.prng, w.history.writes.length + 1);
    const op = w.history.newWrite(this.clientId, sequence, points, w.scheduler.nowMs);
    const session = { clientId: this.clientId, sequence, firstUnackedSequence: sequence };
    const deadline = op.invokeMs + WRITE_DEADLINE_MS;
    w.trace.record('client', `${this.clientId} write#${op.writeId} seq=${sequence} n=${points.length}`);
    while (w.scheduler.nowMs < deadline) {
      const node = this.pickNode(true);
      if (node === null) {
        await w.scheduler.sleep(100);
        continue;
      }
      op.attempts++;
      let attempt: Attempt<PutResult>;
      if (node.running) {
        const connection = this.connectionTo(node);
        const request = connection.putRequest(points, session);
        attempt = await this.attempt(node, () => connection.serve(request));
      } else {
        // The leader named by a NOT_LEADER answer is down: connecting fails.
        await w.scheduler.sleep(REQUEST_TRAVEL_MS);
        attempt = { ok: false, error: CONNECTION_REFUSED };
      }
      if (attempt.ok) {
        op.outcome = 'ok';
        op.ackMs = w.scheduler.nowMs;
        this.leaderGuess = node.id;
        this.checkStored(op, attempt.value);
        w.trace.record('client', `${this.clientId} write#${op.writeId} ok via ${node.id}${attempt.value.duplicate ? ' dup' : ''}`);
        return op;
      }
      if (isTsraftError(attempt.error) && attempt.error.code === 'TSR_ERR_SESSION_EXPIRED') {
        // The session no longer knows whether this write was applied: its
        // outcome stays unknown, and the client starts a new session.
        op.outcome = 'unknown';
        this.failedOps++;
        this.newSession();
        w.trace.record('client', `${op.clientId} write#${op.writeId} session expired`);
        return op;
      }
      await this.afterFailure(attempt.error, node);
    }
    op.outcome = 'unknown';
    this.failedOps++;
    w.trace.record('client', `${this.clientId} write#${op.writeId} gave up`);
    return op;
  }

  /** One linearizable read of a metric at some node; returns whether it was served. */
  async read(at?: SimNode): Promise<boolean> {
    const w = this.world;
    const metric = METRICS[this.prng.nextInt(METRICS.length)]!;
    const node = at ?? this.pickNode(false);
    if (node === null) return false;
    const invokeMs = w.scheduler.nowMs;
    // The state is read in the barrier's continuation, at the node, before the answer travels back.
    const attempt = await this.attempt(node, () => node.replica!.readBarrier().then((index) => ({ index, result: readMetric(node, metric) })));
    if (!attempt.ok) {
      w.history.failedReads++;
      await this.afterFailure(attempt.error, node);
      return false;
    }
    w.history.addRead({ clientId: this.clientId, node: node.id, metric, invokeMs, respondMs: w.scheduler.nowMs, servedAtIndex: attempt.value.index, result: attempt.value.result });
    return true;
  }

  /** Every point of an acknowledged write is stored (they are all valid). */
  private checkStored(op: WriteOp, result: PutResult): void {
    if (result.success === op.points.length && result.failed === 0) return;
    this.world.violations.report('durability', `write ${op.writeId} (${op.clientId}#${op.sequence}) was acknowledged with ${result.success} of ${op.points.length} points stored`, {
      writeId: op.writeId,
      errors: result.errors.slice(0, 3),
    });
  }

  private newSession(): void {
    this.clientId = `${this.name}.${++this.sessionsStarted}`;
    this.sequence = 0;
  }

  /** The open connection to `node`'s process (a new one after it restarted). */
  private connectionTo(node: SimNode): SimConnection {
    let connection = this.connections.get(node.id);
    if (connection === undefined || !connection.open) {
      connection = new SimConnection(node);
      this.connections.set(node.id, connection);
    }
    return connection;
  }

  /** A random running node, or with `preferLeader` the leader last heard
   *  of, even when it is down (the client library, too, tries the leader
   *  it was told of, and backs off when that fails). */
  private pickNode(preferLeader: boolean): SimNode | null {
    if (preferLeader && this.leaderGuess !== null) {
      const guess = this.world.nodes.find((n) => n.id === this.leaderGuess);
      if (guess !== undefined) return guess;
    }
    const running = this.world.nodes.filter((n) => n.running);
    if (running.length === 0) return null;
    return running[this.prng.nextInt(running.length)]!;
  }

  private async afterFailure(error: unknown, node: SimNode): Promise<void> {
    rethrowIfBug(error);
    const s = this.world.scheduler;
    if (error === CLIENT_TIMEOUT) {
      this.leaderGuess = null;
      return;
    }
    if (!isTsraftError(error)) throw error;
    switch (error.code) {
      case 'TSR_ERR_NOT_LEADER': {
        const leader = (error.details as { leader?: NodeId | null }).leader ?? null;
        this.leaderGuess = leader !== node.id ? leader : null;
        // With a hint, go there at once; without one (an election is under
        // way) back off, as NO_LEADER (the client library does the same).
        if (this.leaderGuess === null) await s.sleep(50 + this.prng.nextInt(150));
        return;
      }
      case 'TSR_ERR_NO_LEADER':
      case 'TSR_ERR_TRANSFER_IN_PROGRESS':
      case 'TSR_ERR_PROPOSAL_BACKPRESSURE':
      case 'TSR_ERR_TOO_MANY_PENDING_READS':
      case 'TSR_ERR_READ_INDEX_FAILED':
      case 'TSR_ERR_SHUTTING_DOWN':
      case 'TSR_ERR_LEADERSHIP_LOST':
      case 'TSR_ERR_TIMEOUT':
        this.leaderGuess = null;
        await s.sleep(50 + this.prng.nextInt(150));
        return;
      default:
        this.world.violations.report('liveness', `client ${this.clientId} got an unexpected error from ${node.id}: ${error.code} ${error.message}`, { code: error.code });
        await s.sleep(200);
    }
  }

  /** One request to `node`: it travels there, runs `operation` (unless the
   *  process is gone: connection refused), and the answer travels back. Raced
   *  against the client-side timeout, since a crashed node never answers. */
  private async attempt<T>(node: SimNode, operation: () => Promise<T>): Promise<Attempt<T>> {
    const s = this.world.scheduler;
    const incarnation = node.incarnation;
    await s.sleep(REQUEST_TRAVEL_MS);
    if (!node.running || node.incarnation !== incarnation) return { ok: false, error: CONNECTION_REFUSED };
    const outcome = await new Promise<Attempt<T>>((resolve) => {
      let settled = false;
      const cancel = s.after(ATTEMPT_TIMEOUT_MS, () => {
        if (settled) return;
        settled = true;
        resolve({ ok: false, error: CLIENT_TIMEOUT });
      });
      operation().then(
        (value) => {
          if (settled) return;
          settled = true;
          cancel();
          resolve({ ok: true, value });
        },
        (error: unknown) => {
          if (settled) return;
          settled = true;
          cancel();
          resolve({ ok: false, error });
        },
      );
    });
    if (outcome.ok || outcome.error !== CLIENT_TIMEOUT) await s.sleep(this.oneWayMs());
    return outcome;
  }

  private oneWayMs(): number {
    return 0.5 + this.prng.nextFloat() * 1.5;
  }
}

const CLIENT_TIMEOUT = new TsraftError('TSR_ERR_TIMEOUT', 'client-side attempt timeout');
const CONNECTION_REFUSED = new TsraftError('TSR_ERR_SHUTTING_DOWN', 'connection refused: the node is down');

/** The points of every series of `metric` in the node's state machine now. */
function readMetric(node: SimNode, metric: string): Record<string, Array<[number, number]>> {
  const sm = node.sm!.machine;
  const result: Record<string, Array<[number, number]>> = {};
  for (const info of sm.seriesOfMetric(metric)) {
    const cols = sm.readPoints(info.id, MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS);
    const pairs: Array<[number, number]> = [];
    for (let i = 0; i < cols.length; i++) pairs.push([cols.timestampsMs[i]!, cols.values[i]!]);
    if (pairs.length > 0) result[seriesKeyOf(info.metric, info.tags)] = pairs;
  }
  return result;
}
