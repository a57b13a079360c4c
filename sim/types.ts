// Options and results of one simulated run (docs/simulator.md).

export const FAULT_PROFILES = ['all', 'none', 'network', 'crash', 'disk', 'clock'] as const;
export type FaultProfile = (typeof FAULT_PROFILES)[number];

/** Planted bugs (`--inject-bug`): each must be caught by a checker. */
export const BUG_NAMES = [
  'vote-twice',
  'commit-old-term',
  'ack-before-sync',
  'stale-read',
  'install-meta-first',
  'coalesced-session-lost',
  'wrong-series-id',
  'session-forgets-pipelined',
  'session-in-order',
  'query-as-stale',
  'query-end-exclusive',
  'forward-without-session',
  'forward-ack-early',
] as const;
export type BugName = (typeof BUG_NAMES)[number];

export const SCENARIO_NAMES = [
  'figure8',
  'prevote-rejoin',
  'checkquorum-isolated-leader',
  'leader-transfer',
  'add-learner-promote',
  'remove-leader',
  'snapshot-catchup',
  'disk-wipe-rejoin',
  'partition-majority-minority',
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export interface SimOptions {
  seed: number;
  nodes: 3 | 5;
  faults: FaultProfile;
  /** Client operations to issue during the fault phase. */
  ops: number;
  /** Length of the fault phase, virtual seconds (the liveness phase follows). */
  simSeconds: number;
  scenario: ScenarioName | null;
  injectBug: BugName | null;
  /** Fault kinds to draw from instead of the profile's (tests use it to aim
   *  at one planted bug); names as in faults.ts FAULT_KINDS. */
  faultKinds?: readonly string[];
  /** Mean virtual ms between random faults. Default 1,500. */
  faultIntervalMs?: number;
  /** Membership changes and leadership transfers by the workload's operator. Default true. */
  membershipChanges?: boolean;
  /** Retention passes through the log (sim/retention.ts). Default true (off in scenarios). */
  retention?: boolean;
  /** Receives every trace line (debugging a seed). */
  traceSink?: (line: string) => void;
}

export const DEFAULT_OPTIONS: Readonly<Omit<SimOptions, 'seed'>> = Object.freeze({
  nodes: 3,
  faults: 'all',
  ops: 300,
  simSeconds: 30,
  scenario: null,
  injectBug: null,
});

export type CheckerName =
  | 'election-safety'
  | 'log-matching'
  | 'leader-completeness'
  | 'state-machine-safety'
  | 'durability'
  | 'linearizability'
  | 'liveness'
  | 'fatal-error'
  | 'codec'
  | 'scenario';

export interface Violation {
  checker: CheckerName;
  /** Virtual ms when it was detected. */
  atMs: number;
  message: string;
  details?: Record<string, unknown>;
}

export interface SeedResult {
  seed: number;
  ok: boolean;
  nodes: number;
  faults: FaultProfile;
  scenario: ScenarioName | null;
  inject_bug: BugName | null;
  violations: Violation[];
  acked_writes: number;
  lost_writes: number;
  unknown_writes: number;
  /** Reads through the query path, checked against the commit order: all, linearizable, stale. */
  reads_checked: number;
  linearizable_reads: number;
  stale_reads: number;
  failed_ops: number;
  leaders: number;
  faults_injected: number;
  corruptions_detected: number;
  snapshots_installed: number;
  /** Sealed blocks whose bytes left memory on the nodes running at the end (read back from their disks). */
  blocks_evicted: number;
  applied_index: number;
  /** What the committed log held (the write path's coverage): entries with
   *  one client write (`write`) and with several (`writes`), the writes
   *  those carried, write batches naming a series by id (version 2),
   *  writes applied as stale_series (then proposed again by key), retention
   *  passes and the series they removed. */
  write_entries: number;
  coalesced_entries: number;
  coalesced_writes: number;
  by_id_batches: number;
  stale_series: number;
  retention_passes: number;
  series_removed: number;
  /** Pipelining and sessions: writes whose firstUnacked was below their
   *  sequence (from the log), the most writes one client had in flight, write
   *  attempts after the first, writes applied or answered after a higher
   *  sequence of their client took effect, retries answered as duplicates,
   *  writes refused with TSR_ERR_SESSION_EXPIRED. */
  pipelined_writes: number;
  max_in_flight: number;
  write_retries: number;
  out_of_order_writes: number;
  duplicate_writes: number;
  expired_writes: number;
  /** Follower forwarding (sim/forwarding.ts): puts forwarded by followers,
   *  those answered NOT_LEADER (the node forwarded to no longer led), those
   *  that reached the forwarding deadline (outcome unknown to the client),
   *  those refused by the connection's in-flight bound; writes issued by
   *  clients that send writes to any node. */
  forwarded_puts: number;
  forwarded_not_leader: number;
  forward_timeouts: number;
  forward_in_flight_refused: number;
  /** Forwarded puts that reached the leader in one instant with another client's on the same follower's connection. */
  forwarded_together: number;
  anywhere_writes: number;
  sim_seconds: number;
  wall_seconds: number;
  events: number;
  trace_hash: string;
  /** The last trace lines (only when the run failed). */
  trace_tail?: string[];
  /** The client history (only when linearizability failed), for export as JSON. */
  history?: unknown;
}
