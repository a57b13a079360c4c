// A small world for replica tests: real Replicas on the simulator's memory
// disks, its in-process network (messages go through the real frame codec)
// and virtual clocks, driven by the simulator's scheduler. A tiny state
// machine records what it applied, so tests read as scripts without the
// time-series machinery.
import type { ConfigState, NodeId } from '../../src/raft/types.js';
import { Replica } from '../../src/replica/replica.js';
import type { ReplicaObserver, ReplicaOptions, ReplicatedStateMachine } from '../../src/replica/types.js';
import { MemoryDisk, MemoryRaftLogStore, MemorySnapshotStore } from '../../src/storage/memory-stores.js';
import { SeededPrng } from '../../src/util/prng.js';
import { NodeClock } from '../../sim/clock.js';
import { SimNetwork } from '../../sim/network.js';
import { Scheduler } from '../../sim/scheduler.js';
import { Trace } from '../../sim/trace.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

export function bytes(s: string): Uint8Array {
  return enc.encode(s);
}

/** Applies strings; answers `applied:<text>@<index>`. */
export class ListStateMachine implements ReplicatedStateMachine<string> {
  items: string[] = [];
  appliedIndex = 0;

  apply(index: number, data: Uint8Array): string {
    const text = dec.decode(data);
    this.items.push(text);
    this.appliedIndex = index;
    return `applied:${text}@${index}`;
  }

  snapshot(): Uint8Array {
    return bytes(JSON.stringify({ items: this.items, appliedIndex: this.appliedIndex }));
  }

  restore(data: Uint8Array): void {
    const parsed = JSON.parse(dec.decode(data)) as { items: string[]; appliedIndex: number };
    this.items = parsed.items;
    this.appliedIndex = parsed.appliedIndex;
  }

  stateHash(): string {
    return JSON.stringify(this.items);
  }
}

export interface TestReplica {
  id: NodeId;
  disk: MemoryDisk;
  replica: Replica<string>;
  sm: ListStateMachine;
  transportPeers(): Record<NodeId, string>;
  alive: boolean;
  fatal: unknown[];
}

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown } | { ok: 'pending' };

export class ReplicaWorld {
  readonly scheduler = new Scheduler();
  readonly prng: SeededPrng;
  readonly trace: Trace;
  readonly network: SimNetwork;
  readonly nodes = new Map<NodeId, TestReplica>();
  readonly founding: ConfigState;
  /** Disk completions held back per node (to order durability by hand). */
  readonly heldWrites = new Map<NodeId, Array<() => void>>();
  readonly holdDisk = new Set<NodeId>();
  private readonly incarnations = new Map<NodeId, number>();
  private readonly disks = new Map<NodeId, MemoryDisk>();

  constructor(
    ids: NodeId[],
    private readonly options: Partial<ReplicaOptions<string>> & { observer?: ReplicaObserver } = {},
    seed = 7,
  ) {
    this.prng = new SeededPrng(seed);
    this.trace = new Trace(() => this.scheduler.nowMs);
    this.network = new SimNetwork(this.scheduler, this.prng, this.trace);
    this.founding = { voters: [...ids].sort(), learners: [], contexts: Object.fromEntries(ids.map((id) => [id, `ws://${id}:8180`])) };
  }

  disk(id: NodeId): MemoryDisk {
    let disk = this.disks.get(id);
    if (disk === undefined) {
      disk = new MemoryDisk({
        schedule: (complete) => {
          if (this.holdDisk.has(id)) {
            const held = this.heldWrites.get(id) ?? [];
            held.push(complete);
            this.heldWrites.set(id, held);
          } else {
            this.scheduler.after(1, complete);
          }
        },
      });
      this.disks.set(id, disk);
    }
    return disk;
  }

  /** Start every founding node. */
  async startAll(): Promise<void> {
    const all = await this.settle(Promise.all(this.founding.voters.map((id) => this.launch(id, this.founding))), 5_000);
    if (all.ok !== true) throw new Error(`the founding nodes did not start: ${all.ok === false ? String(all.error) : 'pending'}`);
  }

  /** Start a process of `id` on its disk; resolves when its replica runs. */
  async start(id: NodeId, bootstrap: ConfigState | null, extra: Partial<ReplicaOptions<string>> = {}): Promise<TestReplica> {
    const result = await this.settle(this.launch(id, bootstrap, extra), 5_000);
    if (result.ok !== true) throw result.ok === false ? result.error : new Error(`start of ${id} did not finish`);
    return result.value;
  }

