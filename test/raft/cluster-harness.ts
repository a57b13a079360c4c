// A small, synchronous world for Raft core tests: nodes, an in-memory
// "disk" per node that follows the persistence contract, a message queue
// with partitions and drops, and a state machine that records what it
// applied. It is deliberately plain so scenario tests read as scripts.
import { RaftNode } from '../../src/raft/raft.js';
import { maySendBeforePersist } from '../../src/raft/types.js';
import type { ConfigState, Entry, HardState, Message, NodeId, RaftConfig, Ready, SnapshotMeta } from '../../src/raft/types.js';
import { SeededPrng } from '../../src/util/prng.js';
import { bootstrapLog, EMPTY_CONFIG } from '../../src/raft/bootstrap.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

export function bytes(s: string): Uint8Array {
  return enc.encode(s);
}

export function text(b: Uint8Array): string {
  return dec.decode(b);
}

/** What survives a crash: only what was persisted through Ready. */
export interface Disk {
  hardState: HardState;
  entries: Entry[];
  snapshot: SnapshotMeta | null;
  snapshotData: Uint8Array | null;
  incoming: Uint8Array | null;
}

export interface TestNode {
  id: NodeId;
  raft: RaftNode;
  disk: Disk;
  /** Applied normal entries' data (as text), in order, with their index. */
  applied: Array<{ index: number; term: number; data: string }>;
  appliedIndex: number;
  readStates: Array<{ requestId: string; index: number }>;
  readFailures: Array<{ requestId: string; code: string }>;
  crashed: boolean;
}

