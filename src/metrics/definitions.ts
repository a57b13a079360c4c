// Every Prometheus metric family a tsraft node exports, defined in one place
// (docs/metrics.md lists them with their meaning). Conventions, checked by
// test/metrics and by `promtool check metrics`:
//   - names start with `tsraft_` (the process_* and nodejs_* families of
//     prom-client's default collector keep their standard names, which
//     dashboards and alerts everywhere expect);
//   - base units in the name, last: `_seconds`, `_bytes`, `_entries`;
//   - counters end in `_total`;
//   - labels take values from small closed sets (a peer id is a cluster
//     member: at most MAX_PEERS; reasons, operations and results are enums).
// Each node owns one Registry (never prom-client's global one), so several
// nodes can live in one process (tests) without sharing counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Sync (fsync) durations: LevelDB batch writes on SSDs take 0.1–10 ms; slow disks 100 ms+. */
const SYNC_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Peer round trips on a LAN are sub-millisecond to a few ms; a busy follower adds its sync. */
const RTT_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const QUERY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const SNAPSHOT_BUCKETS_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Values of the `operation` label of tsraft_storage_sync_duration_seconds. */
export const SYNC_OPERATIONS = ['append', 'record_snapshot', 'compact'] as const;
export type SyncOperation = (typeof SYNC_OPERATIONS)[number];
/** Values of the `message` label of tsraft_raft_round_trip_seconds. */
export const RTT_MESSAGES = ['append', 'heartbeat'] as const;
export type RttMessage = (typeof RTT_MESSAGES)[number];
/** Values of the `operation` label of the query metrics. */
export const QUERY_OPERATIONS = ['query', 'last', 'suggest', 'lookup'] as const;
export type QueryOperation = (typeof QUERY_OPERATIONS)[number];
/** Values of the `result` label of tsraft_backup_runs_total. */
export const BACKUP_RESULTS = ['success', 'failure'] as const;

/** prom-client defaults that are gauges ending in `_total`. */
export const NON_CONVENTIONAL_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

export interface MetricFamilies {
  // Node
  nodeInfo: Gauge<'node_id' | 'cluster_id' | 'version'>;
  // Raft
  hasLeader: Gauge;
  isLeader: Gauge;
  term: Gauge;
  commitIndex: Gauge;
  appliedIndex: Gauge;
  lastIndex: Gauge;
  snapshotIndex: Gauge;
  members: Gauge<'kind'>;
  leaderChanges: Counter;
  elections: Counter;
  proposalsCommitted: Counter;
  proposalsApplied: Counter;
  proposalsFailed: Counter<'code'>;
  proposalsPending: Gauge;
  readsPending: Gauge;
  roundTrip: Histogram<'peer' | 'message'>;
  snapshotsSent: Counter;
  snapshotsReceived: Counter;
  followerLag: Gauge<'peer'>;
  // Storage
  syncDuration: Histogram<'operation'>;
  logEntries: Gauge;
  logBytes: Gauge;
  leveldbSize: Gauge;
  snapshotDirSize: Gauge;
  filesystemAvail: Gauge;
  filesystemSize: Gauge;
  // Time series
  series: Gauge;
  points: Gauge;
  pointsIngested: Counter;
  pointsRejected: Counter<'reason'>;
  queryDuration: Histogram<'operation'>;
  queryErrors: Counter<'operation'>;
  segmentBytes: Gauge;
  compressionRatio: Gauge;
  sessions: Gauge;
  checkpoints: Counter;
  checkpointBytes: Counter;
  checkpointIndex: Gauge;
  residentBlockBytes: Gauge;
  evictedBlocks: Counter;
  // Transport
  sentBytes: Counter<'peer'>;
  receivedBytes: Counter<'peer'>;
  sentMessages: Counter<'peer'>;
  receivedMessages: Counter<'peer'>;
  reconnects: Counter<'peer'>;
  dialFailures: Counter<'peer'>;
  peerConnected: Gauge<'peer'>;
  queuedMessages: Gauge<'peer'>;
  queuedBytes: Gauge<'peer'>;
  authFailures: Counter;
  handshakeFailures: Counter;
  droppedMessages: Counter<'reason'>;
  // Backup and snapshots
  backupLastSuccess: Gauge;
  backupLastFailure: Gauge;
  backupLastDuration: Gauge;
  backupLastSize: Gauge;
  backupRuns: Counter<'result'>;
  backupVerificationFailures: Counter;
  snapshotDuration: Histogram;
  snapshotLastSize: Gauge;
  snapshotLastTimestamp: Gauge;
  // Backups as a service (docs/backup-service.md)
  scheduleInterval: Gauge<'destination'>;
  destinationLastSuccess: Gauge<'destination'>;
  destinationLastVerified: Gauge<'destination'>;
  scheduleBackups: Gauge<'result'>;
  scheduleMissedSlots: Gauge;
  scheduleInProgress: Gauge;
  reverifyRuns: Counter<'destination' | 'result'>;
  reverifyReadBytes: Counter<'destination'>;
  drillRuns: Counter<'result'>;
  drillLastResult: Gauge;
  drillLastTimestamp: Gauge;
  scrubReadBytes: Counter;
  scrubPasses: Counter;
  scrubProgress: Gauge;
  scrubLastPass: Gauge;
  scrubCorruptSegments: Counter;
  scrubRepairedSegments: Counter<'source'>;
  scrubUnrepairedSegments: Gauge;
  digestChecks: Counter<'result'>;
  digestMismatches: Counter<'peer'>;
  digestLastIndex: Gauge;
  digestLastDuration: Gauge;
  // Self-monitoring
  selfMonitorWrites: Counter<'result'>;
}

