// The write coalescer on a real state machine behind a stand-in for the
// replica that applies each proposal at the next index.
import { describe, expect, it } from 'vitest';
import { WriteCoalescer } from '../../src/api/write-coalescer.js';
import { TsraftError } from '../../src/errors.js';
import { decodeCommand } from '../../src/tsdb/command.js';
import { TimeSeriesStateMachine, type ApplyResult } from '../../src/tsdb/state-machine.js';
import { WriteBatchBuilder } from '../../src/tsdb/write-batch.js';

const T0 = 1_700_000_000_000;

function batchOf(host: string, value: number): Uint8Array {
  const builder = new WriteBatchBuilder();
  builder.addPoint(`cpu{host=${host}}`, T0, value, true, null);
  return builder.encode();
}

function setup(options: { maxWritesPerEntry?: number; maxBatchBytesPerEntry?: number } = {}): { coalescer: WriteCoalescer; proposed: Uint8Array[]; sm: TimeSeriesStateMachine } {
  const sm = new TimeSeriesStateMachine();
  const proposed: Uint8Array[] = [];
  const coalescer = new WriteCoalescer({
    propose: async (data): Promise<ApplyResult> => {
      proposed.push(data);
      return sm.apply(sm.appliedIndex + 1, data);
    },
    nowMs: () => T0,
    ...options,
  });
  return { coalescer, proposed, sm };
}

const session = (sequence: number) => ({ clientId: 'c', sequence, firstUnackedSequence: 1 });

describe('WriteCoalescer', () => {
  it('proposes the writes of one turn as one entry and answers each with its own result', async () => {
    const { coalescer, proposed, sm } = setup();
    const results = await Promise.all([coalescer.submit(batchOf('a', 1), session(1)), coalescer.submit(batchOf('b', 2), session(2)), coalescer.submit(batchOf('a', 3), session(1))]);
    expect(proposed.map((d) => decodeCommand(d).type)).toEqual(['writes']);
    expect(results).toEqual([
      { kind: 'write', storedCount: 1, rejectedCount: 0, errors: [], duplicate: false },
      { kind: 'write', storedCount: 1, rejectedCount: 0, errors: [], duplicate: false },
      { kind: 'write', storedCount: 1, rejectedCount: 0, errors: [], duplicate: true },
    ]);
    expect(sm.stats().pointCount).toBe(2);
  });

  it('proposes a write alone in its turn as a plain write entry', async () => {
    const { coalescer, proposed } = setup();
    await coalescer.submit(batchOf('a', 1), undefined);
    await coalescer.submit(batchOf('b', 1), undefined);
    expect(proposed.map((d) => decodeCommand(d).type)).toEqual(['write', 'write']);
  });

  it('starts another entry at its bounds on writes and bytes', async () => {
    const byCount = setup({ maxWritesPerEntry: 2 });
    await Promise.all([1, 2, 3, 4, 5].map((i) => byCount.coalescer.submit(batchOf(`h${i}`, i), undefined)));
    expect(byCount.proposed.map((d) => decodeCommand(d).type)).toEqual(['writes', 'writes', 'write']);
    const one = batchOf('h1', 1).length;
    const byBytes = setup({ maxBatchBytesPerEntry: one * 2 });
    await Promise.all([1, 2, 3].map((i) => byBytes.coalescer.submit(batchOf(`h${i}`, i), undefined)));
    expect(byBytes.proposed.map((d) => decodeCommand(d).type)).toEqual(['writes', 'write']);
  });

  it('refuses a malformed session alone, and proposes the others', async () => {
    const { coalescer, proposed } = setup();
    const bad = coalescer.submit(batchOf('a', 1), { clientId: 'c', sequence: 2, firstUnackedSequence: 3 });
    const good = coalescer.submit(batchOf('b', 1), session(1));
    await expect(bad).rejects.toMatchObject({ code: 'TSR_ERR_INVALID_ARGUMENT' });
    await expect(good).resolves.toMatchObject({ kind: 'write', storedCount: 1 });
    expect(proposed.map((d) => decodeCommand(d).type)).toEqual(['write']);
  });

  it('fails every write of the entry when the proposal fails', async () => {
    const coalescer = new WriteCoalescer({
      propose: () => Promise.reject(new TsraftError('TSR_ERR_NOT_LEADER', 'not the leader', { details: {} })),
      nowMs: () => T0,
    });
    const outcomes = await Promise.allSettled([coalescer.submit(batchOf('a', 1), undefined), coalescer.submit(batchOf('b', 1), undefined)]);
    expect(outcomes.map((o) => o.status === 'rejected' && (o.reason as TsraftError).code)).toEqual(['TSR_ERR_NOT_LEADER', 'TSR_ERR_NOT_LEADER']);
    expect(coalescer.pendingCount).toBe(0);
  });
});
