// The clients. Each writes batches of points and reads a metric at any node
// (followers serve reads too), as a real client library would: a
// per-attempt timeout, following NOT_LEADER hints, backing off on
// NO_LEADER, and retrying a write whose outcome is unknown with the same
// client id and sequence number (the state machine's sessions make the
// retry exactly-once).
//
// Pipelining (as src/client/client.ts): a client keeps up to its pipeline
// depth (1–4, drawn per client from the seed) writes in flight on one
// session, each with its own sequence number and `firstUnacked` = the
// lowest sequence of the session without an answer (1 until the session
// has had one successful answer). A write that ends, acknowledged or given
// up, stops holding `firstUnacked` back, so the cluster forgets its result.
// Half the clients (drawn per client from the seed) send every write
// attempt to a random running node instead of the leader they heard of,
// as a client behind a load balancer does: a follower forwards it to the
// leader (sim/forwarding.ts), so forwarded puts of several clients share
// the follower's connection and the leader's `writes` entries.
//
// Writes are issued in bursts of up to the depth, sent in one instant, so
// retries of an earlier sequence regularly arrive after later sequences
// were applied. Each write keeps the session it was issued under for all
// its retries (the client library instead re-reads the client's current id:
// see docs/simulator.md, "Limits").
//
// A write is a put request on the client's connection to the node
// (client-connection.ts): the node runs the production write path on it
// (ws-operations put → ReplicatedTsdbService → encodePut, series by id →
// WriteCoalescer → propose; stale_series → again by key). A read is the
// `query` operation on that connection (an OpenTSDB m-query, `none`
// aggregator: every series alone, over all the workload's timestamps) →
// ReplicatedTsdbService.query → the read barrier (linearizable, or stale:
// the node's state at once) → the query engine. Clients start their
// operations on a shared grid of virtual time and requests travel a fixed
// time, so the writes of several clients often reach the leader in the
// same instant and are coalesced into one `writes` entry.
import { assert, isTsraftError, rethrowIfBug, TsraftError } from '../src/errors.js';
import type { PutResult } from '../src/api/service.js';
import type { NodeId } from '../src/raft/types.js';
import { Backoff } from '../src/transport/backoff.js';
import { seriesKeyOf } from '../src/tsdb/validate.js';
import type { SeededPrng } from '../src/util/prng.js';
import type { Violations } from './checkers/violations.js';
import { SimConnection, type WireQueryResult } from './client-connection.js';
import { FIRST_TIMESTAMP_MS, History, LAST_TIMESTAMP_MS, METRICS, type ReadConsistency, type WriteOp } from './history.js';
import type { SimNode } from './node.js';
import type { Scheduler } from './scheduler.js';
import type { Trace } from './trace.js';

/** Client-side timeout of one attempt (the client library's request timeout). */
export const ATTEMPT_TIMEOUT_MS = 2_000;
/** A write is given up (outcome unknown) after this long. */
export const WRITE_DEADLINE_MS = 20_000;
/** The client library's retry backoff (ConnectOptions min/maxBackoffMs defaults). */
const WRITE_MIN_BACKOFF_MS = 25;
const WRITE_MAX_BACKOFF_MS = 1_000;
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

/** Most writes one client keeps in flight on its session. */
export const MAX_PIPELINE_DEPTH = 4;
/** A client waits this long for a burst's answers before going on with
 *  writes still in flight, virtual ms. */
const BURST_WAIT_MS = 1_000;
/** Fraction of reads asked for with consistency 'stale'. */
const STALE_READ_FRACTION = 0.15;
/** Fraction of clients that send writes to any node (followers forward them). */
const WRITES_ANYWHERE_FRACTION = 0.5;

/** One exactly-once session of a client (the client library's id, next
 *  sequence, outstanding sequences and "has had an answer"). */
interface ClientSession {
  readonly clientId: string;
  nextSequence: number;
  /** Sequences issued and not yet ended (acknowledged or given up). */
  readonly outstanding: Set<number>;
  /** A put of this session was answered with success: `firstUnacked` may
   *  leave 1 (the session exists in the cluster). */
  established: boolean;
}

