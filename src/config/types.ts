// A node's configuration after validation: every default filled in, every
// path absolute, the secret read. The JSON file format, its defaults and
// bounds are documented field by field in docs/configuration.md.
import type { ClientToken } from '../api/auth.js';
import type { ClientApiLimits } from '../api/limits.js';
import type { TimeSeriesStateMachineOptions } from '../tsdb/state-machine.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Bounds on every queue, frame and batch a node keeps (ARCHITECTURE.md, "Limits"). */
export interface NodeLimits {
  /** Largest peer frame accepted or sent, bytes. Default 16 MiB. */
  maxFrameBytes: number;
  /** Messages queued for one peer before the transport drops (heartbeats first). Default 10,000. */
  maxPeerQueueMessages: number;
  /** Bytes queued for one peer. Default 64 MiB. */
  maxPeerQueueBytes: number;
  /** Client proposals waiting to be applied on this node. Default 10,000. */
  maxPendingProposals: number;
  /** Largest single proposal (one encoded log entry), bytes. Default 4 MiB; ≤ maxFrameBytes / 2. */
  maxProposalBytes: number;
  /** Raft: appends in flight per follower. Default 64. */
  maxInflightMsgs: number;
  /** Raft: entry bytes in flight per follower. Default 8 MiB. */
  maxInflightBytes: number;
  /** Raft: entry bytes in one append message. Default 1 MiB; ≤ maxFrameBytes / 2. */
  maxAppendBytes: number;
  /** Raft: committed entry bytes handed out per Ready. Default 16 MiB. */
  maxCommittedBytesPerReady: number;
  /** Raft: proposed but uncommitted bytes on the leader. Default 64 MiB. */
  maxUncommittedBytes: number;
  /** Raft: snapshot chunk size. Default 1 MiB; ≤ maxFrameBytes / 2. */
  snapshotChunkBytes: number;
  /** Raft: read-index requests waiting on the leader. Default 10,000. */
  maxPendingReads: number;
  /** Largest HTTP request body, bytes. Default 8 MiB. */
  maxHttpBodyBytes: number;
  /** Open client HTTP connections (including WebSockets). Default 1,024. */
  maxHttpConnections: number;
}

export interface TlsConfig {
  certFile: string;
  keyFile: string;
  /** CA bundle used to verify peers' certificates; null trusts the system CAs. */
  caFile: string | null;
}

/** The client-facing API (WebSocket, OpenTSDB HTTP and telnet; src/api). */
export interface ClientApiConfig {
  /** Client tokens; empty = the API is open to everyone (as OpenTSDB's is). */
  tokens: ClientToken[];
  limits: ClientApiLimits;
  /** OpenTSDB telnet `put` listener; null port = disabled. */
  telnetHost: string;
  telnetPort: number | null;
}

export interface LogArchiveConfig {
  /** Directory of the archived log segments (relative paths are relative to the config file); null: archiving off (the default). */
  dir: string | null;
  /** A segment is sealed at this size, bytes. Default 64 MiB; 4 KiB–1 GiB. */
  maxSegmentBytes: number;
}

export interface RetentionConfig {
  /** Keep data this long, ms; 0 keeps everything (the default). At least 1 hour when set. */
  retentionMs: number;
  /** How often the leader proposes a retention pass, ms. Default 60,000; bounds 1,000..86,400,000. */
  checkIntervalMs: number;
}

/** The state machine's data in LevelDB (docs/storage.md, "State machine"). */
export interface StateStorageConfig {
  /** Bytes of written sealed blocks kept in memory; older ones are read back
   *  from LevelDB when a query needs them. Default 256 MiB; 0 keeps none. */
  residentBlockBytes: number;
  /** Decoded blocks cached for repeated queries, bytes. Default 64 MiB; 0 disables. */
  decodedBlockCacheBytes: number;
  /** Write a state machine checkpoint every this many applied entries … Default 10,000. */
  checkpointEveryEntries: number;
  /** … or bytes of applied entries (bounds the replay after a crash). Default 16 MiB. */
  checkpointEveryBytes: number;
  /** … or this long after the last one when anything was applied since. Default 5,000 ms. */
  checkpointEveryMs: number;
}

/** Self-monitoring: the node writes a few of its own metrics into the store as
 *  ordinary `tsraft.*` series (src/node/self-monitor.ts, docs/metrics.md). */
export interface SelfMonitoringConfig {
  /** Default false; `tsraft dev` (make run) turns it on. */
  enabled: boolean;
  /** Time between two samples, ms. Default 10,000; bounds 1,000..3,600,000. */
  intervalMs: number;
}

