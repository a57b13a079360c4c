// `tsraft backup verify DIR`: checks a backup without restoring it. Every
// file's size and SHA-256, every page decoded, every count, and the rebuilt
// state's digest against the manifest (docs/backup-format.md, "Rebuilding the
// state"). Any problem throws TSR_ERR_BACKUP_CORRUPT naming the file.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { rethrowIfBug } from '../errors.js';
import { DATA_FOLDER } from './constants.js';
import type { BackupKey } from './crypto.js';
import type { BackupManifest } from './manifest.js';
import { rebuildState, type RebuildResult } from './rebuild.js';
import { DirectorySource } from './source.js';

export interface VerifyOptions {
  key?: BackupKey | null;
  /** Stored bytes read so far, of `totalBytes`. */
  onProgress?: (readBytes: number, totalBytes: number) => void;
}

export interface VerifyResult {
  dir: string;
  manifest: BackupManifest;
  rebuild: RebuildResult;
  /** Not failures: files in data/ that the manifest does not list. */
  warnings: string[];
}

export function verifyBackup(dir: string, options: VerifyOptions = {}): VerifyResult {
  const source = DirectorySource.open(dir, { key: options.key ?? null });
  const total = source.manifest.totals.bytes;
  const rebuild = rebuildState(source, { onProgress: (read) => options.onProgress?.(read, total) });
  const listed = new Set(source.manifest.files.filter((f) => f.location === 'here').map((f) => f.name));
  const warnings: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(join(source.dir, DATA_FOLDER));
  } catch (error) {
    rethrowIfBug(error);
    // No data folder at all: every file is in a base backup.
  }
  for (const name of names.sort()) {
    if (!listed.has(`${DATA_FOLDER}/${name}`)) warnings.push(`${join(source.dir, DATA_FOLDER, name)} is not part of this backup (ignored)`);
  }
  return { dir: source.dir, manifest: source.manifest, rebuild, warnings };
}
