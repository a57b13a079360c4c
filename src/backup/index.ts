// The backup room (docs/backup-format.md): snapshot-as-backup format,
// create/verify/restore, the node's backup stream, the log archive and
// point-in-time recovery.
export * from './constants.js';
export { BackupFormatStateMachine, type BackupFormatOptions } from './state-machine-adapter.js';
export { createBackup, type CreateBackupOptions, type CreateBackupResult, type CreateProgress } from './create.js';
export { deriveBackupKey, generateKeyHex, loadKeyFile, type BackupKey } from './crypto.js';
export { inspectBackup, listBackups, summarize, type BackupSummary } from './inspect.js';
export { LogArchiver, listSegments, parseSegment, readArchive, type ArchiveStatus, type LogArchiverOptions } from './log-archive.js';
export { decodeManifest, encodeManifest, sealManifest, type BackupManifest, type ManifestFile, type Membership } from './manifest.js';
export { encodePack, readPack, unpackSync } from './pack.js';
export { parseRestoreTarget, replayArchive, type ReplayResult, type RestoreTarget } from './pitr.js';
export { rebuildState, type RebuildResult } from './rebuild.js';
export { NODE_DB_FOLDER, NODE_SNAPSHOT_FOLDER, restoreIntoDataDir, restoredState, type RestoreNodeConfig, type RestoreOptions, type RestoreResult } from './restore.js';
export { BACKUP_ROUTE_PATH, createBackupHandler, nodeBackupSource, registerBackupRoutes, type BackupCapture, type BackupRouteSource } from './route.js';
export { packState, unpackState, type CaptureInfo } from './snapshot-pack.js';
export { DirectorySource, MemorySource } from './source.js';
export { verifyBackup, type VerifyResult } from './verify.js';