/** What a client did (SeedResult counters). */
export interface ClientStats {
  /** Writes issued while another of their session's was outstanding. */
  pipelinedWrites: number;
  /** Most writes of one session outstanding at once. */
  maxInFlight: number;
  /** Attempts of a write after its first (same client id and sequence). */
  writeRetries: number;
  /** Answers TSR_ERR_SESSION_EXPIRED. */
  sessionsExpired: number;
  /** Writes issued by a client that sends writes to any node. */
  anywhereWrites: number;
}

export class SimClient {
  private leaderGuess: NodeId | null = null;
  private session: ClientSession;
  private sessionsStarted = 1;
  /** One connection per node, for as long as the node's process lives. */
  private readonly connections = new Map<NodeId, SimConnection>();
  /** Writes this client keeps in flight at most (the application's concurrency). */
  readonly pipelineDepth: number;
  /** Writes go to a random running node, not to the leader heard of. */
  readonly writesAnywhere: boolean;
  private writesInFlight = 0;
  private slotWaiters: Array<() => void> = [];
  /** The run loop is inside an operation (a read, or waiting for a write slot). */
  private busy = false;
  failedOps = 0;
  readonly stats: ClientStats = { pipelinedWrites: 0, maxInFlight: 0, writeRetries: 0, sessionsExpired: 0, anywhereWrites: 0 };

  constructor(
    private readonly world: WorkloadWorld,
    readonly name: string,
    private readonly prng: SeededPrng,
    pipelineDepth = 1 + prng.nextInt(MAX_PIPELINE_DEPTH),
  ) {
    assert(pipelineDepth >= 1 && pipelineDepth <= MAX_PIPELINE_DEPTH, `pipeline depth ${pipelineDepth}`);
    this.pipelineDepth = pipelineDepth;
    this.writesAnywhere = prng.chance(WRITES_ANYWHERE_FRACTION);
    this.session = newClientSession(name);
  }

  /** The client's current session id (a new one after a session expired). */
  get clientId(): string {
    return this.session.clientId;
  }

  /** No operation of this client is running and no write is in flight. */
  get idle(): boolean {
    return !this.busy && this.writesInFlight === 0;
  }

  async run(): Promise<void> {
    const w = this.world;
    const s = w.scheduler;
    // Paced by operations: after a burst of n writes the client thinks n times as long.
    let lastOps = 1;
    while (w.issuing && w.opsRemaining > 0) {
      const wakeMs = Math.round((s.nowMs + w.thinkMs * lastOps * (0.5 + this.prng.nextFloat())) / OPERATION_GRID_MS) * OPERATION_GRID_MS;
      await s.sleep(wakeMs - s.nowMs);
      if (!w.issuing || w.opsRemaining <= 0) break;
      this.busy = true;
      if (this.prng.chance(WRITE_FRACTION)) {
        // A burst of puts sent together (a collector flushing several
        // batches), each one operation of the budget.
        const burst = 1 + this.prng.nextInt(this.pipelineDepth);
        const sent: Array<Promise<WriteOp>> = [];
        for (let b = 0; b < burst && w.issuing && w.opsRemaining > 0; b++) {
          if (this.writesInFlight >= this.pipelineDepth) await this.writeSlotFreed();
          if (b > 0 && s.nowMs > wakeMs) break; // the burst's instant passed while waiting
          w.opsRemaining--;
          sent.push(this.write());
        }
        // The flush waits for its answers, up to a bound: a write held up by
        // a fault stays in flight (it holds firstUnacked back) while the
        // client goes on with later sequences.
        await Promise.race([Promise.all(sent), s.sleep(BURST_WAIT_MS)]);
        lastOps = Math.max(1, sent.length);
      } else {
        w.opsRemaining--;
        await this.read();
        lastOps = 1;
      }
      this.busy = false;
    }
  }

