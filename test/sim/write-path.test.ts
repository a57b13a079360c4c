import { describe, expect, it } from 'vitest';
import { WriteCoalescer } from '../../src/api/write-coalescer.js';
import { decodeCommand, encodeCommand } from '../../src/tsdb/command.js';
import type { ApplyResult } from '../../src/tsdb/state-machine.js';
import { TimeSeriesStateMachine } from '../../src/tsdb/state-machine.js';
import { WRITE_BATCH_VERSION, WRITE_BATCH_VERSION_SERIES_IDS, WriteBatchBuilder } from '../../src/tsdb/write-batch.js';
import { Scheduler } from '../../sim/scheduler.js';
import { DEFAULT_OPTIONS, type SeedResult } from '../../sim/types.js';
import { World } from '../../sim/world.js';

function batchOf(seriesKey: string, timestampMs: number, value: number): Uint8Array {
  const builder = new WriteBatchBuilder();
  builder.addPoint(seriesKey, timestampMs, value, true, null);
  return builder.encode();
}

/** What one run's committed log held, counted from the applied entries. */
interface LogCounts {
  entries: Map<string, number>;
  writesInCoalescedEntries: number;
  /** Coalesced entries holding writes of more than one client. */
  multiClientEntries: number;
  /** Coalesced entries holding several writes of one client (a pipelined burst). */
  pipelinedBurstEntries: number;
  batchVersions: Map<number, number>;
}

async function runAndCount(seed: number, nodes: 3 | 5 = 3): Promise<{ counts: LogCounts; ok: boolean; staleSeries: number; result: SeedResult }> {
  const world = new World({ ...DEFAULT_OPTIONS, seed, nodes });
  const result = await world.run();
  const counts: LogCounts = { entries: new Map(), writesInCoalescedEntries: 0, multiClientEntries: 0, pipelinedBurstEntries: 0, batchVersions: new Map() };
  const bump = <K>(m: Map<K, number>, k: K): void => void m.set(k, (m.get(k) ?? 0) + 1);
  for (const entry of world.checkers.applied.values()) {
    if (entry.data === null) continue;
    const cmd = decodeCommand(entry.data);
    bump(counts.entries, cmd.type);
    if (cmd.type !== 'write' && cmd.type !== 'writes') continue;
    const writes = cmd.type === 'write' ? [cmd] : cmd.writes;
    if (cmd.type === 'writes') {
      counts.writesInCoalescedEntries += writes.length;
      const clients = new Set(writes.map((w) => w.clientId));
      if (clients.size > 1) counts.multiClientEntries++;
      if (clients.size < writes.length) counts.pipelinedBurstEntries++;
    }
    for (const w of writes) bump(counts.batchVersions, w.batch[0]!);
  }
  return { counts, ok: result.ok, staleSeries: result.stale_series, result };
}

