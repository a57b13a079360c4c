// Where backups are kept (docs/backup-service.md, "Destinations"): a local
// directory or an S3-compatible bucket prefix. A destination holds backups
// side by side, one folder (or key prefix) per backup:
//
//   ROOT/<name>/manifest.json      written last: a backup without it is incomplete
//   ROOT/<name>/data/<hex>.<ext>   its data files (docs/backup-format.md)
//
// Keys passed to a destination are relative to its root and use `/`.
// Implementations: local.ts (a directory), s3.ts (@aws-sdk/client-s3).

export type DestinationKind = 'local' | 's3';

export interface StoredObject {
  /** Key relative to the destination root, `/`-separated. */
  key: string;
  bytes: number;
}

export interface ObjectInfo {
  bytes: number;
  /** SHA-256 of the whole object (hex) when the destination recorded it at upload; null when unknown. */
  sha256: string | null;
}

export interface WriteOptions {
  /** SHA-256 (hex) of the bytes: recorded with the object, lets a retried upload skip it. */
  sha256: string;
}

export interface Destination {
  readonly kind: DestinationKind;
  /** The root as the operator wrote it (s3://bucket/prefix or an absolute path), without credentials. */
  readonly url: string;
  /** Every object under `prefix` (relative; '' for all), in key order. Bounded by maxObjects. */
  list(prefix: string, maxObjects?: number): Promise<StoredObject[]>;
  /** The immediate sub-folders of the root (backup names), sorted. */
  listFolders(): Promise<string[]>;
  /** Size and recorded digest of an object, or null when it does not exist. */
  stat(key: string): Promise<ObjectInfo | null>;
  /** A whole object (at most maxBytes: TSR_ERR_BACKUP_CORRUPT beyond). Null when it does not exist. */
  read(key: string, maxBytes: number): Promise<Uint8Array | null>;
  /** Streams an object into a local file (created or replaced); returns its size. */
  download(key: string, path: string, onChunk?: (bytes: number) => Promise<void>): Promise<number>;
  /** Stores bytes under `key`. The object appears whole or not at all. */
  write(key: string, bytes: Uint8Array, options: WriteOptions): Promise<void>;
  /** Stores a local file under `key` (S3: multipart beyond the threshold, resumed after an interruption). */
  upload(key: string, path: string, options: WriteOptions): Promise<void>;
  /** Deletes objects (missing ones are fine). */
  delete(keys: readonly string[]): Promise<void>;
  /** Aborts multipart uploads under `prefix` started before `olderThanMs` (Unix ms); returns how many. Local: removes stale temp files. */
  abortIncompleteUploads(prefix: string, olderThanMs: number): Promise<number>;
  close(): Promise<void>;
}

/** Joins key parts with `/`, ignoring empty ones. */
export function joinKey(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('/');
}

/** A backup name: one path segment of safe characters (it becomes a folder or a key prefix). */
export const BACKUP_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,127}$/;
