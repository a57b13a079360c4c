// Bounded tables of client requests waiting on the Ready loop: proposals
// (by log index) and read barriers (by read request id). Each entry settles
// exactly once: answered, failed, or timed out.
import { AssertionError, TsraftError, assert } from '../errors.js';
import type { Clock } from '../util/clock.js';

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: TsraftError) => void;
  cancelTimer: () => void;
}

export interface PendingProposal<T> extends Waiter<T> {
  index: number;
  term: number;
}

/** Proposals waiting to be applied, keyed by log index. */
export class PendingProposals<T> {
  private readonly byIndex = new Map<number, PendingProposal<T>>();

  constructor(
    private readonly clock: Clock,
    readonly maxPending: number,
  ) {
    assert(Number.isSafeInteger(maxPending) && maxPending >= 1, `maxPendingProposals must be ≥ 1, got ${maxPending}`);
  }

  get size(): number {
    return this.byIndex.size;
  }

  full(): boolean {
    return this.byIndex.size >= this.maxPending;
  }

  /** Wait for entry `index` of `term`; fails with TSR_ERR_TIMEOUT after timeoutMs. */
  add(index: number, term: number, timeoutMs: number): Promise<T> {
    if (!(!this.byIndex.has(index))) throw new AssertionError(`a proposal already waits for index ${index}`);
    assert(!this.full(), 'pending proposals are full');
    return new Promise<T>((resolve, reject) => {
      const cancelTimer = this.clock.setTimer(timeoutMs, () => {
        if (this.byIndex.get(index) !== entry) return;
        this.byIndex.delete(index);
        reject(new TsraftError('TSR_ERR_TIMEOUT', `the proposal at index ${index} (term ${term}) was not applied within ${timeoutMs} ms; its outcome is unknown`, {
          details: { index, term },
        }));
      });
      const entry: PendingProposal<T> = { index, term, resolve, reject, cancelTimer };
      this.byIndex.set(index, entry);
    });
  }

  /** Entry `index` of `term` was applied with `result`: answer its proposer.
   *  An entry of another term at that index means our proposal was replaced. */
  applied(index: number, term: number, result: T): void {
    const entry = this.byIndex.get(index);
    if (entry === undefined) return;
    this.byIndex.delete(index);
    entry.cancelTimer();
    if (entry.term === term) entry.resolve(result);
    else entry.reject(leadershipLost(index, entry.term, `entry ${index} was replaced by one of term ${term}`));
  }

  /** Fail every waiting proposal (leadership lost, node stopping). */
  failAll(makeError: (p: PendingProposal<T>) => TsraftError): void {
    const all = [...this.byIndex.values()];
    this.byIndex.clear();
    for (const entry of all) {
      entry.cancelTimer();
      entry.reject(makeError(entry));
    }
  }
}

export function leadershipLost(index: number, term: number, why: string): TsraftError {
  return new TsraftError('TSR_ERR_LEADERSHIP_LOST', `leadership changed before the proposal at index ${index} (term ${term}) was applied (${why}); its outcome is unknown, retry with the same client id and sequence`, {
    details: { index, term },
  });
}

interface PendingRead extends Waiter<number> {
  requestId: string;
  /** The read index once the leader confirmed it; null while waiting for it. */
  readIndex: number | null;
}

/** Linearizable reads: waiting for their read index, then for apply ≥ it. */
export class PendingReads {
  private readonly byId = new Map<string, PendingRead>();
  /** Reads with a read index above the applied index. */
  private waitingForApply: PendingRead[] = [];

  constructor(
    private readonly clock: Clock,
    readonly maxPending: number,
  ) {
    assert(Number.isSafeInteger(maxPending) && maxPending >= 1, `maxPendingReads must be ≥ 1, got ${maxPending}`);
  }

  get size(): number {
    return this.byId.size;
  }

  full(): boolean {
    return this.byId.size >= this.maxPending;
  }

  add(requestId: string, timeoutMs: number): Promise<number> {
    assert(!this.byId.has(requestId), `read ${requestId} is already pending`);
    assert(!this.full(), 'pending reads are full');
    return new Promise<number>((resolve, reject) => {
      const cancelTimer = this.clock.setTimer(timeoutMs, () => {
        if (this.byId.get(requestId) !== entry) return;
        this.remove(entry);
        reject(new TsraftError('TSR_ERR_TIMEOUT', `read ${requestId} got no read index and apply within ${timeoutMs} ms`, { details: { requestId } }));
      });
      const entry: PendingRead = { requestId, readIndex: null, resolve, reject, cancelTimer };
      this.byId.set(requestId, entry);
    });
  }

  /** The leader confirmed `index` for this read; serve it once applied ≥ index. */
  confirmed(requestId: string, index: number, appliedIndex: number): void {
    const entry = this.byId.get(requestId);
    if (entry === undefined || entry.readIndex !== null) return; // timed out meanwhile, or a duplicate
    entry.readIndex = index;
    if (index <= appliedIndex) this.settle(entry, appliedIndex);
    else this.waitingForApply.push(entry);
  }

  failed(requestId: string, error: TsraftError): void {
    const entry = this.byId.get(requestId);
    if (entry === undefined) return;
    this.remove(entry);
    entry.cancelTimer();
    entry.reject(error);
  }

  /** The applied index moved: serve every read whose index it reached. */
  appliedTo(appliedIndex: number): void {
    if (this.waitingForApply.length === 0) return;
    const still: PendingRead[] = [];
    const ready: PendingRead[] = [];
    for (const entry of this.waitingForApply) (entry.readIndex! <= appliedIndex ? ready : still).push(entry);
    this.waitingForApply = still;
    for (const entry of ready) this.settle(entry, appliedIndex);
  }

  failAll(makeError: (requestId: string) => TsraftError): void {
    const all = [...this.byId.values()];
    this.byId.clear();
    this.waitingForApply = [];
    for (const entry of all) {
      entry.cancelTimer();
      entry.reject(makeError(entry.requestId));
    }
  }

  private settle(entry: PendingRead, appliedIndex: number): void {
    assert(entry.readIndex !== null && entry.readIndex <= appliedIndex, `read ${entry.requestId} served before apply reached its index`);
    this.byId.delete(entry.requestId);
    entry.cancelTimer();
    entry.resolve(appliedIndex);
  }

  private remove(entry: PendingRead): void {
    this.byId.delete(entry.requestId);
    if (entry.readIndex !== null) this.waitingForApply = this.waitingForApply.filter((e) => e !== entry);
  }
}
