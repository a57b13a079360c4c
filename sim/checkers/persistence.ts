// Persist before send (docs/storage.md, "Sync policy"): a node may send a
// message that depends on its own state only once that state is durable. A
// granted vote promises the vote is on disk; an append acknowledgement
// promises the entries up to its index are. The simulator sees every message
// a node sends, and after every crash it reads what the node's disk kept:
//   - a vote granted to C in term t: the durable hard state has a later term,
//     or term t and the vote for C;
//   - appends acknowledged up to index i in term t: unless the durable term is
//     later (a newer leader may have truncated them), the durable log reaches i.
// A torn crash is not checked: the half-written last batch may already have
// deleted acknowledged entries without its term change (a truncation for a
// newer leader), which the node detects at load and is rebuilt for.
import type { Message, NodeId } from '../../src/raft/types.js';
import type { MemoryDisk } from '../../src/storage/memory-disk.js';
import { decodeHardState, decodeSnapshotMeta } from '../../src/storage/record-codec.js';
import { readDiskLog } from './log-matching.js';
import type { Violations } from './violations.js';

/** Simulator disk keys of the hard state ("h") and snapshot metadata ("s") records. */
const HARD_STATE_KEY = 'log/68';
const SNAPSHOT_META_KEY = 'log/73';

interface Promises {
  /** Highest index acknowledged in `ackTerm`. */
  ackTerm: number;
  ackIndex: number;
  vote: { term: number; candidate: NodeId } | null;
}

export class PersistenceChecker {
  private readonly promises = new Map<NodeId, Promises>();

  constructor(private readonly violations: Violations) {}

  /** Every message a node sends (whether or not the network delivers it). */
  onSend(m: Message): void {
    if (m.type === 'append-resp' && !m.reject) {
      const p = this.of(m.from);
      if (m.term > p.ackTerm) {
        p.ackTerm = m.term;
        p.ackIndex = m.index;
      } else if (m.term === p.ackTerm && m.index > p.ackIndex) {
        p.ackIndex = m.index;
      }
    } else if (m.type === 'vote-resp' && !m.reject) {
      this.of(m.from).vote = { term: m.term, candidate: m.to };
    }
  }

  /** `node` just crashed: its disk now holds only what was durable. With
   *  `unreliable` (a torn write or an injected bit flip) nothing is checked. */
  onCrash(node: NodeId, disk: MemoryDisk, unreliable: boolean): void {
    const p = this.promises.get(node);
    this.promises.delete(node);
    if (p === undefined || unreliable) return;
    let term = 0;
    let vote: NodeId | null = null;
    let lastIndex = 0;
    try {
      const hs = disk.read(HARD_STATE_KEY);
      if (hs !== undefined) ({ term, vote } = decodeHardState(hs));
      const snap = disk.read(SNAPSHOT_META_KEY);
      if (snap !== undefined) lastIndex = decodeSnapshotMeta(snap).index;
    } catch {
      return; // corrupt records: the node will detect it at load and be rebuilt
    }
    for (const index of readDiskLog(disk).keys()) if (index > lastIndex) lastIndex = index;
    if (p.vote !== null && term <= p.vote.term && !(term === p.vote.term && vote === p.vote.candidate)) {
      this.violations.report('durability', `${node} granted its vote to ${p.vote.candidate} in term ${p.vote.term}, but after a crash its disk holds term ${term}, vote ${vote ?? 'none'}: the vote was sent before it was durable`, {
        node,
        term: p.vote.term,
      });
    }
    if (p.ackIndex > 0 && term <= p.ackTerm && lastIndex < p.ackIndex) {
      this.violations.report('durability', `${node} acknowledged entries up to ${p.ackIndex} in term ${p.ackTerm}, but after a crash its log ends at ${lastIndex}: the acknowledgement was sent before the entries were durable`, {
        node,
        index: p.ackIndex,
        term: p.ackTerm,
      });
    }
  }

  /** The disk was lost on purpose (wipe): nothing it promised survives. */
  onWipe(node: NodeId): void {
    this.promises.delete(node);
  }

  private of(node: NodeId): Promises {
    let p = this.promises.get(node);
    if (p === undefined) this.promises.set(node, (p = { ackTerm: 0, ackIndex: 0, vote: null }));
    return p;
  }
}
