// Coalesces the client writes a leader receives in one turn of its event loop
// into one log entry (a `writes` command, docs/tsdb-commands.md). Each write
// keeps its own session and gets its own result; only the entry is shared.
// A hundred concurrent one-point puts then cost every replica one record to
// persist, replicate, decode and count towards the next snapshot instead of
// a hundred. A write alone in its turn goes as a plain `write` entry.
//
// The turn ends with process.nextTick: the puts of every frame one socket
// read delivered are proposed together, before the replica's Ready (deferred
// with setImmediate) collects them, so coalescing adds no wait.
//
// Bounded: at most maxWritesPerEntry writes and maxBatchBytesPerEntry batch
// bytes go into one entry; more start the next entry at once, and a batch
// larger than maxBatchBytesPerEntry goes alone.
import { TsraftError, assert } from '../errors.js';
import { MAX_WRITES_PER_COMMAND, encodeCommand, writeSessionProblem, type CoalescedWrite } from '../tsdb/command.js';
import type { ApplyResult, WriteApplyResult } from '../tsdb/state-machine.js';
import type { WriteSession } from './service.js';

/** Coalescing pays for small writes, whose cost is mostly per entry; a large
 *  batch already amortises it, and ingest measured slower (followers' CPU per
 *  point up by a third) with 5,000-point puts merged into 1 MiB entries. */
export const DEFAULT_MAX_BATCH_BYTES_PER_ENTRY = 64 * 1024;

export interface WriteCoalescerOptions {
  /** Proposes one entry; resolves with its apply result on this node. */
  propose(data: Uint8Array): Promise<ApplyResult>;
  /** The leader's wall clock (Unix ms), stamped into each entry. */
  nowMs(): number;
  /** Writes in one entry, 1..MAX_WRITES_PER_COMMAND; default 1,024. */
  maxWritesPerEntry?: number;
  /** Batch bytes in one entry (a single larger batch still goes alone); default 64 KiB. */
  maxBatchBytesPerEntry?: number;
  /** Runs `fn` when the current turn ends; default process.nextTick. The
   *  simulator passes an event of its scheduler at the same virtual instant,
   *  so the writes that arrive in one instant share an entry there too. */
  deferFlush?: (fn: () => void) => void;
}

interface PendingWrite {
  write: CoalescedWrite;
  resolve(result: WriteApplyResult): void;
  reject(error: unknown): void;
}

export class WriteCoalescer {
  private readonly maxWritesPerEntry: number;
  private readonly maxBatchBytesPerEntry: number;
  private pending: PendingWrite[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  private readonly deferFlush: (fn: () => void) => void;

  constructor(private readonly options: WriteCoalescerOptions) {
    this.deferFlush = options.deferFlush ?? ((fn) => process.nextTick(fn));
    this.maxWritesPerEntry = options.maxWritesPerEntry ?? 1024;
    this.maxBatchBytesPerEntry = options.maxBatchBytesPerEntry ?? DEFAULT_MAX_BATCH_BYTES_PER_ENTRY;
    assert(Number.isSafeInteger(this.maxWritesPerEntry) && this.maxWritesPerEntry >= 1 && this.maxWritesPerEntry <= MAX_WRITES_PER_COMMAND, `maxWritesPerEntry ${this.maxWritesPerEntry} out of range`);
    assert(Number.isSafeInteger(this.maxBatchBytesPerEntry) && this.maxBatchBytesPerEntry >= 1, `maxBatchBytesPerEntry ${this.maxBatchBytesPerEntry} out of range`);
  }

  /** Writes waiting for the end of the turn. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Proposes `batch` (an encoded write batch) with its session, together
   *  with the other writes of this turn; resolves with its own result. A
   *  malformed session is refused here, alone (TSR_ERR_INVALID_ARGUMENT). */
  submit(batch: Uint8Array, session: WriteSession | undefined): Promise<WriteApplyResult> {
    const write: CoalescedWrite = { clientId: session?.clientId ?? '', sequence: session?.sequence ?? 0, firstUnackedSequence: session?.firstUnackedSequence ?? 0, batch };
    const problem = writeSessionProblem(write);
    if (problem !== null) return Promise.reject(new TsraftError('TSR_ERR_INVALID_ARGUMENT', `write command: ${problem}`, { details: { field: 'write' } }));
    if (this.pending.length > 0 && (this.pending.length >= this.maxWritesPerEntry || this.pendingBytes + batch.length > this.maxBatchBytesPerEntry)) this.flush();
    return new Promise<WriteApplyResult>((resolve, reject) => {
      this.pending.push({ write, resolve, reject });
      this.pendingBytes += batch.length;
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        this.deferFlush(() => {
          this.flushScheduled = false;
          this.flush();
        });
      }
    });
  }

  /** Proposes what is pending as one entry. */
  private flush(): void {
    const group = this.pending;
    if (group.length === 0) return;
    this.pending = [];
    this.pendingBytes = 0;
    const leaderTimeMs = Math.max(0, Math.floor(this.options.nowMs()));
    let data: Uint8Array;
    try {
      data =
        group.length === 1
          ? encodeCommand({ type: 'write', leaderTimeMs, ...group[0]!.write })
          : encodeCommand({ type: 'writes', leaderTimeMs, writes: group.map((p) => p.write) });
    } catch (error) {
      for (const p of group) p.reject(error);
      return;
    }
    this.options.propose(data).then(
      (result) => {
        if (group.length === 1) {
          assert(result.kind === 'write' || result.kind === 'refused' || result.kind === 'stale_series', `a write entry applied as ${result.kind}`);
          group[0]!.resolve(result);
          return;
        }
        assert(result.kind === 'writes' && result.results.length === group.length, `a writes entry of ${group.length} applied as ${result.kind}`);
        for (let i = 0; i < group.length; i++) group[i]!.resolve(result.results[i]!);
      },
      (error: unknown) => {
        for (const p of group) p.reject(error);
      },
    );
  }
}
