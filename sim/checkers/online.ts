// Checkers that watch the replicas as they run (through ReplicaObserver):
//  - election safety: at most one leader per term (Raft Figure 3);
//  - state machine safety: every index is applied with the same entry on
//    every replica (so each replica's applied sequence is a prefix of the
//    longest), and local snapshots at the same index are byte-identical;
//  - entry identity (half of log matching): an (index, term) pair names one
//    entry everywhere, at all times;
//  - leader completeness: a new leader holds every entry applied anywhere.
// The applied log they build is also the commit order the linearizability
// and durability checkers use.
import { COMMAND_TYPE } from '../../src/tsdb/command.js';
import type { ApplyResult } from '../../src/tsdb/state-machine.js';
import type { Entry, NodeId, SnapshotMeta, SoftState } from '../../src/raft/types.js';
import type { ReplicaObserver } from '../../src/replica/types.js';
import { digestBytes } from '../digest.js';
import type { Trace } from '../trace.js';
import type { Violations } from './violations.js';

/** How one client write of an entry applied. `effective`: it changed state
 *  (not a duplicate retry, not refused, not stale_series). */
export type WriteApplyKind = 'effective' | 'duplicate' | 'refused' | 'stale_series';

export interface AppliedEntry {
  index: number;
  term: number;
  kind: Entry['kind'];
  digest: string;
  /** How each client write of a `write` or `writes` entry applied, in
   *  order; null for other entries. */
  writes: WriteApplyKind[] | null;
  /** The entry's data, kept for writes and retention passes (the commit
   *  order replays them against the client history). */
  data: Uint8Array | null;
  firstNode: NodeId;
}

/** What the checkers need to see of a node's Raft log. */
export interface LogView {
  termAt(node: NodeId, index: number): number | undefined;
  lastIndex(node: NodeId): number;
}

export class OnlineCheckers implements ReplicaObserver {
  readonly applied = new Map<number, AppliedEntry>();
  maxAppliedIndex = 0;
  readonly leaderOfTerm = new Map<number, NodeId>();
  /** Highest term in which a leader was seen (before any entry it commits is applied). */
  private maxLeaderTerm = 0;
  private readonly entryIdentity = new Map<string, string>();
  private readonly snapshotDigests = new Map<number, { digest: string; node: NodeId }>();
  snapshotsInstalled = 0;
  readonly installedBy = new Map<NodeId, number>();
  snapshotsTaken = 0;

  constructor(
    private readonly violations: Violations,
    private readonly trace: Trace,
    private readonly logs: LogView,
  ) {}

  onSoftState(id: NodeId, soft: SoftState): void {
    this.trace.record('role', `${id} ${soft.role} t${soft.term} leader=${soft.leader ?? '-'}`);
    if (soft.role !== 'leader') return;
    const earlier = this.leaderOfTerm.get(soft.term);
    if (earlier !== undefined && earlier !== id) {
      this.violations.report('election-safety', `two leaders in term ${soft.term}: ${earlier} and ${id}`, { term: soft.term, leaders: [earlier, id] });
    }
    if (earlier === undefined) this.leaderOfTerm.set(soft.term, id);
    if (soft.term > this.maxLeaderTerm) this.maxLeaderTerm = soft.term;
  }

  onApplied(id: NodeId, entry: Entry, result: unknown): void {
    const digest = `${entry.term}/${entry.kind}/${digestBytes(entry.data)}`;
    const seen = this.applied.get(entry.index);
    if (seen !== undefined) {
      if (seen.digest !== digest) {
        this.violations.report('state-machine-safety', `index ${entry.index} applied as different entries: ${seen.firstNode} applied term ${seen.term}, ${id} applied term ${entry.term}`, {
          index: entry.index,
          first: { node: seen.firstNode, digest: seen.digest },
          second: { node: id, digest },
        });
      }
      return;
    }
    let writes: WriteApplyKind[] | null = null;
    let keep = false;
    if (entry.kind === 'normal' && entry.data.length > 0) {
      const type = commandTypeOf(entry.data);
      const r = result as ApplyResult | undefined;
      if (type === COMMAND_TYPE.write) {
        writes = [r !== undefined && r.kind !== 'writes' ? writeApplyKind(r) : 'refused'];
      } else if (type === COMMAND_TYPE.writes) {
        writes = r?.kind === 'writes' ? r.results.map(writeApplyKind) : [];
      }
      keep = writes !== null || type === COMMAND_TYPE.retention;
    }
    this.applied.set(entry.index, {
      index: entry.index,
      term: entry.term,
      kind: entry.kind,
      digest,
      writes,
      data: keep ? entry.data : null,
      firstNode: id,
    });
    if (entry.index > this.maxAppliedIndex) this.maxAppliedIndex = entry.index;
  }

