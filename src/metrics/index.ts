// The metrics room: the prom-client registry and every metric's definition
// (definitions.ts), the node's instrumentation (node-metrics.ts), the hooks
// other rooms call (client-api-metrics.ts, backup-history.ts).
// Reference: docs/metrics.md.
export { BACKUP_RESULTS, QUERY_OPERATIONS, RTT_MESSAGES, SYNC_OPERATIONS, createMetricFamilies, type MetricFamilies, type QueryOperation } from './definitions.js';
export { BackupHistory, MAX_BACKUP_HISTORY, checkBackupRecord, type BackupOutcome, type BackupRecord, type BackupRecorder, type BackupVerification } from './backup-history.js';
export { REJECT_REASONS, clientApiMetrics, instrumentReplicaHandle, instrumentTsdbService, type ClientApiMetrics } from './client-api-metrics.js';
export { DiskUsage, folderBytes, type DiskFigures, type DiskPaths } from './disk-usage.js';
export { InstrumentedLogStore, SnapshotTimer, monotonicSeconds, type MonotonicSeconds } from './instrumented-storage.js';
export { InstrumentedTransport, MAX_TRACKED_APPENDS_PER_PEER } from './instrumented-transport.js';
export { LogSizeTracker } from './log-size.js';
export { NodeMetrics, RAW_BYTES_PER_POINT, type NodeMetricsOptions, type NodeMetricsSource } from './node-metrics.js';