export interface ClusterOptions {
  seed?: number;
  raft?: Partial<Omit<RaftConfig, 'id' | 'prng'>>;
  perNode?: Record<NodeId, Partial<Omit<RaftConfig, 'id' | 'prng'>>>;
  /** Initial log/term per node (for scripted situations such as Figure 7). */
  initial?: Record<NodeId, { term: number; entryTerms: number[]; vote?: NodeId | null }>;
  learners?: NodeId[];
}

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages in flight, in send order. */
  queue: Message[] = [];
  /** Pairs (from→to) whose messages are dropped. */
  private readonly cut = new Set<string>();
  /** Optional filter: return false to drop a message, or a replacement message. */
  filter: ((m: Message) => boolean | Message) | null = null;
  readonly delivered: Message[] = [];
  readonly prng: SeededPrng;
  private readonly options: ClusterOptions;
  /** Membership before index 1: the scripted-log clusters have it implicit;
   *  normal clusters carry it in bootstrap config entries. */
  private readonly bootstrap: ConfigState;

  constructor(ids: NodeId[], options: ClusterOptions = {}) {
    this.options = options;
    this.prng = new SeededPrng(options.seed ?? 1);
    const learners = options.learners ?? [];
    const founding: ConfigState = {
      voters: ids.filter((id) => !learners.includes(id)).sort(),
      learners: [...learners].sort(),
      contexts: Object.fromEntries(ids.map((id) => [id, `url-${id}`])),
    };
    this.bootstrap = options.initial !== undefined ? founding : EMPTY_CONFIG;
    const boot = bootstrapLog(founding);
    for (const id of ids) {
      const init = options.initial?.[id];
      const disk: Disk =
        options.initial !== undefined
          ? {
              hardState: { term: init?.term ?? 0, vote: init?.vote ?? null, commit: 0 },
              entries: (init?.entryTerms ?? []).map((term, i) => ({ index: i + 1, term, kind: 'normal' as const, data: bytes(`${id}@${i + 1}`) })),
              snapshot: null,
              snapshotData: null,
              incoming: null,
            }
          : { hardState: { ...boot.hardState }, entries: boot.entries.slice(), snapshot: null, snapshotData: null, incoming: null };
      this.nodes.set(id, this.boot(id, disk));
    }
  }

  /** Add a brand-new node (empty disk) that will learn membership from the leader. */
  addNode(id: NodeId): TestNode {
    const disk: Disk = { hardState: { term: 0, vote: null, commit: 0 }, entries: [], snapshot: null, snapshotData: null, incoming: null };
    const node = this.boot(id, disk, EMPTY_CONFIG);
    this.nodes.set(id, node);
    return node;
  }

  private boot(id: NodeId, disk: Disk, bootstrapConfig: ConfigState = this.bootstrap): TestNode {
    const snapshotApplied = disk.snapshot !== null && disk.snapshotData !== null ? decodeApplied(disk.snapshotData) : [];
    // Scenario tests see every commit sent at once, as the paper's figures do;
    // replication.test.ts covers commits deferred to the next message (commitNowBytes).
    const raft = new RaftNode(
      { id, prng: new SeededPrng(this.prng.nextUint32()), commitNowBytes: 0, ...this.options.raft, ...this.options.perNode?.[id] },
      {
        hardState: { ...disk.hardState },
        snapshot: disk.snapshot,
        entries: disk.entries.filter((e) => e.index > (disk.snapshot?.index ?? 0)),
        bootstrapConfig,
        applied: disk.snapshot?.index ?? 0,
      },
    );
    return {
      id,
      raft,
      disk,
      applied: snapshotApplied,
      appliedIndex: disk.snapshot?.index ?? 0,
      readStates: [],
      readFailures: [],
      crashed: false,
    };
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  raft(id: NodeId): RaftNode {
    return this.node(id).raft;
  }

  leader(): NodeId | null {
    let found: NodeId | null = null;
    let bestTerm = -1;
    for (const n of this.nodes.values()) {
      if (n.crashed) continue;
      const s = n.raft.status();
      if (s.role === 'leader' && s.term > bestTerm) {
        found = n.id;
        bestTerm = s.term;
      }
    }
    return found;
  }

  // ---- network

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  partition(...groups: NodeId[][]): void {
    for (const g of groups) {
      for (const a of g) {
        for (const other of this.nodes.keys()) if (!g.includes(other)) this.cut.add(`${a}>${other}`);
      }
    }
  }

  /** One-way cut: messages from `from` to `to` are lost. */
  cutOneWay(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** The message as delivered, or null when it is lost. */
  private deliverable(m: Message): Message | null {
    if (this.cut.has(`${m.from}>${m.to}`)) return null;
    const to = this.nodes.get(m.to);
    if (to === undefined || to.crashed) return null;
    if (this.filter === null) return m;
    const verdict = this.filter(m);
    if (verdict === false) return null;
    return verdict === true ? m : verdict;
  }

  // ---- driving

  /** Process one node's Ready: send what may go early, persist, send the
   *  rest, apply, advance. With crashBeforePersist the node sends the early
   *  messages and then crashes before its write reaches the disk. */
  handleReady(id: NodeId, options: { crashBeforePersist?: boolean } = {}): boolean {
    const n = this.node(id);
    if (n.crashed || !n.raft.hasReady()) return false;
    const rd = n.raft.ready();
    const send = (m: Message): void => {
      const filled = this.fillSnapshotData(n, m);
      if (filled !== null) this.queue.push(filled);
      else n.raft.reportSnapshotFailed(m.to); // replaced by a newer snapshot meanwhile
    };
    const queuedBefore = this.queue.length;
    for (const m of rd.messages) if (maySendBeforePersist(m)) send(m);
    if (options.crashBeforePersist === true) {
      // The early messages are already on the network; the write never lands.
      const early = this.queue.splice(queuedBefore);
      this.crash(id);
      this.queue.push(...early);
      return true;
    }
    this.persist(n, rd);
    for (const m of rd.messages) if (!maySendBeforePersist(m)) send(m);
    this.apply(n, rd);
    n.raft.advance(rd);
    return true;
  }

  private persist(n: TestNode, rd: Ready): void {
    for (const c of rd.snapshotChunks) {
      if (c.offset === 0) n.disk.incoming = new Uint8Array(0);
      const prev = n.disk.incoming ?? new Uint8Array(0);
      if (prev.length !== c.offset) throw new Error(`harness: chunk at ${c.offset} but have ${prev.length} bytes`);
      const next = new Uint8Array(prev.length + c.data.length);
      next.set(prev);
      next.set(c.data, prev.length);
      n.disk.incoming = next;
    }
    if (rd.snapshot !== null) {
      if (n.disk.incoming === null || n.disk.incoming.length !== rd.snapshot.sizeBytes) throw new Error('harness: snapshot incomplete');
      n.disk.snapshot = rd.snapshot;
      n.disk.snapshotData = n.disk.incoming;
      n.disk.incoming = null;
      n.disk.entries = n.disk.entries.filter((e) => e.index > rd.snapshot!.index);
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0]!.index;
      n.disk.entries = n.disk.entries.filter((e) => e.index < first).concat(rd.entries);
    }
    if (rd.hardState !== null) n.disk.hardState = { ...rd.hardState };
  }

  /** The message with its snapshot chunk filled in, or null when that
   *  snapshot is no longer stored (a newer one replaced it). */
  private fillSnapshotData(n: TestNode, m: Message): Message | null {
    if (m.type !== 'snapshot') return m;
    const data = n.disk.snapshotData;
    if (data === null || n.disk.snapshot?.index !== m.meta.index) return null;
    return { ...m, data: data.slice(m.offset, m.offset + m.length) };
  }

  private apply(n: TestNode, rd: Ready): void {
    if (rd.snapshot !== null) {
      n.applied = decodeApplied(n.disk.snapshotData!);
      n.appliedIndex = rd.snapshot.index;
    }
    for (const e of rd.committedEntries) {
      if (e.index !== n.appliedIndex + 1) throw new Error(`harness: ${n.id} applies ${e.index} after ${n.appliedIndex}`);
      n.appliedIndex = e.index;
      if (e.kind === 'normal' && e.data.length > 0) n.applied.push({ index: e.index, term: e.term, data: text(e.data) });
    }
    n.readStates.push(...rd.readStates);
    n.readFailures.push(...rd.readFailures);
  }

  /** Deliver one queued message; returns false when the queue is empty. */
  deliverOne(): boolean {
    const m = this.queue.shift();
    if (m === undefined) return false;
    const delivered = this.deliverable(m);
    if (delivered !== null) {
      this.delivered.push(delivered);
      this.node(delivered.to).raft.step(delivered);
    }
    return true;
  }

  /** Run Ready processing and delivery until nothing moves. */
  stabilize(maxSteps = 100_000): void {
    for (let step = 0; step < maxSteps; step++) {
      let moved = false;
      for (const id of this.nodes.keys()) if (this.handleReady(id)) moved = true;
      while (this.deliverOne()) moved = true;
      if (!moved) return;
    }
    throw new Error('harness: did not stabilize');
  }

  /** Like stabilize() but stops after `rounds` rounds without complaint
   *  (for worlds with planted bugs, which may never settle). */
  runRounds(rounds: number): void {
    for (let r = 0; r < rounds; r++) {
      for (const id of this.nodes.keys()) this.handleReady(id);
      const inFlight = this.queue.length;
      for (let i = 0; i < inFlight; i++) this.deliverOne();
    }
  }

  /** Tick every live node once, then stabilize. */
  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const n of this.nodes.values()) if (!n.crashed) n.raft.tick();
      this.stabilize();
    }
  }

  /** Tick until some node is leader (bounded). */
  electLeader(maxTicks = 200): NodeId {
    for (let i = 0; i < maxTicks; i++) {
      const l = this.leader();
      if (l !== null) return l;
      this.tickAll();
    }
    throw new Error('harness: no leader elected');
  }

  /** Make `id` campaign right now and settle. */
  campaign(id: NodeId): void {
    this.raft(id).campaign();
    this.stabilize();
  }

  propose(id: NodeId, data: string): ReturnType<RaftNode['propose']> {
    return this.raft(id).propose(bytes(data));
  }

  // ---- process faults

  /** Lose everything not persisted: rebuild the node from its disk. */
  crash(id: NodeId): void {
    this.node(id).crashed = true;
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
  }

  restart(id: NodeId): void {
    const old = this.node(id);
    this.nodes.set(id, this.boot(id, old.disk, this.bootstrap));
  }

  /** Take a snapshot of node `id`'s applied state and compact its log to `keep` entries behind. */
  snapshotAndCompact(id: NodeId, keep = 0): SnapshotMeta {
    const n = this.node(id);
    const status = n.raft.status();
    const index = n.appliedIndex;
    const term = n.raft.termOf(index)!;
    const data = encodeApplied(n.applied);
    const meta: SnapshotMeta = { index, term, config: status.config, sizeBytes: data.length };
    n.raft.snapshotCreated(meta);
    n.disk.snapshot = meta;
    n.disk.snapshotData = data;
    const upTo = Math.max(0, index - keep);
    if (upTo > (n.raft.status().firstIndex - 1)) {
      n.raft.compactLog(upTo);
      n.disk.entries = n.disk.entries.filter((e) => e.index > upTo);
    }
    return meta;
  }

  // ---- checks

  /** Applied sequences of all live nodes are prefixes of one another. */
  checkStateMachineSafety(): void {
    const seqs = [...this.nodes.values()].map((n) => n.applied.map((a) => `${a.index}:${a.term}:${a.data}`));
    const longest = seqs.reduce((a, b) => (b.length > a.length ? b : a), [] as string[]);
    for (const s of seqs) {
      for (let i = 0; i < s.length; i++) {
        if (s[i] !== longest[i]) throw new Error(`state machine safety violated at position ${i}: ${s[i]} vs ${longest[i]}`);
      }
    }
  }
}

function encodeApplied(applied: TestNode['applied']): Uint8Array {
  return bytes(JSON.stringify(applied));
}

function decodeApplied(data: Uint8Array): TestNode['applied'] {
  return JSON.parse(text(data)) as TestNode['applied'];
}