  onPersisted(id: NodeId, entries: readonly Entry[]): void {
    for (const e of entries) {
      const key = `${e.index}:${e.term}`;
      const digest = `${e.kind}/${digestBytes(e.data)}`;
      const seen = this.entryIdentity.get(key);
      if (seen === undefined) this.entryIdentity.set(key, digest);
      else if (seen !== digest) {
        this.violations.report('log-matching', `two different entries with index ${e.index} and term ${e.term} (seen again on ${id})`, { index: e.index, term: e.term });
      }
    }
  }

  onSnapshotTaken(id: NodeId, meta: SnapshotMeta, data: Uint8Array | null): void {
    this.snapshotsTaken++;
    this.trace.record('snapshot', `${id} took ${meta.index}/${meta.term} ${meta.sizeBytes}B`);
    // A streamed snapshot (writeSnapshot) is not handed over; the simulated
    // state machine gives its bytes, so every snapshot here is compared.
    if (data === null) return;
    const digest = digestBytes(data);
    const seen = this.snapshotDigests.get(meta.index);
    if (seen === undefined) this.snapshotDigests.set(meta.index, { digest, node: id });
    else if (seen.digest !== digest) {
      this.violations.report('state-machine-safety', `state differs at applied index ${meta.index}: snapshots of ${seen.node} and ${id} are not byte-identical`, {
        index: meta.index,
      });
    }
  }

  onSnapshotInstalled(id: NodeId, meta: SnapshotMeta): void {
    this.snapshotsInstalled++;
    this.installedBy.set(id, (this.installedBy.get(id) ?? 0) + 1);
    this.trace.record('snapshot', `${id} installed ${meta.index}/${meta.term}`);
  }

  /** Raft §5.4: a leader's log holds every entry committed in earlier terms.
   *  Call it the moment a node wins an election (the world does, right after
   *  the vote that made it leader): every entry applied anywhere by then was
   *  committed by a leader already seen, so in an earlier term unless a
   *  later term already had a leader. Entries below the leader's in-memory
   *  log (where termAt is undefined) are covered by its snapshot. */
  checkLeaderCompleteness(id: NodeId, term: number): void {
    // A vote delayed in the network can make a node leader of a term that is
    // already over; entries committed in later terms need not be in its log.
    if (this.maxLeaderTerm > term) return;
    const lastIndex = this.logs.lastIndex(id);
    for (let i = this.maxAppliedIndex; i >= 1; i--) {
      const entry = this.applied.get(i);
      if (entry === undefined) continue;
      if (i > lastIndex) {
        this.violations.report('leader-completeness', `leader ${id} of term ${term} lacks committed entry ${i} (term ${entry.term}); its log ends at ${lastIndex}`, { index: i, term: entry.term });
        return;
      }
      const local = this.logs.termAt(id, i);
      if (local === undefined) return; // compacted: covered by the snapshot
      if (local !== entry.term) {
        this.violations.report('leader-completeness', `leader ${id} of term ${term} has term ${local} at committed index ${i} (term ${entry.term})`, { index: i, term: entry.term });
        return;
      }
    }
  }
}

/** The command type byte of an entry's data (decoded in full later, once). */
function commandTypeOf(data: Uint8Array): number {
  return data[0]!;
}

function writeApplyKind(r: ApplyResult): WriteApplyKind {
  if (r.kind === 'write') return r.duplicate ? 'duplicate' : 'effective';
  if (r.kind === 'stale_series') return 'stale_series';
  return 'refused';
}