/** Backups as a running service (docs/backup-service.md, docs/configuration.md "Backups"). */
export interface BackupS3Config {
  /** http(s)://host:port of an S3-compatible server; null: AWS, or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL. */
  endpoint: string | null;
  /** null: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1. */
  region: string | null;
  /** null (with the secret): the AWS SDK's default chain (environment variables, profile, instance role). */
  accessKeyId: string | null;
  secretAccessKey: string | null;
  /** Absolute path of a file holding the secret access key (read at start); alternative to secretAccessKey. */
  secretAccessKeyFile: string | null;
  sessionToken: string | null;
  /** null: path-style URLs when an endpoint is set. */
  forcePathStyle: boolean | null;
  /** Multipart part size, bytes (5 MiB–5 GiB). Default 16 MiB. */
  partSizeBytes: number;
  /** Larger objects go up in parts, bytes (≥ 5 MiB). Default 16 MiB. */
  multipartThresholdBytes: number;
  /** Attempts per S3 request (retried with backoff). Default 3; 1–10. */
  maxAttempts: number;
}

export interface BackupRetentionConfig {
  /** Newest backups kept. Default 24; ≥ 1. */
  keepLast: number;
  /** The newest backup of each of the last D UTC days is kept too. Default 7; 0 turns it off. */
  keepDailyDays: number;
}

export interface BackupScheduleConfig {
  /** Where scheduled backups go: a directory or s3://bucket/prefix (absolute after validation). */
  destination: string;
  /** One backup per interval of leader time, ms. 1,000–31,622,400,000 (366 days). */
  intervalMs: number;
  /** Every Nth backup is full; the others are incrementals chained on the last full. Default 24; 1–32 (1: always full). */
  fullEvery: number;
  retention: BackupRetentionConfig;
  /** A node that claimed a backup and has not recorded its end within this much leader time loses the claim (it crashed); the next attempt may start. Default 3,600,000. */
  claimTimeoutMs: number;
  /** After a failed backup, the leader waits this long before the next attempt in the same interval, ms. Default 300,000. */
  retryDelayMs: number;
}

export interface BackupConfig {
  /** null: no scheduled backups (the default). */
  schedule: BackupScheduleConfig | null;
  s3: BackupS3Config;
  /** Encrypt scheduled backups with this key file (tsraft backup keygen); null: not encrypted. */
  encryptKeyFile: string | null;
  /** Re-verification of stored backups: one backup every intervalMs, read at most maxBytesPerSecond. intervalMs 0: off. Needs a schedule (its destination). */
  reverify: { intervalMs: number; maxBytesPerSecond: number };
  /** Restore drills of the latest backup every intervalMs (0: off, the default), downloads at most maxBytesPerSecond. */
  drill: { intervalMs: number; maxBytesPerSecond: number };
  /** Live-data scrubbing: re-read sealed segments at most maxBytesPerSecond; a full pass, then passIntervalMs of rest. */
  scrub: { enabled: boolean; maxBytesPerSecond: number; passIntervalMs: number };
  /** State digest checkpoints proposed by the leader every intervalMs (0: off); replicas compare them. */
  digest: { intervalMs: number };
}

export interface NodeConfig {
  /** Absolute path of the file this was loaded from (null when built in code). */
  configPath: string | null;
  nodeId: string;
  clusterId: string;
  /** Absolute. Holds the LevelDB database and the snapshot files. */
  dataDir: string;
  /** The cluster secret (≥ 16 bytes); from `secret` or `secretFile`. */
  secret: Uint8Array;
  httpHost: string;
  /** Client HTTP port; 0 picks a free port (tests). */
  httpPort: number;
  peerHost: string;
  peerPort: number;
  /** The URL other nodes dial to reach this node (ws:// or wss://). */
  peerUrl: string;
  /** Founding members (or, with join, existing members to dial): node id → peer URL. */
  peers: Record<string, string>;
  /** Optional client HTTP URLs of nodes (node id → http(s) URL), shown in /status
   *  so tools can find the leader's client endpoint. */
  clientUrls: Record<string, string>;
  /** True for a node added to a running cluster (it starts with an empty configuration). */
  join: boolean;
  tickIntervalMs: number;
  electionTimeoutTicks: number;
  heartbeatIntervalTicks: number;
  /** Take a local snapshot every this many applied entries. */
  snapshotEveryEntries: number;
  /** Also snapshot after this many bytes of applied entries. Default 256 MiB. */
  snapshotEveryBytes: number;
  /** Log entries kept behind a snapshot, so slightly lagging followers catch up from the log. */
  logEntriesKeptAfterSnapshot: number;
  /** How long SIGTERM waits for in-flight work before closing anyway. */
  shutdownTimeoutMs: number;
  logLevel: LogLevel;
  tls: TlsConfig | null;
  limits: NodeLimits;
  /** State machine options (src/tsdb/state-machine.ts). */
  tsdb: TimeSeriesStateMachineOptions;
  /** How this node keeps the state machine's data (local, not replicated). */
  storage: StateStorageConfig;
  clientApi: ClientApiConfig;
  selfMonitoring: SelfMonitoringConfig;
  retention: RetentionConfig;
  /** Point-in-time recovery: archive every committed entry (docs/backup-format.md). */
  logArchive: LogArchiveConfig;
  /** Scheduled backups, re-verification, drills, scrubbing and digests (docs/backup-service.md). */
  backup: BackupConfig;
}

