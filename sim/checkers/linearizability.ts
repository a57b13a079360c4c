// Durability and linearizability of the client history, for this store's
// model: a map (series, timestamp) → value where a later write wins and a
// retention pass removes what it dropped.
//
// The commit order is known: it is the order of the log every replica
// applied (OnlineCheckers.applied, itself checked for agreement), replayed
// in commit-order.ts. A write takes effect at the index where it was first
// applied (a retry with the same client id and sequence is a duplicate and
// changes nothing). So the state any correct read can observe is the state
// after some log prefix k, and the history is linearizable iff every read can
// be given such a k with
//   - k consistent with its result (each value read is the point's value
//     after k, each absent point has none after k: before its first write,
//     or after a retention pass removed it and before the next write);
//   - k ≥ the index of every write acknowledged before the read began, and
//     k < the index of every write issued after the read ended;
//   - k monotonic over reads ordered in real time;
// and writes' indexes respect real time (a write acknowledged before another
// began is earlier in the log). Values are unique per point, so a value
// names its write. Any read of a value never written, or written but never
// committed, is a violation too. Durability: every acknowledged write is in
// the committed log.
import { VALUE_STRIDE, type History, type ReadOp, type WriteOp } from '../history.js';
import { pointKey, type CommitOrder } from './commit-order.js';
import type { Violations } from './violations.js';

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

/** Reads checked, by consistency. */
export interface ReadsChecked {
  linearizable: number;
  stale: number;
}

/** Checks every write against real time and every read against the commit
 *  order: a linearizable read fully, a stale read for observing some log
 *  prefix (every value written and committed, the state of one prefix). */
export function checkLinearizability(history: History, order: CommitOrder, violations: Violations): ReadsChecked {
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

  // Per value written: the index of the next change of its point (its
  // version lasts until then). Per point: the prefixes where it is absent.
  const nextChangeAfterValue = new Map<number, number>();
  const absentOf = new Map<string, Prefixes>();
  for (const [key, changes] of order.changesOfKey) {
    const absent: Prefixes = changes[0]!.index > 0 ? [[0, changes[0]!.index - 1]] : [];
    for (let i = 0; i < changes.length; i++) {
      const c = changes[i]!;
      const next = i + 1 < changes.length ? changes[i + 1]!.index : Infinity;
      if (c.value === null) absent.push([c.index, next - 1]);
      else nextChangeAfterValue.set(c.value, next);
    }
    absentOf.set(key, absent);
  }

  const checked: Checked[] = [];
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
        hi = Math.min(hi, (nextChangeAfterValue.get(value) ?? Infinity) - 1);
      }
    }
    if (bad) continue;
    // The prefixes the result allows: the values' versions overlap, and every
    // point written to the metric but not read was absent.
    let result: Prefixes = lo <= hi ? [[lo, hi]] : [];
    for (const key of order.keysOfMetric.get(read.metric) ?? []) {
      if (!seen.has(key)) result = intersect(result, absentOf.get(key)!);
    }
    if (read.consistency === 'stale') {
      // Served from the node's state at once: some log prefix, but no
      // promise of recency (real time and monotonic reads do not apply).
      if (result.length === 0) {
        violations.report('linearizability', `stale read ${read.readId} of ${read.metric} on ${read.node} returned a state no log prefix had (its values need index ≥ ${lo} and ≤ ${hi}${lo <= hi ? ', and a point it lacks was present throughout' : ''})`, {
          readId: read.readId,
        });
      }
      continue;
    }
    const timeLo = maxIndexAckedBefore(read.invokeMs);
    const timeHi = minIndexInvokedAfter(read.respondMs) - 1;
    const feasible = intersect(result, [[timeLo, timeHi]]);
    if (feasible.length === 0) {
      const what =
        result.length === 0
          ? `returned a state no log prefix had (its values need index ≥ ${lo} and ≤ ${hi}${lo <= hi ? ', and a point it lacks was present throughout' : ''})`
          : result.at(-1)![1] < timeLo
            ? `saw log prefix ${describe(result)}, but a write at index ${timeLo} was acknowledged before it began (stale read)`
            : result[0]![0] > timeHi
              ? `saw log prefix ${describe(result)}, but writes from index ${timeHi + 1} on were issued only after it ended (a read from the future)`
              : `saw log prefix ${describe(result)}, none of them within ${timeLo}..${timeHi}, what real time allows`;
      violations.report('linearizability', `read ${read.readId} of ${read.metric} on ${read.node} during [${read.invokeMs}, ${read.respondMs}] ms ${what}`, {
        readId: read.readId,
        result: result.slice(0, 8),
        timeLo,
        timeHi,
      });
      continue;
    }
    checked.push({ read, feasible });
  }

  // Reads are monotonic in real time: give each the smallest feasible prefix,
  // at least the prefixes of the reads that ended before it began.
  const byInvokeReads = [...checked].sort((a, b) => a.read.invokeMs - b.read.invokeMs || a.read.readId - b.read.readId);
  const byRespond = [...checked].sort((a, b) => a.read.respondMs - b.read.respondMs);
  const assigned = new Map<Checked, number>();
  let done = 0;
  let floor = 0;
  for (const r of byInvokeReads) {
    while (done < byRespond.length && byRespond[done]!.read.respondMs < r.read.invokeMs) {
      const k = assigned.get(byRespond[done]!);
      if (k !== undefined) floor = Math.max(floor, k);
      done++;
    }
    const k = smallestAtLeast(r.feasible, floor);
    if (k === null) {
      const last = r.feasible.at(-1)![1];
      violations.report('linearizability', `read ${r.read.readId} on ${r.read.node} went back in time: an earlier read saw log prefix ${floor}, this one at most ${last}`, {
        readId: r.read.readId,
      });
      assigned.set(r, last);
      continue;
    }
    assigned.set(r, k);
  }
  const stale = history.reads.filter((r) => r.consistency === 'stale').length;
  return { linearizable: history.reads.length - stale, stale };
}

/** Log prefixes as sorted, disjoint, inclusive [from, to] ranges. */
type Prefixes = Array<[number, number]>;

interface Checked {
  read: ReadOp;
  feasible: Prefixes;
}

function intersect(a: Prefixes, b: Prefixes): Prefixes {
  const out: Prefixes = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const from = Math.max(a[i]![0], b[j]![0]);
    const to = Math.min(a[i]![1], b[j]![1]);
    if (from <= to) out.push([from, to]);
    if (a[i]![1] < b[j]![1]) i++;
    else j++;
  }
  return out;
}

function smallestAtLeast(prefixes: Prefixes, k: number): number | null {
  for (const [from, to] of prefixes) if (to >= k) return Math.max(from, k);
  return null;
}

function describe(prefixes: Prefixes): string {
  const shown = prefixes.slice(0, 3).map(([from, to]) => (from === to ? `${from}` : `${from}..${to}`));
  return prefixes.length > 3 ? `${shown.join(', ')}, …` : shown.join(', ');
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
