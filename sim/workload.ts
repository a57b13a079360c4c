// The clients. Each writes batches of points and runs linearizable reads at
// any node (followers serve reads too), one operation at a time, as a real
// client library would: a per-attempt timeout, following NOT_LEADER hints,
// backing off on NO_LEADER, and retrying a write whose outcome is unknown
// with the same client id and sequence number (the state machine's sessions
// make the retry exactly-once).
import { TsraftError, isTsraftError, rethrowIfBug } from '../src/errors.js';
import type { NodeId } from '../src/raft/types.js';
import { encodeCommand } from '../src/tsdb/command.js';
import { MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, seriesKeyOf } from '../src/tsdb/validate.js';
import { WriteBatchBuilder } from '../src/tsdb/write-batch.js';
import type { SeededPrng } from '../src/util/prng.js';
import type { Violations } from './checkers/violations.js';
import { History, MAX_POINTS_PER_WRITE, METRICS, type WriteOp } from './history.js';
import type { SimNode } from './node.js';
import type { Scheduler } from './scheduler.js';
import type { Trace } from './trace.js';

/** Client-side timeout of one attempt (the client library's request timeout). */
export const ATTEMPT_TIMEOUT_MS = 2_000;
/** A write is given up (outcome unknown) after this long. */
export const WRITE_DEADLINE_MS = 20_000;
/** Fraction of operations that are writes. */
const WRITE_FRACTION = 0.55;

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
  /** The client's current operation has finished (or it never started one). */
  idle = true;
  failedOps = 0;

  constructor(
    private readonly world: WorkloadWorld,
    readonly clientId: string,
    private readonly prng: SeededPrng,
  ) {}

  async run(): Promise<void> {
    const w = this.world;
    while (w.issuing && w.opsRemaining > 0) {
      await w.scheduler.sleep(w.thinkMs * (0.5 + this.prng.nextFloat()));
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
    const deadline = op.invokeMs + WRITE_DEADLINE_MS;
    w.trace.record('client', `${this.clientId} write#${op.writeId} seq=${sequence} n=${points.length}`);
    while (w.scheduler.nowMs < deadline) {
      const node = this.pickNode(true);
      if (node === null) {
        await w.scheduler.sleep(100);
        continue;
      }
      op.attempts++;
      // The node stamps its own time into the entry, as the leader's API layer does.
      const attempt = await this.attempt(node, (replica) => replica.propose(encodeWrite(op, node.clock!.nowMs())));
      if (attempt.ok) {
        const result = attempt.value;
        if (result.kind === 'write') {
          op.outcome = 'ok';
          op.ackMs = w.scheduler.nowMs;
          this.leaderGuess = node.id;
          w.trace.record('client', `${this.clientId} write#${op.writeId} ok via ${node.id}${result.duplicate ? ' dup' : ''}`);
        } else {
          op.outcome = 'unknown'; // refused: the session's cached result was evicted
          this.failedOps++;
        }
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
    const attempt = await this.attempt(node, (replica) => replica.readBarrier().then((index) => ({ index, result: readMetric(node, metric) })));
    if (!attempt.ok) {
      w.history.failedReads++;
      await this.afterFailure(attempt.error, node);
      return false;
    }
    w.history.addRead({ clientId: this.clientId, node: node.id, metric, invokeMs, respondMs: w.scheduler.nowMs, servedAtIndex: attempt.value.index, result: attempt.value.result });
    return true;
  }

  private pickNode(preferLeader: boolean): SimNode | null {
    const running = this.world.nodes.filter((n) => n.running);
    if (running.length === 0) return null;
    if (preferLeader && this.leaderGuess !== null) {
      const guess = running.find((n) => n.id === this.leaderGuess);
      if (guess !== undefined) return guess;
    }
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
        if (this.leaderGuess === null) await s.sleep(50);
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
  private async attempt<T>(node: SimNode, operation: (replica: NonNullable<SimNode['replica']>) => Promise<T>): Promise<Attempt<T>> {
    const s = this.world.scheduler;
    const incarnation = node.incarnation;
    await s.sleep(this.oneWayMs());
    if (!node.running || node.incarnation !== incarnation) return { ok: false, error: CONNECTION_REFUSED };
    const outcome = await new Promise<Attempt<T>>((resolve) => {
      let settled = false;
      const cancel = s.after(ATTEMPT_TIMEOUT_MS, () => {
        if (settled) return;
        settled = true;
        resolve({ ok: false, error: CLIENT_TIMEOUT });
      });
      operation(node.replica!).then(
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

/** The log entry a node proposes for `op` (as the API layer on the leader would). */
export function encodeWrite(op: WriteOp, leaderTimeMs: number): Uint8Array {
  const builder = new WriteBatchBuilder({ maxPoints: MAX_POINTS_PER_WRITE });
  for (const p of op.points) builder.addPoint(p.seriesKey, p.timestampMs, p.value, true, null);
  return encodeCommand({ type: 'write', clientId: op.clientId, sequence: op.sequence, firstUnackedSequence: op.sequence, leaderTimeMs, batch: builder.encode() });
}

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
