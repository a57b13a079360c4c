// The backup commands on a backup kept in a destination (s3://bucket/prefix/NAME):
// `create` streams into a local staging directory (verified there), then
// uploads it; `verify`, `restore` and `drill` download the backup and the
// files it reuses from its bases into a temporary mirror and work on that.
// Staging and mirrors are deleted afterwards, also on failure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TsraftError } from '../../errors.js';
import { createBackup, type CreateBackupOptions, type CreateBackupResult } from '../create.js';
import { openDestination, splitBackupLocation } from './open.js';
import type { S3Settings } from './s3.js';
import { downloadBackup, uploadBackup, type ChainLevel, type TransferOptions } from './transfer.js';

export interface RemoteCreateOptions extends Omit<CreateBackupOptions, 'outDir' | 'baseDir'> {
  /** s3://bucket/prefix/NAME (or a local path: then it is the same as createBackup). */
  location: string;
  /** The base backup: a location in the same destination, or just its name. */
  base?: string | null;
  s3?: Partial<S3Settings>;
  /** Where staging folders go (default the OS temp directory). */
  tempDir?: string;
  transfer?: TransferOptions;
}

export interface RemoteCreateResult extends CreateBackupResult {
  location: string;
  uploadedBytes: number;
}

/** Creates a backup and stores it at `location` (see the file comment). */
export async function createBackupAt(options: RemoteCreateOptions): Promise<RemoteCreateResult> {
  const { root, name } = splitBackupLocation(options.location);
  let baseName: string | null = null;
  if (options.base != null) {
    if (options.base.includes('/')) {
      const base = splitBackupLocation(options.base);
      if (base.root !== root) throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `--base ${options.base} must be in the same destination as --out (${root})`, { details: { field: 'base' } });
      baseName = base.name;
    } else baseName = splitBackupLocation(`${root}/${options.base}`).name;
  }
  const dest = openDestination(root, options.s3 ?? {});
  const staging = mkdtempSync(join(options.tempDir ?? tmpdir(), 'tsraft-backup-staging-'));
  try {
    if (baseName !== null) await downloadBackup(dest, baseName, staging, options.transfer ?? {});
    const result = await createBackup({ ...options, outDir: join(staging, name), baseDir: baseName === null ? null : join(staging, baseName) });
    const uploaded = await uploadBackup(join(staging, name), dest, name, options.transfer ?? {});
    return { ...result, location: `${root}/${name}`, uploadedBytes: uploaded.uploadedBytes };
  } finally {
    rmSync(staging, { recursive: true, force: true });
    await dest.close();
  }
}

/** Runs `work` on a local copy of the backup at `location` (and its bases), then deletes the copy. */
export async function withDownloadedBackup<T>(location: string, s3: Partial<S3Settings>, work: (dir: string, chain: ChainLevel[]) => Promise<T> | T, options: { tempDir?: string; transfer?: TransferOptions } = {}): Promise<T> {
  const { root, name } = splitBackupLocation(location);
  const dest = openDestination(root, s3);
  const mirror = mkdtempSync(join(options.tempDir ?? tmpdir(), 'tsraft-backup-mirror-'));
  try {
    const { dir, chain } = await downloadBackup(dest, name, mirror, options.transfer ?? {});
    return await work(dir, chain);
  } finally {
    rmSync(mirror, { recursive: true, force: true });
    await dest.close();
  }
}