const MiB = 1024 * 1024;

export const DEFAULT_LIMITS: Readonly<NodeLimits> = Object.freeze({
  maxFrameBytes: 16 * MiB,
  maxPeerQueueMessages: 10_000,
  maxPeerQueueBytes: 64 * MiB,
  maxPendingProposals: 10_000,
  maxProposalBytes: 4 * MiB,
  maxInflightMsgs: 64,
  maxInflightBytes: 8 * MiB,
  maxAppendBytes: 1 * MiB,
  maxCommittedBytesPerReady: 16 * MiB,
  maxUncommittedBytes: 64 * MiB,
  snapshotChunkBytes: 1 * MiB,
  maxPendingReads: 10_000,
  maxHttpBodyBytes: 8 * MiB,
  maxHttpConnections: 1024,
});

export const DEFAULT_LOG_ARCHIVE: Readonly<LogArchiveConfig> = Object.freeze({ dir: null, maxSegmentBytes: 64 * 1024 * 1024 });

export const DEFAULT_RETENTION: Readonly<RetentionConfig> = Object.freeze({ retentionMs: 0, checkIntervalMs: 60_000 });

export const DEFAULT_BACKUP_S3: Readonly<BackupS3Config> = Object.freeze({
  endpoint: null,
  region: null,
  accessKeyId: null,
  secretAccessKey: null,
  secretAccessKeyFile: null,
  sessionToken: null,
  forcePathStyle: null,
  partSizeBytes: 16 * MiB,
  multipartThresholdBytes: 16 * MiB,
  maxAttempts: 3,
});

export const DEFAULT_BACKUP: Readonly<BackupConfig> = Object.freeze({
  schedule: null,
  s3: DEFAULT_BACKUP_S3,
  encryptKeyFile: null,
  reverify: Object.freeze({ intervalMs: 3_600_000, maxBytesPerSecond: 16 * MiB }),
  drill: Object.freeze({ intervalMs: 0, maxBytesPerSecond: 64 * MiB }),
  scrub: Object.freeze({ enabled: true, maxBytesPerSecond: 4 * MiB, passIntervalMs: 3_600_000 }),
  digest: Object.freeze({ intervalMs: 300_000 }),
});

export const DEFAULT_STATE_STORAGE: Readonly<StateStorageConfig> = Object.freeze({
  residentBlockBytes: 256 * MiB,
  decodedBlockCacheBytes: 64 * MiB,
  checkpointEveryEntries: 10_000,
  checkpointEveryBytes: 16 * MiB,
  checkpointEveryMs: 5_000,
});

export const DEFAULT_SELF_MONITORING: Readonly<SelfMonitoringConfig> = Object.freeze({ enabled: false, intervalMs: 10_000 });

/** Defaults of the top-level scalar fields. Failover (kill -9 of the leader to a
 *  new leader) takes one election timeout, 0.5–1 s with these values. */
export const DEFAULTS = Object.freeze({
  httpHost: '127.0.0.1',
  httpPort: 8080,
  peerHost: '127.0.0.1',
  peerPort: 8180,
  join: false,
  tickIntervalMs: 50,
  electionTimeoutTicks: 10,
  heartbeatIntervalTicks: 1,
  snapshotEveryEntries: 10_000,
  snapshotEveryBytes: 256 * 1024 * 1024,
  logEntriesKeptAfterSnapshot: 1_000,
  shutdownTimeoutMs: 10_000,
  logLevel: 'info' as LogLevel,
});
