// Durability and linearizability of the client history, for this store's
// model: a map (series, timestamp) → value where a later write wins.
//
// The commit order is known: it is the order of the log every replica
// applied (OnlineCheckers.applied, itself checked for agreement). A write
// takes effect at the index where it was first applied (a retry with the same
// client id and sequence is a duplicate and changes nothing). So the state
// any correct read can observe is the state after some log prefix k, and the
// history is linearizable iff every read can be given such a k with
//   - k consistent with its result (each value read is the last write of its
//     (series, timestamp) up to k, each absent point has no write up to k);
//   - k ≥ the index of every write acknowledged before the read began, and
//     k < the index of every write issued after the read ended;
//   - k monotonic over reads ordered in real time;
// and writes' indexes respect real time (a write acknowledged before another
// began is earlier in the log). Values are unique per point, so a value
// names its write. Any read of a value never written, or written but never
// committed, is a violation too. Durability: every acknowledged write is in
// the committed log.
import { decodeCommand } from '../../src/tsdb/command.js';
import { decodeWriteBatch } from '../../src/tsdb/write-batch.js';
import { VALUE_STRIDE, type History, type ReadOp, type WriteOp } from '../history.js';
import type { AppliedEntry } from './online.js';
import type { Violations } from './violations.js';

export interface CommitOrder {
  /** writeId → log index where it took effect. */
  indexOfWrite: Map<number, number>;
  /** "seriesKey@ts" → effective writes of that point, in log order. */
  writesOfKey: Map<string, Array<{ index: number; value: number }>>;
  /** metric → its point keys that were ever written effectively. */
  keysOfMetric: Map<string, Set<string>>;
}

export function pointKey(seriesKey: string, timestampMs: number): string {
  return `${seriesKey}@${timestampMs}`;
}

/** Map the applied log onto the history; report writes nobody issued or that
 *  differ from what the client sent. */
export function buildCommitOrder(history: History, applied: ReadonlyMap<number, AppliedEntry>, violations: Violations): CommitOrder {
  const order: CommitOrder = { indexOfWrite: new Map(), writesOfKey: new Map(), keysOfMetric: new Map() };
  const indexes = [...applied.keys()].sort((a, b) => a - b);
  for (const index of indexes) {
    const entry = applied.get(index)!;
    if (entry.writeKey === null || !entry.effective) continue;
    const cmd = decodeCommand(entry.data!);
    if (cmd.type !== 'write') continue;
    const write = history.writeOf(cmd.clientId, cmd.sequence);
    if (write === undefined) {
      violations.report('linearizability', `log index ${index} holds a write no client issued (${entry.writeKey})`, { index });
      continue;
    }
    if (order.indexOfWrite.has(write.writeId)) {
      violations.report('linearizability', `write ${write.writeId} (${entry.writeKey}) took effect twice: at ${order.indexOfWrite.get(write.writeId)} and ${index}`, {
        writeId: write.writeId,
      });
      continue;
    }
    if (!sameBatch(write, cmd.batch)) {
      violations.report('linearizability', `log index ${index} holds ${entry.writeKey} with points that differ from what the client sent`, { index, writeId: write.writeId });
      continue;
    }
    order.indexOfWrite.set(write.writeId, index);
    for (const p of write.points) {
      const key = pointKey(p.seriesKey, p.timestampMs);
      let list = order.writesOfKey.get(key);
      if (list === undefined) order.writesOfKey.set(key, (list = []));
      list.push({ index, value: p.value });
      let keys = order.keysOfMetric.get(p.metric);
      if (keys === undefined) order.keysOfMetric.set(p.metric, (keys = new Set()));
      keys.add(key);
    }
  }
  return order;
}

function sameBatch(write: WriteOp, batchBytes: Uint8Array): boolean {
  const batch = decodeWriteBatch(batchBytes);
  if (batch.columns.length !== write.points.length) return false;
  for (let i = 0; i < write.points.length; i++) {
    const p = write.points[i]!;
    if (batch.seriesKeys[batch.seriesKeyIndexes[i]!] !== p.seriesKey) return false;
    if (batch.columns.timestampsMs[i] !== p.timestampMs || batch.columns.values[i] !== p.value) return false;
  }
  return true;
}

/** Every acknowledged write must be in the committed log. Returns how many are not. */
export function checkDurability(history: History, order: CommitOrder, violations: Violations): number {
  let lost = 0;
  for (const w of history.writes) {
    if (w.outcome !== 'ok' || order.indexOfWrite.has(w.writeId)) continue;
    lost++;
    violations.report('durability', `acknowledged write ${w.writeId} (${w.clientId}#${w.sequence}, acked at ${w.ackMs} ms) is not in the committed log`, {
      writeId: w.writeId,
    });
  }
  return lost;
}

/** The model's state after log prefix `k`: point key → value. */
export function modelStateAt(order: CommitOrder, k: number): Map<string, number> {
  const state = new Map<string, number>();
  for (const [key, writes] of order.writesOfKey) {
    let value: number | undefined;
    for (const w of writes) if (w.index <= k) value = w.value;
    if (value !== undefined) state.set(key, value);
  }
  return state;
}

interface Interval {
  read: ReadOp;
  lo: number;
  hi: number;
}

