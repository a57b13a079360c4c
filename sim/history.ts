// The client history: every write and read the workload issued, with its
// invocation and response times (virtual ms, one global clock), as the
// linearizability checker needs it. Reads are linearizable or stale. Values are unique per point written
// (writeId · 8 + position), so a value read names the write that produced it.
import { seriesKeyOf } from '../src/tsdb/validate.js';
import type { SeededPrng } from '../src/util/prng.js';
import { SIM_EPOCH_MS } from './clock.js';

export const METRICS = ['sim.cpu', 'sim.mem'] as const;
const HOSTS = ['a', 'b', 'c'] as const;
/** Distinct timestamps per series: few, so writes overwrite each other (last write wins). */
export const TIMESTAMPS_PER_SERIES = 12;
export const FIRST_TIMESTAMP_MS = SIM_EPOCH_MS - 3_600_000;
export const TIMESTAMP_STEP_MS = 10_000;
export const LAST_TIMESTAMP_MS = FIRST_TIMESTAMP_MS + (TIMESTAMPS_PER_SERIES - 1) * TIMESTAMP_STEP_MS;
export const MAX_POINTS_PER_WRITE = 4;
/** value = writeId · VALUE_STRIDE + position in the write. */
export const VALUE_STRIDE = 8;

export interface SimPoint {
  metric: string;
  seriesKey: string;
  tags: Record<string, string>;
  timestampMs: number;
  value: number;
}

export type WriteOutcome = 'pending' | 'ok' | 'unknown';

export interface WriteOp {
  writeId: number;
  clientId: string;
  sequence: number;
  points: SimPoint[];
  invokeMs: number;
  /** When the client received success; null otherwise. */
  ackMs: number | null;
  outcome: WriteOutcome;
  attempts: number;
  /** Writes of its session outstanding when it was issued, itself included
   *  (> 1: pipelined behind earlier sequences). */
  inFlightAtIssue: number;
}

export type ReadConsistency = 'linearizable' | 'stale';

export interface ReadOp {
  readId: number;
  clientId: string;
  node: string;
  metric: string;
  consistency: ReadConsistency;
  invokeMs: number;
  respondMs: number;
  /** seriesKey → [timestampMs, value] pairs, sorted by time. */
  result: Record<string, Array<[number, number]>>;
}

export class History {
  readonly writes: WriteOp[] = [];
  readonly reads: ReadOp[] = [];
  failedReads = 0;
  private readonly byClientSeq = new Map<string, WriteOp>();

  newWrite(clientId: string, sequence: number, points: SimPoint[], invokeMs: number, inFlightAtIssue = 1): WriteOp {
    const op: WriteOp = { writeId: this.writes.length + 1, clientId, sequence, points, invokeMs, ackMs: null, outcome: 'pending', attempts: 0, inFlightAtIssue };
    this.writes.push(op);
    this.byClientSeq.set(`${clientId}#${sequence}`, op);
    return op;
  }

  writeOf(clientId: string, sequence: number): WriteOp | undefined {
    return this.byClientSeq.get(`${clientId}#${sequence}`);
  }

  addRead(read: Omit<ReadOp, 'readId'>): void {
    this.reads.push({ ...read, readId: this.reads.length + 1 });
  }

  /** Points of a new write: 1..4 distinct (series, timestamp) pairs. */
  static generatePoints(prng: SeededPrng, writeId: number): SimPoint[] {
    const count = 1 + prng.nextInt(MAX_POINTS_PER_WRITE);
    const points: SimPoint[] = [];
    const used = new Set<string>();
    while (points.length < count) {
      const metric = METRICS[prng.nextInt(METRICS.length)]!;
      const tags = { host: HOSTS[prng.nextInt(HOSTS.length)]! };
      const timestampMs = FIRST_TIMESTAMP_MS + prng.nextInt(TIMESTAMPS_PER_SERIES) * TIMESTAMP_STEP_MS;
      const seriesKey = seriesKeyOf(metric, tags);
      const key = `${seriesKey}@${timestampMs}`;
      if (used.has(key)) continue;
      used.add(key);
      points.push({ metric, seriesKey, tags, timestampMs, value: writeId * VALUE_STRIDE + points.length });
    }
    return points;
  }

  toJSON(): unknown {
    return {
      writes: this.writes.map((w) => ({
        writeId: w.writeId,
        clientId: w.clientId,
        sequence: w.sequence,
        invokeMs: w.invokeMs,
        ackMs: w.ackMs,
        outcome: w.outcome,
        points: w.points.map((p) => [p.seriesKey, p.timestampMs, p.value]),
      })),
      reads: this.reads,
    };
  }
}