  private writeSlotFreed(): Promise<void> {
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  /** Write a fresh batch of points on the current session; resolves once
   *  acknowledged or given up. Other writes may be in flight. */
  async write(): Promise<WriteOp> {
    this.writesInFlight++;
    try {
      return await this.writeOn(this.session);
    } finally {
      this.writesInFlight--;
      this.slotWaiters.shift()?.();
    }
  }

  private async writeOn(session: ClientSession): Promise<WriteOp> {
    const w = this.world;
    const sequence = session.nextSequence++;
    session.outstanding.add(sequence);
    const inFlight = session.outstanding.size;
    if (inFlight > 1) this.stats.pipelinedWrites++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, inFlight);
    const points = History.generatePoints(this.prng, w.history.writes.length + 1);
    const op = w.history.newWrite(session.clientId, sequence, points, w.scheduler.nowMs, inFlight);
    if (this.writesAnywhere) this.stats.anywhereWrites++;
    const deadline = op.invokeMs + WRITE_DEADLINE_MS;
    // The client library's backoff between a request's retries (jittered, doubling).
    const backoff = new Backoff(this.prng, WRITE_MIN_BACKOFF_MS, WRITE_MAX_BACKOFF_MS);
    w.trace.record('client', `${session.clientId} write#${op.writeId} seq=${sequence} n=${points.length} inflight=${inFlight}`);
    try {
      while (w.scheduler.nowMs < deadline) {
        const node = this.pickNode(!this.writesAnywhere);
        if (node === null) {
          await w.scheduler.sleep(100);
          continue;
        }
        op.attempts++;
        if (op.attempts > 1) this.stats.writeRetries++;
        let attempt: Attempt<PutResult>;
        if (node.running) {
          const connection = this.connectionTo(node);
          // As the client library: computed for each attempt, right before it leaves.
          const firstUnackedSequence = session.established ? smallest(session.outstanding) : 1;
          assert(firstUnackedSequence <= sequence, `firstUnacked ${firstUnackedSequence} beyond sequence ${sequence}`);
          const request = connection.putRequest(points, { clientId: session.clientId, sequence, firstUnackedSequence });
          attempt = await this.attempt(node, () => connection.serve(request));
        } else {
          // The leader named by a NOT_LEADER answer is down: connecting fails.
          await w.scheduler.sleep(REQUEST_TRAVEL_MS);
          attempt = { ok: false, error: CONNECTION_REFUSED };
        }
        if (attempt.ok) {
          op.outcome = 'ok';
          op.ackMs = w.scheduler.nowMs;
          session.established = true;
          this.leaderGuess = node.id;
          this.checkStored(op, attempt.value);
          w.trace.record('client', `${session.clientId} write#${op.writeId} ok via ${node.id}${attempt.value.duplicate ? ' dup' : ''}`);
          return op;
        }
        if (isTsraftError(attempt.error) && attempt.error.code === 'TSR_ERR_SESSION_EXPIRED') {
          // The session no longer knows whether this write was applied: its
          // outcome stays unknown. A session the cluster forgot is replaced
          // by a new client id (for the writes issued from now on); a
          // forgotten result leaves the session as it is (as the library).
          op.outcome = 'unknown';
          this.failedOps++;
          this.stats.sessionsExpired++;
          const reason = (attempt.error.details as { reason?: string }).reason;
          if (reason === 'unknown_session' && session === this.session) this.newSession();
          w.trace.record('client', `${op.clientId} write#${op.writeId} session expired (${reason})`);
          return op;
        }
        await this.afterFailure(attempt.error, node, backoff);
      }
      op.outcome = 'unknown';
      this.failedOps++;
      w.trace.record('client', `${op.clientId} write#${op.writeId} gave up`);
      return op;
    } finally {
      session.outstanding.delete(sequence);
    }
  }

  /** One read of a metric at some node through the `query` operation;
   *  returns whether it was served. Linearizable unless `consistency` or
   *  the draw says stale. */
  async read(at?: SimNode, consistency?: ReadConsistency): Promise<boolean> {
    const w = this.world;
    const metric = METRICS[this.prng.nextInt(METRICS.length)]!;
    const asked: ReadConsistency = consistency ?? (this.prng.chance(STALE_READ_FRACTION) ? 'stale' : 'linearizable');
    const node = at ?? this.pickNode(false);
    if (node === null) return false;
    const invokeMs = w.scheduler.nowMs;
    const request = { op: 'query', m: `none:${metric}`, start: FIRST_TIMESTAMP_MS, end: LAST_TIMESTAMP_MS, consistency: asked };
    // The query runs at the node (barrier, then the engine on its state) before the answer travels back.
    const attempt = await this.attempt(node, () => this.connectionTo(node).query(request));
    if (!attempt.ok) {
      w.history.failedReads++;
      await this.afterFailure(attempt.error, node);
      return false;
    }
    const result = resultOfQuery(metric, attempt.value.results, (message) => w.violations.report('linearizability', `read of ${metric} on ${node.id}: ${message}`));
    w.history.addRead({ clientId: this.clientId, node: node.id, metric, consistency: asked, invokeMs, respondMs: w.scheduler.nowMs, result });
    return true;
  }