  private launch(id: NodeId, bootstrap: ConfigState | null, extra: Partial<ReplicaOptions<string>> = {}): Promise<TestReplica> {
    const incarnation = (this.incarnations.get(id) ?? 0) + 1;
    this.incarnations.set(id, incarnation);
    const gate = (): number | null | 'dead' => (this.incarnations.get(id) === incarnation && this.nodes.get(id)?.alive !== false ? null : 'dead');
    const clock = new NodeClock(this.scheduler, gate);
    const transport = this.network.attach(id, gate);
    const disk = this.disk(id);
    const sm = new ListStateMachine();
    const fatal: unknown[] = [];
    const started = (async () => {
      const logStore = await MemoryRaftLogStore.open(disk);
      const replica = new Replica<string>({
        id,
        logStore,
        snapshotStore: new MemorySnapshotStore(disk),
        transport,
        clock,
        prng: this.prng.fork(),
        stateMachine: sm,
        bootstrap,
        tickIntervalMs: 50,
        defer: (fn) => queueMicrotask(fn),
        onFatal: (e) => fatal.push(e),
        ...this.options,
        ...extra,
      });
      const node: TestReplica = { id, disk, replica, sm, alive: true, fatal, transportPeers: () => ({ ...(transport as unknown as { peers: Record<NodeId, string> }).peers }) };
      this.nodes.set(id, node);
      await replica.start();
      return node;
    })();
    return started;
  }

  node(id: NodeId): TestReplica {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  replica(id: NodeId): Replica<string> {
    return this.node(id).replica;
  }

  /** Power loss: unsynced writes are lost, the process is gone. With 'kill'
   *  (kill -9, the machine stays up) every write issued survives. */
  crash(id: NodeId, how: 'power' | 'kill' = 'power'): void {
    const n = this.node(id);
    n.alive = false;
    this.heldWrites.delete(id);
    if (how === 'kill') n.disk.kill();
    else n.disk.crash();
    this.network.detach(id);
  }

  /** Let every held write of `id` complete. */
  releaseDisk(id: NodeId): void {
    this.holdDisk.delete(id);
    const held = this.heldWrites.get(id) ?? [];
    this.heldWrites.delete(id);
    for (const complete of held) complete();
  }

  async run(ms: number): Promise<void> {
    await this.scheduler.runUntil(this.scheduler.nowMs + ms);
  }

  /** Run virtual time until `cond` holds; throws after boundMs. */
  async waitFor(cond: () => boolean, boundMs = 10_000, what = 'condition'): Promise<void> {
    const end = this.scheduler.nowMs + boundMs;
    while (!cond()) {
      if (this.scheduler.nowMs >= end) throw new Error(`timed out after ${boundMs} virtual ms waiting for ${what}`);
      await this.scheduler.runUntil(this.scheduler.nowMs + 10);
    }
  }

  /** Run virtual time until `p` settles (or boundMs passes). */
  async settle<T>(p: Promise<T>, boundMs = 10_000): Promise<Settled<T>> {
    let outcome: Settled<T> = { ok: 'pending' };
    p.then(
      (value) => (outcome = { ok: true, value }),
      (error: unknown) => (outcome = { ok: false, error }),
    );
    const end = this.scheduler.nowMs + boundMs;
    while (outcome.ok === 'pending' && this.scheduler.nowMs < end) await this.scheduler.runUntil(this.scheduler.nowMs + 5);
    return outcome;
  }

  leader(): TestReplica | null {
    let best: TestReplica | null = null;
    let bestTerm = -1;
    for (const n of this.nodes.values()) {
      if (!n.alive || n.replica.state !== 'running') continue;
      const s = n.replica.status();
      if (s.role === 'leader' && s.term > bestTerm) {
        best = n;
        bestTerm = s.term;
      }
    }
    return best;
  }

  async waitForLeader(boundMs = 10_000): Promise<TestReplica> {
    await this.waitFor(() => this.leader() !== null, boundMs, 'a leader');
    return this.leader()!;
  }

  followers(): TestReplica[] {
    const leader = this.leader();
    return [...this.nodes.values()].filter((n) => n !== leader && n.alive);
  }
}

export function codeOf(outcome: Settled<unknown>): string | undefined {
  if (outcome.ok !== false) return undefined;
  return (outcome.error as { code?: string }).code;
}