/** Returns the number of reads checked. */
export function checkLinearizability(history: History, order: CommitOrder, violations: Violations): number {
  const effective = history.writes.filter((w) => order.indexOfWrite.has(w.writeId));
  const idx = (w: WriteOp): number => order.indexOfWrite.get(w.writeId)!;

  // Writes acknowledged by time t: the largest index among them (prefix max by ack time).
  const acked = effective.filter((w) => w.ackMs !== null).sort((a, b) => a.ackMs! - b.ackMs!);
  const ackTimes = acked.map((w) => w.ackMs!);
  const ackPrefixMax: number[] = [];
  for (const w of acked) ackPrefixMax.push(Math.max(ackPrefixMax.at(-1) ?? 0, idx(w)));
  const maxIndexAckedBefore = (t: number): number => {
    const n = lowerBound(ackTimes, t); // acks strictly before t
    return n === 0 ? 0 : ackPrefixMax[n - 1]!;
  };
  // Writes issued after time t: the smallest index among them (suffix min by invoke time).
  const byInvoke = [...effective].sort((a, b) => a.invokeMs - b.invokeMs);
  const invokeTimes = byInvoke.map((w) => w.invokeMs);
  const invokeSuffixMin = new Array<number>(byInvoke.length + 1).fill(Infinity);
  for (let i = byInvoke.length - 1; i >= 0; i--) invokeSuffixMin[i] = Math.min(invokeSuffixMin[i + 1]!, idx(byInvoke[i]!));
  const minIndexInvokedAfter = (t: number): number => invokeSuffixMin[upperBound(invokeTimes, t)]!;

  // Writes against real time.
  for (const w of byInvoke) {
    const before = maxIndexAckedBefore(w.invokeMs);
    if (before >= idx(w)) {
      violations.report('linearizability', `write ${w.writeId} began after a write at index ${before} was acknowledged, yet took effect earlier, at ${idx(w)}`, {
        writeId: w.writeId,
      });
    }
  }

  // For each effective value: the index of the next write to the same point.
  const nextIndexAfterValue = new Map<number, number>();
  for (const writes of order.writesOfKey.values()) {
    for (let i = 0; i < writes.length; i++) nextIndexAfterValue.set(writes[i]!.value, i + 1 < writes.length ? writes[i + 1]!.index : Infinity);
  }

  const intervals: Interval[] = [];
  for (const read of history.reads) {
    let lo = 0;
    let hi = Infinity;
    const seen = new Set<string>();
    let bad = false;
    for (const [seriesKey, pairs] of Object.entries(read.result)) {
      for (const [ts, value] of pairs) {
        const key = pointKey(seriesKey, ts);
        seen.add(key);
        const writeId = Math.floor(value / VALUE_STRIDE);
        const write = Number.isSafeInteger(writeId) && writeId >= 1 ? history.writes[writeId - 1] : undefined;
        const point = write?.points[value - writeId * VALUE_STRIDE];
        if (write === undefined || point === undefined || point.seriesKey !== seriesKey || point.timestampMs !== ts) {
          violations.report('linearizability', `read ${read.readId} on ${read.node} returned ${value} at ${key}, a value no client wrote there`, { readId: read.readId });
          bad = true;
          continue;
        }
        const at = order.indexOfWrite.get(write.writeId);
        if (at === undefined) {
          violations.report('linearizability', `read ${read.readId} on ${read.node} returned write ${write.writeId}, which never committed`, { readId: read.readId, writeId: write.writeId });
          bad = true;
          continue;
        }
        lo = Math.max(lo, at);
        hi = Math.min(hi, (nextIndexAfterValue.get(value) ?? Infinity) - 1);
      }
    }
    for (const key of order.keysOfMetric.get(read.metric) ?? []) {
      if (!seen.has(key)) hi = Math.min(hi, order.writesOfKey.get(key)![0]!.index - 1);
    }
    if (bad) continue;
    const resultLo = lo;
    const resultHi = hi;
    const timeLo = maxIndexAckedBefore(read.invokeMs);
    const timeHi = minIndexInvokedAfter(read.respondMs) - 1;
    lo = Math.max(lo, timeLo);
    hi = Math.min(hi, timeHi);
    if (lo > hi) {
      const what =
        resultLo > resultHi
          ? `returned a state no log prefix had (needs index ≥ ${resultLo} and ≤ ${resultHi})`
          : resultHi < timeLo
            ? `saw log prefix ${resultLo}..${resultHi}, but a write at index ${timeLo} was acknowledged before it began (stale read)`
            : `saw log prefix ${resultLo}..${resultHi}, but writes from index ${timeHi + 1} on were issued only after it ended (a read from the future)`;
      violations.report('linearizability', `read ${read.readId} of ${read.metric} on ${read.node} during [${read.invokeMs}, ${read.respondMs}] ms ${what}`, {
        readId: read.readId,
        resultLo,
        resultHi,
        timeLo,
        timeHi,
      });
      continue;
    }
    intervals.push({ read, lo, hi });
  }

  // Reads are monotonic in real time: give each the smallest feasible prefix,
  // raised to the prefixes of the reads that ended before it began.
  const byInvokeReads = [...intervals].sort((a, b) => a.read.invokeMs - b.read.invokeMs || a.read.readId - b.read.readId);
  const byRespond = [...intervals].sort((a, b) => a.read.respondMs - b.read.respondMs);
  const assigned = new Map<Interval, number>();
  let done = 0;
  let floor = 0;
  for (const r of byInvokeReads) {
    while (done < byRespond.length && byRespond[done]!.read.respondMs < r.read.invokeMs) {
      const k = assigned.get(byRespond[done]!);
      if (k !== undefined) floor = Math.max(floor, k);
      done++;
    }
    const k = Math.max(r.lo, floor);
    if (k > r.hi) {
      violations.report('linearizability', `read ${r.read.readId} on ${r.read.node} went back in time: an earlier read saw log prefix ${floor}, this one at most ${r.hi}`, {
        readId: r.read.readId,
      });
      assigned.set(r, r.hi);
      continue;
    }
    assigned.set(r, k);
  }
  return history.reads.length;
}

/** Number of elements < t in sorted `a`. */
function lowerBound(a: readonly number[], t: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Number of elements ≤ t in sorted `a`. */
function upperBound(a: readonly number[], t: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
