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

/** Self-monitoring: the node writes a few of its own metrics into the store as
 *  ordinary `tsraft.*` series (src/node/self-monitor.ts, docs/metrics.md). */
export interface SelfMonitoringConfig {
  /** Default false; `tsraft dev` (make run) turns it on. */
  enabled: boolean;
  /** Time between two samples, ms. Default 10,000; bounds 1,000..3,600,000. */
  intervalMs: number;
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
  /** Log entries kept behind a snapshot, so slightly lagging followers catch up from the log. */
  logEntriesKeptAfterSnapshot: number;
  /** How long SIGTERM waits for in-flight work before closing anyway. */
  shutdownTimeoutMs: number;
  logLevel: LogLevel;
  tls: TlsConfig | null;
  limits: NodeLimits;
  /** State machine options (src/tsdb/state-machine.ts). */
  tsdb: TimeSeriesStateMachineOptions;
  clientApi: ClientApiConfig;
  selfMonitoring: SelfMonitoringConfig;
  retention: RetentionConfig;
  /** Point-in-time recovery: archive every committed entry (docs/backup-format.md). */
  logArchive: LogArchiveConfig;
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
  logEntriesKeptAfterSnapshot: 1_000,
  shutdownTimeoutMs: 10_000,
  logLevel: 'info' as LogLevel,
});
