// Turns what an operator writes (a directory, s3://bucket/prefix) into a
// Destination, and a backup location (a directory or s3://bucket/prefix/NAME)
// into its destination root and backup name.
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { BackupS3Config } from '../../config/types.js';
import { TsraftError, rethrowIfBug } from '../../errors.js';
import { LocalDestination } from './local.js';
import { S3Destination, parseS3Url, type S3Settings } from './s3.js';
import { BACKUP_NAME_PATTERN, type Destination } from './types.js';

export function isS3Url(text: string): boolean {
  return text.startsWith('s3://');
}

/** A destination root: s3://bucket/prefix or a local directory (file:// accepted). */
export function openDestination(url: string, s3: Partial<S3Settings> = {}): Destination {
  if (isS3Url(url)) return new S3Destination(url, s3);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !url.startsWith('file://')) {
    throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `backup destination ${url}: expected a directory or an s3://bucket/prefix URL`, { details: { field: 'destination' } });
  }
  return new LocalDestination(url.startsWith('file://') ? new URL(url).pathname : url);
}

export interface BackupLocation {
  /** The destination root holding the backup. */
  root: string;
  /** The backup's folder name in it. */
  name: string;
}

/** s3://bucket/prefix/NAME → {root: s3://bucket/prefix, name: NAME}; /dir/NAME likewise. */
export function splitBackupLocation(location: string): BackupLocation {
  let root: string;
  let name: string;
  if (isS3Url(location)) {
    const parsed = parseS3Url(location.replace(/\/+$/, ''));
    if (parsed === null || parsed.prefix === '') {
      throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `${location}: name a backup inside the bucket (s3://bucket/prefix/NAME)`, { details: { field: 'backup' } });
    }
    const cut = parsed.prefix.lastIndexOf('/');
    name = parsed.prefix.slice(cut + 1);
    root = `s3://${parsed.bucket}${cut < 0 ? '' : '/' + parsed.prefix.slice(0, cut)}`;
  } else {
    const path = resolve(location.startsWith('file://') ? new URL(location).pathname : location);
    name = basename(path);
    root = dirname(path);
  }
  if (!BACKUP_NAME_PATTERN.test(name)) {
    throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `${location}: the backup name ${JSON.stringify(name)} must be 1–128 of [A-Za-z0-9_.:+-]`, { details: { field: 'backup' } });
  }
  return { root, name };
}

/** The S3 settings of a node configuration's backup.s3 section (reads secretAccessKeyFile). */
export function s3SettingsOf(config: BackupS3Config): Partial<S3Settings> {
  let secretAccessKey = config.secretAccessKey;
  if (config.secretAccessKeyFile !== null) {
    try {
      secretAccessKey = readFileSync(config.secretAccessKeyFile, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      rethrowIfBug(error);
      throw new TsraftError('TSR_ERR_INVALID_CONFIG', `config.backup.s3.secretAccessKeyFile: cannot read ${config.secretAccessKeyFile} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { details: { field: 'config.backup.s3.secretAccessKeyFile' } });
    }
  }
  return {
    endpoint: config.endpoint,
    region: config.region,
    accessKeyId: config.accessKeyId,
    secretAccessKey,
    sessionToken: config.sessionToken,
    forcePathStyle: config.forcePathStyle,
    partSizeBytes: config.partSizeBytes,
    multipartThresholdBytes: config.multipartThresholdBytes,
    maxAttempts: config.maxAttempts,
  };
}