describe('the production write path under the simulator', () => {
  it('ends a coalescer turn with an injected deferral: writes submitted in one virtual instant share one entry', async () => {
    const scheduler = new Scheduler();
    const proposed: Uint8Array[] = [];
    const coalescer = new WriteCoalescer({
      propose: (data) => {
        proposed.push(data);
        const cmd = decodeCommand(data);
        const count = cmd.type === 'writes' ? cmd.writes.length : 1;
        const one = { kind: 'write', storedCount: 1, rejectedCount: 0, errors: [], duplicate: false } as const;
        return Promise.resolve<ApplyResult>(count === 1 ? one : { kind: 'writes', results: new Array(count).fill(one) });
      },
      nowMs: () => scheduler.nowMs,
      deferFlush: (fn) => void scheduler.after(0, fn),
    });
    const submit = (clientId: string): void => void coalescer.submit(batchOf('m{h=a}', 1_000, 1), { clientId, sequence: 1, firstUnackedSequence: 1 });
    for (const clientId of ['a', 'b', 'c']) scheduler.at(10, () => submit(clientId));
    scheduler.at(11, () => submit('d'));
    await scheduler.runUntil(20);
    expect(proposed.map((data) => decodeCommand(data).type)).toEqual(['writes', 'write']);
    const first = decodeCommand(proposed[0]!);
    expect(first.type === 'writes' && first.writes.map((w) => w.clientId)).toEqual(['a', 'b', 'c']);
  });

  it("a run's log holds coalesced `writes` entries of several clients, by-id (version 2) batches and retention passes, and writes applied as stale_series; clients pipeline, read through the query path, and send writes to followers, which forward them", async () => {
    let duplicates = 0;
    let staleSeriesWrites = 0;
    const forwarding = { anywhere: 0, forwarded: 0, notLeader: 0, timeouts: 0, together: 0 };
    for (const [seed, nodes] of [[1, 3], [2, 3], [3, 5]] as const) {
      const { counts, ok, staleSeries, result } = await runAndCount(seed, nodes);
      // Pipelining: sessions see firstUnacked below the sequence, several writes of one
      // client in one entry, and sequences applied after a higher one of their client.
      expect(result.max_in_flight).toBeGreaterThanOrEqual(2);
      expect(result.pipelined_writes).toBeGreaterThan(0);
      expect(counts.pipelinedBurstEntries).toBeGreaterThan(0);
      expect(result.out_of_order_writes).toBeGreaterThan(0);
      duplicates += result.duplicate_writes;
      expect(result.linearizable_reads).toBeGreaterThan(0);
      expect(result.stale_reads).toBeGreaterThan(0);
      expect(ok).toBe(true);
      const writeEntries = counts.entries.get('write') ?? 0;
      const coalesced = counts.entries.get('writes') ?? 0;
      // Regularly, not by luck: at least one entry in twenty is a coalesced one.
      expect(coalesced * 20, `seed ${seed}: ${coalesced} writes entries, ${writeEntries} write entries`).toBeGreaterThan(writeEntries);
      expect(counts.writesInCoalescedEntries).toBeGreaterThanOrEqual(2 * coalesced);
      expect(counts.multiClientEntries).toBeGreaterThan(0);
      // Most batches name series the leader already holds by id.
      const byId = counts.batchVersions.get(WRITE_BATCH_VERSION_SERIES_IDS) ?? 0;
      expect(byId).toBeGreaterThan(counts.batchVersions.get(WRITE_BATCH_VERSION) ?? 0);
      expect(counts.entries.get('retention') ?? 0).toBeGreaterThan(0);
      staleSeriesWrites += staleSeries;
      forwarding.anywhere += result.anywhere_writes;
      forwarding.forwarded += result.forwarded_puts;
      forwarding.notLeader += result.forwarded_not_leader;
      forwarding.timeouts += result.forward_timeouts;
      forwarding.together += result.forwarded_together;
    }
    // Retries answered from the session instead of applied again.
    expect(duplicates).toBeGreaterThan(0);
    expect(staleSeriesWrites).toBeGreaterThan(0);
    // Forwarding, regularly: most writes sent to any node reach a follower (2 in 3, 4 in 5)
    // and are forwarded; some forwarded puts meet a node that lost leadership, some time out.
    expect(forwarding.forwarded * 2).toBeGreaterThan(forwarding.anywhere);
    expect(forwarding.notLeader).toBeGreaterThan(0);
    expect(forwarding.timeouts).toBeGreaterThan(0);
    // Several clients' puts forwarded by one follower reach the leader together (one coalescer turn).
    expect(forwarding.together).toBeGreaterThan(0);
  });

  // Found by the simulator once its clients' puts were coalesced: both
  // sessions of a `writes` entry have that entry's index as their recency,
  // and the snapshot decoder refused equal indexes (sessions out of recency
  // order), so every follower installing such a snapshot, and every node
  // restarting on such a checkpoint, stopped on TSR_ERR_CORRUPT_SNAPSHOT.
  it('restores a state whose last entry coalesced the writes of two clients', () => {
    const sm = new TimeSeriesStateMachine();
    sm.apply(
      1,
      encodeCommand({
        type: 'writes',
        leaderTimeMs: 1_000,
        writes: [
          { clientId: 'a', sequence: 1, firstUnackedSequence: 1, batch: batchOf('m{h=a}', 1_000, 1) },
          { clientId: 'b', sequence: 1, firstUnackedSequence: 1, batch: batchOf('m{h=b}', 1_000, 2) },
        ],
      }),
    );
    const bytes = sm.snapshot();
    expect(TimeSeriesStateMachine.restore(bytes).snapshot()).toEqual(bytes);
  });
});
