// A state machine that keeps its own durable copy (ReplicaOptions.persistence):
// the replica checkpoints it every so many entries and on stop, and a restart
// replays only the entries after the checkpoint (docs/replica.md).
import { describe, expect, it } from 'vitest';
import type { StateMachinePersistence } from '../../src/replica/types.js';
import type { MemoryDisk } from '../../src/storage/memory-disk.js';
import { ListStateMachine, ReplicaWorld, bytes } from './harness.js';

const IDS = ['a', 'b', 'c'];
const KEY = 'lsm/state';

/** ListStateMachine that loads from and checkpoints to its node's disk; counts the entries applied by this process. */
class PersistedList extends ListStateMachine implements StateMachinePersistence {
  appliedThisProcess = 0;
  checkpoints = 0;

  constructor(private readonly disk: MemoryDisk) {
    super();
    const stored = disk.read(KEY);
    if (stored !== undefined) super.restore(stored);
  }

  override apply(index: number, data: Uint8Array): string {
    this.appliedThisProcess++;
    return super.apply(index, data);
  }

  restoresFromSnapshot = 0;

  override restore(data: Uint8Array): void {
    this.restoresFromSnapshot++;
    super.restore(data);
  }

  /** Configuration entries and no-ops move the index the checkpoint covers. */
  noteUnappliedEntry(index: number): void {
    this.appliedIndex = index;
  }

  async persist(): Promise<number> {
    // Captured synchronously; written unsynced like the real store.
    const index = this.appliedIndex;
    const state = this.snapshot();
    await this.disk.write([{ type: 'put', key: KEY, value: state }], { sync: false });
    this.checkpoints++;
    return index;
  }
}

async function start(w: ReplicaWorld, id: string, machines: Map<string, PersistedList>, persistEveryEntries = 10, snapshotEveryEntries = 1_000_000): Promise<PersistedList> {
  const sm = new PersistedList(w.disk(id));
  machines.set(id, sm);
  await w.start(id, w.founding, { stateMachine: sm, persistence: sm, persistEveryEntries, snapshotEveryEntries, logEntriesKeptAfterSnapshot: 100 });
  return sm;
}

async function cluster(persistEveryEntries = 10): Promise<{ w: ReplicaWorld; machines: Map<string, PersistedList> }> {
  const w = new ReplicaWorld(IDS);
  const machines = new Map<string, PersistedList>();
  await Promise.all(IDS.map((id) => start(w, id, machines, persistEveryEntries)));
  await w.waitForLeader();
  return { w, machines };
}

async function write(w: ReplicaWorld, count: number, prefix: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    const outcome = await w.settle(w.leader()!.replica.propose(bytes(`${prefix}${i}`)));
    expect(outcome.ok).toBe(true);
  }
}

describe('Replica: state machine checkpoints', () => {
  it('checkpoints every persistEveryEntries applied entries', async () => {
    const { w, machines } = await cluster(10);
    await write(w, 35, 'x');
    await w.run(500);
    for (const id of IDS) expect(machines.get(id)!.checkpoints).toBeGreaterThanOrEqual(3);
  });

  it('replays only the entries after the last checkpoint when restarted after a crash', async () => {
    const { w, machines } = await cluster(10);
    await write(w, 40, 'x');
    await w.run(500);
    const follower = w.followers()[0]!.id;
    const before = machines.get(follower)!;
    const appliedBefore = before.appliedIndex;
    w.crash(follower);
    const after = await start(w, follower, machines);
    expect(after.appliedIndex).toBeGreaterThan(0);
    await w.waitFor(() => after.appliedIndex >= appliedBefore, 5_000, 'the restarted follower catches up');
    expect(after.items).toEqual(before.items);
    // At most one checkpoint interval (plus the no-op/config entries it skips) is applied again.
    expect(after.appliedThisProcess).toBeLessThan(10);
  });

  it('writes a last checkpoint on stop, so the next start applies nothing again', async () => {
    const { w, machines } = await cluster(1_000);
    await write(w, 25, 'y');
    await w.run(300);
    const follower = w.followers()[0]!;
    const before = machines.get(follower.id)!;
    const settled = await w.settle(follower.replica.stop());
    expect(settled.ok).toBe(true);
    expect(before.checkpoints).toBe(1);
    w.node(follower.id).alive = false;
    w.network.detach(follower.id);
    const after = await start(w, follower.id, machines, 1_000);
    await w.run(500);
    expect(after.items).toEqual(before.items);
    expect(after.appliedThisProcess).toBe(0);
  });

  it('catches up from the kept log, not by installing the local snapshot, when a little behind it', async () => {
    const w = new ReplicaWorld(IDS);
    const machines = new Map<string, PersistedList>();
    // Checkpoints every 15 entries, local snapshots every 10: after about 26
    // entries the stored state machine (15) is behind the newest snapshot (20).
    await Promise.all(IDS.map((id) => start(w, id, machines, 15, 10)));
    await w.waitForLeader();
    await write(w, 22, 'k');
    await w.run(300);
    const follower = w.followers()[0]!.id;
    const before = machines.get(follower)!;
    const snapshotIndex = w.replica(follower).status().snapshotIndex;
    expect(snapshotIndex).toBeGreaterThan(0);
    w.crash(follower);
    const stored = new PersistedList(w.disk(follower));
    expect(stored.appliedIndex).toBeLessThan(snapshotIndex);
    const after = await start(w, follower, machines, 15, 10);
    expect(after.restoresFromSnapshot).toBe(0);
    await w.waitFor(() => after.items.length === before.items.length, 5_000, 'the follower catches up');
    expect(after.items).toEqual(before.items);
  });

  it('refuses to start when the state machine is ahead of the end of its log', async () => {
    const { w, machines } = await cluster(5);
    await write(w, 12, 'z');
    await w.run(300);
    const follower = w.followers()[0]!.id;
    w.crash(follower);
    // The log is lost (a wiped Raft sublevel) but the state machine's copy is not.
    const disk = w.disk(follower);
    expect((await w.settle(disk.write(disk.keys('log/').map((key) => ({ type: 'del' as const, key }))))).ok).toBe(true);
    const sm = new PersistedList(disk);
    machines.set(follower, sm);
    const error = await w.start(follower, null, { stateMachine: sm, persistence: sm }).then(
      () => null,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(error?.code).toBe('TSR_ERR_CORRUPT_STATE');
    expect(error?.message).toMatch(/the log ends at 0/);
  });
});