  /** Every point of an acknowledged write is stored (they are all valid);
   *  a duplicate's answer is the first application's result. */
  private checkStored(op: WriteOp, result: PutResult): void {
    if (result.success === op.points.length && result.failed === 0) return;
    this.world.violations.report('durability', `write ${op.writeId} (${op.clientId}#${op.sequence}) was acknowledged${result.duplicate ? ' as a duplicate' : ''} with ${result.success} of ${op.points.length} points stored`, {
      writeId: op.writeId,
      errors: result.errors.slice(0, 3),
    });
  }

  private newSession(): void {
    this.session = newClientSession(`${this.name}.${++this.sessionsStarted}`);
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

  /** After a failed attempt: forget or follow the leader, and back off
   *  (`backoff`: the write's, as the client library; a read's: 50–200 ms). */
  private async afterFailure(error: unknown, node: SimNode, backoff?: Backoff): Promise<void> {
    const backoffMs = (): number => backoff?.nextDelayMs() ?? 50 + this.prng.nextInt(150);
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
        if (this.leaderGuess === null) await s.sleep(backoffMs());
        return;
      }
      case 'TSR_ERR_NO_LEADER':
      case 'TSR_ERR_TRANSFER_IN_PROGRESS':
      case 'TSR_ERR_PROPOSAL_BACKPRESSURE':
      case 'TSR_ERR_TOO_MANY_PENDING_READS':
      case 'TSR_ERR_STATE_RESTORING':
      case 'TSR_ERR_READ_INDEX_FAILED':
      case 'TSR_ERR_SHUTTING_DOWN':
      case 'TSR_ERR_LEADERSHIP_LOST':
      case 'TSR_ERR_TIMEOUT':
      // A follower's forwarding connection to the leader broke or was full
      // (the outcome is unknown: retried with the same session).
      case 'TSR_ERR_CONNECTION_LOST':
      case 'TSR_ERR_TOO_MANY_IN_FLIGHT':
        this.leaderGuess = null;
        await s.sleep(backoffMs());
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

function newClientSession(clientId: string): ClientSession {
  return { clientId, nextSequence: 1, outstanding: new Set(), established: false };
}

/** The smallest of a non-empty set. */
function smallest(values: ReadonlySet<number>): number {
  let min = Infinity;
  for (const v of values) if (v < min) min = v;
  return min;
}

/** The `query` answer as the history keeps reads: series key → [ts, value]
 *  pairs. With the `none` aggregator every result group is one series, its
 *  tags all of the series' tags; anything else is reported. */
function resultOfQuery(metric: string, groups: readonly WireQueryResult[], report: (message: string) => void): Record<string, Array<[number, number]>> {
  const result: Record<string, Array<[number, number]>> = {};
  for (const g of groups) {
    const key = seriesKeyOf(g.metric, g.tags);
    if (g.metric !== metric || g.aggregateTags.length > 0 || key in result || g.timestamps.length !== g.values.length) {
      report(`the answer holds a group that is not one series of ${metric} (${key}, aggregate tags ${g.aggregateTags.join(',')})`);
      continue;
    }
    const pairs: Array<[number, number]> = [];
    for (let i = 0; i < g.timestamps.length; i++) {
      const v = g.values[i];
      if (typeof v !== 'number' && typeof v !== 'bigint') {
        report(`series ${key} has the value ${String(v)} at ${g.timestamps[i]}, not a point`);
        continue;
      }
      pairs.push([g.timestamps[i]!, Number(v)]);
    }
    if (pairs.length > 0) result[key] = pairs;
  }
  return result;
}