/** Values of the `result` label of tsraft_backup_schedule_backups (replicated counts). */
export const SCHEDULE_RESULTS = ['started', 'succeeded', 'failed', 'superseded'] as const;
/** Values of the `source` label of tsraft_scrub_repaired_segments_total. */
export const SCRUB_REPAIR_SOURCES = ['peer', 'snapshot'] as const;

/** Creates a registry holding every tsraft family plus the process defaults. */
export function createMetricFamilies(): { registry: Registry; families: MetricFamilies } {
  const registry = new Registry();
  const registers = [registry];
  const gauge = <L extends string = string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> => new Gauge<L>({ name, help, labelNames, registers });
  const counter = <L extends string = string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> => new Counter<L>({ name, help, labelNames, registers });
  const histogram = <L extends string = string>(name: string, help: string, buckets: number[], labelNames: readonly L[] = []): Histogram<L> =>
    new Histogram<L>({ name, help, buckets, labelNames, registers });

  const families: MetricFamilies = {
    nodeInfo: gauge('tsraft_node_info', 'Constant 1, labelled with this node\'s id, cluster id and tsraft version.', ['node_id', 'cluster_id', 'version']),

    hasLeader: gauge('tsraft_raft_has_leader', '1 when this node knows a leader, else 0.'),
    isLeader: gauge('tsraft_raft_is_leader', '1 when this node is the leader, else 0.'),
    term: gauge('tsraft_raft_term', 'Current Raft term of this node.'),
    commitIndex: gauge('tsraft_raft_commit_index', 'Highest log index this node knows to be committed.'),
    appliedIndex: gauge('tsraft_raft_applied_index', 'Highest log index applied to this node\'s state machine.'),
    lastIndex: gauge('tsraft_raft_last_index', 'Index of the last entry in this node\'s log.'),
    snapshotIndex: gauge('tsraft_raft_snapshot_index', 'Log index covered by this node\'s latest snapshot.'),
    members: gauge('tsraft_raft_members', 'Cluster members in this node\'s configuration, by kind (voter or learner).', ['kind']),
    leaderChanges: counter('tsraft_raft_leader_changes_total', 'Times this node saw a new leader (including the first one after start).'),
    elections: counter('tsraft_raft_elections_total', 'Elections this node started as a candidate.'),
    proposalsCommitted: counter('tsraft_raft_proposals_committed_total', 'Log entries this node saw committed since it started.'),
    proposalsApplied: counter('tsraft_raft_proposals_applied_total', 'Log entries applied on this node since it started (replayed entries included).'),
    proposalsFailed: counter('tsraft_raft_proposals_failed_total', 'Client proposals made on this node that failed, by error code.', ['code']),
    proposalsPending: gauge('tsraft_raft_proposals_pending', 'Client proposals waiting on this node to be applied.'),
    readsPending: gauge('tsraft_raft_reads_pending', 'Linearizable reads waiting on this node for a read index or for apply.'),
    roundTrip: histogram('tsraft_raft_round_trip_seconds', 'Round-trip time from sending an append or heartbeat to a peer to its answer, by peer.', RTT_BUCKETS_SECONDS, ['peer', 'message']),
    snapshotsSent: counter('tsraft_raft_snapshots_sent_total', 'Snapshots this node sent to a follower that installed them.'),
    snapshotsReceived: counter('tsraft_raft_snapshots_received_total', 'Snapshots from the leader installed on this node.'),
    followerLag: gauge('tsraft_raft_follower_lag_entries', 'On the leader: entries each follower is behind the leader\'s last index.', ['peer']),

    syncDuration: histogram('tsraft_storage_sync_duration_seconds', 'Duration of synced (fsync) writes of the Raft log, by operation.', SYNC_BUCKETS_SECONDS, ['operation']),
    logEntries: gauge('tsraft_storage_log_entries', 'Entries in the Raft log on disk (after the latest compaction).'),
    logBytes: gauge('tsraft_storage_log_bytes', 'Payload bytes of the entries in the Raft log on disk.'),
    leveldbSize: gauge('tsraft_storage_leveldb_size_bytes', 'Bytes of the LevelDB database folder on disk.'),
    snapshotDirSize: gauge('tsraft_storage_snapshot_dir_size_bytes', 'Bytes of the snapshot folder on disk.'),
    filesystemAvail: gauge('tsraft_storage_filesystem_avail_bytes', 'Bytes available to this process on the filesystem of the data directory.'),
    filesystemSize: gauge('tsraft_storage_filesystem_size_bytes', 'Size in bytes of the filesystem of the data directory.'),

    series: gauge('tsraft_tsdb_series', 'Series in this node\'s state machine.'),
    points: gauge('tsraft_tsdb_points', 'Points stored in this node\'s state machine.'),
    pointsIngested: counter('tsraft_tsdb_points_ingested_total', 'Points stored from client writes received by this node.'),
    pointsRejected: counter('tsraft_tsdb_points_rejected_total', 'Points of client writes received by this node that were rejected, by reason.', ['reason']),
    queryDuration: histogram('tsraft_tsdb_query_duration_seconds', 'Duration of read requests served by this node (read barrier included), by operation.', QUERY_BUCKETS_SECONDS, ['operation']),
    queryErrors: counter('tsraft_tsdb_query_errors_total', 'Read requests served by this node that failed, by operation.', ['operation']),
    segmentBytes: gauge('tsraft_tsdb_segment_bytes', 'Bytes of the encoded sealed series blocks (segments), in memory or in LevelDB.'),
    compressionRatio: gauge('tsraft_tsdb_compression_ratio', 'Raw size (16 bytes per point: timestamp and value) divided by the encoded segment bytes; 0 with no points.'),
    sessions: gauge('tsraft_tsdb_client_sessions', 'Exactly-once client sessions kept by the state machine.'),
    checkpoints: counter('tsraft_tsdb_checkpoints_total', 'State machine checkpoints written to LevelDB (changed series with the applied index, one atomic batch).'),
    checkpointBytes: counter('tsraft_tsdb_checkpoint_bytes_total', 'Bytes of the records state machine checkpoints wrote.'),
    checkpointIndex: gauge('tsraft_tsdb_checkpoint_index', 'Applied index of the newest state machine checkpoint (a restart replays the log after it).'),
    residentBlockBytes: gauge('tsraft_tsdb_resident_block_bytes', 'Bytes of written sealed blocks kept in memory (bounded by storage.residentBlockBytes).'),
    evictedBlocks: counter('tsraft_tsdb_evicted_blocks_total', 'Sealed blocks whose bytes left memory (read back from LevelDB when needed).'),

    sentBytes: counter('tsraft_transport_sent_bytes_total', 'Bytes sent to each peer.', ['peer']),
    receivedBytes: counter('tsraft_transport_received_bytes_total', 'Bytes received from each peer.', ['peer']),
    sentMessages: counter('tsraft_transport_sent_messages_total', 'Raft messages sent to each peer.', ['peer']),
    receivedMessages: counter('tsraft_transport_received_messages_total', 'Raft messages received from each peer.', ['peer']),
    reconnects: counter('tsraft_transport_reconnects_total', 'Connections to each peer established after the first one.', ['peer']),
    dialFailures: counter('tsraft_transport_dial_failures_total', 'Dial attempts to each peer that failed before authenticating.', ['peer']),
    peerConnected: gauge('tsraft_transport_peer_connected', '1 while an authenticated connection to the peer is open, else 0.', ['peer']),
    queuedMessages: gauge('tsraft_transport_queued_messages', 'Messages queued for each peer.', ['peer']),
    queuedBytes: gauge('tsraft_transport_queued_bytes', 'Bytes queued for each peer.', ['peer']),
    authFailures: counter('tsraft_transport_auth_failures_total', 'Peer handshakes refused for a wrong secret or cluster id (both directions).'),
    handshakeFailures: counter('tsraft_transport_handshake_failures_total', 'Peer handshakes that broke the protocol or timed out.'),
    droppedMessages: counter('tsraft_transport_dropped_messages_total', 'Raft messages dropped by the transport, by reason.', ['reason']),

    backupLastSuccess: gauge('tsraft_backup_last_success_timestamp_seconds', 'Unix time of the last successful backup taken from this node; 0 when none since start.'),
    backupLastFailure: gauge('tsraft_backup_last_failure_timestamp_seconds', 'Unix time of the last failed backup from this node; 0 when none since start.'),
    backupLastDuration: gauge('tsraft_backup_last_duration_seconds', 'Duration of the last successful backup.'),
    backupLastSize: gauge('tsraft_backup_last_size_bytes', 'Bytes of the last successful backup.'),
    backupRuns: counter('tsraft_backup_runs_total', 'Backups taken from this node, by result.', ['result']),
    backupVerificationFailures: counter('tsraft_backup_verification_failures_total', 'Backups reported to this node that failed verification.'),
    snapshotDuration: histogram('tsraft_snapshot_duration_seconds', 'Duration of a local snapshot, from serializing the state machine until it is durable.', SNAPSHOT_BUCKETS_SECONDS),
    snapshotLastSize: gauge('tsraft_snapshot_last_size_bytes', 'Bytes of the latest local snapshot.'),
    snapshotLastTimestamp: gauge('tsraft_snapshot_last_timestamp_seconds', 'Unix time the latest local snapshot became durable; 0 when none since start.'),

    scheduleInterval: gauge('tsraft_backup_schedule_interval_seconds', 'Interval of the scheduled backups to each destination (backup.schedule); absent without a schedule.', ['destination']),
    destinationLastSuccess: gauge('tsraft_backup_destination_last_success_timestamp_seconds', 'Unix time (leader time) the last scheduled backup to the destination was recorded as finished in the log; 0 when none. Every node reports it.', ['destination']),
    destinationLastVerified: gauge('tsraft_backup_destination_last_verified_timestamp_seconds', 'Unix time this node last re-verified a stored backup of the destination end to end without a fault; 0 when never since start.', ['destination']),
    scheduleBackups: gauge('tsraft_backup_schedule_backups', 'Scheduled backups as recorded in the replicated log, by result: started, succeeded, failed, superseded (a claim taken over after its taker timed out).', ['result']),
    scheduleMissedSlots: gauge('tsraft_backup_schedule_missed_slots', 'Schedule intervals that passed without any backup starting (recorded in the replicated log).'),
    scheduleInProgress: gauge('tsraft_backup_schedule_in_progress', '1 while a scheduled backup is claimed and not finished (replicated state), else 0.'),
    reverifyRuns: counter('tsraft_backup_reverify_runs_total', 'Re-verifications of stored backups run by this node, by destination and result (success, failure: the backup is damaged).', ['destination', 'result']),
    reverifyReadBytes: counter('tsraft_backup_reverify_read_bytes_total', 'Bytes read from the destination by re-verification on this node.', ['destination']),
    drillRuns: counter('tsraft_backup_drill_runs_total', 'Restore drills run by this node, by result: pass, fail.', ['result']),
    drillLastResult: gauge('tsraft_backup_drill_last_result', 'Result of the last restore drill on this node: 1 pass, 0 fail, -1 none since start.'),
    drillLastTimestamp: gauge('tsraft_backup_drill_last_timestamp_seconds', 'Unix time the last restore drill on this node ended; 0 when none.'),
    scrubReadBytes: counter('tsraft_scrub_read_bytes_total', 'Bytes of sealed segments the scrubber re-read and checked on this node.'),
    scrubPasses: counter('tsraft_scrub_passes_total', 'Full scrubbing passes over every sealed segment completed on this node.'),
    scrubProgress: gauge('tsraft_scrub_pass_progress_ratio', 'Share of the series the current scrubbing pass has checked (0–1).'),
    scrubLastPass: gauge('tsraft_scrub_last_pass_timestamp_seconds', 'Unix time the last full scrubbing pass completed; 0 when none since start.'),
    scrubCorruptSegments: counter('tsraft_scrub_corrupt_segments_total', 'Sealed segments the scrubber found failing their checksum on this node.'),
    scrubRepairedSegments: counter('tsraft_scrub_repaired_segments_total', 'Corrupt segments repaired with the exact original bytes, by source: peer (a healthy replica), snapshot (this node\'s snapshot file).', ['source']),
    scrubUnrepairedSegments: gauge('tsraft_scrub_unrepaired_segments', 'Corrupt segments on this node not repaired yet; queries touching them fail rather than serve them.'),
    digestChecks: counter('tsraft_state_digest_checks_total', 'Comparisons of this node\'s state digest with a peer\'s at the same index, by result: match, mismatch.', ['result']),
    digestMismatches: counter('tsraft_state_digest_mismatches_total', 'Digest comparisons with each peer that found different state at the same index.', ['peer']),
    digestLastIndex: gauge('tsraft_state_digest_last_index', 'Log index of the newest state digest this node computed; 0 when none.'),
    digestLastDuration: gauge('tsraft_state_digest_last_duration_seconds', 'Time the newest state digest took to compute.'),

    selfMonitorWrites: counter('tsraft_self_monitor_writes_total', 'Self-monitoring writes of this node\'s own metrics into the store, by result.', ['result']),
  };
  for (const result of BACKUP_RESULTS) families.backupRuns.inc({ result }, 0);
  for (const operation of SYNC_OPERATIONS) families.syncDuration.zero({ operation });
  for (const operation of QUERY_OPERATIONS) {
    families.queryDuration.zero({ operation });
    families.queryErrors.inc({ operation }, 0);
  }
  for (const result of ['success', 'failure'] as const) families.selfMonitorWrites.inc({ result }, 0);
  for (const result of ['pass', 'fail'] as const) families.drillRuns.inc({ result }, 0);
  for (const result of ['match', 'mismatch'] as const) families.digestChecks.inc({ result }, 0);
  for (const source of SCRUB_REPAIR_SOURCES) families.scrubRepairedSegments.inc({ source }, 0);
  families.drillLastResult.set(-1);
  // CPU, memory, event-loop lag, GC, handles: prom-client's standard families.
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters break the conventions (promtool check metrics);
  // the same numbers remain, by type, in nodejs_active_handles/_requests/_resources.
  for (const name of NON_CONVENTIONAL_DEFAULTS) registry.removeSingleMetric(name);
  return { registry, families };
}
