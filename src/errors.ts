// Every error code tsraft returns, in one place. Codes are stable contracts:
// clients and tests match on `code`, never on `message`. docs/errors.md lists
// the same codes; test/errors.test.ts keeps the two in step.
//
// This module imports nothing, so every room (including the pure raft/ and
// tsdb/ cores) may use it.

export interface ErrorCodeInfo {
  /** HTTP status used when the error reaches an HTTP client. */
  httpStatus: number;
  /** Whether a client may retry the same request (possibly elsewhere). */
  retryable: boolean;
  summary: string;
}

export const ERROR_CODES = {
  // Consensus (src/raft)
  TSR_ERR_NOT_LEADER: { httpStatus: 421, retryable: true, summary: 'This node is not the leader; details.leader names the leader if known.' },
  TSR_ERR_NO_LEADER: { httpStatus: 503, retryable: true, summary: 'No leader is known (an election is in progress); retry shortly.' },
  TSR_ERR_TRANSFER_IN_PROGRESS: { httpStatus: 503, retryable: true, summary: 'Leadership is being transferred; proposals are refused until it completes or aborts.' },
  TSR_ERR_PROPOSAL_BACKPRESSURE: { httpStatus: 503, retryable: true, summary: 'Too many uncommitted bytes on the leader; slow down.' },
  TSR_ERR_LEADERSHIP_LOST: { httpStatus: 503, retryable: true, summary: 'The leader lost leadership before the request committed; the outcome is unknown, retry with the same client id and sequence.' },
  TSR_ERR_CONFIG_CHANGE_PENDING: { httpStatus: 409, retryable: true, summary: 'Another membership change is not yet committed, or the leader has not committed an entry of its term yet.' },
  TSR_ERR_CONFIG_CHANGE_INVALID: { httpStatus: 400, retryable: false, summary: 'The membership change is not valid for the current configuration (details say why).' },
  TSR_ERR_LEARNER_BEHIND: { httpStatus: 409, retryable: true, summary: 'The learner has not caught up with the leader yet; promote it later.' },
  TSR_ERR_TRANSFER_INVALID: { httpStatus: 400, retryable: false, summary: 'Leadership cannot be transferred to that node (unknown, a learner, or this node).' },
  TSR_ERR_TOO_MANY_PENDING_READS: { httpStatus: 503, retryable: true, summary: 'Too many linearizable reads are waiting for a read index.' },
  TSR_ERR_READ_INDEX_FAILED: { httpStatus: 503, retryable: true, summary: 'The read index could not be confirmed (leadership lost or unknown).' },
  TSR_ERR_REMOVED: { httpStatus: 410, retryable: false, summary: 'This node has been removed from the cluster.' },
  // Time-series state machine (src/tsdb)
  TSR_ERR_INVALID_POINT: { httpStatus: 400, retryable: false, summary: 'A data point is invalid; details.field names the field and details.reason the rule it breaks. Other points of the batch are stored.' },
  TSR_ERR_BATCH_TOO_LARGE: { httpStatus: 413, retryable: false, summary: 'A write batch exceeds a configured bound (points, distinct series or bytes); details name the bound.' },
  TSR_ERR_SERIES_LIMIT: { httpStatus: 507, retryable: false, summary: 'The point would create a new series but the configured maximum number of series is reached.' },
  TSR_ERR_SESSION_EXPIRED: { httpStatus: 409, retryable: false, summary: 'The client session, or the cached result of this sequence, was evicted; the write was not applied now and its earlier outcome is unknown. Start a new client id.' },
  TSR_ERR_CORRUPT_ENTRY: { httpStatus: 500, retryable: false, summary: 'A committed log entry failed its checksum or structure check; the replica cannot apply it.' },
  TSR_ERR_UNSUPPORTED_ENTRY: { httpStatus: 500, retryable: false, summary: 'A committed log entry has a command type or version this build does not know (upgrade the node).' },
  TSR_ERR_CORRUPT_SEGMENT: { httpStatus: 500, retryable: false, summary: 'An encoded series block (segment) or series snapshot failed its checksum or structure check (docs/segment-format.md); it is never served.' },
  TSR_ERR_STATE_RESTORING: { httpStatus: 503, retryable: true, summary: 'A stale read needed data this node no longer holds while it replaces its state with a snapshot from the leader; retry, or read with the default (linearizable) consistency, which waits for the install.' },
  TSR_ERR_BLOCK_FULL: { httpStatus: 507, retryable: false, summary: 'One time block of one series already holds the configured maximum number of points (maxPointsPerBlock); the point was not stored.' },
  TSR_ERR_INVALID_QUERY: { httpStatus: 400, retryable: false, summary: 'A time-series query (/api/query JSON, m= string, time, filter, downsample or rate option) is malformed; the message names the bad part (docs/query.md).' },
  TSR_ERR_QUERY_TOO_LARGE: { httpStatus: 413, retryable: false, summary: 'A query would select, read or return more than a configured bound (series, points read, points returned); details.limit names the bound. Narrow the time range or filters, or downsample.' },
  // Storage (src/storage). Corruption is fatal for the node: see docs/storage.md.
  TSR_ERR_CORRUPT_LOG: { httpStatus: 500, retryable: false, summary: 'A stored Raft log record failed its checksum or structure check (the message names the index or key); fatal.' },
  TSR_ERR_CORRUPT_STATE: { httpStatus: 500, retryable: false, summary: 'A stored state-machine record (docs/storage.md, "State machine") failed its checksum or structure check; fatal at start-up (the message names the record).' },
  TSR_ERR_CORRUPT_SNAPSHOT: { httpStatus: 500, retryable: false, summary: 'A stored snapshot file failed its header or data checksum.' },
  TSR_ERR_STORAGE_FORMAT: { httpStatus: 500, retryable: false, summary: 'The data directory holds an unknown or unsupported storage format version.' },
  TSR_ERR_SNAPSHOT_INCOMPLETE: { httpStatus: 409, retryable: true, summary: 'An incoming snapshot is missing bytes or a chunk does not continue it; resend from details.expectedOffset.' },
  TSR_ERR_SNAPSHOT_UNAVAILABLE: { httpStatus: 503, retryable: true, summary: 'The requested snapshot is not the local one (it was replaced or there is none).' },
  TSR_ERR_SNAPSHOT_GROUP_TOO_LARGE: { httpStatus: 500, retryable: false, summary: 'Installing a snapshot would hold more than its bound in memory: the segment files of one backup group exceed the install bound (BackupFormatOptions.install.maxGroupBytes; details.groupBytes, details.limit).' },
  // Peer transport (src/transport)
  TSR_ERR_PEER_AUTH_FAILED: { httpStatus: 401, retryable: false, summary: 'A peer failed the cluster-secret challenge–response.' },
  TSR_ERR_PEER_CLUSTER_MISMATCH: { httpStatus: 403, retryable: false, summary: 'A peer belongs to another cluster (cluster ids differ).' },
  TSR_ERR_PEER_WRONG_NODE: { httpStatus: 421, retryable: false, summary: 'The peer address reached a different node id than the one dialed (a misconfigured peer URL).' },
  TSR_ERR_PEER_PROTOCOL: { httpStatus: 400, retryable: false, summary: 'A peer broke the handshake or speaks an unsupported protocol version.' },
  // Node process (src/config, src/node, src/cli)
  TSR_ERR_INVALID_CONFIG: { httpStatus: 400, retryable: false, summary: 'A node configuration file is invalid; the message names each bad field (config.<path>: what is wrong).' },
  TSR_ERR_SHUTTING_DOWN: { httpStatus: 503, retryable: true, summary: 'The node is shutting down and accepts no new requests; retry on another node.' },
  TSR_ERR_BODY_TOO_LARGE: { httpStatus: 413, retryable: false, summary: 'An HTTP request body exceeds limits.maxHttpBodyBytes; details.limitBytes gives the bound.' },
  // Client API (src/api, src/client): docs/protocol.md, docs/http-api.md
  TSR_ERR_UNAUTHORIZED: { httpStatus: 401, retryable: false, summary: 'No valid client token was presented (the node requires one); WebSocket upgrades are refused with HTTP 401.' },
  TSR_ERR_FORBIDDEN: { httpStatus: 403, retryable: false, summary: 'The token does not allow this operation (a read-only token cannot write).' },
  TSR_ERR_BAD_FRAME: { httpStatus: 400, retryable: false, summary: 'A client frame is malformed (not CBOR/JSON, wrong version byte, bad checksum, not an object, bad id); details.reason says which.' },
  TSR_ERR_UNKNOWN_OPERATION: { httpStatus: 400, retryable: false, summary: 'A client frame names an operation this node does not know; details.op echoes it.' },
  TSR_ERR_FRAME_TOO_LARGE: { httpStatus: 413, retryable: false, summary: 'A client frame exceeds maxFrameBytes; details.limitBytes gives the bound. Split the request.' },
  TSR_ERR_TOO_MANY_IN_FLIGHT: { httpStatus: 429, retryable: true, summary: 'The connection already has maxInFlightRequests requests waiting for answers; wait for some before sending more.' },
  TSR_ERR_TOO_MANY_SUBSCRIPTIONS: { httpStatus: 429, retryable: false, summary: 'The connection already holds maxSubscriptions subscriptions; unsubscribe first.' },
  TSR_ERR_SUBSCRIPTION_OVERFLOW: { httpStatus: 503, retryable: true, summary: 'A subscriber read too slowly and its bounded buffer filled; the subscription ended (points after details.lastIndex were not delivered). Subscribe again.' },
  TSR_ERR_SUBSCRIPTION_GAP: { httpStatus: 503, retryable: true, summary: 'The node replaced its state with a snapshot from the leader, so the points committed in between were not pushed; the subscription ended. Subscribe again and query the gap.' },
  TSR_ERR_NOT_FOUND: { httpStatus: 404, retryable: false, summary: 'No such HTTP endpoint or subscription.' },
  TSR_ERR_METHOD_NOT_ALLOWED: { httpStatus: 405, retryable: false, summary: 'The HTTP method is not allowed on this endpoint.' },
  TSR_ERR_CONNECTION_LOST: { httpStatus: 503, retryable: true, summary: 'Client side: the connection closed before the answer arrived; the outcome is unknown (a put retried with the same client id and sequence is applied at most once).' },
  TSR_ERR_UNREACHABLE: { httpStatus: 503, retryable: true, summary: 'Client side: no endpoint of the cluster could be reached (details.endpoints lists what was tried).' },
  TSR_ERR_CLIENT_CLOSED: { httpStatus: 499, retryable: false, summary: 'Client side: the client was closed while the request was pending.' },
  // Backups, restore and the log archive (src/backup): docs/backup-format.md
  TSR_ERR_BACKUP_CORRUPT: { httpStatus: 500, retryable: false, summary: 'A backup failed verification: a file is missing, truncated, fails its SHA-256 or structure check, or the manifest was edited; details.file names the file.' },
  TSR_ERR_BACKUP_KEY: { httpStatus: 400, retryable: false, summary: 'The backup is encrypted and no key was given, or the key file holds another key than the one it was encrypted with.' },
  TSR_ERR_BACKUP_UNSUPPORTED: { httpStatus: 400, retryable: false, summary: 'The backup, pack or archive names a format version this build does not read.' },
  TSR_ERR_TARGET_NOT_EMPTY: { httpStatus: 409, retryable: false, summary: 'The backup output directory or the node data directory already holds data; choose an empty one, or pass --force to restore over it.' },
  TSR_ERR_BACKUP_IN_PROGRESS: { httpStatus: 503, retryable: true, summary: 'The node is already streaming the maximum number of backups at once; retry when one finishes.' },
  TSR_ERR_BACKUP_STREAM: { httpStatus: 502, retryable: true, summary: 'The backup stream from the node broke or ended early; nothing was kept. Retry.' },
  TSR_ERR_ARCHIVE_CORRUPT: { httpStatus: 500, retryable: false, summary: 'An archived log segment failed its checksum or structure check; details.file names it.' },
  TSR_ERR_ARCHIVE_GAP: { httpStatus: 409, retryable: false, summary: 'Point-in-time recovery needs archived log entries that are missing (details give the first missing index); restore to an earlier target or from a later base backup.' },
  // Backups as a service (src/backup/destinations, schedule, reverify, drill; src/node/scrubber): docs/backup-service.md
  TSR_ERR_DESTINATION: { httpStatus: 502, retryable: true, summary: 'A backup destination (local directory or S3 bucket) refused or failed an operation; details.destination and details.key name it, details.reason gives the storage error.' },
  TSR_ERR_BACKUP_NOT_FOUND: { httpStatus: 404, retryable: false, summary: 'The destination holds no (complete) backup of that name, or no backup at all; details.destination names it.' },
  TSR_ERR_DRILL_FAILED: { httpStatus: 500, retryable: false, summary: 'A restore drill found the restored backup different from the live cluster (state digest or a query answer); details.reason says which.' },
  TSR_ERR_PEER_UNAVAILABLE: { httpStatus: 503, retryable: true, summary: 'A maintenance request to another node (digest, segment repair, backup record) could not be served: the peer is unreachable, lacks the data, or no client URL is configured for it.' },
  // Generic
  TSR_ERR_INVALID_ARGUMENT: { httpStatus: 400, retryable: false, summary: 'A request field is missing or invalid (the message names the field).' },
  TSR_ERR_TIMEOUT: { httpStatus: 504, retryable: true, summary: 'The request did not complete in time; its outcome may be unknown.' },
  TSR_ERR_INTERNAL: { httpStatus: 500, retryable: false, summary: 'An unexpected internal error; see the node log.' },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface TsraftErrorOptions {
  cause?: unknown;
  /** Structured, JSON-serialisable context (e.g. the leader hint). */
  details?: Record<string, unknown>;
}

export class TsraftError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: TsraftErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TsraftError';
    this.code = code;
    this.details = options.details ?? {};
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].httpStatus;
  }

  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }

  toJSON(): { code: string; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isTsraftError(value: unknown): value is TsraftError {
  return value instanceof TsraftError;
}

/** A broken internal invariant: a bug. Never caught; let it crash loudly. */
export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssertionError';
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** For catch blocks: re-throw what is a bug rather than an expected failure. */
export function rethrowIfBug(error: unknown): void {
  if (error instanceof AssertionError || error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError) {
    throw error;
  }
}
